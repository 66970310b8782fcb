//! SigV4 query signing of S3 requests (presigned URLs), written against the specification
//! ("Authenticating Requests: Using Query Parameters (AWS Signature Version 4)") with
//! `aws-sdk-s3`'s `presigned()` as the oracle: `shared/tests/presign_matches_sdk.rs` holds us to
//! the SDK byte for byte.
//!
//! ```text
//! canonical request = METHOD \n path \n sorted query \n canonical headers \n signed headers \n UNSIGNED-PAYLOAD
//! string to sign    = AWS4-HMAC-SHA256 \n X-Amz-Date \n <date>/<region>/s3/aws4_request \n hex(SHA-256(canonical request))
//! signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), "s3"), "aws4_request")
//! signature         = hex(HMAC(signing key, string to sign))
//! ```
//!
//! [`verify_query`] is the other side, as S3 runs it: the gateway's own file origin checks
//! presigned links with it, over the very same canonical request.
//!
//! What is cached, per thread ([`SigningKeys`]): the signing key of the last (access key, date,
//! region, secret) with the HMAC's key schedule already done (it changes once a day per region,
//! service and secret, yet costs four chained HMACs), the parts of the query that follow from it
//! (the `X-Amz-Credential` value, encoded, and the credential scope of the string to sign), the
//! last session token encoded, and the scratch buffers a signature is built in. So signing a link
//! is encoding its own parameters once (straight into the URL), one SHA-256 of the canonical
//! request and one HMAC, with no allocation beyond the URL's own growth.

use std::cell::RefCell;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::encoding::{encode_query, push_query};
use crate::presigned;
pub use crate::presigned::ALGORITHM;
use crate::query::Query;

const SERVICE: &str = "s3";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// What is being signed: one request, its query parameters so far, and its headers to sign.
pub struct QueryRequest<'a> {
    pub method: &'a str,
    /// The request's host (and port), as in `Host`.
    pub host: &'a str,
    /// Query parameters other than the X-Amz-* ones, unencoded, in the order they are sent.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign besides `host` (lower-case names).
    pub headers: &'a [(&'a str, &'a str)],
}

/// The credentials and the scope of a signature.
pub struct Scope<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub session_token: Option<&'a str>,
    pub region: &'a str,
    /// `yyyymmddThhmmssZ`.
    pub amz_date: &'a str,
    pub expires_secs: u64,
}

/// A signature: 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature([u8; 64]);

impl Signature {
    pub fn as_str(&self) -> &str {
        // Only ever hex digits (see `hex_lower`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signing key of the last (access key, date, region, secret) this thread signed for, ready
/// to MAC, and what follows from it.
struct CachedKey {
    access_key: String,
    date: [u8; 8],
    region: String,
    secret: String,
    mac: Hmac<Sha256>,
    /// `<date>/<region>/s3/aws4_request`: the credential scope of the string to sign.
    scope: String,
    /// `<access key>/<scope>`, encoded: the `X-Amz-Credential` value as sent.
    credential: String,
}

/// One query parameter written into the URL: `name_start..eq` is its encoded name,
/// `eq + 1..end` its encoded value.
#[derive(Clone, Copy)]
struct Param {
    name_start: usize,
    eq: usize,
    end: usize,
}

impl Param {
    fn name<'u>(&self, url: &'u str) -> &'u str {
        url.get(self.name_start..self.eq).unwrap_or_default()
    }

    fn value<'u>(&self, url: &'u str) -> &'u str {
        url.get(self.eq + 1..self.end).unwrap_or_default()
    }
}

/// Everything a thread keeps between signatures.
#[derive(Default)]
struct ThreadState {
    key: Option<CachedKey>,
    /// The last session token, and its encoding.
    token: String,
    encoded_token: String,
    /// Scratch: the parameters as written, the headers' order, the signed-headers list and the
    /// canonical request.
    params: Vec<Param>,
    header_order: Vec<usize>,
    signed_headers: String,
    canonical: String,
}

thread_local! {
    static STATE: RefCell<ThreadState> = RefCell::new(ThreadState::default());
}

/// Per-thread cache of derived signing keys (and of what follows from them).
pub struct SigningKeys;

