//! The writer thread: puts the state's changes in the journal, syncs what must be durable,
//! answers the callers waiting for it, and keeps the file from growing without end.
//!
//! ```text
//! loop: wait for work ─► cut (under the lock: every changed record, removal, event → one frame)
//!        ─► append the frame ─► fdatasync if a caller waits or it carries events ─► answer them
//!        ─► compacting? the frame to the copy too; copy done? it becomes the journal
//!        ─► journal past its threshold? start compacting
//! ```
//!
//! Group commit falls out of the loop: while one frame is being synced, changes pile up, and
//! the next cut takes them all (one fsync for everything that waited meanwhile). When fewer
//! than 16 callers wait, the writer first gives others 200 µs to join (an fsync costs the
//! kernel as much for one caller as for fifty, and on a busy gateway it was a fifth of the CPU).
//! A frame nobody waits on is written without a sync (a hold, a delivery record: see `state`).
//!
//! Compaction ([`super::compact`]): once the journal has grown enough, a copier thread copies
//! the live records into a new file while this thread goes on; every frame written here goes to
//! the copy too, and when the copy is done this thread puts it in the journal's place.
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

use super::compact::Compaction;
use super::journal::replay;
use super::state::{Cut, Shared, State};

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

/// How long a sync waits for more callers to join it when few wait, and how many are enough
/// not to wait (a sync costs the same for one caller as for fifty).
const GROUP_WINDOW: std::time::Duration = std::time::Duration::from_micros(200);
const GROUP_ENOUGH: usize = 16;

/// How often a running copy is looked in on when there is nothing else to do.
const COPY_CHECK: std::time::Duration = std::time::Duration::from_millis(20);

impl Journal {
    /// The compacted copy becomes the journal.
    fn replace(&mut self, file: File, len: u64) {
        self.file = file;
        self.len = len;
        self.base = len;
    }

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
        self.len > self.compact_at && self.len > 4 * self.base
    }
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
            if state.closing || state.has_work(now) || compaction.as_ref().is_some_and(Compaction::copied) {
                break;
            }
            state.writer_idle = true;
            // Wake for the lazy counts when due, and, while a copy runs, to look in on it.
            let copy_check = compaction.as_ref().map(|_| now + COPY_CHECK);
            let due = match (state.lazy_due(), copy_check) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            state = match due {
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
        // A sync is the costly part of a frame: when few callers wait for one, give others a
        // moment to join them (the group commit's window).
        if state.waiting() > 0 && state.waiting() < GROUP_ENOUGH && !state.closing {
            drop(state);
            std::thread::sleep(GROUP_WINDOW);
            let Ok(relocked) = shared.state.lock() else { return };
            state = relocked;
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
        let cut = state.cut(Instant::now(), closing);
        drop(state);
        if !write_cut(&shared, &mut journal, cut, compaction.as_ref()) {
            // The state was read back from the file (or failed): a copy of it is no longer true.
            if let Some(c) = compaction.take() {
                c.abandon();
            }
        }
        if closing {
            if let Some(c) = compaction.take() {
                c.abandon();
            }
            let _ = journal.file.sync_data();
            return;
        }
        compaction = match compaction.take() {
            Some(c) if c.copied() => {
                let from = journal.len;
                match c.finish(&journal.path) {
                    Ok((file, len)) => {
                        tracing::info!(from_bytes = from, to_bytes = len, "the file ledger is compacted");
                        journal.replace(file, len);
                        shared.commits.compactions.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(why) => {
                        tracing::warn!(error = %why, "the file ledger gave up a compaction (it is tried again later)");
                        journal.base = journal.len;
                    }
                }
                None
            }
            None if journal.wants_compaction() => match Compaction::start(&shared, &journal.path) {
                Ok(c) => {
                    tracing::info!(journal_bytes = journal.len, "compacting the file ledger");
                    Some(c)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the file ledger could not start a compaction");
                    journal.base = journal.len;
                    None
                }
            },
            other => other,
        };
    }
}

/// Writes one cut (to the compaction's copy as well) and answers its waiters; false when it
/// failed (the state is then read back from the file, or refuses everything).
fn write_cut(shared: &Shared, journal: &mut Journal, mut cut: Cut, compaction: Option<&Compaction>) -> bool {
    let sync = cut.must_sync();
    let bytes = cut.frame().and_then(|frame| if frame.is_empty() { Ok(Vec::new()) } else { frame.finish() });
    if bytes.as_ref().is_ok_and(Vec::is_empty) && !sync {
        return true;
    }
    let before = journal.len;
    let outcome = match bytes {
        Err(why) => Err(Failure::Write(why)),
        Ok(bytes) => injected_failure(shared).map_or_else(|| journal.append(&bytes, sync), Err).map(|()| bytes),
    };
    let Ok(mut state) = shared.state.lock() else { return false };
    match outcome {
        Ok(bytes) => {
            if let Some(c) = compaction {
                c.follow(&bytes);
            }
            let counter = if sync { &shared.commits.synced } else { &shared.commits.unsynced };
            counter.fetch_add(1, Ordering::Relaxed);
            let events = cut.has_events();
            state.written(cut, sync);
            drop(state);
            if let (true, Some(wake)) = (events, &shared.outbox) {
                wake.notify();
            }
            true
        }
        Err(Failure::Write(why)) => {
            tracing::error!(error = %why, "the file ledger could not write; its unwritten changes are dropped and the ledger is read back");
            state.fail_waiters(Some(cut), &why);
            rebuild(&mut state, journal, before);
            false
        }
        Err(Failure::Sync(why)) => {
            tracing::error!(error = %why, "the file ledger's disk failed a sync: every link answers 503 until the gateway is restarted");
            state.fail_waiters(Some(cut), &why);
            state.failed = Some(format!("{why}; restart the gateway"));
            false
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
