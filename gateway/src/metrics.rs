//! Prometheus metrics, in the text exposition format.
//!
//! The decision and issue-API metrics come from the core's vocabulary (`oncelink::metrics`):
//! the same names, labels and samples the Lambda functions write as CloudWatch EMF lines.
//! Counts become counters; millisecond values become histograms in seconds. The rest (HTTP
//! requests, bytes, transfers in flight) is the gateway's own.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use oncelink::metrics::{ALL, Metric, Sample, Unit};

use crate::watchdog::Expired;

/// Upper bounds (seconds) of the latency histograms' buckets; `+Inf` is implied.
const LATENCY_BUCKETS_SECONDS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];

#[derive(Default)]
pub struct Metrics {
    /// (route, status) → count
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// The core's metrics: (Prometheus name, label values) → counter or histogram.
    series: Mutex<BTreeMap<(&'static str, Vec<&'static str>), Series>>,
    pub transfers_in_flight: AtomicI64,
    pub bytes_to_viewers: AtomicU64,
    pub bytes_from_viewers: AtomicU64,
    pub origin_errors: AtomicU64,
    pub ledger_records: AtomicU64,
    /// The file ledger's commit counters, when it is the ledger.
    pub ledger_commits: OnceLock<Arc<crate::file_ledger::Commits>>,
    /// The webhook deliverer's counters, when a webhook is configured.
    pub webhook: OnceLock<Arc<crate::webhook::Stats>>,
    pub connections_open: AtomicI64,
    /// Connections ended by a time limit, by [`Expired`] (idle, head, stalled).
    connections_timed_out: [AtomicU64; 3],
}

impl Metrics {
    pub fn connection_timed_out(&self, why: Expired) {
        self.connections_timed_out[why as usize].fetch_add(1, Ordering::Relaxed);
    }
}

enum Series {
    Counter(f64),
    /// Cumulative-on-render bucket counts (one per bound, then `+Inf`), sum in seconds, count.
    Histogram {
        buckets: [u64; LATENCY_BUCKETS_SECONDS.len() + 1],
        sum: f64,
        count: u64,
    },
}

impl Series {
    fn new(metric: &Metric) -> Self {
        match metric.unit {
            Unit::Count => Self::Counter(0.0),
            Unit::Milliseconds => Self::Histogram { buckets: [0; LATENCY_BUCKETS_SECONDS.len() + 1], sum: 0.0, count: 0 },
        }
    }

    fn add(&mut self, value: f64) {
        match self {
            Self::Counter(total) => *total += value,
            Self::Histogram { buckets, sum, count } => {
                let seconds = value / 1000.0;
                let slot = LATENCY_BUCKETS_SECONDS.iter().position(|bound| seconds <= *bound).unwrap_or(LATENCY_BUCKETS_SECONDS.len());
                buckets[slot] += 1;
                *sum += seconds;
                *count += 1;
            }
        }
    }
}

impl Metrics {
    pub fn request(&self, route: &'static str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route, status)).or_default() += 1;
        }
    }

    /// Records samples built by the core (`DecisionOutcome::samples`, `ApiOutcome::samples`).
    pub fn record(&self, samples: &[Sample]) {
        if let Ok(mut series) = self.series.lock() {
            for sample in samples {
                series
                    .entry((sample.metric.prometheus, sample.labels.clone()))
                    .or_insert_with(|| Series::new(sample.metric))
                    .add(sample.value);
            }
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP oncelink_requests_total HTTP requests by route and status.\n# TYPE oncelink_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((route, status), n) in m.iter() {
                let _ = writeln!(out, "oncelink_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
            }
        }
        if let Ok(series) = self.series.lock() {
            for metric in ALL {
                render_metric(&mut out, metric, &series);
            }
        }
        let gauges: [(&str, &str, &str, i64); 6] = [
            ("oncelink_connections_open", "gauge", "Viewer connections open.", self.connections_open.load(Ordering::Relaxed)),
            ("oncelink_transfers_in_flight", "gauge", "Responses still streaming.", self.transfers_in_flight.load(Ordering::Relaxed)),
            (
                "oncelink_bytes_to_viewers_total",
                "counter",
                "Body bytes sent to viewers.",
                self.bytes_to_viewers.load(Ordering::Relaxed) as i64,
            ),
            (
                "oncelink_bytes_from_viewers_total",
                "counter",
                "Upload body bytes forwarded to the origin.",
                self.bytes_from_viewers.load(Ordering::Relaxed) as i64,
            ),
            ("oncelink_origin_errors_total", "counter", "Origin requests that failed.", self.origin_errors.load(Ordering::Relaxed) as i64),
            ("oncelink_ledger_records", "gauge", "Records in the file ledger.", self.ledger_records.load(Ordering::Relaxed) as i64),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out.push_str(
            "# HELP oncelink_connections_timed_out_total Connections ended by a time limit: idle, head (a request head too slow), stalled (a body not moving).\n\
             # TYPE oncelink_connections_timed_out_total counter\n",
        );
        for why in [Expired::Idle, Expired::Head, Expired::Stalled] {
            let n = self.connections_timed_out[why as usize].load(Ordering::Relaxed);
            let _ = writeln!(out, "oncelink_connections_timed_out_total{{reason=\"{}\"}} {n}", why.as_str());
        }
        if let Some(commits) = self.ledger_commits.get() {
            let (synced, unsynced) = (commits.synced.load(Ordering::Relaxed), commits.unsynced.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "# HELP oncelink_ledger_commits_total File ledger journal writes (group commits), synced to disk or not.\n\
                 # TYPE oncelink_ledger_commits_total counter\n\
                 oncelink_ledger_commits_total{{synced=\"true\"}} {synced}\n\
                 oncelink_ledger_commits_total{{synced=\"false\"}} {unsynced}\n\
                 # HELP oncelink_ledger_changes_total Changes carried by the file ledger's commits.\n\
                 # TYPE oncelink_ledger_changes_total counter\n\
                 oncelink_ledger_changes_total {}\n\
                 # HELP oncelink_ledger_compactions_total File ledger journal compactions finished.\n\
                 # TYPE oncelink_ledger_compactions_total counter\n\
                 oncelink_ledger_compactions_total {}",
                commits.changes.load(Ordering::Relaxed),
                commits.compactions.load(Ordering::Relaxed)
            );
        }
        if let Some(webhook) = self.webhook.get() {
            webhook.render(&mut out);
        }
        out
    }
}

