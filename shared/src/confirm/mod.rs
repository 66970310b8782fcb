//! Confirm links (`confirm: true`): a link sent by mail or chat that a scanner may open, follow
//! and run the scripts of, without spending it.
//!
//! ```text
//!  GET  <link>                      ─► 200 the page: one <form method="post" action="<link>">, one button;
//!                                        no script, no <a href>, no use spent, nothing written
//!  POST <link> (the click; same-origin) ─► 303 Location: <link>, Set-Cookie: oncelink_confirm=<proof>
//!                                        (Path = the link's path, Max-Age 120, HttpOnly, SameSite=Lax)
//!  GET  <link> + a valid proof        ─► the ordinary phase 5: the use is spent only now
//! ```
//!
//! The decision's phase (in [`crate::decision`], after the audience) decides which of the three a
//! request is; this module holds what it needs: the [`proof`] (an HMAC only the edge can make),
//! how a proof travels in cookies (read here, stripped before the origin), and the [`page`] and
//! the click's answer as generated responses, the same bytes from the gateway and from CloudFront.
//!
//! A proof counts only on the browser's own follow-up of the click: a request that says it comes
//! from elsewhere (`Sec-Fetch-Site` present and not `same-origin`: a new visit typed or clicked
//! in a mail) sees the page again, so a second visit in the same browser asks for a second click.
//! Clients that send no `Sec-Fetch-Site` (not a browser, or a plain-http origin) may use the
//! proof for its whole lifetime.

pub mod page;
pub mod proof;

pub use page::{Generated, answer};

use crate::ViewerRequest;

/// The proof cookie's name.
pub const COOKIE: &str = "oncelink_confirm";
/// Most proof cookies one request may carry that are checked (the rest are ignored).
const MAX_PROOFS_CHECKED: usize = 4;
/// Largest body a click may announce (a browser's form of one nameless button sends none).
pub const MAX_CLICK_BODY_BYTES: u64 = 1024;

/// What the confirm phase answers instead of going to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmStep {
    /// A GET or HEAD without a valid proof: the page, whose form posts to `link`.
    Page {
        /// Path and query exactly as the viewer sent them (the form's action).
        link: String,
        /// The link's download name, to show (escaped when rendered).
        filename: Option<String>,
    },
    /// The click: a proof for the browser, and the link to see again.
    Clicked {
        link: String,
        /// The cookie's `Path`: the link's path as sent.
        path: String,
        proof: String,
        /// `Secure` cookie (the viewer reaches the edge over https).
        secure: bool,
    },
}

impl ConfirmStep {
    /// The page is `200 OK`; the click's answer is `303 See Other`.
    pub fn status(&self) -> u16 {
        match self {
            Self::Page { .. } => 200,
            Self::Clicked { .. } => 303,
        }
    }
}

/// Every value of a proof cookie in the request's `Cookie` headers (a few at most).
pub fn proofs(request: &ViewerRequest) -> impl Iterator<Item = &str> {
    request
        .headers
        .iter()
        .filter(|(name, _)| name == "cookie")
        .flat_map(|(_, value)| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .take(MAX_PROOFS_CHECKED)
}

/// A `Cookie` header value without proof cookies (`None` when nothing else is left): what a
/// shell that passes cookies on sends to the origin, which has no business with a proof.
pub fn without_proofs(cookie: &str) -> Option<String> {
    let kept: Vec<&str> =
        cookie.split(';').map(str::trim).filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(COOKIE)).collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Is this click from the link's own page in a browser? The browser says `Sec-Fetch-Site:
/// same-origin` (a header no page can set) or, where it sends no `Sec-Fetch-Site`, `Origin` is
/// exactly the link's own origin. A page
/// elsewhere, or a sandboxed one, can do neither, so it cannot confirm for its visitor.
///
/// The page's `Referrer-Policy: no-referrer` makes browsers send `Origin: null` with its form's
/// POST (Fetch: a no-referrer request's origin is serialised as `null`), so in practice the
/// browser's `Sec-Fetch-Site` decides; browsers send it to https and loopback origins only, so a
/// confirm link needs one of those (a plain-http gateway on a LAN address refuses the click).
pub fn from_own_page(request: &ViewerRequest, https: bool) -> bool {
    if let Some(site) = request.header("sec-fetch-site") {
        return site == "same-origin";
    }
    let mut origins = request.headers.iter().filter(|(name, _)| name == "origin").map(|(_, v)| v.as_str());
    let (Some(origin), None) = (origins.next(), origins.next()) else { return false };
    let Some(host) = request.header("host") else { return false };
    let scheme = if https { "https://" } else { "http://" };
    origin.strip_prefix(scheme).is_some_and(|rest| rest.eq_ignore_ascii_case(host))
}

/// May a proof count for this request? Not when the browser says the request comes from
/// anywhere but the link's own origin (a new visit); yes when it says nothing.
pub fn follows_the_click(request: &ViewerRequest) -> bool {
    request.header("sec-fetch-site").is_none_or(|site| site == "same-origin")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> ViewerRequest {
        let mut r = ViewerRequest::from_url("POST", "https://files.example.com/a.pdf?t", "r");
        for (name, value) in headers {
            r = r.with_header(name, value);
        }
        r
    }

    #[test]
    fn proofs_are_read_from_every_cookie_header_and_stripped_before_the_origin() {
        let r = request(&[("cookie", "a=1; oncelink_confirm=p1"), ("cookie", "oncelink_confirmx=no;oncelink_confirm=p2")]);
        assert_eq!(proofs(&r).collect::<Vec<_>>(), ["p1", "p2"]);
        assert_eq!(without_proofs("a=1; oncelink_confirm=p1; b=2").as_deref(), Some("a=1; b=2"));
        assert_eq!(without_proofs("oncelink_confirm=p1"), None);
        assert_eq!(without_proofs("oncelink_confirmx=1").as_deref(), Some("oncelink_confirmx=1"));
    }

    #[test]
    fn a_click_counts_only_from_the_links_own_origin() {
        assert!(from_own_page(&request(&[("origin", "https://files.example.com")]), true));
        assert!(from_own_page(&request(&[("origin", "https://FILES.example.com")]), true));
        assert!(from_own_page(&request(&[("sec-fetch-site", "same-origin")]), true));
        // What Chromium sends for the page's form (no-referrer: Origin is null).
        assert!(from_own_page(&request(&[("origin", "null"), ("sec-fetch-site", "same-origin")]), true));
        for headers in [
            &[][..],
            &[("origin", "null")][..],
            &[("origin", "http://files.example.com")][..],
            &[("origin", "https://files.example.com:444")][..],
            &[("origin", "https://files.example.com"), ("origin", "https://files.example.com")][..],
            &[("origin", "https://files.example.com"), ("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "cross-site")][..],
            &[("sec-fetch-site", "same-site")][..],
        ] {
            assert!(!from_own_page(&request(headers), true), "{headers:?}");
        }
        assert!(from_own_page(&request(&[("origin", "http://files.example.com")]), false));
    }

    #[test]
    fn a_proof_counts_for_the_follow_up_not_for_a_new_visit() {
        assert!(follows_the_click(&request(&[("sec-fetch-site", "same-origin")])));
        assert!(follows_the_click(&request(&[])));
        assert!(!follows_the_click(&request(&[("sec-fetch-site", "none")])));
        assert!(!follows_the_click(&request(&[("sec-fetch-site", "cross-site")])));
    }
}
