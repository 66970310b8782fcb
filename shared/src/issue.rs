//! The link-issuing API, protocol-neutral: the `issue-url` Lambda and the gateway both adapt
//! HTTP to [`handle`] and back, so the contract below exists once.
//!
//! ```text
//! POST /links   {"key": "...", "method"?: "GET"|"PUT", "expires_in"?: secs, "content_type"?: "...",
//!                "mode"?: "sealed"|"presigned", "max_uses"?: n, "grace_seconds"?: s, "filename"?: "..."}
//!               → 201 {"url", "method", "key", "expires_at", "link_id", "mode", "max_uses", "grace_seconds"}
//! GET  /links?key=...&method=...&expires_in=...[&max_uses=..][&grace_seconds=..][&filename=..][&redirect=1]
//!               → 200 (same JSON) or 302 Location: <url>  (Cache-Control: no-store, never 301)
//! DELETE /links/{link_id} → 200 {"link_id", "revoked": true}
//! GET  /links/{link_id} → 200 {"link_id", "uses", "first_used_at", "revoked"}
//! OPTIONS *     → 204 CORS preflight
//! errors        → 4xx/5xx {"error": code, "message": text}
//! ```

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use serde::{Deserialize, Serialize};

use crate::config::LinkMode;
use crate::encoding::encode_key;
use crate::ledger::{Ledger, LedgerKey, is_link_id, link_id_for_nonce, link_id_for_signature};
use crate::metrics::ApiOutcome;
use crate::presign::{LinkMethod, PresignRequest, S3Origin, presign};
use crate::presigned::{GRACE_PARAM, MAX_EXPIRES_SECS, USES_PARAM};
use crate::sealed::{self, Claims, KeySet, MAX_GRACE_SECONDS, MAX_USES};
use crate::time::{from_unix_secs, rfc3339, unix_secs};

/// Longest object key S3 accepts, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How links are issued: where objects live, the CDN in front, and the limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    pub origin: S3Origin,
    /// CDN domain (`https` implied) or `scheme://host[:port]` base the links point at.
    pub cdn: String,
    pub default_expires: Duration,
    pub max_expires: Duration,
    /// Keys must start with this (empty: any key).
    pub key_prefix: String,
    /// Origins allowed to call the API from a browser (`*` for any).
    pub cors_origins: Vec<String>,
    /// The deployment's link mode (a request may name it, but not change it).
    pub mode: LinkMode,
}

/// What signs links: AWS credentials (presigned mode), the key set (sealed mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct Signer<'a> {
    pub credentials: Option<&'a Credentials>,
    pub keys: Option<&'a KeySet>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct SettingsError {
    pub name: &'static str,
    pub problem: String,
}

