//! What a stored object may do in a browser: nothing with the authority of the page or the API
//! that serves it.
//!
//! Every stored object is hostile content. Wherever objects and the API share an origin (the
//! gateway serves both), an HTML or SVG object opened inline would run with that origin's
//! authority: read what the page keeps, call the API with the session. So every object answer
//! carries [`OBJECT_HEADERS`] — `nosniff` (the browser keeps the declared type, never guesses
//! HTML) and `Content-Security-Policy: sandbox` (no script runs, and the document gets an
//! opaque origin that no cookie or storage belongs to) — and an *active* type (one a browser
//! executes or renders as a document: HTML, SVG, XML, JavaScript…) or a missing type is sent as
//! an attachment unless a deployment opts in to inline active content.

/// Headers every object answer carries, whatever its type.
pub const OBJECT_HEADERS: [(&str, &str); 2] = [("x-content-type-options", "nosniff"), ("content-security-policy", "sandbox")];

/// Media types a browser runs or renders as a document with scripts (the essence, before `;`).
const ACTIVE_TYPES: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "text/xsl",
    "application/xslt+xml",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "text/ecmascript",
    "application/wasm",
    "multipart/x-mixed-replace",
    "text/vtt",
    "application/x-shockwave-flash",
];

/// Must an object of this `Content-Type` be sent as an attachment (unless the deployment opts
/// in)? Active types, any `+xml` type, and a missing or unreadable type (a browser would guess).
pub fn needs_attachment(content_type: Option<&str>) -> bool {
    let Some(raw) = content_type else { return true };
    let essence = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence.is_empty() || !essence.contains('/') || essence.ends_with("+xml") || ACTIVE_TYPES.contains(&essence.as_str())
}

/// Is this `Content-Disposition` already an attachment?
pub fn is_attachment(disposition: Option<&str>) -> bool {
    disposition.is_some_and(|d| d.trim_start().get(..10).is_some_and(|p| p.eq_ignore_ascii_case("attachment")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_and_missing_types_are_attachments_passive_ones_are_not() {
        for active in [
            None,
            Some(""),
            Some("nonsense"),
            Some("text/html"),
            Some("TEXT/HTML; charset=utf-8"),
            Some("image/svg+xml"),
            Some("application/rss+xml"),
            Some("text/javascript"),
        ] {
            assert!(needs_attachment(active), "{active:?}");
        }
        for passive in ["text/plain", "image/png", "application/pdf", "video/mp4", "application/json", "application/octet-stream"] {
            assert!(!needs_attachment(Some(passive)), "{passive}");
        }
        assert!(is_attachment(Some("attachment; filename=\"a.html\"")));
        assert!(is_attachment(Some("Attachment")));
        assert!(!is_attachment(Some("inline; filename=\"a.html\"")));
        assert!(!is_attachment(None));
    }
}
