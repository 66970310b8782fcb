//! Black-box tests: the real `oncelink` binary on a loopback port, a real HTTP client.
//!
//! Every case runs three times: with the embedded file ledger, with `--ledger dynamodb` against
//! DynamoDB Local and with `--ledger postgres` against PostgreSQL (when
//! `ONCELINK_TEST_DDB_LOCAL_URL` / `ONCELINK_TEST_POSTGRES_URL` are set, as
//! `tests/with-emulators.sh` does; otherwise those report themselves skipped).

mod common;

use std::path::Path;

use common::{Backend, Gateway, bytes, code};
use serde_json::json;

both_ledgers!(
    first_get_is_200_with_the_exact_bytes_then_403,
    put_upload_then_one_time_download,
    range_resume_within_the_grace_window,
    head_does_not_consume,
    options_is_checked_and_forwarded_without_spending,
    objects_never_run_with_the_gateways_authority,
    n_use_link_and_revocation,
    unauthorised_issue_is_401,
    bad_json_is_400,
    a_tag_round_trips_and_a_bad_one_is_invalid_tag,
    unknown_or_tampered_link_is_403,
    used_link_stays_used_after_kill_9,
    concurrent_first_uses_have_exactly_one_winner,
);

async fn first_get_is_200_with_the_exact_bytes_then_403(gw: Gateway) {
    let data = bytes(300_000, 1);
    gw.store("reports/q3 final.pdf", data.clone()).await;
    let url = gw.url(json!({"key": "reports/q3 final.pdf"})).await;
    let (status, body) = gw.get(&url).await;
    assert_eq!(status, 200);
    assert!(body == data, "the download differs from what was stored");
    let (status, body) = gw.get(&url).await;
    assert_eq!((status, code(&body)), (403, "link_already_used".into()));
}

