//! What a caller asks for, and the checks it must pass before anything is signed.
//!
//! Every check here is a rule of the link model ([`crate::link`]): the key rule, the policy's
//! limits, the download-name and content-type rules. A link that passes is one the edge accepts.

use std::time::Duration;

use serde::Deserialize;

use super::{IssueError, IssuerSettings};
use crate::link::policy::{MAX_GRACE_SECONDS, MAX_USES, valid_content_type, valid_filename, valid_tag};
use crate::link::{LinkMethod, LinkMode, key};

/// What a caller asks for (`POST /links` body, or the `GET /links` query).
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
    /// The caller's label for the link (an order id): kept in its record and echoed wherever
    /// its id is ([`valid_tag`]).
    #[serde(default)]
    pub tag: Option<String>,
}

/// A request's policy, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub method: LinkMethod,
    pub expires_in: Duration,
    pub max_uses: u32,
    pub grace_seconds: u32,
}

/// Checks an object key against the key rule and the deployment's prefix.
pub fn validate_key(raw: &str, prefix: &str) -> Result<(), IssueError> {
    key::check(raw).map_err(IssueError::InvalidKey)?;
    if !raw.starts_with(prefix) {
        return Err(IssueError::KeyOutsidePrefix(prefix.to_owned()));
    }
    Ok(())
}

fn parse_method(raw: Option<&str>) -> Result<LinkMethod, IssueError> {
    match raw {
        None | Some("GET") => Ok(LinkMethod::Get),
        Some("PUT") => Ok(LinkMethod::Put),
        Some(other) => Err(IssueError::UnknownMethod(other.chars().take(16).collect())),
    }
}

/// Validates `request` against the settings: the policy to sign, or why not.
pub fn validate(settings: &IssuerSettings, request: &LinkRequest) -> Result<Policy, IssueError> {
    validate_key(&request.key, &settings.key_prefix)?;
    let method = parse_method(request.method.as_deref())?;
    if let Some(mode) = &request.mode
        && LinkMode::parse(mode) != Some(settings.mode)
    {
        return Err(IssueError::UnsupportedMode(settings.mode));
    }
    let max_secs = settings.max_expires.as_secs();
    let expires_in = match request.expires_in {
        None => settings.default_expires,
        Some(s) if (1..=max_secs).contains(&s) => Duration::from_secs(s),
        Some(_) => return Err(IssueError::InvalidExpiresIn(Some(max_secs))),
    };
    if let Some(ct) = &request.content_type {
        if method != LinkMethod::Put {
            return Err(IssueError::InvalidContentType("content_type applies to PUT links only"));
        }
        if !(ct.contains('/') && valid_content_type(ct)) {
            return Err(IssueError::InvalidContentType("content_type must be a printable MIME type of at most 200 bytes"));
        }
    }
    let max_uses = request.max_uses.unwrap_or(1);
    if !(1..=u32::from(MAX_USES)).contains(&max_uses) {
        return Err(IssueError::InvalidMaxUses);
    }
    let grace_seconds = request.grace_seconds.unwrap_or(0);
    if grace_seconds > MAX_GRACE_SECONDS {
        return Err(IssueError::InvalidGraceSeconds);
    }
    if let Some(name) = &request.filename
        && (method != LinkMethod::Get || !valid_filename(name))
    {
        return Err(IssueError::InvalidFilename);
    }
    if request.tag.as_deref().is_some_and(|tag| !valid_tag(tag)) {
        return Err(IssueError::InvalidTag);
    }
    Ok(Policy { method, expires_in, max_uses, grace_seconds })
}
