//! Compaction: the journal holds every version of every record, so once it has grown past
//! `compact_at` and four times its size after the last compaction, its live records are
//! copied into `<journal>.compact`, which then takes the journal's place.
//!
//! ```text
//! copier thread:  pending events ─► 512 records at a time (the lock held per chunk) ─► fsync
//!                 (every 4 MiB as it goes, so that no one sync holds the disk for long)
//!                 between chunks: the frames the writer wrote meanwhile (the tail)
//! writer thread:  every frame it writes to the journal also goes to the tail
//!                 copier done ─► the rest of the tail ─► fsync (small) ─► rename over the journal
//! ```
//!
//! The copy and the big fsync are the copier's, so the writer goes on writing and syncing the
//! journal meanwhile: no answer waits for a compaction. Frames carry versions, so the chunks and
//! the tail may interleave in any order (see `journal`). A crash before the rename leaves the
//! journal as it was (the `.compact` file is removed at the next open); a compaction that fails
//! is given up and tried again once the journal has grown further.

use std::fs::File;
use std::io::Write;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use oncelink::ledger::LinkRecord;

use super::journal::{Frame, MAGIC};
use super::state::Shared;
use super::writer::sync_dir;

/// Records copied per chunk (the lock is held for one chunk).
const CHUNK: usize = 512;
/// The copy is synced every this many bytes.
const SYNC_EVERY: usize = 4 * 1024 * 1024;

/// `<journal>.compact`: where a compaction copies to.
pub(super) fn compaction_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".compact");
    PathBuf::from(name)
}

/// A compaction in progress.
pub(super) struct Compaction {
    path: PathBuf,
    /// Frames written to the journal since the copy began and not yet in the copy.
    tail: Arc<Mutex<Vec<u8>>>,
    cancel: Arc<AtomicBool>,
    copier: Option<JoinHandle<Result<File, String>>>,
}

impl Compaction {
    /// Starts the copier.
    pub fn start(shared: &Arc<Shared>, journal: &Path) -> std::io::Result<Self> {
        let path = compaction_path(journal);
        let tail: Arc<Mutex<Vec<u8>>> = Arc::default();
        let cancel: Arc<AtomicBool> = Arc::default();
        let copier = {
            let (shared, path, tail, cancel) = (shared.clone(), path.clone(), tail.clone(), cancel.clone());
            std::thread::Builder::new().name("ledger-compact".into()).spawn(move || copy(&shared, &path, &tail, &cancel))?
        };
        Ok(Self { path, tail, cancel, copier: Some(copier) })
    }

    /// A frame the writer just wrote to the journal: the copy gets it too.
    pub fn follow(&self, frame: &[u8]) {
        if let Ok(mut tail) = self.tail.lock() {
            tail.extend_from_slice(frame);
        }
    }

    pub fn copied(&self) -> bool {
        self.copier.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Once [`Self::copied`]: the rest of the tail into the copy, synced, renamed over
    /// `journal`. Returns the new journal file and its length.
    pub fn finish(mut self, journal: &Path) -> Result<(File, u64), String> {
        let copier = self.copier.take().ok_or("no copier")?;
        let result = copier.join().map_err(|_| "the copier panicked".to_owned()).and_then(|copied| copied);
        let placed = result.and_then(|mut file| {
            let tail = std::mem::take(&mut *self.tail.lock().map_err(|_| "poisoned")?);
            file.write_all(&tail).map_err(|e| e.to_string())?;
            file.sync_data().map_err(|e| e.to_string())?;
            file.try_lock().map_err(|e| format!("locking the copy: {e}"))?;
            std::fs::rename(&self.path, journal).map_err(|e| e.to_string())?;
            sync_dir(journal).map_err(|e| e.to_string())?;
            let len = file.metadata().map_err(|e| e.to_string())?.len();
            Ok((file, len))
        });
        if placed.is_err() {
            let _ = std::fs::remove_file(&self.path);
        }
        placed
    }

    /// Stops the copier and removes the copy.
    pub fn abandon(mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(copier) = self.copier.take() {
            let _ = copier.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The copier: everything live into `path`, synced.
fn copy(shared: &Shared, path: &Path, tail: &Mutex<Vec<u8>>, cancel: &AtomicBool) -> Result<File, String> {
    let io = |e: std::io::Error| e.to_string();
    let mut file = std::fs::OpenOptions::new().create(true).truncate(true).write(true).read(true).open(path).map_err(io)?;
    file.write_all(MAGIC).map_err(io)?;
    let mut frame = Frame::default();
    {
        let state = shared.state.lock().map_err(|_| "poisoned")?;
        for (seq, (at_ms, body)) in &state.outbox {
            frame.event(*seq, *at_ms, body)?;
        }
    }
    let mut cursor: Option<String> = None;
    let mut unsynced = 0usize;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err("cancelled".into());
        }
        if !frame.is_empty() {
            let bytes = std::mem::take(&mut frame).finish()?;
            file.write_all(&bytes).map_err(io)?;
            unsynced += bytes.len();
        }
        let caught_up = std::mem::take(&mut *tail.lock().map_err(|_| "poisoned")?);
        file.write_all(&caught_up).map_err(io)?;
        unsynced += caught_up.len();
        // Synced as it goes: one big sync at the end would hold up the journal's own syncs
        // (the same disk) for as long as it takes.
        if unsynced >= SYNC_EVERY {
            file.sync_data().map_err(io)?;
            unsynced = 0;
        }
        // The chunk's records are shared under the lock and encoded after it.
        let chunk: Vec<(String, u64, Arc<LinkRecord>)> = {
            let state = shared.state.lock().map_err(|_| "poisoned")?;
            let from = match &cursor {
                Some(key) => state.records.range::<String, _>((Bound::Excluded(key), Bound::Unbounded)),
                None => state.records.range::<String, _>(..),
            };
            from.take(CHUNK).map(|(key, entry)| (key.clone(), entry.version, entry.record.clone())).collect()
        };
        let copied = chunk.len();
        for (key, version, record) in &chunk {
            frame.record(*version, key, record)?;
        }
        cursor = chunk.last().map(|(key, _, _)| key.clone()).or(cursor);
        if copied == 0 {
            break;
        }
    }
    file.sync_data().map_err(io)?;
    Ok(file)
}