async fn put_upload_then_one_time_download(gw: Gateway) {
    let data = bytes(1 << 20, 2);
    let put = gw.url(json!({"key": "up/blob.bin", "method": "PUT"})).await;
    let r = gw.http.put(&put).body(data.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // The upload link is spent too.
    let r = gw.http.put(&put).body(b"overwrite".to_vec()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(code(&r.bytes().await.unwrap()), "link_already_used");
    let url = gw.url(json!({"key": "up/blob.bin", "method": "GET"})).await;
    let (status, body) = gw.get(&url).await;
    assert_eq!(status, 200);
    assert!(body == data, "downloaded bytes differ from uploaded bytes");
    assert_eq!(gw.get(&url).await.0, 403);
}

async fn range_resume_within_the_grace_window(gw: Gateway) {
    let data = bytes(100_000, 3);
    gw.store("big/resume.bin", data.clone()).await;
    let link = gw.issue(json!({"key": "big/resume.bin", "grace_seconds": 300})).await;
    let (url, id) = (link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned());
    let part = |range: &'static str| {
        let (http, url) = (gw.http.clone(), url.clone());
        async move {
            let r = http.get(url).header("range", range).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let (status, first) = part("bytes=0-39999").await;
    assert_eq!(status, 206);
    assert!(first == data[..40_000]);
    // The same client resumes: no use spent.
    let (status, rest) = part("bytes=40000-").await;
    assert_eq!(status, 206, "{}", code(&rest));
    assert!(rest == data[40_000..]);
    // The gateway records a delivery once its body has ended, in the background: wait for the
    // completed one, which closes the client's resumes (a ledger across a network is slower to
    // record it than the client is to ask again).
    let mut completed = false;
    for _ in 0..100 {
        completed = gw.state(&id).await["deliveries"].as_array().is_some_and(|d| d.iter().any(|d| d["complete"] == true));
        if completed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(completed, "the completed delivery was never recorded");
    // Another client (other User-Agent) inside the window: refused.
    let r = gw.http.get(&url).header("range", "bytes=0-9").header("user-agent", "someone-else/1").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(code(&r.bytes().await.unwrap()), "link_already_used");
    // A plain GET is a second use: refused.
    let (status, body) = gw.get(&url).await;
    assert_eq!((status, code(&body)), (403, "link_already_used".into()));
}

async fn head_does_not_consume(gw: Gateway) {
    gw.store("h.txt", b"twelve bytes".to_vec()).await;
    let url = gw.url(json!({"key": "h.txt"})).await;
    for _ in 0..3 {
        let r = gw.http.head(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-length"], "12");
    }
    assert_eq!(gw.get(&url).await, (200, b"twelve bytes".to_vec()));
    assert_eq!(gw.get(&url).await.0, 403);
}

/// OPTIONS (a CORS preflight) is read as at the CloudFront edge: the link is checked like a
/// HEAD's, then the request goes to the origin (the data dir's files have no CORS
/// configuration, and say what S3 says then: 403), and no use is spent.
async fn options_is_checked_and_forwarded_without_spending(gw: Gateway) {
    gw.store("o.txt", b"preflight".to_vec()).await;
    let url = gw.url(json!({"key": "o.txt"})).await;
    let preflight = || {
        gw.http
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "GET")
            .send()
    };
    for _ in 0..2 {
        let r = preflight().await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "the origin's own answer");
        assert!(r.text().await.unwrap().contains("AccessForbidden"), "an S3 error document, not one of ours");
    }
    // Another last character (the same one would be no tampering at all: 1 run in 64).
    let other = if url.ends_with('A') { 'B' } else { 'A' };
    let tampered = format!("{}{other}", &url[..url.len() - 1]);
    let r = gw.http.request(reqwest::Method::OPTIONS, &tampered).send().await.unwrap();
    assert_eq!((r.status().as_u16(), code(&r.bytes().await.unwrap())), (403, "invalid_token".into()));
    assert_eq!(gw.get(&url).await, (200, b"preflight".to_vec()));
    assert_eq!(gw.get(&url).await.0, 403);
}

/// Every object answer is nosniff and sandboxed; active types (and a missing type) are
/// attachments, passive ones stay inline.
async fn objects_never_run_with_the_gateways_authority(gw: Gateway) {
    let html = b"<html><script>fetch('/_oncelink/links',{method:'POST'})</script></html>".to_vec();
    for (key, content_type, attachment) in [
        ("x/page.html", Some("text/html"), true),
        ("x/img.svg", Some("image/svg+xml; charset=utf-8"), true),
        ("x/untyped", None, true),
        ("x/notes.txt", Some("text/plain"), false),
        ("x/pic.png", Some("image/png"), false),
    ] {
        let put = gw.url(json!({"key": key, "method": "PUT"})).await;
        let mut upload = gw.http.put(&put).body(html.clone());
        if let Some(ct) = content_type {
            upload = upload.header("content-type", ct);
        }
        assert_eq!(upload.send().await.unwrap().status().as_u16(), 200, "{key}");
        let r = gw.http.get(gw.url(json!({"key": key})).await).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{key}");
        let header = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{key}");
        assert_eq!(header("content-security-policy").as_deref(), Some("sandbox"), "{key}");
        let disposition = header("content-disposition").unwrap_or_default();
        assert_eq!(disposition.starts_with("attachment"), attachment, "{key}: {disposition:?}");
    }
}

/// `--inline-active-content`: active types are shown inline, still sandboxed.
#[tokio::test]
async fn inline_active_content_is_an_opt_in_and_stays_sandboxed() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), &Backend::File, 0, &["--inline-active-content", "true"]);
    let put = gw.url(json!({"key": "page.html", "method": "PUT"})).await;
    let r = gw.http.put(&put).header("content-type", "text/html").body("<p>hi</p>").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = gw.http.get(gw.url(json!({"key": "page.html"})).await).send().await.unwrap();
    assert_eq!(r.headers()["content-security-policy"], "sandbox");
    assert!(r.headers().get("content-disposition").is_none());
}

async fn n_use_link_and_revocation(gw: Gateway) {
    gw.store("n.txt", b"n".to_vec()).await;
    let url = gw.url(json!({"key": "n.txt", "max_uses": 3})).await;
    for _ in 0..3 {
        assert_eq!(gw.get(&url).await.0, 200);
    }
    assert_eq!(gw.get(&url).await.0, 403);

    let link = gw.issue(json!({"key": "n.txt"})).await;
    let id = link["link_id"].as_str().unwrap();
    let auth = format!("Bearer {}", gw.token);
    let r = gw.http.get(format!("{}/_oncelink/links/{id}", gw.base)).header("authorization", &auth).send().await.unwrap();
    let state: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((state["uses"].as_u64(), state["revoked"].as_bool()), (Some(0), Some(false)));
    let r = gw.http.delete(format!("{}/_oncelink/links/{id}", gw.base)).header("authorization", &auth).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, body) = gw.get(link["url"].as_str().unwrap()).await;
    assert_eq!((status, code(&body)), (403, "link_revoked".into()));
}

