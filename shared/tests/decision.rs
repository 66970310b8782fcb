//! The decision table: every phase, in order, with links made by our own presigner.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use oncelink::config::EdgeConfig;
use oncelink::decision::{Decision, EdgePolicy, Forward, Precheck, decide, precheck};
use oncelink::ledger::{LedgerKey, MemoryLedger};
use oncelink::link::LinkMethod;
use oncelink::presign::{PresignRequest, S3Origin, presign};
use oncelink::time::parse_amz_date;
use oncelink::{DenyReason, Refusal, ViewerRequest};

fn t0() -> SystemTime {
    parse_amz_date("20261122T120000Z").unwrap()
}

fn cfg() -> EdgeConfig {
    EdgeConfig::presigned()
}

fn origin() -> S3Origin {
    S3Origin { bucket: "bucket".into(), region: "eu-west-1".into(), endpoint: None }
}

fn creds() -> Credentials {
    Credentials::new("AKIDEXAMPLE", "secret", None, None, "test")
}

/// A viewer request for a freshly presigned link, as the CDN would see it.
fn link(method: LinkMethod, key: &str, expires: u64) -> ViewerRequest {
    let signed = presign(
        &origin(),
        &creds(),
        &PresignRequest { method, key, expires_in: Duration::from_secs(expires), content_type: None, extra_query: &[] },
        t0(),
    )
    .unwrap();
    let (path, query) = signed.path_and_query.split_once('?').unwrap();
    ViewerRequest {
        method: method.as_str().into(),
        uri: path.into(),
        querystring: query.into(),
        headers: vec![],
        client_ip: Some("203.0.113.9".into()),
        request_id: "req-1".into(),
    }
}

fn denied_by(decision: Decision) -> DenyReason {
    oncelink_testkit::denied(decision)
}

fn forwarded(decision: &Decision) -> bool {
    oncelink_testkit::forwarded(decision)
}

fn denied(request: &ViewerRequest, now: SystemTime) -> DenyReason {
    match precheck(request, &EdgePolicy::default(), &cfg(), now) {
        Precheck::Deny(reason) | Precheck::Refused(reason, _) => reason,
        other => panic!("expected a denial, got {other:?}"),
    }
}

fn at(secs: u64) -> SystemTime {
    t0() + Duration::from_secs(secs)
}

#[test]
fn a_valid_get_claims_with_the_signature_hash_as_key() {
    let request = link(LinkMethod::Get, "reports/a b.pdf", 600);
    let Precheck::Claim(claim) = precheck(&request, &EdgePolicy::default(), &cfg(), at(10)) else { panic!() };
    let signature = request.querystring.split("X-Amz-Signature=").nth(1).unwrap();
    assert_eq!(claim.use_claim.key, LedgerKey::for_link(&oncelink::link::LinkId::for_signature(signature)));
    assert_eq!(claim.use_claim.request_id, "req-1");
    assert_eq!(claim.use_claim.max_uses, 1);
    assert_eq!(claim.use_claim.retain_until, at(600) + oncelink::link::RETENTION_MARGIN);
    assert_eq!(claim.forward.querystring, request.querystring, "presigned mode forwards the query unchanged");
}

#[test]
fn head_and_options_only_look() {
    let mut request = link(LinkMethod::Get, "k", 600);
    for method in ["HEAD", "OPTIONS"] {
        request.method = method.into();
        let Precheck::Look(look) =
            precheck(&request, &EdgePolicy { hold_lease: Some(Duration::from_secs(9)), ..EdgePolicy::default() }, &cfg(), at(1))
        else {
            panic!("{method} looks")
        };
        assert_eq!(look.forward, Forward { path: "k".into(), querystring: request.querystring.clone() });
        assert_eq!(look.use_claim.hold_until, None, "{method} holds nothing");
    }
    // HEAD still gets the shape and window checks.
    request.method = "HEAD".into();
    assert_eq!(denied(&request, at(600)), DenyReason::Expired);
}

