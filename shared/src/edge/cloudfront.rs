//! One Lambda@Edge viewer-request event through the [`EdgeService`]: parse the event, decide,
//! answer with the request (continue) or a generated response. Never fails: every problem
//! becomes a response.
//!
//! ```text
//! viewer-request  ─► parse ─► EdgeService::decide ─► Continue(request without the token and the confirm proof, + x-oncelink-link)
//!                                                   | Respond(deny / preview / confirm page / the click's 303)
//!                      └─ 400 malformed_request (logged and counted like a denial) ─────────────────────► Respond
//! origin-response ─► the origin refused (≥ 300)? ─► give the use back (keyed on the CloudFront request id) ─► the origin's response
//! ```
//!
//! The viewer-request side names the link in the request it lets through
//! ([`LINK_HEADER`], after removing any the viewer sent), because in sealed mode the token is
//! stripped before the origin and the origin-response trigger must still know which link's use
//! to give back. A use is given back at most once per request: the ledger keys it on the
//! request id, so a retried trigger changes nothing.

use std::time::SystemTime;

use serde_json::Value;

use super::{EdgeService, Measured, Settled, log_refusal};
use crate::cloudfront::{self, Answer, HeaderValue};
use crate::config::ConfigSource;
use crate::decision::{Decision, DenyReason, Ticket, TicketKind, delivers_content};
use crate::ledger::{LedgerFor, LedgerKey};
use crate::link::LinkId;

/// The request header that carries the link id from the viewer-request trigger to the
/// origin-response trigger (never a secret: a link id cannot be used to fetch anything).
pub const LINK_HEADER: &str = "x-oncelink-link";

/// One handled event: the answer for CloudFront, and what to count about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    pub answer: Answer,
    /// CloudFront's `config.requestId` (`-` when the event had none): the EMF line's
    /// `request_id`, joinable with the log line and CloudFront's access log.
    pub request_id: String,
    pub measured: Measured,
}

impl<C, L> EdgeService<C, L>
where
    C: ConfigSource,
    L: LedgerFor<C::Config>,
{
    /// Handles one raw Lambda@Edge viewer-request event.
    pub async fn handle_event(&self, event: Value, now: SystemTime) -> Handled {
        // Read before parsing, so that even an unreadable event's line names its request.
        let request_id = event.pointer("/Records/0/cf/config/requestId").and_then(Value::as_str).unwrap_or("-").to_owned();
        let (config, mut request) = match cloudfront::parse_event(event) {
            Ok(parsed) => parsed,
            Err(why) => {
                let reason = DenyReason::MalformedEvent(why);
                let measured = log_refusal(&request_id, "-", "-", &reason);
                return Handled { answer: Answer::Respond(cloudfront::deny_response(&reason)), request_id, measured };
            }
        };
        let viewer = request.to_viewer_request(&config.request_id);
        let decided = self.decide(&viewer, now).await;
        let answer = match decided.decision {
            Decision::Forward(forward) => {
                request.querystring = forward.querystring;
                request.strip_confirm_proofs();
                request.headers.remove(LINK_HEADER);
                if let Some(ticket) = decided.ticket.as_ref().filter(|t| matches!(t.kind, TicketKind::Use { .. })) {
                    let value = HeaderValue { key: Some("X-Oncelink-Link".into()), value: ticket.link_id.to_string() };
                    request.headers.insert(LINK_HEADER.into(), vec![value]);
                }
                Answer::Continue(request)
            }
            Decision::Preview => Answer::Respond(cloudfront::preview_response()),
            Decision::Confirm(step) => Answer::Respond(cloudfront::generated_response(&crate::confirm::answer(&step))),
            Decision::Deny(reason) => Answer::Respond(cloudfront::deny_response(&reason)),
        };
        Handled { answer, request_id, measured: decided.measured }
    }
}

