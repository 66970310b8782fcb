//! Group commit: one fsync per claim caps a disk at a few thousand claims/s, so every change
//! goes through one writer thread. It takes everything queued while the previous commit was
//! running, applies the changes in order inside ONE write transaction (a later change to the
//! same key reads the earlier one's record: same rules as one-by-one), commits once, and only
//! then answers each caller. If the commit fails, every change of the batch is answered with
//! an error (→ 503), never with a grant that was not made durable.
//!
//! Not every change has to survive a crash, and an fsync is the price of one that must. Each
//! change says, from its outcome, whether it [`Must`] be durable: a spent use, a revocation, a
//! resume must; a use only *held* while the origin is asked need not (after a crash a lost hold
//! is a lapsed one: the link is usable again, and nothing was delivered for it, since bytes
//! leave only after the hold is confirmed — durably), nor a hold given back, nor a delivery's
//! record. A batch is synced when any of its changes must be, and committed without a sync
//! otherwise (visible at once to every later change, made durable by the next synced commit).
//! A change that changes nothing (a denial) writes nothing.
//!
//! With a webhook, each change's events ([`oncelink::events::changes`] of the record before and
//! after it) are appended to the outbox in the same transaction, and such a batch is always
//! synced: an event is durable exactly when the change it tells of is, and the deliverer is
//! woken once it is.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use oncelink::events::changes;
use oncelink::ledger::{LedgerError, LedgerKey, LinkRecord};
use redb::{Database, Durability, ReadableTable, WriteTransaction};
use tokio::sync::oneshot;

use super::stored::{decode, encode};
use super::{LINKS, unavailable};
use crate::webhook::{Wake, append};

/// The most changes one commit carries (bounds one transaction's size and latency).
const MAX_BATCH: usize = 1024;

/// Answers one caller once its batch's commit is known: `None` = durable, `Some(why)` = failed.
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;

/// Whether a change's outcome must survive a crash before its caller is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Must {
    BeDurable,
    BeVisible,
}

/// One queued change: the record's key, whether an absent record is created (as empty), and the
/// change itself, which is handed the record (`None`: absent and not created; or why it could not
/// be read) and returns how to answer its caller after the commit, and whether the commit must
/// be synced for it.
pub(super) struct Job {
    key: String,
    create: bool,
    run: Change,
}

/// A job's change, type-erased: handed the record (or why it could not be read), returns its
/// [`Finish`] and what its outcome needs of the commit.
type Change = Box<dyn FnOnce(Result<Option<&mut LinkRecord>, LedgerError>) -> (Finish, Must) + Send>;

/// The answer a queued change's caller awaits (sent after the commit).
pub(super) type Answered<T> = oneshot::Receiver<Result<T, LedgerError>>;

/// A queued change to `key`; an absent record is created. `must` says, from the outcome, what
/// the commit must be for it.
pub(super) fn job<T: Send + 'static>(
    key: &LedgerKey,
    must: impl FnOnce(&T) -> Must + Send + 'static,
    change: impl FnOnce(&mut LinkRecord) -> T + Send + 'static,
) -> (Job, Answered<T>) {
    queued(key, true, must, move |record| change(record.expect("created when absent")))
}

/// A queued change to `key` that is handed `None` (and writes nothing) when there is no record.
pub(super) fn job_existing<T: Send + 'static>(
    key: &LedgerKey,
    must: impl FnOnce(&T) -> Must + Send + 'static,
    change: impl FnOnce(Option<&mut LinkRecord>) -> T + Send + 'static,
) -> (Job, Answered<T>) {
    queued(key, false, must, change)
}

fn queued<T: Send + 'static>(
    key: &LedgerKey,
    create: bool,
    must: impl FnOnce(&T) -> Must + Send + 'static,
    change: impl FnOnce(Option<&mut LinkRecord>) -> T + Send + 'static,
) -> (Job, Answered<T>) {
    let (answer, answered) = oneshot::channel();
    let run = move |record: Result<Option<&mut LinkRecord>, LedgerError>| -> (Finish, Must) {
        let out = record.map(change);
        let needs = out.as_ref().map_or(Must::BeVisible, must);
        let finish: Finish = Box::new(move |failure: Option<&str>| {
            let _ = answer.send(match failure {
                None => out,
                Some(why) => Err(unavailable(why)),
            });
        });
        (finish, needs)
    };
    (Job { key: key.as_str().to_owned(), create, run: Box::new(run) }, answered)
}

