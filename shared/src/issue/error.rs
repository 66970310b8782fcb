//! Why the issue API refused a request: one enum, shaped like [`crate::DenyReason`].
//!
//! The codes are the API's contract (README, "HTTP contract of issue-url"). A 5xx answer says
//! which dependency was away and nothing else; the detail (an SDK error, a ledger's message)
//! goes to the log of the shell that called, never to the caller.

use crate::error::Refusal;
use crate::link::LinkMode;
use crate::link::key::KeyError;
use crate::link::policy::{MAX_GRACE_SECONDS, MAX_TAG_BYTES, MAX_USES};

use super::MAX_BODY_BYTES;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Refusal::message(self))]
pub enum IssueError {
    InvalidKey(KeyError),
    KeyOutsidePrefix(String),
    /// The method named, clipped.
    UnknownMethod(String),
    /// `expires_in` out of `1..=max` seconds (`None`: not a whole number at all).
    InvalidExpiresIn(Option<u64>),
    InvalidContentType(&'static str),
    /// The parser's explanation.
    InvalidJson(String),
    InvalidQuery(String),
    InvalidMaxUses,
    InvalidGraceSeconds,
    InvalidFilename,
    InvalidTag,
    /// The request named another mode than the deployment's.
    UnsupportedMode(LinkMode),
    InvalidLinkId,
    BodyTooLarge,
    /// The body did not arrive in time (gateway).
    BodyTimeout,
    /// The body could not be read (gateway).
    UnreadableBody,
    NotFound,
    MethodNotAllowed,
    /// No valid bearer token or session (gateway).
    Unauthorized,
    /// A session cookie that is expired, tampered with or from another token (gateway).
    InvalidSession,
    /// A session request (or a login) that does not come from the gateway's own page (gateway).
    InvalidOrigin,
    /// A login body without a token (gateway).
    InvalidLogin,
    CredentialsUnavailable,
    /// The signing credentials expire within a second.
    CredentialsExpired,
    KeysUnavailable,
    ConfigUnavailable,
    LedgerUnavailable,
    SigningFailed,
    NoRandomness,
}

impl Refusal for IssueError {
    fn status(&self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Unauthorized | Self::InvalidSession => 401,
            Self::InvalidOrigin => 403,
            Self::BodyTimeout => 408,
            Self::BodyTooLarge => 413,
            Self::SigningFailed | Self::NoRandomness => 500,
            Self::CredentialsUnavailable
            | Self::CredentialsExpired
            | Self::KeysUnavailable
            | Self::ConfigUnavailable
            | Self::LedgerUnavailable => 503,
            _ => 400,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::InvalidKey(_) => "invalid_key",
            Self::KeyOutsidePrefix(_) => "key_outside_prefix",
            Self::UnknownMethod(_) => "unknown_method",
            Self::InvalidExpiresIn(_) => "invalid_expires_in",
            Self::InvalidContentType(_) => "invalid_content_type",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidQuery(_) => "invalid_query",
            Self::InvalidMaxUses => "invalid_max_uses",
            Self::InvalidGraceSeconds => "invalid_grace_seconds",
            Self::InvalidFilename => "invalid_filename",
            Self::InvalidTag => "invalid_tag",
            Self::UnsupportedMode(_) => "unsupported_mode",
            Self::InvalidLinkId => "invalid_link_id",
            Self::BodyTooLarge => "body_too_large",
            Self::BodyTimeout => "timeout",
            Self::UnreadableBody => "bad_body",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unauthorized => "unauthorized",
            Self::InvalidSession => "invalid_session",
            Self::InvalidOrigin => "invalid_origin",
            Self::InvalidLogin => "invalid_login",
            Self::CredentialsUnavailable | Self::CredentialsExpired => "credentials_unavailable",
            Self::KeysUnavailable => "keys_unavailable",
            Self::ConfigUnavailable => "config_unavailable",
            Self::LedgerUnavailable => "ledger_unavailable",
            Self::SigningFailed => "signing_failed",
            Self::NoRandomness => "no_randomness",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::InvalidKey(why) => why.to_string(),
            Self::KeyOutsidePrefix(prefix) => format!("key must start with {prefix:?}"),
            Self::UnknownMethod(method) => format!("method must be GET or PUT, not {method:?}"),
            Self::InvalidExpiresIn(Some(max)) => format!("expires_in must be whole seconds in 1..={max}"),
            Self::InvalidExpiresIn(None) => "expires_in must be a whole number of seconds".into(),
            Self::InvalidContentType(why) => (*why).into(),
            Self::InvalidJson(why) => format!("the body is not a valid link request: {why}"),
            Self::InvalidQuery(why) => why.clone(),
            Self::InvalidMaxUses => format!("max_uses must be a whole number in 1..={MAX_USES}"),
            Self::InvalidGraceSeconds => format!("grace_seconds must be a whole number in 0..={MAX_GRACE_SECONDS}"),
            Self::InvalidFilename => {
                "filename applies to GET links: 1..=200 bytes, no control characters, quotes, slashes or backslashes".into()
            }
            Self::InvalidTag => {
                format!("tag must be 1..={MAX_TAG_BYTES} characters of A-Z a-z 0-9 and . _ - : / # @ + = (an order id, not a secret)")
            }
            Self::UnsupportedMode(mode) => format!("this deployment issues {} links", mode.as_str()),
            Self::InvalidLinkId => "a link id is 22 base64url characters".into(),
            Self::BodyTooLarge => format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            Self::BodyTimeout => "the request body took too long".into(),
            Self::UnreadableBody => "the request body could not be read".into(),
            Self::NotFound => "no such route; use /links".into(),
            Self::MethodNotAllowed => "use POST or GET on /links, GET or DELETE on /links/{id}".into(),
            Self::Unauthorized => "send Authorization: Bearer <API token>, or log in on the web page".into(),
            Self::InvalidSession => "the session has expired or is not valid; log in again".into(),
            Self::InvalidOrigin => "a session request must come from the gateway's own web page (Origin)".into(),
            Self::InvalidLogin => "send token=<API token> as a form, or {\"token\": \"<API token>\"} as JSON".into(),
            Self::CredentialsUnavailable => "signing credentials are unavailable; try again later".into(),
            Self::CredentialsExpired => "the signing credentials have expired; try again later".into(),
            Self::KeysUnavailable => "the sealed-link key set is unavailable; try again later".into(),
            Self::ConfigUnavailable => "the link configuration is unavailable; try again later".into(),
            Self::LedgerUnavailable => "the ledger could not be reached; try again later".into(),
            Self::SigningFailed => "the link could not be signed".into(),
            Self::NoRandomness => "no randomness for the link's nonce".into(),
        }
    }
}
