//! What the deliverer tells Prometheus: the backlog and every attempt's outcome.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `oncelink_webhook_pending` | gauge | events in the outbox, not yet taken by the receiver |
//! | `oncelink_webhook_oldest_pending_seconds` | gauge | how long the oldest of them has waited (0 when none) |
//! | `oncelink_webhook_deliveries_total{outcome}` | counter | attempts: `delivered` (2xx), `refused` (any other status), `timeout` (no answer in 10 s), `unreachable` (no connection) |
//!
//! Alert on the age, not on failures: a receiver that is away for a minute costs retries and
//! nothing else; one that has been away for an hour shows as an old oldest event.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::outbox::Backlog;

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    Refused,
    Timeout,
    Unreachable,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Delivered, Outcome::Refused, Outcome::Timeout, Outcome::Unreachable];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
        }
    }
}

#[derive(Debug, Default)]
pub struct Stats {
    pending: AtomicU64,
    /// When the oldest pending event was appended, Unix milliseconds; 0 when none is.
    oldest_ms: AtomicU64,
    deliveries: [AtomicU64; 4],
}

impl Stats {
    pub fn attempted(&self, outcome: Outcome) {
        self.deliveries[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn backlog(&self, backlog: Backlog) {
        self.pending.store(backlog.pending, Ordering::Relaxed);
        let oldest = backlog.oldest.map_or(0, |t| t.duration_since(UNIX_EPOCH).map_or(1, |d| d.as_millis().max(1) as u64));
        self.oldest_ms.store(oldest, Ordering::Relaxed);
    }

    /// The three metrics, in the text exposition format.
    pub fn render(&self, out: &mut String) {
        let oldest_ms = self.oldest_ms.load(Ordering::Relaxed);
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let age = if oldest_ms == 0 { 0.0 } else { now_ms.saturating_sub(oldest_ms) as f64 / 1000.0 };
        let _ = writeln!(
            out,
            "# HELP oncelink_webhook_pending Events in the webhook outbox, not yet delivered.\n\
             # TYPE oncelink_webhook_pending gauge\n\
             oncelink_webhook_pending {}\n\
             # HELP oncelink_webhook_oldest_pending_seconds How long the oldest undelivered event has waited.\n\
             # TYPE oncelink_webhook_oldest_pending_seconds gauge\n\
             oncelink_webhook_oldest_pending_seconds {age}\n\
             # HELP oncelink_webhook_deliveries_total Webhook delivery attempts by outcome: delivered (2xx), refused, timeout, unreachable.\n\
             # TYPE oncelink_webhook_deliveries_total counter",
            self.pending.load(Ordering::Relaxed)
        );
        for outcome in Outcome::ALL {
            let n = self.deliveries[outcome as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "oncelink_webhook_deliveries_total{{outcome=\"{}\"}} {n}", outcome.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn renders_the_backlog_and_every_outcome() {
        let stats = Stats::default();
        let mut out = String::new();
        stats.render(&mut out);
        assert!(out.contains("oncelink_webhook_pending 0\n") && out.contains("oncelink_webhook_oldest_pending_seconds 0\n"), "{out}");
        assert!(out.contains("oncelink_webhook_deliveries_total{outcome=\"unreachable\"} 0\n"), "{out}");
        stats.backlog(Backlog { pending: 3, oldest: Some(SystemTime::now() - Duration::from_secs(90)) });
        stats.attempted(Outcome::Refused);
        stats.attempted(Outcome::Refused);
        let mut out = String::new();
        stats.render(&mut out);
        assert!(out.contains("oncelink_webhook_pending 3\n"), "{out}");
        assert!(out.contains("oncelink_webhook_deliveries_total{outcome=\"refused\"} 2\n"), "{out}");
        let age: f64 = out.lines().find_map(|l| l.strip_prefix("oncelink_webhook_oldest_pending_seconds ")).unwrap().parse().unwrap();
        assert!((90.0..95.0).contains(&age), "{age}");
    }
}