/// The writer thread and the queue to it. Dropping the last ledger handle closes the queue and
/// waits for the thread, so the file is released when `FileLedger` is gone (reopen, tests).
pub(super) struct Writer {
    pub(super) jobs: Option<mpsc::Sender<Job>>,
    pub(super) thread: Option<JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How many commits the writer made, synced and not (the metrics, and the tests that hold the
/// ledger to syncing only what must be synced).
#[derive(Debug, Default)]
pub struct Commits {
    pub synced: AtomicU64,
    pub unsynced: AtomicU64,
    /// Changes carried by those commits (changes / commits = the batch size).
    pub changes: AtomicU64,
}

/// The writer thread: one batch per commit, until every sender is gone.
pub(super) fn write_batches(db: Arc<Database>, jobs: mpsc::Receiver<Job>, commits: Arc<Commits>, outbox: Option<Wake>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        commits.changes.fetch_add(batch.len() as u64, Ordering::Relaxed);
        run_batch(&db, batch, outbox.as_ref(), |tx, must| {
            commit(tx, must)?;
            let counter = if must == Must::BeDurable { &commits.synced } else { &commits.unsynced };
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        });
    }
}

/// Commits `tx`, synced or not.
pub(super) fn commit(mut tx: WriteTransaction, must: Must) -> Result<(), String> {
    if must == Must::BeVisible {
        tx.set_durability(Durability::None).map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(|e| e.to_string())
}

/// Applies `jobs` in order in one write transaction (appending their events to the outbox, when
/// there is one), commits it with `commit` (synced if any job must be durable), then answers
/// every job with the commit's outcome. A record that cannot be decoded fails only its own job;
/// a storage error fails the whole batch (nothing of it is committed).
pub(super) fn run_batch(
    db: &Database,
    jobs: Vec<Job>,
    outbox: Option<&Wake>,
    commit: impl FnOnce(WriteTransaction, Must) -> Result<(), String>,
) {
    let mut jobs = jobs.into_iter();
    let mut finishers: Vec<Finish> = Vec::with_capacity(jobs.len());
    let mut appended = false;
    let failure = match db.begin_write() {
        Err(e) => Some(e.to_string()),
        // A failed batch is dropped uncommitted (redb aborts a transaction dropped unfinished).
        Ok(tx) => apply(&tx, &mut jobs, &mut finishers, outbox.is_some())
            .and_then(|(must, events)| {
                appended = events;
                commit(tx, must)
            })
            .err(),
    };
    if let (None, true, Some(wake)) = (&failure, appended, outbox) {
        wake.notify();
    }
    // Jobs the batch never reached (only after a storage error) share its fate.
    if let Some(why) = &failure {
        finishers.extend(jobs.map(|job| (job.run)(Err(unavailable(why))).0));
    }
    for finish in finishers {
        finish(failure.as_deref());
    }
}

/// Runs `jobs` in order against the links table of `tx`, collecting how to answer each; stops
/// at the first storage error (the jobs left in `jobs` are then unanswered). With `events`, the
/// events of every change go to the outbox in `tx`. Returns what the commit must be (durable if
/// any job that changed its record must be, or if events were appended) and whether events were.
fn apply(
    tx: &WriteTransaction,
    jobs: &mut impl Iterator<Item = Job>,
    finishers: &mut Vec<Finish>,
    events: bool,
) -> Result<(Must, bool), String> {
    let mut table = tx.open_table(LINKS).map_err(|e| e.to_string())?;
    let mut batch_must = Must::BeVisible;
    let mut outgoing: Vec<Vec<u8>> = Vec::new();
    for job in jobs {
        let (found, before) = match table.get(job.key.as_str()) {
            Ok(Some(raw)) => (decode(raw.value()).map(Some), Some(raw.value().to_vec())),
            Ok(None) => (Ok(job.create.then(LinkRecord::default)), None),
            Err(e) => {
                let why = e.to_string();
                finishers.push((job.run)(Err(unavailable(&why))).0);
                return Err(why);
            }
        };
        let mut record = match found {
            Ok(record) => record,
            Err(error) => {
                finishers.push((job.run)(Err(error)).0);
                continue;
            }
        };
        let (finish, must) = (job.run)(Ok(record.as_mut()));
        finishers.push(finish);
        if let Some(record) = record {
            let bytes = encode(&record).map_err(|e| e.to_string())?;
            // A change that changed nothing (a denial, a repeated commit) writes nothing.
            if before.as_deref() != Some(bytes.as_slice()) {
                table.insert(job.key.as_str(), bytes.as_slice()).map_err(|e| e.to_string())?;
                if must == Must::BeDurable {
                    batch_must = Must::BeDurable;
                }
                if events {
                    let earlier = before.as_deref().and_then(|raw| decode(raw).ok()).unwrap_or_default();
                    let key = LedgerKey::from_stored(job.key.as_str());
                    outgoing.extend(changes(&key, &earlier, &record).iter().map(|event| event.to_json().to_string().into_bytes()));
                }
            }
        }
    }
    drop(table);
    if outgoing.is_empty() {
        return Ok((batch_must, false));
    }
    append(tx, &outgoing).map_err(|e| e.to_string())?;
    Ok((Must::BeDurable, true))
}
