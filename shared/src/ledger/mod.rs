//! The ledger port: where every use of every link is recorded, atomically.
//!
//! One question, asked once per consuming request: "record that this link is being used now,
//! unless its uses are spent". Adapters answer it with a single conditional write, so viewers
//! racing for the same link can never get more than its uses between them.
//!
//! | adapter | where | how a claim is decided |
//! |---|---|---|
//! | [`MemoryLedger`] | this process | a mutex around the [`record`] rule |
//! | [`DynamoDbLedger`] | a DynamoDB table, shared by a fleet | one conditional `PutItem`/`UpdateItem` |
//! | the gateway's file ledger | memory, and a journal file | the [`record`] rule under one lock; durable answers wait for the journal's fsync |
//!
//! A use is *held* while the gateway asks the origin, and confirmed ([`Ledger::commit`]) only
//! when the origin answered with content; any refusal, error or timeout gives it back
//! ([`Ledger::release`]), and a hold nobody resolved (the process died) lapses at the end of its
//! lease. On CloudFront a use is spent at once and given back by the origin-response trigger.
//! Resumes inside the resume window are counted in the same single-write way, and what was
//! delivered is recorded per use.
//!
//! Each record also keeps the link's [`trail`] (uses, resumes, the first refusals, with a rough
//! client hint) and the caller's tag, for `GET /links/{id}` and the events derived from a
//! record's changes ([`crate::events`]).
//!
//! Every adapter passes the same contract suite (`testkit::ledger_contract`), which is where the
//! semantics are pinned down: first use, retried request ids, N uses, holds (commit, release,
//! lapse), resumes, deliveries, revocation, the record's retention, and races.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod memory;
pub mod record;
pub mod trail;

#[cfg(feature = "aws")]
pub use dynamodb::{DynamoDbLedger, DynamoDbTables};
pub use memory::MemoryLedger;
pub use record::{LinkRecord, Noted};
pub use trail::{ClientHint, REFUSALS_KEPT, TrailEntry, TrailOutcome};

use crate::link::LinkId;

/// The ledger's primary key for one link: `link:<link id>`.
///
/// It is derived from something the viewer cannot vary without breaking the link (see
/// [`LinkId`]), and hashed, so the ledger never holds a usable credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerKey(String);

impl LedgerKey {
    pub fn for_link(id: &LinkId) -> Self {
        Self(format!("link:{id}"))
    }

    /// Rebuilds a key from its stored string form.
    pub fn from_stored(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request to record a use of one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseClaim {
    pub key: LedgerKey,
    /// The viewer request's unique id; stored so a retried write of the same request is
    /// recognised instead of being reported as a second use, and so the use can be given back.
    pub request_id: String,
    /// When the use happens.
    pub at: SystemTime,
    /// When the record may be deleted ([`crate::link::retain_until`] of the link's expiry).
    pub retain_until: SystemTime,
    /// How many uses the link grants in all (1 for a one-time link).
    pub max_uses: u32,
    /// Who used it first (a hash of client IP and User-Agent), kept for the resume window.
    pub fingerprint: Option<String>,
    /// `Some(lease end)`: the use is only *held* — it counts against `max_uses`, but it is
    /// confirmed by [`Ledger::commit`] once the origin answered with content, given back by
    /// [`Ledger::release`], and if neither comes (the process died) it lapses at the lease's end
    /// and the next claim takes it over. The client is in flight until then (see
    /// [`ResumeClaim::single_flight`]). `None`: spent at once (CloudFront, which gives a use back
    /// only when its origin-response trigger sees a refusal).
    pub hold_until: Option<SystemTime>,
    /// Who asks, roughly: kept in the link's trail with a granted use.
    pub client: ClientHint,
}

/// What the ledger says about a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The use was recorded (or held); `use_number` counts from 1.
    Granted { use_number: u32 },
    /// This very request was already recorded (an SDK retry after a write that succeeded but
    /// whose answer was lost). Allowed, and not counted twice.
    Retried,
    /// Every use is spent (or held by a live lease).
    Exhausted(UsedLink),
    /// The link was revoked.
    Revoked,
}

impl ClaimOutcome {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Granted { .. } | Self::Retried)
    }
}

/// What the ledger knows about a link whose uses are spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedLink {
    pub first_used_at: SystemTime,
    pub uses: u32,
    pub fingerprint: Option<String>,
}

/// Confirming a held use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// The use is spent for good (also when it already was: commit is idempotent).
    Committed,
    /// The hold is gone: it lapsed and another claim took the use over, or it was given back.
    /// Nothing may be delivered for it.
    Lost,
}

/// Giving a use back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// The use held or spent by this request is free again.
    Released,
    /// This request holds no use (never granted, or already given back): nothing changed.
    NotHeld,
}

