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

/// What the ledger knows about a link: `{"link_id", "uses", "in_flight", "first_used_at",
/// "revoked", "resumes", "deliveries": [{"request_id", "at", "bytes", "complete", "resume"}]}`.
/// `uses` counts the uses granted, `in_flight` those of them still held while an origin is
/// asked; `deliveries` (known to the gateway, oldest first) say what each use and resume sent.
pub async fn state(ledger: &dyn Ledger, id: &LinkId, now: SystemTime, request_id: &str) -> Result<String, IssueError> {
    let mut state = ledger.lookup(&LedgerKey::for_link(id)).await.map_err(|e| unavailable(e, request_id))?.unwrap_or_default();
    state.deliveries.sort_by(|a, b| (a.at, &a.request_id).cmp(&(b.at, &b.request_id)));
    let deliveries: Vec<_> = state
        .deliveries
        .iter()
        .map(|d| serde_json::json!({"request_id": d.request_id, "at": rfc3339(d.at), "bytes": d.bytes, "complete": d.complete, "resume": d.resume}))
        .collect();
    Ok(serde_json::json!({
        "link_id": id,
        "uses": state.live_uses(now),
        "in_flight": state.holds.iter().filter(|until| **until > now).count(),
        "first_used_at": state.first_used_at.map(rfc3339),
        "revoked": state.revoked,
        "resumes": state.resumes,
        "deliveries": deliveries,
    })
    .to_string())
}
