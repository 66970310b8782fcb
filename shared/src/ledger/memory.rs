//! An in-process ledger: a mutex around a map. For unit tests and single-process use;
//! it forgets everything when the process exits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{ClaimOutcome, Ledger, LedgerError, LedgerKey, UseClaim};

#[derive(Debug, Clone)]
struct FirstUse {
    at: SystemTime,
    request_id: String,
}

#[derive(Debug, Default)]
pub struct MemoryLedger {
    uses: Mutex<HashMap<LedgerKey, FirstUse>>,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of links recorded so far.
    pub fn len(&self) -> usize {
        self.uses.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let mut uses = self.uses.lock().map_err(|_| LedgerError::Unavailable("memory ledger lock poisoned".into()))?;
        match uses.get(&claim.key) {
            Some(first) if first.request_id == claim.request_id => Ok(ClaimOutcome::RetriedFirstUse),
            Some(first) => Ok(ClaimOutcome::AlreadyUsed { first_used_at: first.at }),
            None => {
                uses.insert(claim.key.clone(), FirstUse { at: claim.at, request_id: claim.request_id.clone() });
                Ok(ClaimOutcome::FirstUse)
            }
        }
    }
}
