//! The edge decision, as named phases of one pure function.
//!
//! ```text
//!  viewer request ─► 1 method ─► 2 link ─────────► 3 window ─► 4 audience ─► 5 ledger ─► forward / deny
//!                    policy      sealed: MAC, kid   expiry      preview bots   one atomic
//!                                presigned: shape   (+ skew)    (no content)   write
//! ```
//!
//! Phases 1–4 are [`precheck`]: pure, no I/O, cheap. They run before anything is spent, so an
//! expired, tampered or malformed request can never burn a link. Phase 5 is the ledger, reached
//! through the [`Ledger`] port by [`decide`]; its answer becomes the final [`Decision`] in
//! [`settle`], pure again.

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::ViewerRequest;
use crate::config::{EdgeConfig, LinkMode};
use crate::encoding::{KEY_PATH, decode_canonical, encode_query};
use crate::ledger::{ClaimOutcome, Ledger, LedgerError, LedgerKey, LinkState, UseClaim, link_id_for_nonce, link_id_for_signature};
use crate::presign::LinkMethod;
use crate::presigned::{self, ShapeError};
use crate::query::Query;
use crate::response::DenyReason;
use crate::sealed::{self, TokenError};
use crate::time::{from_unix_secs, unix_secs};

/// Knobs of the decision that do not come from the deployment's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgePolicy {
    /// How far the edge's clock may lag the issuer's: a presigned link dated up to this far in
    /// the future is accepted.
    pub clock_skew: Duration,
    /// How long a ledger record outlives its link (the TTL is link expiry + this margin).
    pub retention_margin: Duration,
}

impl Default for EdgePolicy {
    fn default() -> Self {
        Self { clock_skew: Duration::from_secs(60), retention_margin: Duration::from_secs(24 * 3600) }
    }
}

/// What to send to the origin when a request goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The request path, decoded (in sealed mode: the object key).
    pub path: String,
    /// The query string for the origin: unchanged in presigned mode; in sealed mode only the
    /// parameters the token covers (the token itself is stripped).
    pub querystring: String,
}

/// A consuming request that passed phases 1–4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub use_claim: UseClaim,
    pub forward: Forward,
    /// Set when this is a `Range` request on a link with a grace window: the same client may
    /// resume within this long after the first use without spending a use.
    pub grace: Option<Duration>,
}

/// What phases 1–4 conclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precheck {
    /// Refuse now; the ledger is not touched.
    Deny(DenyReason),
    /// A request that never consumes a use (HEAD, OPTIONS): forward without a ledger write.
    ForwardWithoutUse(Forward),
    /// A link-preview bot or mail scanner: answer with no content, spend nothing.
    Preview,
    /// Forward only if the ledger grants a use.
    Claim(Claim),
}

/// The final answer for a viewer request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the request continue to the origin.
    Forward(Forward),
    /// An empty, non-consuming answer (for preview bots).
    Preview,
    /// Answer with an error; the origin never sees the request.
    Deny(DenyReason),
}

/// Everything a link says about itself once read and verified.
struct Link {
    link_id: String,
    method: LinkMethod,
    expires_at: SystemTime,
    max_uses: u32,
    grace: Duration,
    forward: Forward,
}

/// Phases 1–4: method policy, link, validity window, audience.
pub fn precheck(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, now: SystemTime) -> Precheck {
    match precheck_inner(request, policy, config, now) {
        Ok(p) => p,
        Err(reason) => Precheck::Deny(reason),
    }
}

