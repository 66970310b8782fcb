//! A fault-injecting HTTP proxy, put between the validator and an AWS stand-in (DynamoDB Local,
//! moto) to see what the edge does when the network or the service misbehaves.
//!
//! ```text
//! EdgeService ──SDK──► FaultProxy (127.0.0.1:random) ──► DynamoDB Local / moto
//!                          │ set(Fault::…) decides, request by request, what happens
//! ```
//!
//! Faults: `Refuse` (nothing listens: connection refused), `Hangup` (the connection is closed
//! mid-exchange, no answer), `Delay` (answer late, past the SDK's timeouts), `AwsError` (the
//! proxy answers itself with an AWS JSON error, e.g. throttling or a 5xx), and `LoseAnswer` (the
//! request reaches the service, the answer never reaches the client: a write that happened but
//! whose success was lost). A fault may be limited to the next N requests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Pass every request through.
    None,
    /// Nothing listens on the port: new connections are refused, open ones are closed.
    Refuse,
    /// Close the connection as soon as a request arrives, without an answer.
    Hangup,
    /// Hold the request this long before passing it on.
    Delay(Duration),
    /// Answer with `status` and an AWS JSON error of type `aws_type`, without passing it on.
    AwsError { status: u16, aws_type: &'static str },
    /// Pass the request on, then close the connection instead of answering.
    LoseAnswer,
}

/// DynamoDB's throttling error (HTTP 400).
pub const DYNAMODB_THROTTLED: Fault =
    Fault::AwsError { status: 400, aws_type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException" };
/// DynamoDB's internal error (HTTP 500).
pub const DYNAMODB_INTERNAL_ERROR: Fault =
    Fault::AwsError { status: 500, aws_type: "com.amazonaws.dynamodb.v20120810#InternalServerError" };
/// SSM's throttling error (HTTP 400).
pub const SSM_THROTTLED: Fault = Fault::AwsError { status: 400, aws_type: "ThrottlingException" };
/// A 503 from any service.
pub const SERVICE_UNAVAILABLE: Fault = Fault::AwsError { status: 503, aws_type: "ServiceUnavailable" };

struct State {
    upstream: String,
    client: reqwest::Client,
    /// The fault, and for how many more requests it holds (`None`: until changed).
    fault: Mutex<(Fault, Option<usize>)>,
    listening: watch::Sender<bool>,
    /// Requests that arrived at the proxy.
    seen: AtomicUsize,
    /// Requests passed on to the stand-in.
    forwarded: AtomicUsize,
}

impl State {
    /// The fault for the request that just arrived (counting down a limited one).
    fn next_fault(&self) -> Fault {
        let mut guard = self.fault.lock().unwrap();
        let fault = guard.0.clone();
        if let Some(left) = guard.1.as_mut() {
            *left -= 1;
            if *left == 0 {
                *guard = (Fault::None, None);
                let _ = self.listening.send(true);
            }
        }
        fault
    }
}

/// A running proxy. Dropping it stops it.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (e.g. `http://127.0.0.1:8000`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let (listening, _) = watch::channel(true);
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder().no_proxy().build().expect("an HTTP client"),
            fault: Mutex::new((Fault::None, None)),
            listening,
            seen: AtomicUsize::new(0),
            forwarded: AtomicUsize::new(0),
        });
        let task = tokio::spawn(accept_loop(listener, addr, state.clone()));
        Self { addr, state, task }
    }

    /// The endpoint URL to give the SDK.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, every request meets `fault`.
    pub fn set(&self, fault: Fault) {
        self.apply(fault, None);
    }

    /// The next `n` requests meet `fault`; then everything passes again.
    pub fn set_for_next(&self, n: usize, fault: Fault) {
        assert!(n > 0, "a fault for zero requests");
        self.apply(fault, Some(n));
    }

    fn apply(&self, fault: Fault, count: Option<usize>) {
        let refuse = fault == Fault::Refuse;
        *self.state.fault.lock().unwrap() = (fault, count);
        let _ = self.state.listening.send(!refuse);
    }

    /// Requests that arrived at the proxy so far (refused connections never arrive).
    pub fn seen(&self) -> usize {
        self.state.seen.load(Ordering::SeqCst)
    }

    /// Requests the stand-in received so far.
    pub fn forwarded(&self) -> usize {
        self.state.forwarded.load(Ordering::SeqCst)
    }
}

/// Accepts while the proxy should listen; closes the socket (so connections are refused) while
/// it should not, and binds the same port again afterwards.
async fn accept_loop(listener: TcpListener, addr: SocketAddr, state: Arc<State>) {
    let mut listener = Some(listener);
    let mut listening = state.listening.subscribe();
    loop {
        let should_listen = *listening.borrow_and_update();
        match (&listener, should_listen) {
            (Some(_), false) => listener = None,
            (None, true) => match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(_) => {
                    // The port is still in TIME_WAIT on some kernels: try again shortly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ => {}
        }
        match &listener {
            Some(l) => tokio::select! {
                accepted = l.accept() => {
                    if let Ok((stream, _)) = accepted {
                        let state = state.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                        });
                    }
                }
                _ = listening.changed() => {}
            },
            None => {
                if listening.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Why the proxy closed a connection instead of answering (hyper then drops the connection).
#[derive(Debug)]
struct Closed(&'static str);

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Closed {}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Closed> {
    state.seen.fetch_add(1, Ordering::SeqCst);
    match state.next_fault() {
        Fault::None => forward(&state, request).await,
        Fault::Refuse => Err(Closed("refusing: closing open connections too")),
        Fault::Hangup => Err(Closed("hang up mid-exchange")),
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            forward(&state, request).await
        }
        Fault::AwsError { status, aws_type } => {
            let body = serde_json::json!({"__type": aws_type, "message": "injected by the fault proxy"}).to_string();
            Ok(Response::builder()
                .status(status)
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amzn-requestid", "fault-proxy")
                .body(Full::new(Bytes::from(body)))
                .expect("a valid response"))
        }
        Fault::LoseAnswer => {
            forward(&state, request).await?;
            Err(Closed("the answer is lost on the way back"))
        }
    }
}

/// Passes one request to the stand-in and its answer back (headers that describe the
/// connection or the framing are left to each side).
async fn forward(state: &State, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Closed> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Closed("client body unreadable"))?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|_| Closed("bad method"))?;
    let mut upstream = state.client.request(method, format!("{}{path}", state.upstream)).body(body);
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    state.forwarded.fetch_add(1, Ordering::SeqCst);
    let answer = upstream.send().await.map_err(|_| Closed("stand-in unreachable"))?;
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if !matches!(name.as_str(), "content-length" | "connection" | "transfer-encoding") {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = answer.bytes().await.map_err(|_| Closed("stand-in answer unreadable"))?;
    response.body(Full::new(bytes)).map_err(|_| Closed("bad answer"))
}
