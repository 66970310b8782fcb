//! The edge decision, as named phases of one pure function.
//!
//! ```text
//!  viewer request ─► 1 method ─► 2 link ─────────► 3 window ─► 4 audience ─► 5 ledger ─► forward / deny
//!                    policy      sealed: MAC, kid   expiry      preview bots   one atomic
//!                                presigned: shape   (+ skew)    (no content)   write
//! ```
//!
//! Phases 1–4 are [`precheck`]: pure, no I/O, cheap. They run before anything is spent, so an
//! expired, tampered or malformed request can never burn a link. Phase 5 is the ledger, reached
//! through the [`Ledger`] port by [`decide`]; its answer becomes the final [`Decision`] in
//! [`settle`], pure again.
//!
//! Each link mode has its reader ([`presigned`], [`sealed`]) that turns the request into a
//! [`Link`]; [`audience`] knows who is asking (preview bots, the client fingerprint, the grace
//! window); [`deny`] is why a request is refused.

pub mod audience;
pub mod deny;
mod presigned;
mod sealed;

use std::time::{Duration, SystemTime};

pub use audience::{fingerprint, within_grace};
pub use deny::DenyReason;

use crate::ViewerRequest;
use crate::config::EdgeConfig;
use crate::encoding::{KEY_PATH, decode_canonical};
use crate::ledger::{ClaimOutcome, Ledger, LedgerError, LedgerKey, UseClaim};
use crate::link::{self, LinkId, LinkMethod, LinkMode};

/// Knobs of the decision that do not come from the deployment's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgePolicy {
    /// How far the edge's clock may lag the issuer's: a presigned link dated up to this far in
    /// the future is accepted.
    pub clock_skew: Duration,
}

impl Default for EdgePolicy {
    fn default() -> Self {
        Self { clock_skew: Duration::from_secs(60) }
    }
}

/// What to send to the origin when a request goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The request path, decoded (in sealed mode: the object key).
    pub path: String,
    /// The query string for the origin: unchanged in presigned mode; in sealed mode only the
    /// parameters the token covers (the token itself is stripped).
    pub querystring: String,
}

/// A consuming request that passed phases 1–4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub use_claim: UseClaim,
    pub forward: Forward,
    /// Set when this is a `Range` request on a link with a grace window: the same client may
    /// resume within this long after the first use without spending a use.
    pub grace: Option<Duration>,
}

/// What phases 1–4 conclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    /// Refuse now; the ledger is not touched.
    Deny(DenyReason),
    /// A request that never consumes a use (HEAD; OPTIONS, a CORS preflight): forward without a
    /// ledger write.
    ForwardWithoutUse(Forward),
    /// A link-preview bot or mail scanner: answer with no content, spend nothing.
    Preview,
    /// Forward only if the ledger grants a use.
    Claim(Claim),
}

/// The final answer for a viewer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the request continue to the origin.
    Forward(Forward),
    /// An empty, non-consuming answer (for preview bots).
    Preview,
    /// Answer with an error; the origin never sees the request.
    Deny(DenyReason),
}

/// Everything a link says about itself once read and verified (phase 2's result).
struct Link {
    id: LinkId,
    method: LinkMethod,
    expires_at: SystemTime,
    max_uses: u32,
    grace: Duration,
    forward: Forward,
}

/// Phases 1–4: method policy, link, validity window, audience.
pub fn precheck(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, now: SystemTime) -> Precheck {
    match precheck_inner(request, policy, config, now) {
        Ok(p) => p,
        Err(reason) => Precheck::Deny(reason),
    }
}

