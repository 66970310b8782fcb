//! TLS and HTTP/2 on the real binary, with a real client (curl): ALPN gives HTTP/2 to a client
//! that asks for it and HTTP/1.1 to one that does not; a link is stored and used once over
//! HTTP/2 exactly as over HTTP/1.1; a certificate renewed on disk is served to new connections
//! within seconds while a download on the old session runs on to its last byte; a renewal that
//! does not load leaves the serving certificate in place; a refused upload gets its reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Gateway};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::Value;

/// A certificate authority of the test's own.
struct Ca {
    pem: PathBuf,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("oncelink test CA {name}"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pem = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem, issuer.pem()).unwrap();
        Self { pem, issuer }
    }

    /// A server certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
    fn server(&self) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        (params.signed_by(&key, &self.issuer).unwrap().pem(), key.serialize_pem())
    }
}

/// Writes a file the way renewal tools do: a new file renamed over the old one.
fn replace(path: &Path, contents: &str) {
    let fresh = path.with_extension("new");
    std::fs::write(&fresh, contents).unwrap();
    std::fs::rename(&fresh, path).unwrap();
}

struct Tls {
    tmp: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Tls {
    fn new(ca: &Ca, tmp: tempfile::TempDir) -> Self {
        let (cert, key) = (tmp.path().join("tls.crt"), tmp.path().join("tls.key"));
        let (c, k) = ca.server();
        std::fs::write(&cert, c).unwrap();
        std::fs::write(&key, k).unwrap();
        Self { tmp, cert, key }
    }

    fn start(&self) -> Gateway {
        let args = ["--tls-cert", self.cert.to_str().unwrap(), "--tls-key", self.key.to_str().unwrap()];
        let gw = Gateway::start(&self.tmp.path().join("data"), &Backend::File, 0, &args);
        assert!(gw.base.starts_with("https://127.0.0.1:"), "the public URL is https: {}", gw.base);
        gw
    }
}

/// curl with `ca` as the only trusted authority; `-w` writes "<status> <http version>".
fn curl(ca: &Path, args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(["-w", "\n%{http_code} %{http_version}"])
        .args(args)
        .output()
        .expect("curl (Debian's, with HTTP/2) is on PATH")
}

/// (body, "<status> <version>") of a finished curl.
fn answer(out: &Output) -> (String, String) {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    (body.to_owned(), tail.to_owned())
}

fn issue(gw: &Gateway, ca: &Path, body: &str) -> Value {
    let bearer = format!("authorization: Bearer {}", gw.token);
    let out =
        curl(ca, &["--http2", "-H", &bearer, "-H", "content-type: application/json", "-d", body, &format!("{}/_oncelink/links", gw.base)]);
    let (json, status) = answer(&out);
    assert_eq!(status, "201 2", "issue over HTTP/2: {json} {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&json).unwrap()
}

#[test]
fn alpn_gives_http2_or_http11_and_a_link_is_used_once_over_http2() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new(tmp.path(), "one");
    let tls = Tls::new(&ca, tmp);
    let gw = tls.start();
    let health = format!("{}/_oncelink/healthz", gw.base);
    assert_eq!(answer(&curl(&ca.pem, &["--http2", &health])), (r#"{"status":"ok"}"#.to_owned(), "200 2".to_owned()));
    assert_eq!(answer(&curl(&ca.pem, &["--http1.1", &health])).1, "200 1.1");
    let plain = curl(&ca.pem, &[&health.replace("https://", "http://")]);
    assert_ne!(answer(&plain).1, "200 1.1", "no plain HTTP on the TLS port");

    // Store through a one-time PUT link, then use a one-time GET link, over HTTP/2.
    let file = tls.tmp.path().join("report.bin");
    let bytes = common::bytes(300_000, 11);
    std::fs::write(&file, &bytes).unwrap();
    let put = issue(&gw, &ca.pem, r#"{"key":"h2/report.bin","method":"PUT"}"#);
    let out = curl(&ca.pem, &["--http2", "-T", file.to_str().unwrap(), put["url"].as_str().unwrap()]);
    assert_eq!(answer(&out).1, "200 2", "upload over HTTP/2: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(answer(&curl(&ca.pem, &["--http2", "-T", file.to_str().unwrap(), put["url"].as_str().unwrap()])).1, "403 2");

    let get = issue(&gw, &ca.pem, r#"{"key":"h2/report.bin"}"#);
    let url = get["url"].as_str().unwrap();
    let saved = tls.tmp.path().join("saved.bin");
    let out = curl(&ca.pem, &["--http2", "-o", saved.to_str().unwrap(), url]);
    assert_eq!(answer(&out).1, "200 2");
    assert_eq!(std::fs::read(&saved).unwrap(), bytes, "the whole object over HTTP/2");
    let (body, status) = answer(&curl(&ca.pem, &["--http2", url]));
    assert_eq!(status, "403 2", "used once: {body}");
    assert_eq!(common::code(body.as_bytes()), "link_already_used");
    let (body, status) = answer(&curl(&ca.pem, &["--http1.1", url]));
    assert_eq!((status.as_str(), common::code(body.as_bytes()).as_str()), ("403 1.1", "link_already_used"), "and over HTTP/1.1 too");
}

/// A refused upload still gets its reason, over HTTP/2 (where curl 7.88 fails on an answer that
/// ends its stream while it is still sending) and HTTP/1.1: the gateway reads what is left of a
/// small upload before it answers. One whose client waits for a 100 Continue is answered without
/// being sent.
#[test]
fn a_refused_upload_is_answered_with_its_reason_after_its_body_unless_it_waits_to_be_sent() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::new(tmp.path(), "one");
    let tls = Tls::new(&ca, tmp);
    let gw = tls.start();
    let small = tls.tmp.path().join("small.bin");
    std::fs::write(&small, common::bytes(300_000, 5)).unwrap();
    let put = issue(&gw, &ca.pem, r#"{"key":"refused/small.bin","method":"PUT"}"#);
    let url = put["url"].as_str().unwrap();
    assert_eq!(answer(&curl(&ca.pem, &["--http2", "-T", small.to_str().unwrap(), url])).1, "200 2");

    let upload = |file: &Path, extra: &[&str]| {
        let mut args = vec!["-w", "\n%{http_code} %{http_version} %{size_upload}", "-T", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(url);
        let out = curl(&ca.pem, &args);
        let (body, tail) = answer(&out);
        (body, tail, String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // Slowed down, so the refusal is ready long before the upload has arrived (over HTTP/1.1
    // without the `Expect: 100-continue` curl sends by default).
    for version in ["--http2", "--http1.1"] {
        let (body, tail, stderr) = upload(&small, &[version, "--limit-rate", "300k", "-H", "expect:"]);
        let expected = if version == "--http2" { "403 2 300000" } else { "403 1.1 300000" };
        assert_eq!(tail, expected, "refused {version} upload, read to its end: {body} {stderr}");
        assert_eq!(common::code(body.as_bytes()), "link_already_used");
    }
    // Waiting for a 100 Continue (curl's default; it gives up waiting after a second), the
    // client is answered at once and never sends the body.
    let (body, tail, stderr) = upload(&small, &["--http1.1"]);
    assert_eq!(tail, "403 1.1 0", "an upload that waits for 100 Continue is refused unsent: {body} {stderr}");
    assert_eq!(common::code(body.as_bytes()), "link_already_used");
}

#[test]
fn a_renewed_certificate_is_served_without_a_restart_or_a_dropped_download() {
    const BIG: u64 = 24 << 20;
    let tmp = tempfile::tempdir().unwrap();
    let (old_ca, new_ca) = (Ca::new(tmp.path(), "old"), Ca::new(tmp.path(), "new"));
    let tls = Tls::new(&old_ca, tmp);
    let gw = tls.start();
    std::fs::File::create(gw.dir.join("objects/oncelink/big.bin")).unwrap().set_len(BIG).unwrap();
    let link = issue(&gw, &old_ca.pem, r#"{"key":"big.bin"}"#);
    let health = format!("{}/_oncelink/healthz", gw.base);

    // A download at 4 MB/s: about six seconds, on a session with the old certificate.
    let saved = tls.tmp.path().join("big.bin");
    let download: Child = Command::new("curl")
        .args(["-sS", "--http2", "--limit-rate", "4M", "--cacert"])
        .arg(&old_ca.pem)
        .args(["-o", saved.to_str().unwrap(), "-w", "%{http_code} %{http_version} %{size_download}"])
        .arg(link["url"].as_str().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));

    let (cert, key) = new_ca.server();
    replace(&tls.key, &key);
    replace(&tls.cert, &cert);
    let renewed = Instant::now();
    while answer(&curl(&new_ca.pem, &["--http2", &health])).1 != "200 2" {
        assert!(renewed.elapsed() < Duration::from_secs(10), "the renewed certificate was never served; log:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut download = download;
    assert!(download.try_wait().unwrap().is_none(), "the download was still running when the new certificate was served");
    assert_ne!(answer(&curl(&old_ca.pem, &["--http2", &health])).1, "200 2", "new connections no longer get the old certificate");

    // A renewal that does not load (a truncated file) keeps the serving certificate.
    replace(&tls.cert, "-----BEGIN CERTIFICATE-----\nMIIB");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(answer(&curl(&new_ca.pem, &["--http2", &health])).1, "200 2");
    assert!(gw.log().contains("do not load"), "the bad renewal is logged:\n{}", gw.log());

    let out = download.wait_with_output().unwrap();
    assert!(out.status.success(), "the download on the old session ran on: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("200 2 {BIG}"));
    assert_eq!(std::fs::metadata(&saved).unwrap().len(), BIG);
}
