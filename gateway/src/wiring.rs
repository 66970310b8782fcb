//! Builds a running gateway from its settings: the data dir, the listener, the origin and the
//! credentials that sign for it, the ledger, the key set, and the two core services on them.
//!
//! | setting | origin | credentials | ledger | key set |
//! |---|---|---|---|---|
//! | defaults | the data dir's files ([`FileOrigin`]) | its generated key pair (presigned links) | file (journal) | `keys.json` (refreshed) |
//! | `--origin-endpoint URL`, `aws` | that endpoint, AWS S3 ([`S3HttpOrigin`]) | the AWS chain, cached | – | – |
//! | `--ledger dynamodb`, `postgres`, `memory` | – | – | DynamoDB table, PostgreSQL database, in memory | – |
//! | `ONCELINK_KEYS`, `--mode presigned` | – | – | – | fixed, none |
//!
//! With `--tls-cert`/`--tls-key` the listener speaks TLS (the certificate reloaded on change) and
//! the default public URL is `https://`. With `--webhook-url` the file ledger is opened with its
//! outbox and a deliverer runs beside the server, stopped once the server has stopped.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use oncelink::EdgePolicy;
use oncelink::config::EdgeConfig;
use oncelink::credentials::{CachedCredentials, CredentialSource, FixedCredentials};
use oncelink::edge::EdgeService;
use oncelink::issue::{IssueService, IssuerSettings};
use oncelink::ledger::{DynamoDbLedger, Ledger, MemoryLedger};
use oncelink::link::LinkMode;
use oncelink::presign::S3Origin;

use crate::api::Api;
use crate::app::App;
use crate::datadir::DataDir;
use crate::file_ledger::FileLedger;
use crate::keys::{self, KeyFile};
use crate::metrics::Metrics;
use crate::origin::files::{FileOrigin, PresignedCheck};
use crate::origin::s3::S3HttpOrigin;
use crate::origin::{Origin, http_client};
use crate::pg_ledger::PgLedger;
use crate::proxy::Proxy;
use crate::server::{self, Running, Serving};
use crate::settings::{LedgerKind, Settings};
use crate::tls::CertStore;
use crate::webhook::{Delivering, Wake};

/// Builds everything from `settings`, binds, and serves in the background.
pub async fn start(settings: &Settings) -> anyhow::Result<Running> {
    let data = DataDir::create(&settings.data_dir)?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let tls = match &settings.tls {
        Some(files) => {
            let store = CertStore::open(files.clone())?;
            store.spawn_reloader();
            Some(store.acceptor()?)
        }
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));

    let (origin, object_store, credentials) = origin(settings, &data, &public_url).await?;
    let metrics = Arc::new(Metrics::default());
    let (ledger, delivering) = ledger(settings, &data, &metrics).await?;
    let config = match settings.mode {
        LinkMode::Presigned => keys::config_cache(keys::fixed(EdgeConfig::presigned()), false),
        LinkMode::Sealed => match std::env::var("ONCELINK_KEYS").ok().filter(|v| !v.trim().is_empty()) {
            Some(raw) => {
                let keys = oncelink::sealed::KeySet::parse_json(&raw).map_err(|e| anyhow::anyhow!("ONCELINK_KEYS: {e}"))?;
                keys::config_cache(keys::fixed(EdgeConfig::sealed(keys)), false)
            }
            None => {
                data.keys()?; // generated on first start
                keys::config_cache(Arc::new(KeyFile::new(data.keys_path())), true)
            }
        },
    };
    // Read once now, so that a broken key set stops the start instead of every request.
    config.get().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let api_token = match &settings.api_token {
        Some(t) => (t.clone(), false),
        None => data.api_token()?,
    };

    let issuer = IssuerSettings {
        origin: origin.clone(),
        cdn: public_url.clone(),
        default_expires: settings.default_expires,
        max_expires: settings.max_expires,
        key_prefix: String::new(),
        cors_origins: Vec::new(),
        mode: settings.mode,
    };
    let app = Arc::new(App {
        proxy: Proxy {
            edge: Arc::new(EdgeService::new(policy(settings, &public_url), config.clone(), ledger.clone())),
            origin: object_store.clone(),
            metrics: metrics.clone(),
            max_upload_bytes: settings.max_upload_bytes,
            origin_timeout: settings.origin_timeout,
            inline_active_content: settings.inline_active_content,
        },
        api: Api {
            service: IssueService::new(issuer, Some(config), ledger, credentials),
            token: api_token.0.clone(),
            metrics: metrics.clone(),
        },
        metrics,
        trust_forwarded_for: settings.trust_forwarded_for,
    });
    let serving = server::spawn(listener, app, Serving { grace: settings.shutdown_timeout, limits: settings.limits, tls });
    // Deliveries go on while in-flight transfers finish, and stop with the server.
    let serving = match delivering {
        None => serving,
        Some(delivering) => {
            let (stop, task) = serving;
            (
                stop,
                tokio::spawn(async move {
                    let _ = task.await;
                    delivering.stop().await;
                }),
            )
        }
    };
    Ok(Running::new(addr, public_url, api_token, object_store.describe(), serving))
}

/// The decision's knobs: uses are held while the origin is asked; resumes are bounded; viewers
/// come over https when the public URL says so (behind a load balancer that terminates TLS too).
fn policy(settings: &Settings, public_url: &str) -> EdgePolicy {
    EdgePolicy {
        viewer_https: public_url.starts_with("https://"),
        resume_window: settings.resume_window,
        max_resumes: settings.max_resumes,
        hold_lease: Some(crate::proxy::hold_lease(settings.origin_timeout)),
        ..EdgePolicy::default()
    }
}

