//! The ledger rule, for adapters that keep whole records themselves (in memory, in a file, in a
//! table row they read and write inside one transaction). DynamoDB's conditional expressions
//! state the same rule in the database's own terms; the contract suite holds both to it.
//!
//! | a claim finds the record … | outcome | record afterwards |
//! |---|---|---|
//! | revoked | `Revoked` | unchanged |
//! | holding or having spent the claim's request id | `Retried` | unchanged |
//! | with `uses >= max_uses` and no lapsed hold | `Exhausted` (first use, uses, fingerprint) | unchanged |
//! | with `uses >= max_uses` and a lapsed hold | `Granted { uses }` | the lapsed hold is replaced by this claim |
//! | otherwise (absent = empty) | `Granted { use_number }` | uses + 1, held (lease) or spent; the first use sets `first_used_at`, `fingerprint` and the retention |
//!
//! `commit` turns a hold into a spent use; `release` gives a held or spent use back (uses − 1,
//! and when none is left the link is as if never used); `resume` counts a resume when
//! [`LinkState::resumable`]; `record_delivery` keeps what was sent, ends the client's time in
//! flight and closes the resumes of a client whose download completed. A held claim and a
//! single-flight resume put their client in flight. Revocation sets `revoked`, and the retention only if the
//! record had none: a record made by a use already outlives its link.
//!
//! The trail: a granted claim and a granted resume add their entry (so a record holds at most
//! `max_uses` use entries, lapsed holds taken over included, and `max_resumes` resume entries);
//! `note_refusal` adds one of the first [`REFUSALS_KEPT`] refusals and counts every one; `tag`
//! keeps the first tag. A refusal or a tag creates the record, with the retention it is given.

use std::time::SystemTime;

use super::{
    ClaimOutcome, ClientHint, Commit, Delivery, LinkState, REFUSALS_KEPT, Release, Resumable, ResumeClaim, ResumeOutcome, TrailEntry,
    TrailOutcome, UseClaim, UsedLink,
};

/// What [`LinkRecord::note_refusal`] changed: an adapter that keeps records itself writes a
/// change of the count alone lazily, and nothing for an unchanged record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    Unchanged,
    /// The count of refusals alone.
    Counted,
    /// The trail or the retention (the count too, maybe).
    Changed,
}

/// Everything recorded about one link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkRecord {
    pub first_used_at: Option<SystemTime>,
    /// Uses granted, held ones included.
    pub uses: u32,
    /// Requests whose use is spent.
    pub request_ids: Vec<String>,
    /// Requests whose use is held, and until when.
    pub holds: Vec<(String, SystemTime)>,
    pub fingerprint: Option<String>,
    pub revoked: bool,
    pub revoked_at: Option<SystemTime>,
    pub retain_until: Option<SystemTime>,
    pub resumes: u32,
    /// Fingerprints whose download completed.
    pub completed: Vec<String>,
    /// Fingerprints with a request in flight, until when.
    pub in_flight: Vec<(String, SystemTime)>,
    pub deliveries: Vec<Delivery>,
    /// The caller's tag, from the issue.
    pub tag: Option<String>,
    /// The link's `max_uses`, from its claims (0 before the first).
    pub max_uses: u32,
    /// Uses and resumes granted, and the first refusals, in the order they happened.
    pub trail: Vec<TrailEntry>,
    /// Refusals counted, kept in the trail or not.
    pub refusals: u32,
}

impl LinkRecord {
    /// Applies `claim` (mutating the record only when the claim is granted).
    pub fn apply(&mut self, claim: &UseClaim) -> ClaimOutcome {
        if self.revoked {
            return ClaimOutcome::Revoked;
        }
        if self.request_ids.contains(&claim.request_id) || self.holds.iter().any(|(id, _)| *id == claim.request_id) {
            return ClaimOutcome::Retried;
        }
        if self.uses >= claim.max_uses {
            // A hold whose lease ended without a commit or release is a use nobody has.
            let Some(lapsed) = self.holds.iter().position(|(_, until)| *until <= claim.at) else {
                return ClaimOutcome::Exhausted(UsedLink {
                    first_used_at: self.first_used_at.unwrap_or(claim.at),
                    uses: self.uses,
                    fingerprint: self.fingerprint.clone(),
                });
            };
            self.holds.remove(lapsed);
            self.take(claim);
            return ClaimOutcome::Granted { use_number: self.uses };
        }
        self.uses += 1;
        self.take(claim);
        if self.first_used_at.is_none() {
            self.first_used_at = Some(claim.at);
            self.fingerprint = claim.fingerprint.clone();
        }
        self.retain_until.get_or_insert(claim.retain_until);
        ClaimOutcome::Granted { use_number: self.uses }
    }

