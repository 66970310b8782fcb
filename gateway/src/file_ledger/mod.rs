//! The embedded, durable ledger: one `redb` file in the data directory, behind the core's
//! [`Ledger`] port.
//!
//! Storage only. The rule (what a claim does to a link's record) is the core's
//! [`LinkRecord::apply`] / [`LinkRecord::revoke`]; this adapter reads a record, applies the rule
//! and writes it back inside one write transaction, so concurrent first uses have exactly one
//! winner. A spent use (a claim without a hold, a confirmed hold), a revocation and a resume are
//! committed durably (fsync) before the call returns, so they survive `kill -9`; a hold, a hold
//! given back and a delivery record are committed without a sync of their own ([`batch`] says
//! why that loses nothing). Writes are group-committed; records are stored as [`stored`] says;
//! expired records are purged in the background. With a webhook, the same file holds its outbox
//! (`crate::webhook::outbox`), appended to in the transaction of the change it tells of.

mod batch;
mod stored;

use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use oncelink::ledger::{
    ClaimOutcome, Commit, Delivery, Ledger, LedgerError, LedgerKey, LinkRecord, LinkState, Release, ResumeClaim, ResumeOutcome, TrailEntry,
    UseClaim,
};
use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableDefinition};

pub use batch::Commits;
use batch::{Must, Writer, job, job_existing, write_batches};
use stored::decode;

use crate::webhook::{OUTBOX, Wake};

const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");

#[derive(Clone)]
pub struct FileLedger {
    db: Arc<Database>,
    writer: Arc<Writer>,
    commits: Arc<Commits>,
    /// Set when a webhook wants events: the writer appends each change's events to the outbox
    /// and wakes the deliverer after the commit (`crate::webhook::outbox`).
    outbox: Option<Wake>,
}

fn unavailable(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Unavailable(format!("file ledger: {e}"))
}

impl FileLedger {
    /// Opens (or creates) the ledger file. Fails if another process holds it.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, None)
    }

    /// Opens the ledger with a webhook's outbox: every change's events are appended to it in
    /// the change's own transaction, and `wake` is notified after each commit that appended.
    pub fn open_with_outbox(path: &Path, wake: Wake) -> anyhow::Result<Self> {
        Self::open_with(path, Some(wake))
    }

    fn open_with(path: &Path, outbox: Option<Wake>) -> anyhow::Result<Self> {
        let db = Database::create(path).map_err(|e| anyhow::anyhow!("cannot open the ledger {}: {e}", path.display()))?;
        // Create the tables so that readers never see them missing.
        let tx = db.begin_write()?;
        tx.open_table(LINKS)?;
        tx.open_table(OUTBOX)?;
        tx.commit()?;
        let db = Arc::new(db);
        let (jobs, queue) = mpsc::channel();
        let commits = Arc::new(Commits::default());
        let thread = {
            let db = db.clone();
            let commits = commits.clone();
            let outbox = outbox.clone();
            std::thread::Builder::new().name("ledger-writer".into()).spawn(move || write_batches(db, queue, commits, outbox))?
        };
        Ok(Self { db, writer: Arc::new(Writer { jobs: Some(jobs), thread: Some(thread) }), commits, outbox })
    }

    /// The redb database (the webhook's deliverer reads and deletes its outbox in it).
    pub fn database(&self) -> Arc<Database> {
        self.db.clone()
    }

    /// Whether a webhook wants events (the ledger was opened with [`Self::open_with_outbox`]).
    pub fn events_wanted(&self) -> bool {
        self.outbox.is_some()
    }

    /// Reads one record (an absent one as empty), applies `change` to it and writes it back;
    /// answers once the batch that carries it is committed — synced if `must` says so of the
    /// outcome.
    async fn update<T: Send + 'static>(
        &self,
        key: &LedgerKey,
        must: impl FnOnce(&T) -> Must + Send + 'static,
        change: impl FnOnce(&mut LinkRecord) -> T + Send + 'static,
    ) -> Result<T, LedgerError> {
        self.queue(job(key, must, change)).await
    }

    /// Like [`Self::update`], for a record that must exist: `change` gets `None` when it does not,
    /// and nothing is written then.
    async fn update_existing<T: Send + 'static>(
        &self,
        key: &LedgerKey,
        must: impl FnOnce(&T) -> Must + Send + 'static,
        change: impl FnOnce(Option<&mut LinkRecord>) -> T + Send + 'static,
    ) -> Result<T, LedgerError> {
        self.queue(job_existing(key, must, change)).await
    }

    async fn queue<T>(&self, (job, answered): (batch::Job, batch::Answered<T>)) -> Result<T, LedgerError> {
        let jobs = self.writer.jobs.as_ref().ok_or_else(|| unavailable("the writer has stopped"))?;
        jobs.send(job).map_err(|_| unavailable("the writer has stopped"))?;
        answered.await.map_err(|_| unavailable("the writer dropped the change"))?
    }

    /// A claim the rule refuses without changing the record (a spent, exhausted or revoked
    /// link, a live hold) is answered from the committed record: no write, no trip to the writer
    /// and its queue. The answer is the one the writer would give, decided at this read (a
    /// change committed after it orders after this claim). Anything else — a fresh link, a use
    /// left, a lapsed hold, a retry — goes to the writer. The read is of pages the ledger keeps
    /// cached (a spent link was written moments ago), done on the runtime thread: a trip to the
    /// blocking pool would cost more than the read.
    fn refused_as_it_stands(&self, claim: &UseClaim) -> Result<Option<ClaimOutcome>, LedgerError> {
        let tx = self.db.begin_read().map_err(unavailable)?;
        let table = tx.open_table(LINKS).map_err(unavailable)?;
        let Some(raw) = table.get(claim.key.as_str()).map_err(unavailable)? else { return Ok(None) };
        let Ok(mut record) = decode(raw.value()) else { return Ok(None) };
        let outcome = record.apply(claim);
        let unchanged = stored::encode(&record).is_ok_and(|bytes| bytes == raw.value());
        Ok((unchanged && !outcome.is_allowed()).then_some(outcome))
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

    /// The commits made so far, synced and not (shared: the metrics read them for as long as
    /// they like).
    pub fn commits(&self) -> Arc<Commits> {
        self.commits.clone()
    }

    /// Number of records (for metrics).
    pub fn record_count(&self) -> anyhow::Result<u64> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(LINKS)?.len()?)
    }

    /// Purges expired records every `every`, forever (on the blocking pool: one write
    /// transaction over the whole table).
    pub fn spawn_purger(&self, every: Duration) {
        let ledger = self.clone();
        crate::purger::spawn(every, move |now| {
            let l = ledger.clone();
            async move { tokio::task::spawn_blocking(move || l.purge(now)).await.map_err(anyhow::Error::from)? }
        });
    }
}