/// HELP, TYPE and every series of one core metric. Counters without a labelled series yet show
/// 0 when they have no labels, so that alerts on them have something to read from the start.
fn render_metric(out: &mut String, metric: &Metric, series: &BTreeMap<(&'static str, Vec<&'static str>), Series>) {
    let name = metric.prometheus;
    let kind = if metric.unit == Unit::Count { "counter" } else { "histogram" };
    let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} {kind}", metric.help);
    let mut any = false;
    for ((_, labels), value) in series.range((name, Vec::new())..).take_while(|((n, _), _)| *n == name) {
        any = true;
        let pairs: Vec<String> = metric.dimensions.iter().zip(labels).map(|(d, v)| format!("{}=\"{v}\"", d.prometheus)).collect();
        match value {
            Series::Counter(total) => {
                let _ = writeln!(out, "{name}{} {total}", braces(&pairs));
            }
            Series::Histogram { buckets, sum, count } => {
                let mut cumulative = 0;
                for (i, n) in buckets.iter().enumerate() {
                    cumulative += n;
                    let le = LATENCY_BUCKETS_SECONDS.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
                    let mut with_le = pairs.clone();
                    with_le.push(format!("le=\"{le}\""));
                    let _ = writeln!(out, "{name}_bucket{} {cumulative}", braces(&with_le));
                }
                let _ = writeln!(out, "{name}_sum{} {sum}\n{name}_count{} {count}", braces(&pairs), braces(&pairs));
            }
        }
    }
    if !any && metric.dimensions.is_empty() && metric.unit == Unit::Count {
        let _ = writeln!(out, "{name} 0");
    }
}

fn braces(pairs: &[String]) -> String {
    if pairs.is_empty() { String::new() } else { format!("{{{}}}", pairs.join(",")) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use oncelink::metrics::DecisionOutcome;

    use super::*;

    #[test]
    fn a_decision_is_a_counter_and_a_cumulative_histogram() {
        let metrics = Metrics::default();
        metrics.record(&DecisionOutcome::deny("link_expired").samples(Some(Duration::from_millis(3))));
        metrics.record(&DecisionOutcome::FORWARD.samples(Some(Duration::from_secs(10))));
        let text = metrics.render();
        assert!(text.contains("oncelink_decisions_total{decision=\"deny\",reason=\"link_expired\"} 1\n"), "{text}");
        assert!(text.contains("# TYPE oncelink_decision_duration_seconds histogram\n"), "{text}");
        assert!(text.contains("oncelink_decision_duration_seconds_bucket{le=\"0.0025\"} 0\n"), "{text}");
        assert!(text.contains("oncelink_decision_duration_seconds_bucket{le=\"0.005\"} 1\n"), "{text}");
        assert!(text.contains("oncelink_decision_duration_seconds_bucket{le=\"2.5\"} 1\n"), "{text}");
        assert!(text.contains("oncelink_decision_duration_seconds_bucket{le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("oncelink_decision_duration_seconds_count 2\n"), "{text}");
        assert!(text.contains("oncelink_ledger_errors_total 0\n"), "{text}");
    }
}
