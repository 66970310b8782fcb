//! The journal's bytes: what one frame holds, and reading a whole file back.
//!
//! ```text
//! file  = MAGIC (16 bytes) frame*
//! frame = len u32 LE | crc32(payload) u32 LE | payload (len bytes)
//! payload = entry*
//! entry = 1 RECORD    version u64 | key (u16 len) | record JSON (u32 len)   the record as it now is
//!       | 2 REMOVED   version u64 | key (u16 len)                           purged
//!       | 3 EVENT     seq u64 | appended at, Unix ms u64 | body (u32 len)  a webhook event, pending
//!       | 4 DELIVERED seq u64                                               a receiver took it
//! ```
//!
//! All integers little-endian. A frame is one write of the ledger's writer (everything changed
//! since the previous one), so it is the unit of atomicity: a frame whose length runs past the
//! end of the file or whose checksum fails is a write cut short by a crash, and it and anything
//! after it are dropped when the file is read back (nothing in it was ever answered as durable:
//! a durable answer waits for the frame's sync).
//!
//! Every change to a record takes the next *version* from one counter. A record's frames need
//! not be in version order in a file (compaction copies records into a new file while changes
//! keep coming, see `writer`), so reading keeps, per key, the entry with the highest version: a
//! record or its removal.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use oncelink::ledger::LinkRecord;

use super::stored::{decode, encode};

/// The first bytes of every journal.
pub const MAGIC: &[u8; 16] = b"oncelink-journal";
const HEADER: usize = 8;

const RECORD: u8 = 1;
const REMOVED: u8 = 2;
const EVENT: u8 = 3;
const DELIVERED: u8 = 4;

/// A webhook event waiting in the outbox: when it was appended (Unix ms) and its JSON body.
pub type StoredEvent = (u64, Vec<u8>);

/// One frame being built: entries appended, then [`Frame::finish`] gives its bytes.
pub struct Frame {
    buf: Vec<u8>,
}

impl Default for Frame {
    fn default() -> Self {
        Self { buf: vec![0; HEADER] }
    }
}

impl Frame {
    pub fn is_empty(&self) -> bool {
        self.buf.len() == HEADER
    }

    pub fn record(&mut self, version: u64, key: &str, record: &LinkRecord) -> Result<(), String> {
        let json = encode(record).map_err(|e| e.to_string())?;
        self.buf.push(RECORD);
        self.buf.extend_from_slice(&version.to_le_bytes());
        self.key(key)?;
        self.blob(&json)
    }

    pub fn removed(&mut self, version: u64, key: &str) -> Result<(), String> {
        self.buf.push(REMOVED);
        self.buf.extend_from_slice(&version.to_le_bytes());
        self.key(key)
    }

    pub fn event(&mut self, seq: u64, appended_ms: u64, body: &[u8]) -> Result<(), String> {
        self.buf.push(EVENT);
        self.buf.extend_from_slice(&seq.to_le_bytes());
        self.buf.extend_from_slice(&appended_ms.to_le_bytes());
        self.blob(body)
    }

    pub fn delivered(&mut self, seq: u64) {
        self.buf.push(DELIVERED);
        self.buf.extend_from_slice(&seq.to_le_bytes());
    }

    fn key(&mut self, key: &str) -> Result<(), String> {
        let len = u16::try_from(key.len()).map_err(|_| "a ledger key longer than 64 KiB".to_owned())?;
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(key.as_bytes());
        Ok(())
    }

    fn blob(&mut self, bytes: &[u8]) -> Result<(), String> {
        let len = u32::try_from(bytes.len()).map_err(|_| "a journal entry over 4 GiB".to_owned())?;
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// The frame's bytes, length and checksum filled in.
    pub fn finish(mut self) -> Result<Vec<u8>, String> {
        let payload = self.buf.len() - HEADER;
        let len = u32::try_from(payload).map_err(|_| "a journal frame over 4 GiB".to_owned())?;
        let crc = crc32fast::hash(&self.buf[HEADER..]);
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        self.buf[4..HEADER].copy_from_slice(&crc.to_le_bytes());
        Ok(self.buf)
    }
}

/// A journal read back.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Every live record, with the version of its last change.
    pub records: BTreeMap<String, (u64, LinkRecord)>,
    /// The outbox: pending events by sequence number.
    pub events: BTreeMap<u64, StoredEvent>,
    /// The highest version seen (records and removals).
    pub last_version: u64,
    /// The highest event sequence number seen (delivered ones included).
    pub last_seq: u64,
    /// Where the intact frames end: the file is cut back to this before new frames follow.
    pub intact_len: u64,
    /// Bytes after the intact frames (a write cut short), dropped.
    pub torn_bytes: u64,
}

/// Reads a whole journal. An empty file is an empty journal. Only a bad magic or an entry that
/// cannot be read inside an intact frame is an error (a file this version cannot read: it is
/// refused, never overwritten); a torn tail is not (see the module doc).
pub fn replay(file: &mut std::fs::File, path: &Path) -> anyhow::Result<Replayed> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut bytes)?;
    let mut out = Replayed::default();
    if bytes.is_empty() {
        return Ok(out);
    }
    anyhow::ensure!(
        bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] == *MAGIC,
        "{} is not an oncelink journal (its first bytes are not {:?})",
        path.display(),
        std::str::from_utf8(MAGIC).unwrap_or_default()
    );
    // Per key, the highest version seen: a record or a removal (None).
    let mut latest: BTreeMap<String, (u64, Option<LinkRecord>)> = BTreeMap::new();
    let mut at = MAGIC.len();
    while let Some(payload) = intact_frame(&bytes, at) {
        let mut entries = Reader { bytes: payload, at: 0 };
        while !entries.done() {
            entries
                .entry(&mut latest, &mut out)
                .map_err(|why| anyhow::anyhow!("{}: an unreadable entry at byte {at}: {why}", path.display()))?;
        }
        at += HEADER + payload.len();
    }
    out.intact_len = at as u64;
    out.torn_bytes = (bytes.len() - at) as u64;
    out.records = latest.into_iter().filter_map(|(key, (version, record))| Some((key, (version, record?)))).collect();
    Ok(out)
}

