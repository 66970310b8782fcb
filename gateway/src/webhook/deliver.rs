//! The deliverer: one task that takes the outbox's events in sequence order and POSTs them, one
//! at a time, until the receiver answers 2xx.
//!
//! ```text
//! loop: read up to 32 pending events ─► none: wait for a wake, 5 s, or the stop
//!        └─► each in order: POST (10 s) ─► 2xx: note it delivered ─► next
//!                                      └─► anything else: stop the round, wait the backoff
//!       delete the delivered ones (one unsynced transaction), update the gauges
//! ```
//!
//! One at a time, in order: a receiver sees events in the order they happened, and a receiver
//! that is down is asked once per backoff step, not once per pending event. The cost is
//! throughput bounded by one round trip per event, which a receiver answering in a few
//! milliseconds keeps well above a gateway's rate of uses; and an event the receiver keeps
//! refusing holds up those behind it (visible as `oncelink_webhook_oldest_pending_seconds`): a
//! receiver should answer 2xx to an event it does not want.
//!
//! The outbox is in the ledger's memory (reading it, or forgetting what was delivered, takes the
//! ledger's lock for a moment and never waits for the disk), and the task never holds anything a
//! request needs, so a download never waits for a delivery. At the stop, an attempt in flight is abandoned: its event stays in the
//! outbox and goes out after the restart.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full, Limited};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::outbox::{Outbox, Pending, Wake};
use super::signature;
use super::stats::{Outcome, Stats};
use super::target::Target;
use crate::origin::HttpClient;

/// How long one attempt may take, from connecting to the end of the answer.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the outbox is read with no wake (events appended by an earlier run, a missed wake).
const POLL: Duration = Duration::from_secs(5);
/// Events read per round.
const ROUND: usize = 32;
/// An answer's body is read (so the connection can be reused) up to this size, then dropped.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The header naming the event (the same on every attempt: receivers drop duplicates by it).
pub const EVENT_ID_HEADER: &str = "oncelink-event-id";

/// Everything one deliverer needs.
pub struct Deliverer {
    pub outbox: Outbox,
    pub wake: Wake,
    pub target: Target,
    /// The signing secret (never logged).
    pub secret: String,
    pub client: HttpClient,
    pub stats: Arc<Stats>,
}

/// How one attempt ended, with what the log may say about it.
struct Attempt {
    outcome: Outcome,
    status: Option<u16>,
    error: Option<String>,
}

