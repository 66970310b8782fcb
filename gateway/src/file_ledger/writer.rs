//! The writer thread: puts the state's changes in the journal, syncs what must be durable,
//! answers the callers waiting for it, and keeps the file from growing without end.
//!
//! ```text
//! loop: wait for work ─► cut (under the lock: every changed record, removal, event → one frame)
//!        ─► append the frame ─► fdatasync if a caller waits or it carries events ─► answer them
//!        ─► compacting? copy the frame there too, then copy the next 512 records
//!        ─► journal past its threshold? start compacting
//! ```
//!
//! Group commit falls out of the loop: while one frame is being synced, changes pile up, and
//! the next cut takes them all (one fsync for everything that waited meanwhile). A frame
//! nobody waits on is written without a sync (a hold, a delivery record: see `state`).
//!
//! Compaction: the journal holds every version of every record; once it is past
//! `compact_at` and twice its size after the last compaction, the live records are copied into
//! `<journal>.compact` a chunk at a time (the lock is held per chunk, not for the whole copy),
//! while every new frame goes to both files. Frames carry versions, so the copy and the frames
//! may interleave in any order (see `journal`). When the copy is done the new file is synced
//! and renamed over the journal. A crash before the rename leaves the journal as it was (the
//! `.compact` file is removed at the next open).
//!
//! Failures: a write that fails (a full disk) fails every caller waiting, in that frame and
//! since, cuts the file back to where its intact frames end and rebuilds the state from it —
//! what had not reached the file is as if a crash had taken it (nothing answered as durable
//! is among it) — and the ledger goes on. A failed *sync* leaves nothing certain about what
//! the disk holds (the kernel may have dropped the pages it could not write): the ledger then
//! refuses every call until the gateway is restarted, which reads the journal afresh.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::journal::{Frame, MAGIC, replay};
use super::state::{Cut, Shared, State};

/// Records copied per chunk of a compaction (the lock is held for one chunk).
const CHUNK: usize = 512;

/// The journal file as the writer holds it.
pub(super) struct Journal {
    pub file: File,
    pub path: PathBuf,
    /// Bytes in the file (all of them intact frames).
    pub len: u64,
    /// Its size after the last compaction (or at open).
    base: u64,
    /// A compaction is considered past this size.
    compact_at: u64,
}

enum Failure {
    Write(String),
    Sync(String),
}

impl Journal {
    pub fn new(file: File, path: PathBuf, len: u64, compact_at: u64) -> Self {
        Self { file, path, len, base: len, compact_at }
    }

    fn append(&mut self, bytes: &[u8], sync: bool) -> Result<(), Failure> {
        if !bytes.is_empty() {
            self.file.write_all(bytes).map_err(|e| Failure::Write(format!("writing the journal: {e}")))?;
            self.len += bytes.len() as u64;
        }
        if sync {
            self.file.sync_data().map_err(|e| Failure::Sync(format!("syncing the journal: {e}")))?;
        }
        Ok(())
    }

    fn wants_compaction(&self) -> bool {
        self.len > self.compact_at && self.len > 2 * self.base
    }
}

/// The copy in progress.
struct Compaction {
    file: File,
    path: PathBuf,
    /// The last key copied.
    cursor: Option<String>,
    /// Why writing to the copy failed (it is then given up).
    failed: Option<String>,
}

/// `<journal>.compact`: where a compaction copies to.
pub(super) fn compaction_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".compact");
    PathBuf::from(name)
}

/// Syncs the directory holding `path` (so a created or renamed file is there after a crash).
pub(super) fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

