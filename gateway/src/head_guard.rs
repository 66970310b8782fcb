//! What hyper's types lose about a request head, read from the connection's bytes before hyper
//! parses them: a `#fragment` in the request target (`http::Uri` drops it without a word, so a
//! link with one would be spent as if it had none) and the head's exact size (the documented
//! limit is [`MAX_HEAD_BYTES`]; hyper's buffer limit is not a head limit).
//!
//! [`Guarded`] wraps the socket. Every byte hyper reads passes a small scanner that follows
//! HTTP/1.1 framing — a head up to its blank line, then a body of `Content-Length` bytes or a
//! chunked body — and queues one [`HeadFacts`] per request head, in order. The service takes
//! them in the same order hyper hands it the requests. Framing that hyper would refuse
//! (unreadable heads, bad chunks) ends the scanning: hyper closes such a connection itself.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest request head the gateway answers (request line, headers, blank line).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How much of an oversized head is buffered to find its end (hyper's read buffer is as large).
pub const HEAD_BUFFER_BYTES: usize = 256 * 1024;

/// What one request head said that hyper's parsed request no longer shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadFacts {
    /// The request target carries a `#fragment`.
    pub fragment: bool,
    /// Bytes from the request line through the blank line.
    pub bytes: usize,
}

/// The facts of a connection's heads, oldest first.
pub type Facts = Arc<Mutex<VecDeque<HeadFacts>>>;

pub struct Guarded<IO> {
    inner: IO,
    scanner: Scanner,
    facts: Facts,
}

impl<IO> Guarded<IO> {
    pub fn new(inner: IO) -> (Self, Facts) {
        let facts = Facts::default();
        (Self { inner, scanner: Scanner::default(), facts: facts.clone() }, facts)
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

#[derive(Debug, Default)]
enum State {
    /// Reading a head (bytes so far).
    #[default]
    Head,
    /// Skipping a body of this many more bytes.
    Fixed(u64),
    /// Reading a chunk-size line (bytes so far in `line`).
    ChunkSize,
    /// Skipping this many more bytes of chunk data, then its CRLF.
    ChunkData(u64),
    /// Reading trailer lines after the last chunk, up to the blank line.
    Trailers,
    /// Framing hyper would refuse: nothing more is scanned.
    Lost,
}

#[derive(Debug, Default)]
struct Scanner {
    state: State,
    /// The head, chunk-size line or trailers being read.
    line: Vec<u8>,
}

impl Scanner {
    fn feed(&mut self, mut bytes: &[u8], found: &mut Vec<HeadFacts>) {
        while !bytes.is_empty() {
            match self.state {
                State::Lost => return,
                State::Head => {
                    // Empty lines before a request line are skipped (RFC 9112 §2.2), as hyper does.
                    if self.line.is_empty() {
                        let blank = bytes.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                        bytes = &bytes[blank..];
                        if bytes.is_empty() {
                            return;
                        }
                    }
                    bytes = self.take_until_blank_line(bytes);
                    if let Some(head) = self.completed(b"\r\n\r\n") {
                        self.head(&head, found);
                    }
                }
                State::Fixed(left) => {
                    let n = left.min(bytes.len() as u64);
                    bytes = &bytes[n as usize..];
                    self.state = if left == n { State::Head } else { State::Fixed(left - n) };
                }
                State::ChunkSize => {
                    let end = bytes.iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| i + 1);
                    self.line.extend_from_slice(&bytes[..end]);
                    bytes = &bytes[end..];
                    if self.line.ends_with(b"\n") {
                        let line = std::mem::take(&mut self.line);
                        self.state = match httparse::parse_chunk_size(&line) {
                            Ok(httparse::Status::Complete((_, 0))) => State::Trailers,
                            Ok(httparse::Status::Complete((_, size))) => State::ChunkData(size.saturating_add(2)),
                            _ => State::Lost,
                        };
                    } else if self.line.len() > 1024 {
                        self.state = State::Lost;
                    }
                }
                State::ChunkData(left) => {
                    let n = left.min(bytes.len() as u64);
                    bytes = &bytes[n as usize..];
                    self.state = if left == n { State::ChunkSize } else { State::ChunkData(left - n) };
                }
                State::Trailers => {
                    // Either the blank line right away, or trailer fields and then one.
                    bytes = self.take_until_blank_line(bytes);
                    if self.line.as_slice() == b"\r\n" || self.line.ends_with(b"\r\n\r\n") {
                        self.line.clear();
                        self.state = State::Head;
                    } else if self.line.len() > HEAD_BUFFER_BYTES {
                        self.state = State::Lost;
                    }
                }
            }
        }
    }

    /// Appends to `line` up to and including the first blank line; returns what is left.
    fn take_until_blank_line<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        for (i, byte) in bytes.iter().enumerate() {
            self.line.push(*byte);
            let done = self.line.ends_with(b"\r\n\r\n") || (matches!(self.state, State::Trailers) && self.line.as_slice() == b"\r\n");
            if done || self.line.len() > HEAD_BUFFER_BYTES {
                if !done {
                    self.state = State::Lost;
                }
                return &bytes[i + 1..];
            }
        }
        &[]
    }