/// A request by the link's first client, asking to go on without spending a use: a `Range`
/// resume inside the link's grace window, or the recovery of a download that did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeClaim {
    pub key: LedgerKey,
    /// The viewer request's id: a request that already holds or spent a use of the link (a
    /// redelivered event) is that use again, never a resume.
    pub request_id: String,
    pub fingerprint: String,
    /// When the resume happens.
    pub at: SystemTime,
    /// The first use must be at or after this instant (now minus the window).
    pub window_start: SystemTime,
    /// How many resumes the link allows in all.
    pub max_resumes: u32,
    /// `Some`: one at a time — granted only while nothing of this client is in flight, and then
    /// in flight itself until the marker's end (or its delivery is recorded). `None`: any
    /// number at once (a download manager's parallel ranges inside a grace window).
    pub single_flight: Option<InFlight>,
    /// Kept in the link's trail with a granted resume.
    pub client: ClientHint,
}

/// A client's request in flight, until its delivery is recorded or `until` passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub now: SystemTime,
    pub until: SystemTime,
}

/// What the ledger says about a resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeOutcome {
    /// Counted; `resume_number` counts from 1.
    Resumed { resume_number: u32 },
    /// Not this client, outside the window, the download completed, resumes spent, or revoked:
    /// the request must claim a use like any other.
    NotResumable,
}

/// What reached the viewer for one granted use or resume (the gateway knows it to the byte).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub request_id: String,
    pub at: SystemTime,
    /// Body bytes sent.
    pub bytes: u64,
    /// The object was sent through its last byte: a resume by this client is no longer needed.
    pub complete: bool,
    /// This delivery was a resume, not a use.
    pub resume: bool,
}

/// What the ledger knows about a link (for the decision and `GET /links/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    pub first_used_at: Option<SystemTime>,
    /// Uses granted, including those still held.
    pub uses: u32,
    pub fingerprint: Option<String>,
    pub revoked: bool,
    /// When the record may be deleted (the ledger's TTL).
    pub retain_until: Option<SystemTime>,
    /// Lease ends of the uses still held (granted, not yet confirmed or given back).
    pub holds: Vec<SystemTime>,
    /// Resumes granted.
    pub resumes: u32,
    /// Fingerprints of clients whose download completed.
    pub completed: Vec<String>,
    /// Clients with a request in flight, and until when (set by a held claim and a
    /// single-flight resume, cleared by the delivery's record).
    pub in_flight: Vec<(String, SystemTime)>,
    /// What was delivered, per use and resume, in no particular order.
    pub deliveries: Vec<Delivery>,
    /// The caller's tag, given when the link was issued.
    pub tag: Option<String>,
    /// The link's `max_uses`, once a use was claimed (0 before).
    pub max_uses: u32,
    /// What happened to the link, oldest first ([`trail`]): every use (a use given back reads
    /// [`TrailOutcome::GivenBack`], one still held [`TrailOutcome::Held`]) and resume, and the
    /// first [`REFUSALS_KEPT`] refusals.
    pub trail: Vec<TrailEntry>,
    /// Every refused attempt (and preview), kept in the trail or not.
    pub refusals: u32,
}

impl LinkState {
    /// Uses that count at `now`: spent ones and holds whose lease has not ended.
    pub fn live_uses(&self, now: SystemTime) -> u32 {
        let lapsed = self.holds.iter().filter(|until| **until <= now).count();
        self.uses.saturating_sub(u32::try_from(lapsed).unwrap_or(u32::MAX))
    }

    /// May `resume` be granted: the same first client, its first use inside the window, its
    /// download not completed, resumes left, not revoked? (The rule every ledger applies in its
    /// one write, and the look of a HEAD.)
    pub fn resumable(&self, resume: &ResumeClaim) -> bool {
        resumable_view!(self).allows(resume)
    }
}

/// The [`Resumable`] view of anything with a link's resume fields (a state, a record).
macro_rules! resumable_view {
    ($of:expr) => {
        $crate::ledger::Resumable {
            revoked: $of.revoked,
            fingerprint: $of.fingerprint.as_deref(),
            first_used_at: $of.first_used_at,
            resumes: $of.resumes,
            completed: &$of.completed,
            in_flight: &$of.in_flight,
        }
    };
}
pub(crate) use resumable_view;

/// What a resume is decided on, borrowed from a [`LinkState`] or straight from a record (which
/// need not build a state, trail and all, to decide one).
pub(crate) struct Resumable<'a> {
    pub revoked: bool,
    pub fingerprint: Option<&'a str>,
    pub first_used_at: Option<SystemTime>,
    pub resumes: u32,
    pub completed: &'a [String],
    pub in_flight: &'a [(String, SystemTime)],
}

