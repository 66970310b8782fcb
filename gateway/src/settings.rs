//! Configuration of `oncelink serve`: flags, then `ONCELINK_*` environment variables (clap reads
//! both), then an optional TOML file, then the embedded defaults. Printed at start with secrets
//! masked.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use oncelink::link::LinkMode;
use serde::Deserialize;

use crate::tls::TlsFiles;
use crate::watchdog::Limits;
use crate::webhook::Target;

/// Where the ledger lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    /// A durable file in the data directory (one gateway).
    File,
    /// DynamoDB (many gateways share it).
    Dynamodb,
    /// PostgreSQL (many gateways share it): `--database-url`.
    Postgres,
    /// In memory; forgotten at exit (tests, demos).
    Memory,
}

impl LedgerKind {
    /// The `--ledger` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Dynamodb => "dynamodb",
            Self::Postgres => "postgres",
            Self::Memory => "memory",
        }
    }
}

/// `oncelink serve` options. Every one is optional here; [`Settings::resolve`] applies the file
/// and the defaults.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8787]
    #[arg(long, env = "ONCELINK_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// The base URL viewers use to reach this gateway; links point there and sealed links are bound
    /// to its host [default: http://<listen>]
    #[arg(long, env = "ONCELINK_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Link mode [default: sealed]
    #[arg(long, env = "ONCELINK_MODE", value_parser = parse_mode)]
    pub mode: Option<LinkMode>,
    /// Ledger [default: file]
    #[arg(long, env = "ONCELINK_LEDGER", value_enum)]
    pub ledger: Option<LedgerKind>,
    /// DynamoDB table (with --ledger dynamodb; partition key `pk`, type S)
    #[arg(long, env = "ONCELINK_TABLE")]
    pub table: Option<String>,
    /// DynamoDB endpoint override (e.g. DynamoDB Local)
    #[arg(long, env = "ONCELINK_DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,
    /// PostgreSQL database (with --ledger postgres): postgres://user:password@host:port/db
    /// (or host=… user=… dbname=…); printed with the password masked
    #[arg(long, env = "ONCELINK_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// S3-compatible origin endpoint (path style); credentials come from the AWS chain.
    /// "aws" means AWS S3 itself. Unset: the embedded origin in the data directory.
    #[arg(long, env = "ONCELINK_ORIGIN_ENDPOINT")]
    pub origin_endpoint: Option<String>,
    /// Bucket [default: oncelink]
    #[arg(long, env = "ONCELINK_BUCKET")]
    pub bucket: Option<String>,
    /// Region [default: AWS_REGION or us-east-1]
    #[arg(long, env = "ONCELINK_REGION")]
    pub region: Option<String>,
    /// Link lifetime when a request names none, e.g. 15m [default: 15m]
    #[arg(long, env = "ONCELINK_DEFAULT_EXPIRES", value_parser = parse_duration)]
    pub default_expires: Option<Duration>,
    /// Longest link lifetime, e.g. 7d [default: 7d]
    #[arg(long, env = "ONCELINK_MAX_EXPIRES", value_parser = parse_duration)]
    pub max_expires: Option<Duration>,
    /// Largest upload through a PUT link, in bytes [default: 5 GiB, S3's single-PUT limit]
    #[arg(long, env = "ONCELINK_MAX_UPLOAD_BYTES")]
    pub max_upload_bytes: Option<u64>,
    /// How long in-flight transfers may run on after SIGTERM [default: 30s]
    #[arg(long, env = "ONCELINK_SHUTDOWN_TIMEOUT", value_parser = parse_duration)]
    pub shutdown_timeout: Option<Duration>,
    /// Take the client IP from the last X-Forwarded-For entry (only behind a trusted load balancer)
    #[arg(long, env = "ONCELINK_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: Option<bool>,
    /// How long the origin may take to answer a forwarded request with its response head; a use
    /// is held that long (plus 5 s) and given back if the origin does not answer [default: 60s]
    #[arg(long, env = "ONCELINK_ORIGIN_TIMEOUT", value_parser = parse_duration)]
    pub origin_timeout: Option<Duration>,
    /// Most resumes (Range requests by a link's first client that spend no use) per link [default: 10]
    #[arg(long, env = "ONCELINK_MAX_RESUMES")]
    pub max_resumes: Option<u32>,
    /// How long after its first use a link's first client may recover a download that did not
    /// complete (cut off, or cut short by a crash): a GET, with or without Range, one at a time,
    /// counted as a resume; 0 turns it off [default: 10m]
    #[arg(long, env = "ONCELINK_RESUME_WINDOW", value_parser = parse_duration)]
    pub resume_window: Option<Duration>,
    /// Serve active objects (HTML, SVG, XML, JavaScript…) inline instead of as attachments; they
    /// still get `Content-Security-Policy: sandbox` [default: false]
    #[arg(long, env = "ONCELINK_INLINE_ACTIVE_CONTENT")]
    pub inline_active_content: Option<bool>,
    /// Serve TLS with this certificate chain (PEM), with HTTP/2 and HTTP/1.1; re-read when the
    /// file changes. Needs --tls-key
    #[arg(long, env = "ONCELINK_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)
    #[arg(long, env = "ONCELINK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// How long a connection with no request in flight may stay open without a byte moving [default: 60s]
    #[arg(long, env = "ONCELINK_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// How long an HTTP/1.1 request head may take from its first byte to its end [default: 15s]
    #[arg(long, env = "ONCELINK_HEAD_TIMEOUT", value_parser = parse_duration)]
    pub head_timeout: Option<Duration>,
    /// How long a request's body, upload or download, may stop moving before the connection is
    /// closed (a download cut off this way stays recoverable) [default: 30s]
    #[arg(long, env = "ONCELINK_BODY_TIMEOUT", value_parser = parse_duration)]
    pub body_timeout: Option<Duration>,
    /// POST every link event (used, exhausted, revoked, refused) to this http(s) URL, signed
    /// with ONCELINK_WEBHOOK_SECRET or <data dir>/webhook.secret, at least once (needs the file ledger)
    #[arg(long, env = "ONCELINK_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
}

