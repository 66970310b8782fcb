//! Sealed links at the edge: the tamper matrix, rotation, policies (N uses, Range grace, preview
//! bots, HEAD), revocation — decided against an in-memory ledger whose contents we inspect.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oncelink::config::EdgeConfig;
use oncelink::decision::{Decision, EdgePolicy, decide};
use oncelink::issue::{IssuedLink, IssuerSettings, LinkRequest, Signer, issue};
use oncelink::ledger::{LedgerKey, MemoryLedger};
use oncelink::link::LinkMode;
use oncelink::presign::S3Origin;
use oncelink::sealed::{self, KeySet};
use oncelink::time::unix_secs;
use oncelink::{DenyReason, Refusal, ViewerRequest};
use oncelink_testkit::{denied, forwarded};

const HOST: &str = "files.example.com";

fn settings() -> IssuerSettings {
    IssuerSettings {
        origin: S3Origin { bucket: "b".into(), region: "eu-west-1".into(), endpoint: None },
        cdn: HOST.into(),
        default_expires: Duration::from_secs(600),
        max_expires: Duration::from_secs(3600),
        key_prefix: String::new(),
        cors_origins: vec![],
        mode: LinkMode::Sealed,
    }
}

fn keys() -> KeySet {
    KeySet::from_secrets("k1", [("k1".to_owned(), vec![1u8; 32]), ("k0".to_owned(), vec![2u8; 32])]).unwrap()
}

fn issue_with(keys: &KeySet, request: LinkRequest) -> IssuedLink {
    issue(&settings(), Signer { credentials: None, keys: Some(keys) }, &request, SystemTime::now()).unwrap()
}

fn link(request: LinkRequest) -> IssuedLink {
    issue_with(&keys(), request)
}

fn get(key: &str) -> LinkRequest {
    LinkRequest { key: key.into(), ..Default::default() }
}

/// The viewer request CloudFront would hand the edge for `url`.
fn viewer(method: &str, url: &str, id: &str) -> ViewerRequest {
    let request = ViewerRequest::from_url(method, url, id).with_header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)");
    ViewerRequest { client_ip: Some("198.51.100.7".into()), ..request }
}

struct Edge {
    config: EdgeConfig,
    ledger: Arc<MemoryLedger>,
}

impl Edge {
    fn new(keys: KeySet) -> Self {
        Self { config: EdgeConfig::sealed(keys), ledger: Arc::new(MemoryLedger::new()) }
    }

    async fn decide_at(&self, request: &ViewerRequest, at: SystemTime) -> Decision {
        decide(request, &EdgePolicy::default(), &self.config, self.ledger.as_ref(), at).await
    }

    async fn decide(&self, request: &ViewerRequest) -> Decision {
        self.decide_at(request, SystemTime::now()).await
    }
}

fn token_of(url: &str) -> &str {
    url.split_once('?').unwrap().1
}

