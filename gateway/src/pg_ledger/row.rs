//! Reading rows into the core's types, and the conversions of times and counts.

use std::collections::HashMap;
use std::time::SystemTime;

use oncelink::ledger::{ClaimOutcome, ClientHint, Delivery, LedgerError, LinkRecord, TrailEntry, TrailOutcome, UseClaim, UsedLink};
use oncelink::time::{from_unix_secs, unix_secs};
use serde::Deserialize;
use tokio_postgres::Row;

/// A time as stored: Unix seconds.
pub fn secs(t: SystemTime) -> i64 {
    i64::try_from(unix_secs(t)).unwrap_or(i64::MAX)
}

fn time(secs: i64) -> SystemTime {
    from_unix_secs(u64::try_from(secs).unwrap_or(0))
}

/// A count as stored (`integer`).
pub fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn number(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn corrupt(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Corrupt(format!("postgres ledger row: {e}"))
}

/// The number a granting statement returned (`RETURNING uses` / `resumes`).
pub fn returned_number(row: &Row) -> Result<u32, LedgerError> {
    row.try_get::<_, i32>(0).map(number).map_err(corrupt)
}

/// Why a claim was refused, from the [`super::sql::CLASSIFY`] row; `None`: it was not (the row
/// changed after the refusal), so the claim is written again.
pub fn refusal(row: &Row, claim: &UseClaim) -> Result<Option<ClaimOutcome>, LedgerError> {
    let revoked: bool = row.try_get("revoked").map_err(corrupt)?;
    let own: bool = row.try_get("own").map_err(corrupt)?;
    let uses = number(row.try_get("uses").map_err(corrupt)?);
    let lapsed: bool = row.try_get("lapsed").map_err(corrupt)?;
    Ok(if revoked {
        Some(ClaimOutcome::Revoked)
    } else if own {
        Some(ClaimOutcome::Retried)
    } else if uses >= claim.max_uses && !lapsed {
        let first: Option<i64> = row.try_get("first_used_at").map_err(corrupt)?;
        Some(ClaimOutcome::Exhausted(UsedLink {
            first_used_at: first.map_or(claim.at, time),
            uses,
            fingerprint: row.try_get("fingerprint").map_err(corrupt)?,
        }))
    } else {
        None
    })
}

#[derive(Deserialize)]
struct StoredDelivery {
    at: i64,
    bytes: u64,
    complete: bool,
    resume: bool,
}

fn json<T: for<'de> Deserialize<'de>>(row: &Row, column: usize) -> Result<T, LedgerError> {
    let text: String = row.try_get(column).map_err(corrupt)?;
    serde_json::from_str(&text).map_err(corrupt)
}

#[derive(Deserialize)]
struct StoredTrail {
    at: i64,
    outcome: String,
    network: String,
    agent: String,
}

/// A trail entry as stored in the `trail` column (the request id is its key there), as JSON text.
pub fn trail_json(entry: &TrailEntry) -> String {
    serde_json::json!({
        "at": secs(entry.at),
        "outcome": entry.outcome.label(),
        "network": entry.client.network,
        "agent": entry.client.agent,
    })
    .to_string()
}

/// The [`super::sql::LOOKUP`] row as the whole record (the state every ledger reports is its
/// [`LinkRecord::state`]).
pub fn record(row: &Row) -> Result<LinkRecord, LedgerError> {
    let first: Option<i64> = row.try_get(0).map_err(corrupt)?;
    let retain: Option<i64> = row.try_get(4).map_err(corrupt)?;
    let revoked_at: Option<i64> = row.try_get(11).map_err(corrupt)?;
    let holds: HashMap<String, i64> = json(row, 5)?;
    let in_flight: HashMap<String, i64> = json(row, 8)?;
    let deliveries: HashMap<String, StoredDelivery> = json(row, 9)?;
    let trail: HashMap<String, StoredTrail> = json(row, 14)?;
    let mut record = LinkRecord {
        first_used_at: first.map(time),
        uses: number(row.try_get(1).map_err(corrupt)?),
        request_ids: row.try_get(10).map_err(corrupt)?,
        holds: holds.into_iter().map(|(request_id, until)| (request_id, time(until))).collect(),
        fingerprint: row.try_get(2).map_err(corrupt)?,
        revoked: row.try_get(3).map_err(corrupt)?,
        revoked_at: revoked_at.map(time),
        retain_until: retain.map(time),
        resumes: number(row.try_get(6).map_err(corrupt)?),
        completed: row.try_get(7).map_err(corrupt)?,
        in_flight: in_flight.into_iter().map(|(fingerprint, until)| (fingerprint, time(until))).collect(),
        deliveries: deliveries
            .into_iter()
            .map(|(request_id, d)| Delivery { request_id, at: time(d.at), bytes: d.bytes, complete: d.complete, resume: d.resume })
            .collect(),
        tag: row.try_get(12).map_err(corrupt)?,
        max_uses: number(row.try_get(13).map_err(corrupt)?),
        trail: trail
            .into_iter()
            .map(|(request_id, e)| TrailEntry {
                request_id,
                at: time(e.at),
                outcome: TrailOutcome::from_label(&e.outcome),
                client: ClientHint { network: e.network, agent: e.agent },
            })
            .collect(),
        refusals: number(row.try_get(15).map_err(corrupt)?),
    };
    // JSON objects come in no particular order; the record keeps its lists in a stable one.
    record.holds.sort();
    record.in_flight.sort();
    record.trail.sort_by(|a, b| (a.at, &a.request_id).cmp(&(b.at, &b.request_id)));
    Ok(record)
}
