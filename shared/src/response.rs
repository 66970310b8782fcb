//! Why a request was refused, and the small JSON answer the viewer gets.
//!
//! Bodies are `{"error": code, "message": text, "first_used_at"?: RFC 3339}`: stable codes for
//! programs, a sentence for people, and nothing secret (no signature, no key, no table name).

use std::time::SystemTime;

use serde::Serialize;

use crate::time::rfc3339;

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
    LedgerUnavailable,
    ConfigUnavailable,
}

#[derive(Debug, Serialize)]
struct Body<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_used_at: Option<String>,
}

impl DenyReason {
    pub fn status(&self) -> u16 {
        match self {
            Self::MethodNotAllowed => 405,
            Self::MalformedEvent(_) => 400,
            Self::LedgerUnavailable | Self::ConfigUnavailable => 503,
            _ => 403,
        }
    }

    /// Stable, machine-readable code.
    pub fn code(&self) -> &'static str {
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
            Self::LedgerUnavailable => "ledger_unavailable",
            Self::ConfigUnavailable => "config_unavailable",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Self::MethodNotAllowed => "only GET, PUT, HEAD and OPTIONS are accepted".into(),
            Self::MissingSignature => "this URL is not a valid link".into(),
            Self::MalformedLink(why) => format!("the link is malformed: {}", clip(why)),
            Self::BadPath(why) => format!("the link's path is not acceptable: {}", clip(why)),
            Self::NotYetValid => "the link is not valid yet".into(),
            Self::Expired => "the link has expired".into(),
            Self::AlreadyUsed { .. } => "the link has already been used".into(),
            Self::Revoked => "the link has been revoked".into(),
            Self::WrongMethod => "the link does not allow this method".into(),
            Self::WrongContentType => "the upload must use the Content-Type the link was issued for".into(),
            Self::InvalidToken(why) => format!("the link is not valid: {}", clip(why)),
            Self::UnknownKey => "the link was signed with a key that is no longer accepted".into(),
            Self::MalformedEvent(why) => format!("the request could not be read: {}", clip(why)),
            Self::LedgerUnavailable => "the link could not be checked right now; try again later".into(),
            Self::ConfigUnavailable => "the service is not configured right now; try again later".into(),
        }
    }

    /// The JSON body of the generated response.
    pub fn body(&self) -> String {
        let first_used_at = match self {
            Self::AlreadyUsed { first_used_at } => Some(rfc3339(*first_used_at)),
            _ => None,
        };
        error_body(self.code(), &self.message(), first_used_at)
    }
}

/// `{"error": code, "message": text, "first_used_at"?: …}`: the one shape of every generated answer.
pub(crate) fn error_body(code: &str, message: &str, first_used_at: Option<String>) -> String {
    let body = Body { error: code, message: message.to_owned(), first_used_at };
    serde_json::to_string(&body).unwrap_or_else(|_| format!("{{\"error\":\"{code}\"}}"))
}

/// Explanations may quote input (a serde error, a parameter name): keep answers small
/// whatever the input was.
pub(crate) fn clip(text: &str) -> String {
    const MAX_CHARS: usize = 200;
    if text.chars().count() <= MAX_CHARS {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(MAX_CHARS).collect();
    clipped.push('…');
    clipped
}

/// Reason phrase for the status codes we generate.
pub fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}
