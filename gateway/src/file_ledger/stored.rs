//! The on-disk form of a [`LinkRecord`]: JSON, times as Unix milliseconds. Fields added later
//! default when absent, so older files keep opening.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oncelink::ledger::{LedgerError, LinkRecord};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_used_at_ms: Option<u64>,
    uses: u32,
    #[serde(default)]
    request_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    #[serde(default)]
    revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retain_until_ms: Option<u64>,
}

pub fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

pub fn encode(r: &LinkRecord) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Stored {
        first_used_at_ms: r.first_used_at.map(ms),
        uses: r.uses,
        request_ids: r.request_ids.clone(),
        fingerprint: r.fingerprint.clone(),
        revoked: r.revoked,
        revoked_at_ms: r.revoked_at.map(ms),
        retain_until_ms: r.retain_until.map(ms),
    })
}

pub fn decode(raw: &[u8]) -> Result<LinkRecord, LedgerError> {
    let s: Stored = serde_json::from_slice(raw).map_err(|e| LedgerError::Corrupt(format!("file ledger record: {e}")))?;
    Ok(LinkRecord {
        first_used_at: s.first_used_at_ms.map(from_ms),
        uses: s.uses,
        request_ids: s.request_ids,
        fingerprint: s.fingerprint,
        revoked: s.revoked,
        revoked_at: s.revoked_at_ms.map(from_ms),
        retain_until: s.retain_until_ms.map(from_ms),
    })
}
