//! The webhook through the real binary and a real HTTP receiver on loopback
//! (`common::receiver`, which checks every signature against the secret and its timestamp
//! against the arrival):
//!
//! * a one-time link used once, then tried again: exactly one `link.used`, one `link.exhausted`
//!   and one `link.refused`, in that order, signed, with the documented fields;
//! * the receiver down (its port closed) while links are used, then up: every event arrives,
//!   each once, and the outbox empties;
//! * `kill -9` while a delivery stalls in flight, then a restart on the same data dir: every
//!   event arrives at least once, the one in flight again, and duplicates are the same event
//!   (same id, same body);
//! * SIGTERM with a delivery stalled in flight: the gateway stops without waiting for it, and the
//!   event goes out after the restart;
//! * a webhook with a ledger that cannot share its transaction, or a URL that is not one, stops
//!   the start with one line.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use common::receiver::{Received, Receiver, free_port};
use common::{BIN, Backend, Gateway};
use serde_json::json;

const SECRET: &str = "whsec-test-0123456789abcdef";

/// Stores an object and issues `n` one-time GET links to it: (url, link id).
async fn links(gw: &Gateway, n: usize) -> Vec<(String, String)> {
    gw.store("report.txt", b"quarterly numbers".to_vec()).await;
    let mut out = Vec::new();
    for _ in 0..n {
        let link = gw.issue(json!({"key": "report.txt"})).await;
        out.push((link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned()));
    }
    out
}

/// The events about `link_id`, in order of arrival.
fn about<'a>(got: &'a [Received], link_id: &str) -> Vec<&'a Received> {
    got.iter().filter(|r| r.link_id() == link_id).collect()
}

/// Distinct event ids per (type, link id).
fn ids_by_kind(got: &[Received]) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut out: BTreeMap<_, BTreeSet<String>> = BTreeMap::new();
    for r in got {
        out.entry((r.kind().to_owned(), r.link_id().to_owned())).or_default().insert(r.id.clone());
    }
    out
}

/// Every link of `links` used once: a `link.used` and a `link.exhausted` each, one event id each.
fn each_used_once(got: &[Received], links: &[(String, String)]) -> bool {
    let by_kind = ids_by_kind(got);
    links.iter().all(|(_, id)| ["link.used", "link.exhausted"].iter().all(|kind| by_kind.contains_key(&(kind.to_string(), id.clone()))))
}

/// The same id is the same event: one body per id.
fn duplicates_are_identical(got: &[Received]) {
    let mut bodies: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for r in got {
        let first = *bodies.entry(r.id.as_str()).or_insert(r.raw.as_slice());
        assert_eq!(first, r.raw.as_slice(), "two bodies under the id {}", r.id);
    }
}

