//! The issue-url function: `POST /links`, `GET /links`, `DELETE /links/{id}`, behind an HTTP API
//! or a function URL. Settings come from environment variables (`IssuerSettings::from_lookup`);
//! presigned links are signed with the function's own role; sealed links with the key set read
//! from SSM (`ONCELINK_SSM_PREFIX`, the same parameters the validator reads), which also names
//! the ledger table used for revocation.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::BehaviorVersion;
use issue_url::{Issuer, LedgerFor};
use lambda_http::{Request, service_fn};
use oncelink::config::{ConfigCache, EdgeConfig, LinkMode, SsmConfigSource};
use oncelink::issue::IssuerSettings;
use oncelink::ledger::{DynamoDbLedger, Ledger};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    oncelink::telemetry::init_json_logs();
    let settings = IssuerSettings::from_lookup(|name| std::env::var(name).ok()).context("invalid configuration")?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let credentials = sdk.credentials_provider().context("no AWS credentials provider")?;
    let prefix = std::env::var("ONCELINK_SSM_PREFIX").ok().filter(|p| !p.trim().is_empty());
    if settings.mode == LinkMode::Sealed && prefix.is_none() {
        anyhow::bail!("ONCELINK_MODE=sealed needs ONCELINK_SSM_PREFIX (where the key set lives)");
    }
    // Key sets rotate: re-read them every five minutes, serving the last good one on failure.
    let config = prefix.map(|p| ConfigCache::new(SsmConfigSource::new(aws_sdk_ssm::Client::new(&sdk), p), Some(Duration::from_secs(300))));
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let ledger_for: LedgerFor =
        Box::new(move |c: &EdgeConfig| Arc::new(DynamoDbLedger::new(dynamodb.clone(), c.table_name.clone())) as Arc<dyn Ledger>);
    let issuer = Issuer { settings, credentials, config, ledger_for };
    let issuer = &issuer;
    lambda_http::run(service_fn(move |request: Request| async move { Ok::<_, std::convert::Infallible>(issuer.respond(&request).await) }))
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
