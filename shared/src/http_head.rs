//! Reading a viewer request from an HTTP request head: the self-hosted gateway's front door.
//!
//! CloudFront hands the Lambda an event; the gateway gets raw HTTP. Both must end up as the same
//! [`ViewerRequest`], read the same strict way, so this lives in the core and the gateway only
//! calls it. Before the decision runs, the head alone can already be refused:
//!
//! ```text
//! head ─► header values readable? ─► PUT with one exact Content-Length under the cap?
//!   │            │ 400                    │ 411 / 400 / 413
//!   └────────────┴────────────────────────┴──► ViewerRequest ─► decide
//! ```
//!
//! Refusing an upload here matters: a PUT the gateway could not pass on must not spend the link.
//! [`check_head`] comes first, for every request the gateway serves: a head larger than the
//! documented limit, a `#fragment` in the target, two `Host` headers, or an absolute-form target
//! whose authority is not the `Host` — each has more than one reading, and is refused.
//! OPTIONS (a CORS preflight) is read like any other method: the decision checks its link like a
//! HEAD's and lets it through to the origin without spending a use, as at the CloudFront edge.

use std::net::IpAddr;

use http::header::{CONTENT_LENGTH, HeaderMap};
use http::{Method, request::Parts};

use crate::ViewerRequest;
use crate::error::{Refusal, clip};

/// A head refused before the decision (and so before the ledger).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadRefusal {
    #[error("header {0} is not valid UTF-8")]
    UnreadableHeader(String),
    #[error("the request head is larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("the request target must not carry a #fragment")]
    Fragment,
    #[error("the request has more than one Host header")]
    DuplicateHost,
    #[error("the request target's authority is not the Host header's")]
    AuthorityMismatch,
    #[error("uploads need a Content-Length")]
    LengthRequired,
    #[error("the Content-Length is not one plain decimal number")]
    BadContentLength,
    #[error("uploads are limited to {0} bytes")]
    UploadTooLarge(u64),
}

impl Refusal for HeadRefusal {
    fn status(&self) -> u16 {
        match self {
            Self::UnreadableHeader(_) | Self::BadContentLength | Self::Fragment | Self::DuplicateHost | Self::AuthorityMismatch => 400,
            Self::HeadTooLarge(_) => 431,
            Self::LengthRequired => 411,
            Self::UploadTooLarge(_) => 413,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::UnreadableHeader(_) | Self::Fragment | Self::DuplicateHost | Self::AuthorityMismatch => "malformed_request",
            Self::HeadTooLarge(_) => "head_too_large",
            Self::LengthRequired => "length_required",
            Self::BadContentLength => "bad_content_length",
            Self::UploadTooLarge(_) => "upload_too_large",
        }
    }

    fn message(&self) -> String {
        self.to_string()
    }
}

/// What the raw bytes of a head said that the parsed head no longer shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RawHead {
    /// The request target carried a `#fragment` (the parsed URI has dropped it).
    pub fragment: bool,
    /// The head's size in bytes.
    pub bytes: usize,
}

/// The checks every request head passes, whatever it asks for (links, the API, the page).
pub fn check_head(uri: &http::Uri, headers: &HeaderMap, raw: RawHead, max_head_bytes: usize) -> Result<(), HeadRefusal> {
    if raw.bytes > max_head_bytes {
        return Err(HeadRefusal::HeadTooLarge(max_head_bytes));
    }
    if raw.fragment {
        return Err(HeadRefusal::Fragment);
    }
    let mut hosts = headers.get_all(http::header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(HeadRefusal::DuplicateHost);
    }
    if let Some(authority) = uri.authority()
        && host.and_then(|h| h.to_str().ok()).is_none_or(|h| !h.eq_ignore_ascii_case(authority.as_str()))
    {
        return Err(HeadRefusal::AuthorityMismatch);
    }
    Ok(())
}

/// Reads one link request's head. `client_ip` comes from [`client_ip`]; `request_id` is unique per
/// request; uploads larger than `max_upload_bytes` are refused.
pub fn viewer_request(parts: &Parts, client_ip: IpAddr, request_id: &str, max_upload_bytes: u64) -> Result<ViewerRequest, HeadRefusal> {
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        // A value the decision and the origin could read differently (bytes that are not UTF-8
        // and would be replaced here, but passed on as they are) is refused, not guessed at.
        let value = std::str::from_utf8(value.as_bytes()).map_err(|_| HeadRefusal::UnreadableHeader(clip(name.as_str())))?;
        headers.push((name.as_str().to_owned(), value.to_owned()));
    }
    if parts.method == Method::PUT {
        let length = upload_length(&parts.headers)?;
        if length > max_upload_bytes {
            return Err(HeadRefusal::UploadTooLarge(max_upload_bytes));
        }
    }
    Ok(ViewerRequest {
        method: parts.method.as_str().to_owned(),
        uri: parts.uri.path().to_owned(),
        querystring: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        client_ip: Some(client_ip.to_string()),
        request_id: request_id.to_owned(),
    })
}

/// Exactly one `Content-Length`, ASCII digits only (`+5`, `5, 5` or two headers are refused).
fn upload_length(headers: &HeaderMap) -> Result<u64, HeadRefusal> {
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let value = values.next().ok_or(HeadRefusal::LengthRequired)?;
    if values.next().is_some() {
        return Err(HeadRefusal::BadContentLength);
    }
    let digits = value.as_bytes();
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HeadRefusal::BadContentLength);
    }
    std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).ok_or(HeadRefusal::BadContentLength)
}

