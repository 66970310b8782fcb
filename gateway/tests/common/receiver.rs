//! A webhook receiver on loopback: records every POST as it arrives (before answering), then
//! answers 200 after a delay the test can change (0: at once; long: deliveries stall in flight).
//! It can be started on a port chosen beforehand, so a gateway can point at it while it is down.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::Sha256;

/// One POST as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// `Oncelink-Event-Id`.
    pub id: String,
    pub content_type: String,
    /// `Oncelink-Signature`.
    pub signature: String,
    pub raw: Vec<u8>,
    pub body: Value,
    pub at: SystemTime,
}

impl Received {
    /// Whether the signature is `secret`'s over this body, timestamped within a minute of arrival.
    pub fn verifies(&self, secret: &str) -> bool {
        let Some((t, v1)) = self.signature.strip_prefix("t=").and_then(|rest| rest.split_once(",v1=")) else { return false };
        let Ok(t) = t.parse::<u64>() else { return false };
        let arrived = self.at.duration_since(UNIX_EPOCH).unwrap().as_secs();
        if arrived.abs_diff(t) > 60 {
            return false;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(&self.raw);
        hex::decode(v1).is_ok_and(|tag| mac.verify_slice(&tag).is_ok())
    }

    pub fn kind(&self) -> &str {
        self.body["type"].as_str().unwrap_or("?")
    }

    pub fn link_id(&self) -> &str {
        self.body["link_id"].as_str().unwrap_or("?")
    }
}

pub struct Receiver {
    pub port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    in_flight: Arc<AtomicUsize>,
    delay_ms: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// A loopback port nothing listens on (now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Receiver {
    /// Listens on `port` (0: any); answers each POST 200 after `delay`.
    pub async fn start(port: u16, delay: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let delay_ms = Arc::new(AtomicU64::new(delay.as_millis() as u64));
        let (g, f, d) = (got.clone(), in_flight.clone(), delay_ms.clone());
        let task = tokio::spawn(async move {
            // Dropped with this task: stopping the receiver closes every connection too.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((socket, _)) = listener.accept().await else { continue };
                let (got, in_flight, delay_ms) = (g.clone(), f.clone(), d.clone());
                let service = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
                    let (got, in_flight, delay_ms) = (got.clone(), in_flight.clone(), delay_ms.clone());
                    async move {
                        let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                        let (id, content_type, signature) =
                            (header("oncelink-event-id"), header("content-type"), header("oncelink-signature"));
                        let path = request.uri().path().to_owned();
                        let raw = request.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        got.lock().unwrap().push(Received { path, id, content_type, signature, raw, body, at: SystemTime::now() });
                        tokio::time::sleep(Duration::from_millis(delay_ms.load(Ordering::SeqCst))).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                connections.spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service));
            }
        });
        Self { port, got, in_flight, delay_ms, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Everything received so far, in order of arrival.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Requests received and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Waits (up to `timeout`) until `done` holds of what was received; returns it.
    pub async fn until(&self, what: &str, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            if tokio::time::Instant::now() > deadline {
                let summary: Vec<String> = got.iter().map(|r| format!("{} {} {}", r.id, r.kind(), r.link_id())).collect();
                panic!("timed out waiting for {what}; received {}:\n{}", got.len(), summary.join("\n"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}
