//! The embedded, durable ledger: every record in memory, every change in an append-only
//! journal file in the data directory, behind the core's [`Ledger`] port.
//!
//! Storage only. The rule (what a claim does to a link's record) is the core's
//! [`LinkRecord::apply`] and friends; this adapter runs it on the record under one lock
//! ([`state`]), so concurrent first uses have exactly one winner, and hands what changed to one
//! writer thread ([`writer`]) that appends it to the journal ([`journal`]: checksummed frames,
//! read back at open). A spent use (a claim without a hold, a confirmed hold), a revocation, a
//! resume and a tag are answered only once a synced frame holds them, so they survive `kill -9`
//! and a power cut; a hold, a hold given back, a delivery record and a refusal are not waited
//! for (lost in a crash, a hold lapses and its use comes back: nothing was delivered for it,
//! bytes leave only after the hold is confirmed, durably). Frames are group-committed: one
//! fsync for every change that waited meanwhile. A denial changes nothing and writes nothing.
//!
//! Reads (a denial, `lookup`) are answered from memory. The journal is compacted in the
//! background ([`compact`]); expired records are purged every minute. With a webhook, the same
//! journal holds its outbox: a change's events go into the frame of the change itself.
//!
//! Earlier versions kept the ledger in a redb file (`ledger.redb`); [`import`] copies one into
//! a journal once, at the first start of this version.
//!
//! Memory: each live record stays in memory (a few hundred bytes, more with a long trail) until
//! its retention ends.

mod compact;
mod import;
mod journal;
mod state;
mod stored;
mod writer;

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use oncelink::ledger::{
    ClaimOutcome, Commit, Delivery, Ledger, LedgerError, LedgerKey, LinkRecord, LinkState, Noted, Release, ResumeClaim, ResumeOutcome,
    TrailEntry, UseClaim,
};

pub use import::import_redb;
pub use state::Commits;
use state::{Effect, Must, Shared, State, Wait};
use writer::Journal;

use crate::webhook::Wake;

/// A journal past this size may be compacted (when it is also four times its size after the last).
const COMPACT_AT: u64 = 64 * 1024 * 1024;

#[derive(Clone)]
pub struct FileLedger {
    shared: Arc<Shared>,
    /// Held for its `Drop`: the last handle gone stops the writer.
    _writer: Arc<Writer>,
}

/// The writer thread. Dropping the last ledger handle tells it to write what is left and stop,
/// and waits for it, so the file is released when `FileLedger` is gone (reopen, tests).
struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Ok(mut state) = self.shared.state.lock() {
            state.closing = true;
            self.shared.work.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Unavailable(format!("file ledger: {e}"))
}

/// One webhook event waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEvent {
    pub seq: u64,
    pub appended_at: SystemTime,
    /// The event's JSON, exactly as the ledger made it: the body a receiver gets.
    pub body: Vec<u8>,
}

/// The outbox's side of the ledger, for the webhook's deliverer: events in sequence order, and
/// forgetting the delivered ones (written without a sync: a forget lost in a crash brings its
/// event back, delivered again, which at-least-once delivery allows).
#[derive(Clone)]
pub struct EventQueue {
    shared: Arc<Shared>,
}

impl EventQueue {
    /// The first `n` pending events whose frame is synced (an event not yet on disk tells of
    /// a change a crash could still take back: it waits).
    pub fn peek(&self, n: usize) -> Result<Vec<PendingEvent>, LedgerError> {
        let state = self.shared.lock()?;
        Ok(state.outbox.range(..=state.synced_seq).take(n).map(|(seq, (at_ms, body))| pending(*seq, *at_ms, body)).collect())
    }

    /// Forgets delivered events.
    pub fn delete(&self, seqs: &[u64]) -> Result<(), LedgerError> {
        let mut state = self.shared.lock()?;
        state.deliver(seqs);
        self.shared.wake_writer(&mut state);
        Ok(())
    }

    /// How many events wait, and when the oldest was appended.
    pub fn backlog(&self) -> Result<(u64, Option<SystemTime>), LedgerError> {
        let state = self.shared.lock()?;
        let oldest = state.outbox.iter().next().map(|(seq, (at_ms, body))| pending(*seq, *at_ms, body).appended_at);
        Ok((state.outbox.len() as u64, oldest))
    }
}

fn pending(seq: u64, at_ms: u64, body: &[u8]) -> PendingEvent {
    PendingEvent { seq, appended_at: UNIX_EPOCH + Duration::from_millis(at_ms), body: body.to_vec() }
}

