//! A link's trail: what happened to it, kept in its ledger record for as long as the record.
//!
//! Every granted use and resume, and the first [`REFUSALS_KEPT`] refused attempts on a *known*
//! link (one whose signature or token was read and verified: an unreadable request names no
//! link), are kept as [`TrailEntry`]s, with a count of every refusal. Uses are bounded by the
//! link's `max_uses` and resumes by the edge's `max_resumes`, so a record stays small whatever a
//! scanner does to it.
//!
//! Who asked is kept only as a [`ClientHint`]: the client's network (an IPv4 /24 or an IPv6
//! /48) and the family of its User-Agent from a short fixed list, never the address or the
//! header itself. Enough to tell "a mail scanner in a datacenter opened it at 09:02, then a
//! Firefox on the customer's network at 09:40" apart, not enough to track a person.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::ViewerRequest;

/// Refused attempts kept per link (each refusal is counted in any case).
pub const REFUSALS_KEPT: u32 = 20;

/// What one request did to a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailEntry {
    /// The viewer request's id (its delivery record, in the gateway, has the same id).
    pub request_id: String,
    pub at: SystemTime,
    pub outcome: TrailOutcome,
    pub client: ClientHint,
}

/// The outcome of one request on a known link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailOutcome {
    /// A use was granted (in the gateway: held, then spent when the origin delivered).
    Used,
    /// The link's first client resumed without spending a use.
    Resumed,
    /// A link-preview bot or mail scanner was answered with no content.
    Preview,
    /// A use that was granted and then given back (the origin refused or failed, or the hold
    /// lapsed): it cost nothing. Only in a read record ([`super::LinkRecord::state`]).
    GivenBack,
    /// A use held while the origin is asked. Only in a read record.
    Held,
    /// Refused, with the refusal's reason code (`link_already_used`, `link_expired`, …).
    Refused(String),
}

impl TrailOutcome {
    /// The outcome as one word for tables and events: `used`, `resumed`, `preview`, or the
    /// refusal's reason code.
    pub fn label(&self) -> &str {
        match self {
            Self::Used => "used",
            Self::Resumed => "resumed",
            Self::Preview => "preview",
            Self::GivenBack => "given_back",
            Self::Held => "held",
            Self::Refused(code) => code,
        }
    }

    /// Read back from [`Self::label`].
    pub fn from_label(label: &str) -> Self {
        match label {
            "used" => Self::Used,
            "resumed" => Self::Resumed,
            "preview" => Self::Preview,
            "given_back" => Self::GivenBack,
            "held" => Self::Held,
            code => Self::Refused(code.to_owned()),
        }
    }

    /// A refused attempt (or a preview): bounded per link, unlike uses and resumes.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Preview | Self::Refused(_))
    }
}

/// Who asked, roughly: never the address or the User-Agent itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHint {
    /// `203.0.113.0/24`, `2001:db8:1::/48`, or empty when the address is unknown.
    pub network: String,
    /// One of [`AGENT_FAMILIES`]'s names, `other`, or `none` (no User-Agent).
    pub agent: String,
}

impl ClientHint {
    pub fn of(request: &ViewerRequest) -> Self {
        Self {
            network: request.client_ip.as_deref().map(network).unwrap_or_default(),
            agent: agent_family(request.header("user-agent")).into(),
        }
    }
}

/// The network of an address: IPv4 to its /24, IPv6 to its /48 (an IPv4-mapped IPv6 address as
/// IPv4). Anything unreadable is empty.
pub fn network(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4_network(v4),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4_network(v4),
            None => {
                let s = v6.segments();
                format!("{}/48", std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
            }
        },
        Err(_) => String::new(),
    }
}

fn v4_network(v4: std::net::Ipv4Addr) -> String {
    // As `format!("{a}.{b}.{c}.0/24")`, without the formatting machinery (every claim asks).
    let mut out = String::with_capacity(18);
    for octet in &v4.octets()[..3] {
        let (hundreds, tens, ones) = (octet / 100, octet / 10 % 10, octet % 10);
        if hundreds > 0 {
            out.push(char::from(b'0' + hundreds));
        }
        if hundreds > 0 || tens > 0 {
            out.push(char::from(b'0' + tens));
        }
        out.push(char::from(b'0' + ones));
        out.push('.');
    }
    out.push_str("0/24");
    out
}

