//! A link request's life, as named phases in the order it lives them (after Pingora's):
//!
//! ```text
//!  1 request filter   the head, read as the core reads every viewer request; an upload that
//!                     could not be passed on is refused here, before anything is spent (a
//!                     refusal in 1 or 2 reads what is left of a small upload first: `drain`)
//!  2 decision         the core's EdgeService: configuration, checks, ledger (measured, logged);
//!                     a granted GET or PUT only HOLDS its use, for at most the hold lease; a
//!                     confirm link's page and its click are answered here (a click's POST and
//!                     its body never reach the origin)
//!  3 upstream request the origin request (`upstream`); bodies streamed both ways
//!  4 settle           the origin answered with content → the use is confirmed before a byte of
//!                     the answer leaves; a refusal, an error or no answer → the use is given back
//!  5 response filter  what of the origin's answer reaches the viewer; the body is counted, and
//!                     what it delivered is recorded when it ends (complete, or cut off)
//!  6 logging          the access line, written by `app` from the context every phase filled
//! ```
//!
//! Each phase returns what the next one needs, or the response that ends the request there. The
//! per-request context ([`RequestCtx`]) is passed explicitly and is all a phase may write to. A
//! crash between 2 and 4 leaves a hold nobody resolves: it lapses after the lease and the link
//! is usable again, so nothing that fails is the viewer's loss, and nothing is delivered twice
//! (a use is confirmed before its answer is sent).

mod upstream;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use oncelink::content;
use oncelink::decision::{Forward, Ticket};
use oncelink::edge::{EdgeService, Settled, log_refusal};
use oncelink::ledger::{Delivery, Ledger};
use oncelink::{Decision, ViewerRequest};
pub use upstream::DEFAULT_ORIGIN_TIMEOUT;

use crate::answer;
use crate::app::RequestCtx;
use crate::body::{Report, Tracked};
use crate::keys::GatewayConfig;
use crate::metrics::Metrics;
use crate::origin::{Body, Origin};

/// The core's edge service on the gateway's ports.
pub type Edge = EdgeService<GatewayConfig, Arc<dyn Ledger>>;

/// How much longer than the origin's timeout a use stays held: time to confirm it.
pub const HOLD_MARGIN: Duration = Duration::from_secs(5);

/// Response headers that stay between the origin and us.
const DROPPED_RESPONSE_HEADERS: &[&str] =
    &["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authenticate", "server", "set-cookie"];

pub struct Proxy {
    pub edge: Arc<Edge>,
    pub origin: Arc<dyn Origin>,
    pub metrics: Arc<Metrics>,
    pub max_upload_bytes: u64,
    /// The origin's time to answer with a response head.
    pub origin_timeout: Duration,
    /// Serve active content types inline (still sandboxed); see `oncelink::content`.
    pub inline_active_content: bool,
}

/// Ends the request in a phase: the response to send now (boxed: it is large, and rare on the
/// path of a forwarded request).
type Early = Box<Response<Body>>;

