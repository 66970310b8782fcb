//! The embedded, durable ledger: one `redb` file in the data directory, behind the core's
//! [`Ledger`] port.
//!
//! Storage only. The rule (what a claim does to a link's record) is the core's
//! [`LinkRecord::apply`] / [`LinkRecord::revoke`]; this adapter reads a record, applies the rule
//! and writes it back inside one write transaction, committed durably (fsync) before `claim`
//! returns, so concurrent first uses have exactly one winner and a granted use survives `kill -9`.
//!
//! Group commit: one fsync per claim caps a disk at a few thousand claims/s, so every change
//! goes through one writer thread. It takes everything queued while the previous commit was
//! running, applies the changes in order inside ONE write transaction (a later change to the
//! same key reads the earlier one's record: same rules as one-by-one), commits once, and only
//! then answers each caller. If the commit fails, every change of the batch is answered with
//! an error (→ 503), never with a grant that was not made durable.

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use oncelink::ledger::memory::LinkRecord;
use oncelink::ledger::{ClaimOutcome, Ledger, LedgerError, LedgerKey, LinkState, UseClaim};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");

/// The on-disk form of a [`LinkRecord`] (times as Unix milliseconds).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_used_at_ms: Option<u64>,
    uses: u32,
    #[serde(default)]
    request_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    #[serde(default)]
    revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retain_until_ms: Option<u64>,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl From<&LinkRecord> for Stored {
    fn from(r: &LinkRecord) -> Self {
        Self {
            first_used_at_ms: r.first_used_at.map(ms),
            uses: r.uses,
            request_ids: r.request_ids.clone(),
            fingerprint: r.fingerprint.clone(),
            revoked: r.revoked,
            retain_until_ms: r.retain_until.map(ms),
        }
    }
}

impl From<Stored> for LinkRecord {
    fn from(s: Stored) -> Self {
        Self {
            first_used_at: s.first_used_at_ms.map(from_ms),
            uses: s.uses,
            request_ids: s.request_ids,
            fingerprint: s.fingerprint,
            revoked: s.revoked,
            retain_until: s.retain_until_ms.map(from_ms),
        }
    }
}

/// The most changes one commit carries (bounds one transaction's size and latency).
const MAX_BATCH: usize = 1024;

#[derive(Clone)]
pub struct FileLedger {
    db: Arc<Database>,
    writer: Arc<Writer>,
}

/// Answers one caller once its batch's commit is known: `None` = durable, `Some(why)` = failed.
type Finish = Box<dyn FnOnce(Option<&str>) + Send>;

/// One queued change: the record's key, and the change itself, which is handed the record (or
/// why it could not be read) and returns how to answer its caller after the commit.
struct Job {
    key: String,
    run: Change,
}

/// A job's change, type-erased: handed the record (or why it could not be read), returns its [`Finish`].
type Change = Box<dyn FnOnce(Result<&mut LinkRecord, LedgerError>) -> Finish + Send>;

/// A queued change to `key` and where its caller awaits the answer (sent after the commit).
fn job<T: Send + 'static>(
    key: &LedgerKey,
    change: impl FnOnce(&mut LinkRecord) -> T + Send + 'static,
) -> (Job, oneshot::Receiver<Result<T, LedgerError>>) {
    let (answer, answered) = oneshot::channel();
    let run = move |record: Result<&mut LinkRecord, LedgerError>| -> Finish {
        let out = record.map(change);
        Box::new(move |failure: Option<&str>| {
            let _ = answer.send(match failure {
                None => out,
                Some(why) => Err(unavailable(why)),
            });
        })
    };
    (Job { key: key.as_str().to_owned(), run: Box::new(run) }, answered)
}

/// The writer thread and the queue to it. Dropping the last ledger handle closes the queue and
/// waits for the thread, so the file is released when `FileLedger` is gone (reopen, tests).
struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
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
fn write_batches(db: Arc<Database>, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter().take(MAX_BATCH - 1));
        run_batch(&db, batch, |tx| tx.commit().map_err(|e| e.to_string()));
    }
}

