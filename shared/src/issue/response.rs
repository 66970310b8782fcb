//! The API's request and answer as plain data, and the one place an answer becomes HTTP.
//!
//! Both shells (the `issue-url` Lambda behind API Gateway, the gateway's `/_oncelink/links`)
//! build an [`ApiRequest`] from their HTTP request and send back [`ApiResponse::into_http`].

use super::IssueError;
use crate::error::Refusal;
use crate::metrics::ApiOutcome;

/// A request to the API, as plain data.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest<'a> {
    pub method: &'a str,
    /// Path relative to the API's base (`/links`).
    pub path: &'a str,
    /// Raw query string (no `?`).
    pub query: &'a str,
    /// The `Origin` header, if any.
    pub origin: Option<&'a str>,
    pub body: &'a [u8],
    /// The shell's id for this request: on every log line the API writes about it.
    pub request_id: &'a str,
}

/// The API's answer, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// For the metrics: the error code (`ok` on success) and the link issued, if any.
    pub outcome: ApiOutcome,
}

const NO_STORE: (&str, &str) = ("cache-control", "no-store");

impl ApiResponse {
    /// A JSON answer (never cached).
    pub fn json(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into()), (NO_STORE.0, NO_STORE.1.into())],
            body,
            outcome: ApiOutcome::ok(None),
        }
    }

    /// The error's JSON body under its status; 401 also names the scheme.
    pub fn error(error: &IssueError) -> Self {
        let mut response = Self { outcome: ApiOutcome { code: error.code(), issued: None }, ..Self::json(error.status(), error.body()) };
        if *error == IssueError::Unauthorized {
            response.headers.push(("www-authenticate", "Bearer".into()));
        }
        response
    }

    /// `204`, no body (CORS preflight).
    pub fn no_content() -> Self {
        Self { status: 204, headers: vec![(NO_STORE.0, NO_STORE.1.into())], body: String::new(), outcome: ApiOutcome::ok(None) }
    }

    /// `302 Location: <url>` (never 301: a link must not be cached by the browser).
    pub fn redirect(url: String, outcome: ApiOutcome) -> Self {
        Self { status: 302, headers: vec![("location", url), (NO_STORE.0, NO_STORE.1.into())], body: String::new(), outcome }
    }

    /// The answer as an HTTP response. A header value that cannot be sent (never one we make) is
    /// dropped rather than turning the answer into an error.
    pub fn into_http(self) -> http::Response<String> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() = http::StatusCode::from_u16(self.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// Adds the CORS headers when the request's `Origin` is allowed.
pub(super) fn add_cors(allowed: &[String], origin: Option<&str>, response: &mut ApiResponse) {
    let Some(origin) = origin else { return };
    if !allowed.iter().any(|o| o == "*" || o == origin) {
        return;
    }
    response.headers.push(("access-control-allow-origin", origin.to_owned()));
    response.headers.push(("vary", "Origin".into()));
    response.headers.push(("access-control-allow-methods", "GET, POST, DELETE, OPTIONS".into()));
    response.headers.push(("access-control-allow-headers", "content-type, authorization".into()));
    response.headers.push(("access-control-max-age", "600".into()));
}