/// Re-encodes a token with modified claims but the ORIGINAL MAC (what a tamperer can do).
fn forge(token: &str, change: impl FnOnce(&mut sealed::Claims)) -> String {
    let (mut claims, mac) = sealed::decode_unverified(token).unwrap();
    change(&mut claims);
    let mut bytes = claims.encode_payload();
    bytes.extend_from_slice(&mac);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn a_sealed_link_works_once_and_forwards_no_viewer_query() {
    let edge = Edge::new(keys());
    let issued = link(LinkRequest { filename: Some("Résumé 2026.pdf".into()), ..get("cv/resume.pdf") });
    match edge.decide(&viewer("GET", &issued.url, "r1")).await {
        Decision::Forward(forward) => assert_eq!(
            forward.querystring,
            // The header value (RFC 6266, itself percent-encoded in filename*), encoded once more
            // as a query value: S3 decodes the query once and sends the header as issued.
            "response-content-disposition=attachment%3B%20filename%3D%22R_sum_%202026.pdf%22%3B%20filename%2A%3DUTF-8%27%27R%25C3%25A9sum%25C3%25A9%25202026.pdf"
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(denied(edge.decide(&viewer("GET", &issued.url, "r2")).await), DenyReason::AlreadyUsed { .. }));
    // Without a filename nothing at all reaches the origin's query.
    let plain = link(get("a.txt"));
    assert_eq!(
        edge.decide(&viewer("GET", &plain.url, "r3")).await,
        Decision::Forward(oncelink::decision::Forward { path: "a.txt".into(), querystring: String::new() })
    );
}

#[tokio::test]
async fn tamper_matrix_is_refused_without_a_ledger_write() {
    let edge = Edge::new(keys());
    let issued = link(LinkRequest { max_uses: Some(2), grace_seconds: Some(10), ..get("docs/report.pdf") });
    let token = token_of(&issued.url).to_owned();
    let url = |path: &str, token: &str| format!("https://{HOST}{path}?{token}");
    let mut cases: Vec<(&str, ViewerRequest)> = vec![
        ("path", viewer("GET", &url("/docs/other.pdf", &token), "x")),
        ("path case", viewer("GET", &url("/docs/Report.pdf", &token), "x")),
        ("method", viewer("PUT", &issued.url, "x")),
        ("expiry", viewer("GET", &url("/docs/report.pdf", &forge(&token, |c| c.expires_at += 3600)), "x")),
        ("max uses", viewer("GET", &url("/docs/report.pdf", &forge(&token, |c| c.max_uses = 1000)), "x")),
        ("grace", viewer("GET", &url("/docs/report.pdf", &forge(&token, |c| c.grace_seconds = 86_400)), "x")),
        ("method in token", viewer("PUT", &url("/docs/report.pdf", &forge(&token, |c| c.method = oncelink::link::LinkMethod::Put)), "x")),
        ("kid", viewer("GET", &url("/docs/report.pdf", &forge(&token, |c| c.kid = "k0".into())), "x")),
        ("unknown kid", viewer("GET", &url("/docs/report.pdf", &forge(&token, |c| c.kid = "k9".into())), "x")),
        ("nonce", viewer("GET", &url("/docs/report.pdf", &forge(&token, |c| c.nonce[0] ^= 1)), "x")),
        ("filename", viewer("GET", &url("/docs/report.pdf", &forge(&token, |c| c.filename = Some("evil.html".into()))), "x")),
        ("truncated", viewer("GET", &url("/docs/report.pdf", &token[..token.len() - 5]), "x")),
        ("duplicated", viewer("GET", &url("/docs/report.pdf", &format!("{token}&{token}")), "x")),
        ("concatenated", viewer("GET", &url("/docs/report.pdf", &format!("{token}{token}")), "x")),
        ("empty", viewer("GET", &url("/docs/report.pdf", ""), "x")),
        ("extra parameter", viewer("GET", &format!("{}&response-content-type=text%2Fhtml", issued.url), "x")),
        ("named", viewer("GET", &url("/docs/report.pdf", &format!("t={token}")), "x")),
    ];
    // The MAC itself, one character at a time at three places.
    for i in [token.len() - 1, token.len() - 20, 3] {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        cases.push(("byte flip", viewer("GET", &url("/docs/report.pdf", &String::from_utf8(bytes).unwrap()), "x")));
    }
    let mut host = viewer("GET", &issued.url, "x");
    host.headers[0].1 = "d111.cloudfront.net".into();
    cases.push(("host", host));
    for (what, request) in &cases {
        let decision = edge.decide(request).await;
        let denied = denied(decision);
        assert!(matches!(denied.status(), 403 | 405), "{what}: {denied:?}");
    }
    assert!(edge.ledger.is_empty(), "no tampered request may write to the ledger");
    // The untouched link still works.
    assert!(forwarded(&edge.decide(&viewer("GET", &issued.url, "ok")).await));
}

#[tokio::test]
async fn expired_links_are_refused_before_the_ledger() {
    let edge = Edge::new(keys());
    let issued = link(LinkRequest { expires_in: Some(1), ..get("k") });
    assert_eq!(
        denied(edge.decide_at(&viewer("GET", &issued.url, "r"), SystemTime::now() + Duration::from_secs(2)).await),
        DenyReason::Expired
    );
    assert!(edge.ledger.is_empty());
}

#[tokio::test]
async fn rotation_keeps_live_links_until_their_kid_is_removed() {
    let mut keys = KeySet::generate("2026-01").unwrap();
    let old = issue_with(&keys, get("k"));
    keys.rotate("2026-02").unwrap();
    let new = issue_with(&keys, get("k2"));
    assert!(sealed::decode_unverified(token_of(&new.url)).unwrap().0.kid == "2026-02");
    let edge = Edge::new(keys.clone());
    assert!(forwarded(&edge.decide(&viewer("GET", &old.url, "r1")).await), "old kid still listed");
    assert!(forwarded(&edge.decide(&viewer("GET", &new.url, "r2")).await));

    let unused_old = {
        let mut before = KeySet::generate("2026-01").unwrap();
        let link = issue_with(&before, get("k3"));
        before.rotate("2026-02").unwrap();
        before.remove("2026-01").unwrap();
        (link, before)
    };
    let edge = Edge::new(unused_old.1);
    assert_eq!(denied(edge.decide(&viewer("GET", &unused_old.0.url, "r3")).await), DenyReason::UnknownKey);
    assert!(keys.remove(keys.active_kid().to_owned().as_str()).is_err(), "the active key cannot be removed");
}

#[tokio::test]
async fn n_use_links_allow_exactly_n() {
    let edge = Edge::new(keys());
    let issued = link(LinkRequest { max_uses: Some(3), ..get("k") });
    for i in 0..3 {
        assert!(forwarded(&edge.decide(&viewer("GET", &issued.url, &format!("r{i}"))).await));
    }
    assert!(matches!(denied(edge.decide(&viewer("GET", &issued.url, "r3")).await), DenyReason::AlreadyUsed { .. }));
}

#[tokio::test]
async fn range_grace_only_for_the_same_client_inside_the_window() {
    let edge = Edge::new(keys());
    let issued = link(LinkRequest { grace_seconds: Some(30), ..get("video.mp4") });
    let t0 = SystemTime::now();
    assert!(forwarded(&edge.decide_at(&viewer("GET", &issued.url, "first"), t0).await));
    let mut resume = viewer("GET", &issued.url, "resume");
    resume.headers.push(("range".into(), "bytes=1000-".into()));
    assert!(forwarded(&edge.decide_at(&resume, t0 + Duration::from_secs(10)).await), "same client, Range, inside the window");
    let key = LedgerKey::for_link(&issued.link_id);
    assert_eq!(edge.ledger.record(&key).unwrap().uses, 1, "the resume did not consume");

    let mut other_client = resume.clone();
    other_client.client_ip = Some("203.0.113.66".into());
    assert!(matches!(denied(edge.decide_at(&other_client, t0 + Duration::from_secs(10)).await), DenyReason::AlreadyUsed { .. }));
    let mut other_agent = resume.clone();
    other_agent.headers[1].1 = "curl/8".into();
    assert!(matches!(denied(edge.decide_at(&other_agent, t0 + Duration::from_secs(10)).await), DenyReason::AlreadyUsed { .. }));
    assert!(
        matches!(denied(edge.decide_at(&resume, t0 + Duration::from_secs(31)).await), DenyReason::AlreadyUsed { .. }),
        "outside the window"
    );
    assert!(matches!(
        denied(edge.decide_at(&viewer("GET", &issued.url, "no-range"), t0 + Duration::from_secs(5)).await),
        DenyReason::AlreadyUsed { .. }
    ));

    // Links without grace never resume.
    let strict = link(get("strict.mp4"));
    assert!(forwarded(&edge.decide(&viewer("GET", &strict.url, "s1")).await));
    let mut strict_resume = viewer("GET", &strict.url, "s2");
    strict_resume.headers.push(("range".into(), "bytes=10-".into()));
    assert!(matches!(denied(edge.decide(&strict_resume).await), DenyReason::AlreadyUsed { .. }));
}

#[tokio::test]
async fn preview_bots_and_head_leave_the_ledger_untouched() {
    let edge = Edge::new(keys());
    let issued = link(get("k"));
    for agent in [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "facebookexternalhit/1.1",
        "Mozilla/5.0 (compatible; Discordbot/2.0)",
        "WhatsApp/2.23",
    ] {
        let mut bot = viewer("GET", &issued.url, agent);
        bot.headers[1].1 = agent.into();
        assert_eq!(edge.decide(&bot).await, Decision::Preview, "{agent}");
    }
    assert!(forwarded(&edge.decide(&viewer("HEAD", &issued.url, "head")).await));
    assert!(forwarded(&edge.decide(&viewer("OPTIONS", &issued.url, "opt")).await));
    assert!(edge.ledger.is_empty());
    assert!(forwarded(&edge.decide(&viewer("GET", &issued.url, "person")).await));
}

#[tokio::test]
async fn revoked_links_are_refused() {
    let edge = Edge::new(keys());
    let issued = link(get("k"));
    oncelink::issue::links::revoke(&settings(), edge.ledger.as_ref(), &issued.link_id, SystemTime::now(), "test").await.unwrap();
    assert_eq!(denied(edge.decide(&viewer("GET", &issued.url, "r")).await), DenyReason::Revoked);
}

#[tokio::test]
async fn put_links_require_their_content_type() {
    let edge = Edge::new(keys());
    let issued = link(LinkRequest { method: Some("PUT".into()), content_type: Some("image/png".into()), ..get("up/a.png") });
    let mut wrong = viewer("PUT", &issued.url, "r1");
    wrong.headers.push(("content-type".into(), "text/html".into()));
    assert_eq!(denied(edge.decide(&wrong).await), DenyReason::WrongContentType);
    let mut right = viewer("PUT", &issued.url, "r2");
    right.headers.push(("content-type".into(), "image/png".into()));
    assert!(forwarded(&edge.decide(&right).await));
    assert_eq!(denied(edge.decide(&viewer("GET", &issued.url, "r3")).await), DenyReason::WrongMethod);
}

#[test]
fn the_expiry_is_in_the_token_and_the_response() {
    let before = unix_secs(SystemTime::now());
    let issued = link(LinkRequest { expires_in: Some(120), ..get("k") });
    let (claims, _) = sealed::decode_unverified(token_of(&issued.url)).unwrap();
    assert!((before + 120..=before + 121).contains(&claims.expires_at));
    assert_eq!(issued.expires_at, oncelink::time::rfc3339(oncelink::time::from_unix_secs(claims.expires_at)));
}
