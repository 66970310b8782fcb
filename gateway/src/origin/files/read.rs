//! GET and HEAD from a file, as S3 answers them.
//!
//! [`look_up`] is the only I/O before the answer, run once on the blocking pool: open the
//! object, `fstat` it, read its sidecar, and — for a small object — its bytes too. [`answer`]
//! is pure: the preconditions (RFC 9110 §13.2.2: `If-Match`, `If-Unmodified-Since`,
//! `If-None-Match`, `If-Modified-Since`), the range (`If-Range`; one range, as the decision
//! already insisted), and S3's headers, with the link's `response-*` overrides.

use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use oncelink::decision::range::{self, ByteRange};

use super::body::FileBody;
use super::meta::{self, Meta};
use super::s3_error::{self, S3Error};
use crate::origin::Body;

/// Objects up to this size are read whole with the open: one trip to the blocking pool in all.
pub const SMALL: u64 = 64 * 1024;

/// An object found: its open file, what `fstat` said, its metadata.
pub struct Found {
    pub file: std::fs::File,
    pub size: u64,
    pub modified: SystemTime,
    pub meta: Meta,
    /// The whole object, when it is small (and the request wants bytes).
    pub small: Option<Bytes>,
}

/// Opens `object` and reads what answering needs (blocking, briefly: metadata and at most
/// [`SMALL`] bytes). `Ok(None)`: there is no such
/// object (missing, a directory, a name too long for the file system).
pub fn look_up(object: &Path, sidecar: &Path, want_bytes: bool) -> io::Result<Option<Found>> {
    let file = match std::fs::File::open(object) {
        Ok(file) => file,
        Err(error) if is_missing(&error) => return Ok(None),
        Err(error) => return Err(error),
    };
    let stat = file.metadata()?;
    if !stat.is_file() {
        return Ok(None);
    }
    let (size, modified) = (stat.len(), stat.modified()?);
    let meta = meta::load(sidecar).filter(|m| m.describes(size, modified)).unwrap_or_default();
    let small = if want_bytes && size <= SMALL {
        let mut buffer = vec![0u8; size as usize];
        file.read_exact_at(&mut buffer, 0)?;
        Some(Bytes::from(buffer))
    } else {
        None
    };
    Ok(Some(Found { file, size, modified, meta, small }))
}

/// Errors that mean "no such key" (a path through a file, or too long, is no object either).
pub fn is_missing(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::NotFound
        || matches!(error.raw_os_error(), Some(libc::ENOTDIR | libc::ENAMETOOLONG | libc::EISDIR | libc::ELOOP))
}

/// What the viewer asked, beyond the object.
pub struct Asked<'a> {
    pub head_only: bool,
    pub headers: &'a HeaderMap,
    /// The link's `response-*` overrides: (header, value).
    pub overrides: &'a [(HeaderName, String)],
}

