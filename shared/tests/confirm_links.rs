//! Confirm links at the edge (phase 4b): the page, the click, the proof — decided against an
//! in-memory ledger that must stay empty until a person's click is followed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oncelink::config::EdgeConfig;
use oncelink::confirm::{ConfirmStep, proof};
use oncelink::decision::{Decision, EdgePolicy, decide};
use oncelink::issue::{IssueError, IssuedLink, IssuerSettings, LinkRequest, Signer, issue};
use oncelink::ledger::MemoryLedger;
use oncelink::link::LinkMode;
use oncelink::metrics::DecisionOutcome;
use oncelink::presign::S3Origin;
use oncelink::sealed::KeySet;
use oncelink::{DenyReason, Refusal, ViewerRequest};
use oncelink_testkit::{denied, forwarded};

const HOST: &str = "files.example.com";
const ORIGIN: &str = "https://files.example.com";

fn settings(mode: LinkMode) -> IssuerSettings {
    IssuerSettings {
        origin: S3Origin { bucket: "b".into(), region: "eu-west-1".into(), endpoint: None },
        cdn: HOST.into(),
        default_expires: Duration::from_secs(600),
        max_expires: Duration::from_secs(3600),
        key_prefix: String::new(),
        cors_origins: vec![],
        mode,
    }
}

fn keys() -> KeySet {
    KeySet::from_secrets("k1", [("k1".to_owned(), vec![1u8; 32])]).unwrap()
}

fn confirm_link(key: &str, filename: Option<&str>) -> IssuedLink {
    let request = LinkRequest { key: key.into(), confirm: Some(true), filename: filename.map(str::to_owned), ..Default::default() };
    issue(&settings(LinkMode::Sealed), Signer { credentials: None, keys: Some(&keys()) }, &request, SystemTime::now()).unwrap()
}

/// A browser's request for `url`.
fn browser(method: &str, url: &str, id: &str, headers: &[(&str, &str)]) -> ViewerRequest {
    let mut request = ViewerRequest::from_url(method, url, id).with_header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)");
    for (name, value) in headers {
        request = request.with_header(name, value);
    }
    ViewerRequest { client_ip: Some("198.51.100.7".into()), ..request }
}

struct Edge {
    config: EdgeConfig,
    ledger: Arc<MemoryLedger>,
}

impl Edge {
    fn new() -> Self {
        Self { config: EdgeConfig::sealed(keys()), ledger: Arc::new(MemoryLedger::new()) }
    }

    async fn decide(&self, request: &ViewerRequest) -> Decision {
        decide(request, &EdgePolicy::default(), &self.config, self.ledger.as_ref(), SystemTime::now()).await
    }

    /// Presses the button: the proof the 303 sets.
    async fn click(&self, url: &str) -> String {
        match self.decide(&browser("POST", url, "click", &[("origin", ORIGIN), ("content-length", "0")])).await {
            Decision::Confirm(ConfirmStep::Clicked { proof, .. }) => proof,
            other => panic!("a click from the link's own page: {other:?}"),
        }
    }
}

fn page_of(decision: Decision) -> (String, Option<String>) {
    match decision {
        Decision::Confirm(ConfirmStep::Page { link, filename }) => (link, filename),
        other => panic!("expected the confirm page, got {other:?}"),
    }
}

fn path_and_query(url: &str) -> &str {
    url[url.find("://").unwrap() + 3..].trim_start_matches(|c| c != '/')
}

#[tokio::test]
async fn a_visit_gets_the_page_and_spends_nothing_a_click_then_its_follow_up_spends_once() {
    let edge = Edge::new();
    let issued = confirm_link("contracts/signed.pdf", Some("Contract.pdf"));
    assert!(issued.confirm);
    for (i, method) in ["GET", "HEAD", "GET"].into_iter().enumerate() {
        let (link, filename) = page_of(edge.decide(&browser(method, &issued.url, &format!("v{i}"), &[])).await);
        assert_eq!((link.as_str(), filename.as_deref()), (path_and_query(&issued.url), Some("Contract.pdf")));
    }
    assert!(edge.ledger.is_empty(), "the page spends nothing and writes nothing");

    let clicked = edge.decide(&browser("POST", &issued.url, "c1", &[("origin", ORIGIN), ("sec-fetch-site", "same-origin")])).await;
    let Decision::Confirm(ConfirmStep::Clicked { link, path, proof, secure }) = clicked else { panic!("{clicked:?}") };
    assert_eq!((link.as_str(), path.as_str(), secure), (path_and_query(&issued.url), "/contracts/signed.pdf", true));
    assert_eq!(proof::verify(&proof, &keys(), &issued.link_id, SystemTime::now()), Ok(()));
    assert!(edge.ledger.is_empty(), "the click spends nothing either");

    let cookie = format!("theme=dark; oncelink_confirm={proof}");
    let follow_up = |id: &str| browser("GET", &issued.url, id, &[("cookie", &cookie), ("sec-fetch-site", "same-origin")]);
    assert!(forwarded(&edge.decide(&follow_up("g1")).await), "the click's follow-up downloads");
    assert_eq!(edge.ledger.len(), 1);
    assert!(matches!(denied(edge.decide(&follow_up("g2")).await), DenyReason::AlreadyUsed { .. }));
}

