//! The HTTP server: objects at `/<key>` through links (the core's decision, then a streaming
//! reverse proxy to the origin), and the gateway's own endpoints under `/_oncelink/`.
//!
//! ```text
//! GET|HEAD|PUT /<key>?<link>        decision ─► forward (signed origin request, bodies streamed) or deny
//! POST   /_oncelink/links           issue (Bearer token)           same JSON as issue-url
//! GET    /_oncelink/links/{id}      a link's ledger state (Bearer)
//! DELETE /_oncelink/links/{id}      revoke (Bearer)
//! GET    /_oncelink/healthz | /_oncelink/metrics | /_oncelink/ (web page);  / → /_oncelink/
//! ```

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use oncelink::config::LinkMode;
use oncelink::metrics::{ApiOutcome, DecisionOutcome};
use oncelink::presign::S3Origin;
use tokio::sync::oneshot;

use crate::datadir::{DataDir, random_token};
use crate::edge::{Edge, KeySource, Verdict, issuer_settings};
use crate::file_ledger::FileLedger;
use crate::metrics::Metrics;
use crate::origin::{Body, BoxError, HttpClient, Signing, http_client, start_embedded};
use crate::settings::{LedgerKind, Settings};

const PAGE: &str = include_str!("../web/index.html");
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
/// Time to read a request's head; time to the origin's response head; time to read an API body.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);
const ORIGIN_HEADERS_TIMEOUT: Duration = Duration::from_secs(60);
const API_BODY_TIMEOUT: Duration = Duration::from_secs(15);
/// Request heads larger than this are refused (431 / connection closed).
const MAX_HEAD_BYTES: usize = 64 * 1024;

pub struct App {
    edge: Arc<Edge>,
    client: HttpClient,
    metrics: Arc<Metrics>,
    api_token: String,
    max_upload_bytes: u64,
    trust_forwarded_for: bool,
}

/// A started gateway.
pub struct Running {
    pub addr: SocketAddr,
    pub public_url: String,
    pub api_token: String,
    pub token_generated: bool,
    pub origin_endpoint: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish (up to the shutdown timeout), returns.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server loop ends (after [`Running::shutdown_handle`] fires).
    pub async fn wait(self) {
        let _ = self.task.await;
    }

    pub fn shutdown_handle(&mut self) -> Option<oneshot::Sender<()>> {
        self.shutdown.take()
    }
}

/// Builds the ledger, origin, keys and token from `settings`, binds, and serves in the background.
pub async fn start(settings: &Settings) -> anyhow::Result<Running> {
    let data = DataDir::create(&settings.data_dir)?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));

    // The origin and the credentials that sign requests to it.
    let (endpoint, signing) = match settings.origin_endpoint.as_deref() {
        None => {
            let creds = data.origin_credentials()?;
            let endpoint = start_embedded(&data.objects_dir(), &settings.bucket, &creds.access_key, &creds.secret_key).await?;
            let fixed = aws_credential_types::Credentials::new(creds.access_key, creds.secret_key, None, None, "oncelink-embedded");
            (Some(endpoint), Arc::new(Signing::Fixed(fixed)))
        }
        Some("aws") => (None, Signing::from_chain(&settings.region).await?),
        Some(endpoint) => (Some(endpoint.trim_end_matches('/').to_owned()), Signing::from_chain(&settings.region).await?),
    };
    let origin_endpoint = endpoint.clone().unwrap_or_else(|| format!("https://{}.s3.{}.amazonaws.com", settings.bucket, settings.region));
    let origin = S3Origin { bucket: settings.bucket.clone(), region: settings.region.clone(), endpoint };

    let metrics = Arc::new(Metrics::default());
    let ledger: Arc<dyn oncelink::ledger::Ledger> = match settings.ledger {
        LedgerKind::File => {
            let ledger = FileLedger::open(&data.ledger_path())?;
            ledger.spawn_purger(Duration::from_secs(60));
            let (l, m) = (ledger.clone(), metrics.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(15));
                loop {
                    tick.tick().await;
                    let l = l.clone();
                    if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || l.len()).await {
                        m.ledger_records.store(n, Ordering::Relaxed);
                    }
                }
            });
            Arc::new(ledger)
        }
        LedgerKind::Memory => Arc::new(oncelink::ledger::MemoryLedger::new()),
        LedgerKind::Dynamodb => {
            let mut loader =
                aws_config::defaults(aws_config::BehaviorVersion::latest()).region(aws_config::Region::new(settings.region.clone()));
            if let Some(endpoint) = &settings.dynamodb_endpoint {
                loader = loader.endpoint_url(endpoint);
            }
            let sdk = loader.load().await;
            let table = settings.table.clone().context("--ledger dynamodb needs --table")?;
            Arc::new(oncelink::ledger::DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(&sdk), table))
        }
    };

    let (keys, key_source) = match settings.mode {
        LinkMode::Presigned => (None, KeySource::None),
        LinkMode::Sealed => match std::env::var("ONCELINK_KEYS").ok().filter(|v| !v.trim().is_empty()) {
            Some(raw) => {
                (Some(oncelink::sealed::KeySet::parse_json(&raw).map_err(|e| anyhow::anyhow!("ONCELINK_KEYS: {e}"))?), KeySource::Env)
            }
            None => (Some(data.keys()?), KeySource::File(data.keys_path())),
        },
    };
    let (api_token, token_generated) = match &settings.api_token {
        Some(t) => (t.clone(), false),
        None => data.api_token()?,
    };
    let issuer = issuer_settings(origin, &public_url, settings.mode, settings.default_expires, settings.max_expires);
    let edge = Arc::new(Edge::new(issuer, keys, key_source, ledger, signing));
    edge.spawn_key_watcher();

    let app = Arc::new(App {
        edge,
        client: http_client()?,
        metrics,
        api_token: api_token.clone(),
        max_upload_bytes: settings.max_upload_bytes,
        trust_forwarded_for: settings.trust_forwarded_for,
    });
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(serve(listener, app, rx, settings.shutdown_timeout));
    Ok(Running { addr, public_url, api_token, token_generated, origin_endpoint, shutdown: Some(tx), task })
}

