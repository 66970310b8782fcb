//! Writes the hand-made seed inputs into `fuzz/corpus/<target>/` (deterministic: fixed clock,
//! fixed keys, fixed nonces). Run from `fuzz/`:
//!
//! ```text
//! cargo run --example gen_seeds
//! ```
//!
//! The seeds are real links (a SigV4 presigned query, sealed tokens) issued at the fuzzers'
//! clock, wrapped in CloudFront viewer-request events like the one in the Lambda@Edge docs, plus
//! the malformed shapes the edge must refuse. `viewer_request` inputs are `arbitrary` bytes, which
//! cannot be written by hand: they are mined from a fixed pseudo-random stream, keeping the first
//! input that reaches each distinct precheck outcome in each mode.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use oncelink::decision::{EdgePolicy, precheck};
use oncelink::link::LinkMethod;
use oncelink::sealed::Claims;
use oncelink_fuzz::{EXPIRES_IN, HOST, NOW_SECS, PATH, configs, issue_sealed_token, now, presigned_query, viewer_input};
use serde_json::{Value, json};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus directory");
    dir
}

fn event(method: &str, uri: &str, querystring: &str, headers: &[(&str, &str)], request_id: &str) -> Value {
    let mut map = serde_json::Map::new();
    for (key, value) in headers {
        map.insert(key.to_ascii_lowercase(), json!([{ "key": key, "value": value }]));
    }
    json!({
        "Records": [{
            "cf": {
                "config": {
                    "distributionDomainName": HOST,
                    "distributionId": "EDFDVBD6EXAMPLE",
                    "eventType": "viewer-request",
                    "requestId": request_id
                },
                "request": {
                    "clientIp": "203.0.113.178",
                    "headers": Value::Object(map),
                    "method": method,
                    "querystring": querystring,
                    "uri": uri
                }
            }
        }]
    })
}

fn claims(method: LinkMethod) -> Claims {
    Claims {
        kid: "k1".into(),
        method,
        expires_at: NOW_SECS + EXPIRES_IN.as_secs(),
        max_uses: 1,
        grace_seconds: 0,
        nonce: *b"oncelink-fuzz-01",
        filename: None,
        content_type: None,
        confirm: false,
    }
}

