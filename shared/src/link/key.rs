//! The object-key rule: which keys a link may name.
//!
//! One rule for both sides. The issuer refuses to sign a key that breaks it, and the edge refuses
//! a path whose decoded key breaks it, so every link the issuer signs is one the edge accepts and
//! nothing the edge accepts could be read differently by a CDN or an origin on the way: no empty,
//! `.` or `..` segments (what HTTP clients and CDNs "normalise"), no backslashes (which some
//! proxies turn into `/`), no control characters, at most [`MAX_KEY_BYTES`], and nothing under
//! [`RESERVED_PREFIX`] (the gateway's own routes live there: such a link could never be used).

/// Longest object key S3 accepts, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;
/// Keys under this prefix are refused: `/_oncelink/…` is the gateway's page and API.
pub const RESERVED_PREFIX: &str = "_oncelink/";

/// Why a key is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key must not be empty")]
    Empty,
    #[error("key is longer than {MAX_KEY_BYTES} bytes")]
    TooLong,
    #[error("key must not contain control characters or backslashes")]
    BadCharacter,
    #[error("key must not start or end with '/', contain '//', or '.'/'..' segments")]
    BadSegment,
    #[error("keys under _oncelink/ are reserved")]
    Reserved,
}

/// Checks a decoded object key against the rule.
pub fn check(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong);
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Err(KeyError::BadCharacter);
    }
    if key.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return Err(KeyError::BadSegment);
    }
    if key.starts_with(RESERVED_PREFIX) || key == RESERVED_PREFIX.trim_end_matches('/') {
        return Err(KeyError::Reserved);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        assert_eq!(check("reports/q3 final.pdf"), Ok(()));
        assert_eq!(check("a/.b/c..d"), Ok(()), "dots inside a segment are fine");
        assert_eq!(check(""), Err(KeyError::Empty));
        assert_eq!(check(&"k".repeat(MAX_KEY_BYTES + 1)), Err(KeyError::TooLong));
        assert_eq!(check(&"k".repeat(MAX_KEY_BYTES)), Ok(()));
        for bad in ["a\\b", "a\nb", "a\u{7f}b"] {
            assert_eq!(check(bad), Err(KeyError::BadCharacter), "{bad:?}");
        }
        for bad in ["/a", "a/", "a//b", "./a", "a/..", "a/./b"] {
            assert_eq!(check(bad), Err(KeyError::BadSegment), "{bad:?}");
        }
        for reserved in ["_oncelink", "_oncelink/links", "_oncelink/x/y"] {
            assert_eq!(check(reserved), Err(KeyError::Reserved), "{reserved:?}");
        }
        assert_eq!(check("_oncelinks/x"), Ok(()));
    }
}
