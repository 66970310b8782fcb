//! The ledger's live state, in memory, behind one mutex: every record, the webhook's outbox, and
//! what the writer has still to put in the journal.
//!
//! A change runs under the lock: it takes the record (creating it when asked), applies the
//! core's rule to it, and — when the record changed — gives it the next version and marks it
//! for the writer's next frame. Concurrent changes to one link are therefore one after the
//! other, and the second sees the first: exactly one winner.
//!
//! A change is visible to every later one at once. Whether its *caller* waits for the disk is
//! what the outcome [`Must`] be: a durable answer (a spent use, a revocation, a resume, a tag)
//! waits until a synced frame covers the record's version — also when the change itself wrote
//! nothing (a retry recognised, a commit repeated), since its answer rests on what it read. The
//! journal is appended in version order of the cuts, so once a frame is synced every change
//! before it is durable too: an answer never rests on something a crash could take back.
//!
//! A refusal past the ones the trail keeps changes only the count of refusals. Such a change
//! is written lazily (at least every [`LAZY_EVERY`], with the next frame that writes the record
//! anyway, and at close): a crash may lose the last seconds of that count, never a use, a hold, a
//! kept trail entry or an event. Without this a link hammered with spent requests would rewrite
//! its record, trail and all, once per request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oncelink::events::changes;
use oncelink::ledger::{LedgerError, LedgerKey, LinkRecord};
use tokio::sync::oneshot;

use super::journal::{Frame, Replayed, StoredEvent};
use super::unavailable;
use crate::webhook::Wake;

/// How long a change of the refusal count alone may wait to be written.
pub const LAZY_EVERY: Duration = Duration::from_secs(5);

/// What a change did to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Unchanged,
    /// Its refusal count alone (written lazily).
    Counted,
    Changed,
}

/// Resolved once a synced frame covers what an answer rests on (or with why it failed).
pub type Wait = oneshot::Receiver<Result<(), String>>;

/// Whether a change's outcome must survive a crash before its caller is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Must {
    BeDurable,
    BeVisible,
}

/// How many frames the writer wrote, synced and not, and the changes they carried (the metrics,
/// and the tests that hold the ledger to syncing only what must be synced).
#[derive(Debug, Default)]
pub struct Commits {
    pub synced: AtomicU64,
    pub unsynced: AtomicU64,
    /// Changes made (a change that changes nothing is not one).
    pub changes: AtomicU64,
    /// Compactions finished (the journal rewritten as its live records).
    pub compactions: AtomicU64,
}

/// One record and its bookkeeping.
#[derive(Debug)]
pub(super) struct Entry {
    pub version: u64,
    /// Shared with the writer while it encodes the record (outside the lock); a change then
    /// copies it first ([`Arc::make_mut`]).
    pub record: Arc<LinkRecord>,
    /// Changed since its last frame (it is in `State::dirty`).
    dirty: bool,
    /// Its refusal count changed since its last frame (it is in `State::lazy`).
    lazy: bool,
}

/// A caller waiting for the next synced frame (which covers every version given so far).
struct Waiter {
    answer: oneshot::Sender<Result<(), String>>,
}

/// Everything behind the lock.
#[derive(Default)]
pub(super) struct State {
    pub records: BTreeMap<String, Entry>,
    /// The last version given to a change.
    pub version: u64,
    /// The highest version a synced frame covers.
    durable: u64,
    dirty: Vec<String>,
    lazy: Vec<String>,
    lazy_since: Option<Instant>,
    removed: Vec<(String, u64)>,
    /// The outbox: pending events by sequence number (kept until delivered).
    pub outbox: BTreeMap<u64, StoredEvent>,
    last_seq: u64,
    /// The last event in a synced frame: the deliverer sees no event past it (an event must
    /// never tell of a change a crash could still take back).
    pub synced_seq: u64,
    /// Events and deliveries not yet in a frame.
    new_events: Vec<u64>,
    delivered: Vec<u64>,
    waiters: Vec<Waiter>,
    /// Set when the disk failed a sync: nothing may be answered from this state any more.
    pub failed: Option<String>,
    /// The last handle is gone: the writer writes what is left and stops.
    pub closing: bool,
    /// The writer is waiting for work (so a change must wake it).
    pub writer_idle: bool,
}

