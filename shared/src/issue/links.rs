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

/// What the ledger knows about a link: `{"link_id", "uses", "first_used_at", "revoked"}`.
pub async fn state(ledger: &dyn Ledger, id: &LinkId, request_id: &str) -> Result<String, IssueError> {
    let state = ledger.lookup(&LedgerKey::for_link(id)).await.map_err(|e| unavailable(e, request_id))?.unwrap_or_default();
    Ok(serde_json::json!({
        "link_id": id,
        "uses": state.uses,
        "first_used_at": state.first_used_at.map(rfc3339),
        "revoked": state.revoked,
    })
    .to_string())
}
