//! The link model: what a link is, independent of how it is encoded or where it is checked.
//!
//! ```text
//! link = method (GET | PUT) + object key + expiry + policy (uses, grace, filename | content type)
//!        encoded as a sealed token (our HMAC) or a SigV4 presigned URL, per deployment (mode)
//!        named by a LinkId: a hash of its unforgeable part, never the link itself
//! ```
//!
//! The issuer and the edge both speak in these terms, so a rule about links (which keys are
//! acceptable, how long a ledger record outlives its link, how many uses a link may grant) is
//! written here once. [`key`] holds the object-key rule, [`policy`] the limits of a link's
//! policy and the download-name rules.

pub mod key;
pub mod policy;

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The two operations a link can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "PUT")]
    Put,
}

impl LinkMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
        }
    }

    /// The S3 operation, as the SDK writes it into `x-id`.
    pub fn operation(self) -> &'static str {
        match self {
            Self::Get => "GetObject",
            Self::Put => "PutObject",
        }
    }
}

/// How links are made, per deployment (a CloudFront distribution is one or the other: OAC and
/// presigned query auth exclude each other at S3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkMode {
    /// Our HMAC token, verified and stripped at the edge; S3 reached only through OAC.
    Sealed,
    /// SigV4 presigned S3 URLs with the host swapped; S3 verifies them (and can be called directly).
    Presigned,
}

impl LinkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sealed => "sealed",
            Self::Presigned => "presigned",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "sealed" => Some(Self::Sealed),
            "presigned" => Some(Self::Presigned),
            _ => None,
        }
    }
}

/// A link's public name: base64url of the first 16 bytes of SHA-256 over a domain tag and the
/// link's unforgeable part (a sealed token's nonce, a presigned URL's `X-Amz-Signature`).
///
/// It names the link (for revocation, state, in the ledger) without being able to use it, and a
/// viewer cannot change it without breaking the link: reordering or adding parameters never
/// makes a new id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkId(String);

/// Length of a [`LinkId`] in characters.
pub const LINK_ID_LEN: usize = 22;

impl LinkId {
    fn hashed(domain: &[u8], secret_part: &[u8]) -> Self {
        use base64::Engine;
        let digest = Sha256::new().chain_update(domain).chain_update([0u8]).chain_update(secret_part).finalize();
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]))
    }

    /// The id of a SigV4 presigned link (from its `X-Amz-Signature`).
    pub fn for_signature(signature: &str) -> Self {
        Self::hashed(b"sigv4", signature.as_bytes())
    }

    /// The id of a sealed link (from its nonce).
    pub fn for_nonce(nonce: &[u8]) -> Self {
        Self::hashed(b"sealed", nonce)
    }

    /// Reads an id given by a caller: exactly 22 base64url characters.
    pub fn parse(raw: &str) -> Option<Self> {
        let shaped = raw.len() == LINK_ID_LEN && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        shaped.then(|| Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How long a ledger record outlives its link. The edge refuses an expired link before it reads
/// the ledger, so the record is only needed while the link is valid; the margin covers clock
/// skew between issuer, edge and ledger, and leaves a day to look at what happened.
pub const RETENTION_MARGIN: Duration = Duration::from_secs(24 * 3600);

/// Until when the ledger keeps the record of a link that expires at `expires_at`.
pub fn retain_until(expires_at: SystemTime) -> SystemTime {
    expires_at + RETENTION_MARGIN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_ids_are_22_base64url_characters_and_depend_on_the_domain() {
        let by_nonce = LinkId::for_nonce(b"abc");
        let by_signature = LinkId::for_signature("abc");
        assert_ne!(by_nonce, by_signature, "the domain tag keeps the two kinds apart");
        for id in [&by_nonce, &by_signature] {
            assert_eq!(LinkId::parse(id.as_str()).as_ref(), Some(id));
        }
        assert_eq!(LinkId::parse("short"), None);
        assert_eq!(LinkId::parse("ABCDEFGHIJKLMNOPQRSTU="), None);
        assert_eq!(LinkId::parse("ABCDEFGHIJKLMNOPQRSTUé"), None);
    }
}
