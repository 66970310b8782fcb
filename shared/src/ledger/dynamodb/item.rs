//! The ledger item's attribute names, and reading and writing its values.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::ledger::{ClaimOutcome, ClientHint, Delivery, LedgerError, LinkRecord, TrailEntry, TrailOutcome, UseClaim, UsedLink};
use crate::time::{from_unix_secs, unix_secs};

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const TTL_ATTRIBUTE: &str = "expires_at";
pub const FIRST_USED_AT: &str = "first_used_at";
pub const USES: &str = "uses";
pub const REQUEST_IDS: &str = "request_ids";
pub const FINGERPRINT: &str = "fingerprint";
pub const REVOKED: &str = "revoked";
pub const REVOKED_AT: &str = "revoked_at";
pub const RESUMES: &str = "resumes";
pub const COMPLETED: &str = "completed";
/// `hold:<request id>`: a held use.
pub const HOLD_PREFIX: &str = "hold:";
/// `delivery:<request id>`: what one use or resume delivered.
pub const DELIVERY_PREFIX: &str = "delivery:";
/// `inflight:<fingerprint>`: until when a client has a request in flight.
pub const IN_FLIGHT_PREFIX: &str = "inflight:";
/// `trail:<request id>`: one entry of the link's trail.
pub const TRAIL_PREFIX: &str = "trail:";
pub const MAX_USES: &str = "max_uses";
pub const TAG: &str = "tag";
pub const REFUSALS: &str = "refusals";

pub(super) fn hold_name(request_id: &str) -> String {
    format!("{HOLD_PREFIX}{request_id}")
}

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

pub(super) fn string_set<'a>(item: &'a Item, name: &str) -> &'a [String] {
    match item.get(name) {
        Some(AttributeValue::Ss(values)) => values,
        _ => &[],
    }
}

pub(super) fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(super) fn unavailable<E: std::error::Error + 'static>(error: E) -> LedgerError {
    LedgerError::Unavailable(DisplayErrorContext(&error).to_string())
}

pub(super) fn exhausted(old: &Item, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
    let first_used_at = number(old, FIRST_USED_AT).map_or(claim.at, from_unix_secs);
    let uses = number(old, USES).unwrap_or(0);
    Ok(ClaimOutcome::Exhausted(UsedLink {
        first_used_at,
        uses: u32::try_from(uses).unwrap_or(u32::MAX),
        fingerprint: text(old, FINGERPRINT),
    }))
}

/// Reads an item into the whole record (the state every ledger reports is its
/// [`LinkRecord::state`]; the events of a change compare two records).
pub fn record(item: &Item) -> LinkRecord {
    let count = |name: &str| number(item, name).map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX));
    let mut record = LinkRecord {
        first_used_at: number(item, FIRST_USED_AT).map(from_unix_secs),
        uses: count(USES),
        request_ids: string_set(item, REQUEST_IDS).to_vec(),
        fingerprint: text(item, FINGERPRINT),
        revoked: matches!(item.get(REVOKED), Some(AttributeValue::Bool(true))),
        revoked_at: number(item, REVOKED_AT).map(from_unix_secs),
        retain_until: number(item, TTL_ATTRIBUTE).map(from_unix_secs),
        resumes: count(RESUMES),
        completed: string_set(item, COMPLETED).to_vec(),
        tag: text(item, TAG),
        max_uses: count(MAX_USES),
        refusals: count(REFUSALS),
        ..LinkRecord::default()
    };
    for (name, value) in item {
        if let (Some(fingerprint), AttributeValue::N(until)) = (name.strip_prefix(IN_FLIGHT_PREFIX), value) {
            record.in_flight.push((fingerprint.to_owned(), from_unix_secs(until.parse().unwrap_or(0))));
        }
        if let (Some(request_id), AttributeValue::N(until)) = (name.strip_prefix(HOLD_PREFIX), value) {
            record.holds.push((request_id.to_owned(), from_unix_secs(until.parse().unwrap_or(0))));
        }
        if let (Some(request_id), AttributeValue::M(fields)) = (name.strip_prefix(DELIVERY_PREFIX), value) {
            let flag = |name: &str| matches!(fields.get(name), Some(AttributeValue::Bool(true)));
            record.deliveries.push(Delivery {
                request_id: request_id.to_owned(),
                at: from_unix_secs(number(fields, "at").unwrap_or(0)),
                bytes: number(fields, "bytes").unwrap_or(0),
                complete: flag("complete"),
                resume: flag("resume"),
            });
        }
        if let (Some(request_id), AttributeValue::M(fields)) = (name.strip_prefix(TRAIL_PREFIX), value) {
            record.trail.push(TrailEntry {
                request_id: request_id.to_owned(),
                at: from_unix_secs(number(fields, "at").unwrap_or(0)),
                outcome: TrailOutcome::from_label(text(fields, "outcome").as_deref().unwrap_or("")),
                client: ClientHint {
                    network: text(fields, "network").unwrap_or_default(),
                    agent: text(fields, "agent").unwrap_or_default(),
                },
            });
        }
    }
    // Attributes come in no particular order; the record keeps its lists in a stable one.
    record.holds.sort();
    record.in_flight.sort();
    record.trail.sort_by(|a, b| (a.at, &a.request_id).cmp(&(b.at, &b.request_id)));
    record
}

/// The `trail:<request id>` attribute's name.
pub(super) fn trail_name(request_id: &str) -> String {
    format!("{TRAIL_PREFIX}{request_id}")
}

/// A trail entry as stored (the request id is in the attribute's name).
pub(super) fn trail_value(entry: &TrailEntry) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("at".to_owned(), n(unix_secs(entry.at))),
        ("outcome".to_owned(), s(entry.outcome.label())),
        ("network".to_owned(), s(&entry.client.network)),
        ("agent".to_owned(), s(&entry.client.agent)),
    ]))
}