async fn serve(listener: tokio::net::TcpListener, app: Arc<App>, mut shutdown: oneshot::Receiver<()>, grace: Duration) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = socket.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.handle(req, peer).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEAD_BYTES)
            .serve_connection(TokioIo::new(socket), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    tracing::info!(timeout_secs = grace.as_secs(), "shutting down: no new connections; letting in-flight requests finish");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!("shutdown timeout reached; dropping the remaining connections"),
    }
}

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An issue API answer the gateway gives itself (before the core is asked), and its metric.
fn api_error(status: u16, code: &'static str, message: &str) -> (Response<Body>, ApiOutcome) {
    (json_error(status, code, message), ApiOutcome { code, issued: None })
}

fn json_error(status: u16, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": code, "message": message}).to_string();
    full(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "application/json", body)
}

fn redirect(location: &'static str) -> Response<Body> {
    let mut r = full(StatusCode::FOUND, "text/plain", "");
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static(location));
    r
}

/// Constant-time comparison of the bearer token.
fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the access log says about one request.
struct Access {
    route: &'static str,
    decision: Option<&'static str>,
    reason: Option<&'static str>,
}

impl App {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let request_id = random_token(12).unwrap_or_else(|_| "-".into());
        let client_ip = oncelink::http_head::client_ip(req.headers(), peer.ip(), self.trust_forwarded_for);
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let mut access = Access { route: "other", decision: None, reason: None };
        let mut response = self.route(req, client_ip, &request_id, &mut access).await;
        let status = response.status().as_u16();
        self.metrics.request(access.route, status);
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(HeaderName::from_static("x-oncelink-request-id"), v);
        }
        // One JSON line per request. No query string (it holds the link's token or signature), no
        // headers, no body.
        tracing::info!(
            target: "access",
            method = %method,
            path = %path,
            status,
            route = access.route,
            decision = access.decision,
            reason = access.reason,
            client_ip = %client_ip,
            request_id = %request_id,
            ms = started.elapsed().as_millis() as u64,
        );
        response
    }

    async fn route(&self, req: Request<Incoming>, client_ip: IpAddr, request_id: &str, access: &mut Access) -> Response<Body> {
        let path = req.uri().path();
        if path == "/" {
            access.route = "page";
            return redirect("/_oncelink/");
        }
        if path == "/_oncelink" {
            access.route = "page";
            return redirect("/_oncelink/");
        }
        let Some(own) = path.strip_prefix("/_oncelink/") else {
            access.route = "link";
            return self.link(req, client_ip, request_id, access).await;
        };
        let own = own.to_owned();
        match (req.method(), own.as_str()) {
            (&Method::GET | &Method::HEAD, "") => {
                access.route = "page";
                let mut r = full(StatusCode::OK, "text/html; charset=utf-8", PAGE);
                let h = r.headers_mut();
                h.insert("content-security-policy", HeaderValue::from_static("default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self' *; img-src 'self' data:; frame-ancestors 'none'"));
                h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
                h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
                r
            }
            (&Method::GET | &Method::HEAD, "healthz") => {
                access.route = "health";
                full(StatusCode::OK, "application/json", r#"{"status":"ok"}"#)
            }
            (&Method::GET, "metrics") => {
                access.route = "metrics";
                full(StatusCode::OK, "text/plain; version=0.0.4", self.metrics.render())
            }
            (_, own) if own == "links" || own.starts_with("links/") => {
                access.route = "api";
                let started = Instant::now();
                let (response, outcome) = self.api(req, &format!("/{own}")).await;
                self.metrics.record(&outcome.samples(started.elapsed()));
                response
            }
            _ => json_error(404, "not_found", "no such endpoint under /_oncelink/"),
        }
    }

    /// The issue API, and what its answer counts as in the metrics.
    async fn api(&self, req: Request<Incoming>, path: &str) -> (Response<Body>, ApiOutcome) {
        let method = req.method().as_str().to_owned();
        // CORS preflights carry no credentials; the core answers them.
        if method != "OPTIONS" {
            let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|t| token_matches(t.trim(), &self.api_token)) {
                let (mut r, outcome) = api_error(401, "unauthorized", "send Authorization: Bearer <token> (printed by `oncelink serve`)");
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return (r, outcome);
            }
        }
        let query = req.uri().query().unwrap_or("").to_owned();
        let origin = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let limit = oncelink::issue::MAX_BODY_BYTES;
        let body = match tokio::time::timeout(API_BODY_TIMEOUT, Limited::new(req.into_body(), limit).collect()).await {
            Err(_) => return api_error(408, "timeout", "the request body took too long"),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return api_error(413, "body_too_large", &format!("the body is larger than {limit} bytes"));
            }
            Ok(Err(_)) => return api_error(400, "bad_body", "the request body could not be read"),
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        let answer = self.edge.api(&method, path, &query, origin.as_deref(), &body, SystemTime::now()).await;
        let mut r = full(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "application/json", answer.body);
        for (name, value) in answer.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().insert(name, v);
            }
        }
        if answer.status == 204 {
            r.headers_mut().remove(header::CONTENT_TYPE);
        }
        (r, answer.outcome)
    }

    /// A link: the core decides; a forward is proxied to the origin with both bodies streamed.
    async fn link(&self, req: Request<Incoming>, client_ip: IpAddr, request_id: &str, access: &mut Access) -> Response<Body> {
        // The head alone may already be refused (before the decision, so before the ledger): an
        // upload we could not pass on must not spend the link.
        let (parts, body) = req.into_parts();
        let viewer = match oncelink::http_head::viewer_request(&parts, client_ip, request_id, self.max_upload_bytes) {
            Ok(viewer) => viewer,
            Err(refusal) => {
                access.decision = Some("deny");
                access.reason = Some(refusal.code());
                // Refused on its head alone: a denial under its own code, with no decision latency.
                self.metrics.record(&DecisionOutcome::deny(refusal.code()).samples(None));
                let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
                return full(status, "application/json", refusal.body());
            }
        };
        let req = Request::from_parts(parts, body);
        let started = Instant::now();
        let (verdict, outcome) = self.edge.decide(&viewer, SystemTime::now()).await;
        self.metrics.record(&outcome.samples(Some(started.elapsed())));
        let target = match verdict {
            Verdict::Deny(reason) => {
                access.decision = Some("deny");
                access.reason = Some(reason.code());
                return full(StatusCode::from_u16(reason.status()).unwrap_or(StatusCode::FORBIDDEN), "application/json", reason.body());
            }
            Verdict::Preview => {
                access.decision = Some("preview");
                let mut r = full(StatusCode::OK, "text/plain", "");
                r.headers_mut().insert("x-robots-tag", HeaderValue::from_static("noindex"));
                return r;
            }
            Verdict::OriginUnavailable(why) => {
                access.decision = Some("forward");
                access.reason = Some("origin_signing_failed");
                self.metrics.origin_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %why, request_id, "cannot sign the origin request");
                return json_error(502, "origin_unavailable", "the origin could not be reached");
            }
            Verdict::Forward(target) => target,
        };
        access.decision = Some("forward");

        let (parts, body) = req.into_parts();
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
        let out = match out.body(upload) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, request_id, "bad origin request");
                return json_error(502, "origin_unavailable", "the origin request could not be built");
            }
        };
        let answer = match tokio::time::timeout(ORIGIN_HEADERS_TIMEOUT, self.client.request(out)).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                self.metrics.origin_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %error, request_id, "origin request failed");
                access.reason = Some("origin_unavailable");
                return json_error(502, "origin_unavailable", "the origin could not be reached");
            }
            Err(_) => {
                self.metrics.origin_errors.fetch_add(1, Ordering::Relaxed);
                access.reason = Some("origin_timeout");
                return json_error(504, "origin_timeout", "the origin did not answer in time");
            }
        };
        if answer.status().is_server_error() || answer.status() == StatusCode::FORBIDDEN {
            tracing::warn!(status = answer.status().as_u16(), request_id, "the origin refused or failed a forwarded request");
        }
        let (mut parts, body) = answer.into_parts();
        for name in DROPPED_RESPONSE_HEADERS {
            parts.headers.remove(*name);
        }
        parts.headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
        let body = Tracked::download(body.map_err(|e| Box::new(e) as BoxError), self.metrics.clone()).boxed();
        Response::from_parts(parts, body)
    }
}

/// A body that counts its bytes into the metrics; downloads also count as in flight until done.
struct Tracked<B> {
    inner: B,
    metrics: Arc<Metrics>,
    download: bool,
}

impl<B> Tracked<B> {
    fn download(inner: B, metrics: Arc<Metrics>) -> Self {
        metrics.transfers_in_flight.fetch_add(1, Ordering::Relaxed);
        Self { inner, metrics, download: true }
    }

    fn upload(inner: B, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics, download: false }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        if self.download {
            self.metrics.transfers_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl<B: HttpBody<Data = Bytes, Error = BoxError> + Unpin> HttpBody for Tracked<B> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let counter = if self.download { &self.metrics.bytes_to_viewers } else { &self.metrics.bytes_from_viewers };
            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
