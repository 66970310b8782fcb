//! Reliability of the ledgers a gateway keeps itself — the embedded one (a journal, group-committed),
//! and PostgreSQL (when `ONCELINK_TEST_POSTGRES_URL` is set, as `tests/with-emulators.sh` does;
//! otherwise those cases report themselves skipped) — through the real binary:
//!
//! * 64-way first-use races on many links: exactly one 200 per link, every time;
//! * `kill -9` at a random moment during a burst of first uses: after the restart (and the hold
//!   lease), no link is granted to anyone but its client, no use is counted twice, and every link
//!   that was not answered works for its client once more — none is lost for good (the one
//!   exception the ledger can prove: every byte had left the gateway when it died). A link whose
//!   answer was complete but whose completion the dying gateway had not yet recorded may be
//!   recovered by the same client once: the generous side of the unavoidable window.
//!
//! Bounded for CI; `ONCELINK_SOAK=1` runs the long version. Randomness is seeded: the seed is
//! printed, and `ONCELINK_SEED=<n>` replays a run.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Gateway, Ledgers, code};
use serde_json::json;

fn soak() -> bool {
    std::env::var("ONCELINK_SOAK").is_ok_and(|v| v == "1")
}

/// A small xorshift generator: reproducible from its seed, no dependency.
struct Rng(u64);

impl Rng {
    fn from_env() -> Self {
        let seed = std::env::var("ONCELINK_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
        println!("seed: {seed} (replay with ONCELINK_SEED={seed})");
        Self(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Issues `n` one-time GET links for `key`: (url, link id).
async fn links(gw: &Gateway, key: &str, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let link = gw.issue(json!({"key": key})).await;
        out.push((link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned()));
    }
    out
}

/// GET without panicking on a dropped connection: `None` when no answer came back.
async fn try_get(http: &reqwest::Client, url: &str) -> Option<(u16, Vec<u8>)> {
    let response = http.get(url).timeout(Duration::from_secs(10)).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.bytes().await.ok()?.to_vec()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_way_first_use_races_on_the_embedded_ledger() {
    sixty_four_way_first_use_races(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_way_first_use_races_on_postgres() {
    if let Some(backend) = common::backend("sixty_four_way_first_use_races_on_postgres", Ledgers::Postgres).await {
        sixty_four_way_first_use_races(backend).await;
    }
}

async fn sixty_four_way_first_use_races(backend: Backend) {
    let rounds = if soak() { 10_000 } else { 200 };
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), &backend, 0, &[]);
    gw.store("race.txt", b"one winner".to_vec()).await;
    let started = std::time::Instant::now();
    for round in 0..rounds {
        let url = gw.url(json!({"key": "race.txt"})).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(64));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (http, url, barrier) = (gw.http.clone(), url.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    try_get(&http, &url).await
                })
            })
            .collect();
        let (mut granted, mut refused) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Some((200, body)) => {
                    assert_eq!(body, b"one winner");
                    granted += 1;
                }
                Some((403, body)) if code(&body) == "link_already_used" => refused += 1,
                other => panic!("round {round}: unexpected answer {other:?}"),
            }
        }
        assert_eq!((granted, refused), (1, 63), "round {round}");
    }
    println!("{backend:?}: {rounds} 64-way races, one winner each, {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_burst_never_regrants_an_answered_link() {
    kill_9_during_a_burst(Backend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_burst_never_regrants_an_answered_link_on_postgres() {
    if let Some(backend) = common::backend("kill_9_during_a_burst_never_regrants_an_answered_link_on_postgres", Ledgers::Postgres).await {
        kill_9_during_a_burst(backend).await;
    }
}

async fn kill_9_during_a_burst(backend: Backend) {
    const LINKS: usize = 150;
    const CONCURRENCY: usize = 24;
    let rounds = if soak() { 50 } else { 8 };
    let mut rng = Rng::from_env();
    let tmp = tempfile::tempdir().unwrap();
    // A short origin timeout keeps the hold lease (timeout + 5 s) short enough to wait out.
    let mut gw = Gateway::start(&tmp.path().join("data"), &backend, 0, &["--origin-timeout", "2s"]);
    let lease = Duration::from_secs(2 + 5);
    gw.store("burst.bin", common::bytes(64 * 1024, 9)).await;

    for round in 0..rounds {
        let urls = Arc::new(links(&gw, "burst.bin", LINKS).await);
        // The burst: CONCURRENCY workers walk the links, each link used once.
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (http, urls, next) = (gw.http.clone(), urls.clone(), next.clone());
                tokio::spawn(async move {
                    let mut answered = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some((url, _)) = urls.get(i) else { break };
                        match try_get(&http, url).await {
                            Some((status, _)) => answered.push((i, status)),
                            None => break, // the gateway is gone
                        }
                    }
                    answered
                })
            })
            .collect();
        // Kill at a random moment: from before the first answer to after the last.
        tokio::time::sleep(Duration::from_millis(rng.below(250))).await;
        gw.kill9();
        let mut granted = [false; LINKS];
        let mut answered = 0;
        for worker in workers {
            for (i, status) in worker.await.unwrap() {
                assert_eq!(status, 200, "round {round}: a fresh link was refused before the kill");
                granted[i] = true;
                answered += 1;
            }
        }

        gw = gw.restart();
        // Holds the dead process never resolved lapse after the lease.
        tokio::time::sleep(lease + Duration::from_secs(1)).await;
        let (mut recovered, mut again_for_its_client) = (0, 0);
        for (i, (url, id)) in urls.iter().enumerate() {
            let (status, body) = gw.get(url).await;
            if granted[i] {
                match (status, code(&body).as_str()) {
                    (403, "link_already_used") => {}
                    (200, _) => again_for_its_client += 1,
                    other => panic!("round {round}: link {i} was answered 200 before the kill, now {other:?}"),
                }
            } else if status == 200 {
                recovered += 1;
            } else {
                // Refused: only if the gateway had sent every byte before it died.
                let state = gw.state(id).await;
                let sent_all = state["deliveries"].as_array().is_some_and(|d| d.iter().any(|d| d["complete"] == true));
                assert!(status == 403 && sent_all, "round {round}: link {i} lost for good: {status} {} {state}", code(&body));
            }
            // Nobody else gets it, and its client does not get it again: one use, at most.
            let other = gw.http.get(url).header("user-agent", "someone-else/1").send().await.unwrap();
            assert_eq!(other.status().as_u16(), 403, "round {round}: link {i} granted to another client");
            let (again, body) = gw.get(url).await;
            assert_eq!((again, code(&body)), (403, "link_already_used".into()), "round {round}: link {i} granted twice");
            assert!(gw.state(id).await["uses"].as_u64().unwrap_or(0) <= 1, "round {round}: link {i}");
        }
        println!(
            "round {round}: killed after {answered} of {LINKS} answers; {recovered} unanswered links work again; \
             {again_for_its_client} answered ones recovered once by their own client; none granted to anyone else, no use counted twice"
        );
    }
}
