//! Phase 4 and the grace window: who is asking.
//!
//! * Link-preview bots and mail scanners (a User-Agent list from the configuration) get an empty
//!   answer and spend nothing.
//! * The client's fingerprint (a hash of IP and User-Agent, never stored in the clear) is kept
//!   with a link's first use, so that the same client may resume a download with `Range` inside
//!   the link's grace window without spending another use.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::Claim;
use crate::ViewerRequest;
use crate::ledger::LinkState;
use crate::time::unix_secs;

/// Does the User-Agent contain one of `agents` (lower case), case-insensitively?
pub fn is_preview_agent(request: &ViewerRequest, agents: &[String]) -> bool {
    let Some(user_agent) = request.header("user-agent") else { return false };
    let user_agent = user_agent.to_ascii_lowercase();
    agents.iter().any(|a| !a.is_empty() && user_agent.contains(a.as_str()))
}

/// Who is asking: a hash of client IP and User-Agent (never stored in the clear).
pub fn fingerprint(request: &ViewerRequest) -> String {
    let digest = Sha256::new()
        .chain_update(request.client_ip.as_deref().unwrap_or(""))
        .chain_update([0u8])
        .chain_update(request.header("user-agent").unwrap_or(""))
        .finalize();
    hex::encode(&digest[..16])
}

/// Does a Range request fall inside the grace window of the link's first use, by the same client?
pub fn within_grace(state: &LinkState, claim: &Claim, now: SystemTime) -> bool {
    let Some(grace) = claim.grace else { return false };
    let same_client = state.fingerprint.is_some() && state.fingerprint == claim.use_claim.fingerprint;
    let in_window = state.first_used_at.is_some_and(|first| unix_secs(now) < unix_secs(first) + grace.as_secs());
    !state.revoked && state.uses >= 1 && same_client && in_window
}