/// Options every subcommand shares.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Data directory (ledger, keys, API token, embedded objects) [default: ./.oncelink]
    #[arg(long, global = true, env = "ONCELINK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file (keys as the long flags with '_' for '-') [default: ./oncelink.toml if present]
    #[arg(long, global = true, env = "ONCELINK_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The TOML file: the same names as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    public_url: Option<String>,
    mode: Option<String>,
    ledger: Option<LedgerKind>,
    table: Option<String>,
    dynamodb_endpoint: Option<String>,
    database_url: Option<String>,
    origin_endpoint: Option<String>,
    bucket: Option<String>,
    region: Option<String>,
    default_expires: Option<String>,
    max_expires: Option<String>,
    max_upload_bytes: Option<u64>,
    shutdown_timeout: Option<String>,
    trust_forwarded_for: Option<bool>,
    origin_timeout: Option<String>,
    max_resumes: Option<u32>,
    resume_window: Option<String>,
    inline_active_content: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    idle_timeout: Option<String>,
    head_timeout: Option<String>,
    body_timeout: Option<String>,
    webhook_url: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub public_url: Option<String>,
    pub mode: LinkMode,
    pub ledger: LedgerKind,
    pub table: Option<String>,
    pub dynamodb_endpoint: Option<String>,
    /// The PostgreSQL ledger's database (a secret: shown only through [`crate::pg_ledger::redact`]).
    pub database_url: Option<String>,
    pub origin_endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub default_expires: Duration,
    pub max_expires: Duration,
    pub max_upload_bytes: u64,
    pub shutdown_timeout: Duration,
    pub trust_forwarded_for: bool,
    pub origin_timeout: Duration,
    pub max_resumes: u32,
    pub resume_window: Duration,
    pub inline_active_content: bool,
    /// TLS for viewers (certificate and key files).
    pub tls: Option<TlsFiles>,
    /// Time limits on connections that stop moving.
    pub limits: Limits,
    /// Where link events are POSTed (`--webhook-url`), if anywhere.
    pub webhook: Option<Target>,
    /// `ONCELINK_WEBHOOK_SECRET` (environment only, like the API token); else the data dir's.
    pub webhook_secret: Option<String>,
    /// `ONCELINK_API_TOKEN` (environment only: secrets stay out of flags and files).
    pub api_token: Option<String>,
    /// Where the TOML came from, if anywhere.
    pub config_file: Option<PathBuf>,
}

