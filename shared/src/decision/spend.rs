//! Phase 5: the ledger. What a request that passed phases 1–4 costs, decided by one write.
//!
//! ```text
//! GET with Range inside the link's grace ─► resume (one write) ─► Resumed ──────────────────► forward (no use)
//!                                                 └─ NotResumable ─┐
//! GET / PUT ───────────────────────────────────────────────────────► claim (one write) ─► Granted / Retried ─► forward + ticket
//!                                                        └─ Exhausted, first client, recovery window ─► recover (one write,
//!                                                               one at a time: nothing of the client in flight) ─► forward (no use)
//!                                                        └─ Exhausted / Revoked ─► deny
//! HEAD / OPTIONS ─► look (one read): refused exactly as its GET would be ─────────────────────────────► forward (no use) / deny
//! ```
//!
//! A first use costs one write either way: a `Range` request inside a grace window is most
//! likely a resume and asks for one first; anything else is most likely a use and claims first.
//! Grace resumes may run side by side (a download manager's parallel ranges); a recovery is one
//! at a time, so a crowd behind one address with one browser cannot turn it into many copies.
//!
//! A granted request gets a [`Ticket`]: what it holds, so the shell can confirm or give it back
//! once the origin answered ([`delivers_content`] says which), and record what was delivered.
//! Every ledger failure fails closed: no answer from the ledger, no request to the origin.

use std::time::{Duration, SystemTime};

use super::{Claim, Decision, DenyReason, EdgePolicy, KnownLink, Precheck, precheck};
use crate::ViewerRequest;
use crate::config::EdgeConfig;
use crate::error::Refusal;
use crate::ledger::{ClaimOutcome, InFlight, Ledger, LedgerError, LedgerKey, LinkState, ResumeClaim, ResumeOutcome, TrailOutcome};
use crate::link::LinkId;

/// What a forwarded request holds in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub key: LedgerKey,
    pub link_id: LinkId,
    pub request_id: String,
    pub fingerprint: Option<String>,
    pub kind: TicketKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketKind {
    /// A use: `held` until confirmed (gateway), or spent already (CloudFront).
    Use { held: bool },
    /// A resume inside the window: no use to confirm or give back.
    Resume,
}

/// The decision, for a granted GET or PUT what it holds, and which link it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub decision: Decision,
    pub ticket: Option<Ticket>,
    /// The link, when the request could be read as one: where a refusal is kept
    /// ([`trail_outcome`]).
    pub known: Option<KnownLink>,
}

impl Admitted {
    fn without_ticket(decision: Decision, known: Option<KnownLink>) -> Self {
        Self { decision, ticket: None, known }
    }
}

/// What a decision on a known link leaves in its trail by itself: a refusal or a preview.
/// (Granted uses and resumes are written by the ledger call that grants them; a refusal the
/// ledger could not be asked about, or a lookalike of a look, leaves nothing.)
pub fn trail_outcome(decision: &Decision) -> Option<TrailOutcome> {
    match decision {
        Decision::Preview => Some(TrailOutcome::Preview),
        Decision::Deny(DenyReason::LedgerUnavailable | DenyReason::ConfigUnavailable) => None,
        Decision::Deny(reason) => Some(TrailOutcome::Refused(reason.code().to_owned())),
        Decision::Forward(_) => None,
    }
}

fn ticket(claim: &Claim, kind: TicketKind) -> Ticket {
    Ticket {
        key: claim.use_claim.key.clone(),
        link_id: claim.link_id.clone(),
        request_id: claim.use_claim.request_id.clone(),
        fingerprint: claim.use_claim.fingerprint.clone(),
        kind,
    }
}

fn known(claim: &Claim) -> KnownLink {
    KnownLink { key: claim.use_claim.key.clone(), retain_until: claim.use_claim.retain_until }
}

fn fail_closed(error: LedgerError, request_id: &str) -> Decision {
    tracing::error!(%error, request_id, "ledger failed; denying (fail closed)");
    Decision::Deny(DenyReason::LedgerUnavailable)
}

/// All five phases, for callers that hold the configuration and a ledger.
pub async fn admit(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, ledger: &dyn Ledger, now: SystemTime) -> Admitted {
    match precheck(request, policy, config, now) {
        Precheck::Deny(reason) => Admitted::without_ticket(Decision::Deny(reason), None),
        Precheck::Refused(reason, known) => Admitted::without_ticket(Decision::Deny(reason), Some(known)),
        Precheck::Preview(known) => Admitted::without_ticket(Decision::Preview, Some(known)),
        Precheck::Look(claim) => {
            let decision = match ledger.lookup(&claim.use_claim.key).await {
                Ok(state) => look(state.as_ref(), &claim, policy, now),
                Err(error) => fail_closed(error, &claim.use_claim.request_id),
            };
            Admitted::without_ticket(decision, Some(known(&claim)))
        }
        Precheck::Claim(claim) => {
            if let Some(resume) = grace_resume(&claim, policy, now) {
                match try_resume(ledger, &resume, &claim).await {
                    Ok(Some(resumed)) => return resumed,
                    Ok(None) => {}
                    Err(denied) => return Admitted::without_ticket(denied, Some(known(&claim))),
                }
            }
            let outcome = ledger.claim(&claim.use_claim).await;
            if let (Ok(ClaimOutcome::Exhausted(used)), Some(resume)) = (&outcome, recovery(&claim, policy, now))
                && used.fingerprint.as_deref() == Some(resume.fingerprint.as_str())
                && used.first_used_at >= resume.window_start
            {
                match try_resume(ledger, &resume, &claim).await {
                    Ok(Some(resumed)) => return resumed,
                    Ok(None) => {}
                    Err(denied) => return Admitted::without_ticket(denied, Some(known(&claim))),
                }
            }
            let decision = settle(&claim, outcome);
            let held = claim.use_claim.hold_until.is_some();
            let ticket = matches!(decision, Decision::Forward(_)).then(|| ticket(&claim, TicketKind::Use { held }));
            Admitted { decision, ticket, known: Some(known(&claim)) }
        }
    }
}

