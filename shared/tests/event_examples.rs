//! docs/events.examples.json shows receivers what they get: it must be exactly what this
//! implementation derives from a link's life (tagged, used by a person, refused to a scanner,
//! revoked). `ONCELINK_WRITE_DOCS=1` rewrites the file; docs/events.schema.json validates it
//! (tests/infra/test_event_schema.py).

use oncelink::events::changes;
use oncelink::ledger::{ClientHint, LedgerKey, LinkRecord, TrailEntry, TrailOutcome, UseClaim};
use oncelink::link::LinkId;
use oncelink::time::from_unix_secs;
use serde_json::Value;

fn life() -> Vec<Value> {
    let id = LinkId::for_nonce(b"docs example");
    let key = LedgerKey::for_link(&id);
    let at = |s: u64| from_unix_secs(1_796_000_000 + s);
    let retain = at(7 * 86_400);
    let mut record = LinkRecord::default();
    let mut events = Vec::new();
    let mut step = |change: &dyn Fn(&mut LinkRecord)| {
        let before = record.clone();
        change(&mut record);
        events.extend(changes(&key, &before, &record).iter().map(|e| e.to_json()));
    };
    step(&|r| r.tag("order-1234", retain));
    // A mail scanner opens it first: a preview, no use.
    let scanner = ClientHint { network: "192.0.2.0/24".into(), agent: "scanner".into() };
    let preview = TrailEntry { request_id: "req-scanner".into(), at: at(60), outcome: TrailOutcome::Preview, client: scanner };
    step(&|r| {
        r.note_refusal(&preview, retain);
    });
    // The customer downloads it (the gateway holds the use, then confirms it).
    let person = ClientHint { network: "2001:db8:1234::/48".into(), agent: "firefox".into() };
    let claim = UseClaim {
        key: key.clone(),
        request_id: "req-customer".into(),
        at: at(600),
        retain_until: retain,
        max_uses: 1,
        fingerprint: Some("fp".into()),
        hold_until: Some(at(660)),
        client: person.clone(),
    };
    step(&|r| {
        let _ = r.apply(&claim);
    });
    step(&|r| {
        let _ = r.commit("req-customer");
    });
    // A second try is refused.
    let again = TrailEntry {
        request_id: "req-again".into(),
        at: at(900),
        outcome: TrailOutcome::Refused("link_already_used".into()),
        client: person.clone(),
    };
    step(&|r| {
        r.note_refusal(&again, retain);
    });
    step(&|r| r.revoke(at(1200), retain));
    events
}

#[test]
fn the_documented_examples_are_what_a_links_life_emits() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.examples.json");
    let generated = serde_json::to_string_pretty(&life()).unwrap() + "\n";
    if std::env::var("ONCELINK_WRITE_DOCS").is_ok_and(|v| v == "1") {
        std::fs::write(path, &generated).unwrap();
    }
    let documented = std::fs::read_to_string(path).expect("docs/events.examples.json (ONCELINK_WRITE_DOCS=1 writes it)");
    assert_eq!(documented, generated, "docs/events.examples.json is stale: rerun with ONCELINK_WRITE_DOCS=1");
    let types: Vec<_> = life().iter().map(|e| e["type"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(types, ["link.refused", "link.used", "link.exhausted", "link.refused", "link.revoked"]);
}
