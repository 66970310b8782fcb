//! The command line, as a user runs it: `--help`, `demo`, `put`/`issue`/`revoke` against a
//! running gateway, `keys rotate`, and one-line errors with a non-zero exit.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{BIN, Backend, Gateway, code};

fn oncelink(args: &[&str], data_dir: Option<&Path>, gateway: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("ONCELINK_API_TOKEN").env_remove("ONCELINK_KEYS").env_remove("ONCELINK_CONFIG");
    if let Some(dir) = data_dir {
        cmd.arg("--data-dir").arg(dir);
    }
    if let Some(url) = gateway {
        cmd.env("ONCELINK_GATEWAY", url);
    }
    cmd.output().expect("run oncelink")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_everywhere() {
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["issue", "--help"],
        &["revoke", "--help"],
        &["put", "--help"],
        &["keys", "rotate", "--help"],
        &["demo", "--help"],
    ] {
        let out = oncelink(args, None, None);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: oncelink"), "{args:?}: {}", text(&out.stdout));
    }
    let serve = text(&oncelink(&["serve", "--help"], None, None).stdout);
    for flag in ["--listen", "--data-dir", "--ledger", "--table", "--origin-endpoint", "--public-url", "ONCELINK_LISTEN"] {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
}

#[test]
fn demo_prints_200_then_403() {
    let out = oncelink(&["demo"], None, None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let first = stdout.lines().find(|l| l.contains("first GET")).expect("first GET line");
    let second = stdout.lines().find(|l| l.contains("second GET")).expect("second GET line");
    assert!(first.contains("200 OK"), "{first}");
    assert!(second.contains("403 Forbidden") && second.contains("link_already_used"), "{second}");
}

#[test]
fn errors_are_one_line_and_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    // No data dir yet.
    let out = oncelink(&["issue", "a.txt"], Some(&tmp.path().join("missing")), Some("http://127.0.0.1:9"));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("oncelink: error: no data dir"), "{stderr}");
    // Nobody listening.
    std::fs::create_dir_all(tmp.path().join("d")).unwrap();
    std::fs::write(tmp.path().join("d/api-token"), "x".repeat(32)).unwrap();
    let out = oncelink(&["issue", "a.txt"], Some(&tmp.path().join("d")), Some("http://127.0.0.1:9"));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach the gateway"), "{stderr}");
    // Bad flag values are refused by the parser.
    let out = oncelink(&["issue", "a.txt", "--expires", "soon"], None, None);
    assert_eq!(out.status.code(), Some(2));
    // A config that cannot work.
    let out = oncelink(&["serve", "--ledger", "dynamodb", "--listen", "127.0.0.1:0"], Some(&tmp.path().join("s")), None);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--ledger dynamodb needs --table"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_issue_revoke_and_rotate_against_a_running_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let gw = Gateway::start(&dir, &Backend::File, 0, &[]);
    let file = tmp.path().join("report.pdf");
    std::fs::write(&file, b"%PDF-1.7 pretend").unwrap();

    let out = oncelink(&["put", file.to_str().unwrap()], Some(&dir), Some(&gw.base));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("stored report.pdf (16 bytes)"), "{}", text(&out.stdout));

    let out = oncelink(&["issue", "report.pdf", "--expires", "10m", "--uses", "2"], Some(&dir), Some(&gw.base));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let url = text(&out.stdout).trim().to_owned();
    assert!(url.starts_with(&format!("{}/report.pdf?", gw.base)), "{url}");
    assert!(text(&out.stderr).contains("uses 2"), "{}", text(&out.stderr));
    assert_eq!(gw.get(&url).await, (200, b"%PDF-1.7 pretend".to_vec()));

    let out = oncelink(&["issue", "report.pdf", "--json"], Some(&dir), Some(&gw.base));
    let link: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = link["link_id"].as_str().unwrap();
    let out = oncelink(&["revoke", id], Some(&dir), Some(&gw.base));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, body) = gw.get(link["url"].as_str().unwrap()).await;
    assert_eq!((status, code(&body)), (403, "link_revoked".into()));

    // Rotation: links signed before keep working, new links use the new key.
    let before = gw.url(serde_json::json!({"key": "report.pdf"})).await;
    let old_keys = std::fs::read_to_string(dir.join("keys.json")).unwrap();
    let out = oncelink(&["keys", "rotate"], Some(&dir), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let new_keys = std::fs::read_to_string(dir.join("keys.json")).unwrap();
    assert_ne!(old_keys, new_keys);
    // The running gateway re-reads the key file within a second or so.
    let active: serde_json::Value = serde_json::from_str(&new_keys).unwrap();
    let active = active["active"].as_str().unwrap().to_owned();
    let mut after = String::new();
    for _ in 0..50 {
        after = gw.url(serde_json::json!({"key": "report.pdf"})).await;
        let token = after.split_once('?').unwrap().1;
        if token_kid(token) == active {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(token_kid(after.split_once('?').unwrap().1), active, "the gateway did not pick up the rotated key");
    assert_eq!(gw.get(&before).await.0, 200, "a link signed with the old key stopped working");
    assert_eq!(gw.get(&after).await.0, 200);
}

/// The key id inside a sealed token (docs/link-format.md: version, kid length, kid, …).
fn token_kid(token: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).unwrap();
    let len = bytes[1] as usize;
    String::from_utf8(bytes[2..2 + len].to_vec()).unwrap()
}
