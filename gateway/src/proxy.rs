//! A link request's life, as named phases in the order it lives them (after Pingora's):
//!
//! ```text
//!  1 request filter   the head, read as the core reads every viewer request; an upload that
//!                     could not be passed on is refused here, before anything is spent
//!  2 decision         the core's EdgeService: configuration, checks, ledger (measured, logged)
//!  3 upstream request the origin request: sealed → signed afresh for the object (as OAC does);
//!                     presigned → the viewer's own path and query; bodies streamed both ways
//!  4 response filter  what of the origin's answer reaches the viewer
//!  5 logging          the access line, written by `app` from the context every phase filled
//! ```
//!
//! Each phase returns what the next one needs, or the response that ends the request there. The
//! per-request context ([`RequestCtx`]) is passed explicitly and is all a phase may write to.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use oncelink::content;
use oncelink::credentials::CredentialSource;
use oncelink::decision::Forward;
use oncelink::edge::{EdgeService, log_refusal};
use oncelink::ledger::Ledger;
use oncelink::link::LinkMode;
use oncelink::presign::{S3Origin, sign_origin_request};
use oncelink::{Decision, Refusal, ViewerRequest};

use crate::answer;
use crate::app::RequestCtx;
use crate::body::Tracked;
use crate::keys::GatewayConfig;
use crate::metrics::Metrics;
use crate::origin::{Body, BoxError, HttpClient};

/// The core's edge service on the gateway's ports.
pub type Edge = EdgeService<GatewayConfig, Arc<dyn Ledger>>;

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
/// Response headers that stay between the origin and us.
const DROPPED_RESPONSE_HEADERS: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authenticate", "server", "set-cookie"];
/// Time to the origin's response head.
const ORIGIN_HEADERS_TIMEOUT: Duration = Duration::from_secs(60);

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
    fn label(self) -> &'static str {
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

pub struct Proxy {
    pub edge: Edge,
    pub client: HttpClient,
    pub origin: S3Origin,
    pub mode: LinkMode,
    pub credentials: Arc<dyn CredentialSource>,
    pub metrics: Arc<Metrics>,
    pub max_upload_bytes: u64,
    /// Serve active content types inline (still sandboxed); see `oncelink::content`.
    pub inline_active_content: bool,
}

/// Ends the request in a phase: the response to send now (boxed: it is large, and rare on the
/// path of a forwarded request).
type Early = Box<Response<Body>>;

impl Proxy {
    /// Runs the phases for one link request.
    pub async fn serve(&self, request: Request<Incoming>, ctx: &mut RequestCtx) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let viewer = match self.request_filter(&parts, ctx) {
            Ok(viewer) => viewer,
            Err(early) => return *early,
        };
        let forward = match self.decision(&viewer, ctx).await {
            Ok(forward) => forward,
            Err(early) => return *early,
        };
        match self.upstream_request(&parts, body, &forward, ctx).await {
            Ok(answer) => self.response_filter(answer),
            Err(early) => *early,
        }
    }

    /// Phase 1: the head alone may already be refused (before the decision, so before the
    /// ledger): an upload we could not pass on must not spend the link.
    fn request_filter(&self, parts: &Parts, ctx: &mut RequestCtx) -> Result<ViewerRequest, Early> {
        oncelink::http_head::viewer_request(parts, ctx.client_ip, &ctx.request_id, self.max_upload_bytes).map_err(|refusal| {
            let measured = log_refusal(&ctx.request_id, parts.method.as_str(), parts.uri.path(), &refusal);
            self.metrics.record(&measured.samples());
            ctx.decision = Some(measured.outcome);
            Box::new(answer::refusal(&refusal))
        })
    }

    /// Phase 2: the core decides.
    async fn decision(&self, viewer: &ViewerRequest, ctx: &mut RequestCtx) -> Result<Forward, Early> {
        let decided = self.edge.decide(viewer, SystemTime::now()).await;
        self.metrics.record(&decided.measured.samples());
        ctx.decision = Some(decided.measured.outcome);
        match decided.decision {
            Decision::Forward(forward) => Ok(forward),
            Decision::Preview => {
                let mut preview = answer::full(StatusCode::OK, "text/plain", "");
                preview.headers_mut().insert("x-robots-tag", HeaderValue::from_static("noindex"));
                Err(Box::new(preview))
            }
            Decision::Deny(reason) => Err(Box::new(answer::refusal(&reason))),
        }
    }

    /// Phase 3: build the origin request and send it; the upload streams through as it arrives.
    async fn upstream_request(
        &self,
        parts: &Parts,
        body: Incoming,
        forward: &Forward,
        ctx: &mut RequestCtx,
    ) -> Result<Response<Incoming>, Early> {
        let target = self.target(parts, forward, ctx).await.map_err(|e| self.fail(ctx, e))?;
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
            self.fail(ctx, ProxyError::SigningFailed)
        })?;
        match tokio::time::timeout(ORIGIN_HEADERS_TIMEOUT, self.client.request(out)).await {
            Ok(Ok(answer)) => {
                ctx.upstream_status = Some(answer.status().as_u16());
                if answer.status().is_server_error() || answer.status() == StatusCode::FORBIDDEN {
                    tracing::warn!(status = answer.status().as_u16(), request_id = %ctx.request_id, "the origin refused or failed a forwarded request");
                }
                Ok(answer)
            }
            Ok(Err(error)) => {
                tracing::error!(%error, request_id = %ctx.request_id, "origin request failed");
                Err(self.fail(ctx, ProxyError::OriginUnavailable))
            }
            Err(_) => Err(self.fail(ctx, ProxyError::OriginTimeout)),
        }
    }

    /// Sealed: a fresh request for the object at the link's path (the token is already stripped
    /// by the decision), signed with the gateway's credentials. Presigned: the viewer's path and
    /// query as they are; the origin checks the signature.
    async fn target(&self, parts: &Parts, forward: &Forward, ctx: &RequestCtx) -> Result<Target, ProxyError> {
        match self.mode {
            LinkMode::Sealed => {
                let credentials = self.credentials.credentials().await.map_err(|error| {
                    tracing::error!(%error, request_id = %ctx.request_id, "no credentials for the origin");
                    ProxyError::SigningFailed
                })?;
                let signed = sign_origin_request(
                    &self.origin,
                    &credentials,
                    parts.method.as_str(),
                    &forward.path,
                    &forward.querystring,
                    SystemTime::now(),
                )
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

    /// Phase 4: hop-by-hop and origin-private headers stay behind; nothing is cached unless the
    /// origin says so; the object can never act with this origin's authority (nosniff, a CSP
    /// sandbox, active types as attachments: `oncelink::content`); the body streams to the
    /// viewer, counted.
    fn response_filter(&self, answer: Response<Incoming>) -> Response<Body> {
        let (mut parts, body) = answer.into_parts();
        for name in DROPPED_RESPONSE_HEADERS {
            parts.headers.remove(*name);
        }
        parts.headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
        for (name, value) in content::OBJECT_HEADERS {
            parts.headers.insert(name, HeaderValue::from_static(value));
        }
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let disposition = parts.headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok());
        if !self.inline_active_content && content::needs_attachment(content_type) && !content::is_attachment(disposition) {
            parts.headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
        }
        let body = Tracked::download(body.map_err(|e| Box::new(e) as BoxError), self.metrics.clone()).boxed();
        Response::from_parts(parts, body)
    }

    fn fail(&self, ctx: &mut RequestCtx, error: ProxyError) -> Early {
        self.metrics.origin_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ctx.failure = Some(error.label());
        Box::new(answer::refusal(&error))
    }
}