/// HEAD and OPTIONS read the ledger: answered exactly as their GET would be refused.
#[tokio::test]
async fn a_used_or_revoked_link_answers_head_as_its_get() {
    let (ledger, policy) = (MemoryLedger::new(), EdgePolicy::default());
    let get = link(LinkMethod::Get, "k", 600);
    let head = ViewerRequest { method: "HEAD".into(), request_id: "h".into(), ..get.clone() };
    assert!(forwarded(&decide(&head, &policy, &cfg(), &ledger, at(1)).await), "unused: the origin answers");
    assert!(ledger.is_empty(), "a look writes nothing");
    assert!(forwarded(&decide(&get, &policy, &cfg(), &ledger, at(2)).await));
    assert_eq!(denied_by(decide(&head, &policy, &cfg(), &ledger, at(3)).await), DenyReason::AlreadyUsed { first_used_at: at(2) });
    let options = ViewerRequest { method: "OPTIONS".into(), ..head.clone() };
    assert_eq!(denied_by(decide(&options, &policy, &cfg(), &ledger, at(3)).await), DenyReason::AlreadyUsed { first_used_at: at(2) });
    // The first client may still look while it may resume; others may not.
    let resuming = EdgePolicy { resume_window: Duration::from_secs(60), ..EdgePolicy::default() };
    assert!(forwarded(&decide(&head, &resuming, &cfg(), &ledger, at(3)).await));
    let stranger = head.clone().with_header("user-agent", "someone-else/1");
    assert!(matches!(denied_by(decide(&stranger, &resuming, &cfg(), &ledger, at(3)).await), DenyReason::AlreadyUsed { .. }));
    let other = link(LinkMethod::Get, "other", 600);
    let key = match precheck(&other, &policy, &cfg(), at(1)) {
        Precheck::Claim(c) => c.use_claim.key,
        p => panic!("{p:?}"),
    };
    oncelink::ledger::Ledger::revoke(&ledger, &key, at(1), at(9999)).await.unwrap();
    let other_head = ViewerRequest { method: "HEAD".into(), ..other };
    assert_eq!(denied_by(decide(&other_head, &policy, &cfg(), &ledger, at(4)).await), DenyReason::Revoked);
}

#[test]
fn one_reading_of_range_and_no_bodies_on_reads() {
    let request = link(LinkMethod::Get, "k", 600);
    for bad in ["items=0-1", "bytes=0-0,-1", "bytes=5-1", "bytes= 0-1"] {
        let r = request.clone().with_header("range", bad);
        assert!(matches!(denied(&r, at(1)), DenyReason::InvalidRange(_)), "{bad}");
        assert_eq!(denied(&r, at(1)).status(), 416);
    }
    let twice = request.clone().with_header("range", "bytes=0-1").with_header("range", "bytes=0-1");
    assert!(matches!(denied(&twice, at(1)), DenyReason::InvalidRange(_)));
    for (name, value) in [("content-length", "5"), ("transfer-encoding", "chunked")] {
        let r = request.clone().with_header(name, value);
        assert_eq!(denied(&r, at(1)), DenyReason::BodyNotAllowed, "{name}");
        assert_eq!(denied(&ViewerRequest { method: "HEAD".into(), ..r }, at(1)), DenyReason::BodyNotAllowed);
    }
    assert!(matches!(
        precheck(&request.clone().with_header("content-length", "0"), &EdgePolicy::default(), &cfg(), at(1)),
        Precheck::Claim(_)
    ));
    // Without a grace window there is no grace resume; a recovery window applies to any GET.
    let ranged = request.with_header("range", "bytes=100-");
    let Precheck::Claim(claim) = precheck(&ranged, &EdgePolicy::default(), &cfg(), at(1)) else { panic!() };
    assert_eq!((claim.grace, claim.recovery), (None, None), "no grace, no recovery window");
    let policy = EdgePolicy { resume_window: Duration::from_secs(600), hold_lease: Some(Duration::from_secs(65)), ..EdgePolicy::default() };
    let Precheck::Claim(claim) = precheck(&ranged, &policy, &cfg(), at(1)) else { panic!() };
    assert_eq!((claim.grace, claim.recovery, claim.use_claim.hold_until), (None, Some(Duration::from_secs(600)), Some(at(66))));
}