/// Applies `jobs` in order in one write transaction, commits it with `commit`, then answers
/// every job with the commit's outcome. A record that cannot be decoded fails only its own job;
/// a storage error fails the whole batch (nothing of it is committed).
fn run_batch(db: &Database, jobs: Vec<Job>, commit: impl FnOnce(WriteTransaction) -> Result<(), String>) {
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
        let record = match table.get(job.key.as_str()) {
            Ok(Some(raw)) => decode(raw.value()),
            Ok(None) => Ok(LinkRecord::default()),
            Err(e) => {
                let why = e.to_string();
                finishers.push((job.run)(Err(unavailable(&why))));
                return Err(why);
            }
        };
        let mut record = match record {
            Ok(record) => record,
            Err(error) => {
                finishers.push((job.run)(Err(error)));
                continue;
            }
        };
        finishers.push((job.run)(Ok(&mut record)));
        let bytes = serde_json::to_vec(&Stored::from(&record)).map_err(|e| e.to_string())?;
        table.insert(job.key.as_str(), bytes.as_slice()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn unavailable(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Unavailable(format!("file ledger: {e}"))
}

impl FileLedger {
    /// Opens (or creates) the ledger file. Fails if another process holds it.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let db = Database::create(path).map_err(|e| anyhow::anyhow!("cannot open the ledger {}: {e}", path.display()))?;
        // Create the table so that readers never see it missing.
        let tx = db.begin_write()?;
        tx.open_table(LINKS)?;
        tx.commit()?;
        let db = Arc::new(db);
        let (jobs, queue) = mpsc::channel();
        let thread = {
            let db = db.clone();
            std::thread::Builder::new().name("ledger-writer".into()).spawn(move || write_batches(db, queue))?
        };
        Ok(Self { db, writer: Arc::new(Writer { jobs: Some(jobs), thread: Some(thread) }) })
    }

    /// Reads one record, applies `change` to it and writes it back; answers once the batch that
    /// carries it is durably committed (see the module comment).
    async fn update<T: Send + 'static>(
        &self,
        key: &LedgerKey,
        change: impl FnOnce(&mut LinkRecord) -> T + Send + 'static,
    ) -> Result<T, LedgerError> {
        let (job, answered) = job(key, change);
        let jobs = self.writer.jobs.as_ref().ok_or_else(|| unavailable("the writer has stopped"))?;
        jobs.send(job).map_err(|_| unavailable("the writer has stopped"))?;
        answered.await.map_err(|_| unavailable("the writer dropped the change"))?
    }

    /// Deletes every record whose retention has passed; returns how many.
    pub fn purge(&self, now: SystemTime) -> anyhow::Result<u64> {
        let tx = self.db.begin_write()?;
        let mut removed = 0u64;
        {
            let mut table = tx.open_table(LINKS)?;
            let now_ms = ms(now);
            table.retain(|_, raw| {
                let keep = match serde_json::from_slice::<Stored>(raw) {
                    Ok(s) => s.retain_until_ms.is_none_or(|r| r > now_ms),
                    Err(_) => true, // never delete what we cannot read
                };
                if !keep {
                    removed += 1;
                }
                keep
            })?;
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Number of records (for metrics).
    pub fn len(&self) -> anyhow::Result<u64> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(LINKS)?.len()?)
    }

    /// Purges expired records every `every`, forever.
    pub fn spawn_purger(&self, every: Duration) {
        let ledger = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let l = ledger.clone();
                match tokio::task::spawn_blocking(move || l.purge(SystemTime::now())).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(purged = n, "purged expired ledger records"),
                    Ok(Err(error)) => tracing::warn!(%error, "ledger purge failed"),
                    Err(error) => tracing::warn!(%error, "ledger purge task failed"),
                }
            }
        });
    }
}

fn decode(raw: &[u8]) -> Result<LinkRecord, LedgerError> {
    serde_json::from_slice::<Stored>(raw).map(LinkRecord::from).map_err(|e| LedgerError::Corrupt(format!("file ledger record: {e}")))
}