impl<C, L> EdgeService<C, L>
where
    C: ConfigSource,
    L: LedgerFor<C::Config>,
{
    /// Handles one raw Lambda@Edge origin-response event: when the origin refused a request
    /// that spent a use, the use is given back. Answers with the `response` object for
    /// CloudFront, always the origin's own (a failure to give back is logged, never breaks the
    /// response), and whether a use was given back (for the metrics).
    pub async fn handle_origin_response(&self, event: Value) -> (Value, Settled) {
        let cf = event.pointer("/Records/0/cf").cloned().unwrap_or(Value::Null);
        let response = cf.get("response").cloned().unwrap_or(Value::Null);
        let request_id = cf.pointer("/config/requestId").and_then(Value::as_str).unwrap_or("");
        let method = cf.pointer("/request/method").and_then(Value::as_str).unwrap_or("");
        let status = response.get("status").and_then(Value::as_str).and_then(|s| s.parse::<u16>().ok());
        let link = cf.pointer(&format!("/request/headers/{LINK_HEADER}/0/value")).and_then(Value::as_str).and_then(LinkId::parse);
        let (Some(status), Some(link_id)) = (status, link) else { return (response, Settled::Nothing) };
        if request_id.is_empty() || delivers_content(method, status) {
            return (response, Settled::Nothing);
        }
        let ticket = Ticket {
            key: LedgerKey::for_link(&link_id),
            link_id,
            request_id: request_id.to_owned(),
            fingerprint: None,
            kind: TicketKind::Use { held: false },
        };
        let settled = self.settle(&ticket, method, Some(status)).await.unwrap_or(Settled::Nothing);
        (response, settled)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::config::{ConfigCache, EdgeConfig, StaticConfig};
    use crate::decision::EdgePolicy;
    use crate::error::Refusal;
    use crate::ledger::MemoryLedger;
    use crate::metrics::DecisionOutcome;

    fn service() -> EdgeService<StaticConfig, Arc<MemoryLedger>> {
        let config = Arc::new(ConfigCache::new(StaticConfig(EdgeConfig::presigned()), None));
        EdgeService::new(EdgePolicy::default(), config, Arc::new(MemoryLedger::new()))
    }

    fn event(request_id: &str, querystring: &str) -> Value {
        json!({"Records": [{"cf": {
            "config": {"requestId": request_id},
            "request": {"clientIp": "203.0.113.1", "headers": {}, "method": "GET", "querystring": querystring, "uri": "/a.txt"}
        }}]})
    }

    #[tokio::test]
    async fn a_handled_event_carries_its_cloudfront_request_id_and_outcome() {
        let handled = service().handle_event(event("cf-7", ""), SystemTime::now()).await;
        assert!(matches!(handled.answer, Answer::Respond(_)));
        assert_eq!(handled.request_id, "cf-7");
        assert_eq!(handled.measured.outcome, DecisionOutcome::deny(DenyReason::MissingSignature.code()));
        let names: Vec<&str> = handled.measured.samples().iter().map(|s| s.metric.cloudwatch).collect();
        assert_eq!(names, ["Decisions", "DecisionLatency"]);
    }

    #[tokio::test]
    async fn an_unreadable_event_still_names_its_request_when_it_can_and_has_no_latency() {
        let mut broken = event("cf-8", "");
        broken["Records"][0]["cf"]["request"]["method"] = json!(42);
        let handled = service().handle_event(broken, SystemTime::now()).await;
        assert_eq!((handled.request_id.as_str(), handled.measured.outcome.reason), ("cf-8", "malformed_request"));
        assert_eq!(handled.measured.elapsed, None, "no decision ran");
        let handled = service().handle_event(json!({"hello": "world"}), SystemTime::now()).await;
        assert_eq!(handled.request_id, "-");
    }

    /// A confirm link through the CloudFront shell: the page and the click's 303 are generated
    /// responses; the proof's follow-up continues to the origin without the proof cookie.
    #[tokio::test]
    async fn a_confirm_link_is_a_generated_page_then_a_303_then_the_origin_without_the_proof() {
        use crate::issue::{IssuerSettings, LinkRequest, Signer, issue};
        use crate::link::LinkMode;
        use crate::presign::S3Origin;
        use crate::sealed::KeySet;
        let keys = KeySet::from_secrets("k1", [("k1".to_owned(), vec![4u8; 32])]).unwrap();
        let config = Arc::new(ConfigCache::new(StaticConfig(EdgeConfig::sealed(keys.clone())), None));
        let ledger = Arc::new(MemoryLedger::new());
        let service = EdgeService::new(EdgePolicy::default(), config, ledger.clone());
        let settings = IssuerSettings {
            origin: S3Origin { bucket: "b".into(), region: "eu-west-1".into(), endpoint: None },
            cdn: "d111.cloudfront.net".into(),
            default_expires: std::time::Duration::from_secs(600),
            max_expires: std::time::Duration::from_secs(600),
            key_prefix: String::new(),
            cors_origins: vec![],
            mode: LinkMode::Sealed,
        };
        let request = LinkRequest {
            key: "q3 <report>.pdf".into(),
            confirm: Some(true),
            filename: Some("Q3 <final>.pdf".into()),
            ..Default::default()
        };
        let now = SystemTime::now();
        let issued = issue(&settings, Signer { credentials: None, keys: Some(&keys) }, &request, now).unwrap();
        let (uri, token) = issued.url.strip_prefix("https://d111.cloudfront.net").unwrap().split_once('?').unwrap();
        let event = |method: &str, headers: Value| {
            let mut all = json!({"host": [{"key": "Host", "value": "d111.cloudfront.net"}], "user-agent": [{"key": "User-Agent", "value": "Mozilla/5.0"}]});
            all.as_object_mut().unwrap().extend(headers.as_object().unwrap().clone());
            json!({"Records": [{"cf": {
                "config": {"requestId": format!("cf-{method}"), "eventType": "viewer-request"},
                "request": {"clientIp": "203.0.113.1", "headers": all, "method": method, "querystring": token, "uri": uri}
            }}]})
        };
        let respond = |answer: Answer| match answer {
            Answer::Respond(response) => response,
            Answer::Continue(_) => panic!("expected a generated response"),
        };
        let one = |response: &cloudfront::Response, name: &str| {
            response.headers.get(name).map(|v| (v[0].key.clone().unwrap(), v[0].value.clone()))
        };

        let page = respond(service.handle_event(event("GET", json!({})), now).await.answer);
        assert_eq!((page.status.as_str(), page.status_description.as_str(), page.body_encoding.as_str()), ("200", "OK", "text"));
        assert_eq!(one(&page, "content-type"), Some(("Content-Type".into(), "text/html; charset=utf-8".into())));
        assert_eq!(one(&page, "content-security-policy").unwrap().1, crate::confirm::page::PAGE_CSP);
        assert_eq!(one(&page, "cache-control").unwrap().1, "no-store, private");
        assert!(page.body.contains(&format!(r#"action="{uri}?{token}""#)) && page.body.contains("Q3 &lt;final&gt;.pdf"));
        let size = serde_json::to_string(&page).unwrap().len();
        assert!(size < cloudfront::MAX_GENERATED_RESPONSE_BYTES, "{size} bytes");

        let clicked = respond(
            service
                .handle_event(event("POST", json!({"origin": [{"key": "Origin", "value": "https://d111.cloudfront.net"}]})), now)
                .await
                .answer,
        );
        assert_eq!((clicked.status.as_str(), clicked.status_description.as_str()), ("303", "See Other"));
        assert_eq!(one(&clicked, "location").unwrap().1, format!("{uri}?{token}"));
        let (key, cookie) = one(&clicked, "set-cookie").unwrap();
        assert_eq!(key, "Set-Cookie");
        assert!(
            cookie.starts_with("oncelink_confirm=")
                && cookie.ends_with(&format!("; Path={uri}; Max-Age=120; HttpOnly; SameSite=Lax; Secure")),
            "{cookie}"
        );
        assert!(ledger.is_empty(), "neither the page nor the click spent anything");

        let proof = cookie.split(';').next().unwrap().to_owned();
        let follow_up = event(
            "GET",
            json!({
                "cookie": [{"key": "Cookie", "value": format!("a=1; {proof}")}, {"key": "Cookie", "value": proof.clone()}],
                "sec-fetch-site": [{"key": "Sec-Fetch-Site", "value": "same-origin"}]
            }),
        );
        let Answer::Continue(forwarded) = service.handle_event(follow_up, now).await.answer else { panic!("the follow-up continues") };
        assert_eq!(forwarded.headers.get("cookie").unwrap(), &vec![HeaderValue { key: Some("Cookie".into()), value: "a=1".into() }]);
        assert_eq!(forwarded.headers.get(LINK_HEADER).unwrap()[0].value, issued.link_id.to_string());
        assert!(!serde_json::to_string(&forwarded).unwrap().contains("oncelink_confirm"), "the proof never reaches the origin");
        assert_eq!(ledger.len(), 1);
        // Cross-site click: a JSON refusal.
        let refused =
            respond(service.handle_event(event("POST", json!({"origin": [{"value": "https://evil.example"}]})), now).await.answer);
        assert_eq!((refused.status.as_str(), refused.body.contains("confirm_cross_site")), ("403", true));
    }

    /// The viewer-request side names the link; an origin refusal gives the use back once.
    #[tokio::test]
    async fn an_origin_refusal_gives_the_use_back_once_keyed_on_the_request_id() {
        use crate::link::LinkMethod;
        use crate::presign::{PresignRequest, S3Origin, presign};
        let service = service();
        let origin = S3Origin { bucket: "b".into(), region: "eu-west-1".into(), endpoint: None };
        let credentials = aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let now = SystemTime::now();
        let request = PresignRequest {
            method: LinkMethod::Get,
            key: "a.txt",
            expires_in: std::time::Duration::from_secs(600),
            content_type: None,
            extra_query: &[],
        };
        let signed = presign(&origin, &credentials, &request, now).unwrap();
        let query = signed.path_and_query.split_once('?').unwrap().1.to_owned();
        let mut viewer = event("cf-1", &query);
        viewer["Records"][0]["cf"]["request"]["headers"] = json!({"x-oncelink-link": [{"value": "forged-by-the-viewer"}]});
        let Answer::Continue(forwarded) = service.handle_event(viewer, now).await.answer else { panic!("a fresh link continues") };
        let link = forwarded.headers.get(LINK_HEADER).expect("the link is named")[0].value.clone();
        assert_eq!(link, LinkId::for_signature(signed.signature.as_str()).to_string(), "the viewer's own header is replaced");

        let origin_response = |request_id: &str, status: &str| {
            json!({"Records": [{"cf": {
                "config": {"requestId": request_id, "eventType": "origin-response"},
                "request": {"method": "GET", "uri": "/a.txt", "querystring": query, "headers": {"x-oncelink-link": [{"key": "X-Oncelink-Link", "value": link}]}},
                "response": {"status": status, "statusDescription": "x", "headers": {}}
            }}]})
        };
        // Content: nothing to give back; the response comes back as it was.
        let (response, settled) = service.handle_origin_response(origin_response("cf-1", "200")).await;
        assert_eq!((response["status"].as_str(), settled), (Some("200"), Settled::Nothing));
        // A refusal gives the use back; the same trigger again (a retry) does not give back twice.
        assert_eq!(service.handle_origin_response(origin_response("cf-1", "404")).await.1, Settled::GivenBack);
        assert_eq!(service.handle_origin_response(origin_response("cf-1", "404")).await.1, Settled::Nothing);
        // Another request id never held this link's use.
        assert_eq!(service.handle_origin_response(origin_response("cf-9", "503")).await.1, Settled::Nothing);
        // The link works again, once.
        let again = service.handle_event(event("cf-2", &query), now).await;
        assert!(matches!(again.answer, Answer::Continue(_)));
        assert!(matches!(service.handle_event(event("cf-3", &query), now).await.answer, Answer::Respond(_)));
    }
}
