//! Group commit: one fsync per claim caps a disk at a few thousand claims/s, so every change
//! goes through one writer thread. It takes everything queued while the previous commit was
//! running, applies the changes in order inside ONE write transaction (a later change to the
//! same key reads the earlier one's record: same rules as one-by-one), commits once, and only
//! then answers each caller. If the commit fails, every change of the batch is answered with
//! an error (→ 503), never with a grant that was not made durable.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use oncelink::ledger::{LedgerError, LedgerKey, LinkRecord};
use redb::{Database, ReadableTable, WriteTransaction};
use tokio::sync::oneshot;

use super::stored::{decode, encode};
use super::{LINKS, unavailable};

/// The most changes one commit carries (bounds one transaction's size and latency).
const MAX_BATCH: usize = 1024;

/// Answers one caller once its batch's commit is known: `None` = durable, `Some(why)` = failed.
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;

/// One queued change: the record's key, whether an absent record is created (as empty), and the
/// change itself, which is handed the record (`None`: absent and not created; or why it could not
/// be read) and returns how to answer its caller after the commit.
pub(super) struct Job {
    key: String,
    create: bool,
    run: Change,
}

/// A job's change, type-erased: handed the record (or why it could not be read), returns its [`Finish`].
type Change = Box<dyn FnOnce(Result<Option<&mut LinkRecord>, LedgerError>) -> Finish + Send>;

/// The answer a queued change's caller awaits (sent after the commit).
pub(super) type Answered<T> = oneshot::Receiver<Result<T, LedgerError>>;

/// A queued change to `key`; an absent record is created.
pub(super) fn job<T: Send + 'static>(key: &LedgerKey, change: impl FnOnce(&mut LinkRecord) -> T + Send + 'static) -> (Job, Answered<T>) {
    queued(key, true, move |record| change(record.expect("created when absent")))
}

/// A queued change to `key` that is handed `None` (and writes nothing) when there is no record.
pub(super) fn job_existing<T: Send + 'static>(
    key: &LedgerKey,
    change: impl FnOnce(Option<&mut LinkRecord>) -> T + Send + 'static,
) -> (Job, Answered<T>) {
    queued(key, false, change)
}

fn queued<T: Send + 'static>(
    key: &LedgerKey,
    create: bool,
    change: impl FnOnce(Option<&mut LinkRecord>) -> T + Send + 'static,
) -> (Job, Answered<T>) {
    let (answer, answered) = oneshot::channel();
    let run = move |record: Result<Option<&mut LinkRecord>, LedgerError>| -> Finish {
        let out = record.map(change);
        Box::new(move |failure: Option<&str>| {
            let _ = answer.send(match failure {
                None => out,
                Some(why) => Err(unavailable(why)),
            });
        })
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

/// The writer thread: one batch per commit, until every sender is gone.
pub(super) fn write_batches(db: Arc<Database>, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        run_batch(&db, batch, |tx| tx.commit().map_err(|e| e.to_string()));
    }
}

/// Applies `jobs` in order in one write transaction, commits it with `commit`, then answers
/// every job with the commit's outcome. A record that cannot be decoded fails only its own job;
/// a storage error fails the whole batch (nothing of it is committed).
pub(super) fn run_batch(db: &Database, jobs: Vec<Job>, commit: impl FnOnce(WriteTransaction) -> Result<(), String>) {
    let mut jobs = jobs.into_iter();
    let mut finishers: Vec<Finish> = Vec::with_capacity(jobs.len());
    let failure = match db.begin_write() {
        Err(e) => Some(e.to_string()),
        // A failed batch is dropped uncommitted (redb aborts a transaction dropped unfinished).
        Ok(tx) => apply(&tx, &mut jobs, &mut finishers).and_then(|()| commit(tx)).err(),
    };
    // Jobs the batch never reached (only after a storage error) share its fate.
    if let Some(why) = &failure {
        finishers.extend(jobs.map(|job| (job.run)(Err(unavailable(why)))));
    }
    for finish in finishers {
        finish(failure.as_deref());
    }
}

/// Runs `jobs` in order against the links table of `tx`, collecting how to answer each; stops
/// at the first storage error (the jobs left in `jobs` are then unanswered).
fn apply(tx: &WriteTransaction, jobs: &mut impl Iterator<Item = Job>, finishers: &mut Vec<Finish>) -> Result<(), String> {
    let mut table = tx.open_table(LINKS).map_err(|e| e.to_string())?;
    for job in jobs {
        let found = match table.get(job.key.as_str()) {
            Ok(Some(raw)) => decode(raw.value()).map(Some),
            Ok(None) => Ok(job.create.then(LinkRecord::default)),
            Err(e) => {
                let why = e.to_string();
                finishers.push((job.run)(Err(unavailable(&why))));
                return Err(why);
            }
        };
        let mut record = match found {
            Ok(record) => record,
            Err(error) => {
                finishers.push((job.run)(Err(error)));
                continue;
            }
        };
        finishers.push((job.run)(Ok(record.as_mut())));
        if let Some(record) = record {
            let bytes = encode(&record).map_err(|e| e.to_string())?;
            table.insert(job.key.as_str(), bytes.as_slice()).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
