//! Signing S3 object requests: presigned URLs (query signing, with our own [`sigv4`] signer and
//! its cached signing key: the hot path of issuing) and origin requests signed with headers (with
//! `aws-sigv4`, as CloudFront's OAC does).
//!
//! Presigning produces byte for byte the URL `aws-sdk-s3`'s `presigned()` produces for the same
//! inputs and time (a test holds us to that), without building an SDK client per link. S3's
//! signing rules: payload `UNSIGNED-PAYLOAD`, no path normalisation, single URI encoding.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::encoding::{encode_key, encode_query};
use crate::link::LinkMethod;
use crate::sigv4;

/// Where the objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Origin {
    pub bucket: String,
    pub region: String,
    /// `None`: AWS S3, virtual-hosted style (`https://<bucket>.s3.<region>.amazonaws.com/<key>`).
    /// `Some(base)`: an S3-compatible endpoint, path style (`<base>/<bucket>/<key>`).
    pub endpoint: Option<String>,
}

impl S3Origin {
    /// `scheme://authority` of the origin: where a request for a link's path goes.
    pub fn base_url(&self) -> String {
        self.base_and_prefix().0
    }

    /// `scheme://authority` and the path prefix before the key.
    fn base_and_prefix(&self) -> (String, String) {
        match &self.endpoint {
            None => (format!("https://{}.s3.{}.amazonaws.com", self.bucket, self.region), String::new()),
            Some(endpoint) => (endpoint.trim_end_matches('/').to_owned(), format!("/{}", encode_key(&self.bucket))),
        }
    }
}

/// One request to presign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignRequest<'a> {
    pub method: LinkMethod,
    pub key: &'a str,
    pub expires_in: Duration,
    /// For PUT: the `Content-Type` the uploader must send (it becomes a signed header).
    pub content_type: Option<&'a str>,
    /// More query parameters to sign (name, unencoded value), after `x-id`.
    pub extra_query: &'a [(&'a str, String)],
}

/// A presigned URL on the origin host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedUrl {
    /// `scheme://authority` of the origin.
    pub origin: String,
    /// Path and query, starting with `/`.
    pub path_and_query: String,
    /// The `X-Amz-Signature` value.
    pub signature: String,
}

impl PresignedUrl {
    /// The URL on the origin host, as signed.
    pub fn origin_url(&self) -> String {
        format!("{}{}", self.origin, self.path_and_query)
    }

    /// The same request on the CDN: only the scheme and host change, so the signature (made for
    /// the origin host, which the CDN sends to the origin) stays valid.
    /// `cdn` is a bare domain (`https` is implied) or a `scheme://host[:port]` base.
    pub fn on_cdn(&self, cdn: &str) -> String {
        let cdn = cdn.trim_end_matches('/');
        if cdn.contains("://") { format!("{cdn}{}", self.path_and_query) } else { format!("https://{cdn}{}", self.path_and_query) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PresignError {
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Presigns `request` for `origin` with `credentials`, as of `now`.
pub fn presign(
    origin: &S3Origin,
    credentials: &Credentials,
    request: &PresignRequest<'_>,
    now: SystemTime,
) -> Result<PresignedUrl, PresignError> {
    let (base, prefix) = origin.base_and_prefix();
    let path = format!("{prefix}/{}", encode_key(request.key));
    // The SDK always names the operation in `x-id`; S3 ignores it but it is signed.
    let mut query: Vec<(&str, &str)> = Vec::with_capacity(1 + request.extra_query.len());
    query.push(("x-id", request.method.operation()));
    query.extend(request.extra_query.iter().map(|(name, value)| (*name, value.as_str())));
    let headers: Vec<(&str, &str)> = request.content_type.map(|ct| ("content-type", ct)).into_iter().collect();
    let host = base.split_once("://").map_or(base.as_str(), |(_, host)| host);
    let amz_date = amz_date(now);
    let signed = sigv4::sign_query(
        &sigv4::QueryRequest { method: request.method.as_str(), host, path: &path, query: &query, headers: &headers },
        &sigv4::Scope {
            access_key: credentials.access_key_id(),
            secret_key: credentials.secret_access_key(),
            session_token: credentials.session_token(),
            region: &origin.region,
            amz_date: &amz_date,
            expires_secs: request.expires_in.as_secs(),
        },
    );
    let mut path_and_query = path;
    for (i, (name, value)) in query.iter().enumerate() {
        path_and_query.push(if i == 0 { '?' } else { '&' });
        path_and_query.push_str(&encode_query(name));
        path_and_query.push('=');
        path_and_query.push_str(&encode_query(value));
    }
    path_and_query.push_str(&signed.params);
    Ok(PresignedUrl { origin: base, path_and_query, signature: signed.signature })
}

/// `yyyymmddThhmmssZ` (UTC).
fn amz_date(t: SystemTime) -> String {
    let secs = crate::time::unix_secs(t) as i64;
    let dt = time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", dt.year(), u8::from(dt.month()), dt.day(), dt.hour(), dt.minute(), dt.second())
}

/// S3's signing rules: single URI encoding, no path normalisation (the payload is always
/// `UNSIGNED-PAYLOAD`, see [`sign_s3`]).
fn s3_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings
}

/// Signs one S3 request with `settings`; returns what to add to it and the signature.
fn sign_s3<'a>(
    origin: &S3Origin,
    credentials: &Credentials,
    settings: SigningSettings,
    method: &'a str,
    url: &'a str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    now: SystemTime,
) -> Result<(aws_sigv4::http_request::SigningInstructions, String), PresignError> {
    let identity: Identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&origin.region)
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| PresignError::Signing(e.to_string()))?
        .into();
    let signable =
        SignableRequest::new(method, url, headers, SignableBody::UnsignedPayload).map_err(|e| PresignError::Signing(e.to_string()))?;
    Ok(sign(signable, &params).map_err(|e| PresignError::Signing(e.to_string()))?.into_parts())
}

/// A request to the origin signed with SigV4 *headers* (what CloudFront's OAC does for sealed
/// links, and what the gateway does for every forwarded request in sealed mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedOriginRequest {
    pub url: String,
    /// Headers to add: `authorization`, `x-amz-date`, `x-amz-content-sha256` and, with temporary
    /// credentials, `x-amz-security-token`.
    pub headers: Vec<(&'static str, String)>,
}

/// Signs `method` on object `key` at `origin`, with an already canonically encoded `query`
/// (may be empty). The payload is not signed (`UNSIGNED-PAYLOAD`), so bodies can stream.
pub fn sign_origin_request(
    origin: &S3Origin,
    credentials: &Credentials,
    method: &str,
    key: &str,
    query: &str,
    now: SystemTime,
) -> Result<SignedOriginRequest, PresignError> {
    let (base, prefix) = origin.base_and_prefix();
    let mut url = format!("{base}{prefix}/{}", encode_key(key));
    if !query.is_empty() {
        url.push('?');
        url.push_str(query);
    }
    let mut settings = s3_settings();
    settings.payload_checksum_kind = aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    let (instructions, _signature) = sign_s3(origin, credentials, settings, method, &url, std::iter::empty(), now)?;
    let (headers, _params) = instructions.into_parts();
    let headers = headers.into_iter().map(|h| (h.name(), h.value().to_owned())).collect();
    Ok(SignedOriginRequest { url, headers })
}