fn main() {
    let host = ("Host", HOST);
    let curl = ("User-Agent", "curl/8.5.0");
    let range = ("Range", "bytes=0-1023");
    let pdf = ("Content-Type", "application/pdf");
    let get_query = presigned_query(LinkMethod::Get);
    let put_query = presigned_query(LinkMethod::Put);

    let sealed_get = issue_sealed_token(&claims(LinkMethod::Get));
    let sealed_get_named = issue_sealed_token(&Claims {
        max_uses: 3,
        grace_seconds: 60,
        filename: Some("Q2 report (final) – 2026.pdf".into()),
        ..claims(LinkMethod::Get)
    });
    let sealed_put = issue_sealed_token(&Claims { content_type: Some("application/pdf".into()), ..claims(LinkMethod::Put) });
    let sealed_expired = issue_sealed_token(&Claims { expires_at: NOW_SECS - 1, ..claims(LinkMethod::Get) });
    let sealed_retired_kid = issue_sealed_token(&Claims { kid: "k0".into(), ..claims(LinkMethod::Get) });
    // A confirm link (version 2 token), and the proof its click earns at the fuzzers' clock.
    let confirm_claims = Claims { confirm: true, ..claims(LinkMethod::Get) };
    let sealed_confirm = issue_sealed_token(&confirm_claims);
    let confirm_proof = format!(
        "oncelink_confirm={}",
        oncelink::confirm::proof::mint(oncelink_fuzz::keys(), &oncelink::link::LinkId::for_nonce(&confirm_claims.nonce), now())
    );
    let mut tampered = sealed_get.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let sealed_tampered = String::from_utf8(tampered).expect("ascii");

    // --- edge_event ---
    let dir = corpus("edge_event");
    let events: Vec<(&str, Value)> = vec![
        (
            "presigned-get-range",
            event("GET", PATH, get_query, &[host, curl, range], "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="),
        ),
        ("presigned-put", event("PUT", PATH, put_query, &[host, curl, pdf], "req-presigned-put")),
        ("presigned-head", event("HEAD", PATH, get_query, &[host, curl], "req-presigned-head")),
        ("presigned-preview-bot", event("GET", PATH, get_query, &[host, ("User-Agent", "Slackbot-LinkExpanding 1.0")], "req-bot")),
        ("presigned-repeated-param", event("GET", PATH, &format!("{get_query}&x-amz-date=20260101T000000Z"), &[host], "req-rep")),
        ("presigned-bad-path", event("GET", "/reports/../2026/file-0001.pdf", get_query, &[host], "req-dotdot")),
        ("sealed-get", event("GET", PATH, &sealed_get, &[host, curl], "req-sealed-get")),
        ("sealed-get-filename-range", event("GET", PATH, &sealed_get_named, &[host, curl, range], "req-sealed-named")),
        ("sealed-put", event("PUT", PATH, &sealed_put, &[host, curl, pdf], "req-sealed-put")),
        ("sealed-put-wrong-type", event("PUT", PATH, &sealed_put, &[host, ("Content-Type", "text/html")], "req-sealed-put-html")),
        ("sealed-options", event("OPTIONS", PATH, &sealed_put, &[host, ("Origin", "https://example.com")], "req-preflight")),
        ("sealed-expired", event("GET", PATH, &sealed_expired, &[host], "req-sealed-expired")),
        ("sealed-retired-kid", event("GET", PATH, &sealed_retired_kid, &[host], "req-sealed-k0")),
        ("sealed-tampered", event("GET", PATH, &sealed_tampered, &[host], "req-sealed-tampered")),
        ("sealed-other-host", event("GET", PATH, &sealed_get, &[("Host", "evil.example")], "req-sealed-host")),
        ("method-post", event("POST", PATH, &sealed_get, &[host], "req-post")),
        ("sealed-confirm-page", event("GET", PATH, &sealed_confirm, &[host, curl], "req-confirm-page")),
        (
            "sealed-confirm-click",
            event("POST", PATH, &sealed_confirm, &[host, ("Origin", "null"), ("Sec-Fetch-Site", "same-origin")], "req-confirm-click"),
        ),
        (
            "sealed-confirm-proof",
            event("GET", PATH, &sealed_confirm, &[host, ("Cookie", &format!("a=1; {confirm_proof}")), ("Sec-Fetch-Site", "same-origin")], "req-confirm-get"),
        ),
        ("header-without-key", {
            let mut e = event("GET", PATH, &sealed_get, &[], "req-no-key");
            e["Records"][0]["cf"]["request"]["headers"] = json!({ "host": [{ "value": HOST }] });
            e
        }),
        ("extra-fields-kept", {
            let mut e = event("GET", PATH, get_query, &[host], "req-extra");
            e["Records"][0]["cf"]["request"]["origin"] =
                json!({ "s3": { "domainName": "oncelink-fuzz.s3.eu-west-1.amazonaws.com", "path": "" } });
            e["Records"][0]["cf"]["request"]["body"] =
                json!({ "inputTruncated": false, "action": "read-only", "encoding": "base64", "data": "" });
            e
        }),
        ("two-records", {
            let e = event("GET", PATH, get_query, &[host], "req-two");
            json!({ "Records": [e["Records"][0].clone(), e["Records"][0].clone()] })
        }),
        ("no-request-id", {
            let mut e = event("GET", PATH, get_query, &[host], "x");
            e["Records"][0]["cf"]["config"].as_object_mut().expect("object").remove("requestId");
            e
        }),
        ("no-records", json!({ "Records": [] })),
        ("not-an-event", json!([1, "two", null, { "Records": false }])),
    ];
    for (name, value) in &events {
        fs::write(dir.join(format!("{name}.json")), serde_json::to_vec(value).expect("json")).expect("write seed");
    }

    // --- sealed_token ---
    let dir = corpus("sealed_token");
    let tokens: Vec<(&str, String)> = vec![
        ("get", sealed_get.clone()),
        ("get-filename-grace", sealed_get_named.clone()),
        ("confirm", sealed_confirm.clone()),
        ("put-content-type", sealed_put.clone()),
        ("expired", sealed_expired.clone()),
        ("retired-kid", sealed_retired_kid.clone()),
        ("tampered", sealed_tampered.clone()),
        ("padded", format!("{sealed_get}==")),
        ("standard-alphabet", sealed_get_named.replace('-', "+").replace('_', "/")),
        ("truncated", sealed_get[..sealed_get.len() / 2].to_owned()),
        ("presigned-query", get_query.to_owned()),
    ];
    for (name, token) in &tokens {
        fs::write(dir.join(format!("{name}.tok")), token).expect("write seed");
    }

    // --- gateway_head: raw HTTP/1.1 request heads, as the gateway's listener receives them ---
    let dir = corpus("gateway_head");
    let head = |method: &str, target: &str, extra: &str| format!("{method} {target} HTTP/1.1\r\nHost: {HOST}\r\n{extra}\r\n");
    let heads: Vec<(&str, String)> = vec![
        ("presigned-get", head("GET", &format!("{PATH}?{get_query}"), "User-Agent: curl/8.5.0\r\n")),
        ("presigned-put", head("PUT", &format!("{PATH}?{put_query}"), "Content-Type: application/pdf\r\nContent-Length: 5\r\n")),
        ("sealed-get-range", head("GET", &format!("{PATH}?{sealed_get_named}"), "Range: bytes=0-1023\r\n")),
        ("sealed-put", head("PUT", &format!("{PATH}?{sealed_put}"), "Content-Type: application/pdf\r\nContent-Length: 5\r\n")),
        ("sealed-head", head("HEAD", &format!("{PATH}?{sealed_get}"), "")),
        ("sealed-preview-bot", head("GET", &format!("{PATH}?{sealed_get}"), "User-Agent: Slackbot-LinkExpanding 1.0\r\n")),
        ("options", head("OPTIONS", &format!("{PATH}?{sealed_get}"), "Origin: https://example.com\r\n")),
        ("put-no-length", head("PUT", &format!("{PATH}?{sealed_put}"), "Transfer-Encoding: chunked\r\n")),
        ("put-plus-length", head("PUT", &format!("{PATH}?{sealed_put}"), "Content-Length: +5\r\n")),
        ("put-two-lengths", head("PUT", &format!("{PATH}?{sealed_put}"), "Content-Length: 5\r\nContent-Length: 5\r\n")),
        ("put-too-large", head("PUT", &format!("{PATH}?{sealed_put}"), "Content-Length: 1048577\r\n")),
        ("latin1-user-agent", head("GET", &format!("{PATH}?{sealed_get}"), "User-Agent: caf\u{1}\r\n")),
        ("absolute-form", head("GET", &format!("http://{HOST}{PATH}?{sealed_get}"), "")),
        ("forwarded-for", head("GET", &format!("{PATH}?{sealed_get}"), "X-Forwarded-For: 6.6.6.6, 10.0.0.7\r\n")),
        ("lowercase-method", head("get", &format!("{PATH}?{sealed_get}"), "")),
    ];
    for (name, text) in &heads {
        let mut bytes = text.clone().into_bytes();
        if *name == "latin1-user-agent" {
            // obs-text: a byte hyper accepts in a header value but that is not UTF-8.
            let at = bytes.iter().position(|b| *b == 1).expect("marker");
            bytes[at] = 0xE9;
        }
        fs::write(dir.join(format!("{name}.http")), bytes).expect("write seed");
    }

    // --- viewer_request: mined ---
    let dir = corpus("viewer_request");
    let policy = EdgePolicy::default();
    let mut seen = BTreeSet::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..400_000 {
        let len = 16 + (next() % 240) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let Some(input) = viewer_input(&data) else { continue };
        let request = input.to_request();
        // One input, one file: named after its outcome in each mode.
        let classes = configs().map(|config| oncelink_fuzz::outcome_class(&precheck(&request, &policy, &config, now())));
        let new = classes.iter().zip(["presigned", "sealed"]).filter(|(class, mode)| seen.insert(format!("{mode}-{class}"))).count();
        if new > 0 {
            fs::write(dir.join(format!("mined-p.{}-s.{}.bin", classes[0], classes[1])), &data).expect("write seed");
        }
    }
    println!(
        "edge_event: {} seeds; sealed_token: {} seeds; gateway_head: {} seeds; viewer_request: {} classes",
        events.len(),
        tokens.len(),
        heads.len(),
        seen.len()
    );
    for class in &seen {
        println!("  {class}");
    }
}
