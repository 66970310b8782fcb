//! A scripted S3 stand-in on loopback, for what the embedded origin never does: fail, or take
//! its time. Each request gets the next scripted answer (the last one repeats); it answers GET
//! with `body`, and counts what it was asked.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

/// One scripted answer.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// Answer with this status (the body for 200, an S3 error document otherwise).
    Status(u16),
    /// Wait this long, then answer 200.
    Slow(Duration),
}

pub struct FakeOrigin {
    pub endpoint: String,
    pub requests: Arc<AtomicUsize>,
}

impl FakeOrigin {
    pub async fn start(script: Vec<Step>, body: &'static [u8]) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(Mutex::new(script));
        let counter = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let (script, counter) = (script.clone(), counter.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_request| {
                        let (script, counter) = (script.clone(), counter.clone());
                        async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let step = {
                                let mut script = script.lock().unwrap();
                                if script.len() > 1 { script.remove(0) } else { script[0] }
                            };
                            let status = match step {
                                Step::Status(status) => status,
                                Step::Slow(delay) => {
                                    tokio::time::sleep(delay).await;
                                    200
                                }
                            };
                            let content: Bytes = if status == 200 {
                                Bytes::from_static(body)
                            } else {
                                Bytes::from_static(b"<Error><Code>Scripted</Code></Error>")
                            };
                            let response = http::Response::builder()
                                .status(status)
                                .header("content-type", if status == 200 { "text/plain" } else { "application/xml" })
                                .body(Full::new(content))
                                .unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service).await;
                });
            }
        });
        Self { endpoint, requests }
    }

    /// Gateway arguments and environment that use this origin (credentials from the environment).
    pub fn gateway_args(&self) -> Vec<String> {
        ["--origin-endpoint", &self.endpoint, "--bucket", "fake", "--region", "us-east-1"].iter().map(|s| s.to_string()).collect()
    }

    pub fn gateway_env() -> [(&'static str, &'static str); 3] {
        [("AWS_ACCESS_KEY_ID", "AKIDFAKEORIGIN"), ("AWS_SECRET_ACCESS_KEY", "fake-origin-secret"), ("AWS_EC2_METADATA_DISABLED", "true")]
    }
}

/// Sends `head` (and nothing else) on a fresh connection to `port`; returns the status code of
/// the answer (`None` if the connection closed without one).
pub async fn raw_status(port: u16, head: &[u8]) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream.write_all(head).await.ok()?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.ok()?.ok()?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&answer);
    line.split_whitespace().nth(1)?.parse().ok()
}
