//! The ledger contract: what every [`Ledger`] adapter must do, as test functions. Each adapter
//! runs all of them with one line:
//!
//! ```ignore
//! oncelink_testkit::ledger_contract!(memory, races = (150, 10), async { std::sync::Arc::new(MemoryLedger::new()) });
//! ```
//!
//! The expression builds a fresh ledger (an `Arc<impl Ledger>`) for each test; `races` is how
//! many 64-way one-time races, then N = 3 and N = 10 races, it must win exactly
//! (`ONCELINK_SOAK=1`: 10,000 and 1,000).
//!
//! | contract | what it pins down |
//! |---|---|
//! | [`first_use_then_reuse`] | one grant, a retried request id is `Retried`, later claims are `Exhausted` with the first use |
//! | [`n_uses_count_down`] | exactly N grants, numbered, retries not counted |
//! | [`revocation`] | before and after use, idempotent, wins over uses left |
//! | [`state_and_retention`] | what `lookup` reads; the first write sets the retention, later ones keep it |
//! | [`races`] | 64 concurrent claims on one link: exactly N granted, every round |

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oncelink::ledger::{ClaimOutcome, Ledger};
use oncelink::time::{from_unix_secs, unix_secs};

use crate::{RETENTION, claim, key, unique};

/// Now, in whole seconds (what every ledger can store exactly).
fn now() -> SystemTime {
    from_unix_secs(unix_secs(SystemTime::now()))
}

