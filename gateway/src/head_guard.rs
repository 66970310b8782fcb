//! What hyper's types lose about a request head, read from the connection's bytes before hyper
//! parses them: a `#fragment` in the request target (`http::Uri` drops it without a word, so a
//! link with one would be spent as if it had none) and the head's exact size (the documented
//! limit is [`MAX_HEAD_BYTES`]; hyper's buffer limit is not a head limit).
//!
//! [`Guarded`] wraps the socket. Every byte hyper reads passes the core's
//! [`HeadScanner`], which follows HTTP/1.1 framing and yields one [`HeadFacts`] per request head,
//! in order; they are queued for the service, which takes them in the same order hyper hands it
//! the requests. It also tells the connection's [`Activity`] whether a head is being read, for
//! the time limit on heads.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use oncelink::head_scan::HeadScanner;

use crate::watchdog::Activity;
pub use oncelink::head_scan::{HEAD_BUFFER_BYTES, HeadFacts};

/// The largest request head the gateway answers (request line, headers, blank line).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The facts of a connection's heads, oldest first.
pub type Facts = Arc<Mutex<VecDeque<HeadFacts>>>;

pub struct Guarded<IO> {
    inner: IO,
    scanner: HeadScanner,
    facts: Facts,
    activity: Arc<Activity>,
}

impl<IO> Guarded<IO> {
    pub fn new(inner: IO, activity: Arc<Activity>) -> (Self, Facts) {
        let facts = Facts::default();
        (Self { inner, scanner: HeadScanner::default(), facts: facts.clone(), activity }, facts)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let this = &mut *self;
            let mut found = Vec::new();
            this.scanner.feed(&buf.filled()[before..], &mut found);
            this.activity.reading_head(this.scanner.reading_head());
            if !found.is_empty()
                && let Ok(mut facts) = this.facts.lock()
            {
                facts.extend(found);
            }
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