/// The viewer's address: the TCP peer, or — behind a trusted proxy — the last `X-Forwarded-For`
/// entry (the one that proxy added; earlier entries are the client's own claims).
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for
        && let Some(last) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).and_then(|v| v.rsplit(',').next())
        && let Ok(ip) = last.trim().parse::<IpAddr>()
    {
        return ip;
    }
    peer
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const MAX_UPLOAD: u64 = 1000;

    fn parts(method: &str, uri: &str, headers: &[(&str, &[u8])]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, http::HeaderValue::from_bytes(value).unwrap());
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_get_keeps_path_and_query_exactly_as_sent() {
        let p = parts("GET", "/a%2Fb/c.txt?X-Amz-Signature=ab&x=%2B", &[("host", b"cdn.example"), ("range", b"bytes=0-1")]);
        let v = viewer_request(&p, PEER, "r1", MAX_UPLOAD).unwrap();
        assert_eq!((v.method.as_str(), v.uri.as_str(), v.querystring.as_str()), ("GET", "/a%2Fb/c.txt", "X-Amz-Signature=ab&x=%2B"));
        assert_eq!(v.header("host"), Some("cdn.example"));
        assert_eq!(v.header("range"), Some("bytes=0-1"));
        assert_eq!((v.client_ip.as_deref(), v.request_id.as_str()), (Some("127.0.0.1"), "r1"));
    }

    #[test]
    fn uploads_need_one_plain_content_length_under_the_cap() {
        let put = |h: &[(&str, &[u8])]| viewer_request(&parts("PUT", "/k", h), PEER, "r", MAX_UPLOAD);
        assert_eq!(put(&[]), Err(HeadRefusal::LengthRequired));
        assert_eq!(put(&[("content-length", b"+5")]), Err(HeadRefusal::BadContentLength));
        assert_eq!(put(&[("content-length", b"5, 5")]), Err(HeadRefusal::BadContentLength));
        assert_eq!(put(&[("content-length", b"5"), ("content-length", b"5")]), Err(HeadRefusal::BadContentLength));
        assert_eq!(put(&[("content-length", b"99999999999999999999")]), Err(HeadRefusal::BadContentLength));
        assert_eq!(put(&[("content-length", b"1001")]), Err(HeadRefusal::UploadTooLarge(1000)));
        assert!(put(&[("content-length", b"1000")]).is_ok());
        // A GET's Content-Length is the origin's business, not a reason to refuse.
        assert!(viewer_request(&parts("GET", "/k", &[("content-length", b"x")]), PEER, "r", MAX_UPLOAD).is_ok());
    }

    #[test]
    fn unreadable_headers_are_refused_before_the_decision_and_options_is_read_like_any_method() {
        let options = viewer_request(&parts("OPTIONS", "/k?t", &[]), PEER, "r", MAX_UPLOAD).unwrap();
        assert_eq!((options.method.as_str(), options.querystring.as_str()), ("OPTIONS", "t"));
        let latin1 = viewer_request(&parts("GET", "/k", &[("user-agent", b"caf\xe9")]), PEER, "r", MAX_UPLOAD).unwrap_err();
        assert_eq!(latin1, HeadRefusal::UnreadableHeader("user-agent".into()));
        let body: serde_json::Value = serde_json::from_str(&latin1.body()).unwrap();
        assert_eq!(body["error"], "malformed_request");
    }

    #[test]
    fn heads_with_two_readings_are_refused() {
        let ok = parts("GET", "/k?t", &[("host", b"gw.example")]);
        assert_eq!(check_head(&ok.uri, &ok.headers, RawHead { fragment: false, bytes: 100 }, 1000), Ok(()));
        assert_eq!(check_head(&ok.uri, &ok.headers, RawHead { fragment: false, bytes: 1001 }, 1000), Err(HeadRefusal::HeadTooLarge(1000)));
        assert_eq!(check_head(&ok.uri, &ok.headers, RawHead { fragment: true, bytes: 100 }, 1000), Err(HeadRefusal::Fragment));
        let two = parts("GET", "/k", &[("host", b"a.example"), ("host", b"b.example")]);
        assert_eq!(check_head(&two.uri, &two.headers, RawHead::default(), 1000), Err(HeadRefusal::DuplicateHost));
        let absolute = parts("GET", "http://other.example/k?t", &[("host", b"gw.example")]);
        assert_eq!(check_head(&absolute.uri, &absolute.headers, RawHead::default(), 1000), Err(HeadRefusal::AuthorityMismatch));
        let same = parts("GET", "http://gw.example/k?t", &[("host", b"GW.example")]);
        assert_eq!(check_head(&same.uri, &same.headers, RawHead::default(), 1000), Ok(()));
        assert_eq!(HeadRefusal::HeadTooLarge(1).status(), 431);
    }

    #[test]
    fn forwarded_for_counts_only_when_trusted_and_only_its_last_entry() {
        let p = parts("GET", "/k", &[("x-forwarded-for", b"6.6.6.6, 10.0.0.7")]);
        assert_eq!(client_ip(&p.headers, PEER, false), PEER);
        assert_eq!(client_ip(&p.headers, PEER, true).to_string(), "10.0.0.7");
        let junk = parts("GET", "/k", &[("x-forwarded-for", b"not-an-ip")]);
        assert_eq!(client_ip(&junk.headers, PEER, true), PEER);
    }
}