/// The answer to a GET or HEAD of a found object.
pub fn answer(found: Found, asked: &Asked<'_>) -> Response<Body> {
    let etag = found.meta.e_tag.clone().unwrap_or_else(|| file_etag(found.size, found.modified));
    let modified = whole_seconds(found.modified);
    if let Some(status) = preconditions(asked.headers, &etag, modified) {
        if status == StatusCode::PRECONDITION_FAILED {
            return s3_error::PRECONDITION_FAILED.response(asked.head_only);
        }
        let mut response = empty(status);
        set(response.headers_mut(), header::ETAG, &etag);
        set(response.headers_mut(), header::LAST_MODIFIED, &httpdate::fmt_http_date(modified));
        return response;
    }
    let range = match wanted_range(asked.headers, &etag, modified) {
        Ok(range) => range,
        Err(()) => return invalid_range(found.size, asked.head_only),
    };
    let (status, first, len) = match range.map(|r| satisfy(r, found.size)) {
        None => (StatusCode::OK, 0, found.size),
        Some(Some((first, len))) => (StatusCode::PARTIAL_CONTENT, first, len),
        Some(None) => return invalid_range(found.size, asked.head_only),
    };
    let body: Body = if asked.head_only || len == 0 {
        empty_body()
    } else if let Some(small) = found.small {
        Full::new(small.slice(first as usize..(first + len) as usize)).map_err(|never| match never {}).boxed()
    } else {
        FileBody::new(found.file, first, len).boxed()
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    set(headers, header::CONTENT_LENGTH, &len.to_string());
    set(headers, header::ACCEPT_RANGES, "bytes");
    set(headers, header::ETAG, &etag);
    set(headers, header::LAST_MODIFIED, &httpdate::fmt_http_date(modified));
    if status == StatusCode::PARTIAL_CONTENT {
        set(headers, header::CONTENT_RANGE, &format!("bytes {first}-{}/{}", first + len - 1, found.size));
    }
    metadata_headers(headers, &found.meta);
    for (name, value) in asked.overrides {
        set(headers, name.clone(), value);
    }
    response
}

/// The upload's headers on an answer (values a header cannot carry are left out).
fn metadata_headers(headers: &mut HeaderMap, meta: &Meta) {
    let stored = [
        (header::CONTENT_TYPE, &meta.content_type),
        (header::CONTENT_ENCODING, &meta.content_encoding),
        (header::CONTENT_DISPOSITION, &meta.content_disposition),
        (header::CONTENT_LANGUAGE, &meta.content_language),
        (header::CACHE_CONTROL, &meta.cache_control),
    ];
    for (name, value) in stored {
        if let Some(value) = value {
            set(headers, name, value);
        }
    }
    if let Some(expires) = meta.expires.as_deref().filter(|e| httpdate::parse_http_date(e).is_ok()) {
        set(headers, header::EXPIRES, expires);
    }
    for (name, value) in meta.user_metadata.iter().flatten() {
        if let Ok(name) = HeaderName::try_from(format!("x-amz-meta-{name}")) {
            set(headers, name, value);
        }
    }
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// An object's ETag when no upload named one: its modification time and size (as nginx).
pub fn file_etag(size: u64, modified: SystemTime) -> String {
    format!("\"{:x}-{size:x}\"", meta::nanos(modified).unwrap_or(0))
}

/// HTTP dates have whole seconds.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The preconditions, in RFC 9110's order: `Some(412)` or `Some(304)` ends the request there.
fn preconditions(headers: &HeaderMap, etag: &str, modified: SystemTime) -> Option<StatusCode> {
    let date = |name| text(headers, &name).and_then(|v| httpdate::parse_http_date(v).ok());
    if let Some(wanted) = text(headers, &header::IF_MATCH) {
        if !tag_list_matches(wanted, etag, true) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let Some(since) = date(header::IF_UNMODIFIED_SINCE)
        && modified > since
    {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    if let Some(unwanted) = text(headers, &header::IF_NONE_MATCH) {
        if tag_list_matches(unwanted, etag, false) {
            return Some(StatusCode::NOT_MODIFIED);
        }
    } else if let Some(since) = date(header::IF_MODIFIED_SINCE)
        && modified <= since
    {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

/// Does an `If-Match`/`If-None-Match` list name `etag`? (`*` names any object.)
fn tag_list_matches(list: &str, etag: &str, strong: bool) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        match tag.strip_prefix("W/") {
            Some(weak) => !strong && weak == etag,
            None => tag == etag,
        }
    })
}

/// The range to serve: none without a `Range` (or when `If-Range` no longer holds). `Err`: a
/// `Range` that is not one plain byte range (the decision refuses those before we are asked).
fn wanted_range(headers: &HeaderMap, etag: &str, modified: SystemTime) -> Result<Option<ByteRange>, ()> {
    let range = range::read(headers.get_all(header::RANGE).iter().filter_map(|v| v.to_str().ok())).map_err(|_| ())?;
    let Some(range) = range else { return Ok(None) };
    match text(headers, &header::IF_RANGE) {
        None => Ok(Some(range)),
        // An entity tag must match strongly; a date, exactly.
        Some(tag) if tag.starts_with('"') => Ok((tag == etag).then_some(range)),
        Some(date) => Ok(httpdate::parse_http_date(date).ok().filter(|d| *d == modified).map(|_| range)),
    }
}

/// `(first, length)` of `range` in an object of `size` bytes; `None`: not satisfiable.
fn satisfy(range: ByteRange, size: u64) -> Option<(u64, u64)> {
    match range {
        ByteRange::From { first, .. } if first >= size => None,
        ByteRange::From { first, last } => Some((first, last.map_or(size - 1, |l| l.min(size - 1)) - first + 1)),
        ByteRange::Suffix(_) if size == 0 => None,
        ByteRange::Suffix(n) => Some((size - n.min(size), n.min(size))),
    }
}

fn invalid_range(size: u64, head_only: bool) -> Response<Body> {
    let mut response = s3_error::INVALID_RANGE.response(head_only);
    set(response.headers_mut(), header::CONTENT_RANGE, &format!("bytes */{size}"));
    response
}

fn empty_body() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(empty_body());
    *response.status_mut() = status;
    response
}

/// The answer when there is no such object.
pub fn missing(head_only: bool) -> Response<Body> {
    S3Error::response(s3_error::NO_SUCH_KEY, head_only)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETAG: &str = "\"abc\"";

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(n, v)| (HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap())).collect()
    }

    #[test]
    fn preconditions_in_rfc_order() {
        let m = at(1_800_000_000);
        let before = httpdate::fmt_http_date(at(1_799_999_999));
        let same = httpdate::fmt_http_date(m);
        let check = |pairs: &[(&str, &str)]| preconditions(&headers(pairs), ETAG, m);
        assert_eq!(check(&[]), None);
        assert_eq!(check(&[("if-match", "\"abc\"")]), None);
        assert_eq!(check(&[("if-match", "\"x\", \"abc\"")]), None);
        assert_eq!(check(&[("if-match", "*")]), None);
        assert_eq!(check(&[("if-match", "W/\"abc\"")]), Some(StatusCode::PRECONDITION_FAILED), "If-Match compares strongly");
        assert_eq!(check(&[("if-match", "\"x\"")]), Some(StatusCode::PRECONDITION_FAILED));
        assert_eq!(check(&[("if-unmodified-since", &before)]), Some(StatusCode::PRECONDITION_FAILED));
        assert_eq!(check(&[("if-unmodified-since", &same)]), None);
        // If-Match holds: If-Unmodified-Since is not looked at.
        assert_eq!(check(&[("if-match", "\"abc\""), ("if-unmodified-since", &before)]), None);
        assert_eq!(check(&[("if-none-match", "W/\"abc\"")]), Some(StatusCode::NOT_MODIFIED), "If-None-Match compares weakly");
        assert_eq!(check(&[("if-none-match", "\"x\"")]), None);
        assert_eq!(check(&[("if-modified-since", &same)]), Some(StatusCode::NOT_MODIFIED));
        assert_eq!(check(&[("if-modified-since", &before)]), None);
        // If-None-Match present: If-Modified-Since is not looked at.
        assert_eq!(check(&[("if-none-match", "\"x\""), ("if-modified-since", &same)]), None);
        assert_eq!(check(&[("if-modified-since", "not a date")]), None);
    }

    #[test]
    fn ranges_within_the_object() {
        let r = |first, last| ByteRange::From { first, last };
        assert_eq!(satisfy(r(0, Some(9)), 100), Some((0, 10)));
        assert_eq!(satisfy(r(90, Some(200)), 100), Some((90, 10)), "a last byte past the end is the end");
        assert_eq!(satisfy(r(99, None), 100), Some((99, 1)));
        assert_eq!(satisfy(r(100, None), 100), None);
        assert_eq!(satisfy(ByteRange::Suffix(10), 100), Some((90, 10)));
        assert_eq!(satisfy(ByteRange::Suffix(500), 100), Some((0, 100)));
        assert_eq!(satisfy(ByteRange::Suffix(1), 0), None);
        assert_eq!(satisfy(r(0, Some(0)), 0), None);
    }

    #[test]
    fn if_range_keeps_the_range_only_while_the_object_is_the_same() {
        let m = at(1_800_000_000);
        let ranged = |pairs: &[(&str, &str)]| wanted_range(&headers(pairs), ETAG, m).unwrap().is_some();
        assert!(ranged(&[("range", "bytes=0-1")]));
        assert!(ranged(&[("range", "bytes=0-1"), ("if-range", ETAG)]));
        assert!(!ranged(&[("range", "bytes=0-1"), ("if-range", "\"other\"")]));
        assert!(!ranged(&[("range", "bytes=0-1"), ("if-range", "W/\"abc\"")]), "a weak tag never holds for If-Range");
        assert!(ranged(&[("range", "bytes=0-1"), ("if-range", &httpdate::fmt_http_date(m))]));
        assert!(!ranged(&[("range", "bytes=0-1"), ("if-range", &httpdate::fmt_http_date(at(1)))]));
        assert!(wanted_range(&headers(&[("range", "bytes=0-1,3-4")]), ETAG, m).is_err());
    }
}
