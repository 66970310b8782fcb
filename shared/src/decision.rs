//! The edge decision, as named phases of one pure function.
//!
//! ```text
//!  viewer request ──► 1 method ──► 2 shape ──► 3 window ──► 4 ledger ──► forward / deny
//!                     policy       (path,       (X-Amz-Date  (one atomic
//!                                  X-Amz-*)     + Expires)   write)
//! ```
//!
//! Phases 1–3 are [`precheck`]: pure, no I/O, cheap; they run before anything is spent, so an
//! expired, tampered or malformed request can never burn a link. Phase 4 is the ledger call,
//! done by the caller (the Lambda function or the gateway) through the [`Ledger`] port, and its
//! answer is turned into the final [`Decision`] by [`settle`], again pure.
//! [`decide`] glues the phases for callers that hold a ledger.
//!
//! [`Ledger`]: crate::ledger::Ledger

use std::time::{Duration, SystemTime};

use crate::encoding::{KEY_PATH, decode_canonical};
use crate::ledger::{ClaimOutcome, Ledger, LedgerError, LedgerKey, UseClaim};
use crate::presigned::{self, ShapeError};
use crate::query::Query;
use crate::response::DenyReason;

/// Knobs of the decision that are not per link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgePolicy {
    /// How far the edge's clock may lag the issuer's: a link dated up to this far in the future
    /// is accepted.
    pub clock_skew: Duration,
    /// How long a ledger record outlives its link (the TTL is link expiry + this margin).
    pub retention_margin: Duration,
}

impl Default for EdgePolicy {
    fn default() -> Self {
        Self { clock_skew: Duration::from_secs(60), retention_margin: Duration::from_secs(24 * 3600) }
    }
}

/// What phases 1–3 conclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    /// Refuse now; the ledger is not touched.
    Deny(DenyReason),
    /// A request that never consumes a use (HEAD, OPTIONS): forward without a ledger write.
    ForwardWithoutUse,
    /// A valid-looking consuming request: forward only if the ledger records it as the first use.
    Claim(UseClaim),
}

/// The final answer for a viewer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the request continue to the origin, unchanged.
    Forward,
    /// Answer with an error; the origin never sees the request.
    Deny(DenyReason),
}

/// Phases 1–3: method policy, link shape, validity window.
pub fn precheck(request: &crate::ViewerRequest, policy: &EdgePolicy, now: SystemTime) -> Precheck {
    match precheck_inner(request, policy, now) {
        Ok(p) => p,
        Err(reason) => Precheck::Deny(reason),
    }
}

fn precheck_inner(request: &crate::ViewerRequest, policy: &EdgePolicy, now: SystemTime) -> Result<Precheck, DenyReason> {
    // Phase 1: method policy. Only GET (download) and PUT (upload) spend a use. OPTIONS is a
    // CORS preflight and carries no credentials: S3 answers it from the bucket's CORS rules.
    let (consumes, operation) = match request.method.as_str() {
        "GET" => (true, "GetObject"),
        "PUT" => (true, "PutObject"),
        "HEAD" => (false, "GetObject"),
        "OPTIONS" => return Ok(Precheck::ForwardWithoutUse),
        _ => return Err(DenyReason::MethodNotAllowed),
    };

    // Phase 2: shape. The path and every parameter must have exactly one reading.
    check_path(&request.uri)?;
    let query = Query::parse(&request.querystring).map_err(|e| DenyReason::MalformedLink(e.to_string()))?;
    let link = presigned::parse(&query).map_err(|e| match e {
        ShapeError::Missing => DenyReason::MissingSignature,
        other => DenyReason::MalformedLink(other.to_string()),
    })?;
    if let Some(x_id) = query.get("x-id")
        && x_id != operation
    {
        return Err(DenyReason::MalformedLink(format!("the link is for {x_id}, not {}", request.method)));
    }

    // Phase 3: validity window, [X-Amz-Date - skew, X-Amz-Date + X-Amz-Expires).
    if now + policy.clock_skew < link.signed_at {
        return Err(DenyReason::NotYetValid);
    }
    let expires_at = link.expires_at();
    if now >= expires_at {
        return Err(DenyReason::Expired);
    }

    if !consumes {
        return Ok(Precheck::ForwardWithoutUse);
    }
    Ok(Precheck::Claim(UseClaim {
        key: LedgerKey::for_signature(link.signature),
        request_id: request.request_id.clone(),
        at: now,
        retain_until: expires_at + policy.retention_margin,
        max_uses: 1,
        fingerprint: None,
    }))
}

/// The path must be `/` + a canonically encoded object key with no empty, `.` or `..`
/// segments: those are exactly what HTTP clients and CDNs "normalise" on the way.
fn check_path(uri: &str) -> Result<(), DenyReason> {
    let bad = |why: &str| DenyReason::BadPath(why.to_owned());
    let encoded = uri.strip_prefix('/').ok_or_else(|| bad("the path does not start with '/'"))?;
    if encoded.is_empty() {
        return Err(bad("no object key in the path"));
    }
    let key = decode_canonical(encoded, KEY_PATH).map_err(|e| bad(&format!("path: {e}")))?;
    if key.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return Err(bad("empty, '.' or '..' path segment"));
    }
    Ok(())
}

/// Phase 4's verdict: turns the ledger's answer into the final decision. Fails closed.
pub fn settle(outcome: Result<ClaimOutcome, LedgerError>) -> Decision {
    match outcome {
        Ok(ClaimOutcome::Granted { .. } | ClaimOutcome::Retried) => Decision::Forward,
        Ok(ClaimOutcome::Exhausted(used)) => Decision::Deny(DenyReason::AlreadyUsed { first_used_at: used.first_used_at }),
        Ok(ClaimOutcome::Revoked) => Decision::Deny(DenyReason::Revoked),
        Err(error) => {
            tracing::error!(%error, "ledger failed; denying (fail closed)");
            Decision::Deny(DenyReason::LedgerUnavailable)
        }
    }
}

/// All four phases, for callers that already hold a ledger.
pub async fn decide(request: &crate::ViewerRequest, policy: &EdgePolicy, ledger: &dyn Ledger, now: SystemTime) -> Decision {
    match precheck(request, policy, now) {
        Precheck::Deny(reason) => Decision::Deny(reason),
        Precheck::ForwardWithoutUse => Decision::Forward,
        Precheck::Claim(claim) => settle(ledger.claim(&claim).await),
    }
}
