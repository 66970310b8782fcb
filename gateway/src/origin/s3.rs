//! The S3-over-HTTP adapter: what real deployments use (`--origin-endpoint URL`, or `aws`).
//!
//! Sealed mode signs a fresh request for the object (the token is already stripped), as
//! CloudFront's OAC does; presigned mode passes the viewer's path and query on and the origin
//! checks the signature. Only an allow-list of viewer headers travels; bodies stream.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use http::{Request, Response};
use http_body_util::BodyExt;
use oncelink::credentials::CredentialSource;
use oncelink::link::LinkMode;
use oncelink::presign::{S3Origin, sign_origin_request};

use super::{Body, BoxError, HttpClient, Origin, OriginError, OriginRequest};

/// Request headers a viewer may pass to the origin. Nothing else goes through: no `x-amz-*`
/// (the origin would reject unsigned ones, or worse, obey them), no cookies, no `Host`.
pub const FORWARDED_REQUEST_HEADERS: &[&str] = &[
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

pub struct S3HttpOrigin {
    pub client: HttpClient,
    pub origin: S3Origin,
    pub mode: LinkMode,
    pub credentials: Arc<dyn CredentialSource>,
}

/// Where a forwarded request goes: the URL and the headers that authorise it.
struct Target {
    url: String,
    headers: Vec<(&'static str, String)>,
}

#[async_trait]
impl Origin for S3HttpOrigin {
    async fn send(&self, request: OriginRequest<'_>) -> Result<Response<Body>, OriginError> {
        let OriginRequest { parts, forward, body, request_id } = request;
        let target = self.target(parts, forward, request_id).await?;
        let mut out = Request::builder().method(parts.method.clone()).uri(&target.url);
        for name in FORWARDED_REQUEST_HEADERS {
            for value in parts.headers.get_all(*name) {
                out = out.header(*name, value);
            }
        }
        for (name, value) in &target.headers {
            out = out.header(*name, value);
        }
        let out = out.body(body).map_err(|error| {
            tracing::error!(%error, request_id, "the origin request could not be built");
            OriginError::SigningFailed
        })?;
        match self.client.request(out).await {
            Ok(answer) => Ok(answer.map(|body| body.map_err(|e| Box::new(e) as BoxError).boxed())),
            Err(error) => {
                tracing::error!(%error, request_id, "origin request failed");
                Err(OriginError::OriginUnavailable)
            }
        }
    }

    fn describe(&self) -> String {
        self.origin.base_url()
    }
}

impl S3HttpOrigin {
    async fn target(
        &self,
        parts: &http::request::Parts,
        forward: &oncelink::decision::Forward,
        request_id: &str,
    ) -> Result<Target, OriginError> {
        match self.mode {
            LinkMode::Sealed => {
                let credentials = self.credentials.credentials().await.map_err(|error| {
                    tracing::error!(%error, request_id, "no credentials for the origin");
                    OriginError::SigningFailed
                })?;
                let method = parts.method.as_str();
                let signed =
                    sign_origin_request(&self.origin, &credentials, method, &forward.path, &forward.querystring, SystemTime::now())
                        .map_err(|error| {
                            tracing::error!(%error, request_id, "cannot sign the origin request");
                            OriginError::SigningFailed
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