impl Deliverer {
    /// Delivers until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let mut backoff = Backoff::default();
        loop {
            let pending = match self.read().await {
                Ok(pending) => pending,
                Err(error) => {
                    tracing::warn!(%error, "cannot read the webhook outbox; trying again shortly");
                    Vec::new()
                }
            };
            if pending.is_empty() {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
                continue;
            }
            let mut delivered = Vec::with_capacity(pending.len());
            let mut retry_in = None;
            for event in &pending {
                let attempt = tokio::select! {
                    () = stop.cancelled() => break,
                    attempt = self.attempt(event) => attempt,
                };
                self.stats.attempted(attempt.outcome);
                if attempt.outcome == Outcome::Delivered {
                    if backoff.failures() > 0 {
                        tracing::info!(seq = event.seq, failures = backoff.failures(), "webhook receiver took an event again");
                    }
                    backoff.succeeded();
                    delivered.push(event.seq);
                    continue;
                }
                let wait = backoff.failed();
                tracing::warn!(
                    seq = event.seq,
                    outcome = attempt.outcome.as_str(),
                    status = attempt.status,
                    error = attempt.error.as_deref(),
                    failures = backoff.failures(),
                    retry_in_ms = wait.as_millis() as u64,
                    "webhook delivery failed; it will be retried"
                );
                retry_in = Some(wait);
                break;
            }
            if let Err(error) = self.forget(delivered).await {
                // Delivered again later, which at least once allows; not at once, though: a
                // table that cannot be written would otherwise resend the round in a loop.
                tracing::warn!(%error, "cannot delete delivered events from the webhook outbox");
                retry_in = Some(retry_in.unwrap_or(POLL).max(POLL));
            }
            if stop.is_cancelled() {
                return;
            }
            if let Some(wait) = retry_in {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }

    /// The next round's events; the gauges follow the table.
    async fn read(&self) -> Result<Vec<Pending>, String> {
        let pending = self.outbox.peek(ROUND).map_err(|e| e.to_string())?;
        self.stats.backlog(self.outbox.backlog().map_err(|e| e.to_string())?);
        Ok(pending)
    }

    /// Deletes what was delivered; the gauges follow the table.
    async fn forget(&self, delivered: Vec<u64>) -> Result<(), String> {
        if delivered.is_empty() {
            return Ok(());
        }
        self.outbox.delete(&delivered).map_err(|e| e.to_string())?;
        self.stats.backlog(self.outbox.backlog().map_err(|e| e.to_string())?);
        Ok(())
    }

    /// One POST of `event`, signed now.
    async fn attempt(&self, event: &Pending) -> Attempt {
        let request = match self.request(event) {
            Ok(request) => request,
            Err(error) => return Attempt { outcome: Outcome::Unreachable, status: None, error: Some(error) },
        };
        let exchange = async {
            let answer = self.client.request(request).await?;
            let status = answer.status();
            // Read (and drop) a bounded answer so the connection can carry the next event.
            let _ = Limited::new(answer.into_body(), MAX_ANSWER_BYTES).collect().await;
            Ok::<_, hyper_util::client::legacy::Error>(status)
        };
        match tokio::time::timeout(ATTEMPT_TIMEOUT, exchange).await {
            Ok(Ok(status)) if status.is_success() => Attempt { outcome: Outcome::Delivered, status: Some(status.as_u16()), error: None },
            Ok(Ok(status)) => Attempt { outcome: Outcome::Refused, status: Some(status.as_u16()), error: None },
            Ok(Err(error)) => Attempt { outcome: Outcome::Unreachable, status: None, error: Some(innermost(&error)) },
            Err(_) => Attempt { outcome: Outcome::Timeout, status: None, error: None },
        }
    }

    fn request(&self, event: &Pending) -> Result<Request<crate::origin::Body>, String> {
        let mut request = Request::post(self.target.uri().clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("oncelink/", env!("CARGO_PKG_VERSION")))
            .header(signature::HEADER, signature::sign(&self.secret, SystemTime::now(), &event.body));
        match event_id(&event.body) {
            Some(id) => request = request.header(EVENT_ID_HEADER, id),
            // Still delivered (never dropped), and still signed; the receiver cannot dedupe it.
            None => tracing::warn!(seq = event.seq, "webhook event without a usable \"id\"; sent without Oncelink-Event-Id"),
        }
        let body = Full::new(Bytes::from(event.body.clone())).map_err(|never| match never {}).boxed();
        request.body(body).map_err(|e| e.to_string())
    }
}

/// The event's `"id"`, if it is one a header can carry.
fn event_id(body: &[u8]) -> Option<HeaderValue> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    HeaderValue::from_str(value.get("id")?.as_str()?).ok()
}

