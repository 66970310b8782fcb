//! The edge service: one viewer request in, one decision out — the same service behind the
//! viewer-request Lambda function and the self-hosted gateway.
//!
//! ```text
//! ViewerRequest ─► config (cached) ─► precheck (pure) ─► ledger (one write) ─► Decided + Ticket
//!                      │                   │ deny / look (HEAD, OPTIONS) / preview ──►│ + log line
//!                      │                   └ a refusal or preview of a known link ─► its trail (one write)
//!                      └─ 503 if config or ledger fail (fail closed) ────────────────►│ + measurement
//! origin answered ─► settle(ticket, status): content → confirm a held use; a refusal → give the use back
//! body ended      ─► record_delivery(ticket, bytes, complete)          (the gateway knows; CloudFront does not)
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
use crate::decision::{Admitted, Decision, DenyReason, EdgePolicy, Ticket, TicketKind, admit, delivers_content, trail_outcome};
use crate::error::Refusal;
use crate::ledger::{ClientHint, Commit, Delivery, Ledger, LedgerFor, Release, TrailEntry};
use crate::metrics::{DecisionOutcome, Sample};

pub struct EdgeService<C: ConfigSource, L> {
    policy: EdgePolicy,
    config: Arc<ConfigCache<C>>,
    ledger: L,
}

/// One decided request: the decision, what it holds in the ledger, and what to count about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub decision: Decision,
    /// For a forwarded GET or PUT: the use (or resume) to settle once the origin answered.
    pub ticket: Option<Ticket>,
    pub measured: Measured,
}

/// What settling a forwarded request did with its use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The origin delivered: a held use is now spent (a spent one stays so).
    Kept,
    /// The origin refused, failed or never answered: the use is free again.
    GivenBack,
    /// Nothing to settle (a resume, or a use already given back).
    Nothing,
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
        let admitted = match self.config.get().await {
            Ok(config) => {
                let ledger = self.ledger.ledger_for(&config);
                let edge: &EdgeConfig = (*config).as_ref();
                let admitted = admit(request, &self.policy, edge, &ledger, now).await;
                note_refusal(&ledger, request, &admitted, now).await;
                admitted
            }
            Err(error) => {
                tracing::error!(%error, request_id = %request.request_id, "configuration unavailable; denying (fail closed)");
                crate::decision::Admitted { decision: Decision::Deny(DenyReason::ConfigUnavailable), ticket: None, known: None }
            }
        };
        let (decision, ticket) = (admitted.decision, admitted.ticket);
        let resumed = ticket.as_ref().is_some_and(|t| t.kind == TicketKind::Resume);
        let outcome = if resumed { DecisionOutcome::RESUME } else { DecisionOutcome::of(&decision) };
        log_line(&request.request_id, &request.method, &request.uri, outcome, status_of(&decision));
        Decided { decision, ticket, measured: Measured { outcome, elapsed: Some(started.elapsed()) } }
    }

    /// Once the origin answered a forwarded `method` with `status` (`None`: it never answered):
    /// a held use is confirmed when the answer carries content, and any use is given back when
    /// it does not. `Err`: a held use could not be confirmed (the ledger is away, or the hold
    /// lapsed and was taken over) — the caller must not deliver the origin's answer.
    pub async fn settle(&self, ticket: &Ticket, method: &str, status: Option<u16>) -> Result<Settled, DenyReason> {
        let TicketKind::Use { held } = ticket.kind else { return Ok(Settled::Nothing) };
        let content = status.is_some_and(|s| delivers_content(method, s));
        if content && !held {
            return Ok(Settled::Kept);
        }
        let config = self.config.get().await.map_err(|error| {
            tracing::error!(%error, request_id = %ticket.request_id, "configuration unavailable; cannot settle the use");
            DenyReason::ConfigUnavailable
        })?;
        let ledger = self.ledger.ledger_for(&config);
        let settled = if content {
            match ledger.commit(&ticket.key, &ticket.request_id).await {
                Ok(Commit::Committed) => Ok(Settled::Kept),
                Ok(Commit::Lost) => {
                    tracing::error!(request_id = %ticket.request_id, "the held use lapsed before the origin answered; not delivering");
                    Err(DenyReason::LedgerUnavailable)
                }
                Err(error) => {
                    tracing::error!(%error, request_id = %ticket.request_id, "cannot confirm the use; not delivering (it lapses by itself)");
                    Err(DenyReason::LedgerUnavailable)
                }
            }
        } else {
            match ledger.release(&ticket.key, &ticket.request_id).await {
                Ok(Release::Released) => Ok(Settled::GivenBack),
                Ok(Release::NotHeld) => Ok(Settled::Nothing),
                Err(error) => {
                    // A held use still lapses at the end of its lease; a spent one stays spent.
                    tracing::error!(%error, request_id = %ticket.request_id, held, "cannot give the use back");
                    Ok(Settled::Nothing)
                }
            }
        };
        tracing::info!(
            target: "decision",
            settled = ?settled,
            origin_status = status,
            method = %crate::error::clip(method),
            request_id = %ticket.request_id,
        );
        settled
    }

    /// Records what a forwarded request delivered (best effort: a failure is logged).
    pub async fn record_delivery(&self, ticket: &Ticket, delivery: &Delivery) {
        let Ok(config) = self.config.get().await else { return };
        let ledger = self.ledger.ledger_for(&config);
        if let Err(error) = ledger.record_delivery(&ticket.key, ticket.fingerprint.as_deref(), delivery).await {
            tracing::warn!(%error, request_id = %ticket.request_id, "cannot record the delivery");
        }
    }
}

/// Keeps a refusal (or a preview) of a known link in its trail. Best effort: the answer is
/// already decided, and a ledger that cannot take the note is logged, never a reason to change it.
async fn note_refusal(ledger: &dyn Ledger, request: &ViewerRequest, admitted: &Admitted, now: SystemTime) {
    let (Some(known), Some(outcome)) = (&admitted.known, trail_outcome(&admitted.decision)) else { return };
    if known.retain_until <= now {
        return; // a link expired so long ago that its record would be gone already
    }
    let entry = TrailEntry { request_id: request.request_id.clone(), at: now, outcome, client: ClientHint::of(request) };
    if let Err(error) = ledger.note_refusal(&known.key, &entry, known.retain_until).await {
        tracing::warn!(%error, request_id = %request.request_id, "cannot keep the refusal in the link's trail");
    }
}

/// The status a decision answers with itself (`None`: the origin's).
fn status_of(decision: &Decision) -> Option<u16> {
    match decision {
        Decision::Forward(_) => None,
        Decision::Preview => Some(200),
        Decision::Deny(reason) => Some(reason.status()),
    }
}

/// One log line per decision: what, why, which request. No query string (it holds the
/// signature or token) and no header values.
pub fn log_decision(request: &ViewerRequest, decision: &Decision) {
    log_line(&request.request_id, &request.method, &request.uri, DecisionOutcome::of(decision), status_of(decision));
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
