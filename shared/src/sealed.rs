//! Sealed links: our own compact, versioned, HMAC-SHA256 token.
//!
//! A sealed link is `https://<cdn host><path>?<token>`. The token carries everything the edge
//! needs (key id, method, expiry, policy, a random nonce, an optional download filename or
//! upload content type) and a MAC over all of it *plus the host and the exact path*. The edge
//! verifies it with a secret S3 never sees, strips it, and lets CloudFront's OAC sign the
//! origin request: S3 is reachable only through the edge, so the one-time rule cannot be
//! bypassed. The byte layout is specified in `docs/link-format.md`, with test vectors.
//!
//! Two payload versions, one encoding per link: a link without flags is written as version 1
//! (byte for byte what every earlier release wrote, so every live token keeps verifying), a link
//! with a flag (today only `confirm`) as version 2 = the version 1 fields + one flags byte. A
//! version 2 payload whose flags are all zero, or that sets an unknown bit, is refused: no set of
//! claims has two encodings.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::link::LinkMethod;
use crate::link::policy::{MAX_GRACE_SECONDS, MAX_USES, valid_content_type, valid_filename};

/// The payload version of a link without flags (every token before `confirm` existed).
pub const VERSION: u8 = 1;
/// The payload version of a link with flags: version 1's fields, then [`FLAGS`] as one byte.
pub const VERSION_FLAGS: u8 = 2;
/// Flag bit: a browser GET gets the confirm page; only a person's click spends the use.
pub const FLAG_CONFIRM: u8 = 0x01;
/// Every flag bit this code knows; a token with any other bit set is refused.
pub const FLAGS: u8 = FLAG_CONFIRM;
/// Domain separation for the MAC input.
pub const MAC_CONTEXT: &[u8] = b"oncelink-sealed-v1";
pub const NONCE_LEN: usize = 16;
pub const MAC_LEN: usize = 32;
pub const MAX_KID_LEN: usize = 32;
/// Secrets shorter than this are refused.
pub const MIN_SECRET_LEN: usize = 32;

/// What a token says (everything but the MAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub kid: String,
    pub method: LinkMethod,
    /// Unix seconds; the link works strictly before this instant.
    pub expires_at: u64,
    pub max_uses: u16,
    pub grace_seconds: u32,
    pub nonce: [u8; NONCE_LEN],
    /// Download name (GET links): becomes `response-content-disposition` at the origin.
    pub filename: Option<String>,
    /// Required `Content-Type` (PUT links).
    pub content_type: Option<String>,
    /// GET links only: show the confirm page; only a click spends the use (version 2 payload).
    pub confirm: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not base64url")]
    Encoding,
    #[error("the token is truncated or has trailing bytes")]
    Length,
    #[error("unsupported token version")]
    Version,
    #[error("a token field is out of range")]
    Field,
    #[error("unknown key id")]
    UnknownKid,
    #[error("the token's signature does not match")]
    BadMac,
}

