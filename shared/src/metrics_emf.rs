//! CloudWatch Embedded Metric Format (EMF): metrics as one JSON log line.
//!
//! A Lambda function's stdout goes to CloudWatch Logs; a line shaped like this one is also
//! turned into metrics, with no API call and no extra IAM permission:
//!
//! ```json
//! {"_aws":{"Timestamp":1764000000000,"CloudWatchMetrics":[
//!     {"Namespace":"oncelink","Dimensions":[["Function","Decision","Reason"]],"Metrics":[{"Name":"Decisions","Unit":"Count"}]},
//!     {"Namespace":"oncelink","Dimensions":[["Function"]],"Metrics":[{"Name":"DecisionLatency","Unit":"Milliseconds"}]}]},
//!  "Function":"viewer-request","Decision":"deny","Reason":"link_expired","Decisions":1,"DecisionLatency":2.4,
//!  "request_id":"<CloudFront request id>"}
//! ```
//! Each sample gets its own directive (its metric with its own dimension set, always led by
//! `Function`); dimension values and metric values are members of the root object. The request
//! id is a plain member, not a dimension: searchable in Logs Insights, joined with the JSON
//! logs, and free of per-request time series.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::metrics::{FUNCTION, NAMESPACE, Sample};

/// The member that carries the request id, named as in the JSON logs.
pub const REQUEST_ID: &str = "request_id";

/// Renders one EMF line (no trailing newline). `function` is the emitting function's role
/// (`viewer-request`, `issue-url`).
///
/// Samples that would give one member two different values (the same metric twice, or two
/// metrics disagreeing on a shared dimension) are left out: a line always describes one event.
pub fn emf_line(function: &'static str, request_id: &str, samples: &[Sample], at: SystemTime) -> String {
    let timestamp_ms = at.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0) as u64;
    let mut root = Map::new();
    root.insert(FUNCTION.cloudwatch.into(), Value::from(function));
    root.insert(REQUEST_ID.into(), Value::from(request_id));
    let mut directives = Vec::new();
    for sample in samples {
        if !fits(&root, sample) {
            continue;
        }
        let mut dimension_set = vec![FUNCTION.cloudwatch];
        for (dimension, label) in sample.metric.dimensions.iter().zip(&sample.labels) {
            dimension_set.push(dimension.cloudwatch);
            root.insert(dimension.cloudwatch.into(), Value::from(*label));
        }
        root.insert(sample.metric.cloudwatch.into(), json!(sample.value));
        directives.push(json!({
            "Namespace": NAMESPACE,
            "Dimensions": [dimension_set],
            "Metrics": [{"Name": sample.metric.cloudwatch, "Unit": sample.metric.unit.cloudwatch()}],
        }));
    }
    root.insert("_aws".into(), json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": directives}));
    Value::Object(root).to_string()
}

/// Can `sample` join the line without overwriting a member with another value?
fn fits(root: &Map<String, Value>, sample: &Sample) -> bool {
    let labels_agree = sample.metric.dimensions.iter().zip(&sample.labels).all(|(d, label)| match root.get(d.cloudwatch) {
        None => true,
        Some(existing) => existing.as_str() == Some(*label),
    });
    sample.labels.len() == sample.metric.dimensions.len() && labels_agree && !root.contains_key(sample.metric.cloudwatch)
}

