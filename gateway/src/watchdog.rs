//! How long a connection may sit without moving a byte.
//!
//! A gateway facing the internet meets clients that open connections and go quiet, that send
//! half a head and stop (slowloris), and that stop reading a download or sending an upload in
//! the middle. Each holds a socket, a task and, for a transfer, a held use. Three limits end
//! them; all three count time *without progress*, so a slow transfer that keeps moving is never
//! cut, however long it takes:
//!
//! | state | limit | default |
//! |---|---|---|
//! | no request in flight (keep-alive, or before the first request) | `--idle-timeout` | 60 s |
//! | an HTTP/1.1 head begun but not finished | `--head-timeout`, from its first byte, moving or not | 15 s |
//! | a request in flight, its body (up or down) not moving | `--body-timeout` | 30 s |
//!
//! [`Watched`] wraps the connection's I/O and notes every read and write that moved bytes;
//! [`InFlight`] counts the requests between their arrival and the end of their response body;
//! [`Activity::expired`] is the rule. The server races each connection against
//! [`Activity::watch`] and drops the connection when it fires: for a transfer that is a cut-off
//! delivery, which the proxy settles as such (a use not delivered is not lost).
//!
//! An HTTP/2 connection that is idle gets a GOAWAY first (the server's graceful shutdown).
//! Nothing here sends HTTP/2 pings: a ping answered would count as progress on a connection
//! that carries nothing.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest the watch sleeps between looks (so a limit that a state change shortened is
/// noticed at most this late).
const LOOK_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// The configurable limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// No request in flight.
    pub idle: Duration,
    /// A request in flight whose body does not move.
    pub body: Duration,
    /// An HTTP/1.1 head (and a TLS handshake), from its first byte.
    pub head: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { idle: Duration::from_secs(60), body: Duration::from_secs(30), head: Duration::from_secs(15) }
    }
}

/// Why a connection was ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Expired {
    /// Nothing in flight and nothing moved for the idle limit.
    Idle = 0,
    /// A head took longer than the head limit.
    Head = 1,
    /// A request in flight moved nothing for the body limit.
    Stalled = 2,
}

impl Expired {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Head => "head",
            Self::Stalled => "stalled",
        }
    }
}

/// Milliseconds since the process's first look at the clock; 0 means "never".
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// What one connection has been doing.
#[derive(Debug)]
pub struct Activity {
    last_progress: AtomicU64,
    head_since: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { last_progress: AtomicU64::new(now_ms()), head_since: AtomicU64::new(0), in_flight: AtomicUsize::new(0) })
    }

    fn progressed(&self) {
        self.last_progress.store(now_ms(), Ordering::Relaxed);
    }

    /// An HTTP/1.1 head is being read (`true`) or none is (`false`).
    pub fn reading_head(&self, reading: bool) {
        if !reading {
            self.head_since.store(0, Ordering::Relaxed);
        } else if self.head_since.load(Ordering::Relaxed) == 0 {
            self.head_since.store(now_ms(), Ordering::Relaxed);
        }
    }

    /// A request arrived; it counts as in flight until the guard (moved into its response
    /// body by [`Counted`]) is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.progressed();
        InFlight(self.clone())
    }

    /// The rule, at `now` (ms): which limit has passed, if any, or how long until one may.
    fn expired(&self, limits: &Limits, now: u64) -> Result<Expired, Duration> {
        let since = |t: u64| Duration::from_millis(now.saturating_sub(t));
        let quiet = since(self.last_progress.load(Ordering::Relaxed));
        let head = self.head_since.load(Ordering::Relaxed);
        let in_flight = self.in_flight.load(Ordering::Relaxed) > 0;
        let mut wait = LOOK_AT_MOST_EVERY;
        if head != 0 && !in_flight {
            let taken = since(head);
            if taken >= limits.head {
                return Ok(Expired::Head);
            }
            wait = wait.min(limits.head - taken);
        }
        let limit = if in_flight { limits.body } else { limits.idle };
        if quiet >= limit {
            return Ok(if in_flight { Expired::Stalled } else { Expired::Idle });
        }
        Err(wait.min(limit - quiet))
    }

    /// Resolves when a limit passes.
    pub async fn watch(self: Arc<Self>, limits: Limits) -> Expired {
        loop {
            match self.expired(&limits, now_ms()) {
                Ok(reason) => return reason,
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(10))).await,
            }
        }
    }
}