fn precheck_inner(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, now: SystemTime) -> Result<Precheck, DenyReason> {
    // Phase 1: method policy. Only GET (download) and PUT (upload) spend a use.
    let consumes = match request.method.as_str() {
        "GET" | "PUT" => true,
        "HEAD" | "OPTIONS" => false,
        _ => return Err(DenyReason::MethodNotAllowed),
    };

    // Phase 2: the link. The path and every parameter must have exactly one reading.
    let path = check_path(&request.uri)?;
    let link = match config.mode {
        LinkMode::Presigned => presigned::read(request, policy, now, path)?,
        LinkMode::Sealed => sealed::read(request, config, path)?,
    };
    // OPTIONS is a CORS preflight: any link method. Otherwise the method must be the link's
    // (HEAD is a GET without the body).
    let method_ok =
        matches!((request.method.as_str(), link.method), ("OPTIONS", _) | ("GET" | "HEAD", LinkMethod::Get) | ("PUT", LinkMethod::Put));
    if !method_ok {
        return Err(DenyReason::WrongMethod);
    }

    // Phase 3: validity window.
    if now >= link.expires_at {
        return Err(DenyReason::Expired);
    }

    // Phase 4: audience. Bots that unfurl links must not spend them.
    if consumes && audience::is_preview_agent(request, &config.preview_agents) {
        return Ok(Precheck::Preview);
    }
    if !consumes {
        return Ok(Precheck::ForwardWithoutUse(link.forward));
    }
    let grace = (link.grace > Duration::ZERO && request.header("range").is_some()).then_some(link.grace);
    Ok(Precheck::Claim(Claim {
        use_claim: UseClaim {
            key: LedgerKey::for_link(&link.id),
            request_id: request.request_id.clone(),
            at: now,
            retain_until: link::retain_until(link.expires_at),
            max_uses: link.max_uses,
            fingerprint: Some(fingerprint(request)),
        },
        forward: link.forward,
        grace,
    }))
}

/// The path must be `/` + a canonically encoded object key that follows the key rule
/// ([`link::key`]): exactly what the issuer signs, nothing a CDN or origin could read differently.
/// Returns the key, decoded.
fn check_path(uri: &str) -> Result<String, DenyReason> {
    let bad = |why: &str| DenyReason::BadPath(why.to_owned());
    let encoded = uri.strip_prefix('/').ok_or_else(|| bad("the path does not start with '/'"))?;
    if encoded.is_empty() {
        return Err(bad("no object key in the path"));
    }
    let key = decode_canonical(encoded, KEY_PATH).map_err(|e| bad(&format!("path: {e}")))?;
    link::key::check(&key).map_err(|e| bad(&e.to_string()))?;
    Ok(key)
}

/// Phase 5's verdict: turns the ledger's answer into the final decision. Fails closed.
pub fn settle(claim: &Claim, outcome: Result<ClaimOutcome, LedgerError>) -> Decision {
    match outcome {
        Ok(ClaimOutcome::Granted { .. } | ClaimOutcome::Retried) => Decision::Forward(claim.forward.clone()),
        Ok(ClaimOutcome::Exhausted(used)) => Decision::Deny(DenyReason::AlreadyUsed { first_used_at: used.first_used_at }),
        Ok(ClaimOutcome::Revoked) => Decision::Deny(DenyReason::Revoked),
        Err(error) => {
            tracing::error!(%error, request_id = %claim.use_claim.request_id, "ledger failed; denying (fail closed)");
            Decision::Deny(DenyReason::LedgerUnavailable)
        }
    }
}

/// All five phases, for callers that hold the configuration and a ledger.
pub async fn decide(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, ledger: &dyn Ledger, now: SystemTime) -> Decision {
    match precheck(request, policy, config, now) {
        Precheck::Deny(reason) => Decision::Deny(reason),
        Precheck::ForwardWithoutUse(forward) => Decision::Forward(forward),
        Precheck::Preview => Decision::Preview,
        Precheck::Claim(claim) => {
            // A resumed download (Range, same client, inside the window) passes without a use.
            if claim.grace.is_some() {
                match ledger.lookup(&claim.use_claim.key).await {
                    Ok(Some(state)) if within_grace(&state, &claim, now) => return Decision::Forward(claim.forward),
                    Ok(_) => {}
                    Err(error) => return settle(&claim, Err(error)),
                }
            }
            let outcome = ledger.claim(&claim.use_claim).await;
            settle(&claim, outcome)
        }
    }
}
