//! `oncelink healthcheck`: the gateway's liveness probe, as a subcommand of the binary itself.
//!
//! A container image built `FROM scratch` has no shell and no curl, so its `HEALTHCHECK` runs
//! `/oncelink healthcheck`: one `GET /_oncelink/healthz` to the gateway of the same configuration,
//! exit 0 on `200 {"status":"ok"}`, and otherwise exit 1 with one line on stderr that says what
//! happened (refused, no answer within the timeout, a wrong status or body).
//!
//! Where it asks, in order: `--url`; else the address `oncelink serve` would listen on, read the
//! same way (`ONCELINK_LISTEN`, then the config file's `listen`, then 127.0.0.1:8787), with an
//! unspecified address (`0.0.0.0`, `[::]`) probed on loopback. The scheme is `https` when the
//! gateway serves TLS itself (`ONCELINK_TLS_CERT` set, or `tls_cert` in the config file).
//!
//! Over https the probe does **not** verify the certificate: it goes to the local process, carries
//! no secret, and reads nothing but a status, and the certificate is issued for the public name,
//! not for the loopback address asked here. The handshake's signatures are still checked, so a
//! peer without the certificate's key cannot complete it; only who the certificate names is
//! taken on trust.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::causes::causes;

use crate::settings::{CommonArgs, default_listen, format_duration, parse_duration};

/// The path every gateway answers health on.
pub const HEALTH_PATH: &str = "/_oncelink/healthz";

/// `oncelink healthcheck` options.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthcheckArgs {
    /// The gateway's base URL, e.g. http://127.0.0.1:8787 [default: where `oncelink serve` of this
    /// configuration listens: ONCELINK_LISTEN, then the config file, then 127.0.0.1:8787]
    #[arg(long)]
    pub url: Option<String>,
    /// How long the whole probe may take, e.g. 3s
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Why the gateway is not healthy (or cannot be asked).
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    #[error("{0}")]
    Config(String),
    #[error("{url:?} is not an http:// or https:// URL")]
    BadUrl { url: String },
    #[error("cannot reach the gateway at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("no answer from {url} within {within}")]
    Timeout { url: String, within: String },
    #[error("{url} answered {status}: {body}")]
    NotOk { url: String, status: u16, body: String },
}

/// The URL to probe for these arguments and this configuration (see the module docs).
pub fn target(common: &CommonArgs, args: &HealthcheckArgs) -> Result<String, Unhealthy> {
    target_in(common, args, env_nonempty)
}

/// [`target`] with the environment as a function (tests give their own).
fn target_in(common: &CommonArgs, args: &HealthcheckArgs, env: impl Fn(&str) -> Option<String>) -> Result<String, Unhealthy> {
    let base = match &args.url {
        Some(url) => url.trim().trim_end_matches('/').to_owned(),
        None => {
            let file = file_config(common)?;
            let listen = match env("ONCELINK_LISTEN") {
                Some(raw) => raw.parse().map_err(|_| Unhealthy::Config(format!("ONCELINK_LISTEN: {raw:?} is not an address")))?,
                None => match file.get("listen") {
                    Some(toml::Value::String(raw)) => {
                        raw.parse().map_err(|_| Unhealthy::Config(format!("config file: listen: {raw:?} is not an address")))?
                    }
                    Some(_) => return Err(Unhealthy::Config("config file: listen must be a string".into())),
                    None => default_listen(),
                },
            };
            let tls = env("ONCELINK_TLS_CERT").is_some() || file.contains_key("tls_cert");
            base_url(listen, tls)
        }
    };
    let url = format!("{base}{HEALTH_PATH}");
    match url.parse::<Uri>() {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some() => Ok(url),
        _ => Err(Unhealthy::BadUrl { url: base }),
    }
}

/// `http://` (or `https://`) and the listen address, on loopback when it is unspecified.
pub fn base_url(listen: SocketAddr, tls: bool) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("{}://{}", if tls { "https" } else { "http" }, SocketAddr::new(ip, listen.port()))
}

/// One probe of `url` (a full URL, path included), bounded by `timeout` as a whole.
pub async fn probe(url: &str, timeout: Duration) -> Result<(), Unhealthy> {
    let uri: Uri = url.parse().map_err(|_| Unhealthy::BadUrl { url: url.to_owned() })?;
    let ask = async {
        let request = Request::get(uri)
            .header(http::header::USER_AGENT, concat!("oncelink-healthcheck/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|_| Unhealthy::BadUrl { url: url.to_owned() })?;
        let unreachable = |e: &dyn std::error::Error| Unhealthy::Unreachable { url: url.to_owned(), cause: causes(e) };
        let response = client()?.request(request).await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(|e| unreachable(&e))?.to_bytes();
        Ok::<_, Unhealthy>((status, body))
    };
    let (status, body) = tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| Unhealthy::Timeout { url: url.to_owned(), within: format_duration(timeout) })??;
    let ok = serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v.get("status").and_then(|s| s.as_str()) == Some("ok"));
    if status == StatusCode::OK && ok {
        return Ok(());
    }
    let body: String = String::from_utf8_lossy(&body).chars().filter(|c| !c.is_control()).take(120).collect();
    Err(Unhealthy::NotOk { url: url.to_owned(), status: status.as_u16(), body: if body.is_empty() { "(empty body)".into() } else { body } })
}

