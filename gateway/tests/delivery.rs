//! "Nothing that fails is their loss", through the real binary: a use is spent on delivery, not
//! on admission. Every case runs on the embedded file ledger, on DynamoDB Local and on PostgreSQL
//! (when `ONCELINK_TEST_DDB_LOCAL_URL` / `ONCELINK_TEST_POSTGRES_URL` are set, as
//! `tests/with-emulators.sh` does).
//!
//! * the origin refuses (404 for a key not uploaded yet, 416 for a range past the end, 400 for an
//!   upload it will not take, 500), fails or never answers: the use is given back;
//! * refusals the edge can make itself (an ambiguous Range, a body on a read, a prefetch, an odd
//!   head) happen before anything is spent;
//! * HEAD reads the ledger: a used or revoked link answers HEAD as its GET, without the origin's
//!   metadata;
//! * a download cut off before its last byte stays resumable by the same client, bounded, and
//!   `GET /links/{id}` says what each use delivered.

mod common;

use std::future::Future;
use std::time::Duration;

use common::fake_origin::{FakeOrigin, Step, raw_status};
use common::{Gateway, Ledgers, bytes, code, with_gateway};
use serde_json::json;

both_ledgers!(
    a_key_not_uploaded_yet_does_not_spend_the_link,
    refused_ranges_spend_nothing,
    an_upload_the_origin_refuses_spends_nothing,
    reads_with_a_body_and_prefetches_are_refused_before_any_spend,
    head_on_a_used_or_revoked_link_is_refused_without_origin_metadata,
    a_cut_off_download_is_resumed_from_where_it_stopped_then_closed,
    odd_heads_are_refused_before_any_spend,
    uploads_are_never_previews_and_desktop_clients_are_people,
);

async fn a_key_not_uploaded_yet_does_not_spend_the_link(gw: Gateway) {
    let link = gw.issue(json!({"key": "later/report.pdf"})).await;
    let url = link["url"].as_str().unwrap();
    let (status, _) = gw.get(url).await;
    assert_eq!(status, 404, "the origin has no such object yet");
    assert_eq!(gw.state(link["link_id"].as_str().unwrap()).await["uses"], 0, "the 404 was given back");
    gw.store("later/report.pdf", b"now it is here".to_vec()).await;
    assert_eq!(gw.get(url).await, (200, b"now it is here".to_vec()));
    let (status, body) = gw.get(url).await;
    assert_eq!((status, code(&body)), (403, "link_already_used".into()));
}

async fn refused_ranges_spend_nothing(gw: Gateway) {
    gw.store("r.bin", bytes(100, 1)).await;
    let link = gw.issue(json!({"key": "r.bin"})).await;
    let (url, id) = (link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned());
    let ranged = |range: String| {
        let (http, url) = (gw.http.clone(), url.clone());
        async move {
            let r = http.get(url).header("range", range).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    // Past the end: the origin says 416, and the use comes back.
    assert_eq!(ranged("bytes=99999-".into()).await.0, 416);
    // Ambiguous ranges are refused by the edge itself, before the ledger.
    let many = format!("bytes={}", vec!["0-1"; 2000].join(","));
    for bad in ["items=0-1".to_owned(), "bytes=0-0,-1".to_owned(), many] {
        let (status, body) = ranged(bad.clone()).await;
        assert_eq!((status, code(&body)), (416, "invalid_range".into()), "{}", &bad[..bad.len().min(20)]);
    }
    let state = gw.state(&id).await;
    assert_eq!((state["uses"].as_u64(), state["deliveries"].as_array().map(Vec::len)), (Some(0), Some(0)), "{state}");
    assert_eq!(gw.get(&url).await, (200, bytes(100, 1)), "none of that spent the link");
    assert_eq!(gw.get(&url).await.0, 403);
    let state = gw.state(&id).await;
    assert_eq!((state["uses"].as_u64(), state["resumes"].as_u64()), (Some(1), Some(0)), "one use, no resume: {state}");
}

async fn an_upload_the_origin_refuses_spends_nothing(gw: Gateway) {
    let put = gw.url(json!({"key": "up/twice.txt", "method": "PUT"})).await;
    let r = gw.http.put(&put).header("content-md5", "not-an-md5").body("data").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400, "the origin refuses a bad Content-MD5");
    let r = gw.http.put(&put).body("data").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "the refused upload did not spend the link");
    assert_eq!(gw.http.put(&put).body("again").send().await.unwrap().status().as_u16(), 403);
}

