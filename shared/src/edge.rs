//! The viewer-request service: one CloudFront event in, one answer out.
//!
//! ```text
//! event ─► parse ─► config (SSM, cached) ─► precheck (pure) ─► ledger (one write) ─► settle ─► answer
//!             │            │                     │ deny / forward-without-use / preview ────►│
//!             └─ 400 ──────┴─ 503 if config or ledger fail (fail closed) ──────────────────►│
//! ```
//! The configuration comes first because sealed links need its keys to be read at all; it is
//! cached per process, so that costs nothing on a warm function.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::ViewerRequest;
use crate::cloudfront::{self, Answer};
use crate::config::{ConfigCache, ConfigSource, EdgeConfig};
use crate::decision::{Decision, EdgePolicy, decide};
use crate::ledger::Ledger;
use crate::metrics::{DecisionOutcome, Sample};
use crate::response::DenyReason;

/// Builds the ledger adapter for a loaded configuration (e.g. DynamoDB on its table).
pub type LedgerFor = Box<dyn Fn(&EdgeConfig) -> Arc<dyn Ledger> + Send + Sync>;

pub struct EdgeService<C> {
    policy: EdgePolicy,
    config: ConfigCache<C>,
    ledger_for: LedgerFor,
}

impl<C: ConfigSource> EdgeService<C> {
    pub fn new(policy: EdgePolicy, config: ConfigCache<C>, ledger_for: LedgerFor) -> Self {
        Self { policy, config, ledger_for }
    }

    /// Decides one viewer request: configuration (cached), then all the phases.
    pub async fn decide(&self, request: &ViewerRequest, now: SystemTime) -> Decision {
        let config = match self.config.get().await {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(%error, request_id = %request.request_id, "configuration unavailable; denying (fail closed)");
                return Decision::Deny(DenyReason::ConfigUnavailable);
            }
        };
        let ledger = (self.ledger_for)(&config);
        decide(request, &self.policy, &config, ledger.as_ref(), now).await
    }

    /// Handles one raw Lambda@Edge event. Never fails: every problem becomes a response.
    pub async fn handle_event(&self, event: Value, now: SystemTime) -> Answer {
        self.handle_event_measured(event, now).await.0
    }

    /// Same, and what to count: the decision's labels and how long it took (for the metrics,
    /// which the caller emits: the decision itself stays free of output).
    pub async fn handle_event_measured(&self, event: Value, now: SystemTime) -> (Answer, Measured) {
        let started = Instant::now();
        // Read before parsing, so that even an unreadable event's line names its request.
        let request_id = event.pointer("/Records/0/cf/config/requestId").and_then(Value::as_str).unwrap_or("-").to_owned();
        let (config, mut request) = match cloudfront::parse_event(event) {
            Ok(parsed) => parsed,
            Err(why) => {
                let reason = DenyReason::MalformedEvent(why);
                tracing::warn!(decision = "deny", reason = reason.code(), request_id = %request_id, "malformed event");
                let measured = Measured { request_id, outcome: DecisionOutcome::deny(reason.code()), elapsed: started.elapsed() };
                return (Answer::Respond(cloudfront::deny_response(&reason)), measured);
            }
        };
        let viewer = request.to_viewer_request(&config.request_id);
        let decision = self.decide(&viewer, now).await;
        let measured = Measured { request_id, outcome: DecisionOutcome::of(&decision), elapsed: started.elapsed() };
        log_decision(&viewer, &decision);
        let answer = match decision {
            Decision::Forward(forward) => {
                request.querystring = forward.querystring;
                Answer::Continue(request)
            }
            Decision::Preview => Answer::Respond(cloudfront::preview_response()),
            Decision::Deny(reason) => Answer::Respond(cloudfront::deny_response(&reason)),
        };
        (answer, measured)
    }
}

/// One handled event, for the metrics: which request, what was decided, how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// CloudFront's `config.requestId` (`-` when the event had none).
    pub request_id: String,
    pub outcome: DecisionOutcome,
    pub elapsed: Duration,
}

impl Measured {
    pub fn samples(&self) -> Vec<Sample> {
        self.outcome.samples(Some(self.elapsed))
    }
}