impl IssuerSettings {
    /// Reads the settings through `lookup` (the environment, in the Lambda function):
    ///
    /// | variable                       | default                 |
    /// |--------------------------------|-------------------------|
    /// | `ONCELINK_BUCKET`              | required                |
    /// | `ONCELINK_REGION`              | `AWS_REGION`            |
    /// | `ONCELINK_CDN_DOMAIN`          | required                |
    /// | `ONCELINK_ORIGIN_ENDPOINT`     | AWS S3 (virtual-hosted) |
    /// | `ONCELINK_DEFAULT_EXPIRES_SECS`| 900                     |
    /// | `ONCELINK_MAX_EXPIRES_SECS`    | 604800 (7 days)         |
    /// | `ONCELINK_KEY_PREFIX`          | empty (any key)         |
    /// | `ONCELINK_CORS_ORIGINS`        | empty (no CORS)         |
    /// | `ONCELINK_MODE`                | `sealed`                |
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or(SettingsError { name, problem: "is required".into() });
        let secs = |name: &'static str, default: u64| -> Result<Duration, SettingsError> {
            match get(name) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => match v.parse::<u64>() {
                    Ok(s) if (1..=MAX_EXPIRES_SECS).contains(&s) => Ok(Duration::from_secs(s)),
                    _ => Err(SettingsError { name, problem: format!("must be seconds in 1..={MAX_EXPIRES_SECS}, got {v:?}") }),
                },
            }
        };
        let region = get("ONCELINK_REGION")
            .or_else(|| get("AWS_REGION"))
            .ok_or(SettingsError { name: "ONCELINK_REGION", problem: "is required (or AWS_REGION)".into() })?;
        let settings = Self {
            origin: S3Origin { bucket: required("ONCELINK_BUCKET")?, region, endpoint: get("ONCELINK_ORIGIN_ENDPOINT") },
            cdn: required("ONCELINK_CDN_DOMAIN")?,
            default_expires: secs("ONCELINK_DEFAULT_EXPIRES_SECS", 900)?,
            max_expires: secs("ONCELINK_MAX_EXPIRES_SECS", MAX_EXPIRES_SECS)?,
            key_prefix: get("ONCELINK_KEY_PREFIX").unwrap_or_default(),
            cors_origins: get("ONCELINK_CORS_ORIGINS")
                .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
            mode: match get("ONCELINK_MODE") {
                None => LinkMode::Sealed,
                Some(raw) => LinkMode::parse(&raw)
                    .ok_or(SettingsError { name: "ONCELINK_MODE", problem: format!("must be sealed or presigned, got {raw:?}") })?,
            },
        };
        if settings.default_expires > settings.max_expires {
            return Err(SettingsError {
                name: "ONCELINK_DEFAULT_EXPIRES_SECS",
                problem: "is larger than ONCELINK_MAX_EXPIRES_SECS".into(),
            });
        }
        Ok(settings)
    }
}

/// What a caller asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub key: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub max_uses: Option<u32>,
    #[serde(default)]
    pub grace_seconds: Option<u32>,
    /// Download name (GET links): the browser saves the file under this name.
    #[serde(default)]
    pub filename: Option<String>,
}

/// What the caller gets back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedLink {
    pub url: String,
    pub method: LinkMethod,
    pub key: String,
    /// RFC 3339; the real end of validity (may be earlier than asked when the signing
    /// credentials expire sooner).
    pub expires_at: String,
    /// Names the link (for `DELETE /links/{link_id}`); it cannot be used to fetch anything.
    pub link_id: String,
    pub mode: LinkMode,
    pub max_uses: u32,
    pub grace_seconds: u32,
}

/// Why a link was not issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IssueError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl IssueError {
    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self { status: 400, code, message: message.into() }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self { status: 503, code: "credentials_unavailable", message: message.into() }
    }

    fn keys_unavailable() -> Self {
        Self { status: 503, code: "keys_unavailable", message: "the sealed-link key set is unavailable".into() }
    }

    pub fn body(&self) -> String {
        serde_json::json!({"error": self.code, "message": self.message}).to_string()
    }
}

