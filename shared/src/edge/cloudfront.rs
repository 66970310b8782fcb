//! One Lambda@Edge viewer-request event through the [`EdgeService`]: parse the event, decide,
//! answer with the request (continue) or a generated response. Never fails: every problem
//! becomes a response.
//!
//! ```text
//! event ─► parse ─► EdgeService::decide ─► Continue(request without the token) | Respond(deny / preview)
//!            └─ 400 malformed_request (logged and counted like a denial) ──────► Respond
//! ```

use std::time::SystemTime;

use serde_json::Value;

use super::{EdgeService, Measured, log_refusal};
use crate::cloudfront::{self, Answer};
use crate::config::ConfigSource;
use crate::decision::{Decision, DenyReason};
use crate::ledger::LedgerFor;

/// One handled event: the answer for CloudFront, and what to count about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    pub answer: Answer,
    /// CloudFront's `config.requestId` (`-` when the event had none): the EMF line's
    /// `request_id`, joinable with the log line and CloudFront's access log.
    pub request_id: String,
    pub measured: Measured,
}

impl<C, L> EdgeService<C, L>
where
    C: ConfigSource,
    L: LedgerFor<C::Config>,
{
    /// Handles one raw Lambda@Edge viewer-request event.
    pub async fn handle_event(&self, event: Value, now: SystemTime) -> Handled {
        // Read before parsing, so that even an unreadable event's line names its request.
        let request_id = event.pointer("/Records/0/cf/config/requestId").and_then(Value::as_str).unwrap_or("-").to_owned();
        let (config, mut request) = match cloudfront::parse_event(event) {
            Ok(parsed) => parsed,
            Err(why) => {
                let reason = DenyReason::MalformedEvent(why);
                let measured = log_refusal(&request_id, "-", "-", &reason);
                return Handled { answer: Answer::Respond(cloudfront::deny_response(&reason)), request_id, measured };
            }
        };
        let viewer = request.to_viewer_request(&config.request_id);
        let decided = self.decide(&viewer, now).await;
        let answer = match decided.decision {
            Decision::Forward(forward) => {
                request.querystring = forward.querystring;
                Answer::Continue(request)
            }
            Decision::Preview => Answer::Respond(cloudfront::preview_response()),
            Decision::Deny(reason) => Answer::Respond(cloudfront::deny_response(&reason)),
        };
        Handled { answer, request_id, measured: decided.measured }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::config::{ConfigCache, EdgeConfig, StaticConfig};
    use crate::decision::EdgePolicy;
    use crate::error::Refusal;
    use crate::ledger::MemoryLedger;
    use crate::metrics::DecisionOutcome;

    fn service() -> EdgeService<StaticConfig, Arc<MemoryLedger>> {
        let config = Arc::new(ConfigCache::new(StaticConfig(EdgeConfig::presigned()), None));
        EdgeService::new(EdgePolicy::default(), config, Arc::new(MemoryLedger::new()))
    }

    fn event(request_id: &str, querystring: &str) -> Value {
        json!({"Records": [{"cf": {
            "config": {"requestId": request_id},
            "request": {"clientIp": "203.0.113.1", "headers": {}, "method": "GET", "querystring": querystring, "uri": "/a.txt"}
        }}]})
    }

    #[tokio::test]
    async fn a_handled_event_carries_its_cloudfront_request_id_and_outcome() {
        let handled = service().handle_event(event("cf-7", ""), SystemTime::now()).await;
        assert!(matches!(handled.answer, Answer::Respond(_)));
        assert_eq!(handled.request_id, "cf-7");
        assert_eq!(handled.measured.outcome, DecisionOutcome::deny(DenyReason::MissingSignature.code()));
        let names: Vec<&str> = handled.measured.samples().iter().map(|s| s.metric.cloudwatch).collect();
        assert_eq!(names, ["Decisions", "DecisionLatency"]);
    }

    #[tokio::test]
    async fn an_unreadable_event_still_names_its_request_when_it_can_and_has_no_latency() {
        let mut broken = event("cf-8", "");
        broken["Records"][0]["cf"]["request"]["method"] = json!(42);
        let handled = service().handle_event(broken, SystemTime::now()).await;
        assert_eq!((handled.request_id.as_str(), handled.measured.outcome.reason), ("cf-8", "malformed_request"));
        assert_eq!(handled.measured.elapsed, None, "no decision ran");
        let handled = service().handle_event(json!({"hello": "world"}), SystemTime::now()).await;
        assert_eq!(handled.request_id, "-");
    }
}
