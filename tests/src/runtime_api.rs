//! A stand-in for the Lambda Runtime API (what `cargo lambda watch` and the real Lambda service
//! provide): it hands queued events to a function binary and collects its answers. With it the
//! tests run the real `bootstrap` binaries, wiring and all.
//!
//! Endpoints (2018-06-01): `GET /runtime/invocation/next`, `POST /runtime/invocation/{id}/response`,
//! `POST /runtime/invocation/{id}/error`, `POST /runtime/init/error`.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, Notify};

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Value)>,
    answers: HashMap<String, Result<Value, Value>>,
    init_error: Option<Value>,
}

#[derive(Clone, Default)]
pub struct RuntimeApi {
    state: Arc<Mutex<State>>,
    queued: Arc<Notify>,
    answered: Arc<Notify>,
    /// When the function first asked for an invocation: the end of its init phase.
    first_poll: Arc<std::sync::OnceLock<std::time::Instant>>,
}

impl RuntimeApi {
    /// Starts serving on 127.0.0.1 (a free port); returns the API and its `host:port`.
    pub async fn start() -> (Self, SocketAddr) {
        let api = Self::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind runtime api");
        let addr = listener.local_addr().unwrap();
        let server = api.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let api = api.clone();
                        async move { Ok::<_, Infallible>(api.route(request).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        (api, addr)
    }

    /// Queues `event` and waits (bounded) for the function's answer: `Ok(response)` or
    /// `Err(error report)`.
    pub async fn invoke(&self, request_id: &str, event: Value) -> Result<Value, Value> {
        self.state.lock().await.queue.push_back((request_id.to_owned(), event));
        self.queued.notify_waiters();
        self.queued.notify_one();
        let wait = async {
            loop {
                let answered = self.answered.notified();
                {
                    let mut state = self.state.lock().await;
                    if let Some(answer) = state.answers.remove(request_id) {
                        return answer;
                    }
                    if let Some(error) = &state.init_error {
                        return Err(error.clone());
                    }
                }
                answered.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait).await.expect("the function answered within 30 s")
    }

    /// When the function first polled `GET /runtime/invocation/next` (its init phase ended), if it has.
    pub fn first_poll(&self) -> Option<std::time::Instant> {
        self.first_poll.get().copied()
    }

    async fn route(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = request.uri().path().to_owned();
        let method = request.method().clone();
        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let json = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["2018-06-01", "runtime", "invocation", "next"]) => {
                let _ = self.first_poll.set(std::time::Instant::now());
                let (id, event) = loop {
                    let queued = self.queued.notified();
                    if let Some(next) = self.state.lock().await.queue.pop_front() {
                        break next;
                    }
                    queued.await;
                };
                let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 30_000;
                Response::builder()
                    .header("lambda-runtime-aws-request-id", id)
                    .header("lambda-runtime-deadline-ms", deadline.to_string())
                    .header("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:test")
                    .header("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000")
                    .body(Full::new(Bytes::from(event.to_string())))
                    .unwrap()
            }
            ("POST", ["2018-06-01", "runtime", "invocation", id, outcome @ ("response" | "error")]) => {
                let answer = if *outcome == "response" { Ok(json()) } else { Err(json()) };
                self.state.lock().await.answers.insert((*id).to_owned(), answer);
                self.answered.notify_waiters();
                Response::builder().status(202).body(Full::new(Bytes::new())).unwrap()
            }
            ("POST", ["2018-06-01", "runtime", "init", "error"]) => {
                self.state.lock().await.init_error = Some(json());
                self.answered.notify_waiters();
                Response::builder().status(202).body(Full::new(Bytes::new())).unwrap()
            }
            _ => Response::builder().status(404).body(Full::new(Bytes::new())).unwrap(),
        }
    }
}

/// A function process as the Lambda service starts it: a clean environment with the Runtime
/// API's address and the function's identity, static test credentials (no files, no instance
/// metadata), and SSM and DynamoDB pointed at the stand-ins. Callers add their own variables
/// and decide where stdout and stderr go.
pub fn function_command(binary: &std::path::Path, api: SocketAddr, function_name: &str) -> tokio::process::Command {
    let e = crate::emulators();
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{function_name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_ENDPOINT_URL_SSM", &e.moto)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &e.dynamodb_local)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    command
}

/// The path of a binary built in this workspace (`cargo build --workspace` builds them all).
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>/deps/.. = target/<profile>
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built: run `cargo build --workspace` first", path.display());
    path
}