/// One request in flight.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.progressed();
    }
}

/// A response body that keeps its request in flight until it ends or is dropped.
pub struct Counted<B> {
    inner: B,
    guard: Option<InFlight>,
}

impl<B> Counted<B> {
    pub fn new(inner: B, guard: InFlight) -> Self {
        Self { inner, guard: Some(guard) }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Counted<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.guard = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's I/O, noting every read and write that moved bytes.
pub struct Watched<IO> {
    inner: IO,
    activity: Arc<Activity>,
}

impl<IO> Watched<IO> {
    pub fn new(inner: IO, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.progressed();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.noted(polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.noted(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<IO> Watched<IO> {
    fn noted(&self, polled: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.progressed();
        }
        polled
    }
}

/// Races `conn` against the limits; on idle, asks it to finish gracefully (HTTP/2: GOAWAY) and
/// gives it one more idle limit; otherwise drops it. `shutdown` starts a graceful finish too.
/// Returns the limit that ended the connection, if one did.
pub async fn drive<C>(conn: C, activity: Arc<Activity>, limits: Limits, shutdown: impl Future<Output = ()>) -> Option<Expired>
where
    C: hyper_util::server::graceful::GracefulConnection,
{
    let mut conn = std::pin::pin!(conn);
    let mut shutdown = std::pin::pin!(shutdown);
    let (mut finishing, mut idle) = (false, None);
    let mut watch = std::pin::pin!(activity.clone().watch(limits));
    loop {
        tokio::select! {
            _ = conn.as_mut() => return idle,
            reason = watch.as_mut() => {
                if reason != Expired::Idle || finishing {
                    return Some(reason);
                }
                conn.as_mut().graceful_shutdown();
                (finishing, idle) = (true, Some(Expired::Idle));
                activity.progressed();
                watch.set(activity.clone().watch(limits));
            }
            () = shutdown.as_mut(), if !finishing => {
                conn.as_mut().graceful_shutdown();
                finishing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { idle: Duration::from_millis(1000), body: Duration::from_millis(3000), head: Duration::from_millis(500) }
    }

    #[test]
    fn each_state_has_its_limit_and_progress_resets_the_quiet_ones() {
        let a = Activity::new();
        let t0 = a.last_progress.load(Ordering::Relaxed);
        assert!(a.expired(&limits(), t0 + 999).is_err());
        assert_eq!(a.expired(&limits(), t0 + 1000), Ok(Expired::Idle));

        let guard = a.request();
        let t1 = a.last_progress.load(Ordering::Relaxed);
        assert!(a.expired(&limits(), t1 + 2999).is_err(), "a request in flight has the body limit, not the idle one");
        assert_eq!(a.expired(&limits(), t1 + 3000), Ok(Expired::Stalled));
        drop(guard);
        let t2 = a.last_progress.load(Ordering::Relaxed);
        assert_eq!(a.expired(&limits(), t2 + 1000), Ok(Expired::Idle), "back to idle once the response ended");
    }

    #[test]
    fn a_head_has_a_limit_of_its_own_that_progress_does_not_reset() {
        let a = Activity::new();
        a.reading_head(true);
        let started = a.head_since.load(Ordering::Relaxed);
        a.progressed();
        assert!(a.expired(&limits(), started + 499).is_err());
        assert_eq!(a.expired(&limits(), started + 500), Ok(Expired::Head));
        a.reading_head(false);
        assert!(a.expired(&limits(), started + 500).is_err());
    }

    #[test]
    fn the_wait_until_the_next_look_is_bounded() {
        let a = Activity::new();
        let t0 = a.last_progress.load(Ordering::Relaxed);
        let long = Limits { idle: Duration::from_secs(60), ..limits() };
        assert_eq!(a.expired(&long, t0), Err(LOOK_AT_MOST_EVERY));
        assert_eq!(a.expired(&limits(), t0 + 900), Err(Duration::from_millis(100)));
    }
}
