//! The time limits on connections that stop moving (`watchdog`), on the real binary over raw
//! sockets: an idle keep-alive connection is closed after `--idle-timeout`, a head that takes
//! longer than `--head-timeout` is cut even while it trickles, a body that stops moving (an
//! upload that stops sending, a download that stops reading) is cut after `--body-timeout` —
//! and none of that costs the link's owner anything: the upload link still works, the cut
//! download is recovered. A transfer that is slow but moving is never cut.

mod common;

use std::time::{Duration, Instant};

use common::{Backend, Gateway};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const IDLE: &str = "1s";
const HEAD: &str = "2s";
const BODY: &str = "2s";

fn start(tmp: &tempfile::TempDir) -> Gateway {
    Gateway::start(&tmp.path().join("data"), &Backend::File, 0, &["--idle-timeout", IDLE, "--head-timeout", HEAD, "--body-timeout", BODY])
}

/// Reads until the gateway closes the connection (or 10 s pass); returns what came and when
/// the close was seen.
async fn until_closed(stream: &mut TcpStream) -> (Vec<u8>, Instant) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, Instant::now()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the gateway kept the connection open for 10 s ({} bytes came)", got.len()),
        }
    }
}

fn head_of(target: &str, host: &str, extra: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: oncelink-blackbox/1\r\n{extra}\r\n")
}

fn host(gw: &Gateway) -> String {
    gw.base.strip_prefix("http://").unwrap().to_owned()
}

#[tokio::test]
async fn idle_connections_and_slow_heads_are_closed_on_their_limits() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = start(&tmp);
    let stdout = gw.stdout();
    assert!(stdout.contains("idle 1s, request head 2s, stalled body 2s"), "the banner shows the limits:\n{stdout}");

    // A connection that never sends anything.
    let mut quiet = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let opened = Instant::now();
    let (got, closed) = until_closed(&mut quiet).await;
    let after = closed - opened;
    assert!(got.is_empty() && after >= Duration::from_millis(900) && after < Duration::from_secs(4), "closed after {after:?}");

    // Keep-alive: one request answered, then the connection sits idle.
    let mut kept = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    kept.write_all(head_of("/_oncelink/healthz", &host(&gw), "").as_bytes()).await.unwrap();
    let mut first = vec![0u8; 4096];
    let n = kept.read(&mut first).await.unwrap();
    let answered = Instant::now();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first[..n]));
    let (_, closed) = until_closed(&mut kept).await;
    let after = closed - answered;
    assert!(after >= Duration::from_millis(900) && after < Duration::from_secs(4), "idle keep-alive closed after {after:?}");

    // A head that trickles a byte every 300 ms moves all the time, and is still cut at 2 s.
    let mut slow = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let head = head_of("/_oncelink/healthz", &host(&gw), &format!("X-Pad: {}\r\n", "p".repeat(64)));
    let started = Instant::now();
    let mut cut = None;
    for byte in head.as_bytes() {
        if slow.write_all(&[*byte]).await.is_err() {
            cut = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(300), slow.read(&mut probe)).await {
            cut = Some(started.elapsed());
            break;
        }
    }
    let cut = cut.expect("a head trickled over 30 s was never cut");
    assert!(cut >= Duration::from_millis(1900) && cut < Duration::from_secs(5), "the slow head was cut after {cut:?}");

    let metrics = gw.get(&format!("{}/_oncelink/metrics", gw.base)).await.1;
    let metrics = String::from_utf8(metrics).unwrap();
    let count = |reason: &str| -> u64 {
        let prefix = format!("oncelink_connections_timed_out_total{{reason=\"{reason}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|n| n.parse().ok()).expect("the counter")
    };
    assert!(count("idle") >= 2 && count("head") == 1 && count("stalled") == 0, "{metrics}");
}

