//! The metric vocabulary: every metric oncelink emits, named once.
//!
//! Both outputs are derived from this file, so they cannot drift apart:
//!
//! ```text
//! Decision / API answer ─► Vec<Sample> ─┬─► metrics_emf::emf_line   (Lambda: one JSON line on stdout → CloudWatch)
//!                                       └─► gateway Prometheus text (`/_oncelink/metrics`)
//! ```
//! A [`Metric`] carries its CloudWatch name, its Prometheus name, its unit and its dimensions.
//! Dimensions are few and bounded (decision, reason code, error code, mode, method): never a
//! URL, a key or a link id, which would make one time series per link.

use std::time::Duration;

use crate::error::Refusal;
use crate::link::{LinkMethod, LinkMode};
use crate::{Decision, DenyReason};

/// How a value is measured. Latencies are recorded in milliseconds; Prometheus shows them in
/// seconds (its convention), which the gateway converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    /// The unit's name in CloudWatch.
    pub fn cloudwatch(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One dimension (CloudWatch) / label (Prometheus).
#[derive(Debug, PartialEq, Eq)]
pub struct Dimension {
    pub cloudwatch: &'static str,
    pub prometheus: &'static str,
}

/// One metric, under both of its names.
#[derive(Debug, PartialEq, Eq)]
pub struct Metric {
    pub cloudwatch: &'static str,
    pub prometheus: &'static str,
    pub unit: Unit,
    pub help: &'static str,
    /// Label names, in the order of a [`Sample`]'s values.
    pub dimensions: &'static [&'static Dimension],
}

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "oncelink";

/// CloudWatch only: which function emitted the line (`viewer-request`, `issue-url`).
pub static FUNCTION: Dimension = Dimension { cloudwatch: "Function", prometheus: "function" };
pub static DECISION: Dimension = Dimension { cloudwatch: "Decision", prometheus: "decision" };
pub static REASON: Dimension = Dimension { cloudwatch: "Reason", prometheus: "reason" };
pub static CODE: Dimension = Dimension { cloudwatch: "Code", prometheus: "code" };
pub static MODE: Dimension = Dimension { cloudwatch: "Mode", prometheus: "mode" };
pub static METHOD: Dimension = Dimension { cloudwatch: "Method", prometheus: "method" };

pub static DECISIONS: Metric = Metric {
    cloudwatch: "Decisions",
    prometheus: "oncelink_decisions_total",
    unit: Unit::Count,
    help: "Edge decisions on link requests, by decision and reason code.",
    dimensions: &[&DECISION, &REASON],
};
pub static DECISION_LATENCY: Metric = Metric {
    cloudwatch: "DecisionLatency",
    prometheus: "oncelink_decision_duration_seconds",
    unit: Unit::Milliseconds,
    help: "Time to decide one link request (configuration, checks, ledger write).",
    dimensions: &[],
};
pub static LEDGER_ERRORS: Metric = Metric {
    cloudwatch: "LedgerErrors",
    prometheus: "oncelink_ledger_errors_total",
    unit: Unit::Count,
    help: "Decisions refused because the ledger could not be reached (fail closed).",
    dimensions: &[],
};
pub static CONFIG_ERRORS: Metric = Metric {
    cloudwatch: "ConfigErrors",
    prometheus: "oncelink_config_errors_total",
    unit: Unit::Count,
    help: "Decisions refused because the configuration could not be loaded (fail closed).",
    dimensions: &[],
};
pub static API_ANSWERS: Metric = Metric {
    cloudwatch: "ApiAnswers",
    prometheus: "oncelink_api_answers_total",
    unit: Unit::Count,
    help: "Issue API answers, by error code (`ok` when it succeeded).",
    dimensions: &[&CODE],
};
pub static LINKS_ISSUED: Metric = Metric {
    cloudwatch: "LinksIssued",
    prometheus: "oncelink_links_issued_total",
    unit: Unit::Count,
    help: "Links issued, by mode and method.",
    dimensions: &[&MODE, &METHOD],
};
pub static API_LATENCY: Metric = Metric {
    cloudwatch: "ApiLatency",
    prometheus: "oncelink_api_duration_seconds",
    unit: Unit::Milliseconds,
    help: "Time to answer one issue API request.",
    dimensions: &[],
};

pub static USES_GIVEN_BACK: Metric = Metric {
    cloudwatch: "UsesGivenBack",
    prometheus: "oncelink_uses_given_back_total",
    unit: Unit::Count,
    help: "Uses given back because the origin refused, failed or never answered.",
    dimensions: &[],
};

pub static EVENTS_PUBLISHED: Metric = Metric {
    cloudwatch: "EventsPublished",
    prometheus: "oncelink_events_published_total",
    unit: Unit::Count,
    help: "Link events put on the EventBridge bus (the ledger-events function).",
    dimensions: &[],
};
pub static EVENT_PUBLISH_FAILURES: Metric = Metric {
    cloudwatch: "EventPublishFailures",
    prometheus: "oncelink_event_publish_failures_total",
    unit: Unit::Count,
    help: "Link events EventBridge did not take (retried from the stream; the gateway's webhook has its own metrics).",
    dimensions: &[],
};

/// Every metric, in the order the gateway lists them (the ledger-events function's two are
/// CloudWatch only: the gateway counts its webhook deliveries itself).
pub static ALL: [&Metric; 8] =
    [&DECISIONS, &DECISION_LATENCY, &LEDGER_ERRORS, &CONFIG_ERRORS, &API_ANSWERS, &LINKS_ISSUED, &API_LATENCY, &USES_GIVEN_BACK];

