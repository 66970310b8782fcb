//! One request through the gateway: its context, where it goes, and the access line it leaves.
//!
//! ```text
//! GET|HEAD|PUT|OPTIONS /<key>?<link>  → proxy (the link's phases)
//! /_oncelink/links[/{id}]             → api (bearer token or session cookie; the core's issue API)
//! POST|GET /_oncelink/login, POST …/logout → api (the web page's session cookie)
//! GET /_oncelink/                     → the web page;  / and /_oncelink → 302 there
//! GET /_oncelink/healthz | metrics    → health; Prometheus text
//! ```
//!
//! Whatever the route, the request gets an id (sent back as `x-oncelink-request-id`), its
//! metrics, and one JSON access line once it is answered — the logging phase.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use oncelink::Refusal;
use oncelink::http_head::RawHead;
use oncelink::issue::IssueError;
use oncelink::metrics::DecisionOutcome;

use crate::answer;
use crate::api::Api;
use crate::datadir::random_token;
use crate::head_guard::{HeadFacts, MAX_HEAD_BYTES};
use crate::metrics::Metrics;
use crate::origin::Body;
use crate::proxy::Proxy;

const PAGE: &str = include_str!("../web/index.html");
const PAGE_CSP: &str = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' *; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What is known about one request: set when it arrives, filled in by the phases it goes
/// through, written out by the access line.
#[derive(Debug)]
pub struct RequestCtx {
    pub request_id: String,
    pub client_ip: IpAddr,
    pub started: Instant,
    /// `link`, `api`, `session`, `page`, `health`, `metrics` or `other`.
    pub route: &'static str,
    /// A link request's decision (or head refusal), as labels.
    pub decision: Option<DecisionOutcome>,
    /// The origin's status, when it answered.
    pub upstream_status: Option<u16>,
    /// What failed after the decision (`origin_timeout`, …).
    pub failure: Option<&'static str>,
    /// What became of a granted use once the origin answered (`kept`, `given_back`, …).
    pub settled: Option<&'static str>,
}

pub struct App {
    pub proxy: Proxy,
    pub api: Api,
    pub metrics: Arc<Metrics>,
    pub trust_forwarded_for: bool,
}

impl App {
    /// Answers one request; never fails (every problem is an answer). `head` is what the
    /// connection's bytes said about this request's head (`head_guard`).
    pub async fn handle(self: Arc<Self>, request: Request<Incoming>, peer: SocketAddr, head: HeadFacts) -> Response<Body> {
        let mut ctx = RequestCtx {
            request_id: random_token(12).unwrap_or_else(|_| "-".into()),
            client_ip: oncelink::http_head::client_ip(request.headers(), peer.ip(), self.trust_forwarded_for),
            started: Instant::now(),
            route: "other",
            decision: None,
            upstream_status: None,
            failure: None,
            settled: None,
        };
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let raw = RawHead { fragment: head.fragment, bytes: head.bytes };
        let mut response = match oncelink::http_head::check_head(request.uri(), request.headers(), raw, MAX_HEAD_BYTES) {
            Ok(()) => self.route(request, &mut ctx).await,
            Err(refusal) => {
                ctx.decision = Some(DecisionOutcome::deny(refusal.code()));
                answer::refusal(&refusal)
            }
        };
        if let Ok(id) = HeaderValue::from_str(&ctx.request_id) {
            response.headers_mut().insert(HeaderName::from_static("x-oncelink-request-id"), id);
        }
        self.log(&ctx, &method, &path, response.status());
        response
    }

    async fn route(&self, request: Request<Incoming>, ctx: &mut RequestCtx) -> Response<Body> {
        let path = request.uri().path();
        if path == "/" || path == "/_oncelink" {
            ctx.route = "page";
            return answer::redirect("/_oncelink/");
        }
        let Some(own) = path.strip_prefix("/_oncelink/") else {
            ctx.route = "link";
            return self.proxy.serve(request, ctx).await;
        };
        match (request.method(), own) {
            (&Method::GET | &Method::HEAD, "") => {
                ctx.route = "page";
                let mut page = answer::full(StatusCode::OK, "text/html; charset=utf-8", PAGE);
                let headers = page.headers_mut();
                headers.insert("content-security-policy", HeaderValue::from_static(PAGE_CSP));
                headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
                headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
                page
            }
            (&Method::GET | &Method::HEAD, "healthz") => {
                ctx.route = "health";
                answer::full(StatusCode::OK, "application/json", r#"{"status":"ok"}"#)
            }
            (&Method::GET, "metrics") => {
                ctx.route = "metrics";
                answer::full(StatusCode::OK, "text/plain; version=0.0.4", self.metrics.render())
            }
            (&Method::POST | &Method::GET, "login") | (&Method::POST, "logout") => {
                ctx.route = "session";
                let path = format!("/{own}");
                self.api.serve(request, &path, ctx).await
            }
            (_, own) if own == "links" || own.starts_with("links/") => {
                ctx.route = "api";
                let path = format!("/{own}");
                self.api.serve(request, &path, ctx).await
            }
            _ => answer::refusal(&IssueError::NotFound),
        }
    }

    /// Phase 5, logging: one JSON line per request. No query string (it holds the link's token
    /// or signature), no header value, no body.
    fn log(&self, ctx: &RequestCtx, method: &Method, path: &str, status: StatusCode) {
        let status = status.as_u16();
        self.metrics.request(ctx.route, status);
        tracing::info!(
            target: "access",
            method = %method,
            path = %oncelink::error::clip(path),
            status,
            route = ctx.route,
            decision = ctx.decision.map(|d| d.decision),
            reason = ctx.decision.map(|d| d.reason),
            upstream_status = ctx.upstream_status,
            failure = ctx.failure,
            settled = ctx.settled,
            client_ip = %ctx.client_ip,
            request_id = %ctx.request_id,
            ms = ctx.started.elapsed().as_millis() as u64,
        );
    }
}