pub fn parse_mode(raw: &str) -> Result<LinkMode, String> {
    LinkMode::parse(raw).ok_or_else(|| format!("must be sealed or presigned, not {raw:?}"))
}

/// `90`, `90s`, `15m`, `2h`, `7d`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = digits.parse().map_err(|_| format!("{raw:?} is not a duration like 90s, 15m, 2h or 7d"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?} is not a duration like 90s, 15m, 2h or 7d")),
    };
    n.checked_mul(factor).map(Duration::from_secs).ok_or_else(|| format!("{raw:?} is too long"))
}

pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl CommonArgs {
    fn load_file(&self) -> anyhow::Result<(FileConfig, Option<PathBuf>)> {
        let path = match &self.config {
            Some(p) => p.clone(),
            None if Path::new("oncelink.toml").is_file() => PathBuf::from("oncelink.toml"),
            None => return Ok((FileConfig::default(), None)),
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read the config file {}", path.display()))?;
        let parsed: FileConfig = toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {}", path.display(), e.message()))?;
        Ok((parsed, Some(path)))
    }

    /// The data directory alone (for subcommands that need nothing else).
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        let (file, _) = self.load_file()?;
        Ok(self.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(".oncelink")))
    }

    /// The listen address and public URL the subcommands talk to.
    pub fn gateway_url(&self) -> anyhow::Result<String> {
        let (file, _) = self.load_file()?;
        if let Some(url) = env_nonempty("ONCELINK_PUBLIC_URL").or(file.public_url) {
            return Ok(url.trim_end_matches('/').to_owned());
        }
        let listen = match env_nonempty("ONCELINK_LISTEN") {
            Some(raw) => raw.parse().map_err(|_| anyhow::anyhow!("ONCELINK_LISTEN: {raw:?} is not an address"))?,
            None => file.listen.unwrap_or(default_listen()),
        };
        let tls = env_nonempty("ONCELINK_TLS_CERT").is_some() || file.tls_cert.is_some();
        Ok(format!("{}://{listen}", if tls { "https" } else { "http" }))
    }
}

pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8787))
}