/// A resume of the link's first client inside `window`, `single_flight` or not.
fn resume_within(
    claim: &Claim,
    window: Duration,
    single_flight: Option<InFlight>,
    policy: &EdgePolicy,
    now: SystemTime,
) -> Option<ResumeClaim> {
    Some(ResumeClaim {
        key: claim.use_claim.key.clone(),
        request_id: claim.use_claim.request_id.clone(),
        fingerprint: claim.use_claim.fingerprint.clone()?,
        at: now,
        window_start: now.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH),
        max_resumes: policy.max_resumes,
        single_flight,
        client: claim.use_claim.client.clone(),
    })
}

/// The grace resume this request could be (a `Range` inside the link's grace window).
fn grace_resume(claim: &Claim, policy: &EdgePolicy, now: SystemTime) -> Option<ResumeClaim> {
    resume_within(claim, claim.grace?, None, policy, now)
}

/// The recovery this request could be: one at a time, in flight for as long as a held use.
fn recovery(claim: &Claim, policy: &EdgePolicy, now: SystemTime) -> Option<ResumeClaim> {
    let until = now + policy.hold_lease.unwrap_or(DEFAULT_IN_FLIGHT);
    resume_within(claim, claim.recovery?, Some(InFlight { now, until }), policy, now)
}

/// How long a recovery keeps its client in flight where uses are not held (no lease to copy).
const DEFAULT_IN_FLIGHT: Duration = Duration::from_secs(60);

/// One resume write: `Some` forward when granted, `None` when the request must claim a use.
async fn try_resume(ledger: &dyn Ledger, resume: &ResumeClaim, claim: &Claim) -> Result<Option<Admitted>, Decision> {
    match ledger.resume(resume).await {
        Ok(ResumeOutcome::Resumed { .. }) => Ok(Some(Admitted {
            decision: Decision::Forward(claim.forward.clone()),
            ticket: Some(ticket(claim, TicketKind::Resume)),
            known: Some(known(claim)),
        })),
        Ok(ResumeOutcome::NotResumable) => Ok(None),
        Err(error) => Err(fail_closed(error, &claim.use_claim.request_id)),
    }
}

/// All five phases, the decision only.
pub async fn decide(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, ledger: &dyn Ledger, now: SystemTime) -> Decision {
    admit(request, policy, config, ledger, now).await.decision
}

/// Phase 5's verdict for a claim: turns the ledger's answer into the final decision. Fails closed.
pub fn settle(claim: &Claim, outcome: Result<ClaimOutcome, LedgerError>) -> Decision {
    match outcome {
        Ok(ClaimOutcome::Granted { .. } | ClaimOutcome::Retried) => Decision::Forward(claim.forward.clone()),
        Ok(ClaimOutcome::Exhausted(used)) => Decision::Deny(DenyReason::AlreadyUsed { first_used_at: used.first_used_at }),
        Ok(ClaimOutcome::Revoked) => Decision::Deny(DenyReason::Revoked),
        Err(error) => fail_closed(error, &claim.use_claim.request_id),
    }
}

/// The look of a HEAD or OPTIONS: refused exactly as its GET would be (revoked, or every use
/// spent and no resume open to this client), and forwarded otherwise; nothing is written.
pub fn look(state: Option<&LinkState>, claim: &Claim, policy: &EdgePolicy, now: SystemTime) -> Decision {
    let Some(state) = state else { return Decision::Forward(claim.forward.clone()) };
    if state.revoked {
        return Decision::Deny(DenyReason::Revoked);
    }
    if state.live_uses(now) < claim.use_claim.max_uses {
        return Decision::Forward(claim.forward.clone());
    }
    let resumable = |resume: Option<ResumeClaim>| resume.is_some_and(|resume| state.resumable(&resume));
    if resumable(grace_resume(claim, policy, now)) || resumable(recovery(claim, policy, now)) {
        return Decision::Forward(claim.forward.clone());
    }
    Decision::Deny(DenyReason::AlreadyUsed { first_used_at: state.first_used_at.unwrap_or(now) })
}

/// Does the origin's answer to `method` carry what a use pays for? A download's or an upload's
/// 2xx (206 Partial Content included). Anything else — 304, 4xx, 5xx — delivered nothing, so
/// the use is given back.
pub fn delivers_content(method: &str, status: u16) -> bool {
    matches!(method, "GET" | "PUT") && (200..300).contains(&status)
}
