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
//! The signing key changes once a day per region, service and secret, yet costs four chained
//! HMACs: [`SigningKeys`] keeps the last one per thread (with the HMAC's key schedule already
//! done), so signing a link is one SHA-256 of the canonical request and one HMAC.

use std::cell::RefCell;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::encoding::encode_query;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
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
    let date: [u8; 8] = scope.amz_date.as_bytes().get(..8).and_then(|d| d.try_into().ok()).unwrap_or([b'0'; 8]);
    let date_str = std::str::from_utf8(&date).unwrap_or("00000000");
    let credential = format!("{}/{date_str}/{}/{SERVICE}/aws4_request", scope.access_key, scope.region);
    let mut signed_headers = String::with_capacity(32);
    let mut headers: Vec<(&str, String)> = request.headers.iter().map(|(n, v)| (*n, canonical_value(v))).collect();
    headers.push(("host", canonical_value(request.host)));
    headers.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (name, _)) in headers.iter().enumerate() {
        if i > 0 {
            signed_headers.push(';');
        }
        signed_headers.push_str(name);
    }
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

    // The canonical query: every parameter, encoded, sorted by name then value.
    let mut all: Vec<(String, String)> = request.query.iter().chain(amz.iter()).map(|(n, v)| (encode_query(n), encode_query(v))).collect();
    all.sort();
    let mut canonical = String::with_capacity(512);
    canonical.push_str(request.method);
    canonical.push('\n');
    canonical.push_str(request.path);
    canonical.push('\n');
    for (i, (name, value)) in all.iter().enumerate() {
        if i > 0 {
            canonical.push('&');
        }
        canonical.push_str(name);
        canonical.push('=');
        canonical.push_str(value);
    }
    canonical.push('\n');
    for (name, value) in &headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers);
    canonical.push('\n');
    canonical.push_str(UNSIGNED_PAYLOAD);

    let mut to_sign = String::with_capacity(160);
    to_sign.push_str(ALGORITHM);
    to_sign.push('\n');
    to_sign.push_str(scope.amz_date);
    to_sign.push('\n');
    to_sign.push_str(&credential[scope.access_key.len() + 1..]);
    to_sign.push('\n');
    to_sign.push_str(&hex::encode(Sha256::digest(canonical.as_bytes())));
    let mut mac = SigningKeys::mac(&date, scope.region, scope.secret_key);
    mac.update(to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());

    // Sent in the SDK's order: the signature comes before the session token.
    let mut params = String::with_capacity(512);
    let (plain, token) = amz.split_at(5);
    for (name, value) in plain {
        params.push('&');
        params.push_str(name);
        params.push('=');
        params.push_str(&encode_query(value));
    }
    params.push_str("&X-Amz-Signature=");
    params.push_str(&signature);
    for (name, value) in token {
        params.push('&');
        params.push_str(name);
        params.push('=');
        params.push_str(&encode_query(value));
    }
    Signed { params, signature }
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

    #[test]
    fn header_values_are_trimmed_and_folded() {
        assert_eq!(canonical_value("  a   b c "), "a b c");
    }
}