#[test]
fn people_bots_and_prefetches() {
    let get = link(LinkMethod::Get, "k", 600);
    let slackbot = get.clone().with_header("user-agent", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)");
    assert!(matches!(precheck(&slackbot, &EdgePolicy::default(), &cfg(), at(1)), Precheck::Preview(_)));
    for person in [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Electron/28.2.1 Safari/537.36 Teams/24004.1307.2669.7070",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/537.36 (KHTML, like Gecko) Slack/4.36.140 Chrome/120.0 Electron/28.1.0 Safari/537.36 Sonic Slack_SSB/4.36.140",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17231; Pro)",
    ] {
        let r = get.clone().with_header("user-agent", person);
        assert!(matches!(precheck(&r, &EdgePolicy::default(), &cfg(), at(1)), Precheck::Claim(_)), "{person}");
    }
    let upload = link(LinkMethod::Put, "up", 600).with_header("user-agent", "facebookexternalhit/1.1");
    assert!(matches!(precheck(&upload, &EdgePolicy::default(), &cfg(), at(1)), Precheck::Claim(_)), "an upload is never a preview");
    for (name, value) in
        [("sec-purpose", "prefetch"), ("sec-purpose", "prefetch;prerender"), ("purpose", "prefetch"), ("x-moz", "prefetch")]
    {
        assert_eq!(denied(&get.clone().with_header(name, value), at(1)), DenyReason::Prefetch, "{name}: {value}");
    }
}

#[test]
fn other_methods_are_refused_first() {
    let mut request = link(LinkMethod::Get, "k", 600);
    for method in ["POST", "DELETE", "get", "PATCH", ""] {
        request.method = method.into();
        assert_eq!(denied(&request, at(1)), DenyReason::MethodNotAllowed, "{method}");
    }
}

#[test]
fn put_links_claim_and_method_must_match_x_id() {
    let request = link(LinkMethod::Put, "uploads/x", 600);
    assert!(matches!(precheck(&request, &EdgePolicy::default(), &cfg(), at(1)), Precheck::Claim(_)));
    let mut as_get = request.clone();
    as_get.method = "GET".into();
    assert_eq!(denied(&as_get, at(1)), DenyReason::WrongMethod);
}

#[test]
fn validity_window_with_skew() {
    let request = link(LinkMethod::Get, "k", 600);
    assert!(matches!(precheck(&request, &EdgePolicy::default(), &cfg(), at(599)), Precheck::Claim(_)));
    assert_eq!(denied(&request, at(600)), DenyReason::Expired);
    assert_eq!(denied(&request, at(100_000)), DenyReason::Expired);
    // 30 s early is within the 60 s skew allowance; 61 s is not.
    assert!(matches!(precheck(&request, &EdgePolicy::default(), &cfg(), t0() - Duration::from_secs(30)), Precheck::Claim(_)));
    assert_eq!(denied(&request, t0() - Duration::from_secs(61)), DenyReason::NotYetValid);
}

#[test]
fn no_signature_is_not_a_link() {
    let mut request = link(LinkMethod::Get, "k", 600);
    request.querystring = String::new();
    assert_eq!(denied(&request, at(1)), DenyReason::MissingSignature);
}

