//! The shape of an S3 SigV4 presigned link, checked without any secret.
//!
//! The edge cannot verify a SigV4 signature (the issuer's credentials stay with the issuer), but
//! it can insist that the request is well formed, unambiguous and inside its validity window
//! before it spends a use. S3 verifies the signature itself when the request reaches it.

use std::time::{Duration, SystemTime};

use crate::query::Query;
use crate::time::parse_amz_date;

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// SigV4 presigned URLs live at most seven days.
pub const MAX_EXPIRES_SECS: u64 = 604_800;

/// The X-Amz-* authentication parameters of a presigned request.
pub const AUTH_PARAMS: [&str; 7] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
];

/// Our policy parameters in presigned mode. S3 ignores query parameters that start with `x-`,
/// but they are part of the signed canonical request, so a viewer cannot change them.
pub const USES_PARAM: &str = "x-oncelink-uses";
pub const GRACE_PARAM: &str = "x-oncelink-grace";

/// Other parameters a link we issue may carry. Everything else is refused: each extra
/// parameter would either break the signature at S3 (burning the use for nothing) or change
/// what S3 does (`?acl`, `?torrent`, …).
pub const OTHER_PARAMS: [&str; 10] = [
    "x-id",
    USES_PARAM,
    GRACE_PARAM,
    "response-content-disposition",
    "response-content-type",
    "response-cache-control",
    "response-content-language",
    "response-content-encoding",
    "response-expires",
    "versionId",
];

/// A presigned link whose parameters have the right shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedLink<'q> {
    pub signature: &'q str,
    pub signed_at: SystemTime,
    pub expires_in: Duration,
    pub region: &'q str,
    pub signed_headers: &'q str,
}

impl PresignedLink<'_> {
    /// The first instant at which the link no longer works.
    pub fn expires_at(&self) -> SystemTime {
        self.signed_at + self.expires_in
    }
}

/// What is wrong with a link's parameters. `Missing` is kept apart because "this is not a
/// presigned link at all" deserves a different message than "this link was tampered with".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("the link has no X-Amz-Signature")]
    Missing,
    #[error("{0}")]
    Malformed(&'static str),
    #[error("unexpected query parameter {0}")]
    Unexpected(String),
}

/// Checks every parameter of a presigned link; returns the parts the decision needs.
pub fn parse(query: &Query) -> Result<PresignedLink<'_>, ShapeError> {
    for name in query.names() {
        let known = AUTH_PARAMS.iter().chain(OTHER_PARAMS.iter()).find(|k| k.eq_ignore_ascii_case(name));
        match known {
            Some(k) if *k == name => {}
            // `x-amz-signature` instead of `X-Amz-Signature`: S3 might treat it as unknown and the
            // request as anonymous, or not. Either way it is not what we issued.
            Some(_) => return Err(ShapeError::Malformed("query parameter name in unexpected case")),
            None => return Err(ShapeError::Unexpected(name.chars().take(40).collect())),
        }
    }
    let signature = query.get("X-Amz-Signature").ok_or(ShapeError::Missing)?;
    if signature.len() != 64 || !signature.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ShapeError::Malformed("X-Amz-Signature is not 64 lower-case hex digits"));
    }
    let required = |name: &'static str| query.get(name).ok_or(ShapeError::Malformed(name));
    if required("X-Amz-Algorithm")? != ALGORITHM {
        return Err(ShapeError::Malformed("X-Amz-Algorithm is not AWS4-HMAC-SHA256"));
    }
    let date = required("X-Amz-Date")?;
    let signed_at = parse_amz_date(date).ok_or(ShapeError::Malformed("X-Amz-Date is not yyyymmddThhmmssZ"))?;
    let expires_in = parse_expires(required("X-Amz-Expires")?)?;
    let region = check_credential(required("X-Amz-Credential")?, &date[..8])?;
    let signed_headers = required("X-Amz-SignedHeaders")?;
    let headers_ok = !signed_headers.is_empty()
        && signed_headers.split(';').all(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
        && signed_headers.split(';').any(|h| h == "host");
    if !headers_ok {
        return Err(ShapeError::Malformed("X-Amz-SignedHeaders is not a ';'-list of lower-case names with host"));
    }
    if query.get("X-Amz-Security-Token").is_some_and(str::is_empty) {
        return Err(ShapeError::Malformed("X-Amz-Security-Token is empty"));
    }
    Ok(PresignedLink { signature, signed_at, expires_in, region, signed_headers })
}

fn parse_expires(raw: &str) -> Result<Duration, ShapeError> {
    const BAD: ShapeError = ShapeError::Malformed("X-Amz-Expires is not a whole number of seconds in 1..=604800");
    // Digits only, no sign, no leading zero: one spelling per number.
    if raw.is_empty() || raw.len() > 6 || raw.starts_with('0') || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BAD);
    }
    let secs: u64 = raw.parse().map_err(|_| BAD)?;
    if !(1..=MAX_EXPIRES_SECS).contains(&secs) {
        return Err(BAD);
    }
    Ok(Duration::from_secs(secs))
}

/// `<access key id>/<yyyymmdd>/<region>/s3/aws4_request`, with the date matching X-Amz-Date.
fn check_credential<'q>(credential: &'q str, date: &str) -> Result<&'q str, ShapeError> {
    const BAD: ShapeError = ShapeError::Malformed("X-Amz-Credential is not <key>/<date>/<region>/s3/aws4_request");
    let parts: Vec<&str> = credential.split('/').collect();
    let [key_id, scope_date, region, "s3", "aws4_request"] = parts.as_slice() else {
        return Err(BAD);
    };
    let key_ok = (3..=128).contains(&key_id.len()) && key_id.bytes().all(|b| b.is_ascii_alphanumeric());
    let region_ok = (1..=32).contains(&region.len()) && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !key_ok || !region_ok {
        return Err(BAD);
    }
    if *scope_date != date {
        return Err(ShapeError::Malformed("X-Amz-Credential date differs from X-Amz-Date"));
    }
    Ok(region)
}