/// The root cause of a client error ("Connection refused (os error 111)"): it names no URL.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use http::Response;
    use hyper_util::rt::TokioIo;
    use oncelink::ledger::Ledger;
    use oncelink_testkit::{claim, key};

    use super::*;
    use crate::file_ledger::FileLedger;
    use crate::origin::http_client;

    /// What a receiver got: the event id header, the body, whether the signature verified.
    type Got = Arc<Mutex<Vec<(String, String, bool)>>>;

    /// A loopback receiver that refuses its first `refusals` requests with 503, then takes all.
    async fn receiver(secret: &'static str, refusals: usize) -> (Target, Got) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = Target::parse(&format!("http://{}/hook", listener.local_addr().unwrap())).unwrap();
        let got: Got = Arc::default();
        let keep = got.clone();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let got = keep.clone();
                let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let got = got.clone();
                    async move {
                        let id = request.headers().get(EVENT_ID_HEADER).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                        let header = request.headers()[signature::HEADER].to_str().unwrap().to_owned();
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let t: u64 = header.strip_prefix("t=").unwrap().split(',').next().unwrap().parse().unwrap();
                        let at = std::time::UNIX_EPOCH + Duration::from_secs(t);
                        let fresh = SystemTime::now().duration_since(at).unwrap_or_default() < Duration::from_secs(60);
                        let verified = fresh && signature::sign(secret, at, &body) == header;
                        let mut got = got.lock().unwrap();
                        got.push((id, String::from_utf8(body.to_vec()).unwrap(), verified));
                        let status = if got.len() <= refusals { 503 } else { 200 };
                        Ok::<_, std::convert::Infallible>(Response::builder().status(status).body(Full::new(Bytes::new())).unwrap())
                    }
                });
                tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service));
            }
        });
        (target, got)
    }

    /// The ids of the events a ledger holds, in order.
    fn ids(outbox: &Outbox) -> Vec<String> {
        outbox.peek(100).unwrap().iter().map(|p| event_id(&p.body).unwrap().to_str().unwrap().to_owned()).collect()
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// In order, one at a time: a refusal is retried (the same event, signed afresh) before the
    /// next goes; what was taken leaves the outbox; a wake sends a new event without waiting
    /// for the poll.
    #[tokio::test]
    async fn delivers_in_order_retries_a_refusal_and_empties_the_outbox() {
        let secret = "whsec-test-0123456789abcdef";
        let dir = tempfile::tempdir().unwrap();
        let wake = Wake::default();
        let ledger = FileLedger::open_with_outbox(&dir.path().join("ledger.journal"), wake.clone()).unwrap();
        let now = SystemTime::now();
        // Two uses of a two-use link: used, used, exhausted.
        ledger.claim(&claim(&key("a"), "r1", now, 2)).await.unwrap();
        ledger.claim(&claim(&key("a"), "r2", now, 2)).await.unwrap();
        let outbox = Outbox::new(ledger.events());
        let first = ids(&outbox);
        assert_eq!(first.len(), 3);
        let (target, got) = receiver(secret, 1).await;
        let stats = Arc::new(Stats::default());
        let running =
            crate::webhook::Delivering::spawn(ledger.events(), wake.clone(), target, secret.into(), http_client().unwrap(), stats.clone());

        until("four attempts", || got.lock().unwrap().len() >= 4).await;
        until("an empty outbox", || outbox.backlog().unwrap().pending == 0).await;
        let ids: Vec<String> = got.lock().unwrap().iter().map(|(id, _, _)| id.clone()).collect();
        assert_eq!(ids, [first[0].clone(), first[0].clone(), first[1].clone(), first[2].clone()]);
        assert!(got.lock().unwrap().iter().all(|(id, body, verified)| *verified && body.contains(id.as_str())));
        let mut metrics = String::new();
        stats.render(&mut metrics);
        assert!(metrics.contains("outcome=\"delivered\"} 3\n") && metrics.contains("outcome=\"refused\"} 1\n"), "{metrics}");

        let sent = tokio::time::Instant::now();
        ledger.revoke(&key("a"), now, now + Duration::from_secs(60)).await.unwrap();
        until("the woken delivery", || got.lock().unwrap().len() == 5).await;
        assert!(sent.elapsed() < POLL, "woken, not polled: {:?}", sent.elapsed());
        running.stop().await;
    }

    #[test]
    fn the_event_id_header_comes_from_the_body() {
        assert_eq!(event_id(br#"{"id":"evt_abc","type":"link.used"}"#).unwrap(), "evt_abc");
        assert!(event_id(br#"{"type":"link.used"}"#).is_none());
        assert!(event_id(br#"{"id":7}"#).is_none());
        assert!(event_id(b"not json").is_none());
        assert!(event_id(b"{\"id\":\"evt\\nbad\"}").is_none(), "no header injection");
    }
}