/// The ledger-events function's samples for one batch: events published, and events EventBridge
/// did not take (or records that could not be read).
pub fn events_published(published: usize, failed: usize) -> [Sample; 2] {
    [
        Sample { metric: &EVENTS_PUBLISHED, labels: Vec::new(), value: published as f64 },
        Sample { metric: &EVENT_PUBLISH_FAILURES, labels: Vec::new(), value: failed as f64 },
    ]
}

/// The sample of one use given back.
pub fn use_given_back() -> Sample {
    Sample::count(&USES_GIVEN_BACK, Vec::new())
}

/// One measured value: a metric, its label values (in `metric.dimensions` order) and the value
/// in the metric's unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub metric: &'static Metric,
    pub labels: Vec<&'static str>,
    pub value: f64,
}

impl Sample {
    fn count(metric: &'static Metric, labels: Vec<&'static str>) -> Self {
        Self { metric, labels, value: 1.0 }
    }

    fn latency(metric: &'static Metric, elapsed: Duration) -> Self {
        Self { metric, labels: Vec::new(), value: elapsed.as_secs_f64() * 1000.0 }
    }
}

/// What a decision was, as labels: `forward`/`ok`, `preview`/`preview_agent`, `deny`/<reason code>.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionOutcome {
    pub decision: &'static str,
    pub reason: &'static str,
}

impl DecisionOutcome {
    pub const FORWARD: Self = Self { decision: "forward", reason: "ok" };
    /// Forwarded as a resume inside the window: no use spent.
    pub const RESUME: Self = Self { decision: "forward", reason: "resume" };
    pub const PREVIEW: Self = Self { decision: "preview", reason: "preview_agent" };

    /// A refusal; `code` is a [`DenyReason::code`] (or another refusal's stable code).
    pub fn deny(code: &'static str) -> Self {
        Self { decision: "deny", reason: code }
    }

    pub fn of(decision: &Decision) -> Self {
        match decision {
            Decision::Forward(_) => Self::FORWARD,
            Decision::Preview => Self::PREVIEW,
            Decision::Deny(reason) => Self::deny(reason.code()),
        }
    }

    /// The samples of one decision: its count, its latency (when measured) and, when a
    /// dependency failed, that dependency's error count.
    pub fn samples(self, elapsed: Option<Duration>) -> Vec<Sample> {
        let mut samples = vec![Sample::count(&DECISIONS, vec![self.decision, self.reason])];
        if let Some(elapsed) = elapsed {
            samples.push(Sample::latency(&DECISION_LATENCY, elapsed));
        }
        if self.reason == DenyReason::LedgerUnavailable.code() {
            samples.push(Sample::count(&LEDGER_ERRORS, Vec::new()));
        }
        if self.reason == DenyReason::ConfigUnavailable.code() {
            samples.push(Sample::count(&CONFIG_ERRORS, Vec::new()));
        }
        samples
    }
}

/// What an issue API answer was: its error code (`ok` on success) and the link it issued, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiOutcome {
    pub code: &'static str,
    pub issued: Option<(LinkMode, LinkMethod)>,
}

impl ApiOutcome {
    pub const OK: &'static str = "ok";

    /// A successful answer; `issued` is the mode and method of the link it issued, if any.
    pub fn ok(issued: Option<(LinkMode, LinkMethod)>) -> Self {
        Self { code: Self::OK, issued }
    }

    pub fn samples(self, elapsed: Duration) -> Vec<Sample> {
        let mut samples = vec![Sample::count(&API_ANSWERS, vec![self.code]), Sample::latency(&API_LATENCY, elapsed)];
        if let Some((mode, method)) = self.issued {
            samples.push(Sample::count(&LINKS_ISSUED, vec![mode.as_str(), method.as_str()]));
        }
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_has_one_label_per_dimension() {
        let mut samples = DecisionOutcome::deny("ledger_unavailable").samples(Some(Duration::from_millis(3)));
        samples.extend(DecisionOutcome::FORWARD.samples(None));
        samples.extend(ApiOutcome { code: "ok", issued: Some((LinkMode::Sealed, LinkMethod::Put)) }.samples(Duration::ZERO));
        for sample in &samples {
            assert_eq!(sample.labels.len(), sample.metric.dimensions.len(), "{sample:?}");
            assert!(ALL.contains(&sample.metric), "{} is listed in ALL", sample.metric.cloudwatch);
        }
    }

    #[test]
    fn dependency_failures_count_as_errors_and_nothing_else_does() {
        let names = |outcome: DecisionOutcome| outcome.samples(None).iter().map(|s| s.metric.cloudwatch).collect::<Vec<_>>();
        assert_eq!(names(DecisionOutcome::deny(DenyReason::LedgerUnavailable.code())), ["Decisions", "LedgerErrors"]);
        assert_eq!(names(DecisionOutcome::deny(DenyReason::ConfigUnavailable.code())), ["Decisions", "ConfigErrors"]);
        assert_eq!(names(DecisionOutcome::deny(DenyReason::Expired.code())), ["Decisions"]);
        assert_eq!(names(DecisionOutcome::PREVIEW), ["Decisions"]);
    }

    #[test]
    fn names_are_unique_and_prometheus_safe() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.cloudwatch, b.cloudwatch);
                assert_ne!(a.prometheus, b.prometheus);
            }
            assert!(a.prometheus.starts_with("oncelink_") && a.prometheus.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'));
            let suffix_ok = match a.unit {
                Unit::Count => a.prometheus.ends_with("_total"),
                Unit::Milliseconds => a.prometheus.ends_with("_seconds"),
            };
            assert!(suffix_ok, "{}", a.prometheus);
        }
    }
}
