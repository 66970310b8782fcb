//! HTTP adapter between `lambda_http` and [`oncelink::issue::handle`]; all rules live there.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use lambda_http::{Body, Request, RequestExt, Response};
use oncelink::config::{ConfigCache, ConfigSource, EdgeConfig, LinkMode};
use oncelink::issue::{ApiRequest, ApiResponse, IssueError, IssuerSettings, Signer, handle, needs_ledger, signs_link};
use oncelink::ledger::Ledger;

/// Builds the ledger adapter for a loaded configuration (DynamoDB on its table, in production).
pub type LedgerFor = Box<dyn Fn(&EdgeConfig) -> Arc<dyn Ledger> + Send + Sync>;

pub struct Issuer<C> {
    pub settings: IssuerSettings,
    pub credentials: SharedCredentialsProvider,
    /// The shared configuration (key set, table): needed for sealed links and revocation.
    pub config: Option<ConfigCache<C>>,
    pub ledger_for: LedgerFor,
}

/// The `Function` dimension of this function's metrics.
const FUNCTION: &str = "issue-url";

fn unavailable(code: &'static str, message: &str) -> ApiResponse {
    ApiResponse::error(&IssueError { status: 503, code, message: message.into() })
}

impl<C: ConfigSource> Issuer<C> {
    /// Answers one API request, logs it and emits its metrics line. Never fails: problems
    /// become 4xx/5xx JSON answers.
    pub async fn respond(&self, request: &Request) -> Response<Body> {
        let started = Instant::now();
        // Lambda's id for this invocation: on every log line and on the metrics line.
        let request_id = request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_else(|| "-".into());
        let answer = self.answer(request, &request_id).await;
        oncelink::metrics_emf::emit(FUNCTION, &request_id, &answer.outcome.samples(started.elapsed()));
        to_http(answer)
    }

    async fn answer(&self, request: &Request, request_id: &str) -> ApiResponse {
        // Without the API Gateway stage (`/prod/links` → `/links`).
        let path = request.raw_http_path();
        let api_request = ApiRequest {
            method: request.method().as_str(),
            path: if path.is_empty() { request.uri().path() } else { path },
            query: request.uri().query().unwrap_or(""),
            origin: request.headers().get("origin").and_then(|v| v.to_str().ok()),
            body: request.body().as_ref(),
        };
        let signs = signs_link(&api_request);
        let uses_ledger = needs_ledger(&api_request);

        let credentials = if signs && self.settings.mode == LinkMode::Presigned {
            match self.credentials.provide_credentials().await {
                Ok(credentials) => Some(credentials),
                Err(error) => {
                    tracing::error!(%error, request_id, "no signing credentials");
                    return unavailable("credentials_unavailable", "signing credentials are unavailable");
                }
            }
        } else {
            None
        };
        let needs_config = uses_ledger || (signs && self.settings.mode == LinkMode::Sealed);
        let config = match (&self.config, needs_config) {
            (Some(cache), true) => match cache.get().await {
                Ok(config) => Some(config),
                Err(error) => {
                    tracing::error!(%error, request_id, "configuration unavailable");
                    return unavailable("config_unavailable", "the link configuration is unavailable; try again later");
                }
            },
            _ => None,
        };
        let ledger = config.as_deref().map(|c| (self.ledger_for)(c));
        let signer = Signer { credentials: credentials.as_ref(), keys: config.as_deref().and_then(|c| c.keys.as_ref()) };
        let response = handle(&self.settings, signer, ledger.as_deref(), &api_request, SystemTime::now()).await;
        tracing::info!(
            method = api_request.method,
            path = api_request.path,
            status = response.status,
            code = response.outcome.code,
            request_id,
            "issue api"
        );
        response
    }
}

fn to_http(response: ApiResponse) -> Response<Body> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(*name, value);
    }
    let body = if response.body.is_empty() { Body::Empty } else { Body::Text(response.body) };
    builder.body(body).unwrap_or_else(|_| Response::new(Body::Empty))
}
