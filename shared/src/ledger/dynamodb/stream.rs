//! The ledger table's DynamoDB Stream, read into events: one stream record (as Lambda hands it
//! over, and as `GetRecords` returns it) is one write to one item, with its old and new images
//! (`NEW_AND_OLD_IMAGES`). Both images become [`LinkRecord`]s by the same reading as a lookup
//! ([`super::record`]), and [`crate::events::changes`] says what the write meant.
//!
//! ```json
//! {"eventID": "…", "eventName": "MODIFY",
//!  "dynamodb": {"SequenceNumber": "…", "Keys": {"pk": {"S": "link:…"}},
//!               "OldImage": {"uses": {"N": "0"}, …}, "NewImage": {"uses": {"N": "1"}, …}}}
//! ```
//! Images are in DynamoDB's JSON form (`{"S": …}`, `{"N": …}`, `{"SS": […]}`, `{"M": {…}}`, …).
//! A `REMOVE` (the TTL deleting an expired record) tells of nothing; an item that is not a link's
//! record is not read.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::item::{Item, PK, record};
use crate::events::{Event, changes};
use crate::ledger::LedgerKey;

/// Why a stream record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("stream record without dynamodb.SequenceNumber")]
    NoSequenceNumber,
    #[error("stream record {0}: unreadable {1}")]
    Unreadable(String, &'static str),
}

/// What one stream record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRecord {
    /// Its position in the shard: what Lambda's partial batch response names.
    pub sequence_number: String,
    /// The events of the write it describes (none for a removal or a write that meant nothing).
    pub events: Vec<Event>,
}

/// Reads one stream record.
pub fn read(raw: &Value) -> Result<StreamRecord, StreamError> {
    let change = &raw["dynamodb"];
    let sequence_number = change["SequenceNumber"].as_str().ok_or(StreamError::NoSequenceNumber)?.to_owned();
    let unreadable = |what| StreamError::Unreadable(sequence_number.clone(), what);
    let keys = image(&change["Keys"]).ok_or_else(|| unreadable("Keys"))?;
    let key = match keys.get(PK) {
        Some(AttributeValue::S(pk)) if pk.starts_with("link:") => LedgerKey::from_stored(pk.as_str()),
        _ => return Ok(StreamRecord { sequence_number, events: Vec::new() }),
    };
    if raw["eventName"].as_str() == Some("REMOVE") {
        return Ok(StreamRecord { sequence_number, events: Vec::new() });
    }
    let old = match &change["OldImage"] {
        Value::Null => Item::new(),
        value => image(value).ok_or_else(|| unreadable("OldImage"))?,
    };
    let new = image(&change["NewImage"]).ok_or_else(|| unreadable("NewImage"))?;
    Ok(StreamRecord { events: changes(&key, &record(&old), &record(&new)), sequence_number })
}

/// An image (a map of attribute names to DynamoDB JSON values).
fn image(value: &Value) -> Option<Item> {
    value.as_object()?.iter().map(|(name, value)| Some((name.clone(), attribute(value)?))).collect()
}

/// One attribute value in DynamoDB JSON (`{"S": "a"}`, `{"N": "1"}`, …); `None` if it is not one.
pub fn attribute(value: &Value) -> Option<AttributeValue> {
    let object = value.as_object()?;
    let (kind, inner) = object.iter().next().filter(|_| object.len() == 1)?;
    let strings = || inner.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>();
    let blob = |v: &Value| STANDARD.decode(v.as_str()?).ok().map(Blob::new);
    Some(match kind.as_str() {
        "S" => AttributeValue::S(inner.as_str()?.to_owned()),
        "N" => AttributeValue::N(inner.as_str()?.to_owned()),
        "BOOL" => AttributeValue::Bool(inner.as_bool()?),
        "NULL" => AttributeValue::Null(inner.as_bool()?),
        "SS" => AttributeValue::Ss(strings()?),
        "NS" => AttributeValue::Ns(strings()?),
        "B" => AttributeValue::B(blob(inner)?),
        "BS" => AttributeValue::Bs(inner.as_array()?.iter().map(blob).collect::<Option<Vec<_>>>()?),
        "L" => AttributeValue::L(inner.as_array()?.iter().map(attribute).collect::<Option<Vec<_>>>()?),
        "M" => {
            AttributeValue::M(inner.as_object()?.iter().map(|(k, v)| Some((k.clone(), attribute(v)?))).collect::<Option<HashMap<_, _>>>()?)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn trail(outcome: &str, at: &str) -> Value {
        json!({"M": {"at": {"N": at}, "outcome": {"S": outcome}, "network": {"S": "198.51.100.0/24"}, "agent": {"S": "curl"}}})
    }

    #[test]
    fn a_first_use_at_the_edge_reads_as_used_and_exhausted() {
        let record = json!({
            "eventID": "1", "eventName": "MODIFY",
            "dynamodb": {
                "SequenceNumber": "100",
                "Keys": {"pk": {"S": "link:AAAAAAAAAAAAAAAAAAAAAA"}},
                "OldImage": {"pk": {"S": "link:AAAAAAAAAAAAAAAAAAAAAA"}, "tag": {"S": "order-9"}, "expires_at": {"N": "1790086400"}},
                "NewImage": {"pk": {"S": "link:AAAAAAAAAAAAAAAAAAAAAA"}, "tag": {"S": "order-9"}, "expires_at": {"N": "1790086400"},
                    "uses": {"N": "1"}, "max_uses": {"N": "1"}, "first_used_at": {"N": "1790000005"},
                    "request_ids": {"SS": ["cf-1"]}, "trail:cf-1": trail("used", "1790000005")}
            }
        });
        let read = read(&record).unwrap();
        assert_eq!(read.sequence_number, "100");
        let events: Vec<_> = read.events.iter().map(|e| e.to_json()).collect();
        assert_eq!(events.iter().map(|e| e["type"].as_str().unwrap()).collect::<Vec<_>>(), ["link.used", "link.exhausted"]);
        assert_eq!(events[0]["tag"], "order-9");
        assert_eq!(events[0]["client"]["agent"], "curl");
        assert_eq!(events[0]["time"], "2026-09-21T14:13:25Z");
    }

    #[test]
    fn removals_other_items_and_garbage() {
        let removal = json!({"eventName": "REMOVE", "dynamodb": {"SequenceNumber": "7", "Keys": {"pk": {"S": "link:x"}},
            "OldImage": {"pk": {"S": "link:x"}, "revoked": {"BOOL": true}}}});
        assert_eq!(read(&removal).unwrap(), StreamRecord { sequence_number: "7".into(), events: vec![] });
        let other = json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "8", "Keys": {"pk": {"S": "config"}}, "NewImage": {}}});
        assert!(read(&other).unwrap().events.is_empty());
        assert_eq!(read(&json!({"dynamodb": {}})), Err(StreamError::NoSequenceNumber));
        let broken = json!({"eventName": "INSERT", "dynamodb": {"SequenceNumber": "9", "Keys": {"pk": {"S": "link:x"}},
            "NewImage": {"uses": {"N": 1}}}});
        assert_eq!(read(&broken), Err(StreamError::Unreadable("9".into(), "NewImage")));
        assert_eq!(attribute(&json!({"S": "a", "N": "1"})), None, "one type per value");
        assert_eq!(
            attribute(&json!({"L": [{"N": "1"}, {"BOOL": false}]})),
            Some(AttributeValue::L(vec![AttributeValue::N("1".into()), AttributeValue::Bool(false)]))
        );
    }
}
