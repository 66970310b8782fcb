//! Upgrading from the redb ledger of earlier versions: [`import_redb`] copies `ledger.redb`'s
//! records and pending webhook events into a new journal, once.
//!
//! The journal is written in full under a temporary name, synced, and renamed into place; only
//! then is the redb file renamed to `ledger.redb.imported` (kept: the operator deletes it). A
//! crash at any point leaves either no journal (the import runs again at the next start) or a
//! whole one. A record the import cannot read stops it: it is never dropped silently.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::journal::{Frame, MAGIC};
use super::stored::decode;
use super::writer::sync_dir;

const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Bytes before an outbox event's JSON in the redb file: when it was appended (Unix ms, BE).
const STAMP: usize = 8;
/// Entries per frame of the new journal.
const PER_FRAME: usize = 1024;

/// Where the redb file goes once imported.
pub fn imported_path(redb: &Path) -> PathBuf {
    let mut name = redb.as_os_str().to_owned();
    name.push(".imported");
    PathBuf::from(name)
}

/// Imports `redb` into a new journal at `journal` when `redb` exists and `journal` does not;
/// returns how many records were imported (`None`: nothing to do).
pub fn import_redb(redb: &Path, journal: &Path) -> anyhow::Result<Option<u64>> {
    if journal.exists() || !redb.exists() {
        return Ok(None);
    }
    let db = Database::open(redb).with_context(|| format!("cannot open the earlier ledger {} to import it", redb.display()))?;
    let tx = db.begin_read()?;
    let mut frames = Vec::new();
    let mut frame = Frame::default();
    let mut entries = 0usize;
    let mut records = 0u64;
    let mut flush = |frame: &mut Frame, entries: &mut usize, force: bool| -> anyhow::Result<()> {
        if *entries >= PER_FRAME || (force && !frame.is_empty()) {
            frames.push(std::mem::take(frame).finish().map_err(anyhow::Error::msg)?);
            *entries = 0;
        }
        Ok(())
    };
    // A table an earlier version never created is simply empty.
    if let Ok(links) = tx.open_table(LINKS) {
        for row in links.iter()? {
            let (key, raw) = row?;
            let record = decode(raw.value())
                .map_err(|e| anyhow::anyhow!("{}: the record of {} cannot be read: {e}", redb.display(), key.value()))?;
            records += 1;
            // Every record its own version: all older than anything written after the import.
            frame.record(records, key.value(), &record).map_err(anyhow::Error::msg)?;
            entries += 1;
            flush(&mut frame, &mut entries, false)?;
        }
    }
    if let Ok(outbox) = tx.open_table(OUTBOX) {
        for row in outbox.iter()? {
            let (seq, raw) = row?;
            let raw = raw.value();
            let (stamp, body) = raw.split_first_chunk::<STAMP>().map_or((0, raw), |(stamp, body)| (u64::from_be_bytes(*stamp), body));
            frame.event(seq.value(), stamp, body).map_err(anyhow::Error::msg)?;
            entries += 1;
            flush(&mut frame, &mut entries, false)?;
        }
    }
    flush(&mut frame, &mut entries, true)?;
    drop(tx);
    drop(db);

    let mut partial = journal.as_os_str().to_owned();
    partial.push(".importing");
    let partial = PathBuf::from(partial);
    let mut file = std::fs::File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    file.write_all(MAGIC)?;
    for bytes in &frames {
        file.write_all(bytes)?;
    }
    file.sync_all()?;
    std::fs::rename(&partial, journal)?;
    sync_dir(journal)?;
    std::fs::rename(redb, imported_path(redb))?;
    sync_dir(redb)?;
    Ok(Some(records))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use oncelink::ledger::{Ledger, LinkRecord};
    use oncelink_testkit::key;

    use super::super::FileLedger;
    use super::super::stored::encode;
    use super::*;

    /// A redb file as the previous version left it: its records and its pending events are in
    /// the journal afterwards, the redb file renamed aside, and a second start imports nothing.
    #[tokio::test]
    async fn a_redb_ledger_is_imported_once_with_its_records_and_pending_events() {
        let dir = tempfile::tempdir().unwrap();
        let (redb, journal) = (dir.path().join("ledger.redb"), dir.path().join("ledger.journal"));
        let later = SystemTime::now() + Duration::from_secs(3600);
        let spent = LinkRecord {
            uses: 1,
            max_uses: 1,
            first_used_at: Some(SystemTime::UNIX_EPOCH),
            retain_until: Some(later),
            ..LinkRecord::default()
        };
        {
            let db = Database::create(&redb).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut links = tx.open_table(LINKS).unwrap();
                links.insert(key("spent").as_str(), encode(&spent).unwrap().as_slice()).unwrap();
                let mut outbox = tx.open_table(OUTBOX).unwrap();
                let mut stored = 1_700_000_000_000u64.to_be_bytes().to_vec();
                stored.extend_from_slice(br#"{"id":"evt_1"}"#);
                outbox.insert(7, stored.as_slice()).unwrap();
            }
            tx.commit().unwrap();
        }
        assert_eq!(import_redb(&redb, &journal).unwrap(), Some(1));
        assert!(!redb.exists() && imported_path(&redb).exists());
        assert_eq!(import_redb(&redb, &journal).unwrap(), None, "once");

        let ledger = FileLedger::open(&journal).unwrap();
        let state = ledger.lookup(&key("spent")).await.unwrap().expect("imported");
        assert_eq!(state.uses, 1);
        let pending = ledger.events().peek(10).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].seq, pending[0].body.as_slice()), (7, br#"{"id":"evt_1"}"#.as_slice()));
        assert_eq!(pending[0].appended_at, SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000));
    }

    #[test]
    fn an_unreadable_record_stops_the_import_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (redb, journal) = (dir.path().join("ledger.redb"), dir.path().join("ledger.journal"));
        {
            let db = Database::create(&redb).unwrap();
            let tx = db.begin_write().unwrap();
            tx.open_table(LINKS).unwrap().insert("link:x", b"not json".as_slice()).unwrap();
            tx.commit().unwrap();
        }
        assert!(import_redb(&redb, &journal).unwrap_err().to_string().contains("cannot be read"));
        assert!(redb.exists() && !journal.exists());
    }
}