    fn completed(&mut self, end: &[u8]) -> Option<Vec<u8>> {
        self.line.ends_with(end).then(|| std::mem::take(&mut self.line))
    }

    /// A complete head: its facts, and the framing of the body that follows.
    fn head(&mut self, head: &[u8], found: &mut Vec<HeadFacts>) {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut request = httparse::Request::new(&mut headers);
        if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
            self.state = State::Lost;
            return;
        }
        found.push(HeadFacts { fragment: request.path.is_some_and(|p| p.contains('#')), bytes: head.len() });
        let chunked = request.headers.iter().any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
        let length = request.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length"));
        self.state = if chunked {
            State::ChunkSize
        } else if let Some(length) = length {
            match std::str::from_utf8(length.value).ok().and_then(|v| v.trim().parse::<u64>().ok()) {
                Some(0) => State::Head,
                Some(n) => State::Fixed(n),
                None => State::Lost,
            }
        } else {
            State::Head
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Vec<HeadFacts> {
        let mut scanner = Scanner::default();
        let mut found = Vec::new();
        for chunk in chunks {
            scanner.feed(chunk, &mut found);
        }
        found
    }

    #[test]
    fn fragments_and_sizes_per_head_across_bodies_and_split_reads() {
        let first = b"GET /a?tok#frag HTTP/1.1\r\nHost: h\r\n\r\n";
        let upload = b"PUT /b?tok HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nGET /x#y HT";
        let chunked = b"POST /_oncelink/links HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nGET /\r\n0\r\n\r\n";
        let last = b"\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
        let all = [first.as_slice(), upload, chunked, last].concat();
        let facts = scan(&[&all]);
        assert_eq!(facts.iter().map(|f| f.fragment).collect::<Vec<_>>(), [true, false, false, false], "a body's bytes are never a head");
        assert_eq!(facts[0].bytes, first.len());
        // The same bytes one at a time: the same facts.
        let bytewise: Vec<&[u8]> = all.chunks(1).collect();
        assert_eq!(scan(&bytewise), facts);
    }

    #[test]
    fn a_large_head_is_measured_and_a_broken_one_stops_the_scan() {
        let big = format!("GET /k HTTP/1.1\r\nHost: h\r\nX-Pad: {}\r\n\r\n", "a".repeat(100_000));
        let facts = scan(&[big.as_bytes()]);
        assert_eq!(facts.len(), 1);
        assert!(facts[0].bytes > MAX_HEAD_BYTES);
        assert!(scan(&[b"PUT /k HTTP/1.1\r\nContent-Length: x\r\n\r\nGET /#a HTTP/1.1\r\n\r\n"]).len() == 1, "unframed: scanning stops");
        assert!(scan(&[b"\x00\x01 nonsense\r\n\r\nGET /#a HTTP/1.1\r\n\r\n"]).is_empty());
    }
}
