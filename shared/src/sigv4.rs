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
//! The signing key changes once a day per region, service and secret, yet costs four chained
//! HMACs: [`SigningKeys`] keeps the last one per thread (with the HMAC's key schedule already
//! done), so signing a link is one SHA-256 of the canonical request and one HMAC.

use std::cell::RefCell;
use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::encoding::encode_query;
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
    /// The path, already percent-encoded exactly as it will be sent (S3: no normalisation, no
    /// second encoding).
    pub path: &'a str,
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

/// The X-Amz-* parameters to append to the query, encoded, in the SDK's order (the signature
/// before the session token), and the signature.
pub struct Signed {
    pub params: String,
    pub signature: String,
}

/// The signing key of the last (date, region, secret) this thread signed for, ready to MAC.
struct CachedKey {
    date: [u8; 8],
    region: String,
    secret: String,
    mac: Hmac<Sha256>,
}

thread_local! {
    static SIGNING_KEY: RefCell<Option<CachedKey>> = const { RefCell::new(None) };
}

/// Per-thread cache of derived signing keys.
pub struct SigningKeys;

impl SigningKeys {
    /// A MAC keyed with the signing key for `date` (`yyyymmdd`), `region` and `secret`.
    fn mac(date: &[u8; 8], region: &str, secret: &str) -> Hmac<Sha256> {
        SIGNING_KEY.with(|slot| {
            let mut slot = slot.borrow_mut();
            if let Some(cached) = slot.as_ref()
                && &cached.date == date
                && cached.region == region
                && cached.secret == secret
            {
                return cached.mac.clone();
            }
            let key = derive_key(date, region, secret);
            let mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
            *slot = Some(CachedKey { date: *date, region: region.to_owned(), secret: secret.to_owned(), mac: mac.clone() });
            mac
        })
    }

