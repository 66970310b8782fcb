//! The edge service: one viewer request in, one decision out — the same service behind the
//! viewer-request Lambda function and the self-hosted gateway.
//!
//! ```text
//! ViewerRequest ─► config (cached) ─► precheck (pure) ─► ledger (one write) ─► settle ─► Decided
//!                      │                   │ deny / forward-without-use / preview ───►│ + log line
//!                      └─ 503 if config or ledger fail (fail closed) ────────────────►│ + measurement
//! ```
//!
//! [`EdgeService`] is generic over its two ports: where the configuration comes from
//! ([`ConfigSource`], behind a per-process [`ConfigCache`]) and which ledger records the uses
//! ([`LedgerFor`]). The configuration comes first because sealed links need its keys to be read
//! at all; it is cached, so that costs nothing on a warm process.
//!
//! What it measures ([`Measured`]) means the same in every shell: the decision's labels and the
//! time spent inside [`EdgeService::decide`] (configuration, checks, ledger), nothing before or
//! after it. Every decision is logged by [`log_decision`], here, whoever called.
//!
//! The shells: [`cloudfront`] turns a Lambda@Edge event into a request and the decision into an
//! answer; [`aws`] wires SSM and DynamoDB; the gateway wires its key file and its own ledger.

#[cfg(feature = "aws")]
pub mod aws;
pub mod cloudfront;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[cfg(feature = "aws")]
pub use aws::{AwsEdge, sdk_timeouts};

use crate::ViewerRequest;
use crate::config::{ConfigCache, ConfigSource, EdgeConfig};
use crate::decision::{Decision, DenyReason, EdgePolicy, decide};
use crate::error::Refusal;
use crate::ledger::LedgerFor;
use crate::metrics::{DecisionOutcome, Sample};

pub struct EdgeService<C: ConfigSource, L> {
    policy: EdgePolicy,
    config: Arc<ConfigCache<C>>,
    ledger: L,
}

/// One decided request: the decision and what to count about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub decision: Decision,
    pub measured: Measured,
}

/// What a shell counts about one request: the decision's labels and, when the decision ran, how
/// long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    pub outcome: DecisionOutcome,
    /// Time inside the decision; `None` when the request was refused before it (unreadable).
    pub elapsed: Option<Duration>,
}

impl Measured {
    pub fn samples(&self) -> Vec<Sample> {
        self.outcome.samples(self.elapsed)
    }
}

impl<C, L> EdgeService<C, L>
where
    C: ConfigSource,
    L: LedgerFor<C::Config>,
{
    /// `config` may be shared with other services of the process (the gateway's issue API reads
    /// the same key set).
    pub fn new(policy: EdgePolicy, config: Arc<ConfigCache<C>>, ledger: L) -> Self {
        Self { policy, config, ledger }
    }

    /// Decides one viewer request: configuration (cached), then all the phases; logs the decision.
    pub async fn decide(&self, request: &ViewerRequest, now: SystemTime) -> Decided {
        let started = Instant::now();
        let decision = match self.config.get().await {
            Ok(config) => {
                let ledger = self.ledger.ledger_for(&config);
                let edge: &EdgeConfig = (*config).as_ref();
                decide(request, &self.policy, edge, &ledger, now).await
            }
            Err(error) => {
                tracing::error!(%error, request_id = %request.request_id, "configuration unavailable; denying (fail closed)");
                Decision::Deny(DenyReason::ConfigUnavailable)
            }
        };
        let measured = Measured { outcome: DecisionOutcome::of(&decision), elapsed: Some(started.elapsed()) };
        log_decision(request, &decision);
        Decided { decision, measured }
    }
}

/// One log line per decision: what, why, which request. No query string (it holds the
/// signature or token) and no header values.
pub fn log_decision(request: &ViewerRequest, decision: &Decision) {
    let status = match decision {
        Decision::Forward(_) => None,
        Decision::Preview => Some(200),
        Decision::Deny(reason) => Some(reason.status()),
    };
    log_line(&request.request_id, &request.method, &request.uri, DecisionOutcome::of(decision), status);
}

/// The same line for a request refused before the decision could run (an unreadable event or
/// request head): counted and logged as a denial under the refusal's own code.
pub fn log_refusal(request_id: &str, method: &str, uri: &str, refusal: &dyn Refusal) -> Measured {
    let outcome = DecisionOutcome::deny(refusal.code());
    log_line(request_id, method, uri, outcome, Some(refusal.status()));
    Measured { outcome, elapsed: None }
}

fn log_line(request_id: &str, method: &str, uri: &str, outcome: DecisionOutcome, status: Option<u16>) {
    tracing::info!(
        target: "decision",
        decision = outcome.decision,
        reason = outcome.reason,
        status,
        method = %crate::error::clip(method),
        uri = %crate::error::clip(uri),
        request_id = %request_id,
    );
}
