//! Throughput of a single-threaded loop, measured the way the peer scripts measure theirs:
//! run it for a warm-up period (not counted; caches, lazy initialisation, allocator), use the
//! warm-up's rate to pick an iteration count that fills the time budget, then time exactly that
//! many calls. The result is per core, because everything runs on one thread.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One timed loop. The peers print this same JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Throughput {
    pub iterations: u64,
    pub seconds: f64,
    /// A sample output, to show what was produced (and that it was produced).
    #[serde(default)]
    pub sample: String,
}

impl Throughput {
    pub fn per_second(&self) -> f64 {
        self.iterations as f64 / self.seconds
    }

    pub fn micros_per_call(&self) -> f64 {
        self.seconds * 1e6 / self.iterations as f64
    }
}

/// Warms `call` up for `warm_up`, then times enough calls to last about `budget`.
/// `call` returns its output, which is kept alive (so nothing is optimised away) and sampled.
pub fn measure<T: AsRef<str>>(warm_up: Duration, budget: Duration, mut call: impl FnMut() -> T) -> Throughput {
    let started = Instant::now();
    let mut warm_calls = 0u64;
    let mut sample = String::new();
    while started.elapsed() < warm_up || warm_calls == 0 {
        sample = call().as_ref().to_owned();
        warm_calls += 1;
    }
    let rate = warm_calls as f64 / started.elapsed().as_secs_f64();
    let iterations = ((rate * budget.as_secs_f64()) as u64).max(1);
    let timed = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(call());
    }
    Throughput { iterations, seconds: timed.elapsed().as_secs_f64(), sample }
}