fn valid_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len()) && kid.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Claims {
    /// Checks every field's range (the same rules the decoder enforces).
    pub fn validate(&self) -> Result<(), TokenError> {
        let ok = valid_kid(&self.kid)
            && self.expires_at <= crate::time::MAX_UNIX_SECS
            && (1..=MAX_USES).contains(&self.max_uses)
            && self.grace_seconds <= MAX_GRACE_SECONDS
            && self.filename.as_deref().is_none_or(valid_filename)
            && self.content_type.as_deref().is_none_or(valid_content_type)
            && !(self.method == LinkMethod::Get && self.content_type.is_some())
            && !(self.method == LinkMethod::Put && (self.filename.is_some() || self.confirm));
        if ok { Ok(()) } else { Err(TokenError::Field) }
    }

    /// The flags byte: zero for a version 1 link.
    pub fn flags(&self) -> u8 {
        if self.confirm { FLAG_CONFIRM } else { 0 }
    }

    /// The payload bytes (docs/link-format.md, "Payload"): version 1 without flags, version 2
    /// with them.
    pub fn encode_payload(&self) -> Vec<u8> {
        let flags = self.flags();
        // Room for the MAC too: the token is the payload and its MAC.
        let fields = self.kid.len() + self.filename.as_deref().map_or(0, str::len) + self.content_type.as_deref().map_or(0, str::len);
        let mut out = Vec::with_capacity(40 + fields + MAC_LEN);
        out.push(if flags == 0 { VERSION } else { VERSION_FLAGS });
        out.push(self.kid.len() as u8);
        out.extend_from_slice(self.kid.as_bytes());
        out.push(match self.method {
            LinkMethod::Get => 1,
            LinkMethod::Put => 2,
        });
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(&self.max_uses.to_be_bytes());
        out.extend_from_slice(&self.grace_seconds.to_be_bytes());
        out.extend_from_slice(&self.nonce);
        for field in [&self.filename, &self.content_type] {
            let bytes = field.as_deref().unwrap_or("").as_bytes();
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
        if flags != 0 {
            out.push(flags);
        }
        out
    }

    /// Parses payload bytes strictly: every length exact, no trailing bytes, every field in range.
    pub fn decode_payload(bytes: &[u8]) -> Result<Self, TokenError> {
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != VERSION && version != VERSION_FLAGS {
            return Err(TokenError::Version);
        }
        let kid_len = r.u8()? as usize;
        let kid = std::str::from_utf8(r.take(kid_len)?).map_err(|_| TokenError::Field)?.to_owned();
        let method = match r.u8()? {
            1 => LinkMethod::Get,
            2 => LinkMethod::Put,
            _ => return Err(TokenError::Field),
        };
        let expires_at = u64::from_be_bytes(r.array()?);
        let max_uses = u16::from_be_bytes(r.array()?);
        let grace_seconds = u32::from_be_bytes(r.array()?);
        let nonce = r.array()?;
        let mut optional = || -> Result<Option<String>, TokenError> {
            let len = r.u8()? as usize;
            let raw = r.take(len)?;
            if len == 0 { Ok(None) } else { std::str::from_utf8(raw).map(|s| Some(s.to_owned())).map_err(|_| TokenError::Field) }
        };
        let filename = optional()?;
        let content_type = optional()?;
        // Version 2 ends with the flags: at least one set (else it would be a version 1 link),
        // none unknown.
        let flags = if version == VERSION_FLAGS { r.u8()? } else { 0 };
        if version == VERSION_FLAGS && (flags == 0 || flags & !FLAGS != 0) {
            return Err(TokenError::Field);
        }
        if !r.0.is_empty() {
            return Err(TokenError::Length);
        }
        let confirm = flags & FLAG_CONFIRM != 0;
        let claims = Self { kid, method, expires_at, max_uses, grace_seconds, nonce, filename, content_type, confirm };
        claims.validate()?;
        Ok(claims)
    }
}

/// A cursor over the payload that reports truncation instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TokenError> {
        if self.0.len() < n {
            return Err(TokenError::Length);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, TokenError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TokenError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

thread_local! {
    /// The last secret this thread MACed with, keyed (the HMAC key schedule done once, not
    /// per token).
    static KEYED: RefCell<Option<(Vec<u8>, Hmac<Sha256>)>> = const { RefCell::new(None) };
}

/// A MAC keyed with `secret`, from this thread's cache.
fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    KEYED.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some((cached, mac)) = slot.as_ref()
            && cached.as_slice() == secret
        {
            return mac.clone();
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        *slot = Some((secret.to_vec(), mac.clone()));
        mac
    })
}

