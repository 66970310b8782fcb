//! `oncelink status <link-id>`: what happened to one link, for a person to read.
//!
//! The gateway's `GET /_oncelink/links/{id}` answers the link's ledger record: how many uses were
//! granted of how many, whether it is revoked, and its **trail** — every granted use and resume,
//! and the first refused attempts, oldest first (the core's `oncelink::ledger::trail`). This
//! module reads that JSON and lays it out as a short summary and one aligned table row per trail
//! entry:
//!
//! ```text
//! link id     WSaHZ9U5SyAp6zD8iwsgkQ
//! tag         order-1234
//! uses        1 of 1
//! revoked     no
//! first used  2026-11-23T01:05:13Z
//! resumes     0
//! refusals    1
//!
//! time                  outcome            network       agent  bytes
//! 2026-11-23T01:05:13Z  used               127.0.0.0/24  curl   18
//! 2026-11-23T01:05:20Z  link_already_used  127.0.0.0/24  curl   -
//! ```
//!
//! Who asked is only ever a network (an IPv4 /24, an IPv6 /48) and a User-Agent family: the
//! ledger keeps nothing more, so nothing more can be shown. Every refusal is counted, but only the
//! first ones are kept; the table says when some are missing. Fields this version does not know
//! are ignored, so a newer gateway's answer still reads. Text from the answer is printed with
//! control characters replaced, so an answer cannot drive the terminal.

use serde::Deserialize;

/// The parts of `GET /links/{id}` this command shows.
#[derive(Debug, Deserialize)]
pub struct LinkState {
    pub link_id: String,
    #[serde(default)]
    pub tag: Option<String>,
    pub uses: u64,
    /// Unknown (null) until the ledger has seen the link used.
    #[serde(default)]
    pub max_uses: Option<u64>,
    #[serde(default)]
    pub in_flight: u64,
    #[serde(default)]
    pub first_used_at: Option<String>,
    pub revoked: bool,
    #[serde(default)]
    pub resumes: u64,
    #[serde(default)]
    pub refusals: u64,
    #[serde(default)]
    pub trail: Vec<TrailRow>,
}

/// One request in a link's trail.
#[derive(Debug, Deserialize)]
pub struct TrailRow {
    pub at: String,
    /// `used`, `resumed`, `held`, `given_back`, `preview`, or a refusal's code.
    pub outcome: String,
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub agent: String,
    /// What the request delivered, where the gateway served it.
    #[serde(default)]
    pub bytes: Option<u64>,
    #[serde(default)]
    pub complete: Option<bool>,
}

impl TrailRow {
    /// A refused attempt (a preview is one too): only the first of these are kept.
    fn is_refusal(&self) -> bool {
        oncelink::ledger::TrailOutcome::from_label(&self.outcome).is_refusal()
    }
}

/// The summary and the trail table, ready to print (ends with a newline).
pub fn render(state: &LinkState) -> String {
    let uses = match state.max_uses {
        Some(max) => format!("{} of {max}", state.uses),
        None => state.uses.to_string(),
    };
    let uses = if state.in_flight > 0 { format!("{uses} ({} in flight)", state.in_flight) } else { uses };
    let summary = [
        ("link id", clean(&state.link_id)),
        ("tag", state.tag.as_deref().map_or("-".into(), clean)),
        ("uses", uses),
        ("revoked", if state.revoked { "yes" } else { "no" }.into()),
        ("first used", state.first_used_at.as_deref().map_or("never".into(), clean)),
        ("resumes", state.resumes.to_string()),
        ("refusals", state.refusals.to_string()),
    ];
    let mut out: String = summary.iter().map(|(name, value)| format!("{name:<11} {value}\n")).collect();
    out.push('\n');
    if state.trail.is_empty() {
        out.push_str("no requests on this link yet\n");
        return out;
    }
    let mut rows: Vec<&TrailRow> = state.trail.iter().collect();
    // The API sends the trail oldest first; a stable sort keeps that order within one second.
    rows.sort_by(|a, b| a.at.cmp(&b.at));
    let mut table = vec![["time", "outcome", "network", "agent", "bytes"].map(String::from)];
    table.extend(rows.iter().map(|row| {
        let bytes = match (row.bytes, row.complete) {
            (Some(bytes), Some(false)) => format!("{bytes} (cut off)"),
            (Some(bytes), _) => bytes.to_string(),
            (None, _) => "-".into(),
        };
        [clean(&row.at), clean(&row.outcome), or_dash(&row.network), or_dash(&row.agent), bytes]
    }));
    out.push_str(&aligned(&table));
    let kept = rows.iter().filter(|row| row.is_refusal()).count() as u64;
    if state.refusals > kept {
        let missing = state.refusals - kept;
        out.push_str(&format!("({missing} more refused attempt{} counted, not kept)\n", if missing == 1 { "" } else { "s" }));
    }
    out
}

