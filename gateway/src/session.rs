//! The web page's session: an `HttpOnly` cookie stands in for the API token, so that no script
//! on this origin can read a credential.
//!
//! ## Why a cookie
//!
//! Objects are served from the same origin as the page (`/<key>?<link>` next to `/_oncelink/`).
//! A token the page keeps in `localStorage` is readable by any script that ever runs on that
//! origin. An `HttpOnly` cookie is not readable by script at all; the browser only *sends* it.
//! What is left is making sure it is sent only for requests the page itself makes:
//!
//! | attribute / rule | what it stops |
//! |---|---|
//! | `HttpOnly` | `document.cookie` never shows it |
//! | `SameSite=Strict` | other sites (and sandboxed documents, whose origin is opaque) cannot make the browser send it |
//! | `Path=/_oncelink/` | it is never sent with object requests, so an origin never sees it |
//! | `Secure` (https public URL) | it never travels in clear text |
//! | [`from_own_page`]: `Origin` = the gateway's own origin | a request from a sandboxed object document says `Origin: null` and is refused even if a browser sent the cookie |
//!
//! Browsers send no `Origin` with a same-origin `GET` (the page reads link state that way), so a
//! `GET`/`HEAD` without any `Origin` header is accepted when it carries
//! `Sec-Fetch-Site: same-origin`, a header no script can set; a non-browser client that holds the
//! cookie holds the token's power anyway, so its headers prove nothing either way.
//!
//! ## The value
//!
//! Stateless, so that it survives a restart and works on every instance that shares the token:
//!
//! ```text
//! v1.<expiry, unix seconds>.<base64url(HMAC-SHA256(key = API token, "oncelink-session-v1" ‖ expiry))>
//! ```
//!
//! Changing the API token ends every session. A value cannot be revoked before its expiry (there
//! is no server-side state): logging out deletes the browser's copy. Values that claim to live
//! longer than [`LIFETIME`] (plus clock skew) are refused too, so a value made with the token by
//! anyone else cannot be a permanent one.

use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, header};
use oncelink::time::unix_secs;
use sha2::Sha256;

/// The cookie's name.
pub const COOKIE: &str = "oncelink_session";
/// How long a session lasts (the cookie's `Max-Age`).
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// How far past `now + LIFETIME` an expiry may be (another instance's clock).
const CLOCK_SKEW: Duration = Duration::from_secs(60);
const VERSION: &str = "v1";
const CONTEXT: &[u8] = b"oncelink-session-v1";
const MAC_BYTES: usize = 32;

/// Why a cookie's value does not open a session. The caller is told only `invalid_session`
/// ([`oncelink::issue::IssueError::InvalidSession`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("not a session value")]
    Malformed,
    #[error("not made with this gateway's API token, or altered")]
    BadMac,
    #[error("the session has expired")]
    Expired,
    #[error("the session claims to last longer than any session this gateway makes")]
    TooLong,
}

/// A new session: the cookie's value and when it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub value: String,
    pub expires_at: SystemTime,
}

fn mac(token: &str, expiry: u64) -> Hmac<Sha256> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC accepts any key length");
    mac.update(CONTEXT);
    mac.update(expiry.to_string().as_bytes());
    mac
}

/// Opens a session for [`LIFETIME`] from `now`, signed with the API token.
pub fn open(token: &str, now: SystemTime) -> Session {
    let expiry = unix_secs(now) + LIFETIME.as_secs();
    let tag = URL_SAFE_NO_PAD.encode(mac(token, expiry).finalize().into_bytes());
    Session { value: format!("{VERSION}.{expiry}.{tag}"), expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(expiry) }
}

/// Checks a cookie's value (MAC in constant time, then the expiry); returns when it ends.
pub fn check(token: &str, value: &str, now: SystemTime) -> Result<SystemTime, SessionError> {
    let mut parts = value.split('.');
    let (Some(VERSION), Some(expiry), Some(tag), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(SessionError::Malformed);
    };
    // Digits only: `+1`, ` 1` or `01` would be other strings for the same number.
    if expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) || (expiry.len() > 1 && expiry.starts_with('0')) {
        return Err(SessionError::Malformed);
    }
    let expiry: u64 = expiry.parse().map_err(|_| SessionError::Malformed)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| SessionError::Malformed)?;
    if tag.len() != MAC_BYTES {
        return Err(SessionError::Malformed);
    }
    mac(token, expiry).verify_slice(&tag).map_err(|_| SessionError::BadMac)?;
    let now = unix_secs(now);
    if expiry <= now {
        return Err(SessionError::Expired);
    }
    if expiry > now + LIFETIME.as_secs() + CLOCK_SKEW.as_secs() {
        return Err(SessionError::TooLong);
    }
    Ok(SystemTime::UNIX_EPOCH + Duration::from_secs(expiry))
}

