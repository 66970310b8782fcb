//! HTTP adapter between `lambda_http` and [`oncelink::issue::IssueService`]: all the API's rules
//! (routes, validation, which port each route pulls, error answers, CORS) live in the core.

use std::time::{Instant, SystemTime};

use lambda_http::{Body, Request, RequestExt, Response};
use oncelink::config::ConfigSource;
use oncelink::credentials::CredentialSource;
use oncelink::issue::{ApiRequest, IssueService};
use oncelink::ledger::LedgerFor;

/// The `Function` dimension of this function's metrics.
const FUNCTION: &str = "issue-url";

/// Answers one API request, logs it and emits its metrics line. Never fails: problems become
/// 4xx/5xx JSON answers.
pub async fn respond<C, L, K>(service: &IssueService<C, L, K>, request: &Request) -> Response<Body>
where
    C: ConfigSource,
    L: LedgerFor<C::Config>,
    K: CredentialSource,
{
    let started = Instant::now();
    // Lambda's id for this invocation: on every log line and on the metrics line.
    let request_id = request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_else(|| "-".into());
    // Without the API Gateway stage (`/prod/links` → `/links`).
    let raw_path = request.raw_http_path();
    let api_request = ApiRequest {
        method: request.method().as_str(),
        path: if raw_path.is_empty() { request.uri().path() } else { raw_path },
        query: request.uri().query().unwrap_or(""),
        origin: request.headers().get("origin").and_then(|v| v.to_str().ok()),
        body: request.body().as_ref(),
        request_id: &request_id,
    };
    let answer = service.handle(&api_request, SystemTime::now()).await;
    tracing::info!(
        method = api_request.method,
        path = api_request.path,
        status = answer.status,
        code = answer.outcome.code,
        request_id,
        "issue api"
    );
    oncelink::metrics_emf::emit(FUNCTION, &request_id, &answer.outcome.samples(started.elapsed()));
    answer.into_http().map(|body| if body.is_empty() { Body::Empty } else { Body::Text(body) })
}
