//! # oncelink benchmarks
//!
//! Each bench part (a binary in `src/bin/`) measures one thing and writes one result file,
//! `$BENCH_OUT/<part>.json`, in the shape of [`result::PartResult`]; the `report` binary turns every
//! result file into `docs/benchmarks.md` and its SVG charts. `bench/run.sh` runs them all, in
//! one go on one machine, so every ratio in the report compares numbers taken side by side.
//!
//! * [`result`]: the result file contract (shared with the gateway load bench's scripts).
//! * [`stats`]: percentiles of latency samples.
//! * [`chart`]: SVG bar charts for the report.
//! * [`counting`]: an SDK interceptor that counts the requests a client really sends.
//! * [`inputs`]: the one set of inputs every issuer (ours and the peers) signs.
//! * [`timing`]: warm-up, then a timed loop sized to a wall-clock budget (the peers do the same).

pub mod chart;
#[cfg(feature = "sdk")]
pub mod counting;
pub mod inputs;
pub mod result;
pub mod stats;
pub mod timing;