/// The state and what wakes its writer.
pub(super) struct Shared {
    pub state: Mutex<State>,
    pub work: Condvar,
    pub commits: Arc<Commits>,
    /// Set when a webhook wants events: notified after each frame that carried some.
    pub outbox: Option<Wake>,
    /// Tests: how many of the next writes fail.
    #[cfg(test)]
    pub fail_writes: std::sync::atomic::AtomicU32,
}

/// What the writer takes under the lock for one frame.
pub(super) struct Cut {
    /// The records changed (shared, encoded outside the lock), with their versions.
    records: Vec<(String, u64, Arc<LinkRecord>)>,
    removed: Vec<(String, u64)>,
    events: Vec<(u64, u64, Vec<u8>)>,
    delivered: Vec<u64>,
    /// The versions it covers: up to this one.
    pub version: u64,
    /// The events it covers: up to this one.
    seq: u64,
    waiters: Vec<Waiter>,
}

impl Cut {
    /// Synced: callers are waiting on it, or it carries events.
    pub fn must_sync(&self) -> bool {
        !self.waiters.is_empty() || self.has_events()
    }

    /// It carries events: it is synced, and the deliverer woken after.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The frame (encoded outside the lock). The records are let go of here, so that a change
    /// made to one while the frame is written and synced need not copy it.
    pub fn frame(&mut self) -> Result<Frame, String> {
        let mut frame = Frame::default();
        for (key, version, record) in std::mem::take(&mut self.records) {
            frame.record(version, &key, &record)?;
        }
        for (key, version) in &self.removed {
            frame.removed(*version, key)?;
        }
        for (seq, at_ms, body) in &self.events {
            frame.event(*seq, *at_ms, body)?;
        }
        for seq in &self.delivered {
            frame.delivered(*seq);
        }
        Ok(frame)
    }
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl State {
    /// The state a journal was read back as.
    pub fn from_replayed(replayed: Replayed) -> Self {
        let records = replayed
            .records
            .into_iter()
            .map(|(key, (version, record))| (key, Entry { version, record: Arc::new(record), dirty: false, lazy: false }))
            .collect();
        let version = replayed.last_version;
        let (last_seq, outbox) = (replayed.last_seq, replayed.events);
        Self { records, version, durable: version, outbox, last_seq, synced_seq: last_seq, ..Self::default() }
    }

    /// Whether the writer has anything to write now (lazy counts only once they are due).
    pub fn has_work(&self, now: Instant) -> bool {
        !self.dirty.is_empty()
            || !self.removed.is_empty()
            || !self.new_events.is_empty()
            || !self.delivered.is_empty()
            || !self.waiters.is_empty()
            || self.lazy_due().is_some_and(|due| due <= now)
    }

    /// How many callers wait for the next synced frame.
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// When the oldest unwritten refusal count is due.
    pub fn lazy_due(&self) -> Option<Instant> {
        self.lazy_since.map(|since| since + LAZY_EVERY)
    }

    /// Takes everything unwritten (lazy counts too when `all` or due), and the waiters its
    /// frame answers once synced. Cheap: the records are shared, not encoded, here.
    pub fn cut(&mut self, now: Instant, all: bool) -> Cut {
        let mut records = Vec::with_capacity(self.dirty.len());
        for key in std::mem::take(&mut self.dirty) {
            if let Some(entry) = self.records.get_mut(&key) {
                entry.dirty = false;
                entry.lazy = false;
                records.push((key, entry.version, entry.record.clone()));
            }
        }
        if all || self.lazy_due().is_some_and(|due| due <= now) {
            for key in std::mem::take(&mut self.lazy) {
                if let Some(entry) = self.records.get_mut(&key).filter(|e| e.lazy) {
                    entry.lazy = false;
                    records.push((key, entry.version, entry.record.clone()));
                }
            }
            self.lazy_since = None;
        }
        let events = std::mem::take(&mut self.new_events)
            .into_iter()
            .filter_map(|seq| self.outbox.get(&seq).map(|(at_ms, body)| (seq, *at_ms, body.clone())))
            .collect();
        Cut {
            records,
            removed: std::mem::take(&mut self.removed),
            events,
            delivered: std::mem::take(&mut self.delivered),
            version: self.version,
            seq: self.last_seq,
            waiters: std::mem::take(&mut self.waiters),
        }
    }

    /// The cut is on disk (synced when `synced`): its waiters are answered.
    pub fn written(&mut self, cut: Cut, synced: bool) {
        if synced {
            self.durable = self.durable.max(cut.version);
            self.synced_seq = self.synced_seq.max(cut.seq);
        }
        for waiter in cut.waiters {
            let _ = waiter.answer.send(Ok(()));
        }
    }

    /// Fails every caller waiting, in `cut` and since.
    pub fn fail_waiters(&mut self, cut: Option<Cut>, why: &str) {
        for waiter in cut.into_iter().flat_map(|c| c.waiters).chain(std::mem::take(&mut self.waiters)) {
            let _ = waiter.answer.send(Err(why.to_owned()));
        }
    }

    /// Removes every record whose retention has passed; returns how many.
    pub fn purge(&mut self, now: SystemTime) -> u64 {
        let expired: Vec<String> = self.records.iter().filter(|(_, e)| e.record.expired(now)).map(|(k, _)| k.clone()).collect();
        for key in &expired {
            self.records.remove(key);
            self.version += 1;
            self.removed.push((key.clone(), self.version));
        }
        expired.len() as u64
    }

    /// The deliverer took these events.
    pub fn deliver(&mut self, seqs: &[u64]) {
        for seq in seqs {
            if self.outbox.remove(seq).is_some() {
                self.delivered.push(*seq);
            }
        }
    }
}

impl Shared {
    pub fn lock(&self) -> Result<MutexGuard<'_, State>, LedgerError> {
        let state = self.state.lock().map_err(|_| unavailable("a change panicked"))?;
        match &state.failed {
            Some(why) => Err(unavailable(why)),
            None => Ok(state),
        }
    }