#[tokio::test]
async fn a_stalled_upload_is_cut_and_its_link_still_works_while_a_slow_one_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = start(&tmp);
    let link = gw.issue(json!({"key": "up/stalled.bin", "method": "PUT"})).await;
    let (put, id) = (link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned());
    let target = put.strip_prefix(&gw.base).unwrap().to_owned();
    let body = common::bytes(100_000, 7);

    let mut stalled = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    let head = format!("PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n", host(&gw), body.len());
    stalled.write_all(head.as_bytes()).await.unwrap();
    stalled.write_all(&body[..10_000]).await.unwrap();
    let sent = Instant::now();
    let (answer, closed) = until_closed(&mut stalled).await;
    let after = closed - sent;
    assert!(after >= Duration::from_millis(1900) && after < Duration::from_secs(5), "cut after {after:?}");
    assert!(!String::from_utf8_lossy(&answer).contains(" 200 "), "a cut upload is not stored: {}", String::from_utf8_lossy(&answer));
    assert!(!gw.dir.join("objects/oncelink/up/stalled.bin").exists(), "nothing half-written is visible");
    // The use it held is given back when the cut drops the request, not when its hold lapses
    // (the origin timeout, a minute, later).
    let state = loop {
        let state = gw.state(&id).await;
        if state["in_flight"] == 0 {
            break state;
        }
        assert!(closed.elapsed() < Duration::from_secs(3), "the cut upload's use is still held: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(state["uses"], 0, "{state}");

    // The same link, sent slowly but steadily (a piece every 500 ms, 4 s in all), is not cut.
    let mut slow = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    slow.write_all(head.as_bytes()).await.unwrap();
    for piece in body.chunks(body.len() / 8) {
        slow.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut answer)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    let url = gw.url(json!({"key": "up/stalled.bin"})).await;
    assert_eq!(gw.get(&url).await, (200, body), "the whole body, stored through the link the stalled upload did not spend");
}

#[tokio::test]
async fn a_download_that_stops_reading_is_cut_and_recovered_by_its_client() {
    const BIG: u64 = 32 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let gw = start(&tmp);
    std::fs::File::create(gw.dir.join("objects/oncelink/big.bin")).unwrap().set_len(BIG).unwrap();
    let link = gw.issue(json!({"key": "big.bin"})).await;
    let (url, id) = (link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned());
    let target = url.strip_prefix(&gw.base).unwrap().to_owned();

    let mut reader = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    reader.write_all(head_of(&target, &host(&gw), "").as_bytes()).await.unwrap();
    let mut first = vec![0u8; 1 << 20];
    let mut got = 0;
    while got < first.len() {
        got += reader.read(&mut first[got..]).await.unwrap();
    }
    // Stop reading: the socket buffers fill, the gateway's writes stop moving.
    let stopped = Instant::now();
    let state = loop {
        let state = gw.state(&id).await;
        if state["deliveries"].as_array().is_some_and(|d| !d.is_empty()) {
            break state;
        }
        assert!(stopped.elapsed() < Duration::from_secs(10), "the stalled download was never cut: {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(stopped.elapsed() >= Duration::from_millis(1900), "cut after {:?}, before the body limit", stopped.elapsed());
    let sent = state["deliveries"][0]["bytes"].as_u64().unwrap();
    assert_eq!(state["deliveries"][0]["complete"], false, "{state}");
    assert!(sent < BIG, "{state}");

    // What the gateway had sent is still in the socket: read it out, then resume the rest.
    let (rest_of_first, _) = until_closed(&mut reader).await;
    let received = first.len() + rest_of_first.len();
    let head_len = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let body_received = (received - head_len) as u64;
    // The record counts what was handed to the connection: at most two 1 MiB chunks (one
    // partly written, one queued) more than reached the socket when it was cut.
    assert!(sent >= body_received && sent - body_received <= 2 << 20, "recorded {sent}, received {body_received}");
    let r = gw.http.get(&url).header("range", format!("bytes={body_received}-")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 206, "the same client recovers the cut download");
    assert_eq!(body_received + r.bytes().await.unwrap().len() as u64, BIG);
}
