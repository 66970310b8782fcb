//! Phase 4b: confirm. A confirm link is spent by a person's click, never by a visit.
//!
//! ```text
//! POST (the click)         ─► from the link's own page? ─► 303 + proof (nothing spent) | 403 confirm_cross_site
//! GET / HEAD               ─► a valid proof, on the click's follow-up? ─► phase 5 (the use is spent now) | the page
//! OPTIONS (a preflight)    ─► phase 5's look, as for any link
//! ```
//!
//! Preview bots and prefetches were answered in phase 4 already. The page, the click's answer
//! and the proof are [`crate::confirm`]'s; this phase only decides which one a request gets.

use std::time::SystemTime;

use super::{DenyReason, EdgePolicy, Link};
use crate::ViewerRequest;
use crate::config::EdgeConfig;
use crate::confirm::{self, ConfirmStep, MAX_CLICK_BODY_BYTES, proof};
use crate::link::LinkId;

/// The confirm step for `request` on a confirm `link`, or `None` when it goes on to phase 5.
pub(super) fn step(
    request: &ViewerRequest,
    policy: &EdgePolicy,
    config: &EdgeConfig,
    link: &Link,
    now: SystemTime,
) -> Result<Option<ConfirmStep>, DenyReason> {
    let keys = config.keys.as_ref().ok_or(DenyReason::ConfigUnavailable)?;
    let target = format!("{}?{}", request.uri, request.querystring);
    match request.method.as_str() {
        "POST" => {
            if !confirm::from_own_page(request, policy.viewer_https) {
                return Err(DenyReason::ConfirmCrossSite);
            }
            let proof = proof::mint(keys, &link.id, now);
            Ok(Some(ConfirmStep::Clicked { link: target, path: request.uri.clone(), proof, secure: policy.viewer_https }))
        }
        "GET" | "HEAD" if !proven(request, keys, &link.id, now) => {
            Ok(Some(ConfirmStep::Page { link: target, filename: link.filename.clone() }))
        }
        _ => Ok(None),
    }
}

/// Does the request carry a valid proof for this link, on the click's follow-up?
fn proven(request: &ViewerRequest, keys: &crate::sealed::KeySet, link: &LinkId, now: SystemTime) -> bool {
    confirm::follows_the_click(request) && confirm::proofs(request).any(|value| proof::verify(value, keys, link, now).is_ok())
}

/// A click's body: none, or a small form (`Content-Length` up to [`MAX_CLICK_BODY_BYTES`]); never
/// chunked. It is never read, and never reaches the origin.
pub(super) fn small_body(request: &ViewerRequest) -> bool {
    request.headers.iter().all(|(name, value)| match name.as_str() {
        "content-length" => value.trim().parse::<u64>().is_ok_and(|n| n <= MAX_CLICK_BODY_BYTES),
        "transfer-encoding" => false,
        _ => true,
    })
}
