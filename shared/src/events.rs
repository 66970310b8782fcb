//! Events: what a change of a link's ledger record means, as the messages a webhook (the
//! gateway) or EventBridge (AWS) carries.
//!
//! Events are not emitted by the request path; they are *derived from the ledger's changes*, by
//! one pure function ([`changes`]) that compares a record before and after one write:
//!
//! ```text
//! gateway:  file ledger change ─► changes(before, after) ─► outbox (the same journal frame) ─► webhook
//! AWS:      DynamoDB Streams (old + new image) ─► changes(before, after) ─► EventBridge PutEvents
//! ```
//!
//! So an event exists exactly when its change does (the gateway's outbox commits with the use),
//! and both shells send the same events for the same changes.
//!
//! | type | when | carries |
//! |---|---|---|
//! | `link.used` | a use is spent (CloudFront: when granted; the gateway: when the origin delivered and the held use was confirmed) | `request_id`, `client`, `uses` |
//! | `link.exhausted` | that use was the link's last one | the same |
//! | `link.revoked` | the link was revoked | – |
//! | `link.refused` | a refused attempt (or a preview bot's visit) kept in the trail: the first [`REFUSALS_KEPT`] per link, which is the rate limit | `request_id`, `client`, `reason` |
//!
//! Every event has an `id` derived from what it is about (link, type, request), so a change
//! delivered twice (a stream redelivered, an outbox entry sent again after a crash) carries the
//! same id: receivers deduplicate on it. The schema: `docs/events.schema.json`.
//!
//! A spent use given back later (CloudFront's origin-response trigger after an origin error)
//! emits nothing of its own: its `link.used` has been sent, and the link's trail shows the use
//! as `given_back`.

use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ledger::{ClientHint, LedgerKey, LinkRecord, REFUSALS_KEPT, TrailEntry};
use crate::time::rfc3339;

/// The EventBridge `Source` of every event.
pub const SOURCE: &str = "oncelink";

/// What happened to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Used,
    Exhausted,
    Revoked,
    Refused,
}

impl EventType {
    /// The event's `type` (and EventBridge `DetailType`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Used => "link.used",
            Self::Exhausted => "link.exhausted",
            Self::Revoked => "link.revoked",
            Self::Refused => "link.refused",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `evt_` + 22 base64url characters, the same for the same change however often it is sent.
    pub id: String,
    pub kind: EventType,
    pub time: SystemTime,
    pub link_id: String,
    pub tag: Option<String>,
    /// Uses spent after the change.
    pub uses: u32,
    /// The link's uses in all, when known (once a use was claimed).
    pub max_uses: Option<u32>,
    pub request_id: Option<String>,
    /// A refusal's reason code (`link_already_used`, `link_expired`, …), or `preview`.
    pub reason: Option<String>,
    pub client: Option<ClientHint>,
}

impl Event {
    /// The event as JSON: the webhook's body and EventBridge's `Detail`.
    pub fn to_json(&self) -> Value {
        let mut event = json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "time": rfc3339(self.time),
            "link_id": self.link_id,
            "tag": self.tag,
            "uses": self.uses,
            "max_uses": self.max_uses,
        });
        if let Some(request_id) = &self.request_id {
            event["request_id"] = request_id.as_str().into();
        }
        if let Some(reason) = &self.reason {
            event["reason"] = reason.as_str().into();
        }
        if let Some(client) = &self.client {
            event["client"] = json!({"network": client.network, "agent": client.agent});
        }
        event
    }
}

