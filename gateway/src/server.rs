//! The accept loop: HTTP/1.1 connections to the [`App`], with a time limit and a size limit on
//! request heads, and a graceful shutdown that lets in-flight transfers finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::app::App;
use crate::head_guard::{Guarded, HEAD_BUFFER_BYTES};

/// Time to read a request's head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);

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

/// Serves `app` on `listener` in the background until the returned sender fires; then stops
/// accepting and gives open connections up to `grace` to finish.
pub fn spawn(listener: TcpListener, app: Arc<App>, grace: Duration) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel();
    (tx, tokio::spawn(serve(listener, app, rx, grace)))
}

async fn serve(listener: TcpListener, app: Arc<App>, mut shutdown: oneshot::Receiver<()>, grace: Duration) {
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
        let (socket, facts) = Guarded::new(socket);
        let app = app.clone();
        let service = hyper::service::service_fn(move |request| {
            let (app, raw) = (app.clone(), facts.lock().ok().and_then(|mut f| f.pop_front()).unwrap_or_default());
            async move { Ok::<_, Infallible>(app.handle(request, peer, raw).await) }
        });
        // hyper reads heads up to its buffer's size; `app` answers those over the documented
        // limit with 431 (hyper itself would only close the connection).
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(HEAD_BUFFER_BYTES)
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
