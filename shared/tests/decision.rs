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

fn denied(request: &ViewerRequest, now: SystemTime) -> DenyReason {
    match precheck(request, &EdgePolicy::default(), &cfg(), now) {
        Precheck::Deny(reason) => reason,
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
fn head_and_options_never_claim() {
    let mut request = link(LinkMethod::Get, "k", 600);
    request.method = "HEAD".into();
    let unchanged = Precheck::ForwardWithoutUse(Forward { path: "k".into(), querystring: request.querystring.clone() });
    assert_eq!(precheck(&request, &EdgePolicy::default(), &cfg(), at(1)), unchanged);
    request.method = "OPTIONS".into();
    assert_eq!(precheck(&request, &EdgePolicy::default(), &cfg(), at(1)), unchanged);
    // HEAD still gets the shape and window checks.
    request.method = "HEAD".into();
    assert_eq!(denied(&request, at(600)), DenyReason::Expired);
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