    /// Wakes the writer if it waits for work.
    pub fn wake_writer(&self, state: &mut State) {
        if state.writer_idle {
            state.writer_idle = false;
            self.work.notify_one();
        }
    }

    /// Runs `change` on the record of `key` (created as empty when absent and `create`; else
    /// `None`) and answers with its result; the receiver, when there is one, says when the
    /// answer may be given (a synced frame covers what it rests on). What changed is found by
    /// comparing the record with a copy taken before. See the module doc.
    pub fn change<T>(
        &self,
        key: &LedgerKey,
        create: bool,
        must: impl FnOnce(&T) -> Must,
        change: impl FnOnce(Option<&mut LinkRecord>) -> T,
    ) -> Result<(T, Option<Wait>), LedgerError> {
        self.run(key, create, must, false, |record| (change(record), None))
    }

    /// Like [`Self::change`] (the record created when absent), for a change that says itself
    /// what it changed: no copy of the record is taken (unless events are wanted). The two
    /// hottest changes are of this kind: a claim (only a granted one changes the record) and a
    /// refusal ([`oncelink::ledger::Noted`]).
    pub fn change_known<T>(
        &self,
        key: &LedgerKey,
        must: impl FnOnce(&T) -> Must,
        change: impl FnOnce(&mut LinkRecord) -> (T, Effect),
    ) -> Result<(T, Option<Wait>), LedgerError> {
        self.run(key, true, must, true, |record| {
            let (out, effect) = change(record.expect("created when absent"));
            (out, Some(effect))
        })
    }