/// Checks an object key: the same rules the edge applies to paths, so every key we sign
/// produces a link the edge accepts.
pub fn validate_key(key: &str, prefix: &str) -> Result<(), IssueError> {
    if key.is_empty() {
        return Err(IssueError::bad("invalid_key", "key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(IssueError::bad("invalid_key", format!("key is longer than {MAX_KEY_BYTES} bytes")));
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Err(IssueError::bad("invalid_key", "key must not contain control characters or backslashes"));
    }
    if key.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return Err(IssueError::bad("invalid_key", "key must not start or end with '/', contain '//', or '.'/'..' segments"));
    }
    if !key.starts_with(prefix) {
        return Err(IssueError::bad("key_outside_prefix", format!("key must start with {prefix:?}")));
    }
    Ok(())
}

fn parse_method(raw: Option<&str>) -> Result<LinkMethod, IssueError> {
    match raw {
        None | Some("GET") => Ok(LinkMethod::Get),
        Some("PUT") => Ok(LinkMethod::Put),
        Some(other) => Err(IssueError::bad(
            "unknown_method",
            format!("method must be GET or PUT, not {:?}", other.chars().take(16).collect::<String>()),
        )),
    }
}

fn validate_content_type(ct: &str) -> Result<(), IssueError> {
    if ct.contains('/') && sealed::valid_content_type(ct) {
        Ok(())
    } else {
        Err(IssueError::bad("invalid_content_type", "content_type must be a printable MIME type of at most 200 bytes"))
    }
}

/// The request's policy, validated.
struct Policy {
    method: LinkMethod,
    expires_in: Duration,
    max_uses: u32,
    grace_seconds: u32,
}

fn validate(settings: &IssuerSettings, request: &LinkRequest) -> Result<Policy, IssueError> {
    validate_key(&request.key, &settings.key_prefix)?;
    let method = parse_method(request.method.as_deref())?;
    if let Some(mode) = &request.mode
        && LinkMode::parse(mode) != Some(settings.mode)
    {
        return Err(IssueError::bad("unsupported_mode", format!("this deployment issues {} links", settings.mode.as_str())));
    }
    let expires_in = match request.expires_in {
        None => settings.default_expires,
        Some(s) if s >= 1 && s <= settings.max_expires.as_secs() => Duration::from_secs(s),
        Some(s) => {
            return Err(IssueError::bad(
                "invalid_expires_in",
                format!("expires_in must be 1..={} seconds, got {s}", settings.max_expires.as_secs()),
            ));
        }
    };
    if let Some(ct) = &request.content_type {
        if method != LinkMethod::Put {
            return Err(IssueError::bad("invalid_content_type", "content_type applies to PUT links only"));
        }
        validate_content_type(ct)?;
    }
    let max_uses = request.max_uses.unwrap_or(1);
    if !(1..=u32::from(MAX_USES)).contains(&max_uses) {
        return Err(IssueError::bad("invalid_max_uses", format!("max_uses must be 1..={MAX_USES}")));
    }
    let grace_seconds = request.grace_seconds.unwrap_or(0);
    if grace_seconds > MAX_GRACE_SECONDS {
        return Err(IssueError::bad("invalid_grace_seconds", format!("grace_seconds must be 0..={MAX_GRACE_SECONDS}")));
    }
    if let Some(name) = &request.filename
        && (method != LinkMethod::Get || !sealed::valid_filename(name))
    {
        return Err(IssueError::bad(
            "invalid_filename",
            "filename applies to GET links: 1..=200 bytes, no control characters, quotes, slashes or backslashes",
        ));
    }
    Ok(Policy { method, expires_in, max_uses, grace_seconds })
}

/// The CDN's host (and port), as the viewer will send it in `Host`.
fn cdn_host(cdn: &str) -> String {
    let rest = cdn.split_once("://").map_or(cdn, |(_, rest)| rest);
    rest.split('/').next().unwrap_or("").to_ascii_lowercase()
}

/// Validates `request` and signs it in the deployment's mode; the URL points at the CDN.
pub fn issue(settings: &IssuerSettings, signer: Signer<'_>, request: &LinkRequest, now: SystemTime) -> Result<IssuedLink, IssueError> {
    let policy = validate(settings, request)?;
    // X-Amz-Date and the token both hold whole seconds.
    let now = from_unix_secs(unix_secs(now));
    let (url, link_id, expires_in) = match settings.mode {
        LinkMode::Sealed => issue_sealed(settings, signer.keys.ok_or_else(IssueError::keys_unavailable)?, request, &policy, now)?,
        LinkMode::Presigned => issue_presigned(
            settings,
            signer.credentials.ok_or_else(|| IssueError::unavailable("no signing credentials"))?,
            request,
            &policy,
            now,
        )?,
    };
    Ok(IssuedLink {
        url,
        method: policy.method,
        key: request.key.clone(),
        expires_at: rfc3339(now + expires_in),
        link_id,
        mode: settings.mode,
        max_uses: policy.max_uses,
        grace_seconds: policy.grace_seconds,
    })
}

fn issue_sealed(
    settings: &IssuerSettings,
    keys: &KeySet,
    request: &LinkRequest,
    policy: &Policy,
    now: SystemTime,
) -> Result<(String, String, Duration), IssueError> {
    let nonce = sealed::random_nonce().map_err(|e| IssueError { status: 500, code: "no_randomness", message: e.to_string() })?;
    let claims = Claims {
        kid: keys.active_kid().to_owned(),
        method: policy.method,
        expires_at: unix_secs(now) + policy.expires_in.as_secs(),
        max_uses: u16::try_from(policy.max_uses).unwrap_or(MAX_USES),
        grace_seconds: policy.grace_seconds,
        nonce,
        filename: request.filename.clone(),
        content_type: request.content_type.clone(),
    };
    let path = format!("/{}", encode_key(&request.key));
    let token = sealed::seal(&claims, keys.active_secret(), &cdn_host(&settings.cdn), &path).map_err(|e| IssueError {
        status: 500,
        code: "signing_failed",
        message: e.to_string(),
    })?;
    let base = settings.cdn.trim_end_matches('/');
    let url = if base.contains("://") { format!("{base}{path}?{token}") } else { format!("https://{base}{path}?{token}") };
    Ok((url, link_id_for_nonce(&nonce), policy.expires_in))
}

fn issue_presigned(
    settings: &IssuerSettings,
    credentials: &Credentials,
    request: &LinkRequest,
    policy: &Policy,
    now: SystemTime,
) -> Result<(String, String, Duration), IssueError> {
    // A presigned URL stops working when the credentials that signed it expire, whatever
    // X-Amz-Expires says. Never promise more than they can keep.
    let expires_in = match credentials.expiry() {
        Some(expiry) => {
            let left = Duration::from_secs(expiry.duration_since(now).unwrap_or_default().as_secs());
            if left < Duration::from_secs(1) {
                return Err(IssueError::unavailable("the signing credentials have expired"));
            }
            policy.expires_in.min(left)
        }
        None => policy.expires_in,
    };
    // Policies travel as signed x- parameters (S3 ignores them, but they are in the signature).
    let mut extra: Vec<(&str, String)> = Vec::new();
    if let Some(name) = &request.filename {
        extra.push(("response-content-disposition", crate::decision::content_disposition(name)));
    }
    if policy.max_uses != 1 {
        extra.push((USES_PARAM, policy.max_uses.to_string()));
    }
    if policy.grace_seconds != 0 {
        extra.push((GRACE_PARAM, policy.grace_seconds.to_string()));
    }
    let signed = presign(
        &settings.origin,
        credentials,
        &PresignRequest {
            method: policy.method,
            key: &request.key,
            expires_in,
            content_type: request.content_type.as_deref(),
            extra_query: &extra,
        },
        now,
    )
    .map_err(|e| IssueError { status: 500, code: "signing_failed", message: e.to_string() })?;
    Ok((signed.on_cdn(&settings.cdn), link_id_for_signature(&signed.signature), expires_in))
}

/// Revokes a link by id: later uses get `403 link_revoked`.
pub async fn revoke(settings: &IssuerSettings, ledger: &dyn Ledger, link_id: &str, now: SystemTime) -> Result<(), IssueError> {
    if !is_link_id(link_id) {
        return Err(IssueError { status: 400, code: "invalid_link_id", message: "a link id is 22 base64url characters".into() });
    }
    // The record must outlive any link this deployment could have issued.
    let retain_until = now + settings.max_expires + Duration::from_secs(24 * 3600);
    ledger.revoke(&LedgerKey::for_link(link_id), now, retain_until).await.map_err(|e| IssueError {
        status: 503,
        code: "ledger_unavailable",
        message: e.to_string(),
    })
}

/// What the ledger knows about a link: `{"link_id", "uses", "first_used_at", "revoked"}`.
pub async fn link_state(ledger: &dyn Ledger, link_id: &str) -> Result<String, IssueError> {
    if !is_link_id(link_id) {
        return Err(IssueError { status: 400, code: "invalid_link_id", message: "a link id is 22 base64url characters".into() });
    }
    let state = ledger
        .lookup(&LedgerKey::for_link(link_id))
        .await
        .map_err(|e| IssueError { status: 503, code: "ledger_unavailable", message: e.to_string() })?
        .unwrap_or_default();
    Ok(serde_json::json!({
        "link_id": link_id,
        "uses": state.uses,
        "first_used_at": state.first_used_at.map(rfc3339),
        "revoked": state.revoked,
    })
    .to_string())
}

/// Does this request need the ledger (revocation, link state)?
pub fn needs_ledger(request: &ApiRequest<'_>) -> bool {
    matches!(request.method, "GET" | "DELETE") && request.path.starts_with("/links/")
}

/// A request to the API, as plain data.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest<'a> {
    pub method: &'a str,
    /// Path relative to the API's base (`/links`).
    pub path: &'a str,
    /// Raw query string (no `?`).
    pub query: &'a str,
    /// The `Origin` header, if any.
    pub origin: Option<&'a str>,
    pub body: &'a [u8],
}