/// `oncelink healthcheck`: prints `healthy: <url>` and returns, or the reason it is not.
pub async fn run(common: &CommonArgs, args: &HealthcheckArgs) -> Result<(), Unhealthy> {
    let url = target(common, args)?;
    probe(&url, args.timeout).await?;
    println!("healthy: {url}");
    Ok(())
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The config file as a plain table (only `listen` and `tls_cert` are read here; the rest is
/// `serve`'s to check), found the way `serve` finds it.
fn file_config(common: &CommonArgs) -> Result<toml::Table, Unhealthy> {
    let path = match &common.config {
        Some(p) => p.clone(),
        None if Path::new("oncelink.toml").is_file() => "oncelink.toml".into(),
        None => return Ok(toml::Table::new()),
    };
    let text =
        std::fs::read_to_string(&path).map_err(|e| Unhealthy::Config(format!("cannot read the config file {}: {e}", path.display())))?;
    text.parse::<toml::Table>().map_err(|e| Unhealthy::Config(format!("config file {}: {}", path.display(), e.message())))
}

type ProbeClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

fn client() -> Result<ProbeClient, Unhealthy> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(AnyCertificate(provider.signature_verification_algorithms));
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Unhealthy::Config(format!("TLS setup: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Takes any certificate as naming the gateway (see the module docs) but still checks the
/// handshake's signatures with it.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(config: Option<&Path>) -> CommonArgs {
        CommonArgs { data_dir: None, config: config.map(Path::to_path_buf) }
    }

    #[test]
    fn unspecified_addresses_are_probed_on_loopback() {
        assert_eq!(base_url("0.0.0.0:8787".parse().unwrap(), false), "http://127.0.0.1:8787");
        assert_eq!(base_url("[::]:443".parse().unwrap(), true), "https://[::1]:443");
        assert_eq!(base_url("10.0.0.5:80".parse().unwrap(), false), "http://10.0.0.5:80");
    }

    #[test]
    fn urls_it_cannot_use_are_refused_not_panicked_on() {
        for url in ["", "127.0.0.1:8787", "ftp://x", "http://", "http://a b", "https://[::1"] {
            let args = HealthcheckArgs { url: Some(url.into()), timeout: Duration::from_secs(1) };
            let error = target(&common(None), &args).unwrap_err();
            assert!(matches!(error, Unhealthy::BadUrl { .. }), "{url}: {error}");
        }
        let args = HealthcheckArgs { url: Some("https://gw.internal:8443/".into()), timeout: Duration::from_secs(1) };
        assert_eq!(target(&common(None), &args).unwrap(), "https://gw.internal:8443/_oncelink/healthz");
    }

    #[test]
    fn the_config_file_gives_the_listen_address_and_the_scheme() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oncelink.toml");
        let args = HealthcheckArgs { url: None, timeout: Duration::from_secs(1) };
        let no_env = |_: &str| None;
        let at = |file: &Path| target_in(&common(Some(file)), &args, no_env);
        std::fs::write(&file, "listen = \"0.0.0.0:9443\"\ntls_cert = \"/etc/oncelink/cert.pem\"\n").unwrap();
        assert_eq!(at(&file).unwrap(), "https://127.0.0.1:9443/_oncelink/healthz");
        for bad in ["listen = 8787\n", "listen = \"nowhere\"\n", "listen = [\n"] {
            std::fs::write(&file, bad).unwrap();
            assert!(matches!(at(&file), Err(Unhealthy::Config(_))), "{bad}");
        }
        let missing = dir.path().join("missing.toml");
        assert!(matches!(at(&missing), Err(Unhealthy::Config(_))));

        // The environment wins over the file, as for `serve`.
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\n").unwrap();
        let env = |name: &str| match name {
            "ONCELINK_LISTEN" => Some("[::]:8080".to_owned()),
            "ONCELINK_TLS_CERT" => Some("/run/secrets/cert.pem".to_owned()),
            _ => None,
        };
        assert_eq!(target_in(&common(Some(&file)), &args, env).unwrap(), "https://[::1]:8080/_oncelink/healthz");
        let bad_env = |name: &str| (name == "ONCELINK_LISTEN").then(|| "localhost".to_owned());
        assert!(matches!(target_in(&common(Some(&file)), &args, bad_env), Err(Unhealthy::Config(_))));
        // No file and no environment: serve's default.
        assert_eq!(target_in(&common(None), &args, no_env).unwrap(), "http://127.0.0.1:8787/_oncelink/healthz");
    }
}
