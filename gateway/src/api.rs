//! The issue API's HTTP side in the gateway: the bearer token, the body's size and time limits,
//! then the core's [`IssueService`] — which routes, validates, signs and answers.
//!
//! CORS preflights carry no credentials, so `OPTIONS` reaches the core without a token.

use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use oncelink::credentials::CredentialSource;
use oncelink::issue::{ApiRequest, ApiResponse, IssueError, IssueService, MAX_BODY_BYTES};
use oncelink::ledger::Ledger;
use std::sync::Arc;

use crate::answer;
use crate::app::RequestCtx;
use crate::keys::GatewayConfig;
use crate::metrics::Metrics;
use crate::origin::Body;

/// Time to read an API body.
const API_BODY_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Api {
    pub service: IssueService<GatewayConfig, Arc<dyn Ledger>, Arc<dyn CredentialSource>>,
    pub token: String,
    pub metrics: Arc<Metrics>,
}

/// Constant-time comparison of the bearer token.
fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Api {
    /// `path` is relative to `/_oncelink` (e.g. `/links`).
    pub async fn serve(&self, request: Request<Incoming>, path: &str, ctx: &RequestCtx) -> Response<Body> {
        let started = Instant::now();
        let answer = self.answer(request, path, ctx).await;
        self.metrics.record(&answer.outcome.samples(started.elapsed()));
        answer::api(answer)
    }

    async fn answer(&self, request: Request<Incoming>, path: &str, ctx: &RequestCtx) -> ApiResponse {
        let (parts, body) = request.into_parts();
        if parts.method != http::Method::OPTIONS {
            let given = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|t| token_matches(t.trim(), &self.token)) {
                return ApiResponse::error(&IssueError::Unauthorized);
            }
        }
        let body = match tokio::time::timeout(API_BODY_TIMEOUT, Limited::new(body, MAX_BODY_BYTES).collect()).await {
            Err(_) => return ApiResponse::error(&IssueError::BodyTimeout),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return ApiResponse::error(&IssueError::BodyTooLarge),
            Ok(Err(_)) => return ApiResponse::error(&IssueError::UnreadableBody),
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        let request = ApiRequest {
            method: parts.method.as_str(),
            path,
            query: parts.uri.query().unwrap_or(""),
            origin: parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
            body: &body,
            request_id: &ctx.request_id,
        };
        self.service.handle(&request, SystemTime::now()).await
    }
}
