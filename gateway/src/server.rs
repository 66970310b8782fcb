//! The accept loop: connections to the [`App`] over HTTP/1.1, or over TLS with HTTP/2 or
//! HTTP/1.1 as ALPN chooses; time limits on idle connections, request heads and stalled bodies
//! (`watchdog`); a size limit on request heads; and a graceful shutdown that lets in-flight
//! transfers finish.
//!
//! Plain-text connections are HTTP/1.1 only: HTTP/2 without TLS (h2c) is not offered, since
//! browsers never use it and a load balancer in front speaks HTTP/1.1 or TLS to its targets.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::header::HOST;
use http::{HeaderValue, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::head_guard::{Guarded, HEAD_BUFFER_BYTES, HeadFacts, MAX_HEAD_BYTES};
use crate::tls;
use crate::watchdog::{self, Activity, Counted, Expired, Limits, Watched};

/// A connection being served, to its end or its time limit.
type Connection = Pin<Box<dyn Future<Output = Option<Expired>> + Send>>;

/// Streams one HTTP/2 connection may have open at once.
const MAX_STREAMS: u32 = 100;

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
    pub(crate) fn new(
        addr: SocketAddr,
        public_url: String,
        (api_token, token_generated): (String, bool),
        origin_endpoint: String,
        serving: (oneshot::Sender<()>, tokio::task::JoinHandle<()>),
    ) -> Self {
        Self { addr, public_url, api_token, token_generated, origin_endpoint, shutdown: Some(serving.0), task: serving.1 }
    }

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

/// How a gateway serves its connections.
#[derive(Clone)]
pub struct Serving {
    /// How long open connections may finish after the stop.
    pub grace: Duration,
    pub limits: Limits,
    /// TLS (with ALPN h2 and http/1.1); `None`: plain HTTP/1.1.
    pub tls: Option<TlsAcceptor>,
}

/// Serves `app` on `listener` in the background until the returned sender fires; then stops
/// accepting and gives open connections up to `grace` to finish.
pub fn spawn(listener: TcpListener, app: Arc<App>, serving: Serving) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel();
    (tx, tokio::spawn(serve(listener, app, rx, serving)))
}

async fn serve(listener: TcpListener, app: Arc<App>, mut shutdown: oneshot::Receiver<()>, serving: Serving) {
    let connections = TaskTracker::new();
    let stopping = CancellationToken::new();
    let serving = Arc::new(serving);
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
        connections.spawn(connection(socket, peer, app.clone(), serving.clone(), stopping.clone()));
    }
    drop(listener);
    let grace = serving.grace;
    tracing::info!(timeout_secs = grace.as_secs(), "shutting down: no new connections; letting in-flight requests finish");
    stopping.cancel();
    connections.close();
    tokio::select! {
        () = connections.wait() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!("shutdown timeout reached; dropping the remaining connections"),
    }
}

/// One connection's life: TLS handshake (when configured), then HTTP/2 if ALPN chose it or
/// HTTP/1.1, raced against the time limits.
async fn connection(socket: TcpStream, peer: SocketAddr, app: Arc<App>, serving: Arc<Serving>, stopping: CancellationToken) {
    let _ = socket.set_nodelay(true);
    let metrics = app.metrics.clone();
    metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    let activity = Activity::new();
    let io = Watched::new(socket, activity.clone());
    let limits = serving.limits;
    let stop = stopping.cancelled_owned();
    let expired = match &serving.tls {
        None => http1(io, peer, app, activity, limits, stop).await,
        Some(acceptor) => match tokio::time::timeout(limits.head, acceptor.accept(io)).await {
            Ok(Ok(tls)) if tls::negotiated_h2(&tls) => http2(tls, peer, app, activity, limits, stop).await,
            Ok(Ok(tls)) => http1(tls, peer, app, activity, limits, stop).await,
            // A failed or slow handshake: nothing was asked, nothing to answer.
            Ok(Err(_)) | Err(_) => None,
        },
    };
    if let Some(why) = expired {
        metrics.connection_timed_out(why);
        tracing::debug!(reason = why.as_str(), "connection ended by a time limit");
    }
    metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
}

fn http1<IO>(
    io: IO,
    peer: SocketAddr,
    app: Arc<App>,
    activity: Arc<Activity>,
    limits: Limits,
    stop: WaitForCancellationFutureOwned,
) -> Connection
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (io, facts) = Guarded::new(io, activity.clone());
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |request| {
        let in_flight = requests.request();
        let (app, raw) = (app.clone(), facts.lock().ok().and_then(|mut f| f.pop_front()).unwrap_or_default());
        async move { Ok::<_, Infallible>(app.handle(request, peer, raw).await.map(|body| Counted::new(body, in_flight))) }
    });
    // hyper reads heads up to its buffer's size; `app` answers those over the documented
    // limit with 431 (hyper itself would only close the connection). Its own head timer is
    // off: it would also run between requests, where the idle limit applies (`watchdog`).
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_buf_size(HEAD_BUFFER_BYTES)
        .serve_connection(TokioIo::new(io), service);
    Box::pin(watchdog::drive(conn, activity, limits, stop))
}

/// HTTP/2 requests carry their host as `:authority` (hyper puts it in the URI) and usually no
/// `Host` header; the gateway and the core read `Host`, as on HTTP/1.1, so it is filled in from
/// the authority when missing. A request that has both keeps both, and the core refuses it if
/// they differ. The head's size is bounded by HTTP/2's own header-list limit; a `#fragment` in
/// `:path` is not valid HTTP/2 (RFC 9113 §8.3.1) and cannot be seen here (the `http` crate drops it).
fn http2<IO>(
    io: IO,
    peer: SocketAddr,
    app: Arc<App>,
    activity: Arc<Activity>,
    limits: Limits,
    stop: WaitForCancellationFutureOwned,
) -> Connection
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let in_flight = requests.request();
        if !request.headers().contains_key(HOST)
            && let Some(host) = request.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            request.headers_mut().insert(HOST, host);
        }
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(request, peer, HeadFacts::default()).await.map(|body| Counted::new(body, in_flight))) }
    });
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD_BYTES as u32)
        .max_concurrent_streams(MAX_STREAMS)
        .serve_connection(TokioIo::new(io), service);
    Box::pin(watchdog::drive(conn, activity, limits, stop))
}