impl Resumable<'_> {
    pub fn allows(&self, resume: &ResumeClaim) -> bool {
        let busy = resume.single_flight.is_some_and(|flight| {
            self.in_flight.iter().any(|(fingerprint, until)| *fingerprint == resume.fingerprint && *until > flight.now)
        });
        !self.revoked
            && self.fingerprint == Some(resume.fingerprint.as_str())
            && self.first_used_at.is_some_and(|first| first >= resume.window_start)
            && self.resumes < resume.max_resumes
            && !self.completed.contains(&resume.fingerprint)
            && !busy
    }
}

/// The ledger could not answer. The edge fails closed on this: no answer, no download.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
    #[error("ledger returned an unexpected record: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait Ledger: Send + Sync {
    /// Records (or holds) the use atomically if the link has uses left — a lapsed hold counts
    /// as a use left and is taken over; otherwise says why not.
    ///
    /// One atomic conditional write decides: concurrent claims on one link never grant more than
    /// `max_uses` in total, and a claim whose request id is already recorded is `Retried`.
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError>;

    /// Confirms the use `request_id` holds. Idempotent.
    async fn commit(&self, key: &LedgerKey, request_id: &str) -> Result<Commit, LedgerError>;

    /// Gives back the use `request_id` holds or spent (the origin refused, failed or never
    /// answered). Idempotent: a second release, or a release of a request that never had a
    /// use, changes nothing. When the last use is given back the link is as if never used.
    async fn release(&self, key: &LedgerKey, request_id: &str) -> Result<Release, LedgerError>;

    /// Counts one resume atomically if [`LinkState::resumable`] (and marks it in flight when
    /// single-flight); one conditional write.
    async fn resume(&self, resume: &ResumeClaim) -> Result<ResumeOutcome, LedgerError>;

    /// Records what one use or resume delivered to the client `fingerprint`; the client is no
    /// longer in flight, and a completed delivery closes its resumes. Changes nothing if the link
    /// has no record.
    async fn record_delivery(&self, key: &LedgerKey, fingerprint: Option<&str>, delivery: &Delivery) -> Result<(), LedgerError>;

    /// Marks a link revoked (creating its record if it was never used); later claims get
    /// [`ClaimOutcome::Revoked`]. Idempotent. A new record is kept until `retain_until`; an
    /// existing one keeps its retention (it already outlives its link).
    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError>;

    /// Keeps a refused attempt (or a preview) on a known link in its trail: the first
    /// [`REFUSALS_KEPT`] are kept, every one is counted; a request id already in the trail
    /// changes nothing. Creates the record if there is none (kept until `retain_until`).
    async fn note_refusal(&self, key: &LedgerKey, entry: &TrailEntry, retain_until: SystemTime) -> Result<(), LedgerError>;

    /// Keeps the caller's tag of a link being issued (creating its record, kept until
    /// `retain_until`). The first tag stays.
    async fn tag(&self, key: &LedgerKey, tag: &str, retain_until: SystemTime) -> Result<(), LedgerError>;

    /// Reads a link's record (strongly consistent), without changing it.
    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError>;
}

#[async_trait]
impl<L: Ledger + ?Sized> Ledger for Arc<L> {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        (**self).claim(claim).await
    }

    async fn commit(&self, key: &LedgerKey, request_id: &str) -> Result<Commit, LedgerError> {
        (**self).commit(key, request_id).await
    }

    async fn release(&self, key: &LedgerKey, request_id: &str) -> Result<Release, LedgerError> {
        (**self).release(key, request_id).await
    }

    async fn resume(&self, resume: &ResumeClaim) -> Result<ResumeOutcome, LedgerError> {
        (**self).resume(resume).await
    }

    async fn record_delivery(&self, key: &LedgerKey, fingerprint: Option<&str>, delivery: &Delivery) -> Result<(), LedgerError> {
        (**self).record_delivery(key, fingerprint, delivery).await
    }

    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        (**self).revoke(key, at, retain_until).await
    }

    async fn note_refusal(&self, key: &LedgerKey, entry: &TrailEntry, retain_until: SystemTime) -> Result<(), LedgerError> {
        (**self).note_refusal(key, entry, retain_until).await
    }

    async fn tag(&self, key: &LedgerKey, tag: &str, retain_until: SystemTime) -> Result<(), LedgerError> {
        (**self).tag(key, tag, retain_until).await
    }

    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError> {
        (**self).lookup(key).await
    }
}

/// Which ledger records the uses, once the configuration is loaded.
///
/// A process with one ledger (the gateway, tests) passes it as it is: every `Ledger + Clone` is
/// its own `LedgerFor`. On AWS the table is named by the configuration in SSM, so
/// [`DynamoDbTables`] picks the table per loaded configuration.
pub trait LedgerFor<Config>: Send + Sync {
    type Ledger: Ledger;

    fn ledger_for(&self, config: &Config) -> Self::Ledger;
}

impl<Config, L: Ledger + Clone> LedgerFor<Config> for L {
    type Ledger = L;

    fn ledger_for(&self, _config: &Config) -> L {
        self.clone()
    }
}