fn precheck_inner(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, now: SystemTime) -> Result<Precheck, DenyReason> {
    // Phase 1: method policy. Only GET (download) and PUT (upload) spend a use.
    let consumes = match request.method.as_str() {
        "GET" | "PUT" => true,
        "HEAD" | "OPTIONS" => false,
        _ => return Err(DenyReason::MethodNotAllowed),
    };

    // Phase 2: the link. The path and every parameter must have exactly one reading.
    let path = check_path(&request.uri)?;
    let link = match config.mode {
        LinkMode::Presigned => read_presigned(request, policy, now, path)?,
        LinkMode::Sealed => read_sealed(request, config, path)?,
    };
    // OPTIONS is a CORS preflight: any link method. Otherwise the method must be the link's
    // (HEAD is a GET without the body).
    let method_ok =
        matches!((request.method.as_str(), link.method), ("OPTIONS", _) | ("GET" | "HEAD", LinkMethod::Get) | ("PUT", LinkMethod::Put));
    if !method_ok {
        return Err(DenyReason::WrongMethod);
    }

    // Phase 3: validity window.
    if now >= link.expires_at {
        return Err(DenyReason::Expired);
    }

    // Phase 4: audience. Bots that unfurl links must not spend them.
    if consumes && is_preview_agent(request, &config.preview_agents) {
        return Ok(Precheck::Preview);
    }
    if !consumes {
        return Ok(Precheck::ForwardWithoutUse(link.forward));
    }
    let fingerprint = fingerprint(request);
    let grace = (link.grace > Duration::ZERO && request.header("range").is_some()).then_some(link.grace);
    Ok(Precheck::Claim(Claim {
        use_claim: UseClaim {
            key: LedgerKey::for_link(&link.link_id),
            request_id: request.request_id.clone(),
            at: now,
            retain_until: link.expires_at + policy.retention_margin,
            max_uses: link.max_uses,
            fingerprint: Some(fingerprint),
        },
        forward: link.forward,
        grace,
    }))
}

/// Presigned mode: the X-Amz-* shape, our `x-oncelink-*` policy parameters, and the window start.
fn read_presigned(request: &ViewerRequest, policy: &EdgePolicy, now: SystemTime, path: String) -> Result<Link, DenyReason> {
    let query = Query::parse(&request.querystring).map_err(|e| DenyReason::MalformedLink(e.to_string()))?;
    let link = presigned::parse(&query).map_err(|e| match e {
        ShapeError::Missing => DenyReason::MissingSignature,
        other => DenyReason::MalformedLink(other.to_string()),
    })?;
    let method = match query.get("x-id") {
        None | Some("GetObject") => LinkMethod::Get,
        Some("PutObject") => LinkMethod::Put,
        Some(_) => return Err(DenyReason::MalformedLink("x-id is neither GetObject nor PutObject".into())),
    };
    if now + policy.clock_skew < link.signed_at {
        return Err(DenyReason::NotYetValid);
    }
    let max_uses = policy_number(&query, presigned::USES_PARAM, 1, u32::from(sealed::MAX_USES))?.unwrap_or(1);
    let grace = policy_number(&query, presigned::GRACE_PARAM, 0, sealed::MAX_GRACE_SECONDS)?.unwrap_or(0);
    Ok(Link {
        link_id: link_id_for_signature(link.signature),
        method,
        expires_at: link.expires_at(),
        max_uses,
        grace: Duration::from_secs(grace.into()),
        forward: Forward { path, querystring: request.querystring.clone() },
    })
}

/// A policy parameter: digits only, no leading zero, within `min..=max`.
fn policy_number(query: &Query, name: &str, min: u32, max: u32) -> Result<Option<u32>, DenyReason> {
    let Some(raw) = query.get(name) else { return Ok(None) };
    let canonical = !raw.is_empty() && raw.len() <= 6 && raw.bytes().all(|b| b.is_ascii_digit()) && (raw == "0" || !raw.starts_with('0'));
    match raw.parse::<u32>() {
        Ok(n) if canonical && (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(DenyReason::MalformedLink(format!("{name} must be a whole number in {min}..={max}"))),
    }
}

/// Sealed mode: the whole query is one token, bound to this host and this exact path.
fn read_sealed(request: &ViewerRequest, config: &EdgeConfig, path: String) -> Result<Link, DenyReason> {
    let token = request.querystring.as_str();
    if token.is_empty() {
        return Err(DenyReason::MissingSignature);
    }
    if token.contains(['&', '=', '%', '+']) {
        return Err(DenyReason::InvalidToken("the query must be exactly the link token".into()));
    }
    let host = request.header("host").ok_or_else(|| DenyReason::InvalidToken("no Host header".into()))?;
    let keys = config.keys.as_ref().ok_or(DenyReason::ConfigUnavailable)?;
    let claims = sealed::open(token, keys, host, &request.uri).map_err(|e| match e {
        TokenError::UnknownKid => DenyReason::UnknownKey,
        other => DenyReason::InvalidToken(other.to_string()),
    })?;
    if claims.method == LinkMethod::Put
        && let Some(expected) = &claims.content_type
        && request.header("content-type") != Some(expected.as_str())
        && request.method == "PUT"
    {
        return Err(DenyReason::WrongContentType);
    }
    let querystring = match &claims.filename {
        Some(name) => format!("response-content-disposition={}", encode_query(&content_disposition(name))),
        None => String::new(),
    };
    Ok(Link {
        link_id: link_id_for_nonce(&claims.nonce),
        method: claims.method,
        expires_at: from_unix_secs(claims.expires_at),
        max_uses: u32::from(claims.max_uses),
        grace: Duration::from_secs(claims.grace_seconds.into()),
        forward: Forward { path, querystring },
    })
}

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266).
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", encode_query(filename))
}

