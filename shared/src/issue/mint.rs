//! Minting: a validated request becomes a signed URL on the CDN, in the deployment's mode.
//!
//! Pure and synchronous: the caller hands over what signs ([`Signer`]); the [`super::IssueService`]
//! pulls it from its ports (credentials, key set) only for requests that sign.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use serde::{Deserialize, Serialize};

use super::policy::{LinkRequest, Policy, validate};
use super::{IssueError, IssuerSettings};
use crate::encoding::push_key;
use crate::link::policy::{MAX_USES, content_disposition};
use crate::link::{LinkId, LinkMethod, LinkMode};
use crate::presign::{PresignRequest, presign_on_cdn, push_cdn_base};
use crate::presigned::{GRACE_PARAM, USES_PARAM};
use crate::sealed::{self, Claims, KeySet};
use crate::time::{from_unix_secs, rfc3339, unix_secs};

/// What signs links: AWS credentials (presigned mode), the key set (sealed mode).
#[derive(Debug, Clone, Copy, Default)]
pub struct Signer<'a> {
    pub credentials: Option<&'a Credentials>,
    pub keys: Option<&'a KeySet>,
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
    pub link_id: LinkId,
    pub mode: LinkMode,
    pub max_uses: u32,
    pub grace_seconds: u32,
    /// The caller's tag, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// A confirm link (shown only when it is one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
}

/// Validates `request` and signs it in the deployment's mode; the URL points at the CDN.
pub fn issue(settings: &IssuerSettings, signer: Signer<'_>, request: &LinkRequest, now: SystemTime) -> Result<IssuedLink, IssueError> {
    let policy = validate(settings, request)?;
    // X-Amz-Date and the token both hold whole seconds.
    let now = from_unix_secs(unix_secs(now));
    let (url, link_id, expires_in) = match settings.mode {
        LinkMode::Sealed => sealed_link(settings, signer.keys.ok_or(IssueError::KeysUnavailable)?, request, &policy, now)?,
        LinkMode::Presigned => {
            presigned_link(settings, signer.credentials.ok_or(IssueError::CredentialsUnavailable)?, request, &policy, now)?
        }
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
        tag: request.tag.clone(),
        confirm: policy.confirm,
    })
}

fn sealed_link(
    settings: &IssuerSettings,
    keys: &KeySet,
    request: &LinkRequest,
    policy: &Policy,
    now: SystemTime,
) -> Result<(String, LinkId, Duration), IssueError> {
    let nonce = sealed::random_nonce().map_err(|_| IssueError::NoRandomness)?;
    let claims = Claims {
        kid: keys.active_kid().to_owned(),
        method: policy.method,
        expires_at: unix_secs(now) + policy.expires_in.as_secs(),
        max_uses: u16::try_from(policy.max_uses).unwrap_or(MAX_USES),
        grace_seconds: policy.grace_seconds,
        nonce,
        filename: request.filename.clone(),
        content_type: request.content_type.clone(),
        confirm: policy.confirm,
    };
    let mut path = String::with_capacity(1 + request.key.len() + 16);
    path.push('/');
    push_key(&mut path, &request.key);
    let mut url = String::with_capacity(settings.cdn.len() + 8 + path.len() + 1 + 128);
    push_cdn_base(&mut url, &settings.cdn);
    url.push_str(&path);
    url.push('?');
    sealed::seal_into(&mut url, &claims, keys.active_secret(), &settings.cdn_host(), &path).map_err(|_| IssueError::SigningFailed)?;
    Ok((url, LinkId::for_nonce(&nonce), policy.expires_in))
}

fn presigned_link(
    settings: &IssuerSettings,
    credentials: &Credentials,
    request: &LinkRequest,
    policy: &Policy,
    now: SystemTime,
) -> Result<(String, LinkId, Duration), IssueError> {
    // A presigned URL stops working when the credentials that signed it expire, whatever
    // X-Amz-Expires says. Never promise more than they can keep.
    let expires_in = match credentials.expiry() {
        Some(expiry) => {
            let left = Duration::from_secs(expiry.duration_since(now).unwrap_or_default().as_secs());
            if left < Duration::from_secs(1) {
                return Err(IssueError::CredentialsExpired);
            }
            policy.expires_in.min(left)
        }
        None => policy.expires_in,
    };
    // Policies travel as signed x- parameters (S3 ignores them, but they are in the signature).
    let mut extra: Vec<(&str, String)> = Vec::new();
    if let Some(name) = &request.filename {
        extra.push(("response-content-disposition", content_disposition(name)));
    }
    if policy.max_uses != 1 {
        extra.push((USES_PARAM, policy.max_uses.to_string()));
    }
    if policy.grace_seconds != 0 {
        extra.push((GRACE_PARAM, policy.grace_seconds.to_string()));
    }
    let presign_request = PresignRequest {
        method: policy.method,
        key: &request.key,
        expires_in,
        content_type: request.content_type.as_deref(),
        extra_query: &extra,
    };
    let (url, signature) =
        presign_on_cdn(&settings.cdn, &settings.origin, credentials, &presign_request, now).map_err(|_| IssueError::SigningFailed)?;
    Ok((url, LinkId::for_signature(signature.as_str()), expires_in))
}
