//! Why the edge refused a request.
//!
//! Every variant is a [`Refusal`]: the status, the stable code (documented in the README's
//! decision table) and a sentence. Nothing secret goes into a message (no signature, no key, no
//! table name); explanations that quote input are clipped by the body writer.

use std::time::SystemTime;

use super::range::RangeError;
use crate::error::Refusal;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    MethodNotAllowed,
    MissingSignature,
    MalformedLink(String),
    BadPath(String),
    NotYetValid,
    Expired,
    AlreadyUsed {
        first_used_at: SystemTime,
    },
    Revoked,
    /// The request's method is not the one the link grants.
    WrongMethod,
    /// A PUT link's required Content-Type was not sent.
    WrongContentType,
    /// A sealed token that is malformed or whose MAC does not match.
    InvalidToken(String),
    /// A sealed token signed with a key id the edge does not know (removed or never listed).
    UnknownKey,
    /// The event itself could not be read (not a viewer request we understand).
    MalformedEvent(String),
    /// A `Range` header that is not one plain byte range.
    InvalidRange(RangeError),
    /// A GET, HEAD or OPTIONS request with a body.
    BodyNotAllowed,
    /// A browser prefetch (`Sec-Purpose: prefetch`…): links are spent by people, not speculation.
    Prefetch,
    /// A click on a confirm page that does not come from the link's own page (another site's
    /// form, a sandboxed document, a client that says nothing of where it is).
    ConfirmCrossSite,
    LedgerUnavailable,
    ConfigUnavailable,
}

impl Refusal for DenyReason {
    fn status(&self) -> u16 {
        match self {
            Self::MethodNotAllowed => 405,
            Self::MalformedEvent(_) | Self::BodyNotAllowed => 400,
            Self::InvalidRange(_) => 416,
            Self::LedgerUnavailable | Self::ConfigUnavailable => 503,
            _ => 403,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::MissingSignature => "missing_signature",
            Self::MalformedLink(_) => "malformed_link",
            Self::BadPath(_) => "bad_path",
            Self::NotYetValid => "link_not_yet_valid",
            Self::Expired => "link_expired",
            Self::AlreadyUsed { .. } => "link_already_used",
            Self::Revoked => "link_revoked",
            Self::WrongMethod => "wrong_method",
            Self::WrongContentType => "wrong_content_type",
            Self::InvalidToken(_) => "invalid_token",
            Self::UnknownKey => "unknown_key",
            Self::MalformedEvent(_) => "malformed_request",
            Self::InvalidRange(_) => "invalid_range",
            Self::BodyNotAllowed => "body_not_allowed",
            Self::Prefetch => "prefetch_refused",
            Self::ConfirmCrossSite => "confirm_cross_site",
            Self::LedgerUnavailable => "ledger_unavailable",
            Self::ConfigUnavailable => "config_unavailable",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::MethodNotAllowed => "only GET, PUT, HEAD and OPTIONS are accepted".into(),
            Self::MissingSignature => "this URL is not a valid link".into(),
            Self::MalformedLink(why) => format!("the link is malformed: {why}"),
            Self::BadPath(why) => format!("the link's path is not acceptable: {why}"),
            Self::NotYetValid => "the link is not valid yet".into(),
            Self::Expired => "the link has expired".into(),
            Self::AlreadyUsed { .. } => "the link has already been used".into(),
            Self::Revoked => "the link has been revoked".into(),
            Self::WrongMethod => "the link does not allow this method".into(),
            Self::WrongContentType => "the upload must use the Content-Type the link was issued for".into(),
            Self::InvalidToken(why) => format!("the link is not valid: {why}"),
            Self::UnknownKey => "the link was signed with a key that is no longer accepted".into(),
            Self::MalformedEvent(why) => format!("the request could not be read: {why}"),
            Self::InvalidRange(why) => format!("the Range header is not accepted: {why}"),
            Self::BodyNotAllowed => "GET, HEAD and OPTIONS requests must not have a body, nor a confirm click a large one".into(),
            Self::Prefetch => "links are not served to prefetches; open the link to use it".into(),
            Self::ConfirmCrossSite => "press the button on the link's own page to use it".into(),
            Self::LedgerUnavailable => "the link could not be checked right now; try again later".into(),
            Self::ConfigUnavailable => "the service is not configured right now; try again later".into(),
        }
    }

    fn first_used_at(&self) -> Option<SystemTime> {
        match self {
            Self::AlreadyUsed { first_used_at } => Some(*first_used_at),
            _ => None,
        }
    }
}
