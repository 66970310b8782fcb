//! The ledger port: where the first use of every link is recorded, atomically.
//!
//! One question, asked once per consuming request: "record that this link is being used now,
//! unless it already was". Adapters answer it with a single conditional write, so two viewers
//! racing for the same link can never both win.

use std::time::SystemTime;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

#[cfg(feature = "aws")]
pub mod dynamodb;
pub mod memory;

#[cfg(feature = "aws")]
pub use dynamodb::DynamoDbLedger;
pub use memory::MemoryLedger;

/// The ledger's primary key for one link.
///
/// It is derived from something the viewer cannot vary without breaking the link (the SigV4
/// signature), and hashed so the table never holds a usable credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerKey(String);

/// A link's public id: base64url of the first 16 bytes of SHA-256 over a domain tag and the
/// link's secret part. It names the link (for revocation, in logs) without being able to use it.
fn link_id(domain: &[u8], secret_part: &[u8]) -> String {
    use base64::Engine;
    let digest = Sha256::new().chain_update(domain).chain_update([0u8]).chain_update(secret_part).finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// The id of a SigV4 presigned link (from its `X-Amz-Signature`).
pub fn link_id_for_signature(signature: &str) -> String {
    link_id(b"sigv4", signature.as_bytes())
}

/// The id of a sealed link (from its nonce).
pub fn link_id_for_nonce(nonce: &[u8]) -> String {
    link_id(b"sealed", nonce)
}

/// Is `raw` shaped like a link id (22 base64url characters)?
pub fn is_link_id(raw: &str) -> bool {
    raw.len() == 22 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl LedgerKey {
    /// Key for a link id: `link:<id>`.
    pub fn for_link(link_id: &str) -> Self {
        Self(format!("link:{link_id}"))
    }

    /// Key for a SigV4 presigned link.
    pub fn for_signature(signature: &str) -> Self {
        Self::for_link(&link_id_for_signature(signature))
    }

    /// Rebuilds a key from its string form (as stored, or from a link id).
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
    /// When the record may be deleted (link expiry plus a margin): the ledger's TTL.
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

/// What the ledger knows about a link whose uses are spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedLink {
    pub first_used_at: SystemTime,
    pub uses: u32,
    pub fingerprint: Option<String>,
}

/// What the ledger knows about a link (for the Range grace window).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    pub first_used_at: Option<SystemTime>,
    pub uses: u32,
    pub fingerprint: Option<String>,
    pub revoked: bool,
}

impl ClaimOutcome {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Granted { .. } | Self::Retried)
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
    /// Records the use atomically if it is the first; otherwise says when the first one was.
    ///
    /// One atomic conditional write: concurrent claims on one link never grant more than
    /// `max_uses` in total.
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError>;

    /// Marks a link revoked (creating its record if it was never used); later claims get
    /// [`ClaimOutcome::Revoked`]. Idempotent.
    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError>;

    /// Reads a link's record (strongly consistent), without changing it.
    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError>;
}

#[async_trait]
impl<L: Ledger + ?Sized> Ledger for std::sync::Arc<L> {
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
