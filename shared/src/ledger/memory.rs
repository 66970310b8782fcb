//! An in-process ledger: a mutex around a map. For unit tests and single-process use;
//! it forgets everything when the process exits. Its semantics are the reference the other
//! adapters are tested against.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use async_trait::async_trait;

use super::{ClaimOutcome, Ledger, LedgerError, LedgerKey, LinkState, UseClaim, UsedLink};

/// Everything recorded about one link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkRecord {
    pub first_used_at: Option<SystemTime>,
    pub uses: u32,
    pub request_ids: Vec<String>,
    pub fingerprint: Option<String>,
    pub revoked: bool,
    pub retain_until: Option<SystemTime>,
}

impl LinkRecord {
    /// The ledger rule, shared by every adapter that holds records in memory or on disk:
    /// apply `claim` to this record (mutating it only when the claim is granted).
    pub fn apply(&mut self, claim: &UseClaim) -> ClaimOutcome {
        if self.revoked {
            return ClaimOutcome::Revoked;
        }
        if self.request_ids.contains(&claim.request_id) {
            return ClaimOutcome::Retried;
        }
        if self.uses >= claim.max_uses {
            return ClaimOutcome::Exhausted(UsedLink {
                first_used_at: self.first_used_at.unwrap_or(claim.at),
                uses: self.uses,
                fingerprint: self.fingerprint.clone(),
            });
        }
        self.uses += 1;
        self.request_ids.push(claim.request_id.clone());
        if self.first_used_at.is_none() {
            self.first_used_at = Some(claim.at);
            self.fingerprint = claim.fingerprint.clone();
        }
        self.retain_until = Some(self.retain_until.map_or(claim.retain_until, |r| r.max(claim.retain_until)));
        ClaimOutcome::Granted { use_number: self.uses }
    }

    /// The part of the record the decision reads.
    pub fn state(&self) -> LinkState {
        LinkState { first_used_at: self.first_used_at, uses: self.uses, fingerprint: self.fingerprint.clone(), revoked: self.revoked }
    }

    /// Marks the record revoked.
    pub fn revoke(&mut self, retain_until: SystemTime) {
        self.revoked = true;
        self.retain_until = Some(self.retain_until.map_or(retain_until, |r| r.max(retain_until)));
    }
}

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

    async fn revoke(&self, key: &LedgerKey, _at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        let mut records = self.records.lock().map_err(poisoned)?;
        records.entry(key.clone()).or_default().revoke(retain_until);
        Ok(())
    }

    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError> {
        let records = self.records.lock().map_err(poisoned)?;
        Ok(records.get(key).map(LinkRecord::state))
    }
}