/// The events of one change of the record of `key` (an absent record is an empty one).
pub fn changes(key: &LedgerKey, before: &LinkRecord, after: &LinkRecord) -> Vec<Event> {
    let link_id = key.as_str().strip_prefix("link:").unwrap_or(key.as_str());
    let spent = u32::try_from(after.request_ids.len()).unwrap_or(u32::MAX);
    let max_uses = (after.max_uses > 0).then_some(after.max_uses);
    let event = |kind: EventType, about: &str, time: SystemTime| Event {
        id: event_id(link_id, kind, about),
        kind,
        time,
        link_id: link_id.to_owned(),
        tag: after.tag.clone(),
        uses: spent,
        max_uses,
        request_id: None,
        reason: None,
        client: None,
    };
    let entry_of = |request_id: &str| after.trail.iter().find(|e| e.request_id == request_id);
    let mut events = Vec::new();

    let newly_spent: Vec<&String> = after.request_ids.iter().filter(|id| !before.request_ids.contains(id)).collect();
    for request_id in &newly_spent {
        let entry = entry_of(request_id);
        let time = entry.map(|e| e.at).or(after.first_used_at).unwrap_or(SystemTime::UNIX_EPOCH);
        events.push(Event {
            request_id: Some((*request_id).clone()),
            client: entry.map(|e| e.client.clone()),
            ..event(EventType::Used, request_id, time)
        });
    }
    let reached = max_uses.is_some_and(|max| before.request_ids.len() < max as usize && spent >= max);
    if let (true, Some(last), Some(used)) = (reached, newly_spent.last(), events.last().cloned()) {
        events.push(Event { id: event_id(link_id, EventType::Exhausted, last), kind: EventType::Exhausted, ..used });
    }

    if after.revoked && !before.revoked {
        events.push(event(EventType::Revoked, "", after.revoked_at.unwrap_or(SystemTime::UNIX_EPOCH)));
    }

    let known = |e: &TrailEntry| before.trail.iter().any(|b| b.request_id == e.request_id);
    for entry in after.trail.iter().filter(|e| e.outcome.is_refusal() && !known(e)).take(REFUSALS_KEPT as usize) {
        events.push(Event {
            request_id: Some(entry.request_id.clone()),
            reason: Some(entry.outcome.label().to_owned()),
            client: Some(entry.client.clone()),
            ..event(EventType::Refused, &entry.request_id, entry.at)
        });
    }
    events
}