impl FileLedger {
    /// Opens (or creates) the journal at `path`. Fails if another process holds it.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, None, COMPACT_AT)
    }

    /// Opens the ledger with a webhook's outbox: every change's events go into the frame of the
    /// change, and `wake` is notified after each frame that carried some.
    pub fn open_with_outbox(path: &Path, wake: Wake) -> anyhow::Result<Self> {
        Self::open_with(path, Some(wake), COMPACT_AT)
    }

    fn open_with(path: &Path, outbox: Option<Wake>, compact_at: u64) -> anyhow::Result<Self> {
        let cannot = |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot open the ledger {}: {e}", path.display());
        // A compaction cut short by a crash: the journal itself is whole.
        let _ = std::fs::remove_file(compact::compaction_path(path));
        let created = !path.exists();
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(path).map_err(|e| cannot(&e))?;
        file.try_lock().map_err(|e| cannot(&format!("{e} (is another oncelink using it?)")))?;
        if created || file.metadata().map_err(|e| cannot(&e))?.len() == 0 {
            use std::io::Write;
            file.write_all(journal::MAGIC).and_then(|()| file.sync_all()).map_err(|e| cannot(&e))?;
            writer::sync_dir(path).map_err(|e| cannot(&e))?;
        }
        let replayed = journal::replay(&mut file, path)?;
        if replayed.torn_bytes > 0 {
            tracing::warn!(bytes = replayed.torn_bytes, "the ledger's last write was cut short (a crash): it is dropped");
            file.set_len(replayed.intact_len).map_err(|e| cannot(&e))?;
        }
        let len = replayed.intact_len;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::from_replayed(replayed)),
            work: Condvar::new(),
            commits: Arc::default(),
            outbox,
            #[cfg(test)]
            fail_writes: Default::default(),
        });
        let journal = Journal::new(file, path.to_owned(), len, compact_at);
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new().name("ledger-writer".into()).spawn(move || writer::run(shared, journal))?
        };
        Ok(Self { _writer: Arc::new(Writer { shared: shared.clone(), thread: Some(thread) }), shared })
    }

    /// Tests: the next `n` writes of the journal fail (as on a full disk).
    #[cfg(test)]
    pub fn fail_next_writes(&self, n: u32) {
        self.shared.fail_writes.store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// The webhook's outbox in this ledger.
    pub fn events(&self) -> EventQueue {
        EventQueue { shared: self.shared.clone() }
    }

    /// Whether a webhook wants events (the ledger was opened with [`Self::open_with_outbox`]).
    pub fn events_wanted(&self) -> bool {
        self.shared.outbox.is_some()
    }

    /// Runs `change` on `key`'s record (created when absent) and answers once `must` allows.
    async fn update<T>(
        &self,
        key: &LedgerKey,
        must: impl FnOnce(&T) -> Must,
        change: impl FnOnce(&mut LinkRecord) -> T,
    ) -> Result<T, LedgerError> {
        let (out, wait) = self.shared.change(key, true, must, |record| change(record.expect("created when absent")))?;
        settle(out, wait).await
    }

    /// Like [`Self::update`], for a record that must exist: `change` gets `None` when it does
    /// not, and nothing is written then.
    async fn update_existing<T>(
        &self,
        key: &LedgerKey,
        must: impl FnOnce(&T) -> Must,
        change: impl FnOnce(Option<&mut LinkRecord>) -> T,
    ) -> Result<T, LedgerError> {
        let (out, wait) = self.shared.change(key, false, must, change)?;
        settle(out, wait).await
    }

    /// Like [`Self::update`], for a change whose outcome tells whether it changed the record
    /// (`changed`): no copy of the record is taken to find out.
    async fn update_known<T>(
        &self,
        key: &LedgerKey,
        must: Must,
        change: impl FnOnce(&mut LinkRecord) -> T,
        changed: impl FnOnce(&T) -> bool,
    ) -> Result<T, LedgerError> {
        let (out, wait) = self.shared.change_known(
            key,
            |_| must,
            |record| {
                let out = change(record);
                let effect = if changed(&out) { Effect::Changed } else { Effect::Unchanged };
                (out, effect)
            },
        )?;
        settle(out, wait).await
    }

    /// Removes every record whose retention has passed; returns how many.
    pub fn purge(&self, now: SystemTime) -> anyhow::Result<u64> {
        let mut state = self.shared.lock()?;
        let removed = state.purge(now);
        if removed > 0 {
            self.shared.wake_writer(&mut state);
        }
        Ok(removed)
    }

    /// The frames written so far, synced and not (shared: the metrics read them for as long as
    /// they like).
    pub fn commits(&self) -> Arc<Commits> {
        self.shared.commits.clone()
    }

    /// Number of records (for metrics).
    pub fn record_count(&self) -> anyhow::Result<u64> {
        Ok(self.shared.lock()?.records.len() as u64)
    }

    /// Purges expired records every `every`, forever.
    pub fn spawn_purger(&self, every: Duration) {
        let ledger = self.clone();
        crate::purger::spawn(every, move |now| {
            let l = ledger.clone();
            async move { l.purge(now) }
        });
    }
}