/// The path must be `/` + a canonically encoded object key with no empty, `.` or `..`
/// segments: those are exactly what HTTP clients and CDNs "normalise" on the way. Returns it
/// decoded, without the leading `/`.
fn check_path(uri: &str) -> Result<String, DenyReason> {
    let bad = |why: &str| DenyReason::BadPath(why.to_owned());
    let encoded = uri.strip_prefix('/').ok_or_else(|| bad("the path does not start with '/'"))?;
    if encoded.is_empty() {
        return Err(bad("no object key in the path"));
    }
    let key = decode_canonical(encoded, KEY_PATH).map_err(|e| bad(&format!("path: {e}")))?;
    if key.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return Err(bad("empty, '.' or '..' path segment"));
    }
    Ok(key)
}

fn is_preview_agent(request: &ViewerRequest, agents: &[String]) -> bool {
    let Some(user_agent) = request.header("user-agent") else { return false };
    let user_agent = user_agent.to_ascii_lowercase();
    agents.iter().any(|a| !a.is_empty() && user_agent.contains(a.as_str()))
}

/// Who is asking: a hash of client IP and User-Agent (never stored in the clear).
pub fn fingerprint(request: &ViewerRequest) -> String {
    let digest = Sha256::new()
        .chain_update(request.client_ip.as_deref().unwrap_or(""))
        .chain_update([0u8])
        .chain_update(request.header("user-agent").unwrap_or(""))
        .finalize();
    hex::encode(&digest[..16])
}

/// Does a Range request fall inside the grace window of the link's first use, by the same client?
pub fn within_grace(state: &LinkState, claim: &Claim, now: SystemTime) -> bool {
    let Some(grace) = claim.grace else { return false };
    let same_client = state.fingerprint.is_some() && state.fingerprint == claim.use_claim.fingerprint;
    let in_window = state.first_used_at.is_some_and(|first| unix_secs(now) < unix_secs(first) + grace.as_secs());
    !state.revoked && state.uses >= 1 && same_client && in_window
}

/// Phase 5's verdict: turns the ledger's answer into the final decision. Fails closed.
pub fn settle(claim: &Claim, outcome: Result<ClaimOutcome, LedgerError>) -> Decision {
    match outcome {
        Ok(ClaimOutcome::Granted { .. } | ClaimOutcome::Retried) => Decision::Forward(claim.forward.clone()),
        Ok(ClaimOutcome::Exhausted(used)) => Decision::Deny(DenyReason::AlreadyUsed { first_used_at: used.first_used_at }),
        Ok(ClaimOutcome::Revoked) => Decision::Deny(DenyReason::Revoked),
        Err(error) => {
            tracing::error!(%error, request_id = %claim.use_claim.request_id, "ledger failed; denying (fail closed)");
            Decision::Deny(DenyReason::LedgerUnavailable)
        }
    }
}

/// All five phases, for callers that hold the configuration and a ledger.
pub async fn decide(request: &ViewerRequest, policy: &EdgePolicy, config: &EdgeConfig, ledger: &dyn Ledger, now: SystemTime) -> Decision {
    match precheck(request, policy, config, now) {
        Precheck::Deny(reason) => Decision::Deny(reason),
        Precheck::ForwardWithoutUse(forward) => Decision::Forward(forward),
        Precheck::Preview => Decision::Preview,
        Precheck::Claim(claim) => {
            // A resumed download (Range, same client, inside the window) passes without a use.
            if claim.grace.is_some() {
                match ledger.lookup(&claim.use_claim.key).await {
                    Ok(Some(state)) if within_grace(&state, &claim, now) => return Decision::Forward(claim.forward),
                    Ok(_) => {}
                    Err(error) => return settle(&claim, Err(error)),
                }
            }
            let outcome = ledger.claim(&claim.use_claim).await;
            settle(&claim, outcome)
        }
    }
}
