//! Phase 2 in sealed mode: the whole query is one token, bound to this host and this exact path,
//! verified with the deployment's key set (constant-time MAC check in [`crate::sealed::open`]).

use std::time::Duration;

use super::{DenyReason, Forward, Link};
use crate::ViewerRequest;
use crate::config::EdgeConfig;
use crate::encoding::encode_query;
use crate::link::policy::content_disposition;
use crate::link::{LinkId, LinkMethod};
use crate::sealed::{self, TokenError};
use crate::time::from_unix_secs;

pub(super) fn read(request: &ViewerRequest, config: &EdgeConfig, path: String) -> Result<Link, DenyReason> {
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
        id: LinkId::for_nonce(&claims.nonce),
        method: claims.method,
        expires_at: from_unix_secs(claims.expires_at),
        max_uses: u32::from(claims.max_uses),
        grace: Duration::from_secs(claims.grace_seconds.into()),
        confirm: claims.confirm,
        filename: claims.filename,
        forward: Forward { path, querystring },
    })
}
