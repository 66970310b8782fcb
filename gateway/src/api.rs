//! The issue API's HTTP side in the gateway: who is calling (the bearer token, or the web page's
//! session cookie), the body's size and time limits, then the core's [`IssueService`] — which
//! routes, validates, signs and answers. Also the page's login and logout, which make and
//! delete that cookie ([`crate::session`] has its rules).
//!
//! ```text
//! /links[/{id}]   Authorization: Bearer <token>           → the core     (CLI, scripts)
//!                 Cookie: oncelink_session=… + own Origin  → the core     (the web page)
//! POST /login     token=… | {"token": …}                   → 200 + Set-Cookie, or 401
//! GET  /login     Cookie                                   → 200 {"logged_in", "expires_at"} or 401
//! POST /logout                                             → 200 + Set-Cookie that deletes it
//! ```
//!
//! CORS preflights carry no credentials, so `OPTIONS` reaches the core without a token.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use oncelink::credentials::CredentialSource;
use oncelink::issue::{ApiRequest, ApiResponse, IssueError, IssueService, MAX_BODY_BYTES};
use oncelink::ledger::Ledger;
use oncelink::time::rfc3339;
use std::sync::Arc;

use crate::answer;
use crate::app::RequestCtx;
use crate::keys::GatewayConfig;
use crate::metrics::Metrics;
use crate::origin::Body;
use crate::session;

/// Time to read an API body.
const API_BODY_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Api {
    pub service: IssueService<GatewayConfig, Arc<dyn Ledger>, Arc<dyn CredentialSource>>,
    pub token: String,
    pub metrics: Arc<Metrics>,
}

/// Constant-time comparison of a given token with the API token.
fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads a body within the API's size and time limits.
async fn read_body(body: Incoming) -> Result<Bytes, IssueError> {
    match tokio::time::timeout(API_BODY_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await {
        Err(_) => Err(IssueError::BodyTimeout),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(IssueError::BodyTooLarge),
        Ok(Err(_)) => Err(IssueError::UnreadableBody),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

impl Api {
    /// `path` is relative to `/_oncelink` (e.g. `/links`, `/login`).
    pub async fn serve(&self, request: Request<Incoming>, path: &str, ctx: &RequestCtx) -> Response<Body> {
        let started = Instant::now();
        let now = SystemTime::now();
        let answer = match path {
            "/login" | "/logout" => self.session_answer(request, path, now).await,
            _ => self.links_answer(request, path, ctx, now).await,
        };
        let answer = answer.unwrap_or_else(|refusal| ApiResponse::error(&refusal));
        self.metrics.record(&answer.outcome.samples(started.elapsed()));
        answer::api(answer)
    }

    /// The gateway's own origin (`scheme://host[:port]` of its public URL): the only `Origin` a
    /// session request may carry.
    fn own_origin(&self) -> String {
        self.service.settings().cdn_origin()
    }

    async fn links_answer(
        &self,
        request: Request<Incoming>,
        path: &str,
        ctx: &RequestCtx,
        now: SystemTime,
    ) -> Result<ApiResponse, IssueError> {
        let (parts, body) = request.into_parts();
        if parts.method != Method::OPTIONS {
            self.authorize(&parts, now)?;
        }
        let body = read_body(body).await?;
        let request = ApiRequest {
            method: parts.method.as_str(),
            path,
            query: parts.uri.query().unwrap_or(""),
            origin: parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
            body: &body,
            request_id: &ctx.request_id,
        };
        Ok(self.service.handle(&request, now).await)
    }

    /// A caller of `/links` shows the bearer token (CLI, scripts) or, without an `Authorization`
    /// header, the page's session cookie from the page's own origin.
    fn authorize(&self, parts: &Parts, now: SystemTime) -> Result<(), IssueError> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let given = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
            return if given.is_some_and(|t| token_matches(t.trim(), &self.token)) { Ok(()) } else { Err(IssueError::Unauthorized) };
        }
        self.session(parts, now).map(|_| ())
    }

    /// The session the request's cookie opens, when the request comes from the own page; returns
    /// when it ends.
    fn session(&self, parts: &Parts, now: SystemTime) -> Result<SystemTime, IssueError> {
        let mut values = session::cookie_values(&parts.headers).peekable();
        if values.peek().is_none() {
            return Err(IssueError::Unauthorized);
        }
        if !session::from_own_page(&parts.headers, &parts.method, &self.own_origin()) {
            return Err(IssueError::InvalidOrigin);
        }
        values.find_map(|value| session::check(&self.token, value, now).ok()).ok_or(IssueError::InvalidSession)
    }

    /// `POST /login`, `GET /login`, `POST /logout` (the router sends no other method here).
    async fn session_answer(&self, request: Request<Incoming>, path: &str, now: SystemTime) -> Result<ApiResponse, IssueError> {
        let (parts, body) = request.into_parts();
        let own_origin = self.own_origin();
        let secure = own_origin.starts_with("https://");
        if parts.method == Method::GET {
            let expires_at = self.session(&parts, now)?;
            return Ok(ApiResponse::json(200, serde_json::json!({"logged_in": true, "expires_at": rfc3339(expires_at)}).to_string()));
        }
        if !session::not_from_another_page(&parts.headers, &own_origin) {
            return Err(IssueError::InvalidOrigin);
        }
        let body = read_body(body).await?;
        if path == "/logout" {
            let mut answer = ApiResponse::json(200, serde_json::json!({"logged_in": false}).to_string());
            answer.headers.push(("set-cookie", session::clear_cookie(secure)));
            return Ok(answer);
        }
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let token = session::login_token(content_type, &body).ok_or(IssueError::InvalidLogin)?;
        if !token_matches(&token, &self.token) {
            return Err(IssueError::Unauthorized);
        }
        let opened = session::open(&self.token, now);
        let mut answer =
            ApiResponse::json(200, serde_json::json!({"logged_in": true, "expires_at": rfc3339(opened.expires_at)}).to_string());
        answer.headers.push(("set-cookie", session::set_cookie(&opened, secure)));
        Ok(answer)
    }
}