/// `evt_` + base64url of the first 16 bytes of SHA-256 over what the event is about.
fn event_id(link_id: &str, kind: EventType, about: &str) -> String {
    let digest = Sha256::new()
        .chain_update("oncelink-event-v1")
        .chain_update([0])
        .chain_update(link_id)
        .chain_update([0])
        .chain_update(kind.as_str())
        .chain_update([0])
        .chain_update(about)
        .finalize();
    format!("evt_{}", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ledger::{TrailOutcome, UseClaim};
    use crate::time::from_unix_secs;

    fn key() -> LedgerKey {
        LedgerKey::from_stored("link:AAAAAAAAAAAAAAAAAAAAAA")
    }

    fn at(s: u64) -> SystemTime {
        from_unix_secs(1_790_000_000 + s)
    }

    fn claim(request_id: &str, s: u64, max_uses: u32, held: bool) -> UseClaim {
        UseClaim {
            key: key(),
            request_id: request_id.into(),
            at: at(s),
            retain_until: at(86_400),
            max_uses,
            fingerprint: Some("fp".into()),
            hold_until: held.then(|| at(s) + Duration::from_secs(60)),
            client: ClientHint { network: "198.51.100.0/24".into(), agent: "firefox".into() },
        }
    }

    /// Applies `change` to a copy of `record` and returns the events of that change.
    fn step(record: &mut LinkRecord, change: impl FnOnce(&mut LinkRecord)) -> Vec<Event> {
        let before = record.clone();
        change(record);
        changes(&key(), &before, record)
    }

    fn kinds(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.kind.as_str()).collect()
    }

    #[test]
    fn a_one_time_link_used_at_the_edge_is_used_and_exhausted_at_once() {
        let mut record = LinkRecord::default();
        step(&mut record, |r| r.tag("order-7", at(86_400)));
        let events = step(&mut record, |r| {
            let _ = r.apply(&claim("cf-1", 5, 1, false));
        });
        assert_eq!(kinds(&events), ["link.used", "link.exhausted"]);
        let used = events[0].to_json();
        assert_eq!(used["link_id"], "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(used["tag"], "order-7");
        assert_eq!((used["uses"].as_u64(), used["max_uses"].as_u64()), (Some(1), Some(1)));
        assert_eq!(used["request_id"], "cf-1");
        assert_eq!(used["client"], json!({"network": "198.51.100.0/24", "agent": "firefox"}));
        assert_eq!(used["time"], rfc3339(at(5)));
        assert!(used["id"].as_str().is_some_and(|id| id.starts_with("evt_") && id.len() == 26));
        assert_ne!(events[0].id, events[1].id);
        // The same write seen again (a redelivered stream record) has the same ids.
        let again = changes(&key(), &LinkRecord { tag: Some("order-7".into()), ..LinkRecord::default() }, &record);
        assert_eq!(again.iter().map(|e| &e.id).collect::<Vec<_>>(), events.iter().map(|e| &e.id).collect::<Vec<_>>());
    }

    #[test]
    fn a_held_use_is_an_event_only_when_confirmed_and_never_when_given_back() {
        let mut record = LinkRecord::default();
        assert!(
            step(&mut record, |r| {
                let _ = r.apply(&claim("g-1", 1, 2, true));
            })
            .is_empty(),
            "held, not spent"
        );
        assert!(
            step(&mut record, |r| {
                let _ = r.release("g-1");
            })
            .is_empty(),
            "given back: nothing happened"
        );
        assert!(
            step(&mut record, |r| {
                let _ = r.apply(&claim("g-2", 2, 2, true));
            })
            .is_empty()
        );
        assert_eq!(
            kinds(&step(&mut record, |r| {
                let _ = r.commit("g-2");
            })),
            ["link.used"]
        );
        assert!(
            step(&mut record, |r| {
                let _ = r.commit("g-2");
            })
            .is_empty(),
            "a repeated commit changes nothing"
        );
        step(&mut record, |r| {
            let _ = r.apply(&claim("g-3", 3, 2, true));
        });
        let last = step(&mut record, |r| {
            let _ = r.commit("g-3");
        });
        assert_eq!(kinds(&last), ["link.used", "link.exhausted"]);
        assert_eq!((last[1].uses, last[1].max_uses, last[1].request_id.as_deref()), (2, Some(2), Some("g-3")));
    }

    #[test]
    fn refusals_are_events_while_the_trail_keeps_them_and_revocation_once() {
        let mut record = LinkRecord::default();
        let refused = |i: u32| TrailEntry {
            request_id: format!("r-{i}"),
            at: at(10),
            outcome: TrailOutcome::Refused("link_already_used".into()),
            client: ClientHint { network: "2001:db8::/48".into(), agent: "bot".into() },
        };
        let first = step(&mut record, |r| {
            r.note_refusal(&refused(0), at(86_400));
        });
        assert_eq!(kinds(&first), ["link.refused"]);
        assert_eq!(first[0].to_json()["reason"], "link_already_used");
        assert!(
            step(&mut record, |r| {
                r.note_refusal(&refused(0), at(86_400));
            })
            .is_empty(),
            "the same request once"
        );
        let mut sent = 1;
        for i in 1..REFUSALS_KEPT + 10 {
            sent += step(&mut record, |r| {
                r.note_refusal(&refused(i), at(86_400));
            })
            .len();
        }
        assert_eq!(sent, REFUSALS_KEPT as usize, "rate-limited per link: the kept ones only");
        assert_eq!(kinds(&step(&mut record, |r| r.revoke(at(20), at(86_400)))), ["link.revoked"]);
        assert!(step(&mut record, |r| r.revoke(at(30), at(86_400))).is_empty(), "revoked once");
    }
}