/// Each mutation of a valid link's query that the origin could read differently is refused.
#[test]
fn ambiguous_or_tampered_queries_are_refused_before_the_ledger() {
    let request = link(LinkMethod::Get, "k", 600);
    let q = request.querystring.clone();
    let signature = q.split("X-Amz-Signature=").nth(1).unwrap().to_owned();
    let mutations: Vec<String> = vec![
        format!("{q}&X-Amz-Signature={signature}"),             // repeated
        format!("{q}&x-amz-signature={signature}"),             // case twin
        q.replace("X-Amz-Signature", "x-amz-signature"),        // wrong case
        format!("{q}&acl="),                                    // sub-resource
        format!("{q}&acl"),                                     // no '='
        format!("{q}&foo=bar"),                                 // unknown parameter
        format!("{q}&"),                                        // empty parameter
        q.replace(&signature, &signature.to_uppercase()),       // upper-case hex
        q.replace(&signature, &signature[..63]),                // truncated
        q.replace("X-Amz-Expires=600", "X-Amz-Expires=0600"),   // leading zero
        q.replace("X-Amz-Expires=600", "X-Amz-Expires=604801"), // > 7 days
        q.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1"),
        q.replace("%2F", "/"),   // non-canonical encoding
        q.replace("%2F", "%2f"), // lower-case hex
        q.replace("X-Amz-Date=20261122T120000Z", "X-Amz-Date=20261122T120000"),
        q.replace("20261122%2F", "20261121%2F"), // credential date ≠ X-Amz-Date
        q.replace("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range"),
        q.replace("x-id=GetObject", "x-id=PutObject"),
        q.replace("x-id=GetObject", "x-id=GetObjectAcl"),
        format!("{q}&x-oncelink-uses=0"),
        format!("{q}&x-oncelink-uses=01"),
        format!("{q}&x-oncelink-grace=86401"),
        q.replace("&X-Amz-Date=20261122T120000Z", ""), // missing date
    ];
    for (i, mutated) in mutations.iter().enumerate() {
        assert_ne!(mutated, &q, "mutation {i} changed nothing");
        let mut r = request.clone();
        r.querystring = mutated.clone();
        let reason = denied(&r, at(1));
        assert_eq!(reason.status(), 403, "mutation {i}: {mutated} → {reason:?}");
    }
}

#[test]
fn reordered_parameters_still_map_to_the_same_key() {
    let request = link(LinkMethod::Get, "k", 600);
    let mut params: Vec<&str> = request.querystring.split('&').collect();
    params.reverse();
    let mut reordered = request.clone();
    reordered.querystring = params.join("&");
    let key = |r: &ViewerRequest| match precheck(r, &EdgePolicy::default(), &cfg(), at(1)) {
        Precheck::Claim(c) => c.use_claim.key,
        other => panic!("{other:?}"),
    };
    assert_eq!(key(&request), key(&reordered));
}

#[test]
fn ambiguous_paths_are_refused() {
    let request = link(LinkMethod::Get, "a/b", 600);
    for path in ["/a//b", "/a/./b", "/a/../b", "/a%2Fb", "/a/%62", "a/b", "/", "/a/b%", "/a b", "/a%2fb"] {
        let mut r = request.clone();
        r.uri = path.into();
        assert!(matches!(denied(&r, at(1)), DenyReason::BadPath(_)), "{path}");
    }
}

#[tokio::test]
async fn first_use_forwards_then_reuse_is_refused_with_the_first_time() {
    let ledger = MemoryLedger::new();
    let policy = EdgePolicy::default();
    let request = link(LinkMethod::Get, "k", 600);
    assert_eq!(
        decide(&request, &policy, &cfg(), &ledger, at(5)).await,
        Decision::Forward(Forward { path: "k".into(), querystring: request.querystring.clone() })
    );
    // The same request id again is an SDK retry of the same request: still allowed.
    assert_eq!(
        decide(&request, &policy, &cfg(), &ledger, at(6)).await,
        Decision::Forward(Forward { path: "k".into(), querystring: request.querystring.clone() })
    );
    let mut second = request.clone();
    second.request_id = "req-2".into();
    assert_eq!(decide(&second, &policy, &cfg(), &ledger, at(7)).await, Decision::Deny(DenyReason::AlreadyUsed { first_used_at: at(5) }));
    // An expired request is refused without writing anything.
    let other = link(LinkMethod::Get, "other", 600);
    assert_eq!(decide(&other, &policy, &cfg(), &ledger, at(700)).await, Decision::Deny(DenyReason::Expired));
    assert_eq!(ledger.len(), 1);
}

#[test]
fn deny_bodies_are_small_json_without_secrets() {
    let reason = DenyReason::AlreadyUsed { first_used_at: t0() };
    let body: serde_json::Value = serde_json::from_str(&reason.body()).unwrap();
    assert_eq!(body["error"], "link_already_used");
    assert_eq!(body["first_used_at"], "2026-11-22T12:00:00Z");
    assert_eq!(DenyReason::LedgerUnavailable.status(), 503);
    assert_eq!(DenyReason::ConfigUnavailable.status(), 503);
}