    fn run<T>(
        &self,
        key: &LedgerKey,
        create: bool,
        must: impl FnOnce(&T) -> Must,
        known: bool,
        change: impl FnOnce(Option<&mut LinkRecord>) -> (T, Option<Effect>),
    ) -> Result<(T, Option<Wait>), LedgerError> {
        let mut guard = self.lock()?;
        let state = &mut *guard;
        let created = !state.records.contains_key(key.as_str());
        if created {
            if !create {
                return Ok((change(None).0, None));
            }
            let entry = Entry { version: 0, record: Arc::default(), dirty: false, lazy: false };
            state.records.insert(key.as_str().to_owned(), entry);
        }
        let entry = state.records.get_mut(key.as_str()).expect("present or just created");
        let before = (!known || self.outbox.is_some()).then(|| LinkRecord::clone(&entry.record));
        let record = Arc::make_mut(&mut entry.record);
        let (out, effect) = change(Some(record));
        let effect = effect.unwrap_or_else(|| match &before {
            Some(before) if before == record => Effect::Unchanged,
            Some(before) if only_counted(before, record) => Effect::Counted,
            _ => Effect::Changed,
        });
        let needs = must(&out);
        if effect == Effect::Unchanged {
            let version = entry.version;
            if created {
                state.records.remove(key.as_str());
            }
            // Nothing to write; a durable answer still waits for what it read to be durable.
            let wait = (needs == Must::BeDurable && version > state.durable).then(|| self.wait(state));
            return Ok((out, wait));
        }
        Ok((out, self.changed(state, key, before, effect, needs)))
    }

    /// Books a change of `key`'s record: its version, its place in the next frame, its events
    /// (from `before`, taken when events are wanted); returns the wait its caller needs.
    fn changed(&self, state: &mut State, key: &LedgerKey, before: Option<LinkRecord>, effect: Effect, needs: Must) -> Option<Wait> {
        self.commits.changes.fetch_add(1, Ordering::Relaxed);
        state.version += 1;
        let version = state.version;
        let entry = state.records.get_mut(key.as_str()).expect("the entry changed is present");
        entry.version = version;
        if effect == Effect::Counted {
            if !entry.lazy && !entry.dirty {
                entry.lazy = true;
                state.lazy.push(key.as_str().to_owned());
                state.lazy_since.get_or_insert_with(Instant::now);
            }
        } else if !entry.dirty {
            entry.dirty = true;
            state.dirty.push(key.as_str().to_owned());
        }
        if let (Some(_), Some(before)) = (&self.outbox, &before) {
            let at = ms(SystemTime::now());
            for event in changes(key, before, &entry.record) {
                state.last_seq += 1;
                state.outbox.insert(state.last_seq, (at, event.to_json().to_string().into_bytes()));
                state.new_events.push(state.last_seq);
            }
        }
        let wait = (needs == Must::BeDurable).then(|| self.wait(state));
        self.wake_writer(state);
        wait
    }

    fn wait(&self, state: &mut State) -> Wait {
        let (answer, answered) = oneshot::channel();
        state.waiters.push(Waiter { answer });
        self.wake_writer(state);
        answered
    }
}

/// Whether `after` differs from `before` in its refusal count alone.
fn only_counted(before: &LinkRecord, after: &mut LinkRecord) -> bool {
    if after.refusals == before.refusals {
        return false;
    }
    let counted = std::mem::replace(&mut after.refusals, before.refusals);
    let same = after == before;
    after.refusals = counted;
    same
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_of_the_count_alone_is_told_apart() {
        let before = LinkRecord { uses: 1, refusals: 20, ..LinkRecord::default() };
        let mut counted = LinkRecord { refusals: 21, ..before.clone() };
        assert!(only_counted(&before, &mut counted));
        assert_eq!(counted.refusals, 21, "the record is left as it was");
        let mut more = LinkRecord { refusals: 21, uses: 2, ..before.clone() };
        assert!(!only_counted(&before, &mut more));
        assert!(!only_counted(&before, &mut before.clone()));
    }
}
