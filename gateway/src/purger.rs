//! The background purge every ledger that keeps its own records runs: every `every`, delete
//! what is past its retention, say how many went (or why none could), forever. What "expired"
//! means is the core's (`LinkRecord::expired`); each ledger says how it deletes.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// Spawns the loop on the current runtime; `purge` deletes what expired by the instant it is
/// given and returns how many records it removed.
pub fn spawn<F, Fut, E>(every: Duration, purge: F)
where
    F: Fn(SystemTime) -> Fut + Send + 'static,
    Fut: Future<Output = Result<u64, E>> + Send,
    E: Display,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match purge(SystemTime::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged expired ledger records"),
                Err(error) => tracing::warn!(%error, "ledger purge failed"),
            }
        }
    });
}
