//! Phase 4 and the grace window: who is asking.
//!
//! * Link-preview bots and mail scanners (a User-Agent list from the configuration) get an empty
//!   answer to a GET and spend nothing. Known desktop clients of people ([`PERSON_AGENTS`]: Teams,
//!   Slack and Outlook desktop, any Electron app) are people even when their User-Agent also
//!   names a product a bot list matches; an upload (PUT) is never a preview.
//! * Browser prefetches (`Sec-Purpose: prefetch`, `Purpose: prefetch`, …) are refused: only
//!   a navigation a person makes may spend a link.
//! * The client's fingerprint (a hash of IP and User-Agent, never stored in the clear) is kept
//!   with a link's first use, so that the same client may resume a download with `Range` inside
//!   the resume window without spending another use.

use sha2::{Digest, Sha256};

use crate::{ViewerRequest, words};

/// User-Agent substrings (lower case) of desktop clients people use: never previews.
pub const PERSON_AGENTS: &[&str] = &["electron/", "teams/", "slack/", "slack_ssb", "microsoft outlook"];

/// Is this a link-preview bot: a User-Agent containing one of `agents` (lower case,
/// case-insensitively) and none of [`PERSON_AGENTS`]?
pub fn is_preview_agent(request: &ViewerRequest, agents: &[String]) -> bool {
    let Some(user_agent) = request.header("user-agent") else { return false };
    !words::contains_any(user_agent, PERSON_AGENTS) && words::contains_any(user_agent, agents)
}

/// Is this a speculative fetch by a browser (prefetch or prerender) rather than a navigation?
pub fn is_prefetch(request: &ViewerRequest) -> bool {
    let says = |name: &str, word: &str| {
        request.headers.iter().any(|(n, v)| n == name && v.split([';', ',']).any(|part| part.trim().eq_ignore_ascii_case(word)))
    };
    says("sec-purpose", "prefetch")
        || says("sec-purpose", "prerender")
        || says("purpose", "prefetch")
        || says("x-purpose", "prefetch")
        || says("x-purpose", "preview")
        || says("x-moz", "prefetch")
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
