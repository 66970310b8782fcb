//! The command line, as a user runs it: `--help`, `demo`, `put`/`issue`/`status`/`revoke`
//! against a running gateway, `keys rotate`, and one-line errors with a non-zero exit.

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
        &["status", "--help"],
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
    // TLS needs both files, and files that load; the time limits need sensible values.
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        oncelink(&args, Some(&tmp.path().join("t")), None)
    };
    let out = serve(&["--tls-cert", "a.crt"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--tls-key"), "{}", text(&out.stderr));
    std::fs::write(tmp.path().join("bad.crt"), "not a certificate").unwrap();
    let bad = tmp.path().join("bad.crt");
    let out = serve(&["--tls-cert", bad.to_str().unwrap(), "--tls-key", bad.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && stderr.trim_end().lines().last().is_some_and(|l| l.contains("holds no PEM certificate")), "{stderr}");
    let out = serve(&["--idle-timeout", "0s"]);
    assert!(!out.status.success() && text(&out.stderr).contains("--idle-timeout must be between 1s and 1h"), "{}", text(&out.stderr));
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

/// A tagged link used once and refused once: `status` shows the tag, both trail rows with the
/// client's network (never its address), and `--json` is the API's answer; a bad id or no gateway
/// is one line and a non-zero exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_the_tag_and_the_trail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let gw = Gateway::start(&dir, &Backend::File, 0, &[]);
    gw.store("order.txt", b"your order".to_vec()).await;
    let link = gw.issue(serde_json::json!({"key": "order.txt", "tag": "order-1234"})).await;
    assert_eq!(link["tag"], "order-1234");
    let (id, url) = (link["link_id"].as_str().unwrap(), link["url"].as_str().unwrap());
    assert_eq!(gw.get(url).await, (200, b"your order".to_vec()));
    let (status, body) = gw.get(url).await;
    assert_eq!((status, code(&body)), (403, "link_already_used".into()));

    let out = oncelink(&["status", id], Some(&dir), Some(&gw.base));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    for expected in [format!("link id     {id}"), "tag         order-1234".into(), "uses        1 of 1".into(), "revoked     no".into()] {
        assert!(lines.contains(&expected.as_str()), "no line {expected:?} in:\n{stdout}");
    }
    assert!(lines.contains(&"refusals    1"), "{stdout}");
    let header = lines.iter().position(|l| l.starts_with("time ")).unwrap_or_else(|| panic!("no trail table in:\n{stdout}"));
    let rows: Vec<Vec<&str>> = lines[header + 1..].iter().map(|l| l.split_whitespace().collect()).collect();
    // time, outcome, network, agent (the test client's User-Agent is no known family), bytes.
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_eq!(rows[0][1..], ["used", "127.0.0.0/24", "other", "10"], "{stdout}");
    assert_eq!(rows[1][1..], ["link_already_used", "127.0.0.0/24", "other", "-"], "{stdout}");
    assert!(rows[0][0] <= rows[1][0], "oldest first: {stdout}");
    // The columns line up: every row's outcome starts where the header's does.
    let column = lines[header].find("outcome").unwrap();
    for line in &lines[header + 1..] {
        assert!(line[column..].starts_with(|c: char| c.is_ascii_lowercase()) && line[..column].ends_with("  "), "{stdout}");
    }
    assert!(!stdout.contains("127.0.0.1"), "an address in the output: {stdout}");

    let out = oncelink(&["status", id, "--json"], Some(&dir), Some(&gw.base));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(json, gw.state(id).await);
    assert_eq!((json["tag"].as_str(), json["uses"].as_u64(), json["refusals"].as_u64()), (Some("order-1234"), Some(1), Some(1)));
    let outcomes: Vec<&str> = json["trail"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["used", "link_already_used"]);

    // A link nothing happened to, and one issued with `issue --tag`.
    let out = oncelink(&["issue", "order.txt", "--tag", "order-5678", "--json"], Some(&dir), Some(&gw.base));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fresh: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fresh["tag"], "order-5678");
    let out = oncelink(&["status", fresh["link_id"].as_str().unwrap()], Some(&dir), Some(&gw.base));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("tag         order-5678\n") && stdout.contains("no requests on this link yet"), "{stdout}");
    let out = oncelink(&["issue", "order.txt", "--tag", "not a tag"], Some(&dir), Some(&gw.base));
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && stderr.trim_end().lines().count() == 1 && stderr.contains("(invalid_tag)"), "{stderr}");

    // A bad id: the API's 400, one line, non-zero; a pasted link is one bad id, not another route.
    for bad in ["short", url] {
        let out = oncelink(&["status", bad], Some(&dir), Some(&gw.base));
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(&format!("oncelink: error: the gateway refused to show {bad}: 400 ")), "{stderr}");
        assert!(stderr.trim_end().ends_with("(invalid_link_id)"), "{stderr}");
    }
    // No gateway there.
    let out = oncelink(&["status", id, "--json"], Some(&dir), Some("http://127.0.0.1:9"));
    let stderr = text(&out.stderr);
    assert!(!out.status.success() && out.stdout.is_empty(), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach the gateway at http://127.0.0.1:9"), "{stderr}");
}