/// User-Agent families, matched in order (lower-case substrings): the first that matches
/// names the client. Bots and tools first, because they often also claim to be a browser.
pub const AGENT_FAMILIES: &[(&str, &str)] = &[
    ("bot", "bot"),
    ("spider", "bot"),
    ("crawl", "bot"),
    ("preview", "bot"),
    ("safelinks", "scanner"),
    ("proofpoint", "scanner"),
    ("mimecast", "scanner"),
    ("barracuda", "scanner"),
    ("curl/", "curl"),
    ("wget/", "wget"),
    ("python", "python"),
    ("go-http-client", "go"),
    ("okhttp", "okhttp"),
    ("java/", "java"),
    ("aws-sdk", "aws-sdk"),
    ("headlesschrome", "headless-chrome"),
    ("electron/", "electron"),
    ("teams/", "teams"),
    ("slack", "slack"),
    ("outlook", "outlook"),
    ("edg/", "edge"),
    ("opr/", "opera"),
    ("firefox/", "firefox"),
    ("chrome/", "chrome"),
    ("chromium/", "chrome"),
    ("safari/", "safari"),
];

/// The substrings of [`AGENT_FAMILIES`], in their order.
const AGENT_NEEDLES: [&str; AGENT_FAMILIES.len()] = {
    let mut needles = [""; AGENT_FAMILIES.len()];
    let mut i = 0;
    while i < needles.len() {
        needles[i] = AGENT_FAMILIES[i].0;
        i += 1;
    }
    needles
};

/// The family of a User-Agent ([`AGENT_FAMILIES`]), `other`, or `none`.
pub fn agent_family(user_agent: Option<&str>) -> &'static str {
    let Some(user_agent) = user_agent.filter(|ua| !ua.trim().is_empty()) else { return "none" };
    crate::words::first_contained(user_agent, &AGENT_NEEDLES).map_or("other", |i| AGENT_FAMILIES[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_keep_only_the_prefix() {
        assert_eq!(network("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(network("2001:db8:abcd:12::1"), "2001:db8:abcd::/48");
        assert_eq!(network("::ffff:198.51.100.9"), "198.51.100.0/24");
        assert_eq!(network("not an address"), "");
        assert_eq!(network(""), "");
        for octet in [0u8, 7, 10, 99, 100, 101, 110, 200, 255] {
            let ip = std::net::Ipv4Addr::new(octet, 255 - octet, octet / 3, 9);
            assert_eq!(network(&ip.to_string()), format!("{octet}.{}.{}.0/24", 255 - octet, octet / 3));
        }
    }

    #[test]
    fn agent_families_name_the_client_not_the_header() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(agent_family(Some(chrome)), "chrome");
        assert_eq!(agent_family(Some("Mozilla/5.0 (Macintosh) AppleWebKit/605 (KHTML, like Gecko) Version/17 Safari/605.1")), "safari");
        assert_eq!(agent_family(Some("Mozilla/5.0 (Windows NT 10.0; rv:133.0) Gecko/20100101 Firefox/133.0")), "firefox");
        assert_eq!(agent_family(Some(&format!("{chrome} Edg/131.0"))), "edge");
        assert_eq!(agent_family(Some("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)")), "bot");
        assert_eq!(agent_family(Some("curl/8.5.0")), "curl");
        assert_eq!(agent_family(Some("something new/1.0")), "other");
        assert_eq!(agent_family(Some("  ")), "none");
        assert_eq!(agent_family(None), "none");
    }

    #[test]
    fn outcomes_read_back_from_their_labels() {
        for outcome in [
            TrailOutcome::Used,
            TrailOutcome::Resumed,
            TrailOutcome::Preview,
            TrailOutcome::GivenBack,
            TrailOutcome::Held,
            TrailOutcome::Refused("link_expired".into()),
        ] {
            assert_eq!(TrailOutcome::from_label(outcome.label()), outcome);
        }
        assert!(TrailOutcome::Preview.is_refusal() && !TrailOutcome::Used.is_refusal());
    }
}