    /// Records `claim`'s use as held or spent (the count is the caller's business); a held
    /// claim puts its client in flight until the lease ends.
    fn take(&mut self, claim: &UseClaim) {
        self.max_uses = claim.max_uses;
        self.push_trail(&claim.request_id, claim.at, TrailOutcome::Used, &claim.client);
        match claim.hold_until {
            Some(until) => {
                self.holds.push((claim.request_id.clone(), until));
                if let Some(fingerprint) = &claim.fingerprint {
                    self.set_in_flight(fingerprint, until);
                }
            }
            None => self.request_ids.push(claim.request_id.clone()),
        }
    }

    fn set_in_flight(&mut self, fingerprint: &str, until: SystemTime) {
        self.in_flight.retain(|(f, _)| f != fingerprint);
        self.in_flight.push((fingerprint.to_owned(), until));
    }

    pub fn commit(&mut self, request_id: &str) -> Commit {
        if let Some(i) = self.holds.iter().position(|(id, _)| id == request_id) {
            self.holds.remove(i);
            self.request_ids.push(request_id.to_owned());
            return Commit::Committed;
        }
        if self.request_ids.iter().any(|id| id == request_id) { Commit::Committed } else { Commit::Lost }
    }

    pub fn release(&mut self, request_id: &str) -> Release {
        let held = self.holds.iter().position(|(id, _)| id == request_id);
        let spent = self.request_ids.iter().position(|id| id == request_id);
        match (held, spent) {
            (Some(i), _) => drop(self.holds.remove(i)),
            (None, Some(i)) => drop(self.request_ids.remove(i)),
            (None, None) => return Release::NotHeld,
        }
        self.uses = self.uses.saturating_sub(1);
        if self.uses == 0 {
            self.first_used_at = None;
            self.fingerprint = None;
        }
        Release::Released
    }

    pub fn resume(&mut self, resume: &ResumeClaim) -> ResumeOutcome {
        let own_use = self.request_ids.contains(&resume.request_id) || self.holds.iter().any(|(id, _)| *id == resume.request_id);
        if own_use || !self.resumable().allows(resume) {
            return ResumeOutcome::NotResumable;
        }
        self.resumes += 1;
        self.push_trail(&resume.request_id, resume.at, TrailOutcome::Resumed, &resume.client);
        if let Some(flight) = resume.single_flight {
            self.set_in_flight(&resume.fingerprint, flight.until);
        }
        ResumeOutcome::Resumed { resume_number: self.resumes }
    }

    /// Keeps what was delivered (one entry per request); a completed delivery closes its
    /// client's resumes.
    pub fn record_delivery(&mut self, fingerprint: Option<&str>, delivery: &Delivery) {
        self.deliveries.retain(|d| d.request_id != delivery.request_id);
        self.deliveries.push(delivery.clone());
        let Some(fingerprint) = fingerprint else { return };
        self.in_flight.retain(|(f, _)| f != fingerprint);
        if delivery.complete && !self.completed.iter().any(|f| f == fingerprint) {
            self.completed.push(fingerprint.to_owned());
        }
    }

    fn push_trail(&mut self, request_id: &str, at: SystemTime, outcome: TrailOutcome, client: &ClientHint) {
        if !self.trail.iter().any(|e| e.request_id == request_id) {
            self.trail.push(TrailEntry { request_id: request_id.to_owned(), at, outcome, client: client.clone() });
        }
    }

    /// Counts a refusal, and keeps it in the trail while fewer than [`REFUSALS_KEPT`] are
    /// (a request already in the trail changes nothing); says what it changed.
    pub fn note_refusal(&mut self, entry: &TrailEntry, retain_until: SystemTime) -> Noted {
        let retained = self.retain_until.is_some();
        self.retain_until.get_or_insert(retain_until);
        if self.trail.iter().any(|e| e.request_id == entry.request_id) {
            return if retained { Noted::Unchanged } else { Noted::Changed };
        }
        if self.refusals < REFUSALS_KEPT {
            self.trail.push(entry.clone());
            self.refusals += 1;
            return Noted::Changed;
        }
        self.refusals = self.refusals.saturating_add(1);
        if retained { Noted::Counted } else { Noted::Changed }
    }

    /// Keeps the first tag.
    pub fn tag(&mut self, tag: &str, retain_until: SystemTime) {
        self.retain_until.get_or_insert(retain_until);
        self.tag.get_or_insert_with(|| tag.to_owned());
    }

    /// The trail as read: a use given back or still held says so.
    pub fn trail_view(&self) -> Vec<TrailEntry> {
        let mut trail: Vec<TrailEntry> = self
            .trail
            .iter()
            .map(|entry| {
                let mut entry = entry.clone();
                if entry.outcome == TrailOutcome::Used {
                    if self.holds.iter().any(|(id, _)| *id == entry.request_id) {
                        entry.outcome = TrailOutcome::Held;
                    } else if !self.request_ids.contains(&entry.request_id) {
                        entry.outcome = TrailOutcome::GivenBack;
                    }
                }
                entry
            })
            .collect();
        trail.sort_by(|a, b| (a.at, &a.request_id).cmp(&(b.at, &b.request_id)));
        trail
    }