/// Runs until the last ledger handle is gone (`State::closing`).
pub(super) fn run(shared: Arc<Shared>, mut journal: Journal) {
    let mut compaction: Option<Compaction> = None;
    loop {
        let Ok(mut state) = shared.state.lock() else { return };
        loop {
            let now = Instant::now();
            if state.closing || compaction.is_some() || state.has_work(now) {
                break;
            }
            state.writer_idle = true;
            state = match state.lazy_due() {
                Some(due) => match shared.work.wait_timeout(state, due.saturating_duration_since(now)) {
                    Ok((state, _)) => state,
                    Err(_) => return,
                },
                None => match shared.work.wait(state) {
                    Ok(state) => state,
                    Err(_) => return,
                },
            };
            state.writer_idle = false;
        }
        let closing = state.closing;
        if state.failed.is_some() {
            // Nothing more may reach the file; callers are refused by `Shared::lock`.
            state.fail_waiters(None, "the ledger's disk failed a sync");
            if closing {
                return;
            }
            state.writer_idle = true;
            drop(shared.work.wait(state));
            continue;
        }
        let cut = match state.cut(Instant::now(), closing) {
            Ok(cut) => cut,
            Err(why) => {
                state.fail_waiters(None, &why);
                continue;
            }
        };
        drop(state);
        write_cut(&shared, &mut journal, cut, compaction.as_mut());
        if closing {
            if let Some(c) = compaction.take() {
                let _ = std::fs::remove_file(&c.path);
            }
            let _ = journal.file.sync_data();
            return;
        }
        compaction = match compaction.take() {
            Some(c) => step(&shared, &mut journal, c),
            None if journal.wants_compaction() => start(&shared, &journal),
            None => None,
        };
    }
}

/// Writes one cut (to the compaction's copy as well) and answers its waiters.
fn write_cut(shared: &Shared, journal: &mut Journal, mut cut: Cut, compaction: Option<&mut Compaction>) {
    let frame = cut.frame.take().unwrap_or_default();
    let sync = cut.must_sync();
    if frame.is_empty() && !sync {
        return;
    }
    let bytes = if frame.is_empty() { Ok(Vec::new()) } else { frame.finish() };
    let before = journal.len;
    let outcome = match bytes {
        Err(why) => Err(Failure::Write(why)),
        Ok(bytes) => injected_failure(shared).map_or_else(|| journal.append(&bytes, sync), Err).map(|()| bytes),
    };
    let Ok(mut state) = shared.state.lock() else { return };
    match outcome {
        Ok(bytes) => {
            if let Some(c) = compaction {
                // A copy that cannot be written is given up at its next step.
                if let Err(e) = c.file.write_all(&bytes) {
                    c.failed = Some(e.to_string());
                }
            }
            let counter = if sync { &shared.commits.synced } else { &shared.commits.unsynced };
            counter.fetch_add(1, Ordering::Relaxed);
            let events = cut.events;
            state.written(cut, sync);
            drop(state);
            if let (true, Some(wake)) = (events, &shared.outbox) {
                wake.notify();
            }
        }
        Err(Failure::Write(why)) => {
            tracing::error!(error = %why, "the file ledger could not write; its unwritten changes are dropped and the ledger is read back");
            state.fail_waiters(Some(cut), &why);
            rebuild(&mut state, journal, before);
        }
        Err(Failure::Sync(why)) => {
            tracing::error!(error = %why, "the file ledger's disk failed a sync: every link answers 503 until the gateway is restarted");
            state.fail_waiters(Some(cut), &why);
            state.failed = Some(format!("{why}; restart the gateway"));
        }
    }
}

/// After a failed write: the file back to its intact frames, the state read back from it.
fn rebuild(state: &mut State, journal: &mut Journal, intact: u64) {
    let result = journal
        .file
        .set_len(intact)
        .and_then(|()| journal.file.seek(SeekFrom::End(0)).map(drop))
        .map_err(anyhow::Error::from)
        .and_then(|()| replay(&mut journal.file, &journal.path));
    match result {
        Ok(replayed) => {
            journal.len = replayed.intact_len;
            let (closing, idle) = (state.closing, state.writer_idle);
            *state = State::from_replayed(replayed);
            state.closing = closing;
            state.writer_idle = idle;
        }
        Err(e) => state.failed = Some(format!("the file ledger could not be read back after a failed write: {e}")),
    }
}