async fn metric(gw: &Gateway, name: &str) -> f64 {
    let text = gw.http.get(format!("{}/_oncelink/metrics", gw.base)).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_one_time_link_used_then_refused_sends_used_exhausted_refused() {
    let receiver = Receiver::start(0, Duration::ZERO).await;
    let tmp = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let env = [("ONCELINK_WEBHOOK_SECRET", SECRET)];
    let gw = Gateway::start_with_env(&tmp.path().join("data"), &Backend::File, 0, &["--webhook-url", &url], &env);
    assert!(gw.stdout().contains("webhook"), "{}", gw.stdout());
    let (link, link_id) = links(&gw, 1).await.remove(0);

    let first = gw.http.get(&link).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let request_id = first.headers()["x-oncelink-request-id"].to_str().unwrap().to_owned();
    assert_eq!(first.bytes().await.unwrap().as_ref(), b"quarterly numbers");
    assert_eq!(gw.get(&link).await.0, 403);

    receiver.until("used, exhausted, refused", Duration::from_secs(20), |got| about(got, &link_id).len() >= 3).await;
    // Nothing more comes for this link.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = receiver.received();
    let ours = about(&got, &link_id);
    let kinds: Vec<&str> = ours.iter().map(|r| r.kind()).collect();
    assert_eq!(kinds, ["link.used", "link.exhausted", "link.refused"], "{got:#?}");
    let ids: BTreeSet<&str> = ours.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "three events, three ids");
    for r in &ours {
        assert!(r.verifies(SECRET), "signature of {:?}: {}", r.kind(), r.signature);
        assert!(!r.verifies("another-secret-0123456789"), "only the secret verifies");
        assert_eq!(r.path, "/hook");
        assert!(r.content_type.starts_with("application/json"), "{}", r.content_type);
        assert_eq!(r.body["id"].as_str(), Some(r.id.as_str()), "the header names the body's event");
        assert!(r.id.starts_with("evt_"), "{}", r.id);
        assert!(r.body["time"].as_str().is_some_and(|t| t.contains('T')), "RFC 3339 time: {}", r.body);
        assert!(r.body["tag"].is_null(), "{}", r.body);
        assert_eq!(r.body["max_uses"], 1, "{}", r.body);
    }
    assert_eq!(ours[0].body["uses"], 1, "{}", ours[0].body);
    assert_eq!(ours[1].body["uses"], 1, "{}", ours[1].body);
    if let Some(rid) = ours[0].body["request_id"].as_str() {
        assert_eq!(rid, request_id, "the use's request id is the one its viewer got");
    }
    assert!(ours[2].body["reason"].as_str().is_some(), "a refusal says why: {}", ours[2].body);
    // The logs carry neither the secret nor the events.
    let log = gw.log();
    assert!(!log.contains(SECRET) && !log.contains(&link_id), "the log leaks:\n{log}");
    assert_eq!(metric(&gw, "oncelink_webhook_pending").await, 0.0);
    assert!(metric(&gw, "oncelink_webhook_deliveries_total{outcome=\"delivered\"}").await >= 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_that_is_down_loses_nothing() {
    let port = free_port();
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/hook");
    let gw = Gateway::start_with_env(&tmp.path().join("data"), &Backend::File, 0, &["--webhook-url", &url], &[]);
    let links = links(&gw, 5).await;
    for (link, _) in &links {
        assert_eq!(gw.get(link).await.0, 200, "a download never waits for the receiver");
    }
    // Nobody listens: attempts fail, events wait.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(metric(&gw, "oncelink_webhook_deliveries_total{outcome=\"unreachable\"}").await >= 1.0);
    assert!(metric(&gw, "oncelink_webhook_pending").await >= 10.0, "every use's events wait");
    assert!(metric(&gw, "oncelink_webhook_oldest_pending_seconds").await >= 2.0);

    let receiver = Receiver::start(port, Duration::ZERO).await;
    let got = receiver.until("every event, after the receiver came up", Duration::from_secs(30), |got| each_used_once(got, &links)).await;
    let secret = std::fs::read_to_string(gw.dir.join("webhook.secret")).unwrap();
    assert!(got.iter().all(|r| r.verifies(secret.trim())), "signed with the data dir's secret");
    for ((kind, link_id), ids) in ids_by_kind(&got) {
        assert_eq!(ids.len(), 1, "{kind} of {link_id}: {ids:?}");
    }
    duplicates_are_identical(&got);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&gw, "oncelink_webhook_pending").await > 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "the outbox never emptied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(metric(&gw, "oncelink_webhook_oldest_pending_seconds").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_delivery_then_restart_delivers_everything_at_least_once() {
    // Every answer takes 30 s: deliveries stall in flight.
    let receiver = Receiver::start(0, Duration::from_secs(30)).await;
    let tmp = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let mut gw = Gateway::start_with_env(&tmp.path().join("data"), &Backend::File, 0, &["--webhook-url", &url], &[]);
    let links = links(&gw, 6).await;
    for (link, _) in &links {
        assert_eq!(gw.get(link).await.0, 200);
    }
    receiver.until("a delivery in flight", Duration::from_secs(20), |got| !got.is_empty()).await;
    assert_eq!(receiver.in_flight(), 1, "one delivery at a time");
    let stalled = receiver.received().last().unwrap().clone();
    gw.kill9();

    receiver.set_delay(Duration::ZERO);
    let gw = gw.restart();
    let got = receiver.until("every event after the restart", Duration::from_secs(30), |got| each_used_once(got, &links)).await;
    let secret = std::fs::read_to_string(gw.dir.join("webhook.secret")).unwrap();
    assert!(got.iter().all(|r| r.verifies(secret.trim())), "the same secret after the restart");
    assert!(got.iter().filter(|r| r.id == stalled.id).count() >= 2, "the event in flight at the kill came again: {}", stalled.id);
    duplicates_are_identical(&got);
    for ((kind, link_id), ids) in ids_by_kind(&got) {
        assert_eq!(ids.len(), 1, "{kind} of {link_id}: one event, however often delivered: {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_with_a_delivery_in_flight_stops_at_once_and_keeps_the_event() {
    let receiver = Receiver::start(0, Duration::from_secs(60)).await;
    let tmp = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let mut gw = Gateway::start_with_env(&tmp.path().join("data"), &Backend::File, 0, &["--webhook-url", &url], &[]);
    let links = links(&gw, 1).await;
    assert_eq!(gw.get(&links[0].0).await.0, 200);
    receiver.until("a delivery in flight", Duration::from_secs(20), |got| !got.is_empty()).await;
    let stalled = receiver.received()[0].id.clone();
    let asked = std::time::Instant::now();
    assert!(gw.terminate().success(), "a clean exit");
    assert!(asked.elapsed() < Duration::from_secs(8), "the stalled delivery held up the stop: {:?}", asked.elapsed());

    receiver.set_delay(Duration::ZERO);
    let _gw = gw.restart();
    let got = receiver.until("everything after the restart", Duration::from_secs(30), |got| each_used_once(got, &links)).await;
    assert!(got.iter().filter(|r| r.id == stalled).count() >= 2, "the abandoned attempt's event came again");
}

#[test]
fn a_webhook_needs_the_file_ledger_and_a_url() {
    let tmp = tempfile::tempdir().unwrap();
    let start = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["serve", "--data-dir"])
            .arg(tmp.path().join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("ONCELINK_CONFIG")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, stderr) = start(&["--ledger", "memory", "--webhook-url", "http://127.0.0.1:9/hook"]);
    assert!(!ok && stderr.contains("--webhook-url needs the file ledger") && stderr.contains("memory"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    let (ok, stderr) = start(&["--webhook-url", "ftp://127.0.0.1/hook"]);
    assert!(!ok && stderr.contains("http:// or https://"), "{stderr}");
}
