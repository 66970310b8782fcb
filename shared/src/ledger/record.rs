//! The ledger rule, for adapters that keep whole records themselves (in memory, in a file, in a
//! table row they read and write inside one transaction). DynamoDB's conditional expressions
//! state the same rule in the database's own terms; the contract suite holds both to it.
//!
//! | a claim finds the record … | outcome | record afterwards |
//! |---|---|---|
//! | revoked | `Revoked` | unchanged |
//! | holding the claim's request id | `Retried` | unchanged |
//! | with `uses >= max_uses` | `Exhausted` (first use, uses, fingerprint) | unchanged |
//! | otherwise (absent = empty) | `Granted { use_number }` | uses + 1, request id added; the first use sets `first_used_at`, `fingerprint` and the retention |
//!
//! Revocation sets `revoked`, and the retention only if the record had none: a record made by a
//! use already outlives its link.

use std::time::SystemTime;

use super::{ClaimOutcome, LinkState, UseClaim, UsedLink};

/// Everything recorded about one link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkRecord {
    pub first_used_at: Option<SystemTime>,
    pub uses: u32,
    pub request_ids: Vec<String>,
    pub fingerprint: Option<String>,
    pub revoked: bool,
    pub revoked_at: Option<SystemTime>,
    pub retain_until: Option<SystemTime>,
}

impl LinkRecord {
    /// Applies `claim` to this record (mutating it only when the claim is granted).
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
        self.retain_until.get_or_insert(claim.retain_until);
        ClaimOutcome::Granted { use_number: self.uses }
    }

    /// Marks the record revoked (idempotent: the first revocation's time stays).
    pub fn revoke(&mut self, at: SystemTime, retain_until: SystemTime) {
        self.revoked = true;
        self.revoked_at.get_or_insert(at);
        self.retain_until.get_or_insert(retain_until);
    }

    /// The part of the record the decision and the API read.
    pub fn state(&self) -> LinkState {
        LinkState {
            first_used_at: self.first_used_at,
            uses: self.uses,
            fingerprint: self.fingerprint.clone(),
            revoked: self.revoked,
            retain_until: self.retain_until,
        }
    }

    /// May the record be deleted at `now`?
    pub fn expired(&self, now: SystemTime) -> bool {
        self.retain_until.is_some_and(|r| r <= now)
    }
}
