//! `oncelink healthcheck`, as a container's HEALTHCHECK runs it: exit 0 against a running gateway
//! (found from `ONCELINK_LISTEN` as `serve` finds it), and exit 1 with one clear line on stderr
//! against a closed port, a port that never answers, a wrong answer; https when the gateway serves
//! TLS with a certificate for another name.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{BIN, Backend, Gateway};

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("healthcheck").args(args);
    for name in ["ONCELINK_LISTEN", "ONCELINK_TLS_CERT", "ONCELINK_CONFIG", "ONCELINK_PUBLIC_URL"] {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied()).current_dir(std::env::temp_dir());
    cmd.output().expect("run oncelink healthcheck")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Failed with exactly one line on stderr that contains `what`.
fn assert_fails_with(out: &Output, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("oncelink: error: ") && stderr.contains(what), "wanted {what:?} in {stderr}");
}

#[test]
fn healthy_against_a_running_gateway_found_as_serve_finds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), &Backend::File, 0, &[]);
    let port = gw.port.to_string();

    // ONCELINK_LISTEN as a container sets it: the unspecified address is probed on loopback.
    let out = healthcheck(&[], &[("ONCELINK_LISTEN", &format!("0.0.0.0:{port}"))]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("healthy: http://127.0.0.1:{port}/_oncelink/healthz"));
    // --url wins over the environment.
    let out = healthcheck(&["--url", &gw.base], &[("ONCELINK_LISTEN", "127.0.0.1:9")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The config file's `listen`, as for `serve`.
    let file = tmp.path().join("oncelink.toml");
    std::fs::write(&file, format!("listen = \"127.0.0.1:{port}\"\n")).unwrap();
    let out = healthcheck(&["--config", file.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A gateway that is gone is unhealthy.
    drop(gw);
    let out = healthcheck(&[], &[("ONCELINK_LISTEN", &format!("0.0.0.0:{port}"))]);
    assert_fails_with(&out, "Connection refused");
}

#[test]
fn unhealthy_with_one_clear_line() {
    // Nobody listening.
    let out = healthcheck(&["--url", "http://127.0.0.1:9"], &[]);
    assert_fails_with(&out, "cannot reach the gateway at http://127.0.0.1:9/_oncelink/healthz");
    // Bad input is refused, not panicked on.
    for (args, env, what) in [
        (&["--url", "127.0.0.1:8787"][..], &[][..], "is not an http:// or https:// URL"),
        (&["--url", "http://[::1"], &[], "is not an http:// or https:// URL"),
        (&[], &[("ONCELINK_LISTEN", "localhost:8787")], "ONCELINK_LISTEN"),
        (&["--config", "/nonexistent/oncelink.toml"], &[], "cannot read the config file"),
    ] {
        assert_fails_with(&healthcheck(args, env), what);
    }
    assert_eq!(healthcheck(&["--timeout", "soon"], &[]).status.code(), Some(2), "the parser refuses a bad duration");

    // A port that accepts but never answers: bounded by --timeout.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = healthcheck(&["--url", &url, "--timeout", "1s"], &[]);
    assert_fails_with(&out, "within 1s");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());

    // Something else on the port: a 200 that is not the gateway's health answer, and a 503.
    for (head, body, what) in [
        ("200 OK", "<html>hello</html>", "answered 200: <html>hello</html>"),
        ("503 Service Unavailable", r#"{"status":"starting"}"#, r#"answered 503: {"status":"starting"}"#),
    ] {
        let url = serve_once(None, head, body);
        assert_fails_with(&healthcheck(&["--url", &url], &[]), what);
    }
}

#[test]
fn https_when_the_gateway_serves_tls_with_a_certificate_for_another_name() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let tls = Some(server_config(fixtures));
    let url = serve_once(tls.clone(), "200 OK", r#"{"status":"ok"}"#);
    let out = healthcheck(&["--url", &url], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // ONCELINK_TLS_CERT set: the address from ONCELINK_LISTEN is asked over https.
    let url = serve_once(tls.clone(), "200 OK", r#"{"status":"ok"}"#);
    let listen = url.trim_start_matches("https://").to_owned();
    let cert = format!("{fixtures}/cert.pem");
    let out = healthcheck(&[], &[("ONCELINK_LISTEN", &listen), ("ONCELINK_TLS_CERT", &cert)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("healthy: https://"), "{}", text(&out.stdout));

    // Plain http to a TLS port is not healthy.
    let url = serve_once(tls, "200 OK", r#"{"status":"ok"}"#);
    let out = healthcheck(&["--url", &url.replace("https://", "http://"), "--timeout", "2s"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

fn server_config(dir: &str) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(format!("{dir}/cert.pem")).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/key.pem")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// A one-request HTTP server (over TLS with `tls`) on a free loopback port that answers
/// `status` and `body`; returns its base URL.
fn serve_once(tls: Option<Arc<rustls::ServerConfig>>, status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else { return };
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut conn: Box<dyn ReadWrite> = match tls {
            Some(config) => Box::new(rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), tcp)),
            None => Box::new(tcp),
        };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match conn.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let _ = conn.write_all(answer.as_bytes());
        let _ = conn.flush();
    });
    url
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
