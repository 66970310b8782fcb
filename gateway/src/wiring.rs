//! Builds a running gateway from its settings: the data dir, the listener, the origin and the
//! credentials that sign for it, the ledger, the key set, and the two core services on them.
//!
//! | setting | origin | credentials | ledger | key set |
//! |---|---|---|---|---|
//! | defaults | embedded s3s-fs on loopback | its generated key pair | file (redb) | `keys.json` (refreshed) |
//! | `--origin-endpoint URL`, `aws` | that endpoint, AWS S3 | the AWS chain, cached | – | – |
//! | `--ledger dynamodb`, `memory` | – | – | DynamoDB table, in memory | – |
//! | `ONCELINK_KEYS`, `--mode presigned` | – | – | – | fixed, none |

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
use crate::origin::{http_client, start_embedded};
use crate::proxy::Proxy;
use crate::server::{self, Running};
use crate::settings::{LedgerKind, Settings};

/// Builds everything from `settings`, binds, and serves in the background.
pub async fn start(settings: &Settings) -> anyhow::Result<Running> {
    let data = DataDir::create(&settings.data_dir)?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));

    let (endpoint, credentials) = origin(settings, &data).await?;
    let origin_endpoint = endpoint.clone().unwrap_or_else(|| format!("https://{}.s3.{}.amazonaws.com", settings.bucket, settings.region));
    let origin = S3Origin { bucket: settings.bucket.clone(), region: settings.region.clone(), endpoint };
    let metrics = Arc::new(Metrics::default());
    let ledger = ledger(settings, &data, &metrics).await?;
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
            edge: Arc::new(EdgeService::new(policy(settings), config.clone(), ledger.clone())),
            client: http_client()?,
            origin,
            mode: settings.mode,
            credentials: credentials.clone(),
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
    let serving = server::spawn(listener, app, settings.shutdown_timeout);
    Ok(Running::new(addr, public_url, api_token, origin_endpoint, serving))
}

/// The decision's knobs: uses are held while the origin is asked; resumes are bounded.
fn policy(settings: &Settings) -> EdgePolicy {
    EdgePolicy {
        resume_window: settings.resume_window,
        max_resumes: settings.max_resumes,
        hold_lease: Some(crate::proxy::hold_lease(settings.origin_timeout)),
        ..EdgePolicy::default()
    }
}

/// The origin's endpoint (`None`: AWS S3 itself) and the credentials that sign requests to it.
async fn origin(settings: &Settings, data: &DataDir) -> anyhow::Result<(Option<String>, Arc<dyn CredentialSource>)> {
    let chain = || async {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(settings.region.clone()))
            .load()
            .await;
        let provider = sdk.credentials_provider().context("no AWS credentials provider (set AWS_ACCESS_KEY_ID/AWS_PROFILE/…)")?;
        anyhow::Ok(Arc::new(CachedCredentials::new(provider)) as Arc<dyn CredentialSource>)
    };
    Ok(match settings.origin_endpoint.as_deref() {
        None => {
            let creds = data.origin_credentials()?;
            let endpoint = start_embedded(&data.objects_dir(), &settings.bucket, &creds.access_key, &creds.secret_key).await?;
            let fixed = aws_credential_types::Credentials::new(creds.access_key, creds.secret_key, None, None, "oncelink-embedded");
            (Some(endpoint), Arc::new(FixedCredentials(fixed)))
        }
        Some("aws") => (None, chain().await?),
        Some(endpoint) => (Some(endpoint.trim_end_matches('/').to_owned()), chain().await?),
    })
}

async fn ledger(settings: &Settings, data: &DataDir, metrics: &Arc<Metrics>) -> anyhow::Result<Arc<dyn Ledger>> {
    Ok(match settings.ledger {
        LedgerKind::File => {
            let ledger = FileLedger::open(&data.ledger_path())?;
            ledger.spawn_purger(Duration::from_secs(60));
            let (l, m) = (ledger.clone(), metrics.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(15));
                loop {
                    tick.tick().await;
                    let l = l.clone();
                    if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || l.record_count()).await {
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
    })
}
