//! Phase 3, the upstream request: where a forwarded request goes, what of the viewer's request
//! goes with it, and how long the origin has to answer.
//!
//! Sealed mode signs a fresh request for the object (the token is already stripped), as
//! CloudFront's OAC does; presigned mode passes the viewer's path and query on and the origin
//! checks the signature. Only an allow-list of viewer headers travels; bodies stream.

use std::time::{Duration, SystemTime};

use http::request::Parts;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use oncelink::Refusal;
use oncelink::decision::Forward;
use oncelink::link::LinkMode;
use oncelink::presign::sign_origin_request;

use super::Proxy;
use crate::app::RequestCtx;
use crate::body::Tracked;
use crate::origin::{Body, BoxError};

/// Request headers a viewer may pass to the origin. Nothing else goes through: no `x-amz-*`
/// (the origin would reject unsigned ones, or worse, obey them), no cookies, no `Host`.
const FORWARDED_REQUEST_HEADERS: &[&str] = &[
    "range",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "content-type",
    "content-length",
    "content-md5",
    "content-encoding",
    "content-language",
    "content-disposition",
    "cache-control",
    "expires",
];

/// The origin's time to answer with a response head, unless configured otherwise.
pub const DEFAULT_ORIGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong between an admitted request and the origin's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("the origin request could not be signed")]
    SigningFailed,
    #[error("the origin could not be reached")]
    OriginUnavailable,
    #[error("the origin did not answer in time")]
    OriginTimeout,
}

impl ProxyError {
    /// The access line's `failure` label (finer than the code the viewer gets).
    pub fn label(self) -> &'static str {
        match self {
            Self::SigningFailed => "origin_signing_failed",
            Self::OriginUnavailable => "origin_unavailable",
            Self::OriginTimeout => "origin_timeout",
        }
    }
}

impl Refusal for ProxyError {
    fn status(&self) -> u16 {
        match self {
            Self::OriginTimeout => 504,
            _ => 502,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::OriginTimeout => "origin_timeout",
            // The viewer need not know which side of the signing failed.
            Self::SigningFailed | Self::OriginUnavailable => "origin_unavailable",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::SigningFailed => Self::OriginUnavailable.to_string(),
            other => other.to_string(),
        }
    }
}

/// Where a forwarded request goes: the URL and the headers that authorise it.
struct Target {
    url: String,
    headers: Vec<(&'static str, String)>,
}

impl Proxy {
    /// Builds the origin request and sends it; the upload streams through as it arrives.
    pub(super) async fn upstream_request(
        &self,
        parts: &Parts,
        body: Incoming,
        forward: &Forward,
        ctx: &mut RequestCtx,
    ) -> Result<Response<Incoming>, ProxyError> {
        let target = self.target(parts, forward, ctx).await?;
        let mut out = Request::builder().method(parts.method.clone()).uri(&target.url);
        for name in FORWARDED_REQUEST_HEADERS {
            for value in parts.headers.get_all(*name) {
                out = out.header(*name, value);
            }
        }
        for (name, value) in &target.headers {
            out = out.header(*name, value);
        }
        let upload: Body = if parts.method == Method::PUT {
            Tracked::upload(body.map_err(|e| Box::new(e) as BoxError), self.metrics.clone()).boxed()
        } else {
            Empty::new().map_err(|never| match never {}).boxed()
        };
        let out = out.body(upload).map_err(|error| {
            tracing::error!(%error, request_id = %ctx.request_id, "the origin request could not be built");
            ProxyError::SigningFailed
        })?;
        match tokio::time::timeout(self.origin_timeout, self.client.request(out)).await {
            Ok(Ok(answer)) => {
                let status = answer.status().as_u16();
                ctx.upstream_status = Some(status);
                if status >= 500 || status == 403 {
                    tracing::warn!(status, request_id = %ctx.request_id, "the origin refused or failed a forwarded request");
                }
                Ok(answer)
            }
            Ok(Err(error)) => {
                tracing::error!(%error, request_id = %ctx.request_id, "origin request failed");
                Err(ProxyError::OriginUnavailable)
            }
            Err(_) => Err(ProxyError::OriginTimeout),
        }
    }

    async fn target(&self, parts: &Parts, forward: &Forward, ctx: &RequestCtx) -> Result<Target, ProxyError> {
        match self.mode {
            LinkMode::Sealed => {
                let credentials = self.credentials.credentials().await.map_err(|error| {
                    tracing::error!(%error, request_id = %ctx.request_id, "no credentials for the origin");
                    ProxyError::SigningFailed
                })?;
                let method = parts.method.as_str();
                let signed =
                    sign_origin_request(&self.origin, &credentials, method, &forward.path, &forward.querystring, SystemTime::now())
                        .map_err(|error| {
                            tracing::error!(%error, request_id = %ctx.request_id, "cannot sign the origin request");
                            ProxyError::SigningFailed
                        })?;
                Ok(Target { url: signed.url, headers: signed.headers })
            }
            LinkMode::Presigned => {
                let mut url = format!("{}{}", self.origin.base_url(), parts.uri.path());
                if !forward.querystring.is_empty() {
                    url.push('?');
                    url.push_str(&forward.querystring);
                }
                Ok(Target { url, headers: Vec::new() })
            }
        }
    }
}