impl SigningKeys {
    /// The cached key for `access_key`, `date` (`yyyymmdd`), `region` and `secret`, derived
    /// anew if any of them changed.
    fn get<'k>(slot: &'k mut Option<CachedKey>, access_key: &str, date: &[u8; 8], region: &str, secret: &str) -> &'k CachedKey {
        let fresh = slot.as_ref().is_some_and(|cached| {
            &cached.date == date && cached.region == region && cached.secret == secret && cached.access_key == access_key
        });
        if !fresh {
            *slot = None;
        }
        slot.get_or_insert_with(|| {
            let key = derive_key(date, region, secret);
            let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
            let scope = format!("{}/{region}/{SERVICE}/aws4_request", day(date));
            let credential = encode_query(&format!("{access_key}/{scope}"));
            CachedKey {
                access_key: access_key.to_owned(),
                date: *date,
                region: region.to_owned(),
                secret: secret.to_owned(),
                mac,
                scope,
                credential,
            }
        })
    }

    /// Forgets this thread's cached key (tests).
    pub fn clear() {
        STATE.with(|state| state.borrow_mut().key = None);
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The four chained HMACs of the specification.
pub fn derive_key(date: &[u8; 8], region: &str, secret: &str) -> [u8; 32] {
    let mut first = Vec::with_capacity(4 + secret.len());
    first.extend_from_slice(b"AWS4");
    first.extend_from_slice(secret.as_bytes());
    let k_date = hmac(&first, date);
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, SERVICE.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// Signs `request` in `scope`. `url[path_start..]` is the request's path, already
/// percent-encoded exactly as it will be sent (S3: no normalisation, no second encoding);
/// appended to it: `?`, the request's query and the X-Amz-* parameters, encoded, in the SDK's
/// order (the signature before the session token). Returns the signature.
pub fn sign_query(url: &mut String, path_start: usize, request: &QueryRequest<'_>, scope: &Scope<'_>) -> Signature {
    let date = date_of(scope.amz_date);
    STATE.with(|state| {
        let mut state = state.borrow_mut();
        let ThreadState { key, token, encoded_token, params, header_order, signed_headers, canonical } = &mut *state;
        let key = SigningKeys::get(key, scope.access_key, &date, scope.region, scope.secret_key);
        let path_end = url.len();

        // The headers, sorted by name (`host` is the last index).
        let header = |i: usize| request.headers.get(i).copied().unwrap_or(("host", request.host));
        header_order.clear();
        header_order.extend(0..=request.headers.len());
        header_order.sort_by(|&a, &b| header(a).0.cmp(header(b).0));
        signed_headers.clear();
        for (i, &h) in header_order.iter().enumerate() {
            if i > 0 {
                signed_headers.push(';');
            }
            signed_headers.push_str(header(h).0);
        }

        // Every parameter but the signature, written once, encoded, into the URL. (The X-Amz-*
        // names and the algorithm are unreserved characters only: they are their own encoding.)
        params.clear();
        let mut param = |url: &mut String, name: Value<'_>, value: Value<'_>| {
            url.push(if params.is_empty() { '?' } else { '&' });
            let name_start = url.len();
            name.push_to(url);
            let eq = url.len();
            url.push('=');
            value.push_to(url);
            params.push(Param { name_start, eq, end: url.len() });
        };
        for (name, value) in request.query {
            param(url, Value::Plain(name), Value::Plain(value));
        }
        param(url, Value::Encoded("X-Amz-Algorithm"), Value::Encoded(ALGORITHM));
        param(url, Value::Encoded("X-Amz-Credential"), Value::Encoded(&key.credential));
        param(url, Value::Encoded("X-Amz-Date"), Value::Plain(scope.amz_date));
        param(url, Value::Encoded("X-Amz-Expires"), Value::Number(scope.expires_secs));
        param(url, Value::Encoded("X-Amz-SignedHeaders"), Value::Plain(signed_headers));
        let signed_end = url.len();
        if let Some(session_token) = scope.session_token {
            if token != session_token {
                session_token.clone_into(token);
                encoded_token.clear();
                push_query(encoded_token, session_token);
            }
            param(url, Value::Encoded("X-Amz-Security-Token"), Value::Encoded(encoded_token));
        }
        // Sorted below: the X-Amz-* ones first, as they are nearly in order already and sort
        // before every lower-case name, so the sort has next to nothing to move.
        params.rotate_left(request.query.len());

        let query: &str = url;
        params.sort_by(|a, b| (a.name(query), a.value(query)).cmp(&(b.name(query), b.value(query))));
        canonical.clear();
        push_canonical_request(
            canonical,
            request.method,
            url.get(path_start..path_end).unwrap_or_default(),
            params.iter().map(|p| (p.name(query), p.value(query))),
            header_order.iter().map(|&h| header(h)),
            signed_headers,
        );
        let signature = signature(key.mac.clone(), scope.amz_date, &key.scope, canonical);

        // Sent in the SDK's order: the signature comes before the session token.
        url.insert_str(signed_end, signature.as_str());
        url.insert_str(signed_end, "&X-Amz-Signature=");
        signature
    })
}

/// A parameter's name or value: to encode, already encoded, or a number (never needs encoding).
#[derive(Clone, Copy)]
enum Value<'a> {
    Plain(&'a str),
    Encoded(&'a str),
    Number(u64),
}

impl Value<'_> {
    fn push_to(self, url: &mut String) {
        match self {
            Self::Plain(raw) => push_query(url, raw),
            Self::Encoded(encoded) => url.push_str(encoded),
            Self::Number(n) => push_u64(url, n),
        }
    }
}

fn push_u64(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
}

/// A presigned request as it arrived, for [`verify_query`].
pub struct Presented<'a> {
    pub method: &'a str,
    /// The host the link was signed for (the origin's, not necessarily the viewer's `Host`).
    pub host: &'a str,
    /// The path exactly as sent (still percent-encoded).
    pub path: &'a str,
    /// The query, decoded (the strict reader: each value has exactly one spelling).
    pub query: &'a Query,
    /// The request's headers (lower-case names), for the signed ones besides `host`.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Whose signatures [`verify_query`] accepts.
pub struct Verifier<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

/// Why a presigned request is not one we signed (S3's error codes, which the viewer sees).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the query is not a presigned request: {0}")]
    Malformed(String),
    #[error("the access key is not known here")]
    UnknownAccessKey,
    #[error("the credential names another region")]
    WrongRegion,
    #[error("temporary credentials are not accepted here")]
    SessionToken,
    #[error("the request has expired")]
    Expired,
    #[error("the request is not valid yet")]
    NotYetValid,
    #[error("a signed header is missing")]
    MissingSignedHeader,
    #[error("the signature does not match")]
    Mismatch,
}

impl SignatureError {
    /// S3's status and error code for this refusal.
    pub fn s3_code(&self) -> (u16, &'static str) {
        match self {
            Self::Malformed(_) => (400, "AuthorizationQueryParametersError"),
            Self::UnknownAccessKey => (403, "InvalidAccessKeyId"),
            Self::WrongRegion => (400, "AuthorizationQueryParametersError"),
            Self::SessionToken => (400, "InvalidToken"),
            Self::Expired | Self::NotYetValid | Self::MissingSignedHeader => (403, "AccessDenied"),
            Self::Mismatch => (403, "SignatureDoesNotMatch"),
        }
    }
}

/// How far in the future a signature's date may be (S3's allowance for clock skew).
pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(900);

/// Verifies a presigned request as S3 does: the same canonical request as [`sign_query`]
/// (every parameter but the signature, re-encoded and sorted; the signed headers' values), the
/// same key, and a constant-time comparison of the signature.
pub fn verify_query(presented: &Presented<'_>, verifier: &Verifier<'_>, now: SystemTime) -> Result<(), SignatureError> {
    let link = presigned::parse(presented.query).map_err(|e| SignatureError::Malformed(e.to_string()))?;
    let credential = presented.query.get("X-Amz-Credential").unwrap_or_default();
    let amz_date = presented.query.get("X-Amz-Date").unwrap_or_default();
    if credential.split('/').next() != Some(verifier.access_key) {
        return Err(SignatureError::UnknownAccessKey);
    }
    if link.region != verifier.region {
        return Err(SignatureError::WrongRegion);
    }
    if presented.query.get("X-Amz-Security-Token").is_some() {
        return Err(SignatureError::SessionToken);
    }
    if now >= link.expires_at() {
        return Err(SignatureError::Expired);
    }
    if link.signed_at > now + MAX_FUTURE_SKEW {
        return Err(SignatureError::NotYetValid);
    }
    let mut headers: Vec<(&str, &str)> = Vec::new();
    for name in link.signed_headers.split(';') {
        let value = if name == "host" { Some(presented.host) } else { presented.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v) };
        headers.push((name, value.ok_or(SignatureError::MissingSignedHeader)?));
    }
    let mut query: Vec<(String, String)> =
        presented.query.pairs().filter(|(name, _)| *name != "X-Amz-Signature").map(|(n, v)| (encode_query(n), encode_query(v))).collect();
    query.sort();
    let mut canonical = String::with_capacity(512);
    push_canonical_request(
        &mut canonical,
        presented.method,
        presented.path,
        query.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        headers.iter().copied(),
        link.signed_headers,
    );
    let given = hex::decode(link.signature).map_err(|_| SignatureError::Mismatch)?;
    let date = date_of(amz_date);
    let scope = credential.get(verifier.access_key.len() + 1..).unwrap_or_default();
    let mac = STATE.with(|state| {
        let key = &mut state.borrow_mut().key;
        SigningKeys::get(key, verifier.access_key, &date, verifier.region, verifier.secret_key).mac.clone()
    });
    let mut mac = mac;
    update_with_string_to_sign(&mut mac, amz_date, scope, &canonical);
    mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// The specification's "canonical request": `query` encoded and sorted, `headers` (lower-case
/// name, value as sent) sorted by name, `signed_headers` their names joined by `;`.
fn push_canonical_request<'q, 'h>(
    out: &mut String,
    method: &str,
    path: &str,
    query: impl Iterator<Item = (&'q str, &'q str)>,
    headers: impl Iterator<Item = (&'h str, &'h str)>,
    signed_headers: &str,
) {
    out.push_str(method);
    out.push('\n');
    out.push_str(path);
    out.push('\n');
    for (i, (name, value)) in query.enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push(':');
        push_canonical_value(out, value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(UNSIGNED_PAYLOAD);
}

/// Feeds `mac` the string to sign of `canonical` (`scope` is `<date>/<region>/s3/aws4_request`).
fn update_with_string_to_sign(mac: &mut Hmac<Sha256>, amz_date: &str, scope: &str, canonical: &str) {
    for part in [ALGORITHM, "\n", amz_date, "\n", scope, "\n"] {
        mac.update(part.as_bytes());
    }
    mac.update(&hex_lower(&Sha256::digest(canonical.as_bytes()).into()));
}

/// The signature of `canonical` with the keyed `mac`.
fn signature(mut mac: Hmac<Sha256>, amz_date: &str, scope: &str, canonical: &str) -> Signature {
    update_with_string_to_sign(&mut mac, amz_date, scope, canonical);
    Signature(hex_lower(&mac.finalize().into_bytes().into()))
}

fn hex_lower(bytes: &[u8; 32]) -> [u8; 64] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    out
}

/// The `yyyymmdd` of an `X-Amz-Date` (zeros if it has none: such a date never verifies).
fn date_of(amz_date: &str) -> [u8; 8] {
    amz_date.as_bytes().get(..8).and_then(|d| d.try_into().ok()).unwrap_or([b'0'; 8])
}

fn day(date: &[u8; 8]) -> &str {
    std::str::from_utf8(date).unwrap_or("00000000")
}

/// Appends a header value as SigV4 signs it: trimmed, runs of spaces folded into one.
fn push_canonical_value(out: &mut String, value: &str) {
    for (i, word) in value.split(' ').filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example ("Example: Presigned URL", the AWS General Reference):
    /// GET /test.txt from examplebucket, 2013-05-24, 86400 s.
    #[test]
    fn the_documented_example() {
        SigningKeys::clear();
        let request = QueryRequest { method: "GET", host: "examplebucket.s3.amazonaws.com", query: &[], headers: &[] };
        let scope = Scope {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: None,
            region: "us-east-1",
            amz_date: "20130524T000000Z",
            expires_secs: 86400,
        };
        let sign = || {
            let mut url = String::from("/test.txt");
            let signature = sign_query(&mut url, 0, &request, &scope);
            (url, signature)
        };
        let (url, signature) = sign();
        assert_eq!(signature.as_str(), "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
        assert_eq!(
            url,
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
        // Cached: the same again.
        assert_eq!(sign(), (url, signature));
    }

    fn scope(amz_date: &str) -> Scope<'_> {
        Scope { access_key: "AKIDLOCAL", secret_key: "local-secret", session_token: None, region: "eu-west-1", amz_date, expires_secs: 600 }
    }

    const VERIFIER: Verifier<'static> = Verifier { access_key: "AKIDLOCAL", secret_key: "local-secret", region: "eu-west-1" };

    /// Signs a PUT of `path` with a signed content type; returns the full query string.
    fn signed_put(path: &str, content_type: &str) -> String {
        let request = QueryRequest {
            method: "PUT",
            host: "files.example:8443",
            query: &[("x-id", "PutObject"), ("x-oncelink-uses", "2")],
            headers: &[("content-type", content_type)],
        };
        let mut url = format!("https://files.example:8443{path}");
        let path_start = url.len() - path.len();
        sign_query(&mut url, path_start, &request, &scope("20261201T101500Z"));
        url.split_once('?').map(|(_, query)| query.to_owned()).unwrap_or_default()
    }

    fn check(method: &str, host: &str, path: &str, query: &str, content_type: &str, now: &str) -> Result<(), SignatureError> {
        let query = Query::parse(query).unwrap();
        let headers = [("content-type", content_type)];
        let presented = Presented { method, host, path, query: &query, headers: &headers };
        verify_query(&presented, &VERIFIER, crate::time::parse_amz_date(now).unwrap())
    }

    #[test]
    fn what_we_sign_verifies_and_nothing_else_does() {
        let path = "/bucket/dir/a%20b.txt";
        let query = signed_put(path, "text/plain");
        let now = "20261201T101600Z";
        assert_eq!(check("PUT", "files.example:8443", path, &query, "text/plain", now), Ok(()));
        // Any part of the request changed: another method, host, path, header value, parameter.
        assert_eq!(check("GET", "files.example:8443", path, &query, "text/plain", now), Err(SignatureError::Mismatch));
        assert_eq!(check("PUT", "files.example", path, &query, "text/plain", now), Err(SignatureError::Mismatch));
        assert_eq!(check("PUT", "files.example:8443", "/bucket/dir/a%20c.txt", &query, "text/plain", now), Err(SignatureError::Mismatch));
        assert_eq!(check("PUT", "files.example:8443", path, &query, "text/html", now), Err(SignatureError::Mismatch));
        let more_uses = query.replace("x-oncelink-uses=2", "x-oncelink-uses=3");
        assert_eq!(check("PUT", "files.example:8443", path, &more_uses, "text/plain", now), Err(SignatureError::Mismatch));
        // Outside the validity window, or another key, region or a session token.
        assert_eq!(check("PUT", "files.example:8443", path, &query, "text/plain", "20261201T102500Z"), Err(SignatureError::Expired));
        assert_eq!(check("PUT", "files.example:8443", path, &query, "text/plain", "20261201T095900Z"), Err(SignatureError::NotYetValid));
        let other_key = query.replace("AKIDLOCAL", "AKIDOTHER");
        assert_eq!(check("PUT", "files.example:8443", path, &other_key, "text/plain", now), Err(SignatureError::UnknownAccessKey));
        let other_region = query.replace("eu-west-1", "us-east-1");
        assert_eq!(check("PUT", "files.example:8443", path, &other_region, "text/plain", now), Err(SignatureError::WrongRegion));
        let with_token = format!("{query}&X-Amz-Security-Token=abc");
        assert_eq!(check("PUT", "files.example:8443", path, &with_token, "text/plain", now), Err(SignatureError::SessionToken));
        assert!(matches!(check("PUT", "files.example:8443", path, "x-id=PutObject", "text/plain", now), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn header_values_are_trimmed_and_folded() {
        let mut out = String::new();
        push_canonical_value(&mut out, "  a   b c ");
        assert_eq!(out, "a b c");
    }
}