async fn unauthorised_issue_is_401(gw: Gateway) {
    let url = format!("{}/_oncelink/links", gw.base);
    let body = json!({"key": "a.txt"}).to_string();
    let r = gw.http.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = gw.http.post(&url).header("authorization", "Bearer wrong-token-wrong-token").body(body.clone()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = gw.http.delete(format!("{url}/AAAAAAAAAAAAAAAAAAAAAA")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The right token works (so the 401s above are about the token).
    assert_eq!(gw.issue_raw(&json!({"key": "a.txt"})).await.0, 201);
}

async fn bad_json_is_400(gw: Gateway) {
    let r = gw
        .http
        .post(format!("{}/_oncelink/links", gw.base))
        .header("authorization", format!("Bearer {}", gw.token))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(code(&r.bytes().await.unwrap()), "invalid_json");
    let (status, body) = gw.issue_raw(&json!({"key": "a", "surprise": 1})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_json")));
    let (status, body) = gw.issue_raw(&json!({"key": "../etc/passwd"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_key")));
    let r = gw
        .http
        .post(format!("{}/_oncelink/links", gw.base))
        .header("authorization", format!("Bearer {}", gw.token))
        .body(vec![b' '; 100_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
}

async fn a_tag_round_trips_and_a_bad_one_is_invalid_tag(gw: Gateway) {
    gw.store("t.txt", b"t".to_vec()).await;
    let link = gw.issue(json!({"key": "t.txt", "tag": "order-1234:a/b#c@d+e=f_g.h"})).await;
    assert_eq!(link["tag"], "order-1234:a/b#c@d+e=f_g.h");
    let id = link["link_id"].as_str().unwrap();
    assert_eq!(gw.state(id).await["tag"], "order-1234:a/b#c@d+e=f_g.h", "kept before any use");
    assert_eq!(gw.get(link["url"].as_str().unwrap()).await.0, 200);
    let state = gw.state(id).await;
    assert_eq!((state["tag"].as_str(), state["trail"][0]["outcome"].as_str()), (Some("order-1234:a/b#c@d+e=f_g.h"), Some("used")));
    assert_eq!(state["trail"][0]["network"], "127.0.0.0/24");
    // No tag: none in the answer, null in the state.
    let plain = gw.issue(json!({"key": "t.txt"})).await;
    assert!(plain.get("tag").is_none(), "{plain}");
    assert!(gw.state(plain["link_id"].as_str().unwrap()).await["tag"].is_null());
    for bad in ["", "has space", "<b>", "ü", &"x".repeat(65)] {
        let (status, body) = gw.issue_raw(&json!({"key": "t.txt", "tag": bad})).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_tag")), "{bad:?}");
    }
    let r = gw
        .http
        .get(format!("{}/_oncelink/links?key=t.txt&tag=a%20b", gw.base))
        .header("authorization", format!("Bearer {}", gw.token))
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), code(&r.bytes().await.unwrap())), (400, "invalid_tag".into()));
    assert_eq!(gw.issue_raw(&json!({"key": "t.txt", "tag": "x".repeat(64)})).await.0, 201);
}

async fn unknown_or_tampered_link_is_403(gw: Gateway) {
    gw.store("t.txt", b"secret".to_vec()).await;
    let (status, body) = gw.get(&format!("{}/t.txt", gw.base)).await;
    assert_eq!((status, code(&body)), (403, "missing_signature".into()));
    let (status, body) = gw.get(&format!("{}/t.txt?bm90LWEtdG9rZW4", gw.base)).await;
    assert_eq!((status, code(&body)), (403, "invalid_token".into()));
    // A real link for another key does not open this one.
    let other = gw.url(json!({"key": "other.txt"})).await;
    let token = other.split_once('?').unwrap().1;
    let (status, body) = gw.get(&format!("{}/t.txt?{token}", gw.base)).await;
    assert_eq!((status, code(&body)), (403, "invalid_token".into()));
    // One flipped character.
    let url = gw.url(json!({"key": "t.txt"})).await;
    let mut tampered = url.clone().into_bytes();
    let last = tampered.len() - 5;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let (status, body) = gw.get(&String::from_utf8(tampered).unwrap()).await;
    assert_eq!((status, code(&body)), (403, "invalid_token".into()));
    // None of this spent the real link.
    assert_eq!(gw.get(&url).await, (200, b"secret".to_vec()));
}

async fn used_link_stays_used_after_kill_9(gw: Gateway) {
    gw.store("k.txt", b"once".to_vec()).await;
    let url = gw.url(json!({"key": "k.txt"})).await;
    let unused = gw.url(json!({"key": "k.txt"})).await;
    assert_eq!(gw.get(&url).await, (200, b"once".to_vec()));
    let mut gw = gw;
    gw.kill9();
    let gw = gw.restart();
    let (status, body) = gw.get(&url).await;
    assert_eq!((status, code(&body)), (403, "link_already_used".into()));
    // The restarted gateway still honours links it issued before (same keys, same port).
    assert_eq!(gw.get(&unused).await, (200, b"once".to_vec()));
}

async fn concurrent_first_uses_have_exactly_one_winner(gw: Gateway) {
    gw.store("race.bin", bytes(10_000, 4)).await;
    let url = gw.url(json!({"key": "race.bin"})).await;
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (http, url, barrier) = (gw.http.clone(), url.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let r = http.get(url).send().await.unwrap();
                (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
            })
        })
        .collect();
    let mut ok = 0;
    let mut used = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            200 => ok += 1,
            403 if code(&body) == "link_already_used" => used += 1,
            other => panic!("unexpected answer {other}: {}", code(&body)),
        }
    }
    assert_eq!((ok, used), (1, 63));
}

/// Streams a 1 GiB object (a sparse file in the embedded origin's directory) and checks the
/// gateway's peak RSS stays under a fixed ceiling: nothing is buffered whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_download_streams_under_a_fixed_rss_ceiling() {
    const SIZE: u64 = 1 << 30;
    const CEILING_KB: u64 = 200 * 1024;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let gw = Gateway::start(&dir, &Backend::File, 0, &[]);
    let file = std::fs::File::create(dir.join("objects/oncelink/huge.bin")).unwrap();
    file.set_len(SIZE).unwrap();
    drop(file);
    let url = gw.url(json!({"key": "huge.bin"})).await;
    let mut r = gw.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut total = 0u64;
    while let Some(chunk) = r.chunk().await.unwrap() {
        assert!(chunk.iter().all(|b| *b == 0));
        total += chunk.len() as u64;
    }
    assert_eq!(total, SIZE);
    let hwm = vm_hwm_kb(gw.pid());
    eprintln!("gateway peak RSS after streaming 1 GiB: {} MiB", hwm / 1024);
    assert!(hwm < CEILING_KB, "peak RSS {hwm} kB is over the {CEILING_KB} kB ceiling");
    assert_eq!(gw.get(&url).await.0, 403);
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// SIGTERM lets a download that is already streaming finish, then the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_transfers_finish() {
    const SIZE: u64 = 64 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut gw = Gateway::start(&dir, &Backend::File, 0, &[]);
    std::fs::File::create(dir.join("objects/oncelink/slow.bin")).unwrap().set_len(SIZE).unwrap();
    let url = gw.url(json!({"key": "slow.bin"})).await;
    let mut r = gw.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let first = r.chunk().await.unwrap().map_or(0, |c| c.len() as u64);
    // Keep reading while the gateway shuts down (it can only finish if we consume).
    let reader = tokio::spawn(async move {
        let mut total = first;
        while let Some(chunk) = r.chunk().await.unwrap() {
            total += chunk.len() as u64;
        }
        total
    });
    let pid = gw.pid();
    let status = tokio::task::spawn_blocking(move || {
        let status = gw.terminate();
        (gw, status)
    });
    let (gw, status) = status.await.unwrap();
    // The process has exited: everything must have been sent before it did.
    assert_eq!(reader.await.unwrap(), SIZE, "pid {pid} cut the transfer short");
    assert!(status.success(), "exit status {status}");
    // And it no longer listens.
    assert!(reqwest::get(format!("{}/_oncelink/healthz", gw.base)).await.is_err());
}