#[async_trait]
impl Ledger for FileLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let claim = claim.clone();
        self.update(&claim.key.clone(), move |record| record.apply(&claim)).await
    }

    async fn revoke(&self, key: &LedgerKey, _at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        self.update(key, move |record| record.revoke(retain_until)).await
    }

    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError> {
        let db = self.db.clone();
        let key = key.as_str().to_owned();
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_read().map_err(unavailable)?;
            let table = tx.open_table(LINKS).map_err(unavailable)?;
            match table.get(key.as_str()).map_err(unavailable)? {
                Some(raw) => Ok(Some(decode(raw.value())?.state())),
                None => Ok(None),
            }
        })
        .await
        .map_err(unavailable)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(key: &str, request_id: &str, at: SystemTime, max_uses: u32) -> UseClaim {
        UseClaim {
            key: LedgerKey::for_link(key),
            request_id: request_id.into(),
            at,
            retain_until: at + Duration::from_secs(60),
            max_uses,
            fingerprint: Some("fp".into()),
        }
    }

    #[tokio::test]
    async fn claims_survive_reopening_and_purge_drops_old_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let now = from_ms(ms(SystemTime::now()));
        {
            let ledger = FileLedger::open(&path).unwrap();
            assert_eq!(ledger.claim(&claim("a", "r1", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
            assert_eq!(ledger.claim(&claim("a", "r1", now, 1)).await.unwrap(), ClaimOutcome::Retried);
        }
        let ledger = FileLedger::open(&path).unwrap();
        match ledger.claim(&claim("a", "r2", now, 1)).await.unwrap() {
            ClaimOutcome::Exhausted(used) => assert_eq!(used.first_used_at, now),
            other => panic!("expected exhausted, got {other:?}"),
        }
        ledger.revoke(&LedgerKey::for_link("b"), now, now + Duration::from_secs(3600)).await.unwrap();
        assert_eq!(ledger.claim(&claim("b", "r3", now, 5)).await.unwrap(), ClaimOutcome::Revoked);
        let state = ledger.lookup(&LedgerKey::for_link("a")).await.unwrap().unwrap();
        assert_eq!((state.uses, state.fingerprint.as_deref()), (1, Some("fp")));
        assert_eq!(ledger.len().unwrap(), 2);
        // "a" is retained 60 s, "b" an hour.
        assert_eq!(ledger.purge(now + Duration::from_secs(61)).unwrap(), 1);
        assert!(ledger.lookup(&LedgerKey::for_link("a")).await.unwrap().is_none());
        assert!(ledger.lookup(&LedgerKey::for_link("b")).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn concurrent_claims_have_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open(&dir.path().join("l.redb")).unwrap();
        let now = SystemTime::now();
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let l = ledger.clone();
                tokio::spawn(async move { l.claim(&claim("x", &format!("r{i}"), now, 1)).await.unwrap() })
            })
            .collect();
        let mut granted = 0;
        for t in tasks {
            if t.await.unwrap().is_allowed() {
                granted += 1;
            }
        }
        assert_eq!(granted, 1);
    }

    /// Two claims of one single-use link in ONE batch: the second sees the first's effect.
    #[tokio::test]
    async fn same_link_twice_in_one_batch_has_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open(&dir.path().join("l.redb")).unwrap();
        let now = SystemTime::now();
        let first = claim("x", "r1", now, 1);
        let second = claim("x", "r2", now, 1);
        let (job1, a1) = job(&first.key.clone(), move |r| r.apply(&first));
        let (job2, a2) = job(&second.key.clone(), move |r| r.apply(&second));
        run_batch(&ledger.db, vec![job1, job2], |tx| tx.commit().map_err(|e| e.to_string()));
        assert_eq!(a1.await.unwrap().unwrap(), ClaimOutcome::Granted { use_number: 1 });
        assert!(matches!(a2.await.unwrap().unwrap(), ClaimOutcome::Exhausted(_)));
        assert_eq!(ledger.lookup(&LedgerKey::for_link("x")).await.unwrap().unwrap().uses, 1);
    }

    /// A failed commit answers every claim of its batch with an error (→ 503), none with a
    /// grant, and nothing of the batch is stored.
    #[tokio::test]
    async fn failed_commit_fails_every_claim_of_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open(&dir.path().join("l.redb")).unwrap();
        let now = SystemTime::now();
        let (jobs, answers): (Vec<_>, Vec<_>) = ["a", "b", "a"]
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let c = claim(key, &format!("r{i}"), now, 1);
                job(&c.key.clone(), move |r| r.apply(&c))
            })
            .unzip();
        run_batch(&ledger.db, jobs, |tx| {
            drop(tx);
            Err("disk full (injected)".into())
        });
        for answer in answers {
            assert!(matches!(answer.await.unwrap(), Err(LedgerError::Unavailable(_))));
        }
        assert!(ledger.lookup(&LedgerKey::for_link("a")).await.unwrap().is_none());
        // The ledger still works afterwards, and the links are still unused.
        assert_eq!(ledger.claim(&claim("a", "r9", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
    }
}
