//! The HTTP contract of issue-url, through lambda_http's own API Gateway v2 event parsing.

use std::sync::Arc;

use aws_credential_types::Credentials;
use lambda_http::{Body, Response};
use oncelink::config::{ConfigCache, EdgeConfig, StaticConfig};
use oncelink::credentials::FixedCredentials;
use oncelink::issue::{IssueService, IssuerSettings};
use oncelink::ledger::MemoryLedger;
use oncelink::link::LinkId;
use oncelink::sealed::KeySet;
use serde_json::{Value, json};

/// The function's handler around a service on in-memory ports.
struct Issuer(IssueService<StaticConfig, Arc<MemoryLedger>, FixedCredentials>);

impl Issuer {
    async fn respond(&self, request: &lambda_http::Request) -> Response<Body> {
        issue_url::respond(&self.0, request).await
    }
}

fn settings(env: &[(&str, &str)]) -> IssuerSettings {
    IssuerSettings::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap()
}

/// A presigned-mode issuer without shared configuration (no SSM prefix: no ledger either).
fn issuer() -> Issuer {
    let settings = settings(&[
        ("ONCELINK_MODE", "presigned"),
        ("ONCELINK_BUCKET", "media"),
        ("ONCELINK_REGION", "eu-west-1"),
        ("ONCELINK_CDN_DOMAIN", "cdn.example.com"),
        ("ONCELINK_KEY_PREFIX", "shared/"),
        ("ONCELINK_MAX_EXPIRES_SECS", "3600"),
        ("ONCELINK_CORS_ORIGINS", "https://app.example.com"),
    ]);
    let credentials = FixedCredentials(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"));
    Issuer(IssueService::new(settings, None, Arc::new(MemoryLedger::new()), credentials))
}

/// A sealed-mode issuer whose configuration (key set, ledger) is known up front.
fn sealed_issuer(ledger: Arc<MemoryLedger>) -> Issuer {
    let settings =
        settings(&[("ONCELINK_BUCKET", "media"), ("ONCELINK_REGION", "eu-west-1"), ("ONCELINK_CDN_DOMAIN", "files.example.com")]);
    let config = Arc::new(ConfigCache::new(StaticConfig(EdgeConfig::sealed(KeySet::generate("k1").unwrap())), None));
    let credentials = FixedCredentials(Credentials::new("unused", "unused", None, None, "test"));
    Issuer(IssueService::new(settings, Some(config), ledger, credentials))
}

/// An API Gateway HTTP API (payload v2) event.
fn event(method: &str, path: &str, query: &str, body: Option<&str>, origin: Option<&str>) -> lambda_http::Request {
    let mut headers = json!({"content-type": "application/json"});
    if let Some(origin) = origin {
        headers["origin"] = json!(origin);
    }
    let raw = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "test"},
            "requestId": "id", "routeKey": "$default", "stage": "$default", "time": "22/Nov/2026:12:00:00 +0000", "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&raw.to_string()).expect("valid API Gateway event")
}

fn json_body(response: &Response<Body>) -> Value {
    match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("expected a text body, got {other:?}"),
    }
}