/// The API's answer, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    /// For the metrics: the error code (`ok` on success) and the link issued, if any.
    pub outcome: ApiOutcome,
}

impl ApiResponse {
    fn json(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".into()), ("cache-control", "no-store".into())],
            body,
            outcome: ApiOutcome::ok(None),
        }
    }

    pub fn error(error: &IssueError) -> Self {
        Self { outcome: ApiOutcome { code: error.code, issued: None }, ..Self::json(error.status, error.body()) }
    }
}

/// Does this request sign a link? (Callers fetch credentials or keys only then.)
pub fn signs_link(request: &ApiRequest<'_>) -> bool {
    matches!(request.method, "GET" | "POST") && request.path == "/links"
}

/// Routes and answers one API request. `signer` must hold what the deployment's mode needs
/// when [`signs_link`] says so; `ledger` is needed for revocation.
pub async fn handle(
    settings: &IssuerSettings,
    signer: Signer<'_>,
    ledger: Option<&dyn Ledger>,
    request: &ApiRequest<'_>,
    now: SystemTime,
) -> ApiResponse {
    let mut response = match (request.method, request.path.strip_prefix("/links/"), ledger) {
        ("DELETE" | "GET", Some(_), None) => {
            ApiResponse::error(&IssueError { status: 503, code: "ledger_unavailable", message: "no ledger is configured".into() })
        }
        ("DELETE", Some(link_id), Some(ledger)) => match revoke(settings, ledger, link_id, now).await {
            Ok(()) => ApiResponse::json(200, serde_json::json!({"link_id": link_id, "revoked": true}).to_string()),
            Err(e) => ApiResponse::error(&e),
        },
        ("GET", Some(link_id), Some(ledger)) => match link_state(ledger, link_id).await {
            Ok(body) => ApiResponse::json(200, body),
            Err(e) => ApiResponse::error(&e),
        },
        _ => route(settings, signer, request, now),
    };
    add_cors(settings, request.origin, &mut response);
    response
}