/// HMAC-SHA256 over context, host, path and payload, each length-prefixed (u16 BE) so no two
/// inputs share an encoding.
fn mac(secret: &[u8], host: &str, path: &str, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = keyed(secret);
    for part in [MAC_CONTEXT, host.as_bytes(), path.as_bytes(), payload] {
        mac.update(&(part.len() as u16).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// `host` in lower case (as the MAC binds it), copied only when it is not already.
fn lower(host: &str) -> Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) { Cow::Owned(host.to_ascii_lowercase()) } else { Cow::Borrowed(host) }
}

/// Builds the token for `claims`, bound to `host` (lower case, as the viewer will send it) and
/// `path` (exactly as it will appear in the URL, percent-encoded).
pub fn seal(claims: &Claims, secret: &[u8], host: &str, path: &str) -> Result<String, TokenError> {
    let mut token = String::new();
    seal_into(&mut token, claims, secret, host, path)?;
    Ok(token)
}

/// [`seal`], appending the token to `out` (the URL being built).
pub fn seal_into(out: &mut String, claims: &Claims, secret: &[u8], host: &str, path: &str) -> Result<(), TokenError> {
    claims.validate()?;
    let mut bytes = claims.encode_payload();
    let tag = mac(secret, &lower(host), path, &bytes).finalize().into_bytes();
    bytes.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode_string(bytes, out);
    Ok(())
}

/// Splits a token into claims and MAC without verifying (for tests and tools).
pub fn decode_unverified(token: &str) -> Result<(Claims, [u8; MAC_LEN]), TokenError> {
    if token.is_empty() || token.len() > 1024 {
        return Err(TokenError::Length);
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| TokenError::Encoding)?;
    if bytes.len() <= MAC_LEN {
        return Err(TokenError::Length);
    }
    let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
    let claims = Claims::decode_payload(payload)?;
    let mut mac_bytes = [0u8; MAC_LEN];
    mac_bytes.copy_from_slice(tag);
    Ok((claims, mac_bytes))
}

/// Decodes and verifies a token against the key set, host and path. Constant-time MAC check.
pub fn open(token: &str, keys: &KeySet, host: &str, path: &str) -> Result<Claims, TokenError> {
    let (claims, tag) = decode_unverified(token)?;
    let secret = keys.secret(&claims.kid).ok_or(TokenError::UnknownKid)?;
    let payload = claims.encode_payload();
    mac(secret, &lower(host), path, &payload).verify_slice(&tag).map_err(|_| TokenError::BadMac)?;
    Ok(claims)
}

/// Random bytes fetched from the OS at once, handed out a nonce at a time: one `getrandom`
/// system call per [`NONCES_PER_FETCH`] links rather than per link (it was a third of the time of
/// issuing a sealed link). Every nonce is still the OS generator's output, used once: the buffer
/// only ever moves forward. (Per thread; oncelink never forks, which would copy it.)
const NONCES_PER_FETCH: usize = 32;

struct NoncePool {
    bytes: [u8; NONCE_LEN * NONCES_PER_FETCH],
    /// Where the next unused nonce starts; the buffer's length when it is all used.
    next: usize,
}

thread_local! {
    static NONCES: RefCell<NoncePool> = const { RefCell::new(NoncePool { bytes: [0; NONCE_LEN * NONCES_PER_FETCH], next: NONCE_LEN * NONCES_PER_FETCH }) };
}

/// A fresh random nonce.
pub fn random_nonce() -> Result<[u8; NONCE_LEN], getrandom::Error> {
    NONCES.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.next >= pool.bytes.len() {
            getrandom::getrandom(&mut pool.bytes)?;
            pool.next = 0;
        }
        let mut nonce = [0u8; NONCE_LEN];
        let start = pool.next;
        pool.next = start + NONCE_LEN;
        match pool.bytes.get_mut(start..start + NONCE_LEN) {
            Some(unused) => {
                nonce.copy_from_slice(unused);
                // Never handed out twice, and not left in memory once handed out.
                unused.fill(0);
            }
            // (`next` only ever steps by whole nonces through the buffer, so never here.)
            None => getrandom::getrandom(&mut nonce)?,
        }
        Ok(nonce)
    })
}

/// A secret's bytes; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The signing keys: `{kid → secret}` and which kid signs new links. Every listed kid verifies,
/// so rotating (adding a new active kid) never invalidates live links; removing a kid does.
///
/// JSON form (SSM SecureString `<prefix>/keys`):
/// `{"active": "k1", "keys": {"k1": "<base64url of ≥ 32 random bytes>"}}`
#[derive(Clone, PartialEq, Eq)]
pub struct KeySet {
    active: String,
    keys: BTreeMap<String, Secret>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet").field("active", &self.active).field("kids", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySetJson {
    active: String,
    keys: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid key set: {0}")]
pub struct KeySetError(pub String);

impl KeySet {
    pub fn parse_json(raw: &str) -> Result<Self, KeySetError> {
        let parsed: KeySetJson = serde_json::from_str(raw).map_err(|e| {
            KeySetError(format!(
                "not JSON of the expected shape (line {}, column {}; details withheld: they could quote a secret)",
                e.line(),
                e.column()
            ))
        })?;
        let mut keys = BTreeMap::new();
        for (kid, encoded) in parsed.keys {
            if !valid_kid(&kid) {
                return Err(KeySetError(format!("key id {kid:?} must be 1..=32 of [A-Za-z0-9._-]")));
            }
            let secret = URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .map_err(|_| KeySetError(format!("secret of {kid:?} is not base64url")))?;
            if secret.len() < MIN_SECRET_LEN {
                return Err(KeySetError(format!("secret of {kid:?} is shorter than {MIN_SECRET_LEN} bytes")));
            }
            keys.insert(kid, Secret(secret));
        }
        if !keys.contains_key(&parsed.active) {
            return Err(KeySetError(format!("active key id {:?} is not in keys", parsed.active)));
        }
        Ok(Self { active: parsed.active, keys })
    }