/// The answer, once what it rests on is durable (when it must be).
async fn settle<T>(out: T, wait: Option<Wait>) -> Result<T, LedgerError> {
    if let Some(wait) = wait {
        wait.await.map_err(|_| unavailable("the writer stopped"))?.map_err(unavailable)?;
    }
    Ok(out)
}

#[async_trait]
impl Ledger for FileLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        // A held use is confirmed (durably) before anything is delivered for it.
        let must = if claim.hold_until.is_some() { Must::BeVisible } else { Must::BeDurable };
        // Only a granted claim changes the record (the core's rule says so, and tests it).
        let granted = |outcome: &ClaimOutcome| matches!(outcome, ClaimOutcome::Granted { .. });
        self.update_known(&claim.key, must, |record| record.apply(claim), granted).await
    }

    async fn commit(&self, key: &LedgerKey, request_id: &str) -> Result<Commit, LedgerError> {
        self.update_existing(key, |_| Must::BeDurable, |record| record.map_or(Commit::Lost, |r| r.commit(request_id))).await
    }

    async fn release(&self, key: &LedgerKey, request_id: &str) -> Result<Release, LedgerError> {
        // A hold given back need not be synced: lost in a crash, it lapses, and the same use comes
        // back. A spent use given back must be: lost, it would stay spent.
        let change = |record: Option<&mut LinkRecord>| match record {
            None => (Release::NotHeld, Must::BeVisible),
            Some(r) => {
                let held = r.holds.iter().any(|(id, _)| *id == request_id);
                (r.release(request_id), if held { Must::BeVisible } else { Must::BeDurable })
            }
        };
        self.update_existing(key, |(_, must)| *must, change).await.map(|(released, _)| released)
    }

    async fn resume(&self, resume: &ResumeClaim) -> Result<ResumeOutcome, LedgerError> {
        // Only a resume granted changes the record (the core's rule says so, and tests it); a
        // spent link asked for again by its first client comes this way on every denial.
        let granted = |outcome: &ResumeOutcome| matches!(outcome, ResumeOutcome::Resumed { .. });
        self.update_known(&resume.key, Must::BeDurable, |record| record.resume(resume), granted).await
    }

    async fn record_delivery(&self, key: &LedgerKey, fingerprint: Option<&str>, delivery: &Delivery) -> Result<(), LedgerError> {
        // Made durable by the next synced frame; a crash before it loses what the recovery
        // of a cut-off download would have known (README: recovery after a crash).
        self.update_existing(
            key,
            |_| Must::BeVisible,
            |record| {
                if let Some(record) = record {
                    record.record_delivery(fingerprint, delivery);
                }
            },
        )
        .await
    }

    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        self.update(key, |_| Must::BeDurable, |record| record.revoke(at, retain_until)).await
    }

    async fn note_refusal(&self, key: &LedgerKey, entry: &TrailEntry, retain_until: SystemTime) -> Result<(), LedgerError> {
        // A refusal's trace need not survive a crash on its own (the next synced frame keeps it).
        let (_, wait) = self.shared.change_known(
            key,
            |_| Must::BeVisible,
            |record| {
                let effect = match record.note_refusal(entry, retain_until) {
                    Noted::Unchanged => Effect::Unchanged,
                    Noted::Counted => Effect::Counted,
                    Noted::Changed => Effect::Changed,
                };
                ((), effect)
            },
        )?;
        settle((), wait).await
    }

    async fn tag(&self, key: &LedgerKey, tag: &str, retain_until: SystemTime) -> Result<(), LedgerError> {
        // The link is handed out after this returns: its tag must be there after a crash.
        self.update(key, |_| Must::BeDurable, |record| record.tag(tag, retain_until)).await
    }

    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError> {
        Ok(self.shared.lock()?.records.get(key.as_str()).map(|entry| entry.record.state()))
    }
}