/// Writes one EMF line to stdout, where Lambda picks it up. A failed write is not worth
/// failing a request over.
pub fn emit(function: &'static str, request_id: &str, samples: &[Sample]) {
    use std::io::Write;
    let line = emf_line(function, request_id, samples, SystemTime::now());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::link::LinkMethod;
    use crate::link::LinkMode;
    use crate::metrics::{ApiOutcome, DecisionOutcome};

    fn parse(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line");
        serde_json::from_str(line).expect("valid JSON")
    }

    /// Every metric and dimension a directive declares must be a member of the root object,
    /// with the right type; otherwise CloudWatch drops the metric silently.
    fn assert_valid_emf(doc: &Value) {
        let aws = &doc["_aws"];
        assert!(aws["Timestamp"].is_u64(), "Timestamp is an integer: {doc}");
        let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics array");
        assert!(!directives.is_empty());
        for directive in directives {
            assert_eq!(directive["Namespace"], NAMESPACE);
            for set in directive["Dimensions"].as_array().unwrap() {
                for name in set.as_array().unwrap() {
                    assert!(doc[name.as_str().unwrap()].is_string(), "dimension {name} is a string member: {doc}");
                }
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(doc[name].is_number(), "metric {name} is a number member: {doc}");
                assert!(["Count", "Milliseconds"].contains(&metric["Unit"].as_str().unwrap()));
            }
        }
    }

    #[test]
    fn a_denial_is_a_valid_emf_document_with_the_request_id() {
        let at = UNIX_EPOCH + Duration::from_millis(1_764_000_000_123);
        let samples = DecisionOutcome::deny("ledger_unavailable").samples(Some(Duration::from_micros(2500)));
        let doc = parse(&emf_line("viewer-request", "cf-req-1", &samples, at));
        assert_valid_emf(&doc);
        assert_eq!(doc["_aws"]["Timestamp"], 1_764_000_000_123u64, "milliseconds since the epoch");
        assert_eq!(doc["request_id"], "cf-req-1");
        assert_eq!(
            (doc["Function"].as_str(), doc["Decision"].as_str(), doc["Reason"].as_str()),
            (Some("viewer-request"), Some("deny"), Some("ledger_unavailable"))
        );
        assert_eq!(doc["Decisions"], 1.0);
        assert_eq!(doc["LedgerErrors"], 1.0);
        assert_eq!(doc["DecisionLatency"], 2.5);
        let first = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(first["Dimensions"], json!([["Function", "Decision", "Reason"]]));
        assert_eq!(first["Metrics"], json!([{"Name": "Decisions", "Unit": "Count"}]));
        let declared: Vec<&str> = doc["_aws"]["CloudWatchMetrics"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["Dimensions"][0].as_array().unwrap().iter().map(|n| n.as_str().unwrap()))
            .collect();
        assert!(!declared.contains(&REQUEST_ID), "the request id is never a dimension");
    }

    #[test]
    fn an_issued_link_counts_by_mode_and_method() {
        let samples =
            ApiOutcome { code: ApiOutcome::OK, issued: Some((LinkMode::Presigned, LinkMethod::Get)) }.samples(Duration::from_millis(7));
        let doc = parse(&emf_line("issue-url", "lambda-1", &samples, SystemTime::now()));
        assert_valid_emf(&doc);
        assert_eq!((doc["Code"].as_str(), doc["Mode"].as_str(), doc["Method"].as_str()), (Some("ok"), Some("presigned"), Some("GET")));
        assert_eq!(doc["ApiLatency"], 7.0);
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(now_ms.abs_diff(doc["_aws"]["Timestamp"].as_u64().unwrap()) < 60_000, "a current time, in ms");
    }

    #[test]
    fn nothing_from_the_link_reaches_the_line() {
        // The line is built from labels only; a hostile request id is still just an escaped string.
        let samples = DecisionOutcome::FORWARD.samples(Some(Duration::from_millis(1)));
        let line = emf_line("viewer-request", "id\"\n,\"X-Amz-Signature\":\"x", &samples, SystemTime::now());
        let doc = parse(&line);
        assert_valid_emf(&doc);
        assert!(doc.get("X-Amz-Signature").is_none());
        for forbidden in ["?", "uri", "querystring", "token"] {
            assert!(doc.as_object().unwrap().keys().all(|k| !k.contains(forbidden)), "{forbidden} in {line}");
        }
    }

    #[test]
    fn conflicting_samples_are_left_out_not_overwritten() {
        let mut samples = DecisionOutcome::FORWARD.samples(None);
        samples.extend(DecisionOutcome::deny("link_expired").samples(None));
        let doc = parse(&emf_line("viewer-request", "r", &samples, SystemTime::now()));
        assert_valid_emf(&doc);
        assert_eq!(doc["Decision"], "forward");
        assert_eq!(doc["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(), 1);
    }
}
