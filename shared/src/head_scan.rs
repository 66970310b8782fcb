//! Following HTTP/1.1 framing over the raw bytes of a connection, to learn what each request's
//! head said before an HTTP library parses it: whether its target carried a `#fragment` (which
//! `http::Uri` drops without a word) and how many bytes the head took.
//!
//! [`HeadScanner::feed`] takes bytes in the order they arrive, in any slices, and reports one
//! [`HeadFacts`] per complete request head: a head up to its blank line (empty lines before it
//! skipped), then a body of `Content-Length` bytes or a chunked body with its trailers. Framing
//! an HTTP library would refuse (an unreadable head, a bad chunk, a head past
//! [`HEAD_BUFFER_BYTES`]) ends the scanning: such a connection is closed by the library anyway.
//! The gateway runs every connection's bytes through one; it never panics on input (fuzzed).

/// How much of a head is buffered to find its end.
pub const HEAD_BUFFER_BYTES: usize = 256 * 1024;

/// What one request head said that the parsed request no longer shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadFacts {
    /// The request target carries a `#fragment`.
    pub fragment: bool,
    /// Bytes from the request line through the blank line.
    pub bytes: usize,
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
pub struct HeadScanner {
    state: State,
    /// The head, chunk-size line or trailers being read.
    line: Vec<u8>,
}

impl HeadScanner {
    /// A request head has begun and not yet ended (for a time limit on reading heads).
    pub fn reading_head(&self) -> bool {
        matches!(self.state, State::Head) && !self.line.is_empty()
    }

    /// Scans `bytes`, the next ones on the connection; appends the facts of every head they complete.
    pub fn feed(&mut self, mut bytes: &[u8], found: &mut Vec<HeadFacts>) {
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
        let mut scanner = HeadScanner::default();
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
        assert!(facts[0].bytes > 100_000);
        assert!(scan(&[b"PUT /k HTTP/1.1\r\nContent-Length: x\r\n\r\nGET /#a HTTP/1.1\r\n\r\n"]).len() == 1, "unframed: scanning stops");
        assert!(scan(&[b"\x00\x01 nonsense\r\n\r\nGET /#a HTTP/1.1\r\n\r\n"]).is_empty());
    }
}