/// The payload of the frame at `at`, if it is whole and its checksum holds.
fn intact_frame(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    (crc32fast::hash(payload) == crc).then_some(payload)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let out = self.bytes.get(self.at..self.at + n).ok_or("an entry runs past its frame")?;
        self.at += n;
        Ok(out)
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| "short")?))
    }

    fn key(&mut self) -> Result<String, String> {
        let len = u16::from_le_bytes(self.take(2)?.try_into().map_err(|_| "short")?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "a key that is not UTF-8".to_owned())
    }

    fn blob(&mut self) -> Result<&'a [u8], String> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| "short")?) as usize;
        self.take(len)
    }

    fn entry(&mut self, latest: &mut BTreeMap<String, (u64, Option<LinkRecord>)>, out: &mut Replayed) -> Result<(), String> {
        let kind = self.take(1)?[0];
        match kind {
            RECORD | REMOVED => {
                let version = self.u64()?;
                let key = self.key()?;
                let record = if kind == RECORD { Some(decode(self.blob()?).map_err(|e| e.to_string())?) } else { None };
                out.last_version = out.last_version.max(version);
                match latest.get_mut(&key) {
                    Some(seen) if seen.0 >= version => {}
                    Some(seen) => *seen = (version, record),
                    None => {
                        latest.insert(key, (version, record));
                    }
                }
            }
            EVENT => {
                let seq = self.u64()?;
                let appended_ms = self.u64()?;
                let body = self.blob()?.to_vec();
                out.last_seq = out.last_seq.max(seq);
                out.events.insert(seq, (appended_ms, body));
            }
            DELIVERED => {
                let seq = self.u64()?;
                out.last_seq = out.last_seq.max(seq);
                out.events.remove(&seq);
            }
            other => return Err(format!("unknown entry kind {other}")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn record(uses: u32) -> LinkRecord {
        LinkRecord { uses, max_uses: 3, ..LinkRecord::default() }
    }

    fn write(path: &Path, frames: &[Vec<u8>]) -> std::fs::File {
        let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path).unwrap();
        file.write_all(MAGIC).unwrap();
        for frame in frames {
            file.write_all(frame).unwrap();
        }
        file
    }

    /// The highest version wins whatever the order; a removal is a version too; events come and go.
    #[test]
    fn the_latest_version_of_each_key_wins_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let mut a = Frame::default();
        a.record(5, "link:a", &record(2)).unwrap();
        a.record(1, "link:b", &record(1)).unwrap();
        a.event(1, 1000, b"{\"id\":\"evt_1\"}").unwrap();
        a.event(2, 1001, b"{\"id\":\"evt_2\"}").unwrap();
        let mut b = Frame::default();
        b.record(3, "link:a", &record(1)).unwrap(); // older than what came before: ignored
        b.removed(4, "link:b").unwrap();
        b.delivered(1);
        let mut file = write(&path, &[a.finish().unwrap(), b.finish().unwrap()]);
        let replayed = replay(&mut file, &path).unwrap();
        assert_eq!(replayed.records.len(), 1);
        assert_eq!(replayed.records["link:a"], (5, record(2)));
        assert_eq!(replayed.events.keys().copied().collect::<Vec<_>>(), [2]);
        assert_eq!((replayed.last_version, replayed.last_seq, replayed.torn_bytes), (5, 2, 0));
        assert_eq!(replayed.intact_len, std::fs::metadata(&path).unwrap().len());
    }

    /// A frame cut short or with a wrong checksum ends the journal there: what it held is not read.
    #[test]
    fn a_torn_or_damaged_last_frame_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let frame = |uses| {
            let mut f = Frame::default();
            f.record(u64::from(uses), "link:a", &record(uses)).unwrap();
            f.finish().unwrap()
        };
        let (first, second) = (frame(1), frame(2));
        for cut in [1, HEADER, second.len() - 1] {
            let mut file = write(&path, &[first.clone(), second[..cut].to_vec()]);
            let replayed = replay(&mut file, &path).unwrap();
            assert_eq!(replayed.records["link:a"].1.uses, 1, "cut at {cut}");
            assert_eq!(replayed.intact_len, (MAGIC.len() + first.len()) as u64);
            assert_eq!(replayed.torn_bytes, cut as u64);
        }
        let mut damaged = second.clone();
        *damaged.last_mut().unwrap() ^= 1;
        let mut file = write(&path, &[first.clone(), damaged]);
        assert_eq!(replay(&mut file, &path).unwrap().records["link:a"].1.uses, 1);
    }

    #[test]
    fn a_file_that_is_not_a_journal_is_refused_and_an_empty_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, b"redb....something else entirely").unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        assert!(replay(&mut file, &path).unwrap_err().to_string().contains("not an oncelink journal"));
        std::fs::write(&path, b"").unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        assert!(replay(&mut file, &path).unwrap().records.is_empty());
    }
}
