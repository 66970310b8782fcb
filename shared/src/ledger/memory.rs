//! An in-process ledger: a mutex around a map of [`LinkRecord`]s. For tests, demos
//! (`--ledger memory`) and single-process use; it forgets everything when the process exits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{ClaimOutcome, Ledger, LedgerError, LedgerKey, LinkRecord, LinkState, UseClaim};

#[derive(Debug, Default)]
pub struct MemoryLedger {
    records: Mutex<HashMap<LedgerKey, LinkRecord>>,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of links recorded so far.
    pub fn len(&self) -> usize {
        self.records.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The record of one link, if any.
    pub fn record(&self, key: &LedgerKey) -> Option<LinkRecord> {
        self.records.lock().ok()?.get(key).cloned()
    }
}

fn poisoned<T>(_: T) -> LedgerError {
    LedgerError::Unavailable("memory ledger lock poisoned".into())
}

#[async_trait]
impl Ledger for MemoryLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let mut records = self.records.lock().map_err(poisoned)?;
        Ok(records.entry(claim.key.clone()).or_default().apply(claim))
    }

    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        let mut records = self.records.lock().map_err(poisoned)?;
        records.entry(key.clone()).or_default().revoke(at, retain_until);
        Ok(())
    }

    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError> {
        let records = self.records.lock().map_err(poisoned)?;
        Ok(records.get(key).map(LinkRecord::state))
    }
}