/// Columns padded to their widest cell, two spaces apart, no trailing spaces.
fn aligned<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let line: Vec<String> = row.iter().zip(widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
            format!("{}\n", line.join("  ").trim_end())
        })
        .collect()
}

fn or_dash(text: &str) -> String {
    if text.is_empty() { "-".into() } else { clean(text) }
}

/// `text` with every control character (an escape sequence's start, a newline) as `?`.
fn clean(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(json: serde_json::Value) -> LinkState {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_used_and_refused_link_reads_as_a_summary_and_an_aligned_table() {
        let s = state(serde_json::json!({
            "link_id": "WSaHZ9U5SyAp6zD8iwsgkQ", "tag": "order-1234", "uses": 1, "max_uses": 1, "in_flight": 0,
            "first_used_at": "2026-11-23T01:05:13Z", "revoked": false, "resumes": 0, "refusals": 1, "deliveries": [],
            "trail": [
                {"request_id": "b", "at": "2026-11-23T01:05:20Z", "outcome": "link_already_used", "network": "2001:db8:1::/48", "agent": "firefox"},
                {"request_id": "a", "at": "2026-11-23T01:05:13Z", "outcome": "used", "network": "127.0.0.0/24", "agent": "curl",
                 "bytes": 18, "complete": true},
            ],
            "from_a_newer_gateway": true,
        }));
        let expected = "\
link id     WSaHZ9U5SyAp6zD8iwsgkQ
tag         order-1234
uses        1 of 1
revoked     no
first used  2026-11-23T01:05:13Z
resumes     0
refusals    1

time                  outcome            network          agent    bytes
2026-11-23T01:05:13Z  used               127.0.0.0/24     curl     18
2026-11-23T01:05:20Z  link_already_used  2001:db8:1::/48  firefox  -
";
        assert_eq!(render(&s), expected);
    }

    #[test]
    fn an_unused_link_and_what_is_missing_say_so() {
        let s =
            state(serde_json::json!({"link_id": "x", "tag": null, "uses": 0, "max_uses": null, "first_used_at": null, "revoked": true}));
        let out = render(&s);
        assert!(out.contains("tag         -\n") && out.contains("uses        0\n") && out.contains("first used  never\n"), "{out}");
        assert!(out.contains("revoked     yes\n") && out.ends_with("no requests on this link yet\n"), "{out}");

        let s = state(serde_json::json!({"link_id": "x", "uses": 2, "max_uses": 3, "in_flight": 1, "revoked": false, "refusals": 23,
            "trail": [{"at": "2026-11-23T01:00:00Z", "outcome": "used", "network": "", "agent": "none", "bytes": 7, "complete": false},
                      {"at": "2026-11-23T01:00:01Z", "outcome": "preview", "network": "1.2.3.0/24", "agent": "bot\u{1b}[2J"}]}));
        let out = render(&s);
        assert!(out.contains("uses        2 of 3 (1 in flight)\n"), "{out}");
        assert!(out.contains("  used     -           none     7 (cut off)\n"), "{out}");
        assert!(out.contains("bot?[2J") && !out.contains('\u{1b}'), "{out}");
        assert!(out.ends_with("(22 more refused attempts counted, not kept)\n"), "{out}");
    }
}
