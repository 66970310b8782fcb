//! Prometheus metrics, in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    /// (route, status) → count
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// (decision, reason) → count
    decisions: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    pub transfers_in_flight: AtomicI64,
    pub bytes_to_viewers: AtomicU64,
    pub bytes_from_viewers: AtomicU64,
    pub origin_errors: AtomicU64,
    pub ledger_records: AtomicU64,
}

impl Metrics {
    pub fn request(&self, route: &'static str, status: u16) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route, status)).or_default() += 1;
        }
    }

    pub fn decision(&self, decision: &'static str, reason: &'static str) {
        if let Ok(mut m) = self.decisions.lock() {
            *m.entry((decision, reason)).or_default() += 1;
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
        out.push_str("# HELP oncelink_decisions_total Edge decisions on link requests.\n# TYPE oncelink_decisions_total counter\n");
        if let Ok(m) = self.decisions.lock() {
            for ((decision, reason), n) in m.iter() {
                let _ = writeln!(out, "oncelink_decisions_total{{decision=\"{decision}\",reason=\"{reason}\"}} {n}");
            }
        }
        let gauges: [(&str, &str, &str, i64); 5] = [
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
        out
    }
}