/// The key id inside a sealed token (docs/link-format.md: version, kid length, kid, …).
fn token_kid(token: &str) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).unwrap();
    let len = bytes[1] as usize;
    String::from_utf8(bytes[2..2 + len].to_vec()).unwrap()
}

/// stdout that is not a terminal (a pipe here; a log file under systemd) never gets the API
/// token, nor does the log: the banner says where the token is, masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_token_is_not_printed_when_stdout_is_not_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let gw = Gateway::start(&dir, &Backend::File, 0, &[]);
    let (stdout, token) = (gw.stdout(), gw.token.clone());
    assert!(!stdout.contains(&token), "the API token is in stdout:\n{stdout}");
    assert!(!gw.log().contains(&token), "the API token is in the log");
    let line = stdout.lines().find(|l| l.starts_with("api token: ")).expect("an api token line");
    assert_eq!(line, format!("api token: **** (generated now, in {}/api-token; not shown: stdout is not a terminal)", dir.display()));
    let page = stdout.lines().find(|l| l.starts_with("web page: ")).expect("a web page line");
    assert_eq!(page, format!("web page:  {}/_oncelink/", gw.base));
    assert_eq!(gw.issue_raw(&serde_json::json!({"key": "a.txt"})).await.0, 201, "the token read from the data dir works");

    // A later start on the same data dir: still only where it is.
    let gw = gw.restart();
    let line = gw.stdout().lines().find(|l| l.starts_with("api token: ")).map(str::to_owned);
    assert_eq!(line, Some(format!("api token: **** (in {}/api-token)", dir.display())));
    assert!(!gw.stdout().contains(&token) && !gw.log().contains(&token));
    drop(gw);

    // From the environment.
    let env_token = "from-the-environment-0123456789";
    let gw = Gateway::start_with_env(&tmp.path().join("env"), &Backend::File, 0, &[], &[("ONCELINK_API_TOKEN", env_token)]);
    assert!(gw.stdout().lines().any(|l| l == "api token: **** (from ONCELINK_API_TOKEN)"), "{}", gw.stdout());
    assert!(!gw.stdout().contains(env_token) && !gw.log().contains(env_token));
    assert_eq!(gw.issue_raw(&serde_json::json!({"key": "a.txt"})).await.0, 201);
}

/// On a terminal (a pseudo-terminal from util-linux `script`), a token made by this start is
/// shown once, so that a person can log in; the next start does not show it again.
#[test]
fn a_token_made_now_is_shown_on_a_terminal_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let on_a_terminal = |dir: &Path| -> String {
        let command = format!("exec {BIN} serve --data-dir '{}' --listen 127.0.0.1:0", dir.display());
        let mut child = Command::new("script")
            .args(["--quiet", "--return", "--command", &command, "/dev/null"])
            .env_remove("ONCELINK_API_TOKEN")
            .env_remove("ONCELINK_KEYS")
            .env_remove("ONCELINK_CONFIG")
            .env("RUST_LOG", "off")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("util-linux script");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !seen.contains("stop with Ctrl-C") && std::time::Instant::now() < deadline {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap_or(0) == 0 {
                break;
            }
            seen.push_str(&line.replace('\r', ""));
        }
        // Closing the terminal's input ends `script`, which hangs up the gateway.
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        drop(child.stdin.take());
        let _ = child.wait();
        seen
    };
    let first = on_a_terminal(&dir);
    let token = std::fs::read_to_string(dir.join("api-token")).unwrap().trim().to_owned();
    let line = first.lines().find(|l| l.starts_with("api token: ")).unwrap_or_else(|| panic!("no api token line in:\n{first}"));
    assert_eq!(line, format!("api token: {token} (generated now, stored in {}/api-token)", dir.display()));
    let again = on_a_terminal(&dir);
    assert!(again.contains("api token: ****"), "{again}");
    assert!(!again.contains(&token), "{again}");
}