/// The objects' origin as the issuer signs for it, the adapter the proxy asks, and the
/// credentials that sign presigned links (and, with an S3 endpoint, origin requests).
///
/// On the defaults, presigned links are signed for the public URL itself (path style, with the
/// data dir's generated key pair) and the file origin checks them.
async fn origin(
    settings: &Settings,
    data: &DataDir,
    public_url: &str,
) -> anyhow::Result<(S3Origin, Arc<dyn Origin>, Arc<dyn CredentialSource>)> {
    let chain = || async {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(settings.region.clone()))
            .load()
            .await;
        let provider = sdk.credentials_provider().context("no AWS credentials provider (set AWS_ACCESS_KEY_ID/AWS_PROFILE/…)")?;
        anyhow::Ok(Arc::new(CachedCredentials::new(provider)) as Arc<dyn CredentialSource>)
    };
    let s3 = |endpoint: Option<String>, credentials: Arc<dyn CredentialSource>| -> anyhow::Result<_> {
        let origin = S3Origin { bucket: settings.bucket.clone(), region: settings.region.clone(), endpoint };
        let adapter =
            S3HttpOrigin { client: http_client()?, origin: origin.clone(), mode: settings.mode, credentials: credentials.clone() };
        Ok((origin, Arc::new(adapter) as Arc<dyn Origin>, credentials))
    };
    match settings.origin_endpoint.as_deref() {
        None => {
            let creds = data.origin_credentials()?;
            let origin = S3Origin {
                bucket: settings.bucket.clone(),
                region: settings.region.clone(),
                endpoint: Some(public_url.trim_end_matches('/').to_owned()),
            };
            let check = (settings.mode == LinkMode::Presigned).then(|| PresignedCheck {
                host: public_url.split_once("://").map_or(public_url, |(_, rest)| rest).trim_end_matches('/').to_owned(),
                access_key: creds.access_key.clone(),
                secret_key: creds.secret_key.clone(),
                region: settings.region.clone(),
            });
            let files = FileOrigin::open(&data.objects_dir(), &settings.bucket, check)
                .with_context(|| format!("cannot use {} for objects", data.objects_dir().display()))?;
            let fixed = aws_credential_types::Credentials::new(creds.access_key, creds.secret_key, None, None, "oncelink-embedded");
            Ok((origin, Arc::new(files), Arc::new(FixedCredentials(fixed))))
        }
        Some("aws") => s3(None, chain().await?),
        Some(endpoint) => s3(Some(endpoint.trim_end_matches('/').to_owned()), chain().await?),
    }
}

/// The ledger, and with a webhook (file ledger only: `Settings` refuses the others) its deliverer.
async fn ledger(settings: &Settings, data: &DataDir, metrics: &Arc<Metrics>) -> anyhow::Result<(Arc<dyn Ledger>, Option<Delivering>)> {
    let mut delivering = None;
    let ledger: Arc<dyn Ledger> = match settings.ledger {
        LedgerKind::File => {
            let wake = Wake::default();
            if let Some(records) = crate::file_ledger::import_redb(&data.redb_ledger_path(), &data.ledger_path())? {
                tracing::info!(records, "imported the ledger of an earlier version (ledger.redb, now ledger.redb.imported)");
            }
            let ledger = match &settings.webhook {
                Some(_) => FileLedger::open_with_outbox(&data.ledger_path(), wake.clone())?,
                None => FileLedger::open(&data.ledger_path())?,
            };
            if let Some(target) = &settings.webhook {
                let secret = match &settings.webhook_secret {
                    Some(secret) => secret.clone(),
                    None => data.webhook_secret()?,
                };
                let stats = metrics.webhook.get_or_init(Default::default).clone();
                delivering = Some(Delivering::spawn(ledger.events(), wake, target.clone(), secret, http_client()?, stats));
            }
            ledger.spawn_purger(Duration::from_secs(60));
            let _ = metrics.ledger_commits.set(ledger.commits());
            let (l, m) = (ledger.clone(), metrics.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(15));
                loop {
                    tick.tick().await;
                    if let Ok(n) = l.record_count() {
                        m.ledger_records.store(n, Ordering::Relaxed);
                    }
                }
            });
            Arc::new(ledger)
        }
        LedgerKind::Memory => Arc::new(MemoryLedger::new()),
        LedgerKind::Dynamodb => {
            let mut loader =
                aws_config::defaults(aws_config::BehaviorVersion::latest()).region(aws_config::Region::new(settings.region.clone()));
            if let Some(endpoint) = &settings.dynamodb_endpoint {
                loader = loader.endpoint_url(endpoint);
            }
            let sdk = loader.load().await;
            let table = settings.table.clone().context("--ledger dynamodb needs --table")?;
            Arc::new(DynamoDbLedger::new(aws_sdk_dynamodb::Client::new(&sdk), table))
        }
        LedgerKind::Postgres => {
            let url = settings.database_url.as_deref().context("--ledger postgres needs --database-url")?;
            let ledger = PgLedger::connect(url).await?;
            ledger.spawn_purger(Duration::from_secs(60));
            Arc::new(ledger)
        }
    };
    Ok((ledger, delivering))
}
