//! HTTP adapter between `lambda_http` and [`oncelink::issue::handle`]; all rules live there.

use std::time::SystemTime;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use lambda_http::{Body, Request, RequestExt, Response};
use oncelink::issue::{ApiRequest, ApiResponse, IssueError, IssuerSettings, handle, needs_credentials};

pub struct Issuer {
    pub settings: IssuerSettings,
    pub credentials: SharedCredentialsProvider,
}

impl Issuer {
    /// Answers one API request. Never fails: problems become 4xx/5xx JSON answers.
    pub async fn respond(&self, request: &Request) -> Response<Body> {
        // Without the API Gateway stage (`/prod/links` → `/links`).
        let path = request.raw_http_path();
        let api_request = ApiRequest {
            method: request.method().as_str(),
            path: if path.is_empty() { request.uri().path() } else { path },
            query: request.uri().query().unwrap_or(""),
            origin: request.headers().get("origin").and_then(|v| v.to_str().ok()),
            body: request.body().as_ref(),
        };
        let credentials = if needs_credentials(&api_request) {
            match self.credentials.provide_credentials().await {
                Ok(credentials) => Some(credentials),
                Err(error) => {
                    tracing::error!(%error, "no signing credentials");
                    return to_http(ApiResponse::error(&IssueError::unavailable("signing credentials are unavailable")));
                }
            }
        } else {
            None
        };
        let response = handle(&self.settings, credentials.as_ref(), &api_request, SystemTime::now());
        tracing::info!(method = api_request.method, path = api_request.path, status = response.status, "issue api");
        to_http(response)
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
