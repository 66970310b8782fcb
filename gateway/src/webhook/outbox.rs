//! The outbox: events waiting to be delivered, in the ledger's own redb file.
//!
//! One table, `outbox`, in the same [`Database`] as the links table: sequence number → stored
//! event. The ledger's writer thread [`append`]s a change's events inside the write transaction
//! that changes the link's record, so an event is stored exactly when its use is — durably when
//! the use is, lost in a crash only together with the change it tells of — and wakes the
//! deliverer after that commit ([`Wake`]). The deliverer reads the table in sequence order
//! ([`Outbox::peek`]) and deletes what a receiver took ([`Outbox::delete`]).
//!
//! A stored event is the time it was appended (Unix milliseconds, 8 bytes big-endian: how old
//! the oldest pending event is, without reading the event) followed by the event's JSON exactly
//! as the ledger gave it (the body that is POSTed).
//!
//! Sequence numbers follow the last one in the table. Once everything was delivered they start
//! again from 1: nothing outside the table refers to them (receivers see the event's own id), and
//! a redb reader sees one committed state, so a number is never taken twice while in the table.
//!
//! Deletes are committed without a sync (`Durability::None`): a delete lost in a crash brings the
//! event back, and it is delivered again, which at-least-once delivery allows; the next synced
//! commit (any spent use) makes the deletes before it durable.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use tokio::sync::Notify;

/// The outbox table, in the ledger's own redb file (same Database as the links table).
pub const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");

/// Bytes before the event's JSON in a stored event: when it was appended.
const STAMP: usize = 8;

/// Appends `events` (each one JSON object, UTF-8, with a string field "id") inside the caller's
/// write transaction, under increasing sequence numbers after the last one in the table. Called by
/// the ledger's writer thread; an error fails the transaction (nothing of it is committed).
pub fn append(tx: &WriteTransaction, events: &[Vec<u8>]) -> Result<(), redb::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut table = tx.open_table(OUTBOX)?;
    let mut seq = table.last()?.map_or(0, |(seq, _)| seq.value());
    let stamp = unix_ms(SystemTime::now()).to_be_bytes();
    let mut stored = Vec::new();
    for event in events {
        seq += 1;
        stored.clear();
        stored.extend_from_slice(&stamp);
        stored.extend_from_slice(event);
        table.insert(seq, stored.as_slice())?;
    }
    Ok(())
}

/// How the ledger's writer wakes the deliverer: [`Wake::notify`] after each commit that appended
/// events. A wake with nobody waiting is kept for the next wait, so none is lost between the
/// deliverer's read and its wait.
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Called by the writer after a commit that appended events.
    pub fn notify(&self) {
        self.0.notify_one();
    }

    /// Waits for the next [`Wake::notify`] (or one made since the last wait).
    pub async fn notified(&self) {
        self.0.notified().await;
    }
}

/// One event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: u64,
    pub appended_at: SystemTime,
    /// The event's JSON, exactly as appended: the body a receiver gets.
    pub body: Vec<u8>,
}

/// What the outbox holds: how many, and since when the oldest has waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    pub pending: u64,
    pub oldest: Option<SystemTime>,
}

/// The deliverer's side of the table.
#[derive(Clone)]
pub struct Outbox {
    db: Arc<Database>,
}

impl Outbox {
    /// The outbox in `db` (whose opener created the table).
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// Creates the table if it is missing, so readers never see it absent.
    pub fn create_table(db: &Database) -> Result<(), redb::Error> {
        let tx = db.begin_write()?;
        tx.open_table(OUTBOX)?;
        tx.commit()?;
        Ok(())
    }