fn route(settings: &IssuerSettings, signer: Signer<'_>, request: &ApiRequest<'_>, now: SystemTime) -> ApiResponse {
    if request.method == "OPTIONS" {
        return ApiResponse {
            status: 204,
            headers: vec![("cache-control", "no-store".into())],
            body: String::new(),
            outcome: ApiOutcome::ok(None),
        };
    }
    if request.path != "/links" {
        return ApiResponse::error(&IssueError { status: 404, code: "not_found", message: "no such route; use /links".into() });
    }
    let (link_request, redirect) = match request.method {
        "POST" => {
            if request.body.len() > MAX_BODY_BYTES {
                return ApiResponse::error(&IssueError {
                    status: 413,
                    code: "body_too_large",
                    message: format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                });
            }
            match serde_json::from_slice::<LinkRequest>(request.body) {
                Ok(r) => (r, false),
                Err(e) => {
                    return ApiResponse::error(&IssueError::bad("invalid_json", format!("the body is not a valid link request: {e}")));
                }
            }
        }
        "GET" => match parse_query(request.query) {
            Ok(pair) => pair,
            Err(e) => return ApiResponse::error(&e),
        },
        _ => {
            return ApiResponse::error(&IssueError {
                status: 405,
                code: "method_not_allowed",
                message: "use POST or GET on /links, DELETE on /links/{id}".into(),
            });
        }
    };
    match issue(settings, signer, &link_request, now) {
        Err(e) => ApiResponse::error(&e),
        Ok(link) if redirect => ApiResponse {
            status: 302,
            outcome: ApiOutcome::ok(Some((link.mode, link.method))),
            headers: vec![("location", link.url), ("cache-control", "no-store".into())],
            body: String::new(),
        },
        Ok(link) => {
            let status = if request.method == "POST" { 201 } else { 200 };
            let outcome = ApiOutcome::ok(Some((link.mode, link.method)));
            ApiResponse { outcome, ..ApiResponse::json(status, serde_json::to_string(&link).unwrap_or_default()) }
        }
    }
}

