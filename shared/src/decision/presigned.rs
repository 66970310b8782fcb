//! Phase 2 in presigned mode: the X-Amz-* shape, our `x-oncelink-*` policy parameters, and the
//! start of the validity window. The signature itself is the origin's to verify.

use std::time::{Duration, SystemTime};

use super::{DenyReason, EdgePolicy, Forward, Link};
use crate::ViewerRequest;
use crate::link::policy::{MAX_GRACE_SECONDS, MAX_USES};
use crate::link::{LinkId, LinkMethod};
use crate::presigned::{self, GRACE_PARAM, ShapeError, USES_PARAM};
use crate::query::Query;

pub(super) fn read(request: &ViewerRequest, policy: &EdgePolicy, now: SystemTime, path: String) -> Result<Link, DenyReason> {
    let query = Query::parse(&request.querystring).map_err(|e| DenyReason::MalformedLink(e.to_string()))?;
    let link = presigned::parse(&query).map_err(|e| match e {
        ShapeError::Missing => DenyReason::MissingSignature,
        other => DenyReason::MalformedLink(other.to_string()),
    })?;
    let method = match query.get("x-id") {
        None | Some("GetObject") => LinkMethod::Get,
        Some("PutObject") => LinkMethod::Put,
        Some(_) => return Err(DenyReason::MalformedLink("x-id is neither GetObject nor PutObject".into())),
    };
    if now + policy.clock_skew < link.signed_at {
        return Err(DenyReason::NotYetValid);
    }
    let max_uses = policy_number(&query, USES_PARAM, 1, u32::from(MAX_USES))?.unwrap_or(1);
    let grace = policy_number(&query, GRACE_PARAM, 0, MAX_GRACE_SECONDS)?.unwrap_or(0);
    Ok(Link {
        id: LinkId::for_signature(link.signature),
        method,
        expires_at: link.expires_at(),
        max_uses,
        grace: Duration::from_secs(grace.into()),
        // Presigned links cannot ask for a confirm page: the proof needs the edge's own key.
        confirm: false,
        filename: None,
        forward: Forward { path, querystring: request.querystring.clone() },
    })
}

/// A policy parameter: digits only, no leading zero, within `min..=max`.
fn policy_number(query: &Query, name: &str, min: u32, max: u32) -> Result<Option<u32>, DenyReason> {
    let Some(raw) = query.get(name) else { return Ok(None) };
    let canonical = !raw.is_empty() && raw.len() <= 6 && raw.bytes().all(|b| b.is_ascii_digit()) && (raw == "0" || !raw.starts_with('0'));
    match raw.parse::<u32>() {
        Ok(n) if canonical && (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(DenyReason::MalformedLink(format!("{name} must be a whole number in {min}..={max}"))),
    }
}