    /// The first `n` pending events, in sequence order.
    pub fn peek(&self, n: usize) -> Result<Vec<Pending>, redb::Error> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(OUTBOX)?;
        let mut out = Vec::with_capacity(n.min(64));
        for entry in table.iter()?.take(n) {
            let (seq, raw) = entry?;
            out.push(decode(seq.value(), raw.value()));
        }
        Ok(out)
    }

    /// Deletes delivered events (without a sync: see the module doc).
    pub fn delete(&self, seqs: &[u64]) -> Result<(), redb::Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::None)?;
        {
            let mut table = tx.open_table(OUTBOX)?;
            for seq in seqs {
                table.remove(seq)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// How many events wait, and when the oldest was appended.
    pub fn backlog(&self) -> Result<Backlog, redb::Error> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(OUTBOX)?;
        let oldest = table.first()?.map(|(seq, raw)| decode(seq.value(), raw.value()).appended_at);
        Ok(Backlog { pending: table.len()?, oldest })
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A stored event; one shorter than its stamp (never written) is all body, appended "now".
fn decode(seq: u64, raw: &[u8]) -> Pending {
    match raw.split_first_chunk::<STAMP>() {
        Some((stamp, body)) => {
            Pending { seq, appended_at: UNIX_EPOCH + Duration::from_millis(u64::from_be_bytes(*stamp)), body: body.to_vec() }
        }
        None => Pending { seq, appended_at: SystemTime::now(), body: raw.to_vec() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path) -> Arc<Database> {
        let db = Database::create(path).unwrap();
        Outbox::create_table(&db).unwrap();
        Arc::new(db)
    }

    fn append_committed(db: &Database, events: &[&str]) {
        let tx = db.begin_write().unwrap();
        append(&tx, &events.iter().map(|e| e.as_bytes().to_vec()).collect::<Vec<_>>()).unwrap();
        tx.commit().unwrap();
    }

    fn bodies(pending: &[Pending]) -> Vec<String> {
        pending.iter().map(|p| String::from_utf8(p.body.clone()).unwrap()).collect()
    }

    #[test]
    fn appended_events_come_back_in_order_across_reopening_and_deletes_keep_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let before = SystemTime::now() - Duration::from_millis(1);
        {
            let db = open(&path);
            append_committed(&db, &[r#"{"id":"evt_1"}"#, r#"{"id":"evt_2"}"#]);
            append_committed(&db, &[r#"{"id":"evt_3"}"#]);
            // A transaction that appends and is then dropped stores nothing.
            let tx = db.begin_write().unwrap();
            append(&tx, &[b"{\"id\":\"evt_aborted\"}".to_vec()]).unwrap();
            drop(tx);
        }
        let db = open(&path);
        let outbox = Outbox::new(db.clone());
        let first = outbox.peek(10).unwrap();
        assert_eq!(bodies(&first), [r#"{"id":"evt_1"}"#, r#"{"id":"evt_2"}"#, r#"{"id":"evt_3"}"#]);
        assert_eq!(first.iter().map(|p| p.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(first.iter().all(|p| p.appended_at >= before && p.appended_at <= SystemTime::now()));
        assert_eq!(bodies(&outbox.peek(2).unwrap()).len(), 2, "peek takes at most n");
        assert_eq!(outbox.backlog().unwrap(), Backlog { pending: 3, oldest: Some(first[0].appended_at) });

        outbox.delete(&[1]).unwrap();
        append_committed(&db, &[r#"{"id":"evt_4"}"#]);
        let rest = outbox.peek(10).unwrap();
        assert_eq!(bodies(&rest), [r#"{"id":"evt_2"}"#, r#"{"id":"evt_3"}"#, r#"{"id":"evt_4"}"#]);
        assert_eq!(rest.last().unwrap().seq, 4, "numbers follow the last one");

        outbox.delete(&[2, 3, 4]).unwrap();
        assert_eq!(outbox.backlog().unwrap(), Backlog { pending: 0, oldest: None });
        append_committed(&db, &[r#"{"id":"evt_5"}"#]);
        assert_eq!(bodies(&outbox.peek(10).unwrap()), [r#"{"id":"evt_5"}"#]);
    }

    /// A delete is committed without a sync; a synced commit after it makes it durable, and the
    /// state is what a reopen sees.
    #[test]
    fn deletes_are_kept_once_a_synced_commit_follows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        {
            let db = open(&path);
            append_committed(&db, &[r#"{"id":"evt_a"}"#, r#"{"id":"evt_b"}"#]);
            Outbox::new(db.clone()).delete(&[1]).unwrap();
            append_committed(&db, &[r#"{"id":"evt_c"}"#]);
        }
        let outbox = Outbox::new(open(&path));
        assert_eq!(bodies(&outbox.peek(10).unwrap()), [r#"{"id":"evt_b"}"#, r#"{"id":"evt_c"}"#]);
    }

    #[tokio::test]
    async fn a_wake_before_the_wait_is_not_lost() {
        let wake = Wake::default();
        wake.notify();
        tokio::time::timeout(Duration::from_secs(1), wake.clone().notified()).await.expect("the earlier wake counts");
    }
}
