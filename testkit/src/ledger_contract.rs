//! The ledger contract: what every [`Ledger`] adapter must do, as test functions. Each adapter
//! runs all of them with one line:
//!
//! ```ignore
//! oncelink_testkit::ledger_contract!(memory, races = (150, 10), async { std::sync::Arc::new(MemoryLedger::new()) });
//! ```
//!
//! The expression builds a fresh ledger (an `Arc<impl Ledger>`) for each test; `races` is how
//! many 64-way one-time races, then N = 3 and N = 10 races, it must win exactly
//! (`ONCELINK_SOAK=1`: 10,000 and 1,000).
//!
//! | contract | what it pins down |
//! |---|---|
//! | [`first_use_then_reuse`] | one grant, a retried request id is `Retried`, later claims are `Exhausted` with the first use |
//! | [`n_uses_count_down`] | exactly N grants, numbered, retries not counted |
//! | [`revocation`] | before and after use, idempotent, wins over uses left |
//! | [`state_and_retention`] | what `lookup` reads; the first write sets the retention, later ones keep it |
//! | [`holds`] | a held use counts; commit confirms it (idempotently); release gives it back once; a lapsed hold is taken over and its commit is `Lost` |
//! | [`spent_uses_given_back`] | a spent use (CloudFront's) is given back once, keyed on the request id; the last one leaves the link as if never used |
//! | [`resumes`] | counted up to the limit, only for the first client inside the window, closed by a completed delivery and by revocation; single-flight ones only while nothing of the client is in flight |
//! | [`deliveries`] | one entry per request, replaced by a later report; nothing is created for an unknown link |
//! | [`trail_and_tag`] | uses (held, spent, given back), resumes and the first refusals in the trail with their client hints, every refusal counted, a request noted once; the first tag stays; a refusal or a tag creates the record with its retention |
//! | [`races`] | 64 concurrent claims on one link, spent or held: exactly N granted, every round |

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oncelink::ledger::{
    ClaimOutcome, ClientHint, Commit, Delivery, InFlight, Ledger, REFUSALS_KEPT, Release, ResumeClaim, ResumeOutcome, TrailEntry,
    TrailOutcome,
};
use oncelink::time::{from_unix_secs, unix_secs};

use crate::{RETENTION, claim, client_hint, held, key, unique};

/// Now, in whole seconds (what every ledger can store exactly).
fn now() -> SystemTime {
    from_unix_secs(unix_secs(SystemTime::now()))
}