    /// Marks the record revoked (idempotent: the first revocation's time stays).
    pub fn revoke(&mut self, at: SystemTime, retain_until: SystemTime) {
        self.revoked = true;
        self.revoked_at.get_or_insert(at);
        self.retain_until.get_or_insert(retain_until);
    }

    fn resumable(&self) -> Resumable<'_> {
        super::resumable_view!(self)
    }

    /// The part of the record the decision and the API read.
    pub fn state(&self) -> LinkState {
        LinkState {
            first_used_at: self.first_used_at,
            uses: self.uses,
            fingerprint: self.fingerprint.clone(),
            revoked: self.revoked,
            retain_until: self.retain_until,
            holds: self.holds.iter().map(|(_, until)| *until).collect(),
            resumes: self.resumes,
            completed: self.completed.clone(),
            in_flight: self.in_flight.clone(),
            deliveries: self.deliveries.clone(),
            tag: self.tag.clone(),
            max_uses: self.max_uses,
            trail: self.trail_view(),
            refusals: self.refusals,
        }
    }

    /// May the record be deleted at `now`?
    pub fn expired(&self, now: SystemTime) -> bool {
        self.retain_until.is_some_and(|r| r <= now)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::ledger::LedgerKey;

    fn claim(rid: &str, max_uses: u32, hold: bool) -> UseClaim {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        UseClaim {
            key: LedgerKey::from_stored("link:x"),
            request_id: rid.into(),
            at,
            max_uses,
            retain_until: at + Duration::from_secs(60),
            fingerprint: None,
            hold_until: hold.then(|| at + Duration::from_secs(30)),
            client: ClientHint::default(),
        }
    }

    /// Adapters that keep records themselves rely on it: only a granted claim changes a record.
    #[test]
    fn a_claim_that_is_not_granted_leaves_the_record_as_it_was() {
        let mut record = LinkRecord::default();
        assert!(matches!(record.apply(&claim("r1", 1, true)), ClaimOutcome::Granted { .. }));
        for (c, what) in [(claim("r1", 1, true), "retried"), (claim("r2", 1, false), "exhausted")] {
            let before = record.clone();
            assert!(!matches!(record.apply(&c), ClaimOutcome::Granted { .. }), "{what}");
            assert_eq!(record, before, "{what}");
        }
        record.revoke(SystemTime::UNIX_EPOCH, SystemTime::UNIX_EPOCH);
        let before = record.clone();
        assert_eq!(record.apply(&claim("r3", 5, false)), ClaimOutcome::Revoked);
        assert_eq!(record, before);
    }

    /// The same, for a resume: only a granted one changes the record.
    #[test]
    fn a_resume_that_is_not_granted_leaves_the_record_as_it_was() {
        let mut record = LinkRecord::default();
        assert!(matches!(record.apply(&claim("r1", 1, false)), ClaimOutcome::Granted { .. }));
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        for rid in ["r1", "r2"] {
            let resume = ResumeClaim {
                key: LedgerKey::from_stored("link:x"),
                request_id: rid.into(),
                fingerprint: "someone else".into(),
                at,
                window_start: SystemTime::UNIX_EPOCH,
                max_resumes: 10,
                single_flight: None,
                client: ClientHint::default(),
            };
            let before = record.clone();
            assert_eq!(record.resume(&resume), ResumeOutcome::NotResumable, "{rid}");
            assert_eq!(record, before, "{rid}");
        }
    }

    #[test]
    fn a_refusal_says_what_it_changed() {
        let at = SystemTime::UNIX_EPOCH;
        let entry = |i: u32| TrailEntry {
            request_id: format!("x{i}"),
            at,
            outcome: TrailOutcome::Refused("link_expired".into()),
            client: ClientHint::default(),
        };
        let mut record = LinkRecord::default();
        for i in 0..REFUSALS_KEPT {
            assert_eq!(record.note_refusal(&entry(i), at), Noted::Changed);
        }
        let before = record.clone();
        assert_eq!(record.note_refusal(&entry(0), at), Noted::Unchanged);
        assert_eq!(record, before);
        assert_eq!(record.note_refusal(&entry(99), at), Noted::Counted);
        assert_eq!(LinkRecord { refusals: before.refusals, ..record.clone() }, before, "the count alone");
        let mut fresh = LinkRecord { refusals: REFUSALS_KEPT, ..LinkRecord::default() };
        assert_eq!(fresh.note_refusal(&entry(1), at), Noted::Changed, "a retention set is a change");
    }
}
