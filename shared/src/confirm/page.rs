//! The confirm page and the click's answer, as generated responses: one set of bytes and headers
//! that the gateway and the CloudFront shell each only copy into their own response type.
//!
//! The page is small (well under CloudFront's 40 KB for a generated response) and inert: no
//! script at all (the CSP allows none), no `<a href>` a scanner could follow to the link, no
//! image or other subresource; one `<form method="post">` whose action is the link itself and
//! one button. Nothing is cached, indexed or sent on as a referrer.

use super::ConfirmStep;
use super::proof::LIFETIME;

/// The page's Content-Security-Policy: nothing but its own inline style; the form may post only
/// to its own origin; no framing, no `<base>`.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A response the edge writes itself. Header names in their canonical casing (CloudFront keeps
/// `key`; HTTP libraries lower-case them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// Headers every confirm answer carries.
fn common_headers(content_type: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", content_type.to_owned()),
        ("Cache-Control", "no-store, private".to_owned()),
        ("X-Robots-Tag", "noindex, nofollow".to_owned()),
        ("Referrer-Policy", "no-referrer".to_owned()),
        ("X-Content-Type-Options", "nosniff".to_owned()),
    ]
}

/// The answer for a confirm step.
pub fn answer(step: &ConfirmStep) -> Generated {
    match step {
        ConfirmStep::Page { link, filename } => {
            let mut headers = common_headers("text/html; charset=utf-8");
            headers.push(("Content-Security-Policy", PAGE_CSP.to_owned()));
            Generated { status: step.status(), headers, body: page(link, filename.as_deref()) }
        }
        ConfirmStep::Clicked { link, path, proof, secure } => {
            let mut headers = common_headers("text/plain; charset=utf-8");
            headers.push(("Location", link.clone()));
            let secure = if *secure { "; Secure" } else { "" };
            let max_age = LIFETIME.as_secs();
            headers
                .push(("Set-Cookie", format!("{}={proof}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", super::COOKIE)));
            Generated { status: step.status(), headers, body: String::new() }
        }
    }
}

/// `&`, `<`, `>`, `"` and `'` as character references: safe in text and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(link: &str, filename: Option<&str>) -> String {
    let what = match filename {
        Some(name) => format!("<p class=\"name\">{}</p>", escape(name)),
        None => String::new(),
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<title>Download</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; color: #222; }}
.name {{ font-weight: 600; overflow-wrap: anywhere; }}
button {{ font-size: 1.1rem; padding: 0.6rem 1.4rem; cursor: pointer; }}
.note {{ color: #666; font-size: 0.9rem; }}
</style>
</head>
<body>
<h1>Download</h1>
{what}
<form method="post" action="{action}">
<button type="submit">Download</button>
</form>
<p class="note">Opening this page does not use the link; pressing the button does.</p>
</body>
</html>
"#,
        action = escape(link),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(g: &'a Generated, name: &str) -> Option<&'a str> {
        g.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_page_is_inert_small_and_shows_the_escaped_name() {
        let step = ConfirmStep::Page { link: "/a%20b.pdf?AQ_-x".into(), filename: Some("<b>Q3</b> & 'co'.pdf".into()) };
        let g = answer(&step);
        assert_eq!((g.status, header(&g, "Content-Type")), (200, Some("text/html; charset=utf-8")));
        assert_eq!(header(&g, "Content-Security-Policy"), Some(PAGE_CSP));
        assert_eq!(header(&g, "Cache-Control"), Some("no-store, private"));
        assert_eq!(header(&g, "X-Robots-Tag"), Some("noindex, nofollow"));
        assert!(g.body.contains(r#"<form method="post" action="/a%20b.pdf?AQ_-x">"#), "{}", g.body);
        assert!(g.body.contains("&lt;b&gt;Q3&lt;/b&gt; &amp; &#39;co&#39;.pdf"));
        assert!(!g.body.contains("<b>"));
        for forbidden in ["<script", "href", "<img", "<a ", "<link", "<iframe", "src="] {
            assert!(!g.body.to_ascii_lowercase().contains(forbidden), "the page contains {forbidden}");
        }
        assert_eq!(g.body.matches("<button").count(), 1);
        let size = g.body.len() + g.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>();
        assert!(size < 4 * 1024, "{size} bytes");
    }

    #[test]
    fn the_click_sets_a_short_lived_proof_for_the_links_path_and_sends_the_browser_back() {
        let step = ConfirmStep::Clicked { link: "/k.pdf?AQ".into(), path: "/k.pdf".into(), proof: "1120.x.k1".into(), secure: true };
        let g = answer(&step);
        assert_eq!((g.status, header(&g, "Location"), g.body.as_str()), (303, Some("/k.pdf?AQ"), ""));
        assert_eq!(header(&g, "Set-Cookie"), Some("oncelink_confirm=1120.x.k1; Path=/k.pdf; Max-Age=120; HttpOnly; SameSite=Lax; Secure"));
        let plain = answer(&ConfirmStep::Clicked { link: "/k".into(), path: "/k".into(), proof: "p".into(), secure: false });
        assert!(!header(&plain, "Set-Cookie").unwrap().contains("Secure"));
    }
}
