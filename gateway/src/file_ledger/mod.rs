//! The embedded, durable ledger: one `redb` file in the data directory, behind the core's
//! [`Ledger`] port.
//!
//! Storage only. The rule (what a claim does to a link's record) is the core's
//! [`LinkRecord::apply`] / [`LinkRecord::revoke`]; this adapter reads a record, applies the rule
//! and writes it back inside one write transaction, committed durably (fsync) before `claim`
//! returns, so concurrent first uses have exactly one winner and a granted use survives `kill -9`.
//! Writes are group-committed ([`batch`]); records are stored as [`stored`] says; expired
//! records are purged in the background.

mod batch;
mod stored;

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use oncelink::ledger::{
    ClaimOutcome, Commit, Delivery, Ledger, LedgerError, LedgerKey, LinkRecord, LinkState, Release, ResumeClaim, ResumeOutcome, UseClaim,
};
use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableDefinition};

use batch::{Writer, job, job_existing, write_batches};
use stored::decode;

const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");

#[derive(Clone)]
pub struct FileLedger {
    db: Arc<Database>,
    writer: Arc<Writer>,
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

    /// Reads one record (an absent one as empty), applies `change` to it and writes it back;
    /// answers once the batch that carries it is durably committed.
    async fn update<T: Send + 'static>(
        &self,
        key: &LedgerKey,
        change: impl FnOnce(&mut LinkRecord) -> T + Send + 'static,
    ) -> Result<T, LedgerError> {
        self.queue(job(key, change)).await
    }

    /// Like [`Self::update`], for a record that must exist: `change` gets `None` when it does not,
    /// and nothing is written then.
    async fn update_existing<T: Send + 'static>(
        &self,
        key: &LedgerKey,
        change: impl FnOnce(Option<&mut LinkRecord>) -> T + Send + 'static,
    ) -> Result<T, LedgerError> {
        self.queue(job_existing(key, change)).await
    }

    async fn queue<T>(&self, (job, answered): (batch::Job, batch::Answered<T>)) -> Result<T, LedgerError> {
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
            table.retain(|_, raw| {
                // Never delete what we cannot read.
                let keep = decode(raw).map_or(true, |record| !record.expired(now));
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
    pub fn record_count(&self) -> anyhow::Result<u64> {
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

#[async_trait]
impl Ledger for FileLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let claim = claim.clone();
        self.update(&claim.key.clone(), move |record| record.apply(&claim)).await
    }

    async fn commit(&self, key: &LedgerKey, request_id: &str) -> Result<Commit, LedgerError> {
        let request_id = request_id.to_owned();
        self.update_existing(key, move |record| record.map_or(Commit::Lost, |r| r.commit(&request_id))).await
    }

    async fn release(&self, key: &LedgerKey, request_id: &str) -> Result<Release, LedgerError> {
        let request_id = request_id.to_owned();
        self.update_existing(key, move |record| record.map_or(Release::NotHeld, |r| r.release(&request_id))).await
    }

    async fn resume(&self, resume: &ResumeClaim) -> Result<ResumeOutcome, LedgerError> {
        let resume = resume.clone();
        self.update_existing(&resume.key.clone(), move |record| record.map_or(ResumeOutcome::NotResumable, |r| r.resume(&resume))).await
    }

    async fn record_delivery(&self, key: &LedgerKey, fingerprint: Option<&str>, delivery: &Delivery) -> Result<(), LedgerError> {
        let (fingerprint, delivery) = (fingerprint.map(str::to_owned), delivery.clone());
        self.update_existing(key, move |record| {
            if let Some(record) = record {
                record.record_delivery(fingerprint.as_deref(), &delivery);
            }
        })
        .await
    }

    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        self.update(key, move |record| record.revoke(at, retain_until)).await
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

/// What only this adapter does: survive a reopen, purge by retention, commit in batches. The
/// ledger's semantics are the shared contract suite's (`tests/ledger_suite.rs`).
#[cfg(test)]
mod tests {
    use oncelink_testkit::{claim, key};

    use super::batch::run_batch;
    use super::*;

    #[tokio::test]
    async fn claims_survive_reopening_and_purge_drops_old_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let now = oncelink::time::from_unix_secs(oncelink::time::unix_secs(SystemTime::now()));
        let (a, b) = (key("a"), key("b"));
        {
            let ledger = FileLedger::open(&path).unwrap();
            assert_eq!(ledger.claim(&claim(&a, "r1", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        }
        let ledger = FileLedger::open(&path).unwrap();
        match ledger.claim(&claim(&a, "r2", now, 1)).await.unwrap() {
            ClaimOutcome::Exhausted(used) => assert_eq!(used.first_used_at, now),
            other => panic!("expected exhausted, got {other:?}"),
        }
        ledger.revoke(&b, now, now + Duration::from_secs(7200)).await.unwrap();
        assert_eq!(ledger.record_count().unwrap(), 2);
        // "a" is retained an hour (the claim's retention), "b" two.
        assert_eq!(ledger.purge(now + Duration::from_secs(3601)).unwrap(), 1);
        assert!(ledger.lookup(&a).await.unwrap().is_none());
        assert!(ledger.lookup(&b).await.unwrap().is_some());
    }

    /// Two claims of one single-use link in ONE batch: the second sees the first's effect.
    #[tokio::test]
    async fn same_link_twice_in_one_batch_has_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open(&dir.path().join("l.redb")).unwrap();
        let now = SystemTime::now();
        let (first, second) = (claim(&key("x"), "r1", now, 1), claim(&key("x"), "r2", now, 1));
        let (job1, a1) = job(&first.key.clone(), move |r| r.apply(&first));
        let (job2, a2) = job(&second.key.clone(), move |r| r.apply(&second));
        run_batch(&ledger.db, vec![job1, job2], |tx| tx.commit().map_err(|e| e.to_string()));
        assert_eq!(a1.await.unwrap().unwrap(), ClaimOutcome::Granted { use_number: 1 });
        assert!(matches!(a2.await.unwrap().unwrap(), ClaimOutcome::Exhausted(_)));
        assert_eq!(ledger.lookup(&key("x")).await.unwrap().unwrap().uses, 1);
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
            .map(|(i, name)| {
                let c = claim(&key(name), &format!("r{i}"), now, 1);
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
        assert!(ledger.lookup(&key("a")).await.unwrap().is_none());
        // The ledger still works afterwards, and the links are still unused.
        assert_eq!(ledger.claim(&claim(&key("a"), "r9", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
    }
}
