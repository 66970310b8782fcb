//! How long to wait before trying a refused or failed delivery again: exponential, with jitter.
//!
//! The n-th retry in a row waits `min(1 s · 2^(n−1), 5 min)`, drawn uniformly from its upper half
//! (`[d/2, d]`), so that gateways restarted together do not hit a recovering receiver in step,
//! while a retry still never comes much sooner than planned. A delivery that succeeds starts
//! the count again. There is no last attempt: an event is never dropped.

use std::time::Duration;

const FIRST: Duration = Duration::from_secs(1);
const CAP: Duration = Duration::from_secs(300);

/// Consecutive failures so far, and the delay they earn.
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Records one more failure; returns how long to wait before the next attempt.
    pub fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        jittered(self.ceiling(), random_fraction())
    }

    /// A delivery went through: the next failure waits the first delay again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Failures in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The current delay before jitter.
    fn ceiling(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(16);
        FIRST.saturating_mul(1 << doublings).min(CAP)
    }
}

/// `ceiling` scaled into `[ceiling/2, ceiling]` by `fraction` ∈ [0, 1].
fn jittered(ceiling: Duration, fraction: f64) -> Duration {
    ceiling.mul_f64(0.5 + 0.5 * fraction.clamp(0.0, 1.0))
}

fn random_fraction() -> f64 {
    let mut buf = [0u8; 4];
    // Without randomness the delay is its ceiling: late, never early.
    if getrandom::getrandom(&mut buf).is_err() {
        return 1.0;
    }
    f64::from(u32::from_le_bytes(buf)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_second_to_five_minutes_and_starts_again_after_a_success() {
        let mut backoff = Backoff::default();
        let ceilings: Vec<u64> = (0..12)
            .map(|_| {
                let waited = backoff.failed();
                let ceiling = backoff.ceiling();
                assert!(waited >= ceiling / 2 && waited <= ceiling, "{waited:?} outside [{:?}, {ceiling:?}]", ceiling / 2);
                ceiling.as_secs()
            })
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        for _ in 0..1000 {
            backoff.failed();
        }
        assert_eq!(backoff.ceiling(), CAP, "no overflow, however long the receiver is away");
        backoff.succeeded();
        assert_eq!(backoff.failures(), 0);
        backoff.failed();
        assert_eq!(backoff.ceiling(), FIRST);
    }

    #[test]
    fn jitter_spans_the_upper_half() {
        assert_eq!(jittered(Duration::from_secs(8), 0.0), Duration::from_secs(4));
        assert_eq!(jittered(Duration::from_secs(8), 1.0), Duration::from_secs(8));
        assert_eq!(jittered(Duration::from_secs(8), 7.0), Duration::from_secs(8));
    }
}
