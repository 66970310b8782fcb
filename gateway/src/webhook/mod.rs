//! The deployment's webhook (`--webhook-url`): every link event — a use, the last use, a
//! revocation, a refusal (`oncelink::events`) — POSTed to one URL, signed, at least once, from a
//! durable outbox in the data dir.
//!
//! ```text
//! a change (file ledger) ─► its record and its events, in one journal frame ─► synced ─► wake
//! deliverer task (its own):  outbox, in order ─► POST, signed ─► 2xx ─► forget
//!                                                             └─► else ─► backoff (1 s … 5 min), again
//! ```
//!
//! * **Durable exactly when the use is.** The events are written in the journal frame that holds
//!   the change to the link ([`outbox`]), so a use that survived `kill -9` has its events stored,
//!   and an event never tells of a change that was lost. This is why a webhook needs the file
//!   ledger: the other ledgers' writes are not in its journal.
//! * **At least once.** An event leaves the outbox only after a 2xx answer. Anything else — another
//!   status, a redirect, no answer within 10 s, no connection — is retried with exponential
//!   backoff and jitter ([`backoff`]), with no last attempt. A crash or restart resumes from the
//!   journal; an attempt cut off by one, or a forget lost with one (forgets are not synced), means
//!   the event is delivered again, with the same `id` and body: receivers dedupe on
//!   `Oncelink-Event-Id`.
//! * **Never in a request's way.** The deliverer is its own task ([`deliver`]); a use commits and
//!   answers the viewer whatever the receiver does.
//! * **Signed and timestamped** ([`signature`]): `Oncelink-Signature: t=…,v1=…`, HMAC-SHA256 with
//!   the secret from `ONCELINK_WEBHOOK_SECRET` or `<data dir>/webhook.secret` (generated on first
//!   start). The secret is never logged, nor is an event's content.
//! * **Watched** ([`stats`]): the backlog, the age of its oldest event, every attempt's outcome.
//!
//! Turning the webhook off stops appending; events still in the outbox go out when it is on again.

pub mod backoff;
pub mod deliver;
pub mod outbox;
pub mod signature;
pub mod stats;
pub mod target;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use deliver::Deliverer;
pub use outbox::{Outbox, Wake};
pub use stats::Stats;
pub use target::{Target, TargetError};

use crate::file_ledger::EventQueue;
use crate::origin::HttpClient;

/// A running deliverer.
pub struct Delivering {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Delivering {
    /// Starts delivering the file ledger's `events` to `target`, woken by `wake`.
    pub fn spawn(events: EventQueue, wake: Wake, target: Target, secret: String, client: HttpClient, stats: Arc<Stats>) -> Self {
        let stop = CancellationToken::new();
        let deliverer = Deliverer { outbox: Outbox::new(events), wake, target, secret, client, stats };
        let task = tokio::spawn(deliverer.run(stop.clone()));
        Self { stop, task }
    }

    /// Stops: an attempt in flight is abandoned (its event stays in the outbox).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
