//! The one shape of every generated error answer, and the trait every refusal implements.
//!
//! Whatever refuses a request — the edge decision ([`crate::DenyReason`]), the issue API
//! ([`crate::issue::IssueError`]), the gateway's reading of a request head
//! ([`crate::http_head::HeadRefusal`]) — is an enum that implements [`Refusal`]: an HTTP status,
//! a stable machine-readable code and a sentence for people. [`Refusal::body`] writes them all
//! the same way:
//!
//! ```text
//! {"error": "<code>", "message": "<sentence>", "first_used_at"?: "<RFC 3339>"}
//! ```
//!
//! Messages may quote input (a parameter name, a serde error), so they are clipped to a few
//! hundred characters, and they never carry a secret, a link, a token or a table name.

use std::time::SystemTime;

use serde::Serialize;

use crate::time::rfc3339;

/// A refused request, as the caller is told.
pub trait Refusal {
    /// The HTTP status of the answer.
    fn status(&self) -> u16;
    /// Stable, machine-readable code (the `error` field).
    fn code(&self) -> &'static str;
    /// One sentence for people (the `message` field).
    fn message(&self) -> String;
    /// When the link was first used, for refusals that say so.
    fn first_used_at(&self) -> Option<SystemTime> {
        None
    }

    /// The JSON body: `{"error", "message", "first_used_at"?}`.
    fn body(&self) -> String {
        error_body(self.code(), &self.message(), self.first_used_at())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_used_at: Option<String>,
}

fn error_body(code: &str, message: &str, first_used_at: Option<SystemTime>) -> String {
    let message = clip(message);
    let body = Body { error: code, message: &message, first_used_at: first_used_at.map(rfc3339) };
    serde_json::to_string(&body).unwrap_or_else(|_| format!("{{\"error\":\"{code}\"}}"))
}

/// Explanations may quote input: keep answers (and log lines) small whatever the input was.
pub fn clip(text: &str) -> String {
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
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Example;

    impl Refusal for Example {
        fn status(&self) -> u16 {
            403
        }
        fn code(&self) -> &'static str {
            "example"
        }
        fn message(&self) -> String {
            "x".repeat(500)
        }
    }

    #[test]
    fn bodies_are_small_json_with_code_and_clipped_message() {
        let body: serde_json::Value = serde_json::from_str(&Example.body()).unwrap();
        assert_eq!(body["error"], "example");
        assert_eq!(body["message"].as_str().unwrap().chars().count(), 201);
        assert!(body.get("first_used_at").is_none());
    }
}
