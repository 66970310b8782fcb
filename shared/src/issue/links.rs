//! The routes that read or change a link's ledger record: its state, and revocation.

use std::time::SystemTime;

use super::{IssueError, IssuerSettings};
use crate::ledger::{Ledger, LedgerError, LedgerKey};
use crate::link::{self, LinkId};
use crate::time::rfc3339;

fn unavailable(error: LedgerError, request_id: &str) -> IssueError {
    tracing::error!(%error, request_id, "ledger unavailable");
    IssueError::LedgerUnavailable
}

/// Revokes a link: later uses get `403 link_revoked`. The record must outlive any link this
/// deployment could have issued, so a new one is kept for the longest lifetime plus the margin.
pub async fn revoke(
    settings: &IssuerSettings,
    ledger: &dyn Ledger,
    id: &LinkId,
    now: SystemTime,
    request_id: &str,
) -> Result<String, IssueError> {
    let retain_until = link::retain_until(now + settings.max_expires);
    ledger.revoke(&LedgerKey::for_link(id), now, retain_until).await.map_err(|e| unavailable(e, request_id))?;
    Ok(serde_json::json!({"link_id": id, "revoked": true}).to_string())
}

/// Keeps the tag of a link being issued. Like a revocation, the record is kept for the longest
/// lifetime this deployment issues, plus the margin.
pub async fn tag(
    settings: &IssuerSettings,
    ledger: &dyn Ledger,
    id: &LinkId,
    tag: &str,
    now: SystemTime,
    request_id: &str,
) -> Result<(), IssueError> {
    let retain_until = link::retain_until(now + settings.max_expires);
    ledger.tag(&LedgerKey::for_link(id), tag, retain_until).await.map_err(|e| unavailable(e, request_id))
}

/// What the ledger knows about a link: `{"link_id", "tag", "uses", "max_uses", "in_flight",
/// "first_used_at", "revoked", "resumes", "refusals", "deliveries": [{"request_id", "at",
/// "bytes", "complete", "resume"}], "trail": [{"request_id", "at", "outcome", "network",
/// "agent", "bytes"?}]}`. `uses` counts the uses granted, `in_flight` those of them still held
/// while an origin is asked; `deliveries` (known to the gateway, oldest first) say what each use
/// and resume sent; `trail` (oldest first) is every use, resume and the first refusals
/// ([`crate::ledger::trail`]), with the bytes its request delivered where that is known, and
/// `refusals` counts every refusal. A link nothing happened to reads as unused.
pub async fn state(ledger: &dyn Ledger, id: &LinkId, now: SystemTime, request_id: &str) -> Result<String, IssueError> {
    let mut state = ledger.lookup(&LedgerKey::for_link(id)).await.map_err(|e| unavailable(e, request_id))?.unwrap_or_default();
    state.deliveries.sort_by(|a, b| (a.at, &a.request_id).cmp(&(b.at, &b.request_id)));
    let deliveries: Vec<_> = state
        .deliveries
        .iter()
        .map(|d| serde_json::json!({"request_id": d.request_id, "at": rfc3339(d.at), "bytes": d.bytes, "complete": d.complete, "resume": d.resume}))
        .collect();
    let trail: Vec<_> = state
        .trail
        .iter()
        .map(|e| {
            let mut entry = serde_json::json!({
                "request_id": e.request_id,
                "at": rfc3339(e.at),
                "outcome": e.outcome.label(),
                "network": e.client.network,
                "agent": e.client.agent,
            });
            if let Some(delivered) = state.deliveries.iter().find(|d| d.request_id == e.request_id) {
                entry["bytes"] = delivered.bytes.into();
                entry["complete"] = delivered.complete.into();
            }
            entry
        })
        .collect();
    Ok(serde_json::json!({
        "link_id": id,
        "tag": state.tag,
        "uses": state.live_uses(now),
        "max_uses": (state.max_uses > 0).then_some(state.max_uses),
        "in_flight": state.holds.iter().filter(|until| **until > now).count(),
        "first_used_at": state.first_used_at.map(rfc3339),
        "revoked": state.revoked,
        "resumes": state.resumes,
        "refusals": state.refusals,
        "deliveries": deliveries,
        "trail": trail,
    })
    .to_string())
}