/// What only this adapter does: survive a reopen and a torn write, purge by retention, sync
/// only what must be durable, compact, fail a write without granting. The ledger's semantics are
/// the shared contract suite's (`tests/ledger_suite.rs`).
#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering::Relaxed;

    use oncelink::ledger::{ClientHint, TrailOutcome};
    use oncelink_testkit::{claim, key};

    use super::*;

    fn seconds_now() -> SystemTime {
        oncelink::time::from_unix_secs(oncelink::time::unix_secs(SystemTime::now()))
    }

    fn held(name: &str, rid: &str, now: SystemTime) -> UseClaim {
        let mut c = claim(&key(name), rid, now, 1);
        c.hold_until = Some(now + Duration::from_secs(60));
        c
    }

    #[tokio::test]
    async fn claims_survive_reopening_and_purge_drops_old_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.journal");
        let now = seconds_now();
        let (a, b) = (key("a"), key("b"));
        {
            let ledger = FileLedger::open(&path).unwrap();
            assert_eq!(ledger.claim(&claim(&a, "r1", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
            assert!(FileLedger::open(&path).is_err(), "one process at a time");
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
        drop(ledger);
        let ledger = FileLedger::open(&path).unwrap();
        assert!(ledger.lookup(&a).await.unwrap().is_none(), "the purge is in the journal");
        assert!(ledger.lookup(&b).await.unwrap().unwrap().revoked);
    }

    /// Only what must survive a crash is synced: a spent use, a confirmed hold, a revocation, and
    /// an answer that rests on something not yet synced. A hold, a hold given back, a delivery
    /// record are not; a denial writes nothing.
    #[tokio::test]
    async fn only_what_must_survive_a_crash_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open(&dir.path().join("l.journal")).unwrap();
        let synced = |l: &FileLedger| l.commits().synced.load(Relaxed);
        let now = SystemTime::now();
        assert_eq!(ledger.claim(&held("h", "r1", now)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        assert_eq!(synced(&ledger), 0, "a hold is not synced");
        assert!(matches!(ledger.claim(&held("h", "r2", now)).await.unwrap(), ClaimOutcome::Exhausted(_)));
        assert_eq!(synced(&ledger), 0, "a denial changes nothing");
        assert_eq!(ledger.commit(&key("h"), "r1").await.unwrap(), Commit::Committed);
        assert_eq!(synced(&ledger), 1, "a confirmed hold is synced");
        let delivery = Delivery { request_id: "r1".into(), at: now, bytes: 3, complete: true, resume: false };
        ledger.record_delivery(&key("h"), None, &delivery).await.unwrap();
        assert!(matches!(ledger.claim(&held("h", "r9", now)).await.unwrap(), ClaimOutcome::Exhausted(_)));
        assert!(matches!(ledger.claim(&held("h", "r1", now)).await.unwrap(), ClaimOutcome::Retried), "a retry still gets its answer");
        assert_eq!(synced(&ledger), 1, "a delivery record, a denial and a held retry are not synced");
        assert_eq!(ledger.claim(&held("g", "r3", now)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        assert_eq!(ledger.release(&key("g"), "r3").await.unwrap(), Release::Released);
        assert_eq!(synced(&ledger), 1, "a hold given back is not synced");
        // A durable answer that changes nothing still waits for what it read (g's release).
        assert_eq!(ledger.claim(&held("g", "r4", now)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        assert!(matches!(ledger.claim(&claim(&key("g"), "r4", now, 1)).await.unwrap(), ClaimOutcome::Retried));
        assert_eq!(synced(&ledger), 2, "a retry answered for good waits for the hold it found");
        assert_eq!(ledger.claim(&claim(&key("s"), "r5", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        assert_eq!(synced(&ledger), 3, "a use spent without a hold is synced");
        assert_eq!(ledger.release(&key("s"), "r5").await.unwrap(), Release::Released);
        assert_eq!(synced(&ledger), 4, "a spent use given back is synced");
        ledger.revoke(&key("s"), now, now + Duration::from_secs(60)).await.unwrap();
        assert_eq!(synced(&ledger), 5, "a revocation is synced");
        assert_eq!(ledger.claim(&claim(&key("s"), "r6", now, 1)).await.unwrap(), ClaimOutcome::Revoked);
        assert_eq!(synced(&ledger), 5, "a claim on a durably revoked link is answered at once");
    }

    /// A write that fails answers its callers with an error (→ 503), none with a grant; what it
    /// carried is not kept, and the ledger goes on.
    #[tokio::test]
    async fn a_failed_write_fails_its_claims_and_the_ledger_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.journal");
        let ledger = FileLedger::open(&path).unwrap();
        let now = SystemTime::now();
        assert_eq!(ledger.claim(&claim(&key("kept"), "r0", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        ledger.fail_next_writes(1);
        assert!(matches!(ledger.claim(&claim(&key("a"), "r1", now, 1)).await, Err(LedgerError::Unavailable(_))));
        assert!(ledger.lookup(&key("a")).await.unwrap().is_none(), "the failed change is not kept");
        assert_eq!(ledger.lookup(&key("kept")).await.unwrap().unwrap().uses, 1, "what was written before is");
        assert_eq!(ledger.claim(&claim(&key("a"), "r9", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
        drop(ledger);
        let ledger = FileLedger::open(&path).unwrap();
        assert_eq!(ledger.lookup(&key("a")).await.unwrap().unwrap().uses, 1);
    }

    /// A crash in the middle of a write leaves a torn frame at the end: it is dropped at the next
    /// open, and everything before it is there.
    #[tokio::test]
    async fn a_torn_last_write_is_dropped_at_open() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.journal");
        let now = SystemTime::now();
        {
            let ledger = FileLedger::open(&path).unwrap();
            ledger.claim(&claim(&key("a"), "r1", now, 1)).await.unwrap();
        }
        let intact = std::fs::metadata(&path).unwrap().len();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 1, 9]).unwrap();
        let ledger = FileLedger::open(&path).unwrap();
        assert_eq!(ledger.lookup(&key("a")).await.unwrap().unwrap().uses, 1);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), intact, "cut back to its intact frames");
        ledger.claim(&claim(&key("b"), "r2", now, 1)).await.unwrap();
        drop(ledger);
        let ledger = FileLedger::open(&path).unwrap();
        assert_eq!(ledger.lookup(&key("b")).await.unwrap().unwrap().uses, 1, "frames after the cut read back");
    }

    /// Many changes to few records: the journal is compacted while changes go on, and reopening
    /// reads the same records.
    #[tokio::test]
    async fn the_journal_is_compacted_and_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.journal");
        let now = seconds_now();
        let ledger = FileLedger::open_with(&path, None, 16 * 1024).unwrap();
        let mut written = 0u64;
        for round in 0..40u32 {
            for link in 0..25u32 {
                let name = format!("k{link}");
                let c = claim(&key(&name), &format!("r{round}"), now, 1000);
                assert!(ledger.claim(&c).await.unwrap().is_allowed());
                written += 1;
            }
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ledger.commits().compactions.load(Relaxed) == 0 {
            assert!(std::time::Instant::now() < deadline, "no compaction");
            // Changes go on while the copy is made.
            ledger.claim(&claim(&key("k0"), &format!("more{written}"), now, 100_000)).await.unwrap();
            written += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let before: Vec<_> =
            (0..25).map(|i| ledger.shared.lock().unwrap().records[key(&format!("k{i}")).as_str()].record.clone()).collect();
        drop(ledger);
        assert!(!compact::compaction_path(&path).exists(), "a copy in progress at close is removed");
        let ledger = FileLedger::open(&path).unwrap();
        for (i, record) in before.iter().enumerate() {
            assert_eq!(&ledger.shared.lock().unwrap().records[key(&format!("k{i}")).as_str()].record, record, "k{i}");
        }
        assert!(before[1].uses == 40 && before[0].uses >= 40);
    }

    /// Refusals past the kept ones change only the count, written lazily: at close, at the latest.
    #[tokio::test]
    async fn refusal_counts_are_written_by_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.journal");
        let now = SystemTime::now();
        let refusal = |i: u32| TrailEntry {
            request_id: format!("x{i}"),
            at: now,
            outcome: TrailOutcome::Refused("link_already_used".into()),
            client: ClientHint::default(),
        };
        {
            let ledger = FileLedger::open(&path).unwrap();
            for i in 0..30 {
                ledger.note_refusal(&key("a"), &refusal(i), now + Duration::from_secs(60)).await.unwrap();
            }
            assert_eq!(ledger.shared.lock().unwrap().records[key("a").as_str()].record.refusals, 30);
        }
        let ledger = FileLedger::open(&path).unwrap();
        let record = ledger.shared.lock().unwrap().records[key("a").as_str()].record.clone();
        assert_eq!((record.refusals, record.trail.len()), (30, oncelink::ledger::REFUSALS_KEPT as usize));
    }
}