pub async fn first_use_then_reuse(ledger: &impl Ledger) {
    let (link, at) = (key(&unique("once")), now());
    assert_eq!(ledger.claim(&claim(&link, "r1", at, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
    // An SDK retried a write that had succeeded: same request id, still allowed, not counted.
    assert_eq!(ledger.claim(&claim(&link, "r1", at, 1)).await.unwrap(), ClaimOutcome::Retried);
    match ledger.claim(&claim(&link, "r2", at + Duration::from_secs(5), 1)).await.unwrap() {
        ClaimOutcome::Exhausted(used) => {
            assert_eq!((used.first_used_at, used.uses, used.fingerprint.as_deref()), (at, 1, Some("fp-1")));
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().uses, 1, "neither the retry nor the refusal counted");
}

pub async fn n_uses_count_down(ledger: &impl Ledger) {
    let (link, at) = (key(&unique("n")), now());
    for n in 1..=3 {
        assert_eq!(ledger.claim(&claim(&link, &format!("r{n}"), at, 3)).await.unwrap(), ClaimOutcome::Granted { use_number: n });
    }
    assert_eq!(ledger.claim(&claim(&link, "r2", at, 3)).await.unwrap(), ClaimOutcome::Retried);
    assert!(
        matches!(ledger.claim(&claim(&link, "r4", at, 3)).await.unwrap(), ClaimOutcome::Exhausted(u) if u.uses == 3 && u.first_used_at == at)
    );
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().uses, 3);
}

pub async fn revocation(ledger: &impl Ledger) {
    let at = now();
    // Revoked before any use: denied, idempotently, whatever the link's uses.
    let fresh = key(&unique("revoked"));
    ledger.revoke(&fresh, at, at + RETENTION).await.unwrap();
    ledger.revoke(&fresh, at, at + RETENTION).await.unwrap();
    assert_eq!(ledger.claim(&claim(&fresh, "r1", at, 1)).await.unwrap(), ClaimOutcome::Revoked);
    assert_eq!(ledger.claim(&claim(&fresh, "r1", at, 5)).await.unwrap(), ClaimOutcome::Revoked);
    let state = ledger.lookup(&fresh).await.unwrap().unwrap();
    assert_eq!((state.revoked, state.uses, state.first_used_at), (true, 0, None));
    // Revoked after a use, with uses left: the rest are refused.
    let used = key(&unique("used-revoked"));
    assert!(ledger.claim(&claim(&used, "r1", at, 5)).await.unwrap().is_allowed());
    ledger.revoke(&used, at, at + RETENTION).await.unwrap();
    assert_eq!(ledger.claim(&claim(&used, "r2", at, 5)).await.unwrap(), ClaimOutcome::Revoked);
    let state = ledger.lookup(&used).await.unwrap().unwrap();
    assert_eq!((state.revoked, state.uses), (true, 1));
}

pub async fn state_and_retention(ledger: &impl Ledger) {
    let at = now();
    assert_eq!(ledger.lookup(&key(&unique("never"))).await.unwrap(), None, "an unknown link has no record");
    // A record made by a use keeps the use's retention, even when revoked later.
    let used = key(&unique("state"));
    ledger.claim(&claim(&used, "r1", at, 2)).await.unwrap();
    let state = ledger.lookup(&used).await.unwrap().unwrap();
    assert_eq!((state.uses, state.first_used_at, state.fingerprint.as_deref(), state.revoked), (1, Some(at), Some("fp-1"), false));
    assert_eq!(state.retain_until, Some(at + RETENTION));
    ledger.revoke(&used, at, at + 10 * RETENTION).await.unwrap();
    assert_eq!(ledger.lookup(&used).await.unwrap().unwrap().retain_until, Some(at + RETENTION));
    // A record made by a revocation is kept as long as the revocation asks.
    let revoked = key(&unique("state-revoked"));
    ledger.revoke(&revoked, at, at + 10 * RETENTION).await.unwrap();
    assert_eq!(ledger.lookup(&revoked).await.unwrap().unwrap().retain_until, Some(at + 10 * RETENTION));
}

pub async fn holds(ledger: &impl Ledger) {
    let at = now();
    let lease = at + Duration::from_secs(60);
    // A held use counts against the link's uses, and a retry of the held request is recognised.
    let link = key(&unique("held"));
    assert_eq!(ledger.claim(&held(claim(&link, "r1", at, 1), lease)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
    assert_eq!(ledger.claim(&held(claim(&link, "r1", at, 1), lease)).await.unwrap(), ClaimOutcome::Retried);
    assert!(matches!(ledger.claim(&held(claim(&link, "r2", at, 1), lease)).await.unwrap(), ClaimOutcome::Exhausted(_)));
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().holds, vec![lease]);
    // Commit confirms it, idempotently; a confirmed use is spent for good.
    assert_eq!(ledger.commit(&link, "r1").await.unwrap(), Commit::Committed);
    assert_eq!(ledger.commit(&link, "r1").await.unwrap(), Commit::Committed);
    let state = ledger.lookup(&link).await.unwrap().unwrap();
    assert_eq!((state.uses, state.holds.len()), (1, 0));
    assert!(matches!(ledger.claim(&claim(&link, "r3", at + Duration::from_secs(120), 1)).await.unwrap(), ClaimOutcome::Exhausted(_)));
    assert_eq!(ledger.commit(&link, "never-held").await.unwrap(), Commit::Lost);

    // Release gives a held use back, once: the next claim gets it, first use and all.
    let link = key(&unique("released"));
    ledger.claim(&held(claim(&link, "r1", at, 1), lease)).await.unwrap();
    assert_eq!(ledger.release(&link, "r1").await.unwrap(), Release::Released);
    assert_eq!(ledger.release(&link, "r1").await.unwrap(), Release::NotHeld);
    let state = ledger.lookup(&link).await.unwrap().unwrap();
    assert_eq!((state.uses, state.first_used_at, state.fingerprint), (0, None, None), "as if never used");
    assert_eq!(ledger.commit(&link, "r1").await.unwrap(), Commit::Lost, "a released hold cannot be confirmed");
    let later = at + Duration::from_secs(7);
    assert_eq!(ledger.claim(&held(claim(&link, "r2", later, 1), lease)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().first_used_at, Some(later));

    // A hold nobody resolves lapses at the end of its lease and the next claim takes it over;
    // the old holder can then confirm nothing.
    let link = key(&unique("lapsed"));
    let short = at + Duration::from_secs(2);
    ledger.claim(&held(claim(&link, "crashed", at, 1), short)).await.unwrap();
    assert!(matches!(ledger.claim(&claim(&link, "early", at + Duration::from_secs(1), 1)).await.unwrap(), ClaimOutcome::Exhausted(_)));
    let after = at + Duration::from_secs(3);
    assert_eq!(
        ledger.claim(&held(claim(&link, "next", after, 1), after + Duration::from_secs(60))).await.unwrap(),
        ClaimOutcome::Granted { use_number: 1 }
    );
    assert_eq!(ledger.commit(&link, "crashed").await.unwrap(), Commit::Lost);
    assert_eq!(ledger.release(&link, "crashed").await.unwrap(), Release::NotHeld, "the lapsed holder cannot give back another's use");
    assert_eq!(ledger.commit(&link, "next").await.unwrap(), Commit::Committed);
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().uses, 1);

    // N uses: holds and spent uses count together.
    let link = key(&unique("n-held"));
    ledger.claim(&held(claim(&link, "a", at, 2), lease)).await.unwrap();
    ledger.claim(&claim(&link, "b", at, 2)).await.unwrap();
    assert!(matches!(ledger.claim(&held(claim(&link, "c", at, 2), lease)).await.unwrap(), ClaimOutcome::Exhausted(u) if u.uses == 2));
    assert_eq!(ledger.release(&link, "a").await.unwrap(), Release::Released);
    assert_eq!(ledger.claim(&held(claim(&link, "c", at, 2), lease)).await.unwrap(), ClaimOutcome::Granted { use_number: 2 });
}

pub async fn spent_uses_given_back(ledger: &impl Ledger) {
    let at = now();
    let link = key(&unique("refund"));
    ledger.claim(&claim(&link, "cf-1", at, 1)).await.unwrap();
    assert_eq!(ledger.release(&link, "cf-other").await.unwrap(), Release::NotHeld, "another request id gives nothing back");
    assert_eq!(ledger.release(&link, "cf-1").await.unwrap(), Release::Released);
    assert_eq!(ledger.release(&link, "cf-1").await.unwrap(), Release::NotHeld, "a retried trigger gives back once");
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().uses, 0);
    let later = at + Duration::from_secs(30);
    assert_eq!(ledger.claim(&claim(&link, "cf-2", later, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().first_used_at, Some(later));
    // With uses left over, a give-back keeps the first use.
    let link = key(&unique("refund-n"));
    ledger.claim(&claim(&link, "cf-1", at, 3)).await.unwrap();
    ledger.claim(&claim(&link, "cf-2", at + Duration::from_secs(1), 3)).await.unwrap();
    assert_eq!(ledger.release(&link, "cf-2").await.unwrap(), Release::Released);
    let state = ledger.lookup(&link).await.unwrap().unwrap();
    assert_eq!((state.uses, state.first_used_at), (1, Some(at)));
    // A revoked link stays revoked whatever is given back.
    ledger.revoke(&link, at, at + RETENTION).await.unwrap();
    assert_eq!(ledger.release(&link, "cf-1").await.unwrap(), Release::Released);
    assert_eq!(ledger.claim(&claim(&link, "cf-3", at, 3)).await.unwrap(), ClaimOutcome::Revoked);
}

fn resume(link: &oncelink::ledger::LedgerKey, fingerprint: &str, window_start: SystemTime, max_resumes: u32) -> ResumeClaim {
    ResumeClaim {
        key: link.clone(),
        request_id: unique("resume"),
        fingerprint: fingerprint.into(),
        at: now(),
        window_start,
        max_resumes,
        single_flight: None,
        client: client_hint(),
    }
}

fn recovery(link: &oncelink::ledger::LedgerKey, window_start: SystemTime, now: SystemTime, until: SystemTime) -> ResumeClaim {
    ResumeClaim { single_flight: Some(InFlight { now, until }), ..resume(link, "fp-1", window_start, 5) }
}

pub async fn resumes(ledger: &impl Ledger) {
    let at = now();
    let window_start = at - Duration::from_secs(10);
    assert_eq!(
        ledger.resume(&resume(&key(&unique("unused")), "fp-1", window_start, 2)).await.unwrap(),
        ResumeOutcome::NotResumable,
        "nothing to resume"
    );
    let link = key(&unique("resume"));
    ledger.claim(&claim(&link, "r1", at, 1)).await.unwrap();
    assert_eq!(ledger.resume(&resume(&link, "fp-2", window_start, 2)).await.unwrap(), ResumeOutcome::NotResumable, "another client");
    assert_eq!(
        ledger.resume(&resume(&link, "fp-1", at + Duration::from_secs(1), 2)).await.unwrap(),
        ResumeOutcome::NotResumable,
        "outside the window"
    );
    assert_eq!(ledger.resume(&resume(&link, "fp-1", window_start, 2)).await.unwrap(), ResumeOutcome::Resumed { resume_number: 1 });
    assert_eq!(ledger.resume(&resume(&link, "fp-1", window_start, 2)).await.unwrap(), ResumeOutcome::Resumed { resume_number: 2 });
    assert_eq!(ledger.resume(&resume(&link, "fp-1", window_start, 2)).await.unwrap(), ResumeOutcome::NotResumable, "no resumes left");
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().resumes, 2);
    // A request that holds or spent a use is that use again (a redelivered event), never a resume.
    let link = key(&unique("own-use"));
    ledger.claim(&claim(&link, "r1", at, 1)).await.unwrap();
    let own = ResumeClaim { request_id: "r1".into(), ..resume(&link, "fp-1", window_start, 2) };
    assert_eq!(ledger.resume(&own).await.unwrap(), ResumeOutcome::NotResumable);
    ledger.claim(&held(claim(&link, "r2", at, 2), at + Duration::from_secs(60))).await.unwrap();
    let own = ResumeClaim { request_id: "r2".into(), ..resume(&link, "fp-1", window_start, 2) };
    assert_eq!(ledger.resume(&own).await.unwrap(), ResumeOutcome::NotResumable);
    // A completed download closes the client's resumes.
    let link = key(&unique("completed"));
    ledger.claim(&claim(&link, "r1", at, 1)).await.unwrap();
    let delivered = Delivery { request_id: "r1".into(), at, bytes: 10, complete: true, resume: false };
    ledger.record_delivery(&link, Some("fp-1"), &delivered).await.unwrap();
    assert_eq!(ledger.resume(&resume(&link, "fp-1", window_start, 2)).await.unwrap(), ResumeOutcome::NotResumable);
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().completed, vec!["fp-1".to_owned()]);
    // One at a time: a held claim puts its client in flight until the lease ends or the
    // delivery is recorded; a single-flight resume is refused meanwhile, and is in flight itself.
    let link = key(&unique("single-flight"));
    let lease = at + Duration::from_secs(60);
    ledger.claim(&held(claim(&link, "r1", at, 1), lease)).await.unwrap();
    ledger.commit(&link, "r1").await.unwrap();
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().in_flight, vec![("fp-1".to_owned(), lease)]);
    assert_eq!(ledger.resume(&recovery(&link, window_start, at, lease)).await.unwrap(), ResumeOutcome::NotResumable, "still in flight");
    assert_eq!(
        ledger.resume(&resume(&link, "fp-1", window_start, 5)).await.unwrap(),
        ResumeOutcome::Resumed { resume_number: 1 },
        "a grace resume may run beside it"
    );
    let cut_off = Delivery { request_id: "r1".into(), at, bytes: 5, complete: false, resume: false };
    ledger.record_delivery(&link, Some("fp-1"), &cut_off).await.unwrap();
    assert!(ledger.lookup(&link).await.unwrap().unwrap().in_flight.is_empty(), "the delivery ended the flight");
    assert_eq!(ledger.resume(&recovery(&link, window_start, at, lease)).await.unwrap(), ResumeOutcome::Resumed { resume_number: 2 });
    assert_eq!(
        ledger.resume(&recovery(&link, window_start, at, lease)).await.unwrap(),
        ResumeOutcome::NotResumable,
        "the recovery is in flight"
    );
    let later = lease + Duration::from_secs(1);
    assert_eq!(
        ledger.resume(&recovery(&link, window_start, later, later + Duration::from_secs(60))).await.unwrap(),
        ResumeOutcome::Resumed { resume_number: 3 },
        "a flight nobody ended lapses"
    );

    // So does revocation.
    let link = key(&unique("resume-revoked"));
    ledger.claim(&claim(&link, "r1", at, 1)).await.unwrap();
    ledger.revoke(&link, at, at + RETENTION).await.unwrap();
    assert_eq!(ledger.resume(&resume(&link, "fp-1", window_start, 2)).await.unwrap(), ResumeOutcome::NotResumable);
}

pub async fn deliveries(ledger: &impl Ledger) {
    let at = now();
    let link = key(&unique("delivered"));
    ledger.claim(&claim(&link, "r1", at, 2)).await.unwrap();
    let report = |request_id: &str, bytes, complete, resume| Delivery { request_id: request_id.into(), at, bytes, complete, resume };
    ledger.record_delivery(&link, Some("fp-1"), &report("r1", 100, false, false)).await.unwrap();
    ledger.record_delivery(&link, Some("fp-1"), &report("r1", 250, false, false)).await.unwrap();
    ledger.record_delivery(&link, Some("fp-1"), &report("r1-resume", 750, true, true)).await.unwrap();
    let mut delivered = ledger.lookup(&link).await.unwrap().unwrap().deliveries;
    delivered.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    assert_eq!(delivered, vec![report("r1", 250, false, false), report("r1-resume", 750, true, true)]);
    let unknown = key(&unique("no-record"));
    ledger.record_delivery(&unknown, Some("fp-1"), &report("r9", 1, true, false)).await.unwrap();
    assert_eq!(ledger.lookup(&unknown).await.unwrap(), None, "a report creates no record");
}

pub async fn trail_and_tag(ledger: &impl Ledger) {
    let at = now();
    let link = key(&unique("trail"));
    ledger.tag(&link, "order-1234", at + RETENTION).await.unwrap();
    ledger.tag(&link, "another", at + RETENTION * 2).await.unwrap();
    let state = ledger.lookup(&link).await.unwrap().expect("a tag makes the record");
    assert_eq!((state.tag.as_deref(), state.uses, state.trail.len()), (Some("order-1234"), 0, 0), "the first tag stays");
    assert_eq!(state.retain_until, Some(at + RETENTION));

    // Uses: spent, held, held then given back; each in the trail with its client.
    let later = at + Duration::from_secs(1);
    assert!(ledger.claim(&claim(&link, "spent", at, 3)).await.unwrap().is_allowed());
    assert!(ledger.claim(&held(claim(&link, "held", later, 3), later + Duration::from_secs(60))).await.unwrap().is_allowed());
    assert!(ledger.claim(&held(claim(&link, "back", later, 3), later + Duration::from_secs(60))).await.unwrap().is_allowed());
    assert_eq!(ledger.release(&link, "back").await.unwrap(), Release::Released);
    assert_eq!(ledger.claim(&claim(&link, "spent", at, 3)).await.unwrap(), ClaimOutcome::Retried);
    let state = ledger.lookup(&link).await.unwrap().unwrap();
    let outcomes: Vec<_> = state.trail.iter().map(|e| (e.request_id.as_str(), e.outcome.clone())).collect();
    assert_eq!(
        outcomes,
        vec![("spent", TrailOutcome::Used), ("back", TrailOutcome::GivenBack), ("held", TrailOutcome::Held)],
        "oldest first, a retry not twice"
    );
    assert!(state.trail.iter().all(|e| e.client == client_hint()));
    assert_eq!((state.trail[0].at, state.max_uses, state.tag.as_deref()), (at, 3, Some("order-1234")));
    assert_eq!(ledger.commit(&link, "held").await.unwrap(), Commit::Committed);
    assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().trail[2].outcome, TrailOutcome::Used);

    // Refusals: the first REFUSALS_KEPT are kept, every one is counted, a request once.
    let refused = |i: u32| TrailEntry {
        request_id: format!("refused-{i:02}"),
        at: later,
        outcome: TrailOutcome::Refused("link_already_used".into()),
        client: ClientHint { network: "2001:db8:1::/48".into(), agent: "bot".into() },
    };
    for i in 0..REFUSALS_KEPT + 5 {
        ledger.note_refusal(&link, &refused(i), at + RETENTION).await.unwrap();
    }
    ledger.note_refusal(&link, &refused(0), at + RETENTION).await.unwrap();
    let state = ledger.lookup(&link).await.unwrap().unwrap();
    assert_eq!(state.refusals, REFUSALS_KEPT + 5);
    let kept: Vec<_> = state.trail.iter().filter(|e| e.outcome.is_refusal()).collect();
    assert_eq!(kept.len(), REFUSALS_KEPT as usize);
    assert_eq!(*kept[0], refused(0));
    assert_eq!(state.uses, 2, "refusals spend nothing");

    // A refusal on a link never used makes its record, with the retention it is given.
    let fresh = key(&unique("trail-refused"));
    let preview = TrailEntry { outcome: TrailOutcome::Preview, ..refused(0) };
    ledger.note_refusal(&fresh, &preview, at + RETENTION).await.unwrap();
    let state = ledger.lookup(&fresh).await.unwrap().expect("a refusal makes the record");
    assert_eq!((state.uses, state.refusals, state.retain_until), (0, 1, Some(at + RETENTION)));
    assert_eq!(state.trail, vec![preview]);
    // … and the link is still fully usable.
    assert!(ledger.claim(&claim(&fresh, "after-refusal", later, 1)).await.unwrap().is_allowed());

    // A resume of the first client is in the trail too.
    let resumed = key(&unique("trail-resume"));
    ledger.claim(&claim(&resumed, "first", at, 1)).await.unwrap();
    let resume = resume(&resumed, "fp-1", at - Duration::from_secs(10), 2);
    assert!(matches!(ledger.resume(&resume).await.unwrap(), ResumeOutcome::Resumed { .. }));
    let trail = ledger.lookup(&resumed).await.unwrap().unwrap().trail;
    assert_eq!(trail.iter().map(|e| e.outcome.clone()).collect::<Vec<_>>(), vec![TrailOutcome::Used, TrailOutcome::Resumed]);
    assert_eq!(trail[1].request_id, resume.request_id);
}

/// Rounds of races: `ci` normally, `soak` with `ONCELINK_SOAK=1`.
pub fn rounds(ci: usize, soak: usize) -> usize {
    if std::env::var("ONCELINK_SOAK").is_ok_and(|v| v == "1") { soak } else { ci }
}

/// 64 viewers race for one link, `rounds` times: exactly `max_uses` win each time; every
/// other round holds its uses (the gateway's claims) instead of spending them.
pub async fn race<L: Ledger + 'static>(ledger: &Arc<L>, max_uses: u32, rounds: usize) {
    for round in 0..rounds {
        let link = key(&unique("race"));
        let at = SystemTime::now();
        let mut tasks = tokio::task::JoinSet::new();
        for viewer in 0..64 {
            let mut claim = claim(&link, &format!("viewer-{viewer}"), at, max_uses);
            if round % 2 == 1 {
                claim = held(claim, at + Duration::from_secs(60));
            }
            let ledger = ledger.clone();
            tasks.spawn(async move { ledger.claim(&claim).await });
        }
        let (mut granted, mut exhausted) = (0, 0);
        while let Some(result) = tasks.join_next().await {
            match result.expect("a claim task").unwrap_or_else(|e| panic!("ledger error in a race: {e}")) {
                ClaimOutcome::Granted { .. } => granted += 1,
                ClaimOutcome::Exhausted(_) => exhausted += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((granted, exhausted), (max_uses, 64 - max_uses), "round {round}, max_uses {max_uses}");
    }
}

/// 64 viewers race to take over one lapsed hold: exactly one gets it. Then a holder gives its
/// use back while 63 others race for it: at most one of them wins, and the record counts
/// exactly the winners.
pub async fn lapse_and_release_races<L: Ledger + 'static>(ledger: &Arc<L>, rounds: usize) {
    for round in 0..rounds {
        let (link, at) = (key(&unique("lapse-race")), now());
        ledger.claim(&held(claim(&link, "crashed", at, 1), at + Duration::from_secs(1))).await.unwrap();
        let later = at + Duration::from_secs(2);
        let mut tasks = tokio::task::JoinSet::new();
        for viewer in 0..64 {
            let (ledger, claim) = (ledger.clone(), held(claim(&link, &format!("v{viewer}"), later, 1), later + Duration::from_secs(60)));
            tasks.spawn(async move { ledger.claim(&claim).await.unwrap().is_allowed() });
        }
        assert_eq!(tasks.join_all().await.into_iter().filter(|won| *won).count(), 1, "lapse round {round}");

        let link = key(&unique("release-race"));
        ledger.claim(&held(claim(&link, "holder", at, 1), at + Duration::from_secs(60))).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for viewer in 0..63 {
            let (ledger, claim) = (ledger.clone(), claim(&link, &format!("v{viewer}"), at, 1));
            tasks.spawn(async move { ledger.claim(&claim).await.unwrap().is_allowed() });
        }
        let (releaser, released_link) = (ledger.clone(), link.clone());
        let released = tokio::spawn(async move { releaser.release(&released_link, "holder").await.unwrap() });
        let winners = tasks.join_all().await.into_iter().filter(|won| *won).count();
        assert_eq!(released.await.unwrap(), Release::Released);
        assert!(winners <= 1, "release round {round}: {winners} winners of one use");
        assert_eq!(ledger.lookup(&link).await.unwrap().unwrap().uses as usize, winners, "release round {round}");
    }
}

/// One-time races, then N = 3 and N = 10, then lapses and releases under contention.
pub async fn races<L: Ledger + 'static>(ledger: Arc<L>, one_time: usize, n_use: usize) {
    let started = std::time::Instant::now();
    let one_time = rounds(one_time, 10_000);
    race(&ledger, 1, one_time).await;
    race(&ledger, 3, rounds(n_use, 1_000)).await;
    race(&ledger, 10, rounds(n_use, 1_000)).await;
    lapse_and_release_races(&ledger, rounds(n_use, 1_000)).await;
    println!("{one_time} one-time 64-way races (+ N = 3, N = 10, lapses, releases): zero double uses, {:?}", started.elapsed());
}

/// Runs the whole contract against one adapter: `ledger_contract!(name, races = (one_time,
/// n_use), async { <a fresh Arc<impl Ledger>> })`.
#[macro_export]
macro_rules! ledger_contract {
    ($name:ident, races = ($one_time:expr, $n_use:expr), $make:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $crate::ledger_contract!(@cases $make; first_use_then_reuse, n_uses_count_down, revocation, state_and_retention, holds,
                spent_uses_given_back, resumes, deliveries, trail_and_tag);

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn races_grant_exactly_n() {
                $crate::ledger_contract::races($make.await, $one_time, $n_use).await
            }
        }
    };
    (@cases $make:expr; $($case:ident),*) => {
        $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            $crate::ledger_contract::$case(&*$make.await).await
        })*
    };
}
