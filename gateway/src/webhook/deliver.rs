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
//! The outbox is read and written on the blocking pool (a write waits for the ledger writer's
//! commit in progress), and the task never holds anything a request needs, so a download never
//! waits for a delivery. At the stop, an attempt in flight is abandoned: its event stays in the
//! outbox and goes out after the restart.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full, Limited};
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::outbox::{Backlog, Outbox, Pending, Wake};
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
                // Delivered again later: at least once allows it.
                tracing::warn!(%error, "cannot delete delivered events from the webhook outbox");
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
        let outbox = self.outbox.clone();
        let (pending, backlog) = tokio::task::spawn_blocking(move || Ok::<_, redb::Error>((outbox.peek(ROUND)?, outbox.backlog()?)))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        self.stats.backlog(backlog);
        Ok(pending)
    }

    /// Deletes what was delivered; the gauges follow the table.
    async fn forget(&self, delivered: Vec<u64>) -> Result<(), String> {
        if delivered.is_empty() {
            return Ok(());
        }
        let outbox = self.outbox.clone();
        let backlog: Backlog = tokio::task::spawn_blocking(move || {
            outbox.delete(&delivered)?;
            outbox.backlog()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        self.stats.backlog(backlog);
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
    use super::*;

    #[test]
    fn the_event_id_header_comes_from_the_body() {
        assert_eq!(event_id(br#"{"id":"evt_abc","type":"link.used"}"#).unwrap(), "evt_abc");
        assert!(event_id(br#"{"type":"link.used"}"#).is_none());
        assert!(event_id(br#"{"id":7}"#).is_none());
        assert!(event_id(b"not json").is_none());
        assert!(event_id(b"{\"id\":\"evt\\nbad\"}").is_none(), "no header injection");
    }
}