#[tokio::test]
async fn a_proof_counts_only_for_its_own_link_its_lifetime_and_the_clicks_follow_up() {
    let edge = Edge::new();
    let (one, two) = (confirm_link("a.pdf", None), confirm_link("b.pdf", None));
    let proof_one = edge.click(&one.url).await;
    let with = |url: &str, proof: &str, site: &str| {
        browser("GET", url, "g", &[("cookie", &format!("oncelink_confirm={proof}")), ("sec-fetch-site", site)])
    };
    // Another link, a tampered proof, one from another key set, an expired one: the page again.
    page_of(edge.decide(&with(&two.url, &proof_one, "same-origin")).await);
    page_of(edge.decide(&with(&one.url, &format!("{proof_one}x"), "same-origin")).await);
    let strangers = KeySet::from_secrets("k1", [("k1".to_owned(), vec![9u8; 32])]).unwrap();
    page_of(edge.decide(&with(&one.url, &proof::mint(&strangers, &one.link_id, SystemTime::now()), "same-origin")).await);
    let old = proof::mint(&keys(), &one.link_id, SystemTime::now() - proof::LIFETIME - Duration::from_secs(1));
    page_of(edge.decide(&with(&one.url, &old, "same-origin")).await);
    // The link opened again (typed, or from a mail): a new visit takes a new click.
    page_of(edge.decide(&with(&one.url, &proof_one, "none")).await);
    page_of(edge.decide(&with(&one.url, &proof_one, "cross-site")).await);
    assert!(edge.ledger.is_empty());
    // A client that says nothing of where it comes from may use its proof.
    let no_site = browser("GET", &one.url, "g", &[("cookie", &format!("oncelink_confirm={proof_one}"))]);
    assert!(forwarded(&edge.decide(&no_site).await));
    assert_eq!(proof_one.split('.').next_back(), Some("k1"));
}

#[tokio::test]
async fn a_click_from_anywhere_but_the_links_own_page_is_refused() {
    let edge = Edge::new();
    let issued = confirm_link("a.pdf", None);
    for headers in [
        &[][..],
        &[("origin", "https://evil.example")][..],
        &[("origin", "null")][..],
        &[("origin", ORIGIN), ("sec-fetch-site", "cross-site")][..],
        &[("origin", "http://files.example.com")][..],
        &[("sec-fetch-site", "cross-site")][..],
    ] {
        let reason = denied(edge.decide(&browser("POST", &issued.url, "p", headers)).await);
        assert_eq!((reason.status(), reason.code()), (403, "confirm_cross_site"), "{headers:?}");
    }
    // A same-origin click without Origin, or with the null Origin of the page's no-referrer
    // policy (what Chromium sends), is a browser's on the link's own page.
    for headers in [&[("sec-fetch-site", "same-origin")][..], &[("origin", "null"), ("sec-fetch-site", "same-origin")][..]] {
        let clicked = edge.decide(&browser("POST", &issued.url, "p", headers)).await;
        assert!(matches!(clicked, Decision::Confirm(ConfirmStep::Clicked { .. })), "{headers:?}: {clicked:?}");
    }
    // A click with a body larger than a form of one button, or chunked: refused.
    for body in [("content-length", "1025"), ("transfer-encoding", "chunked"), ("content-length", "x")] {
        let reason = denied(edge.decide(&browser("POST", &issued.url, "p", &[("origin", ORIGIN), body])).await);
        assert_eq!(reason, DenyReason::BodyNotAllowed, "{body:?}");
    }
    assert!(matches!(
        edge.decide(&browser("POST", &issued.url, "p", &[("origin", ORIGIN), ("content-length", "1024")])).await,
        Decision::Confirm(ConfirmStep::Clicked { .. })
    ));
    assert!(edge.ledger.is_empty());
}