#[async_trait]
impl Ledger for FileLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        if let Some(refused) = self.refused_as_it_stands(claim)? {
            return Ok(refused);
        }
        let claim = claim.clone();
        // A held use is confirmed (durably) before anything is delivered for it.
        let must = if claim.hold_until.is_some() { Must::BeVisible } else { Must::BeDurable };
        self.update(&claim.key.clone(), move |_| must, move |record| record.apply(&claim)).await
    }

    async fn commit(&self, key: &LedgerKey, request_id: &str) -> Result<Commit, LedgerError> {
        let request_id = request_id.to_owned();
        self.update_existing(key, |_| Must::BeDurable, move |record| record.map_or(Commit::Lost, |r| r.commit(&request_id))).await
    }

    async fn release(&self, key: &LedgerKey, request_id: &str) -> Result<Release, LedgerError> {
        let request_id = request_id.to_owned();
        // A hold given back need not be synced: lost in a crash, it lapses, and the same use comes
        // back. A spent use given back must be: lost, it would stay spent.
        let change = move |record: Option<&mut LinkRecord>| match record {
            None => (Release::NotHeld, Must::BeVisible),
            Some(r) => {
                let held = r.holds.iter().any(|(id, _)| *id == request_id);
                (r.release(&request_id), if held { Must::BeVisible } else { Must::BeDurable })
            }
        };
        self.update_existing(key, |(_, must)| *must, change).await.map(|(released, _)| released)
    }

    async fn resume(&self, resume: &ResumeClaim) -> Result<ResumeOutcome, LedgerError> {
        let (key, resume) = (resume.key.clone(), resume.clone());
        let change = move |record: Option<&mut LinkRecord>| record.map_or(ResumeOutcome::NotResumable, |r| r.resume(&resume));
        self.update_existing(&key, |_| Must::BeDurable, change).await
    }

    async fn record_delivery(&self, key: &LedgerKey, fingerprint: Option<&str>, delivery: &Delivery) -> Result<(), LedgerError> {
        let (fingerprint, delivery) = (fingerprint.map(str::to_owned), delivery.clone());
        // Made durable by the next synced commit; a crash before it loses what the recovery
        // of a cut-off download would have known (README: recovery after a crash).
        self.update_existing(
            key,
            |_| Must::BeVisible,
            move |record| {
                if let Some(record) = record {
                    record.record_delivery(fingerprint.as_deref(), &delivery);
                }
            },
        )
        .await
    }

    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        self.update(key, |_| Must::BeDurable, move |record| record.revoke(at, retain_until)).await
    }

    async fn note_refusal(&self, key: &LedgerKey, entry: &TrailEntry, retain_until: SystemTime) -> Result<(), LedgerError> {
        let entry = entry.clone();
        // A refusal's trace need not survive a crash on its own (the next synced commit keeps it).
        self.update(key, |_| Must::BeVisible, move |record| record.note_refusal(&entry, retain_until)).await
    }

    async fn tag(&self, key: &LedgerKey, tag: &str, retain_until: SystemTime) -> Result<(), LedgerError> {
        let tag = tag.to_owned();
        // The link is handed out after this returns: its tag must be there after a crash.
        self.update(key, |_| Must::BeDurable, move |record| record.tag(&tag, retain_until)).await
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

    /// Only what must survive a crash is synced: a spent use, a confirmed hold, a revocation. A
    /// hold, a hold given back and a delivery record are not; a denial commits nothing at all.
    #[tokio::test]
    async fn only_what_must_survive_a_crash_is_synced() {
        use std::sync::atomic::Ordering::Relaxed;
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open(&dir.path().join("l.redb")).unwrap();
        let counts = |l: &FileLedger| (l.commits().synced.load(Relaxed), l.commits().unsynced.load(Relaxed));
        let now = SystemTime::now();
        let held = |name: &str, rid: &str| {
            let mut c = claim(&key(name), rid, now, 1);
            c.hold_until = Some(now + Duration::from_secs(60));
            c
        };
        assert_eq!(ledger.claim(&held("h", "r1")).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        assert_eq!(counts(&ledger), (0, 1), "a hold is not synced");
        assert!(matches!(ledger.claim(&held("h", "r2")).await.unwrap(), ClaimOutcome::Exhausted(_)));
        assert_eq!(counts(&ledger), (0, 1), "a denial changes nothing: it is answered from a read, without a commit");
        assert_eq!(ledger.commit(&key("h"), "r1").await.unwrap(), Commit::Committed);
        assert_eq!(counts(&ledger), (1, 1), "a confirmed hold is synced");
        let delivery = Delivery { request_id: "r1".into(), at: now, bytes: 3, complete: true, resume: false };
        ledger.record_delivery(&key("h"), None, &delivery).await.unwrap();
        assert_eq!(counts(&ledger), (1, 2), "a delivery record is not synced");
        assert!(matches!(ledger.claim(&held("h", "r9")).await.unwrap(), ClaimOutcome::Exhausted(_)));
        assert!(matches!(ledger.claim(&held("h", "r1")).await.unwrap(), ClaimOutcome::Retried), "a retry still gets its answer");
        assert_eq!(counts(&ledger), (1, 3), "the retry went to the writer, the denial did not");
        assert_eq!(ledger.claim(&held("g", "r3")).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        assert_eq!(ledger.release(&key("g"), "r3").await.unwrap(), Release::Released);
        assert_eq!(counts(&ledger), (1, 5), "a hold given back is not synced");
        assert_eq!(ledger.claim(&claim(&key("s"), "r4", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        assert_eq!(counts(&ledger), (2, 5), "a use spent without a hold is synced");
        assert_eq!(ledger.release(&key("s"), "r4").await.unwrap(), Release::Released);
        assert_eq!(counts(&ledger), (3, 5), "a spent use given back is synced");
        assert_eq!(ledger.claim(&claim(&key("s"), "r5", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        ledger.revoke(&key("s"), now, now + Duration::from_secs(60)).await.unwrap();
        assert_eq!(counts(&ledger), (5, 5), "a revocation is synced");
        assert_eq!(ledger.claim(&claim(&key("s"), "r6", now, 1)).await.unwrap(), ClaimOutcome::Revoked);
        assert_eq!(counts(&ledger), (5, 5), "a claim on a revoked link is answered from a read");
    }

    /// Two claims of one single-use link in ONE batch: the second sees the first's effect.
    #[tokio::test]
    async fn same_link_twice_in_one_batch_has_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open(&dir.path().join("l.redb")).unwrap();
        let now = SystemTime::now();
        let (first, second) = (claim(&key("x"), "r1", now, 1), claim(&key("x"), "r2", now, 1));
        let (job1, a1) = job(&first.key.clone(), |_| Must::BeDurable, move |r| r.apply(&first));
        let (job2, a2) = job(&second.key.clone(), |_| Must::BeDurable, move |r| r.apply(&second));
        run_batch(&ledger.db, vec![job1, job2], None, batch::commit);
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
                job(&c.key.clone(), |_| Must::BeDurable, move |r| r.apply(&c))
            })
            .unzip();
        run_batch(&ledger.db, jobs, None, |tx, _| {
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
