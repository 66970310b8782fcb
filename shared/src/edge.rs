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
use std::time::SystemTime;

use serde_json::Value;

use crate::ViewerRequest;
use crate::cloudfront::{self, Answer};
use crate::config::{ConfigCache, ConfigSource, EdgeConfig};
use crate::decision::{Decision, EdgePolicy, decide};
use crate::ledger::Ledger;
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
                tracing::error!(%error, "configuration unavailable; denying (fail closed)");
                return Decision::Deny(DenyReason::ConfigUnavailable);
            }
        };
        let ledger = (self.ledger_for)(&config);
        decide(request, &self.policy, &config, ledger.as_ref(), now).await
    }

    /// Handles one raw Lambda@Edge event. Never fails: every problem becomes a response.
    pub async fn handle_event(&self, event: Value, now: SystemTime) -> Answer {
        let (config, mut request) = match cloudfront::parse_event(event) {
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
            Decision::Forward(forward) => {
                request.querystring = forward.querystring;
                Answer::Continue(request)
            }
            Decision::Preview => Answer::Respond(cloudfront::preview_response()),
            Decision::Deny(reason) => Answer::Respond(cloudfront::deny_response(&reason)),
        }
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
