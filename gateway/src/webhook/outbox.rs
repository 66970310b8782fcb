//! The outbox: events waiting to be delivered, kept by the file ledger.
//!
//! The ledger puts a change's events in the journal frame that holds the change itself
//! (`crate::file_ledger`), so an event is stored exactly when its use is — durably when the use
//! is, lost in a crash only together with the change it tells of — and wakes the deliverer once
//! that frame is written ([`Wake`]; a frame with events is always synced). The deliverer reads
//! the pending events in sequence order ([`Outbox::peek`]) and forgets what a receiver took
//! ([`Outbox::delete`]).
//!
//! Forgetting is written without a sync: a forget lost in a crash brings the event back, and it
//! is delivered again, which at-least-once delivery allows. Sequence numbers only grow;
//! receivers see the event's own id, which is the same on every delivery.

use std::sync::Arc;
use std::time::SystemTime;

use oncelink::ledger::LedgerError;
use tokio::sync::Notify;

use crate::file_ledger::EventQueue;
pub use crate::file_ledger::PendingEvent as Pending;

/// How the ledger's writer wakes the deliverer: [`Wake::notify`] after each frame that carried
/// events. A wake with nobody waiting is kept for the next wait, so none is lost between the
/// deliverer's read and its wait.
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Called by the writer after a frame that carried events.
    pub fn notify(&self) {
        self.0.notify_one();
    }

    /// Waits for the next [`Wake::notify`] (or one made since the last wait).
    pub async fn notified(&self) {
        self.0.notified().await;
    }
}

/// What the outbox holds: how many, and since when the oldest has waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub pending: u64,
    pub oldest: Option<SystemTime>,
}

/// The deliverer's side of the outbox.
#[derive(Clone)]
pub struct Outbox {
    events: EventQueue,
}

impl Outbox {
    pub fn new(events: EventQueue) -> Self {
        Self { events }
    }

    /// The first `n` pending events, in sequence order.
    pub fn peek(&self, n: usize) -> Result<Vec<Pending>, LedgerError> {
        self.events.peek(n)
    }

    /// Forgets delivered events (without a sync: see the module doc).
    pub fn delete(&self, seqs: &[u64]) -> Result<(), LedgerError> {
        self.events.delete(seqs)
    }

    /// How many events wait, and when the oldest was appended.
    pub fn backlog(&self) -> Result<Backlog, LedgerError> {
        let (pending, oldest) = self.events.backlog()?;
        Ok(Backlog { pending, oldest })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use oncelink::ledger::Ledger;
    use oncelink_testkit::{claim, key};

    use super::*;
    use crate::file_ledger::FileLedger;

    fn types(pending: &[Pending]) -> Vec<String> {
        pending.iter().map(|p| serde_json::from_slice::<serde_json::Value>(&p.body).unwrap()["type"].as_str().unwrap().to_owned()).collect()
    }

    /// A change's events come out in order, stay across a reopen until forgotten, and a forget
    /// keeps the rest; numbers only grow.
    #[tokio::test]
    async fn events_come_back_in_order_across_reopening_and_forgetting_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.journal");
        let now = SystemTime::now();
        let before = now - Duration::from_millis(1);
        {
            let ledger = FileLedger::open_with_outbox(&path, Wake::default()).unwrap();
            ledger.claim(&claim(&key("a"), "r1", now, 2)).await.unwrap();
            ledger.claim(&claim(&key("a"), "r2", now, 2)).await.unwrap();
        }
        let ledger = FileLedger::open_with_outbox(&path, Wake::default()).unwrap();
        let outbox = Outbox::new(ledger.events());
        let first = outbox.peek(10).unwrap();
        assert_eq!(types(&first), ["link.used", "link.used", "link.exhausted"]);
        assert_eq!(first.iter().map(|p| p.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(first.iter().all(|p| p.appended_at >= before && p.appended_at <= SystemTime::now()));
        assert_eq!(outbox.peek(2).unwrap().len(), 2, "peek takes at most n");
        assert_eq!(outbox.backlog().unwrap(), Backlog { pending: 3, oldest: Some(first[0].appended_at) });

        outbox.delete(&[1]).unwrap();
        ledger.revoke(&key("a"), now, now + Duration::from_secs(60)).await.unwrap();
        let rest = outbox.peek(10).unwrap();
        assert_eq!(types(&rest), ["link.used", "link.exhausted", "link.revoked"]);
        assert_eq!(rest.last().unwrap().seq, 4, "numbers follow the last one");
        drop(ledger);

        let ledger = FileLedger::open_with_outbox(&path, Wake::default()).unwrap();
        let outbox = Outbox::new(ledger.events());
        assert_eq!(outbox.peek(10).unwrap(), rest, "a forget is kept across a reopen");
        outbox.delete(&[2, 3, 4]).unwrap();
        assert_eq!(outbox.backlog().unwrap(), Backlog { pending: 0, oldest: None });
        ledger.claim(&claim(&key("b"), "r3", now, 1)).await.unwrap();
        assert_eq!(outbox.peek(10).unwrap().first().map(|p| p.seq), Some(5), "never a number taken before");
    }

    /// An event is handed to the deliverer only once its frame is synced: one whose write
    /// failed (its change is then dropped) is never delivered.
    #[tokio::test]
    async fn an_event_is_delivered_only_once_its_change_is_on_disk() {
        use oncelink::ledger::{ClientHint, TrailEntry, TrailOutcome};
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open_with_outbox(&dir.path().join("ledger.journal"), Wake::default()).unwrap();
        let outbox = Outbox::new(ledger.events());
        let now = SystemTime::now();
        let refusal = |rid: &str| TrailEntry {
            request_id: rid.into(),
            at: now,
            outcome: TrailOutcome::Refused("link_expired".into()),
            client: ClientHint::default(),
        };
        ledger.fail_next_writes(1);
        // A refusal is not waited for: its caller is answered before its frame is written.
        ledger.note_refusal(&key("a"), &refusal("r1"), now + Duration::from_secs(60)).await.unwrap();
        assert!(outbox.peek(10).unwrap().is_empty(), "not on disk yet");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(outbox.peek(10).unwrap().is_empty(), "its write failed: the event went with its change");
        assert!(ledger.lookup(&key("a")).await.unwrap().is_none());
        ledger.note_refusal(&key("a"), &refusal("r2"), now + Duration::from_secs(60)).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while outbox.peek(10).unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "the synced event is delivered");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(types(&outbox.peek(10).unwrap()), ["link.refused"]);
    }

    #[tokio::test]
    async fn a_wake_before_the_wait_is_not_lost() {
        let wake = Wake::default();
        wake.notify();
        tokio::time::timeout(Duration::from_secs(1), wake.clone().notified()).await.expect("the earlier wake counts");
    }
}
