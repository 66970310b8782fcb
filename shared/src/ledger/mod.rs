//! The ledger port: where the first use of every link is recorded, atomically.
//!
//! One question, asked once per consuming request: "record that this link is being used now,
//! unless it already was". Adapters answer it with a single conditional write, so two viewers
//! racing for the same link can never both win.

use std::time::SystemTime;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

pub mod dynamodb;
pub mod memory;

pub use dynamodb::DynamoDbLedger;
pub use memory::MemoryLedger;

/// The ledger's primary key for one link.
///
/// It is derived from something the viewer cannot vary without breaking the link (the SigV4
/// signature), and hashed so the table never holds a usable credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerKey(String);

impl LedgerKey {
    /// Key for a SigV4 presigned link: `sig:` + hex(SHA-256(X-Amz-Signature)).
    pub fn for_signature(signature: &str) -> Self {
        Self(format!("sig:{}", hex::encode(Sha256::digest(signature.as_bytes()))))
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
}

/// What the ledger says about a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This is the first use: it has now been recorded.
    FirstUse,
    /// The record already exists and was written by this very request (an SDK retry after a
    /// write that succeeded but whose answer was lost). Still the first use.
    RetriedFirstUse,
    /// The link was used before.
    AlreadyUsed { first_used_at: SystemTime },
}

impl ClaimOutcome {
    pub fn is_allowed(&self) -> bool {
        !matches!(self, Self::AlreadyUsed { .. })
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
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError>;
}

#[async_trait]
impl<L: Ledger + ?Sized> Ledger for std::sync::Arc<L> {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        (**self).claim(claim).await
    }
}