/// The values of every `oncelink_session` cookie the request carries (a browser may send two:
/// an old one and a new one).
pub fn cookie_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

fn cookie(value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/_oncelink/; Max-Age={max_age}{secure}")
}

/// `Set-Cookie` for a new session; `secure` when the public URL is https.
pub fn set_cookie(session: &Session, secure: bool) -> String {
    cookie(&session.value, LIFETIME.as_secs(), secure)
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    cookie("", 0, secure)
}

/// The request's one `Origin` header (`Err` when there are several).
fn origin(headers: &HeaderMap) -> Result<Option<&[u8]>, ()> {
    let mut all = headers.get_all(header::ORIGIN).iter();
    match (all.next(), all.next()) {
        (None, _) => Ok(None),
        (Some(one), None) => Ok(Some(one.as_bytes())),
        (Some(_), Some(_)) => Err(()),
    }
}

/// Whether a request that carries the session cookie comes from the gateway's own page:
/// `Origin` is `own_origin` exactly, or — for a `GET`/`HEAD`, which browsers send without
/// `Origin` on the same origin — there is no `Origin` and `Sec-Fetch-Site` is `same-origin`.
/// `Origin: null` (a sandboxed document) is always refused.
pub fn from_own_page(headers: &HeaderMap, method: &Method, own_origin: &str) -> bool {
    match origin(headers) {
        Ok(Some(given)) => given == own_origin.as_bytes(),
        Ok(None) => {
            (*method == Method::GET || *method == Method::HEAD)
                && headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"same-origin")
        }
        Err(()) => false,
    }
}

/// Whether a login or logout may be answered: a browser always sends `Origin` with a `POST`, so
/// one that names another origin (or `null`) is another page's; no `Origin` is a script or `curl`.
pub fn not_from_another_page(headers: &HeaderMap, own_origin: &str) -> bool {
    match origin(headers) {
        Ok(Some(given)) => given == own_origin.as_bytes(),
        Ok(None) => true,
        Err(()) => false,
    }
}

