//! The viewer-request service: one CloudFront event in, one answer out.
//!
//! ```text
//! event ─► parse ─► precheck (pure) ─► config (SSM, cached) ─► ledger (one write) ─► settle ─► answer
//!             │          │ deny/forward-without-use ───────────────────────────────────────►│
//!             └─ 400 ────┴──────────────── 503 if config or ledger fail (fail closed) ─────►│
//! ```
//! The configuration is only fetched for requests that passed the pure checks, so an expired
//! or malformed link is refused even while SSM is down, and never costs a round trip.

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;

use crate::cloudfront::{self, Answer};
use crate::config::{ConfigCache, ConfigSource, EdgeConfig};
use crate::decision::{Decision, EdgePolicy, Precheck, precheck, settle};
use crate::ledger::Ledger;
use crate::response::DenyReason;
use crate::ViewerRequest;

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

    /// Decides one viewer request: all four phases.
    pub async fn decide(&self, request: &ViewerRequest, now: SystemTime) -> Decision {
        let claim = match precheck(request, &self.policy, now) {
            Precheck::Deny(reason) => return Decision::Deny(reason),
            Precheck::ForwardWithoutUse => return Decision::Forward,
            Precheck::Claim(claim) => claim,
        };
        let config = match self.config.get().await {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(%error, "configuration unavailable; denying (fail closed)");
                return Decision::Deny(DenyReason::ConfigUnavailable);
            }
        };
        let ledger = (self.ledger_for)(&config);
        settle(ledger.claim(&claim).await)
    }

    /// Handles one raw Lambda@Edge event. Never fails: every problem becomes a response.
    pub async fn handle_event(&self, event: Value, now: SystemTime) -> Answer {
        let (config, request) = match cloudfront::parse_event(event) {
            Ok(parsed) => parsed,
            Err(why) => {
                let reason = DenyReason::MalformedEvent(why);
                tracing::warn!(decision = "deny", reason = reason.code(), "malformed event");
                return Answer::Respond(cloudfront::deny_response(&reason));
            }
        };
        let viewer = request.to_viewer_request(&config.request_id);
        let decision = self.decide(&viewer, now).await;
        log_decision(&viewer, &decision);
        match decision {
            Decision::Forward => Answer::Continue(request),
            Decision::Deny(reason) => Answer::Respond(cloudfront::deny_response(&reason)),
        }
    }
}

/// One access-log line per decision: what, why, which request. No query string (it holds the
/// signature) and no headers.
pub fn log_decision(request: &ViewerRequest, decision: &Decision) {
    match decision {
        Decision::Forward => tracing::info!(decision = "forward", method = %request.method, uri = %request.uri, request_id = %request.request_id),
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