/// One access-log line per decision: what, why, which request. No query string (it holds the
/// signature or token) and no headers.
pub fn log_decision(request: &ViewerRequest, decision: &Decision) {
    match decision {
        Decision::Forward(_) => {
            tracing::info!(decision = "forward", method = %request.method, uri = %request.uri, request_id = %request.request_id)
        }
        Decision::Preview => {
            tracing::info!(decision = "preview", method = %request.method, uri = %request.uri, request_id = %request.request_id)
        }
        Decision::Deny(reason) => tracing::info!(
            decision = "deny",
            status = reason.status(),
            reason = reason.code(),
            method = %request.method,
            uri = %request.uri,
            request_id = %request.request_id
        ),
    }
}

/// The AWS SDK timeouts of the validator. The Lambda@Edge shim waits about 3 s for the regional
/// function (Lambda@Edge itself allows 5 s), so every SSM or DynamoDB call gives up well before:
/// 500 ms to connect, 1 s per attempt, 2 s for the whole call including the SDK's retries. The
/// function and the fault-injection tests use exactly this.
#[cfg(feature = "aws")]
pub fn sdk_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_millis(500))
        .operation_attempt_timeout(std::time::Duration::from_millis(1000))
        .operation_timeout(std::time::Duration::from_millis(2000))
        .build()
}

#[cfg(feature = "aws")]
impl EdgeService<crate::config::SsmConfigSource> {
    /// The production wiring: configuration from SSM under `prefix`, ledger in DynamoDB, both
    /// through clients built from `sdk` (which must be for the home region).
    pub fn on_aws(sdk: &aws_config::SdkConfig, prefix: String, policy: EdgePolicy, refresh: Option<std::time::Duration>) -> Self {
        Self::with_clients(aws_sdk_ssm::Client::new(sdk), aws_sdk_dynamodb::Client::new(sdk), prefix, policy, refresh)
    }

    /// Same, with explicit clients (e.g. SSM and DynamoDB on different endpoints).
    pub fn with_clients(
        ssm: aws_sdk_ssm::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        prefix: String,
        policy: EdgePolicy,
        refresh: Option<std::time::Duration>,
    ) -> Self {
        let config = ConfigCache::new(crate::config::SsmConfigSource::new(ssm, prefix), refresh);
        let ledger_for: LedgerFor = Box::new(move |config: &EdgeConfig| {
            Arc::new(crate::ledger::DynamoDbLedger::new(dynamodb.clone(), config.table_name.clone())) as Arc<dyn Ledger>
        });
        Self::new(policy, config, ledger_for)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::StaticConfig;
    use crate::ledger::MemoryLedger;

    fn service() -> EdgeService<StaticConfig> {
        let ledger: Arc<dyn Ledger> = Arc::new(MemoryLedger::new());
        let config = ConfigCache::new(StaticConfig(EdgeConfig::presigned("t")), None);
        EdgeService::new(EdgePolicy::default(), config, Box::new(move |_| ledger.clone()))
    }

    fn event(request_id: &str, querystring: &str) -> Value {
        json!({"Records": [{"cf": {
            "config": {"requestId": request_id},
            "request": {"clientIp": "203.0.113.1", "headers": {}, "method": "GET", "querystring": querystring, "uri": "/a.txt"}
        }}]})
    }

    #[tokio::test]
    async fn a_measured_event_carries_its_cloudfront_request_id_and_outcome() {
        let (answer, measured) = service().handle_event_measured(event("cf-7", ""), SystemTime::now()).await;
        assert!(matches!(answer, Answer::Respond(_)));
        assert_eq!(measured.request_id, "cf-7");
        assert_eq!(measured.outcome, DecisionOutcome::deny(DenyReason::MissingSignature.code()));
        let names: Vec<&str> = measured.samples().iter().map(|s| s.metric.cloudwatch).collect();
        assert_eq!(names, ["Decisions", "DecisionLatency"]);
    }

    #[tokio::test]
    async fn an_unreadable_event_still_names_its_request_when_it_can() {
        let mut broken = event("cf-8", "");
        broken["Records"][0]["cf"]["request"]["method"] = json!(42);
        let (_, measured) = service().handle_event_measured(broken, SystemTime::now()).await;
        assert_eq!((measured.request_id.as_str(), measured.outcome.reason), ("cf-8", "malformed_request"));
        let (_, measured) = service().handle_event_measured(json!({"hello": "world"}), SystemTime::now()).await;
        assert_eq!(measured.request_id, "-");
    }
}