    pub fn to_json(&self) -> String {
        let keys = self.keys.iter().map(|(k, v)| (k.clone(), URL_SAFE_NO_PAD.encode(&v.0))).collect();
        serde_json::to_string(&KeySetJson { active: self.active.clone(), keys }).unwrap_or_default()
    }

    /// A new key set with one random key.
    pub fn generate(kid: &str) -> Result<Self, KeySetError> {
        let mut set = Self { active: String::new(), keys: BTreeMap::new() };
        set.rotate(kid)?;
        Ok(set)
    }

    /// Adds a new random key and makes it the active one; older keys keep verifying.
    pub fn rotate(&mut self, new_kid: &str) -> Result<(), KeySetError> {
        if !valid_kid(new_kid) || self.keys.contains_key(new_kid) {
            return Err(KeySetError(format!("key id {new_kid:?} is invalid or already present")));
        }
        let mut secret = vec![0u8; MIN_SECRET_LEN];
        getrandom::getrandom(&mut secret).map_err(|e| KeySetError(format!("no randomness: {e}")))?;
        self.keys.insert(new_kid.to_owned(), Secret(secret));
        self.active = new_kid.to_owned();
        Ok(())
    }

    /// Removes a retired key: links signed with it stop working.
    pub fn remove(&mut self, kid: &str) -> Result<(), KeySetError> {
        if kid == self.active {
            return Err(KeySetError("cannot remove the active key; rotate first".into()));
        }
        self.keys.remove(kid).map(|_| ()).ok_or_else(|| KeySetError(format!("no key {kid:?}")))
    }

    /// Builds a key set from raw parts (test vectors, tools).
    pub fn from_secrets(active: &str, secrets: impl IntoIterator<Item = (String, Vec<u8>)>) -> Result<Self, KeySetError> {
        let json =
            KeySetJson { active: active.to_owned(), keys: secrets.into_iter().map(|(k, v)| (k, URL_SAFE_NO_PAD.encode(v))).collect() };
        Self::parse_json(&serde_json::to_string(&json).unwrap_or_default())
    }

    pub fn active_kid(&self) -> &str {
        &self.active
    }

    pub fn active_secret(&self) -> &[u8] {
        self.keys.get(&self.active).map(|s| s.0.as_slice()).unwrap_or_default()
    }

    pub fn secret(&self, kid: &str) -> Option<&[u8]> {
        self.keys.get(kid).map(|s| s.0.as_slice())
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Across several fetches from the OS, every nonce handed out is new.
    #[test]
    fn pooled_nonces_are_all_different() {
        let nonces: std::collections::HashSet<_> = (0..NONCES_PER_FETCH * 3 + 5).map(|_| random_nonce().unwrap()).collect();
        assert_eq!(nonces.len(), NONCES_PER_FETCH * 3 + 5);
        assert!(!nonces.contains(&[0; NONCE_LEN]));
    }

    /// The cached keyed MAC follows the secret: a token sealed with one verifies with it only.
    #[test]
    fn the_cached_mac_follows_the_secret() {
        let claims = Claims {
            kid: "k1".into(),
            method: LinkMethod::Get,
            expires_at: 1_800_000_000,
            max_uses: 1,
            grace_seconds: 0,
            nonce: [7; NONCE_LEN],
            filename: None,
            content_type: None,
            confirm: false,
        };
        let (one, two) = (vec![1u8; MIN_SECRET_LEN], vec![2u8; MIN_SECRET_LEN]);
        let sealed_one = seal(&claims, &one, "Files.Example", "/a").unwrap();
        let sealed_two = seal(&claims, &two, "files.example", "/a").unwrap();
        assert_ne!(sealed_one, sealed_two);
        assert_eq!(seal(&claims, &one, "files.example", "/a").unwrap(), sealed_one, "the host is bound in lower case");
        let keys = KeySet::from_secrets("k1", [("k1".to_owned(), one)]).unwrap();
        assert_eq!(open(&sealed_one, &keys, "files.example", "/a"), Ok(claims.clone()));
        assert_eq!(open(&sealed_two, &keys, "files.example", "/a"), Err(TokenError::BadMac));
    }
}