#[cfg(test)]
fn injected_failure(shared: &Shared) -> Option<Failure> {
    let failing = shared.fail_writes.load(Ordering::Relaxed);
    (failing > 0).then(|| {
        shared.fail_writes.store(failing - 1, Ordering::Relaxed);
        Failure::Write("disk full (injected)".into())
    })
}

#[cfg(not(test))]
fn injected_failure(_: &Shared) -> Option<Failure> {
    None
}

/// Starts a compaction: the copy's file, with the outbox's pending events first.
fn start(shared: &Shared, journal: &Journal) -> Option<Compaction> {
    let path = compaction_path(&journal.path);
    let attempt = || -> Result<Compaction, String> {
        let mut file =
            std::fs::OpenOptions::new().create(true).truncate(true).write(true).read(true).open(&path).map_err(|e| e.to_string())?;
        file.write_all(MAGIC).map_err(|e| e.to_string())?;
        let mut frame = Frame::default();
        {
            let state = shared.state.lock().map_err(|_| "poisoned".to_owned())?;
            for (seq, (at_ms, body)) in &state.outbox {
                frame.event(*seq, *at_ms, body)?;
            }
        }
        if !frame.is_empty() {
            file.write_all(&frame.finish()?).map_err(|e| e.to_string())?;
        }
        Ok(Compaction { file, path: path.clone(), cursor: None, failed: None })
    };
    match attempt() {
        Ok(c) => {
            tracing::info!(journal_bytes = journal.len, "compacting the file ledger");
            Some(c)
        }
        Err(why) => {
            tracing::warn!(error = %why, "the file ledger could not start a compaction");
            let _ = std::fs::remove_file(&path);
            None
        }
    }
}

/// Copies the next chunk of records; after the last, puts the copy in the journal's place.
fn step(shared: &Shared, journal: &mut Journal, mut c: Compaction) -> Option<Compaction> {
    let give_up = |c: Compaction, why: String| {
        tracing::warn!(error = %why, "the file ledger gave up a compaction (it is tried again later)");
        let _ = std::fs::remove_file(&c.path);
        None
    };
    if let Some(why) = c.failed.take() {
        return give_up(c, why);
    }
    let mut frame = Frame::default();
    let mut copied = 0;
    {
        let Ok(state) = shared.state.lock() else { return give_up(c, "poisoned".into()) };
        let from = match &c.cursor {
            Some(k) => state.records.range::<String, _>((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded)),
            None => state.records.range::<String, _>(..),
        };
        for (key, entry) in from.take(CHUNK) {
            if let Err(why) = frame.record(entry.version, key, &entry.record) {
                drop(state);
                return give_up(c, why);
            }
            c.cursor = Some(key.clone());
            copied += 1;
        }
    }
    if copied > 0 {
        return match frame.finish().and_then(|bytes| c.file.write_all(&bytes).map_err(|e| e.to_string())) {
            Ok(()) => Some(c),
            Err(why) => give_up(c, why),
        };
    }
    // Everything is copied: the copy takes the journal's place.
    let finish = |c: &Compaction| -> Result<u64, String> {
        c.file.sync_data().map_err(|e| e.to_string())?;
        c.file.try_lock().map_err(|e| format!("locking the copy: {e}"))?;
        std::fs::rename(&c.path, &journal.path).map_err(|e| e.to_string())?;
        sync_dir(&journal.path).map_err(|e| e.to_string())?;
        Ok(c.file.metadata().map_err(|e| e.to_string())?.len())
    };
    match finish(&c) {
        Ok(len) => {
            tracing::info!(from_bytes = journal.len, to_bytes = len, "the file ledger is compacted");
            journal.file = c.file;
            journal.len = len;
            journal.base = len;
            shared.commits.compactions.fetch_add(1, Ordering::Relaxed);
            None
        }
        Err(why) => give_up(c, why),
    }
}
