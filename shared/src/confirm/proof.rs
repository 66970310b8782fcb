//! The confirm proof: what a person's click on the confirm page earns, carried by the browser
//! to the download that follows.
//!
//! ```text
//! value = expires_at "." tag "." kid
//!   expires_at  decimal Unix seconds, no leading zero: the proof works while now < expires_at
//!   tag         base64url-nopad(HMAC-SHA256(secret[kid], L("oncelink-confirm-v1") || L(link id) || L(expires_at as 8 bytes BE))[0..16])
//!   kid         the key set's key id that made it (the active one; any listed one verifies)
//!   L(x)        2-byte big-endian length of x, then x (as in the token's MAC)
//! ```
//!
//! Only the edge holds the key set, so only the edge can make a proof; the context string keeps
//! a proof's MAC input apart from every token's. A proof names one link (by its id) and lives
//! [`LIFETIME`]: it cannot open another link, and a proof from yesterday opens nothing. The tag
//! is compared in constant time. Proofs are never stored anywhere but in the browser's cookie.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::link::LinkId;
use crate::sealed::KeySet;
use crate::time::unix_secs;

/// Domain separation for the proof's MAC input.
pub const CONTEXT: &[u8] = b"oncelink-confirm-v1";
/// How long a proof works after the click (also the cookie's `Max-Age`).
pub const LIFETIME: Duration = Duration::from_secs(120);
/// Bytes of the HMAC kept in the proof.
pub const TAG_LEN: usize = 16;

/// Why a proof does not open the link (the caller shows the page again; never a refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the proof is not of the expected shape")]
    Shape,
    #[error("the proof's key is not in the key set")]
    UnknownKid,
    #[error("the proof has expired")]
    Expired,
    #[error("the proof does not match this link")]
    BadTag,
}

fn mac(secret: &[u8], link: &LinkId, expires_at: u64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    for part in [CONTEXT, link.as_str().as_bytes(), &expires_at.to_be_bytes()] {
        mac.update(&(part.len() as u16).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// A proof for `link`, made with the key set's active key, working until `now` + [`LIFETIME`].
pub fn mint(keys: &KeySet, link: &LinkId, now: SystemTime) -> String {
    let expires_at = unix_secs(now) + LIFETIME.as_secs();
    let tag = mac(keys.active_secret(), link, expires_at).finalize().into_bytes();
    format!("{expires_at}.{}.{}", URL_SAFE_NO_PAD.encode(&tag[..TAG_LEN]), keys.active_kid())
}

/// Does `value` prove a click for `link`, now? Strict: one reading of every byte.
pub fn verify(value: &str, keys: &KeySet, link: &LinkId, now: SystemTime) -> Result<(), ProofError> {
    let (expires, rest) = value.split_once('.').ok_or(ProofError::Shape)?;
    let (tag_text, kid) = rest.split_once('.').ok_or(ProofError::Shape)?;
    let canonical = !expires.is_empty() && expires.len() <= 12 && expires.bytes().all(|b| b.is_ascii_digit()) && !expires.starts_with('0');
    let expires_at: u64 = expires.parse().ok().filter(|_| canonical).ok_or(ProofError::Shape)?;
    let tag = URL_SAFE_NO_PAD.decode(tag_text).ok().filter(|t| t.len() == TAG_LEN).ok_or(ProofError::Shape)?;
    if URL_SAFE_NO_PAD.encode(&tag) != tag_text {
        return Err(ProofError::Shape);
    }
    let secret = keys.secret(kid).ok_or(ProofError::UnknownKid)?;
    // A proof lives LIFETIME from the click; one dated further out was not made by this rule.
    let now = unix_secs(now);
    if now >= expires_at || expires_at > now + LIFETIME.as_secs() {
        return Err(ProofError::Expired);
    }
    mac(secret, link, expires_at).verify_truncated_left(&tag).map_err(|_| ProofError::BadTag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeySet {
        KeySet::from_secrets("k2", [("k1".to_owned(), vec![1; 32]), ("k2".to_owned(), vec![2; 32])]).unwrap()
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_proof_opens_its_link_until_it_expires_and_nothing_else() {
        let (link, other) = (LinkId::for_nonce(b"one"), LinkId::for_nonce(b"two"));
        let proof = mint(&keys(), &link, at(1_000));
        assert!(proof.starts_with("1120.") && proof.ends_with(".k2"), "{proof}");
        assert_eq!(verify(&proof, &keys(), &link, at(1_000)), Ok(()));
        assert_eq!(verify(&proof, &keys(), &link, at(1_119)), Ok(()));
        assert_eq!(verify(&proof, &keys(), &link, at(1_120)), Err(ProofError::Expired));
        assert_eq!(verify(&proof, &keys(), &other, at(1_000)), Err(ProofError::BadTag));
        // Minted long before "now" claims: a proof cannot outlive its lifetime by a clock trick.
        assert_eq!(verify(&proof, &keys(), &link, at(900)), Err(ProofError::Expired));
        // Another key set (another deployment) never made it.
        let strangers = KeySet::from_secrets("k2", [("k2".to_owned(), vec![3; 32])]).unwrap();
        assert_eq!(verify(&proof, &strangers, &link, at(1_000)), Err(ProofError::BadTag));
        let retired = KeySet::from_secrets("k1", [("k1".to_owned(), vec![1; 32])]).unwrap();
        assert_eq!(verify(&proof, &retired, &link, at(1_000)), Err(ProofError::UnknownKid));
    }

    #[test]
    fn a_tampered_or_reshaped_proof_is_refused() {
        let link = LinkId::for_nonce(b"one");
        let proof = mint(&keys(), &link, at(1_000));
        let (expires, rest) = proof.split_once('.').unwrap();
        let (tag, _) = rest.split_once('.').unwrap();
        let longer = format!("{}.{tag}.k2", expires.parse::<u64>().unwrap() - 1);
        assert_eq!(verify(&longer, &keys(), &link, at(1_000)), Err(ProofError::BadTag), "the expiry is signed");
        assert_eq!(verify(&format!("{expires}.{tag}.k1"), &keys(), &link, at(1_000)), Err(ProofError::BadTag));
        for bad in ["", "1120", "1120.", "01120.AAAAAAAAAAAAAAAAAAAAAA.k2", "+1120.x.k2", "1120.AAAA.k2", "1120.AAAAAAAAAAAAAAAAAAAAAB.k2"]
        {
            assert_eq!(verify(bad, &keys(), &link, at(1_000)), Err(ProofError::Shape), "{bad:?}");
        }
        let mut flipped = proof.clone().into_bytes();
        let i = expires.len() + 3;
        flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
        assert!(verify(std::str::from_utf8(&flipped).unwrap(), &keys(), &link, at(1_000)).is_err());
    }
}