/// The token of a login body: a form (`token=…`) or JSON (`{"token": "…"}`), by `Content-Type`.
pub fn login_token(content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
    let token = match essence.as_str() {
        "application/x-www-form-urlencoded" => {
            let mut tokens = form_urlencoded::parse(body).filter(|(name, _)| name == "token").map(|(_, v)| v.into_owned());
            let token = tokens.next()?;
            if tokens.next().is_some() {
                return None;
            }
            token
        }
        "application/json" => {
            #[derive(serde::Deserialize)]
            struct Login {
                token: String,
            }
            serde_json::from_slice::<Login>(body).ok()?.token
        }
        _ => return None,
    };
    let token = token.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "exFwCi8ifxIAO1n2b0yr2SvgaCLTWLZu";

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn round_trip() {
        let now = at(1_795_395_911);
        let session = open(TOKEN, now);
        assert!(session.value.starts_with("v1.1795439111."), "{}", session.value);
        assert_eq!(session.expires_at, at(1_795_395_911 + 43_200));
        assert_eq!(check(TOKEN, &session.value, now), Ok(session.expires_at));
        // Stateless: another instance (or a restart) with the same token agrees.
        assert_eq!(check(TOKEN, &session.value, now + Duration::from_secs(3600)), Ok(session.expires_at));
    }

    #[test]
    fn expiry() {
        let now = at(1_795_395_911);
        let session = open(TOKEN, now);
        assert!(check(TOKEN, &session.value, now + LIFETIME - Duration::from_secs(1)).is_ok());
        assert_eq!(check(TOKEN, &session.value, now + LIFETIME), Err(SessionError::Expired));
        assert_eq!(check(TOKEN, &session.value, now + LIFETIME * 3), Err(SessionError::Expired));
        // Made with the token but far in the future: refused all the same.
        let forever = open(TOKEN, now + LIFETIME * 10);
        assert_eq!(check(TOKEN, &forever.value, now), Err(SessionError::TooLong));
        // Another instance's clock a little ahead is fine.
        assert!(check(TOKEN, &open(TOKEN, now + Duration::from_secs(30)).value, now).is_ok());
    }

    #[test]
    fn tampering() {
        let now = at(1_795_395_911);
        let value = open(TOKEN, now).value;
        let (_, expiry, tag) = {
            let mut p = value.split('.');
            (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
        };
        // A later expiry with the old MAC.
        let later = format!("v1.{}.{tag}", expiry.parse::<u64>().unwrap() + 3600);
        assert_eq!(check(TOKEN, &later, now), Err(SessionError::BadMac));
        // One flipped MAC character.
        let mut flipped = value.clone().into_bytes();
        let last = flipped.len() - 3;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(check(TOKEN, &String::from_utf8(flipped).unwrap(), now), Err(SessionError::BadMac));
        // Other spellings of the same numbers, other shapes.
        for bad in [
            format!("v2.{expiry}.{tag}"),
            format!("v1.0{expiry}.{tag}"),
            format!("v1.+{expiry}.{tag}"),
            format!("v1.{expiry}.{tag}="),
            format!("v1.{expiry}.{tag}.x"),
            format!("v1.{expiry}.{}", &tag[..20]),
            format!("v1..{tag}"),
            "v1.99999999999999999999999.AAAA".to_owned(),
            String::new(),
            TOKEN.to_owned(),
        ] {
            assert_eq!(check(TOKEN, &bad, now), Err(SessionError::Malformed), "{bad}");
        }
    }

    #[test]
    fn wrong_key() {
        let now = at(1_795_395_911);
        let value = open(TOKEN, now).value;
        assert_eq!(check("another-token-another-token-0123", &value, now), Err(SessionError::BadMac));
        assert_eq!(check(&TOKEN[..TOKEN.len() - 1], &value, now), Err(SessionError::BadMac));
    }

    #[test]
    fn cookies_are_read_and_written_with_every_attribute() {
        let session = open(TOKEN, at(1_000));
        assert_eq!(
            set_cookie(&session, false),
            format!("oncelink_session={}; HttpOnly; SameSite=Strict; Path=/_oncelink/; Max-Age=43200", session.value)
        );
        assert!(set_cookie(&session, true).ends_with("; Max-Age=43200; Secure"));
        assert_eq!(clear_cookie(true), "oncelink_session=; HttpOnly; SameSite=Strict; Path=/_oncelink/; Max-Age=0; Secure");
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, "theme=dark; oncelink_session=v1.a.b ;x=y".parse().unwrap());
        headers.append(header::COOKIE, "oncelink_session=v1.c.d".parse().unwrap());
        headers.append(header::COOKIE, "not_oncelink_session=v1.e.f".parse().unwrap());
        assert_eq!(cookie_values(&headers).collect::<Vec<_>>(), ["v1.a.b", "v1.c.d"]);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_the_own_page_may_use_the_session() {
        let own = "http://127.0.0.1:8787";
        let post = Method::POST;
        assert!(from_own_page(&headers(&[("origin", own)]), &post, own));
        assert!(from_own_page(&headers(&[("origin", own)]), &Method::GET, own));
        for refused in [
            headers(&[("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:8788")]),
            headers(&[("origin", "http://localhost:8787")]),
            headers(&[("origin", "http://127.0.0.1:8787/")]),
            headers(&[("origin", own), ("origin", own)]),
            headers(&[]),
            headers(&[("sec-fetch-site", "same-origin")]),
        ] {
            assert!(!from_own_page(&refused, &post, own), "{refused:?}");
        }
        // A same-origin GET has no Origin; the browser's Sec-Fetch-Site says where it is from.
        assert!(from_own_page(&headers(&[("sec-fetch-site", "same-origin")]), &Method::GET, own));
        assert!(from_own_page(&headers(&[("sec-fetch-site", "same-origin")]), &Method::HEAD, own));
        for refused in [headers(&[]), headers(&[("sec-fetch-site", "cross-site")]), headers(&[("sec-fetch-site", "same-site")])] {
            assert!(!from_own_page(&refused, &Method::GET, own), "{refused:?}");
        }
        assert!(!from_own_page(&headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]), &Method::GET, own));

        assert!(not_from_another_page(&headers(&[]), own));
        assert!(not_from_another_page(&headers(&[("origin", own)]), own));
        assert!(!not_from_another_page(&headers(&[("origin", "null")]), own));
        assert!(!not_from_another_page(&headers(&[("origin", "https://evil.example")]), own));
    }

    #[test]
    fn login_bodies() {
        let form = Some("application/x-www-form-urlencoded");
        let json = Some("application/json; charset=utf-8");
        assert_eq!(login_token(form, b"token=abc%2Bdef+g").as_deref(), Some("abc+def g"));
        assert_eq!(login_token(form, b"other=1&token=abc").as_deref(), Some("abc"));
        assert_eq!(login_token(json, br#"{"token": " abc "}"#).as_deref(), Some("abc"));
        assert_eq!(login_token(Some("Application/JSON"), br#"{"token":"abc"}"#).as_deref(), Some("abc"));
        for (content_type, body) in [
            (form, &b"token=a&token=b"[..]),
            (form, b"token="),
            (form, b"tok=abc"),
            (json, br#"{"token": 1}"#),
            (json, br#"{"token": ""}"#),
            (json, b"token=abc"),
            (Some("text/plain"), b"token=abc"),
            (None, b"token=abc"),
        ] {
            assert_eq!(login_token(content_type, body), None, "{content_type:?} {}", String::from_utf8_lossy(body));
        }
    }
}
