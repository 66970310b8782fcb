//! Reading the rest of a refused upload before answering it.
//!
//! A link request refused before its body is read (a used or expired link, a bad signature)
//! may still have an upload on its way. HTTP/2 lets a server answer early and reset the stream
//! with NO_ERROR, and hyper does; but widely installed clients fail on exactly that: curl
//! before 8.1 (Debian 12's 7.88) reports "Failed sending data to the peer" and no status at
//! all, so the viewer never sees why the link refused. Over HTTP/1.1 an unread body costs the
//! connection.
//!
//! So a refusal first reads and drops what is left of a *small* upload, and then answers. The
//! reading is bounded by size ([`DRAIN_LIMIT`], checked against the declared length before a
//! byte is read, and again as bytes arrive) and by time ([`DRAIN_TIME`]); past either bound,
//! or when the client asked for `Expect: 100-continue` (it has not sent the body, and reading
//! would invite it to), the answer goes at once as before. Nothing is decided here: the
//! refusal is the same either way, only its timing changes.

use std::time::Duration;

use http::{HeaderMap, header};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};

/// The most of a refused upload read before answering it.
pub const DRAIN_LIMIT: u64 = 4 << 20;

/// The longest a refusal waits for its upload to arrive.
pub const DRAIN_TIME: Duration = Duration::from_secs(3);

/// Whether a refused request's body is worth reading before the answer: there is one, it is
/// declared (or so far) within the limit, and the client is not waiting for a 100 Continue.
pub fn worth_draining(headers: &HeaderMap, body: &Incoming) -> bool {
    if body.is_end_stream() {
        return false;
    }
    let expects_continue =
        headers.get(header::EXPECT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    // A body of unknown length (HTTP/1.1 chunked, HTTP/2 without content-length) is read up to
    // the limit as it comes.
    !expects_continue && body.size_hint().upper().is_none_or(|n| n <= DRAIN_LIMIT)
}

/// Reads and drops `body` until it ends, fails, passes [`DRAIN_LIMIT`] or [`DRAIN_TIME`].
/// Returns the bytes read.
pub async fn drain(headers: &HeaderMap, mut body: Incoming) -> u64 {
    if !worth_draining(headers, &body) {
        return 0;
    }
    let mut read = 0u64;
    let reading = async {
        while read <= DRAIN_LIMIT {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len() as u64),
                Some(Err(_)) | None => break,
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, reading).await;
    read
}
