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

use crate::encoding::{encode_key, push_key};
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
            None => {
                let mut base = String::with_capacity(26 + self.bucket.len() + self.region.len());
                for part in ["https://", &self.bucket, ".s3.", &self.region, ".amazonaws.com"] {
                    base.push_str(part);
                }
                (base, String::new())
            }
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
        let mut url = String::with_capacity(cdn.len() + 8 + self.path_and_query.len());
        push_cdn_base(&mut url, cdn);
        url.push_str(&self.path_and_query);
        url
    }
}

/// Appends the `scheme://host[:port]` of `cdn`: a bare domain (`https` is implied) or a
/// `scheme://host[:port]` base (a trailing `/` is dropped).
pub fn push_cdn_base(out: &mut String, cdn: &str) {
    let cdn = cdn.trim_end_matches('/');
    if !cdn.contains("://") {
        out.push_str("https://");
    }
    out.push_str(cdn);
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
    let mut path_and_query = String::with_capacity(512);
    let (origin, signature) = presign_into(&mut path_and_query, origin, credentials, request, now)?;
    Ok(PresignedUrl { origin, path_and_query, signature: signature.as_str().to_owned() })
}

/// [`presign`], straight onto the CDN ([`PresignedUrl::on_cdn`]): the URL and its signature.
pub fn presign_on_cdn(
    cdn: &str,
    origin: &S3Origin,
    credentials: &Credentials,
    request: &PresignRequest<'_>,
    now: SystemTime,
) -> Result<(String, sigv4::Signature), PresignError> {
    let mut url = String::with_capacity(512);
    push_cdn_base(&mut url, cdn);
    let (_, signature) = presign_into(&mut url, origin, credentials, request, now)?;
    Ok((url, signature))
}

/// Appends the presigned path and query to `out`; returns the origin's `scheme://authority`
/// and the signature.
fn presign_into(
    out: &mut String,
    origin: &S3Origin,
    credentials: &Credentials,
    request: &PresignRequest<'_>,
    now: SystemTime,
) -> Result<(String, sigv4::Signature), PresignError> {
    let (base, prefix) = origin.base_and_prefix();
    let path_start = out.len();
    out.push_str(&prefix);
    out.push('/');
    push_key(out, request.key);
    // The SDK always names the operation in `x-id`; S3 ignores it but it is signed.
    let x_id = [("x-id", request.method.operation())];
    let with_extra: Vec<(&str, &str)>;
    let query: &[(&str, &str)] = if request.extra_query.is_empty() {
        &x_id
    } else {
        with_extra = x_id.into_iter().chain(request.extra_query.iter().map(|(name, value)| (*name, value.as_str()))).collect();
        &with_extra
    };
    let content_type = request.content_type.map(|ct| [("content-type", ct)]);
    let headers: &[(&str, &str)] = content_type.as_ref().map_or(&[], |header| header);
    let host = base.split_once("://").map_or(base.as_str(), |(_, host)| host);
    let amz_date = amz_date(now);
    let signature = sigv4::sign_query(
        out,
        path_start,
        &sigv4::QueryRequest { method: request.method.as_str(), host, query, headers },
        &sigv4::Scope {
            access_key: credentials.access_key_id(),
            secret_key: credentials.secret_access_key(),
            session_token: credentials.session_token(),
            region: &origin.region,
            amz_date: std::str::from_utf8(&amz_date).unwrap_or_default(),
            expires_secs: request.expires_in.as_secs(),
        },
    );
    Ok((base, signature))
}

/// `yyyymmddThhmmssZ` (UTC).
fn amz_date(t: SystemTime) -> [u8; 16] {
    let secs = crate::time::unix_secs(t) as i64;
    let dt = time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut out = *b"00000000T000000Z";
    let mut put = |at: usize, width: usize, value: u32| {
        let mut value = value;
        for digit in out[at..at + width].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    // The time crate's years are -9999..=9999; X-Amz-Date has four digits.
    put(0, 4, dt.year().clamp(0, 9999) as u32);
    put(4, 2, u8::from(dt.month()).into());
    put(6, 2, dt.day().into());
    put(9, 2, dt.hour().into());
    put(11, 2, dt.minute().into());
    put(13, 2, dt.second().into());
    out
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