#[tokio::test]
async fn own_endpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), &Backend::File, 0, &[]);
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = no_redirects.get(format!("{}/", gw.base)).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["location"].to_str().unwrap()), (302, "/_oncelink/"));
    let r = gw.http.get(format!("{}/_oncelink/", gw.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("<title>oncelink</title>"));
    let r = gw.http.get(format!("{}/_oncelink/healthz", gw.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    gw.store("m.txt", b"m".to_vec()).await;
    let url = gw.url(json!({"key": "m.txt"})).await;
    let scrape = || async { gw.http.get(format!("{}/_oncelink/metrics", gw.base)).send().await.unwrap().text().await.unwrap() };
    let before = scrape().await;
    gw.get(&url).await;
    gw.get(&url).await;
    let metrics = scrape().await;
    assert!(metrics.contains("oncelink_decisions_total{decision=\"deny\",reason=\"link_already_used\"} 1"), "{metrics}");
    assert!(metrics.contains("oncelink_decisions_total{decision=\"forward\",reason=\"ok\"} 2"), "{metrics}");
    // Both decisions were timed: the latency histogram counted two more, in its +Inf bucket too.
    let count = "oncelink_decision_duration_seconds_count";
    assert_eq!(metric_value(&metrics, count) - metric_value(&before, count), 2.0, "{metrics}");
    let inf = "oncelink_decision_duration_seconds_bucket{le=\"+Inf\"}";
    assert_eq!(metric_value(&metrics, inf), metric_value(&metrics, count), "{metrics}");
    assert!(metric_value(&metrics, "oncelink_decision_duration_seconds_sum") > 0.0, "{metrics}");
    assert_eq!(metric_value(&metrics, "oncelink_ledger_errors_total"), 0.0, "{metrics}");
    // The issue API: the upload link and the download link, both answered `ok`.
    assert!(metric_value(&metrics, "oncelink_api_answers_total{code=\"ok\"}") >= 2.0, "{metrics}");
    assert!(metric_value(&metrics, "oncelink_links_issued_total{mode=\"sealed\",method=\"GET\"}") >= 1.0, "{metrics}");
    // Access logs are JSON with decision and reason, and never hold the link's token.
    let logs = std::fs::read_to_string(tmp.path().join("data.log")).unwrap();
    let token = url.split_once('?').unwrap().1;
    assert!(!logs.contains(token), "a link token leaked into the logs");
    assert!(!logs.contains(&gw.token), "the API token leaked into the logs");
    let denied = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["reason"] == "link_already_used")
        .expect("an access log line for the denied request");
    assert_eq!((denied["fields"]["decision"].as_str(), denied["fields"]["status"].as_u64()), (Some("deny"), Some(403)));
    // The decision itself is logged by the core, as in the Lambda, and joins the access line on
    // the request id.
    let lines: Vec<serde_json::Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let decided = |target: &str| {
        lines.iter().find(|v| v["target"] == target && v["fields"]["reason"] == "link_already_used").cloned().unwrap_or_default()
    };
    let (decision, access) = (decided("decision"), decided("access"));
    assert_eq!(decision["fields"]["status"].as_u64(), Some(403), "{decision}");
    assert!(decision["fields"]["request_id"].is_string() && decision["fields"]["request_id"] == access["fields"]["request_id"]);
}

/// The value of one series (name with its labels, exactly as rendered) in a Prometheus text page.
fn metric_value(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no series {series} in\n{page}"))
        .parse()
        .unwrap()
}

/// `--origin-endpoint`: the same code path against an external S3-compatible store (the
/// standalone s3s-fs that `tests/with-emulators.sh` runs, which verifies every signature), with
/// credentials from the usual AWS chain (here: the environment).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_s3_compatible_origin() {
    let (Ok(endpoint), Ok(bucket), Ok(access_key), Ok(secret_key), Ok(data_dir)) = (
        std::env::var("ONCELINK_TEST_S3_URL"),
        std::env::var("ONCELINK_TEST_S3_BUCKET"),
        std::env::var("ONCELINK_TEST_S3_ACCESS_KEY"),
        std::env::var("ONCELINK_TEST_S3_SECRET_KEY"),
        std::env::var("ONCELINK_TEST_S3_DATA_DIR"),
    ) else {
        eprintln!("SKIPPED external_s3_compatible_origin: the s3s-fs stand-in is not up (run through tests/with-emulators.sh)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let args = ["--origin-endpoint", endpoint.as_str(), "--bucket", bucket.as_str(), "--region", "us-east-1"];
    let env =
        [("AWS_ACCESS_KEY_ID", access_key.as_str()), ("AWS_SECRET_ACCESS_KEY", secret_key.as_str()), ("AWS_EC2_METADATA_DISABLED", "true")];
    let gw = Gateway::start_with_env(&tmp.path().join("data"), &Backend::File, 0, &args, &env);
    let key = format!("external/{}.bin", std::process::id());
    let data = bytes(200_000, 9);
    gw.store(&key, data.clone()).await;
    // The object went to the external store, not to an embedded one.
    assert!(std::fs::read(Path::new(&data_dir).join(&bucket).join(&key)).unwrap() == data);
    let url = gw.url(json!({"key": key})).await;
    let (status, body) = gw.get(&url).await;
    assert_eq!(status, 200);
    assert!(body == data, "the download differs from what was stored");
    let (status, body) = gw.get(&url).await;
    assert_eq!((status, code(&body)), (403, "link_already_used".into()));
}

/// Everything in the data dir is the owner's alone; no client header value reaches a log line;
/// keys under `_oncelink/` (the gateway's own routes) cannot be issued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_data_dir_quiet_logs_and_reserved_keys() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // A file left world-readable by an older version is put right at start.
    std::fs::create_dir_all(dir.join("objects")).unwrap();
    std::fs::write(dir.join("objects/old.txt"), b"old").unwrap();
    std::fs::set_permissions(dir.join("objects/old.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let gw = Gateway::start(&dir, &Backend::File, 0, &[]);
    gw.store("private/report.txt", b"secret numbers".to_vec()).await;
    let url = gw.url(json!({"key": "private/report.txt"})).await;
    // A malformed conditional header (ignored, as RFC 9110 says) and an origin refusal (a
    // precondition that fails): neither value may reach a log line.
    let r = gw.http.get(&url).header("if-match", "\"MARKER-header-value-12345\"").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 412);
    let r = gw.http.get(&url).header("if-modified-since", "MARKER-header-value-12345").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "the origin's refusal spent nothing; a malformed date is ignored");

    let mut checked = 0;
    let mut stack = vec![dir.clone()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_dir() {
            assert_eq!(mode, 0o700, "{}", path.display());
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        checked += 1;
    }
    assert!(checked >= 8, "the ledger, the secrets and the objects were all looked at ({checked})");

    let logs = std::fs::read_to_string(tmp.path().join("data.log")).unwrap();
    assert!(!logs.contains("MARKER-header-value"), "a client header value reached the log");
    let (status, body) = gw.issue_raw(&json!({"key": "_oncelink/links"})).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_key")));
}

/// `--mode presigned` on the defaults: links are SigV4-presigned for the gateway's own URL and
/// the file origin verifies each signature as S3 would. A link works once; one with a signature
/// that is not ours is refused by the origin (403, S3's error) and spends nothing — not even
/// the use of the link it was made from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_mode_on_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), &Backend::File, 0, &["--mode", "presigned"]);
    let put = gw.url(json!({"key": "signed/report.csv", "method": "PUT", "content_type": "text/csv"})).await;
    assert!(put.starts_with(&format!("{}/oncelink/signed/report.csv?", gw.origin())), "{put}");
    assert!(put.contains("X-Amz-Signature="), "{put}");
    let r = gw.http.put(&put).header("content-type", "text/csv").body("a,b\n1,2\n").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap_or_default());

    let url = gw.url(json!({"key": "signed/report.csv"})).await;
    // Another signature of the same length: the origin, not the edge, knows it is not ours.
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap();
    let flipped: String = signature
        .chars()
        .map(|c| {
            if c == 'a' {
                'b'
            } else if c == 'b' {
                'a'
            } else {
                c
            }
        })
        .collect();
    let forged = url.replace(signature, &flipped);
    let r = gw.http.get(&forged).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("SignatureDoesNotMatch"));

    let r = gw.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"a,b\n1,2\n");
    let (status, body) = gw.get(&url).await;
    assert_eq!((status, code(&body)), (403, "link_already_used".into()));
}
