//! The Lambda@Edge event contract: parsing, pass-through of unknown fields, generated responses.

use std::time::SystemTime;

use oncelink::DenyReason;
use oncelink::Refusal;
use oncelink::cloudfront::{Answer, MAX_GENERATED_RESPONSE_BYTES, deny_response, parse_event};
use serde_json::{Value, json};

/// The example event from the Lambda@Edge documentation (shared/notes/cloudfront-events.md),
/// plus fields we never read.
fn documented_event() -> Value {
    json!({"Records": [{"cf": {
        "config": {"distributionDomainName": "d111111abcdef8.cloudfront.net", "distributionId": "EDFDVBD6EXAMPLE",
                   "eventType": "viewer-request", "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="},
        "request": {
            "clientIp": "203.0.113.178",
            "headers": {
                "host": [{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}],
                "user-agent": [{"key": "User-Agent", "value": "curl/8.5.0"}],
                "range": [{"value": "bytes=0-1023"}]
            },
            "method": "GET",
            "querystring": "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "uri": "/reports/2026/file-0001.pdf",
            "body": {"inputTruncated": false, "action": "read-only", "encoding": "base64", "data": ""}
        }
    }}]})
}

#[test]
fn parses_the_documented_event() {
    let (config, request) = parse_event(documented_event()).unwrap();
    assert_eq!(config.request_id, "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==");
    let viewer = request.to_viewer_request(&config.request_id);
    assert_eq!(viewer.method, "GET");
    assert_eq!(viewer.uri, "/reports/2026/file-0001.pdf");
    assert_eq!(viewer.header("range"), Some("bytes=0-1023"));
    assert_eq!(viewer.header("user-agent"), Some("curl/8.5.0"));
    assert_eq!(viewer.client_ip.as_deref(), Some("203.0.113.178"));
}

#[test]
fn a_forwarded_request_goes_back_unchanged_including_unknown_fields() {
    let original = documented_event()["Records"][0]["cf"]["request"].clone();
    let (_, request) = parse_event(documented_event()).unwrap();
    assert_eq!(serde_json::to_value(Answer::Continue(request)).unwrap(), original);
}

#[test]
fn generated_responses_follow_the_contract() {
    let first = oncelink::time::parse_amz_date("20261122T174231Z").unwrap();
    let response = deny_response(&DenyReason::AlreadyUsed { first_used_at: first });
    let value = serde_json::to_value(Answer::Respond(response)).unwrap();
    assert_eq!(value["status"], "403");
    assert_eq!(value["statusDescription"], "Forbidden");
    assert_eq!(value["bodyEncoding"], "text");
    assert_eq!(value["headers"]["cache-control"], json!([{"key": "Cache-Control", "value": "no-store"}]));
    assert_eq!(value["headers"]["content-type"], json!([{"key": "Content-Type", "value": "application/json"}]));
    let body: Value = serde_json::from_str(value["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"error": "link_already_used", "message": "the link has already been used", "first_used_at": "2026-11-22T17:42:31Z"})
    );
}

#[test]
fn every_generated_response_is_small_even_for_hostile_input() {
    let huge = "x".repeat(100_000);
    let reasons = [
        DenyReason::MalformedEvent(huge.clone()),
        DenyReason::MalformedLink(huge.clone()),
        DenyReason::BadPath(huge),
        DenyReason::AlreadyUsed { first_used_at: SystemTime::now() },
        DenyReason::LedgerUnavailable,
    ];
    for reason in reasons {
        let size = serde_json::to_string(&deny_response(&reason)).unwrap().len();
        assert!(size < MAX_GENERATED_RESPONSE_BYTES, "{} bytes for {}", size, reason.code());
    }
}

#[test]
fn malformed_events_are_errors() {
    for event in [
        json!({}),
        json!({"Records": []}),
        json!({"Records": [1, 2]}),
        json!({"Records": [{"cf": {"config": {}, "request": {}}}]}),
        json!([]),
    ] {
        assert!(parse_event(event.clone()).is_err(), "{event}");
    }
}