#[tokio::test]
async fn other_links_keep_their_behaviour_and_bots_prefetches_and_preflights_keep_theirs() {
    let edge = Edge::new();
    let plain = issue(
        &settings(LinkMode::Sealed),
        Signer { credentials: None, keys: Some(&keys()) },
        &LinkRequest { key: "p.pdf".into(), ..Default::default() },
        SystemTime::now(),
    )
    .unwrap();
    assert!(!plain.confirm);
    assert_eq!(denied(edge.decide(&browser("POST", &plain.url, "p", &[("origin", ORIGIN)])).await), DenyReason::MethodNotAllowed);
    let presigned = Edge { config: EdgeConfig::presigned(), ledger: Arc::new(MemoryLedger::new()) };
    assert_eq!(denied(presigned.decide(&browser("POST", &plain.url, "p", &[])).await), DenyReason::MethodNotAllowed);

    let issued = confirm_link("a.pdf", None);
    let bot = ViewerRequest::from_url("GET", &issued.url, "b").with_header("user-agent", "Slackbot-LinkExpanding 1.0");
    assert_eq!(edge.decide(&bot).await, Decision::Preview);
    let prefetch = browser("GET", &issued.url, "f", &[("sec-purpose", "prefetch")]);
    assert_eq!(denied(edge.decide(&prefetch).await), DenyReason::Prefetch);
    let preflight = browser("OPTIONS", &issued.url, "o", &[("origin", "https://app.example"), ("access-control-request-method", "GET")]);
    assert!(forwarded(&edge.decide(&preflight).await), "a preflight is looked at, as for any link");
    assert!(edge.ledger.is_empty());
    // An expired confirm link is refused before any page or click.
    let later = SystemTime::now() + Duration::from_secs(3600);
    let expired = decide(
        &browser("POST", &issued.url, "x", &[("origin", ORIGIN)]),
        &EdgePolicy::default(),
        &edge.config,
        edge.ledger.as_ref(),
        later,
    )
    .await;
    assert_eq!(denied(expired), DenyReason::Expired);
}

#[tokio::test]
async fn the_steps_have_their_own_labels_and_plain_http_gateways_get_plain_cookies() {
    let edge = Edge::new();
    let issued = confirm_link("a.pdf", None);
    let page = edge.decide(&browser("GET", &issued.url, "g", &[])).await;
    assert_eq!(DecisionOutcome::of(&page), DecisionOutcome::CONFIRM_PAGE);
    let click = edge.decide(&browser("POST", &issued.url, "p", &[("origin", ORIGIN)])).await;
    assert_eq!(DecisionOutcome::of(&click), DecisionOutcome::CONFIRM_CLICK);
    let plain = EdgePolicy { viewer_https: false, ..EdgePolicy::default() };
    let on_http = |origin: &str| browser("POST", &issued.url, "p", &[("origin", origin)]);
    let decided = decide(&on_http("http://files.example.com"), &plain, &edge.config, edge.ledger.as_ref(), SystemTime::now()).await;
    assert!(matches!(decided, Decision::Confirm(ConfirmStep::Clicked { secure: false, .. })), "{decided:?}");
    let decided = decide(&on_http(ORIGIN), &plain, &edge.config, edge.ledger.as_ref(), SystemTime::now()).await;
    assert_eq!(denied(decided).code(), "confirm_cross_site");
}

#[test]
fn confirm_is_for_sealed_get_links_only() {
    let sealed = settings(LinkMode::Sealed);
    let signer = Signer { credentials: None, keys: Some(&keys()) };
    let put = LinkRequest { key: "u.bin".into(), method: Some("PUT".into()), confirm: Some(true), ..Default::default() };
    let refused = issue(&sealed, signer, &put, SystemTime::now()).unwrap_err();
    assert_eq!((refused.status(), refused.code()), (400, "confirm_not_for_uploads"));
    let credentials = aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let presigned = Signer { credentials: Some(&credentials), keys: None };
    let get = LinkRequest { key: "a.pdf".into(), confirm: Some(true), ..Default::default() };
    let refused = issue(&settings(LinkMode::Presigned), presigned, &get, SystemTime::now()).unwrap_err();
    assert_eq!(refused, IssueError::ConfirmNeedsSealed);
    assert_eq!((refused.status(), refused.code()), (400, "confirm_needs_sealed"));
    // confirm: false is the default, anywhere.
    let no = LinkRequest { confirm: Some(false), ..get };
    assert!(!issue(&settings(LinkMode::Presigned), presigned, &no, SystemTime::now()).unwrap().confirm);
}