impl Proxy {
    /// Runs the phases for one link request.
    pub async fn serve(&self, request: http::Request<Incoming>, ctx: &mut RequestCtx) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let viewer = match self.request_filter(&parts, ctx) {
            Ok(viewer) => viewer,
            Err(early) => return refuse_after_upload(*early, &parts, body).await,
        };
        let (forward, ticket) = match self.decision(&viewer, ctx).await {
            Ok(admitted) => admitted,
            Err(early) => return refuse_after_upload(*early, &parts, body).await,
        };
        let unsettled = Unsettled::new(&self.edge, ticket.as_ref(), &parts.method);
        let answer = self.upstream_request(&parts, body, &forward, ctx).await;
        unsettled.disarm();
        if let Err(early) = self.settle(ticket.as_ref(), &parts, answer.as_ref().ok().map(|a| a.status().as_u16()), ctx).await {
            return *early;
        }
        match answer {
            Ok(answer) => {
                // Only an answer with content delivers something worth recording.
                let content = oncelink::decision::delivers_content(parts.method.as_str(), answer.status().as_u16());
                self.response_filter(answer, &parts, ticket.filter(|_| content))
            }
            Err(error) => {
                self.metrics.origin_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                ctx.failure = Some(error.label());
                answer::refusal(&error)
            }
        }
    }

    /// Phase 1: the head alone may already be refused (before the decision, so before the
    /// ledger): an upload we could not pass on must not spend the link.
    fn request_filter(&self, parts: &Parts, ctx: &mut RequestCtx) -> Result<ViewerRequest, Early> {
        oncelink::http_head::viewer_request(parts, ctx.client_ip, &ctx.request_id, self.max_upload_bytes).map_err(|refusal| {
            let measured = log_refusal(&ctx.request_id, parts.method.as_str(), parts.uri.path(), &refusal);
            self.metrics.record(&measured.samples());
            ctx.decision = Some(measured.outcome);
            Box::new(answer::refusal(&refusal))
        })
    }

    /// Phase 2: the core decides; a granted request comes with its ticket.
    async fn decision(&self, viewer: &ViewerRequest, ctx: &mut RequestCtx) -> Result<(Forward, Option<Ticket>), Early> {
        let decided = self.edge.decide(viewer, SystemTime::now()).await;
        self.metrics.record(&decided.measured.samples());
        ctx.decision = Some(decided.measured.outcome);
        match decided.decision {
            Decision::Forward(forward) => Ok((forward, decided.ticket)),
            Decision::Preview => {
                let mut preview = answer::full(StatusCode::OK, "text/plain", "");
                preview.headers_mut().insert("x-robots-tag", HeaderValue::from_static("noindex"));
                Err(Box::new(preview))
            }
            Decision::Confirm(step) => Err(Box::new(answer::generated(&oncelink::confirm::answer(&step)))),
            Decision::Deny(reason) => Err(Box::new(answer::refusal(&reason))),
        }
    }

    /// Phase 4: confirm the use the origin delivered for, give back the one it did not. If a
    /// held use cannot be confirmed, nothing of the origin's answer may be delivered.
    async fn settle(&self, ticket: Option<&Ticket>, parts: &Parts, status: Option<u16>, ctx: &mut RequestCtx) -> Result<(), Early> {
        let Some(ticket) = ticket else { return Ok(()) };
        match self.edge.settle(ticket, parts.method.as_str(), status).await {
            Ok(Settled::Kept) => ctx.settled = Some("kept"),
            Ok(Settled::GivenBack) => {
                ctx.settled = Some("given_back");
                self.metrics.record(&[oncelink::metrics::use_given_back()]);
            }
            Ok(Settled::Nothing) => {}
            Err(reason) => {
                ctx.settled = Some("not_confirmed");
                return Err(Box::new(answer::refusal(&reason)));
            }
        }
        if parts.method == http::Method::PUT && ctx.settled == Some("kept") {
            let bytes = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
            let delivery = Delivery { request_id: ticket.request_id.clone(), at: SystemTime::now(), bytes, complete: true, resume: false };
            self.edge.record_delivery(ticket, &delivery).await;
        }
        Ok(())
    }

    /// Phase 5: hop-by-hop and origin-private headers stay behind; nothing is cached unless the
    /// origin says so; the object can never act with this origin's authority (nosniff, a CSP
    /// sandbox, active types as attachments: `oncelink::content`); the body streams to the
    /// viewer, counted, and a download's delivery is recorded when the body ends.
    fn response_filter(&self, answer: Response<Body>, parts: &Parts, ticket: Option<Ticket>) -> Response<Body> {
        let (mut head, body) = answer.into_parts();
        for name in DROPPED_RESPONSE_HEADERS {
            head.headers.remove(*name);
        }
        head.headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
        for (name, value) in content::OBJECT_HEADERS {
            head.headers.insert(name, HeaderValue::from_static(value));
        }
        let content_type = head.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let disposition = head.headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok());
        if !self.inline_active_content && content::needs_attachment(content_type) && !content::is_attachment(disposition) {
            head.headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
        }
        let report =
            ticket.filter(|_| parts.method == http::Method::GET).map(|t| self.delivery_report(t, head.status.as_u16(), &head.headers));
        let body = Tracked::download(body, self.metrics.clone(), report).boxed();
        Response::from_parts(head, body)
    }

    /// How a download's body reports what it delivered.
    fn delivery_report(&self, ticket: Ticket, status: u16, headers: &HeaderMap) -> Report {
        let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
        let length = text(header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
        let completes_at = oncelink::delivery::completing_bytes(status, length, text(header::CONTENT_RANGE));
        let edge = self.edge.clone();
        let record = Box::new(move |bytes, complete| {
            let resume = ticket.kind == oncelink::decision::TicketKind::Resume;
            let delivery = Delivery { request_id: ticket.request_id.clone(), at: SystemTime::now(), bytes, complete, resume };
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { edge.record_delivery(&ticket, &delivery).await });
            }
        });
        Report { completes_at, record }
    }
}

/// An answer given before the request's body was read: what is left of a small upload is read
/// first, so that clients which fail on an early answer see this one (`drain`).
async fn refuse_after_upload(answer: Response<Body>, parts: &Parts, body: Incoming) -> Response<Body> {
    crate::drain::drain(&parts.headers, body).await;
    answer
}

/// A held use while the origin is asked (phase 3). If the request is dropped there — hyper
/// drops a request's future when its connection ends — the use is given back by a task of its
/// own, so that the viewer can try again at once rather than after the hold lease. Disarmed
/// before phase 4, which resolves the hold itself: a give-back after a confirmation would free a
/// use that was delivered.
struct Unsettled {
    armed: Option<(Arc<Edge>, Ticket, http::Method)>,
}

impl Unsettled {
    fn new(edge: &Arc<Edge>, ticket: Option<&Ticket>, method: &http::Method) -> Self {
        let held = ticket.filter(|t| matches!(t.kind, oncelink::decision::TicketKind::Use { held: true }));
        Self { armed: held.map(|t| (edge.clone(), t.clone(), method.clone())) }
    }

    fn disarm(mut self) {
        self.armed = None;
    }
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        let Some((edge, ticket, method)) = self.armed.take() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = edge.settle(&ticket, method.as_str(), None).await;
            });
        }
    }
}

/// The hold lease for an origin timeout: the use must outlive the wait for the answer.
pub fn hold_lease(origin_timeout: Duration) -> Duration {
    origin_timeout + HOLD_MARGIN
}