pub async fn first_use_then_reuse(ledger: &impl Ledger) {
    let (link, at) = (key(&unique("once")), now());
    assert_eq!(ledger.claim(&claim(&link, "r1", at, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
    // An SDK retried a write that had succeeded: same request id, still allowed, not counted.
    assert_eq!(ledger.claim(&claim(&link, "r1", at, 1)).await.unwrap(), ClaimOutcome::Retried);
    match ledger.claim(&claim(&link, "r2", at + Duration::from_secs(5), 1)).await.unwrap() {
        ClaimOutcome::Exhausted(used) => {
            assert_eq!((used.first_used_at, used.uses, used.fingerprint.as_deref()), (at, 1, Some("fp-1")));
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().uses, 1, "neither the retry nor the refusal counted");
}

pub async fn n_uses_count_down(ledger: &impl Ledger) {
    let (link, at) = (key(&unique("n")), now());
    for n in 1..=3 {
        assert_eq!(ledger.claim(&claim(&link, &format!("r{n}"), at, 3)).await.unwrap(), ClaimOutcome::Granted { use_number: n });
    }
    assert_eq!(ledger.claim(&claim(&link, "r2", at, 3)).await.unwrap(), ClaimOutcome::Retried);
    assert!(
        matches!(ledger.claim(&claim(&link, "r4", at, 3)).await.unwrap(), ClaimOutcome::Exhausted(u) if u.uses == 3 && u.first_used_at == at)
    );
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().uses, 3);
}

pub async fn revocation(ledger: &impl Ledger) {
    let at = now();
    // Revoked before any use: denied, idempotently, whatever the link's uses.
    let fresh = key(&unique("revoked"));
    ledger.revoke(&fresh, at, at + RETENTION).await.unwrap();
    ledger.revoke(&fresh, at, at + RETENTION).await.unwrap();
    assert_eq!(ledger.claim(&claim(&fresh, "r1", at, 1)).await.unwrap(), ClaimOutcome::Revoked);
    assert_eq!(ledger.claim(&claim(&fresh, "r1", at, 5)).await.unwrap(), ClaimOutcome::Revoked);
    let state = ledger.lookup(&fresh).await.unwrap().unwrap();
    assert_eq!((state.revoked, state.uses, state.first_used_at), (true, 0, None));
    // Revoked after a use, with uses left: the rest are refused.
    let used = key(&unique("used-revoked"));
    assert!(ledger.claim(&claim(&used, "r1", at, 5)).await.unwrap().is_allowed());
    ledger.revoke(&used, at, at + RETENTION).await.unwrap();
    assert_eq!(ledger.claim(&claim(&used, "r2", at, 5)).await.unwrap(), ClaimOutcome::Revoked);
    let state = ledger.lookup(&used).await.unwrap().unwrap();
    assert_eq!((state.revoked, state.uses), (true, 1));
}

pub async fn state_and_retention(ledger: &impl Ledger) {
    let at = now();
    assert_eq!(ledger.lookup(&key(&unique("never"))).await.unwrap(), None, "an unknown link has no record");
    // A record made by a use keeps the use's retention, even when revoked later.
    let used = key(&unique("state"));
    ledger.claim(&claim(&used, "r1", at, 2)).await.unwrap();
    let state = ledger.lookup(&used).await.unwrap().unwrap();
    assert_eq!((state.uses, state.first_used_at, state.fingerprint.as_deref(), state.revoked), (1, Some(at), Some("fp-1"), false));
    assert_eq!(state.retain_until, Some(at + RETENTION));
    ledger.revoke(&used, at, at + 10 * RETENTION).await.unwrap();
    assert_eq!(ledger.lookup(&used).await.unwrap().unwrap().retain_until, Some(at + RETENTION));
    // A record made by a revocation is kept as long as the revocation asks.
    let revoked = key(&unique("state-revoked"));
    ledger.revoke(&revoked, at, at + 10 * RETENTION).await.unwrap();
    assert_eq!(ledger.lookup(&revoked).await.unwrap().unwrap().retain_until, Some(at + 10 * RETENTION));
}

/// Rounds of races: `ci` normally, `soak` with `ONCELINK_SOAK=1`.
pub fn rounds(ci: usize, soak: usize) -> usize {
    if std::env::var("ONCELINK_SOAK").is_ok_and(|v| v == "1") { soak } else { ci }
}

/// 64 viewers race for one link, `rounds` times: exactly `max_uses` win each time.
pub async fn race<L: Ledger + 'static>(ledger: &Arc<L>, max_uses: u32, rounds: usize) {
    for round in 0..rounds {
        let link = key(&unique("race"));
        let at = SystemTime::now();
        let mut tasks = tokio::task::JoinSet::new();
        for viewer in 0..64 {
            let (ledger, claim) = (ledger.clone(), claim(&link, &format!("viewer-{viewer}"), at, max_uses));
            tasks.spawn(async move { ledger.claim(&claim).await });
        }
        let (mut granted, mut exhausted) = (0, 0);
        while let Some(result) = tasks.join_next().await {
            match result.expect("a claim task").unwrap_or_else(|e| panic!("ledger error in a race: {e}")) {
                ClaimOutcome::Granted { .. } => granted += 1,
                ClaimOutcome::Exhausted(_) => exhausted += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((granted, exhausted), (max_uses, 64 - max_uses), "round {round}, max_uses {max_uses}");
    }
}

/// One-time races, then N = 3 and N = 10.
pub async fn races<L: Ledger + 'static>(ledger: Arc<L>, one_time: usize, n_use: usize) {
    let started = std::time::Instant::now();
    let one_time = rounds(one_time, 10_000);
    race(&ledger, 1, one_time).await;
    race(&ledger, 3, rounds(n_use, 1_000)).await;
    race(&ledger, 10, rounds(n_use, 1_000)).await;
    println!("{one_time} one-time 64-way races (+ N = 3, N = 10): zero double uses, {:?}", started.elapsed());
}

/// Runs the whole contract against one adapter: `ledger_contract!(name, races = (one_time,
/// n_use), async { <a fresh Arc<impl Ledger>> })`.
#[macro_export]
macro_rules! ledger_contract {
    ($name:ident, races = ($one_time:expr, $n_use:expr), $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn first_use_then_reuse() {
                $crate::ledger_contract::first_use_then_reuse(&*$make.await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn n_uses_count_down() {
                $crate::ledger_contract::n_uses_count_down(&*$make.await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn revocation() {
                $crate::ledger_contract::revocation(&*$make.await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn state_and_retention() {
                $crate::ledger_contract::state_and_retention(&*$make.await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn races_grant_exactly_n() {
                $crate::ledger_contract::races($make.await, $one_time, $n_use).await
            }
        }
    };
}
