//! Where events go: the `--webhook-url`, checked at start and shown without its secrets.
//!
//! `http://` or `https://` (over the same rustls client the S3 origin uses, with the system's
//! roots), a host, no `user:password@` (hyper would not send it; sign-in is the signature's job).
//! A query string may carry a receiver's own token, so the start-up line and the logs show the
//! URL with its query masked.

use http::Uri;

/// A webhook URL that can be POSTed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    uri: Uri,
}

/// Why a `--webhook-url` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("--webhook-url is not a URL")]
    NotAUrl,
    #[error("--webhook-url must start with http:// or https://")]
    Scheme,
    #[error("--webhook-url needs a host")]
    NoHost,
    #[error("--webhook-url must not carry user:password@ (receivers check the Oncelink-Signature header instead)")]
    Credentials,
}

impl Target {
    pub fn parse(raw: &str) -> Result<Self, TargetError> {
        let uri: Uri = raw.trim().parse().map_err(|_| TargetError::NotAUrl)?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(TargetError::Scheme);
        }
        let authority = uri.authority().ok_or(TargetError::NoHost)?;
        if authority.as_str().contains('@') {
            return Err(TargetError::Credentials);
        }
        if authority.host().is_empty() {
            return Err(TargetError::NoHost);
        }
        Ok(Self { uri })
    }

    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The URL with its query masked (for the start-up line).
    pub fn redacted(&self) -> String {
        let (scheme, authority) = (self.uri.scheme_str().unwrap_or("http"), self.uri.authority().map_or("", |a| a.as_str()));
        let query = if self.uri.query().is_some() { "?****" } else { "" };
        format!("{scheme}://{authority}{}{query}", self.uri.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https_urls_and_masks_their_query() {
        let t = Target::parse("https://hooks.example.com:8443/oncelink?token=s3cret").unwrap();
        assert_eq!(t.redacted(), "https://hooks.example.com:8443/oncelink?****");
        assert_eq!(Target::parse(" http://127.0.0.1:9/ ").unwrap().redacted(), "http://127.0.0.1:9/");
        assert_eq!(Target::parse("http://receiver").unwrap().uri().path(), "/");
    }

    #[test]
    fn refuses_what_cannot_be_posted_to() {
        assert_eq!(Target::parse("hooks.example.com:443"), Err(TargetError::Scheme));
        assert_eq!(Target::parse("hooks.example.com/x"), Err(TargetError::NotAUrl));
        assert_eq!(Target::parse("ftp://hooks.example.com/"), Err(TargetError::Scheme));
        assert_eq!(Target::parse("/only/a/path"), Err(TargetError::Scheme));
        assert_eq!(Target::parse("not a url"), Err(TargetError::NotAUrl));
        assert_eq!(Target::parse("https://user:pw@hooks.example.com/"), Err(TargetError::Credentials));
    }
}