/// `GET /links` parameters: key, method, expires_in, content_type, redirect.
fn parse_query(raw: &str) -> Result<(LinkRequest, bool), IssueError> {
    let mut request = LinkRequest::default();
    let mut seen: Vec<String> = Vec::new();
    let mut redirect = false;
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        if seen.iter().any(|s| *s == name) {
            return Err(IssueError::bad("invalid_query", format!("parameter {name} is repeated")));
        }
        seen.push(name.to_string());
        match name.as_ref() {
            "key" => request.key = value.into_owned(),
            "method" => request.method = Some(value.into_owned()),
            "expires_in" => {
                request.expires_in =
                    Some(value.parse().map_err(|_| IssueError::bad("invalid_expires_in", "expires_in must be a whole number of seconds"))?)
            }
            "content_type" => request.content_type = Some(value.into_owned()),
            "mode" => request.mode = Some(value.into_owned()),
            "filename" => request.filename = Some(value.into_owned()),
            "max_uses" => {
                request.max_uses = Some(value.parse().map_err(|_| IssueError::bad("invalid_max_uses", "max_uses must be a whole number"))?)
            }
            "grace_seconds" => {
                request.grace_seconds =
                    Some(value.parse().map_err(|_| IssueError::bad("invalid_grace_seconds", "grace_seconds must be a whole number"))?)
            }
            "redirect" => redirect = matches!(value.as_ref(), "1" | "true"),
            other => {
                return Err(IssueError::bad(
                    "invalid_query",
                    format!("unknown parameter {:?}", other.chars().take(32).collect::<String>()),
                ));
            }
        }
    }
    Ok((request, redirect))
}

fn add_cors(settings: &IssuerSettings, origin: Option<&str>, response: &mut ApiResponse) {
    let Some(origin) = origin else { return };
    let allowed = settings.cors_origins.iter().any(|o| o == "*" || o == origin);
    if !allowed {
        return;
    }
    response.headers.push(("access-control-allow-origin", origin.to_owned()));
    response.headers.push(("vary", "Origin".into()));
    response.headers.push(("access-control-allow-methods", "GET, POST, DELETE, OPTIONS".into()));
    response.headers.push(("access-control-allow-headers", "content-type, authorization".into()));
    response.headers.push(("access-control-max-age", "600".into()));
}