impl Settings {
    pub fn resolve(common: &CommonArgs, args: &ServeArgs) -> anyhow::Result<Self> {
        let (file, config_file) = common.load_file()?;
        let dur = |name: &str, flag: Option<Duration>, raw: Option<String>, default: Duration| -> anyhow::Result<Duration> {
            match (flag, raw) {
                (Some(d), _) => Ok(d),
                (None, Some(raw)) => parse_duration(&raw).map_err(|e| anyhow::anyhow!("config file: {name}: {e}")),
                (None, None) => Ok(default),
            }
        };
        let mode = match (args.mode, file.mode) {
            (Some(m), _) => m,
            (None, Some(raw)) => parse_mode(&raw).map_err(|e| anyhow::anyhow!("config file: mode: {e}"))?,
            (None, None) => LinkMode::Sealed,
        };
        let settings = Self {
            data_dir: common.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from(".oncelink")),
            listen: args.listen.or(file.listen).unwrap_or(default_listen()),
            public_url: args.public_url.clone().or(file.public_url).map(|u| u.trim_end_matches('/').to_owned()),
            mode,
            ledger: args.ledger.or(file.ledger).unwrap_or(LedgerKind::File),
            table: args.table.clone().or(file.table),
            dynamodb_endpoint: args.dynamodb_endpoint.clone().or(file.dynamodb_endpoint),
            database_url: args.database_url.clone().or(file.database_url).filter(|u| !u.trim().is_empty()),
            origin_endpoint: args.origin_endpoint.clone().or(file.origin_endpoint),
            bucket: args.bucket.clone().or(file.bucket).unwrap_or_else(|| "oncelink".into()),
            region: args.region.clone().or(file.region).or_else(|| env_nonempty("AWS_REGION")).unwrap_or_else(|| "us-east-1".into()),
            default_expires: dur("default_expires", args.default_expires, file.default_expires, Duration::from_secs(900))?,
            max_expires: dur("max_expires", args.max_expires, file.max_expires, Duration::from_secs(7 * 86_400))?,
            max_upload_bytes: args.max_upload_bytes.or(file.max_upload_bytes).unwrap_or(5 << 30),
            shutdown_timeout: dur("shutdown_timeout", args.shutdown_timeout, file.shutdown_timeout, Duration::from_secs(30))?,
            trust_forwarded_for: args.trust_forwarded_for.or(file.trust_forwarded_for).unwrap_or(false),
            origin_timeout: dur("origin_timeout", args.origin_timeout, file.origin_timeout, Duration::from_secs(60))?,
            max_resumes: args.max_resumes.or(file.max_resumes).unwrap_or(oncelink::decision::DEFAULT_MAX_RESUMES),
            resume_window: dur("resume_window", args.resume_window, file.resume_window, Duration::from_secs(600))?,
            inline_active_content: args.inline_active_content.or(file.inline_active_content).unwrap_or(false),
            tls: match (args.tls_cert.clone().or(file.tls_cert), args.tls_key.clone().or(file.tls_key)) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                (None, None) => None,
                _ => bail!("TLS needs both --tls-cert and --tls-key (or tls_cert and tls_key)"),
            },
            limits: Limits {
                idle: dur("idle_timeout", args.idle_timeout, file.idle_timeout, Limits::default().idle)?,
                body: dur("body_timeout", args.body_timeout, file.body_timeout, Limits::default().body)?,
                head: dur("head_timeout", args.head_timeout, file.head_timeout, Limits::default().head)?,
            },
            webhook: match args.webhook_url.clone().or(file.webhook_url).filter(|u| !u.trim().is_empty()) {
                Some(raw) => Some(Target::parse(&raw)?),
                None => None,
            },
            webhook_secret: env_nonempty("ONCELINK_WEBHOOK_SECRET"),
            api_token: env_nonempty("ONCELINK_API_TOKEN"),
            config_file,
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.ledger == LedgerKind::Dynamodb && self.table.is_none() {
            bail!("--ledger dynamodb needs --table (or ONCELINK_TABLE)");
        }
        if self.ledger == LedgerKind::Postgres && self.database_url.is_none() {
            bail!("--ledger postgres needs --database-url (or ONCELINK_DATABASE_URL)");
        }
        if self.default_expires.is_zero() || self.default_expires > self.max_expires {
            bail!("--default-expires must be at least 1s and at most --max-expires");
        }
        if self.max_expires > Duration::from_secs(oncelink::presigned::MAX_EXPIRES_SECS) {
            bail!("--max-expires must be at most 7d");
        }
        if self.origin_timeout.is_zero() || self.origin_timeout > Duration::from_secs(3600) {
            bail!("--origin-timeout must be between 1s and 1h");
        }
        let limits = [("--idle-timeout", self.limits.idle), ("--head-timeout", self.limits.head), ("--body-timeout", self.limits.body)];
        for (name, limit) in limits {
            if limit.is_zero() || limit > Duration::from_secs(3600) {
                bail!("{name} must be between 1s and 1h");
            }
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("--public-url must start with http:// or https://");
        }
        if let Some(token) = &self.api_token
            && token.len() < 16
        {
            bail!("ONCELINK_API_TOKEN must be at least 16 characters");
        }
        if self.webhook.is_some() && self.ledger != LedgerKind::File {
            bail!(
                "--webhook-url needs the file ledger (not --ledger {}): its events are stored in the same transaction as each use, which only the file ledger shares",
                self.ledger.as_str()
            );
        }
        if self.webhook.is_some()
            && let Some(secret) = &self.webhook_secret
            && secret.len() < 16
        {
            bail!("ONCELINK_WEBHOOK_SECRET must be at least 16 characters");
        }
        Ok(())
    }

    /// The configuration as `name = value` lines, secrets masked.
    pub fn describe(&self, public_url: &str) -> Vec<(&'static str, String)> {
        let origin = match self.origin_endpoint.as_deref() {
            None => format!("the data dir's files, {}", self.data_dir.join("objects").display()),
            Some("aws") => "AWS S3 (credentials from the AWS chain)".into(),
            Some(e) => format!("{e} (credentials from the AWS chain)"),
        };
        let ledger = match self.ledger {
            LedgerKind::File => format!("file {}", self.data_dir.join("ledger.journal").display()),
            LedgerKind::Memory => "memory (forgotten at exit)".into(),
            LedgerKind::Dynamodb => format!(
                "dynamodb table {}{}",
                self.table.as_deref().unwrap_or("?"),
                self.dynamodb_endpoint.as_deref().map(|e| format!(" at {e}")).unwrap_or_default()
            ),
            LedgerKind::Postgres => format!("postgres {}", crate::pg_ledger::redact(self.database_url.as_deref().unwrap_or("?"))),
        };
        vec![
            ("config file", self.config_file.as_ref().map_or("none".into(), |p| p.display().to_string())),
            ("data dir", self.data_dir.display().to_string()),
            ("listen", self.listen.to_string()),
            ("public url", public_url.to_owned()),
            ("mode", self.mode.as_str().to_owned()),
            ("ledger", ledger),
            ("origin", origin),
            ("bucket", self.bucket.clone()),
            ("region", self.region.clone()),
            ("default expires", format_duration(self.default_expires)),
            ("max expires", format_duration(self.max_expires)),
            ("max upload bytes", self.max_upload_bytes.to_string()),
            ("shutdown timeout", format_duration(self.shutdown_timeout)),
            ("trust X-Forwarded-For", self.trust_forwarded_for.to_string()),
            ("origin timeout", format_duration(self.origin_timeout)),
            (
                "resumes",
                format!(
                    "{} per link; a cut-off download is recoverable for {} after the first use",
                    self.max_resumes,
                    format_duration(self.resume_window)
                ),
            ),
            ("inline active content", self.inline_active_content.to_string()),
            (
                "tls",
                self.tls.as_ref().map_or("off (plain HTTP/1.1)".into(), |t| {
                    format!("{} with {} (HTTP/2 and HTTP/1.1; reloaded on change)", t.cert.display(), t.key.display())
                }),
            ),
            (
                "time limits",
                format!(
                    "idle {}, request head {}, stalled body {}",
                    format_duration(self.limits.idle),
                    format_duration(self.limits.head),
                    format_duration(self.limits.body)
                ),
            ),
            (
                "webhook",
                self.webhook.as_ref().map_or("off".into(), |t| {
                    let secret = if self.webhook_secret.is_some() {
                        "ONCELINK_WEBHOOK_SECRET (****)".to_owned()
                    } else {
                        format!("{} (****)", self.data_dir.join("webhook.secret").display())
                    };
                    format!("POST {}, signed with {secret}, from the outbox in the ledger file", t.redacted())
                }),
            ),
            (
                "api token",
                if self.api_token.is_some() { "from ONCELINK_API_TOKEN (****)".into() } else { "from the data dir (****)".into() },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("-5s").is_err());
        assert_eq!(format_duration(Duration::from_secs(900)), "15m");
        assert_eq!(format_duration(Duration::from_secs(61)), "61s");
    }

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("oncelink.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nbucket = \"from-file\"\ndefault_expires = \"10m\"\nmode = \"presigned\"\n")
            .unwrap();
        let common = CommonArgs { data_dir: Some(dir.path().join("d")), config: Some(file.clone()) };
        let args = ServeArgs { bucket: Some("from-flag".into()), ..Default::default() };
        let s = Settings::resolve(&common, &args).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(s.bucket, "from-flag");
        assert_eq!(s.default_expires, Duration::from_secs(600));
        assert_eq!(s.mode, LinkMode::Presigned);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(30));
        assert_eq!(s.config_file.as_deref(), Some(file.as_path()));

        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nbukket = \"typo\"\n").unwrap();
        let error = Settings::resolve(&common, &ServeArgs::default()).unwrap_err().to_string();
        assert!(error.contains("bukket"), "{error}");
        std::fs::write(&file, "default_expires = \"8d\"\n").unwrap();
        assert!(Settings::resolve(&common, &ServeArgs::default()).is_err(), "default beyond max must be refused");
    }

    #[test]
    fn a_webhook_needs_the_file_ledger_and_an_http_url_and_never_shows_its_query() {
        let dir = tempfile::tempdir().unwrap();
        let common = CommonArgs { data_dir: Some(dir.path().join("d")), config: Some(dir.path().join("none.toml")) };
        std::fs::write(dir.path().join("none.toml"), "webhook_url = \"https://hooks.example.com/in?key=s3cret\"\n").unwrap();
        let s = Settings::resolve(&common, &ServeArgs::default()).unwrap();
        let shown = s.describe("http://x").into_iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>();
        assert!(shown.contains("webhook = POST https://hooks.example.com/in?****, signed with "), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        for ledger in [LedgerKind::Memory, LedgerKind::Dynamodb, LedgerKind::Postgres] {
            let args = ServeArgs {
                ledger: Some(ledger),
                table: Some("t".into()),
                database_url: Some("postgres://db/x".into()),
                ..Default::default()
            };
            let error = Settings::resolve(&common, &args).unwrap_err().to_string();
            assert!(error.contains("--webhook-url needs the file ledger") && error.contains(ledger.as_str()), "{error}");
        }
        let args = ServeArgs { webhook_url: Some("hooks.example.com/in".into()), ..Default::default() };
        let error = Settings::resolve(&common, &args).unwrap_err().to_string();
        assert!(error.contains("--webhook-url"), "{error}");
        std::fs::write(dir.path().join("none.toml"), "").unwrap();
        let s = Settings::resolve(&common, &ServeArgs::default()).unwrap();
        assert!(s.describe("http://x").contains(&("webhook", "off".to_owned())));
    }

    #[test]
    fn postgres_needs_a_database_url_and_never_shows_its_password() {
        let dir = tempfile::tempdir().unwrap();
        let common = CommonArgs { data_dir: Some(dir.path().join("d")), config: Some(dir.path().join("none.toml")) };
        std::fs::write(dir.path().join("none.toml"), "ledger = \"postgres\"\n").unwrap();
        let error = Settings::resolve(&common, &ServeArgs::default()).unwrap_err().to_string();
        assert!(error.contains("--database-url"), "{error}");
        let args = ServeArgs { database_url: Some("postgres://app:s3cret@db:5432/oncelink".into()), ..Default::default() };
        let s = Settings::resolve(&common, &args).unwrap();
        assert_eq!(s.ledger, LedgerKind::Postgres);
        let shown = s.describe("http://x").into_iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>();
        assert!(shown.contains("ledger = postgres postgres://app:****@db:5432/oncelink"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
