//! The issue-url function: `POST /links`, `GET /links`, `GET|DELETE /links/{id}`, behind an HTTP
//! API or a function URL. Settings come from environment variables (`IssuerSettings::from_lookup`);
//! presigned links are signed with the function's own role; sealed links with the key set read
//! from SSM (`ONCELINK_SSM_PREFIX`, the same parameters the validator reads), which also names
//! the ledger table used for revocation and link state.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_config::BehaviorVersion;
use lambda_http::{Request, service_fn};
use oncelink::config::{ConfigCache, SsmConfigSource};
use oncelink::credentials::CachedCredentials;
use oncelink::issue::{IssueService, IssuerSettings};
use oncelink::ledger::DynamoDbTables;
use oncelink::link::LinkMode;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    oncelink::telemetry::init_json_logs();
    let settings = IssuerSettings::from_lookup(|name| std::env::var(name).ok()).context("invalid configuration")?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let credentials = CachedCredentials::new(sdk.credentials_provider().context("no AWS credentials provider")?);
    let prefix = std::env::var("ONCELINK_SSM_PREFIX").ok().filter(|p| !p.trim().is_empty());
    if settings.mode == LinkMode::Sealed && prefix.is_none() {
        anyhow::bail!("ONCELINK_MODE=sealed needs ONCELINK_SSM_PREFIX (where the key set lives)");
    }
    // Key sets rotate: re-read them every five minutes, serving the last good one on failure.
    let config =
        prefix.map(|p| Arc::new(ConfigCache::new(SsmConfigSource::new(aws_sdk_ssm::Client::new(&sdk), p), Some(Duration::from_secs(300)))));
    let service = IssueService::new(settings, config, DynamoDbTables(aws_sdk_dynamodb::Client::new(&sdk)), credentials);
    let service = &service;
    lambda_http::run(service_fn(move |request: Request| async move {
        Ok::<_, std::convert::Infallible>(issue_url::respond(service, &request).await)
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}
