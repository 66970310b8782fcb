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
//! | the gateway's file ledger | a redb file | the [`record`] rule in one durable write transaction |
//!
//! Every adapter passes the same contract suite (`testkit::ledger_contract`), which is where the
//! semantics below are pinned down: first use, retried request ids, N uses, revocation, the
//! record's retention, and races.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod memory;
pub mod record;

#[cfg(feature = "aws")]
pub use dynamodb::{DynamoDbLedger, DynamoDbTables};
pub use memory::MemoryLedger;
pub use record::LinkRecord;

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
    /// recognised instead of being reported as a second use.
    pub request_id: String,
    /// When the use happens.
    pub at: SystemTime,
    /// When the record may be deleted ([`crate::link::retain_until`] of the link's expiry).
    pub retain_until: SystemTime,
    /// How many uses the link grants in all (1 for a one-time link).
    pub max_uses: u32,
    /// Who used it first (a hash of client IP and User-Agent), kept for the Range grace window.
    pub fingerprint: Option<String>,
}

/// What the ledger says about a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The use was recorded; `use_number` counts from 1.
    Granted { use_number: u32 },
    /// This very request was already recorded (an SDK retry after a write that succeeded but
    /// whose answer was lost). Allowed, and not counted twice.
    Retried,
    /// Every use is spent.
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

/// What the ledger knows about a link (for the grace window and `GET /links/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    pub first_used_at: Option<SystemTime>,
    pub uses: u32,
    pub fingerprint: Option<String>,
    pub revoked: bool,
    /// When the record may be deleted (the ledger's TTL).
    pub retain_until: Option<SystemTime>,
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
    /// Records the use atomically if the link has uses left; otherwise says why not.
    ///
    /// One atomic conditional write: concurrent claims on one link never grant more than
    /// `max_uses` in total, and a claim whose request id is already recorded is `Retried`.
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError>;

    /// Marks a link revoked (creating its record if it was never used); later claims get
    /// [`ClaimOutcome::Revoked`]. Idempotent. A new record is kept until `retain_until`; an
    /// existing one keeps its retention (it already outlives its link).
    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError>;

    /// Reads a link's record (strongly consistent), without changing it.
    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError>;
}

#[async_trait]
impl<L: Ledger + ?Sized> Ledger for Arc<L> {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        (**self).claim(claim).await
    }

    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        (**self).revoke(key, at, retain_until).await
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
