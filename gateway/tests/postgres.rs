//! The PostgreSQL ledger through the real binary, beyond what every ledger does (that is
//! `blackbox.rs`, `delivery.rs` and `crash_and_races.rs`, which run on it too):
//!
//! * several gateways on one database are one ledger: a link used on one is refused on the
//!   other, N uses are counted across both, a revocation on one holds on the other, and a
//!   64-way race split over both has exactly one winner;
//! * fail closed: with the database stopped a link answers 503 `ledger_unavailable` and spends
//!   nothing, and once it is back the same gateway (not restarted) serves it.
//!
//! Run through `tests/with-emulators.sh` (`ONCELINK_TEST_POSTGRES_URL`, `ONCELINK_TEST_CTL`);
//! without it each test reports itself skipped. The tests run one at a time: one stops the
//! database every test in this process shares.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Gateway, Ledgers, code};
use serde_json::json;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET `url` (a link on `public`) from gateway `gw`, as a viewer of `public` would reach it
/// through a load balancer: `gw`'s address, `public`'s `Host`.
async fn get_on(gw: &Gateway, public: &str, url: &str) -> (u16, Vec<u8>) {
    let target = url.replacen(public, &gw.base, 1);
    let host = public.trim_start_matches("http://");
    let r = gw.http.get(target).header("host", host).timeout(Duration::from_secs(15)).send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_on_one_database_are_one_ledger() {
    let _serial = SERIAL.lock().await;
    let Some(backend) = common::backend("two_gateways_on_one_database_are_one_ledger", Ledgers::Postgres).await else { return };
    // One data dir: the same keys, API token and objects; links are bound to the first's address.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let a = Gateway::start(&dir, &backend, port, &["--public-url", &public]);
    let b = Gateway::start(&dir, &backend, free_port(), &["--public-url", &public]);
    a.store("shared.txt", b"one ledger".to_vec()).await;

    // Used on one, refused on the other — both ways.
    for (first, second) in [(&a, &b), (&b, &a)] {
        let url = a.url(json!({"key": "shared.txt"})).await;
        assert_eq!(get_on(first, &public, &url).await, (200, b"one ledger".to_vec()));
        let (status, body) = get_on(second, &public, &url).await;
        assert_eq!((status, code(&body)), (403, "link_already_used".into()), "the other gateway must refuse it");
    }

    // N uses are counted across both.
    let link = a.issue(json!({"key": "shared.txt", "max_uses": 3})).await;
    let (url, id) = (link["url"].as_str().unwrap(), link["link_id"].as_str().unwrap());
    for gw in [&a, &b, &a] {
        assert_eq!(get_on(gw, &public, url).await.0, 200);
    }
    assert_eq!(get_on(&b, &public, url).await.0, 403, "the fourth use, on either");
    assert_eq!(b.state(id).await["uses"], 3);

    // Revoked on one, refused on the other.
    let link = a.issue(json!({"key": "shared.txt"})).await;
    let (url, id) = (link["url"].as_str().unwrap(), link["link_id"].as_str().unwrap());
    let r = a.http.delete(format!("{}/_oncelink/links/{id}", a.base)).header("authorization", format!("Bearer {}", a.token)).send();
    assert!(r.await.unwrap().status().is_success());
    let (status, body) = get_on(&b, &public, url).await;
    assert_eq!((status, code(&body)), (403, "link_revoked".into()));

    // 64 viewers split over both gateways: one winner per link, every round.
    let (a, b) = (Arc::new(a), Arc::new(b));
    for round in 0..20 {
        let url = a.url(json!({"key": "shared.txt"})).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(64));
        let tasks: Vec<_> = (0..64)
            .map(|viewer| {
                let gw = if viewer % 2 == 0 { a.clone() } else { b.clone() };
                let (public, url, barrier) = (public.clone(), url.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    get_on(&gw, &public, &url).await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            let (status, body) = task.await.unwrap();
            assert!(status == 200 || (status, code(&body)) == (403, "link_already_used".into()), "round {round}: {status}");
            statuses.push(status);
        }
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "round {round}: {statuses:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_away_is_503_and_its_return_needs_no_restart() {
    let _serial = SERIAL.lock().await;
    let name = "postgres_away_is_503_and_its_return_needs_no_restart";
    let Some(backend) = common::backend(name, Ledgers::Postgres).await else { return };
    if std::env::var("ONCELINK_TEST_CTL").is_err() {
        eprintln!("SKIPPED {name}: ONCELINK_TEST_CTL is not set (run through tests/with-emulators.sh)");
        return;
    }
    let pg = |action: &str| oncelink_testkit::ctl(action, "pg");
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), &backend, 0, &[]);
    gw.store("outage.txt", b"after the outage".to_vec()).await;
    let link = gw.issue(json!({"key": "outage.txt"})).await;
    let (url, id) = (link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned());

    pg("stop");
    let started = std::time::Instant::now();
    let down = gw.get(&url).await;
    let again = gw.get(&url).await;
    pg("start");
    assert_eq!((down.0, code(&down.1)), (503, "ledger_unavailable".into()), "fail closed");
    assert_eq!((again.0, code(&again.1)), (503, "ledger_unavailable".into()), "still closed");
    assert!(started.elapsed() < Duration::from_secs(30), "the refusals came in bounded time: {:?}", started.elapsed());

    // Back: the same process serves the link, which the refusals did not spend.
    assert_eq!(gw.get(&url).await, (200, b"after the outage".to_vec()));
    assert_eq!(gw.get(&url).await.0, 403);
    assert_eq!(gw.state(&id).await["uses"], 1);
    assert!(!gw.log().contains("postgres://oncelink@"), "the log never shows the database URL");
}
