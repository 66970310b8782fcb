//! The issue-url function: `POST /links`, `GET /links`, behind an HTTP API or a function URL.
//! Configuration comes from environment variables (see `IssuerSettings::from_lookup`); the
//! signing credentials are the function's own role, refreshed by the SDK's provider.

use anyhow::Context;
use aws_config::BehaviorVersion;
use issue_url::Issuer;
use lambda_http::{Request, service_fn};
use oncelink::issue::IssuerSettings;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    oncelink::telemetry::init_json_logs();
    let settings = IssuerSettings::from_lookup(|name| std::env::var(name).ok()).context("invalid configuration")?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let credentials = sdk.credentials_provider().context("no AWS credentials provider")?;
    let issuer = Issuer { settings, credentials };
    let issuer = &issuer;
    lambda_http::run(service_fn(move |request: Request| async move { Ok::<_, std::convert::Infallible>(issuer.respond(&request).await) })).await
}