async fn reads_with_a_body_and_prefetches_are_refused_before_any_spend(gw: Gateway) {
    gw.store("b.txt", b"body".to_vec()).await;
    let url = gw.url(json!({"key": "b.txt"})).await;
    let r = gw.http.get(&url).body("a body on a GET").send().await.unwrap();
    assert_eq!((r.status().as_u16(), code(&r.bytes().await.unwrap())), (400, "body_not_allowed".into()));
    let r = gw.http.head(&url).body("x").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    for (name, value) in [("sec-purpose", "prefetch"), ("purpose", "prefetch"), ("sec-purpose", "prefetch;prerender")] {
        let r = gw.http.get(&url).header(name, value).send().await.unwrap();
        assert_eq!((r.status().as_u16(), code(&r.bytes().await.unwrap())), (403, "prefetch_refused".into()), "{name}: {value}");
    }
    assert_eq!(gw.get(&url).await, (200, b"body".to_vec()));
}

async fn head_on_a_used_or_revoked_link_is_refused_without_origin_metadata(gw: Gateway) {
    gw.store("h.txt", b"head me".to_vec()).await;
    let url = gw.url(json!({"key": "h.txt"})).await;
    let r = gw.http.head(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("etag").is_some(), "an unused link: the origin's metadata");
    assert_eq!(gw.get(&url).await.0, 200);
    for probe in [reqwest::Method::HEAD, reqwest::Method::OPTIONS] {
        let r = gw.http.request(probe.clone(), &url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "{probe} on a used link");
        for leak in ["etag", "last-modified", "x-amz-meta-", "accept-ranges"] {
            assert!(!r.headers().keys().any(|k| k.as_str().starts_with(leak)), "{probe} leaked {leak}");
        }
    }
    let link = gw.issue(json!({"key": "h.txt"})).await;
    let auth = format!("Bearer {}", gw.token);
    let id = link["link_id"].as_str().unwrap();
    gw.http.delete(format!("{}/_oncelink/links/{id}", gw.base)).header("authorization", auth).send().await.unwrap();
    let r = gw.http.head(link["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "a revoked link is no content-confirmation oracle");
    assert!(r.headers().get("etag").is_none());
}

/// A 32 MiB object: far more than the socket buffers between the gateway and a reader that
/// stops, so a reader that stops after 1 MiB leaves the delivery incomplete.
const BIG: u64 = 32 << 20;

async fn a_cut_off_download_is_resumed_from_where_it_stopped_then_closed(gw: Gateway) {
    let file = std::fs::File::create(gw.dir.join("objects/oncelink/big.bin")).unwrap();
    file.set_len(BIG).unwrap();
    drop(file);
    let link = gw.issue(json!({"key": "big.bin"})).await;
    let (url, id) = (link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned());
    let mut r = gw.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut got = 0u64;
    while got < 1 << 20 {
        got += r.chunk().await.unwrap().unwrap().len() as u64;
    }
    drop(r); // the connection drops mid-body
    let state = wait_for(|| gw.state(&id), |s| s["deliveries"].as_array().is_some_and(|d| !d.is_empty())).await;
    let first = &state["deliveries"][0];
    assert_eq!((first["complete"].as_bool(), first["resume"].as_bool()), (Some(false), Some(false)), "{state}");
    let sent = first["bytes"].as_u64().unwrap();
    assert!(sent >= got && sent < BIG, "the gateway knows how far it got: {sent} of {BIG}");
    // Someone else cannot take the rest.
    let r = gw.http.get(&url).header("range", format!("bytes={got}-")).header("user-agent", "someone-else/1").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // The same client resumes where it stopped, and gets the rest.
    let r = gw.http.get(&url).header("range", format!("bytes={got}-")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 206);
    let mut rest = 0u64;
    let mut r = r;
    while let Some(chunk) = r.chunk().await.unwrap() {
        rest += chunk.len() as u64;
    }
    assert_eq!(got + rest, BIG);
    // The download is complete: the use is closed, for a Range and for a plain GET alike (until
    // the completion is recorded, the recovery is in flight: refused all the same).
    let r = gw.http.get(&url).header("range", "bytes=0-").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let state = wait_for(|| gw.state(&id), |s| s["deliveries"].as_array().is_some_and(|d| d.iter().any(|d| d["resume"] == true))).await;
    assert_eq!((state["uses"].as_u64(), state["resumes"].as_u64()), (Some(1), Some(1)), "{state}");
    let resumed = state["deliveries"].as_array().unwrap().iter().find(|d| d["resume"] == true).expect("the resume's delivery").clone();
    assert_eq!((resumed["complete"].as_bool(), resumed["bytes"].as_u64()), (Some(true), Some(rest)));
    let r = gw.http.get(&url).header("range", "bytes=0-").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(gw.get(&url).await.0, 403);
}

async fn odd_heads_are_refused_before_any_spend(gw: Gateway) {
    gw.store("o.txt", b"odd".to_vec()).await;
    let url = gw.url(json!({"key": "o.txt"})).await;
    let target = url.strip_prefix(&gw.base).unwrap().to_owned();
    let host = gw.base.strip_prefix("http://").unwrap().to_owned();
    let cases = [
        (format!("GET {target}#frag HTTP/1.1\r\nHost: {host}\r\n\r\n"), 400),
        (format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nHost: other.example\r\n\r\n"), 400),
        (format!("GET http://other.example{target} HTTP/1.1\r\nHost: {host}\r\n\r\n"), 400),
        (format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}\r\n\r\n", "p".repeat(100_000)), 431),
    ];
    for (head, expected) in cases {
        assert_eq!(raw_status(gw.port, head.as_bytes()).await, Some(expected), "{}", &head[..head.len().min(80)]);
    }
    // An absolute-form target with the gateway's own authority is the same request.
    let own = format!("HEAD http://{host}{target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    assert_eq!(raw_status(gw.port, own.as_bytes()).await, Some(200));
    assert_eq!(gw.get(&url).await, (200, b"odd".to_vec()), "none of that spent the link");
}

async fn uploads_are_never_previews_and_desktop_clients_are_people(gw: Gateway) {
    let put = gw.url(json!({"key": "bot/upload.txt", "method": "PUT"})).await;
    let r = gw.http.put(&put).header("user-agent", "Slackbot 1.0").body("stored by a bot").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "an upload is stored, whoever sends it");
    let teams = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Electron/28.2.1 Safari/537.36 Teams/24004.1307.2669.7070";
    let url = gw.url(json!({"key": "bot/upload.txt"})).await;
    let r = gw.http.get(&url).header("user-agent", teams).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec()),
        (200, b"stored by a bot".to_vec()),
        "a person on Teams desktop gets the file"
    );
    let preview = gw.url(json!({"key": "bot/upload.txt"})).await;
    let r =
        gw.http.get(&preview).header("user-agent", "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.bytes().await.unwrap().len()), (200, 0), "the Teams preview bot gets nothing");
    assert_eq!(gw.get(&preview).await.0, 200, "and spent nothing");
}

/// Polls `fetch` until `ready` holds (the delivery of a cut-off download is recorded when the
/// gateway notices the viewer is gone).
async fn wait_for<F, Fut>(fetch: F, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value
where
    F: Fn() -> Fut,
    Fut: Future<Output = serde_json::Value>,
{
    for _ in 0..100 {
        let value = fetch().await;
        if ready(&value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never ready: {}", fetch().await)
}

/// 100 concurrent resumes by the first client on a link allowing 3: exactly 3 are granted
/// (counted atomically in the ledger), the rest refused.
async fn resumes_are_bounded_under_a_race(gw: Gateway) {
    gw.store("race.bin", bytes(1000, 7)).await;
    let url = gw.url(json!({"key": "race.bin", "grace_seconds": 300})).await;
    let r = gw.http.get(&url).header("range", "bytes=0-9").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 206, "the first use");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (http, url, barrier) = (gw.http.clone(), url.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                http.get(url).header("range", "bytes=10-19").send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 206).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 97);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resumes_are_bounded_under_a_race_on_both_ledgers() {
    let args = ["--max-resumes", "3"];
    for ledgers in Ledgers::ALL {
        with_gateway("resumes_race", ledgers, &args, &[], resumes_are_bounded_under_a_race).await;
    }
}

/// An origin that fails (500), or that does not answer within --origin-timeout: the use is
/// given back each time, and the link works once the origin does.
async fn origin_failures_give_the_use_back(gw: Gateway) {
    let link = gw.issue(json!({"key": "flaky.txt"})).await;
    let (url, id) = (link["url"].as_str().unwrap(), link["link_id"].as_str().unwrap());
    assert_eq!(gw.get(url).await.0, 500, "the origin's own failure");
    let (status, body) = gw.get(url).await;
    assert_eq!((status, code(&body)), (504, "origin_timeout".into()));
    assert_eq!(gw.state(id).await["uses"], 0);
    assert_eq!(gw.get(url).await, (200, b"finally".to_vec()));
    assert_eq!(gw.get(url).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn origin_failures_give_the_use_back_on_both_ledgers() {
    for ledgers in Ledgers::ALL {
        let origin = FakeOrigin::start(vec![Step::Status(500), Step::Slow(Duration::from_secs(3)), Step::Status(200)], b"finally").await;
        let mut args = origin.gateway_args();
        args.extend(["--origin-timeout".to_owned(), "1s".to_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        with_gateway("origin_failures", ledgers, &args, &FakeOrigin::gateway_env(), origin_failures_give_the_use_back).await;
    }
}
