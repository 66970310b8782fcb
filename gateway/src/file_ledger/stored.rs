//! The on-disk form of a [`LinkRecord`]: JSON, times as Unix milliseconds. Fields added later
//! default when absent, so older files keep opening.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oncelink::ledger::{ClientHint, Delivery, LedgerError, LinkRecord, TrailEntry, TrailOutcome};
use serde::{Deserialize, Serialize};

/// A name (a request id for a hold, a fingerprint for a client in flight) and an instant.
#[derive(Debug, Serialize, Deserialize)]
struct StoredHold<S> {
    request_id: S,
    until_ms: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredDelivery<S> {
    request_id: S,
    at_ms: u64,
    bytes: u64,
    complete: bool,
    #[serde(default)]
    resume: bool,
}

/// One trail entry; the outcome as its label.
#[derive(Debug, Serialize, Deserialize)]
struct StoredTrail<S> {
    request_id: S,
    at_ms: u64,
    outcome: S,
    network: S,
    agent: S,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored<S> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_used_at_ms: Option<u64>,
    uses: u32,
    #[serde(default)]
    request_ids: Vec<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<S>,
    #[serde(default)]
    revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retain_until_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    holds: Vec<StoredHold<S>>,
    #[serde(default)]
    resumes: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    completed: Vec<S>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    deliveries: Vec<StoredDelivery<S>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    in_flight: Vec<StoredHold<S>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tag: Option<S>,
    #[serde(default)]
    max_uses: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    trail: Vec<StoredTrail<S>>,
    #[serde(default)]
    refusals: u32,
}

pub fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The record as JSON; the strings are borrowed from it, not copied.
pub fn encode(r: &LinkRecord) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Stored::<&str> {
        first_used_at_ms: r.first_used_at.map(ms),
        uses: r.uses,
        request_ids: r.request_ids.iter().map(String::as_str).collect(),
        fingerprint: r.fingerprint.as_deref(),
        revoked: r.revoked,
        revoked_at_ms: r.revoked_at.map(ms),
        retain_until_ms: r.retain_until.map(ms),
        holds: r.holds.iter().map(|(request_id, until)| StoredHold { request_id: request_id.as_str(), until_ms: ms(*until) }).collect(),
        resumes: r.resumes,
        completed: r.completed.iter().map(String::as_str).collect(),
        in_flight: r
            .in_flight
            .iter()
            .map(|(fingerprint, until)| StoredHold { request_id: fingerprint.as_str(), until_ms: ms(*until) })
            .collect(),
        deliveries: r
            .deliveries
            .iter()
            .map(|d| StoredDelivery {
                request_id: d.request_id.as_str(),
                at_ms: ms(d.at),
                bytes: d.bytes,
                complete: d.complete,
                resume: d.resume,
            })
            .collect(),
        tag: r.tag.as_deref(),
        max_uses: r.max_uses,
        trail: r
            .trail
            .iter()
            .map(|e| StoredTrail {
                request_id: e.request_id.as_str(),
                at_ms: ms(e.at),
                outcome: e.outcome.label(),
                network: e.client.network.as_str(),
                agent: e.client.agent.as_str(),
            })
            .collect(),
        refusals: r.refusals,
    })
}

pub fn decode(raw: &[u8]) -> Result<LinkRecord, LedgerError> {
    let s: Stored<String> = serde_json::from_slice(raw).map_err(|e| LedgerError::Corrupt(format!("file ledger record: {e}")))?;
    Ok(LinkRecord {
        first_used_at: s.first_used_at_ms.map(from_ms),
        uses: s.uses,
        request_ids: s.request_ids,
        fingerprint: s.fingerprint,
        revoked: s.revoked,
        revoked_at: s.revoked_at_ms.map(from_ms),
        retain_until: s.retain_until_ms.map(from_ms),
        holds: s.holds.into_iter().map(|h| (h.request_id, from_ms(h.until_ms))).collect(),
        resumes: s.resumes,
        completed: s.completed,
        in_flight: s.in_flight.into_iter().map(|h| (h.request_id, from_ms(h.until_ms))).collect(),
        deliveries: s
            .deliveries
            .into_iter()
            .map(|d| Delivery { request_id: d.request_id, at: from_ms(d.at_ms), bytes: d.bytes, complete: d.complete, resume: d.resume })
            .collect(),
        tag: s.tag,
        max_uses: s.max_uses,
        trail: s
            .trail
            .into_iter()
            .map(|e| TrailEntry {
                request_id: e.request_id,
                at: from_ms(e.at_ms),
                outcome: TrailOutcome::from_label(&e.outcome),
                client: ClientHint { network: e.network, agent: e.agent },
            })
            .collect(),
        refusals: s.refusals,
    })
}
