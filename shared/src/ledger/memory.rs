//! An in-process ledger: a mutex around a map of [`LinkRecord`]s. For tests, demos
//! (`--ledger memory`) and single-process use; it forgets everything when the process exits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{
    ClaimOutcome, Commit, Delivery, Ledger, LedgerError, LedgerKey, LinkRecord, LinkState, Release, ResumeClaim, ResumeOutcome, TrailEntry,
    UseClaim,
};

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

    /// Applies `change` to the record of `key` if there is one.
    fn existing<T>(&self, key: &LedgerKey, absent: T, change: impl FnOnce(&mut LinkRecord) -> T) -> Result<T, LedgerError> {
        let mut records = self.records.lock().map_err(poisoned)?;
        Ok(records.get_mut(key).map_or(absent, change))
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

    async fn commit(&self, key: &LedgerKey, request_id: &str) -> Result<Commit, LedgerError> {
        self.existing(key, Commit::Lost, |record| record.commit(request_id))
    }

    async fn release(&self, key: &LedgerKey, request_id: &str) -> Result<Release, LedgerError> {
        self.existing(key, Release::NotHeld, |record| record.release(request_id))
    }

    async fn resume(&self, resume: &ResumeClaim) -> Result<ResumeOutcome, LedgerError> {
        self.existing(&resume.key, ResumeOutcome::NotResumable, |record| record.resume(resume))
    }

    async fn record_delivery(&self, key: &LedgerKey, fingerprint: Option<&str>, delivery: &Delivery) -> Result<(), LedgerError> {
        self.existing(key, (), |record| record.record_delivery(fingerprint, delivery))
    }

    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        let mut records = self.records.lock().map_err(poisoned)?;
        records.entry(key.clone()).or_default().revoke(at, retain_until);
        Ok(())
    }

    async fn note_refusal(&self, key: &LedgerKey, entry: &TrailEntry, retain_until: SystemTime) -> Result<(), LedgerError> {
        let mut records = self.records.lock().map_err(poisoned)?;
        records.entry(key.clone()).or_default().note_refusal(entry, retain_until);
        Ok(())
    }

    async fn tag(&self, key: &LedgerKey, tag: &str, retain_until: SystemTime) -> Result<(), LedgerError> {
        let mut records = self.records.lock().map_err(poisoned)?;
        records.entry(key.clone()).or_default().tag(tag, retain_until);
        Ok(())
    }

    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError> {
        let records = self.records.lock().map_err(poisoned)?;
        Ok(records.get(key).map(LinkRecord::state))
    }
}