#[tokio::test]
async fn post_issues_a_cdn_link() {
    let response =
        issuer().respond(&event("POST", "/links", "", Some(r#"{"key":"shared/a.pdf","method":"GET","expires_in":600}"#), None)).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = json_body(&response);
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with("https://cdn.example.com/shared/a.pdf?x-id=GetObject&X-Amz-Algorithm=AWS4-HMAC-SHA256&"), "{url}");
    assert!(url.contains("X-Amz-Expires=600&"));
    assert_eq!(body["method"], "GET");
    assert_eq!(body["key"], "shared/a.pdf");
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn put_links_sign_the_content_type() {
    let response = issuer()
        .respond(&event("POST", "/links", "", Some(r#"{"key":"shared/up.bin","method":"PUT","content_type":"image/png"}"#), None))
        .await;
    assert_eq!(response.status(), 201);
    let url = json_body(&response)["url"].as_str().unwrap().to_owned();
    assert!(url.contains("x-id=PutObject"));
    assert!(url.contains("X-Amz-SignedHeaders=content-type%3Bhost"), "{url}");
}

#[tokio::test]
async fn get_with_redirect_is_a_302_that_is_never_cached() {
    let response = issuer().respond(&event("GET", "/links", "key=shared%2Fa.pdf&redirect=1", None, None)).await;
    assert_eq!(response.status(), 302);
    assert!(response.headers()["location"].to_str().unwrap().starts_with("https://cdn.example.com/shared/a.pdf?"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let json = issuer().respond(&event("GET", "/links", "key=shared%2Fa.pdf&method=GET&expires_in=60", None, None)).await;
    assert_eq!(json.status(), 200);
    assert!(json_body(&json)["url"].as_str().unwrap().contains("X-Amz-Expires=60&"));
}

#[tokio::test]
async fn bad_input_is_a_400_with_a_code() {
    let long_key = format!("shared/{}", "k".repeat(1100));
    let cases = [
        (r#"{"key":""}"#.to_owned(), "invalid_key"),
        (format!(r#"{{"key":"{long_key}"}}"#), "invalid_key"),
        (r#"{"key":"shared/../etc"}"#.to_owned(), "invalid_key"),
        (r#"{"key":"other/a"}"#.to_owned(), "key_outside_prefix"),
        (r#"{"key":"shared/a","method":"DELETE"}"#.to_owned(), "unknown_method"),
        (r#"{"key":"shared/a","expires_in":0}"#.to_owned(), "invalid_expires_in"),
        (r#"{"key":"shared/a","expires_in":3601}"#.to_owned(), "invalid_expires_in"),
        (r#"{"key":"shared/a","content_type":"text/plain"}"#.to_owned(), "invalid_content_type"),
        (r#"{"key":"shared/a","surprise":1}"#.to_owned(), "invalid_json"),
        ("not json".to_owned(), "invalid_json"),
    ];
    for (body, code) in cases {
        let response = issuer().respond(&event("POST", "/links", "", Some(&body), None)).await;
        assert_eq!(response.status(), 400, "{body}");
        let json = json_body(&response);
        assert_eq!(json["error"], code, "{body}");
        assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let repeated = issuer().respond(&event("GET", "/links", "key=shared%2Fa&key=shared%2Fb", None, None)).await;
    assert_eq!(repeated.status(), 400);
    let unknown_route = issuer().respond(&event("GET", "/other", "", None, None)).await;
    assert_eq!(unknown_route.status(), 404);
    let wrong_method = issuer().respond(&event("PATCH", "/links", "", None, None)).await;
    assert_eq!(wrong_method.status(), 405);
}

#[tokio::test]
async fn cors_preflight_for_allowed_origins_only() {
    let allowed = issuer().respond(&event("OPTIONS", "/links", "", None, Some("https://app.example.com"))).await;
    assert_eq!(allowed.status(), 204);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example.com");
    assert!(allowed.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let other = issuer().respond(&event("OPTIONS", "/links", "", None, Some("https://evil.example.com"))).await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let post = issuer().respond(&event("POST", "/links", "", Some(r#"{"key":"shared/a"}"#), Some("https://app.example.com"))).await;
    assert_eq!(post.headers()["access-control-allow-origin"], "https://app.example.com");
}

#[tokio::test]
async fn sealed_links_by_default_with_policies_and_revocation() {
    let ledger = Arc::new(MemoryLedger::new());
    let issuer = sealed_issuer(ledger.clone());
    let body = r#"{"key":"docs/q3 report.pdf","max_uses":3,"grace_seconds":30,"filename":"Q3 report.pdf"}"#;
    let response = issuer.respond(&event("POST", "/links", "", Some(body), None)).await;
    assert_eq!(response.status(), 201);
    let link = json_body(&response);
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with("https://files.example.com/docs/q3%20report.pdf?"), "{url}");
    let token = url.split_once('?').unwrap().1;
    assert!(!token.contains('&') && !token.contains('='), "the query is exactly one token: {token}");
    assert_eq!(link["mode"], "sealed");
    assert_eq!(link["max_uses"], 3);
    assert_eq!(link["grace_seconds"], 30);
    let link_id = link["link_id"].as_str().unwrap().to_owned();
    assert_eq!(link_id.len(), 22);

    // A presigned link cannot be asked of a sealed deployment.
    let wrong_mode = issuer.respond(&event("POST", "/links", "", Some(r#"{"key":"a","mode":"presigned"}"#), None)).await;
    assert_eq!(json_body(&wrong_mode)["error"], "unsupported_mode");

    let revoked = issuer.respond(&event("DELETE", &format!("/links/{link_id}"), "", None, None)).await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(json_body(&revoked), json!({"link_id": link_id, "revoked": true}));
    assert!(ledger.record(&oncelink::ledger::LedgerKey::for_link(&LinkId::parse(&link_id).unwrap())).unwrap().revoked);
    let bad_id = issuer.respond(&event("DELETE", "/links/not-an-id", "", None, None)).await;
    assert_eq!(bad_id.status(), 400);
}

#[tokio::test]
async fn link_state_by_id() {
    let ledger = Arc::new(MemoryLedger::new());
    let issuer = sealed_issuer(ledger.clone());
    let link = json_body(&issuer.respond(&event("POST", "/links", "", Some(r#"{"key":"a.txt"}"#), None)).await);
    let id = link["link_id"].as_str().unwrap().to_owned();
    let state = issuer.respond(&event("GET", &format!("/links/{id}"), "", None, None)).await;
    assert_eq!(state.status(), 200);
    assert_eq!(
        json_body(&state),
        json!({"link_id": id, "tag": null, "uses": 0, "max_uses": null, "in_flight": 0, "first_used_at": null, "revoked": false,
            "resumes": 0, "refusals": 0, "deliveries": [], "trail": []})
    );
    assert_eq!(issuer.respond(&event("GET", "/links/short", "", None, None)).await.status(), 400);
}