    /// Forgets this thread's cached key (tests).
    pub fn clear() {
        SIGNING_KEY.with(|slot| *slot.borrow_mut() = None);
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

/// Signs `request` in `scope`: the X-Amz-* query parameters and the signature.
pub fn sign_query(request: &QueryRequest<'_>, scope: &Scope<'_>) -> Signed {
    let date = date_of(scope.amz_date);
    let credential = format!("{}/{}/{}/{SERVICE}/aws4_request", scope.access_key, day(&date), scope.region);
    let mut headers: Vec<(&str, String)> = request.headers.iter().map(|(n, v)| (*n, canonical_value(v))).collect();
    headers.push(("host", canonical_value(request.host)));
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let signed_headers = headers.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(";");
    let expires = scope.expires_secs.to_string();
    let mut amz: Vec<(&str, &str)> = vec![
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", scope.amz_date),
        ("X-Amz-Expires", &expires),
        ("X-Amz-SignedHeaders", &signed_headers),
    ];
    if let Some(token) = scope.session_token {
        amz.push(("X-Amz-Security-Token", token));
    }
    let query: Vec<(String, String)> = request.query.iter().chain(amz.iter()).map(|(n, v)| (encode_query(n), encode_query(v))).collect();
    let canonical = Canonical { method: request.method, path: request.path, query, headers, signed_headers: &signed_headers };
    let mut mac = SigningKeys::mac(&date, scope.region, scope.secret_key);
    mac.update(canonical.string_to_sign(scope.amz_date, &credential[scope.access_key.len() + 1..]).as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());

    // Sent in the SDK's order: the signature comes before the session token.
    let mut params = String::with_capacity(512);
    let (plain, token) = amz.split_at(5);
    let mut push = |name: &str, value: &str| {
        params.push('&');
        params.push_str(name);
        params.push('=');
        crate::encoding::push_query(&mut params, value);
    };
    plain.iter().for_each(|(n, v)| push(n, v));
    push("X-Amz-Signature", &signature);
    token.iter().for_each(|(n, v)| push(n, v));
    Signed { params, signature }
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
    let mut headers: Vec<(&str, String)> = Vec::new();
    for name in link.signed_headers.split(';') {
        let value = if name == "host" { Some(presented.host) } else { presented.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v) };
        headers.push((name, canonical_value(value.ok_or(SignatureError::MissingSignedHeader)?)));
    }
    let query: Vec<(String, String)> =
        presented.query.pairs().filter(|(name, _)| *name != "X-Amz-Signature").map(|(n, v)| (encode_query(n), encode_query(v))).collect();
    let canonical = Canonical { method: presented.method, path: presented.path, query, headers, signed_headers: link.signed_headers };
    let given = hex::decode(link.signature).map_err(|_| SignatureError::Mismatch)?;
    let date = date_of(amz_date);
    let mut mac = SigningKeys::mac(&date, verifier.region, verifier.secret_key);
    mac.update(canonical.string_to_sign(amz_date, &credential[verifier.access_key.len() + 1..]).as_bytes());
    mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// One request's canonical form (the specification's "canonical request").
struct Canonical<'a> {
    method: &'a str,
    path: &'a str,
    /// Encoded (name, value) pairs, in any order: sorted here.
    query: Vec<(String, String)>,
    /// (lower-case name, canonical value), sorted by name.
    headers: Vec<(&'a str, String)>,
    signed_headers: &'a str,
}

impl Canonical<'_> {
    /// The string to sign for this request: `scope` is `<date>/<region>/s3/aws4_request`.
    fn string_to_sign(mut self, amz_date: &str, scope: &str) -> String {
        self.query.sort();
        let mut canonical = String::with_capacity(512);
        canonical.push_str(self.method);
        canonical.push('\n');
        canonical.push_str(self.path);
        canonical.push('\n');
        for (i, (name, value)) in self.query.iter().enumerate() {
            if i > 0 {
                canonical.push('&');
            }
            canonical.push_str(name);
            canonical.push('=');
            canonical.push_str(value);
        }
        canonical.push('\n');
        for (name, value) in &self.headers {
            canonical.push_str(name);
            canonical.push(':');
            canonical.push_str(value);
            canonical.push('\n');
        }
        canonical.push('\n');
        canonical.push_str(self.signed_headers);
        canonical.push('\n');
        canonical.push_str(UNSIGNED_PAYLOAD);

        let mut to_sign = String::with_capacity(160);
        to_sign.push_str(ALGORITHM);
        to_sign.push('\n');
        to_sign.push_str(amz_date);
        to_sign.push('\n');
        to_sign.push_str(scope);
        to_sign.push('\n');
        to_sign.push_str(&hex::encode(Sha256::digest(canonical.as_bytes())));
        to_sign
    }
}

/// The `yyyymmdd` of an `X-Amz-Date` (zeros if it has none: such a date never verifies).
fn date_of(amz_date: &str) -> [u8; 8] {
    amz_date.as_bytes().get(..8).and_then(|d| d.try_into().ok()).unwrap_or([b'0'; 8])
}

fn day(date: &[u8; 8]) -> &str {
    std::str::from_utf8(date).unwrap_or("00000000")
}

/// A header value as SigV4 signs it: trimmed, runs of spaces folded into one.
fn canonical_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, word) in value.split(' ').filter(|w| !w.is_empty()).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example ("Example: Presigned URL", the AWS General Reference):
    /// GET /test.txt from examplebucket, 2013-05-24, 86400 s.
    #[test]
    fn the_documented_example() {
        SigningKeys::clear();
        let request = QueryRequest { method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: &[], headers: &[] };
        let scope = Scope {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: None,
            region: "us-east-1",
            amz_date: "20130524T000000Z",
            expires_secs: 86400,
        };
        let signed = sign_query(&request, &scope);
        assert_eq!(signed.signature, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
        // Cached: the same again.
        assert_eq!(sign_query(&request, &scope).signature, signed.signature);
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
            path,
            query: &[("x-id", "PutObject"), ("x-oncelink-uses", "2")],
            headers: &[("content-type", content_type)],
        };
        let signed = sign_query(&request, &scope("20261201T101500Z"));
        format!("x-id=PutObject&x-oncelink-uses=2{}", signed.params)
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
        assert_eq!(canonical_value("  a   b c "), "a b c");
    }
}
