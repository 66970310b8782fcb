//! The regional viewer-request function. The Lambda@Edge shims invoke it with CloudFront events:
//!
//! * `viewer-request`: it answers with the request (continue) or a generated response (deny);
//! * `origin-response`, sent only when the origin refused (status ≥ 300): it gives the request's
//!   use back (keyed on CloudFront's request id, so a retried trigger gives back once) and
//!   answers with the origin's response, unchanged.
//!
//! Environment:
//! * `ONCELINK_SSM_PREFIX` — where the configuration lives (default: derived from the function
//!   name, see `oncelink::config::naming`).
//! * `ONCELINK_HOME_REGION` — region of SSM and DynamoDB (default: `AWS_REGION`).
//! * `ONCELINK_CONFIG_REFRESH_SECS` — reload the configuration this often (default 300; 0 = never).
//! * `ONCELINK_CLOCK_SKEW_SECS` — accepted clock skew for link start times (default 60).
//! * `ONCELINK_MAX_RESUMES` — resumes (Range requests by a link's first client inside its grace
//!   window) per link (default 10).
//!
//! Output: JSON logs and one CloudWatch EMF metrics line per decision, on stdout (README, "Observability").

use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_config::{BehaviorVersion, Region};
use lambda_runtime::{LambdaEvent, service_fn};
use oncelink::EdgePolicy;
use oncelink::config::naming::resolve_prefix;
use oncelink::edge::{EdgeService, Settled};
use serde_json::Value;

/// The `Function` dimension of this function's metrics.
const FUNCTION: &str = "viewer-request";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_secs(name: &str, default: u64) -> anyhow::Result<u64> {
    env(name).map_or(Ok(default), |v| v.trim().parse().with_context(|| format!("{name} must be whole seconds, got {v:?}")))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    oncelink::telemetry::init_json_logs();
    let prefix = resolve_prefix(env).context("set ONCELINK_SSM_PREFIX (or run as a Lambda function)")?;
    // The edge shim waits about 3 s for this function: keep every AWS call well inside that.
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(oncelink::edge::sdk_timeouts());
    if let Some(region) = env("ONCELINK_HOME_REGION") {
        loader = loader.region(Region::new(region));
    }
    let sdk = loader.load().await;
    let refresh = match env_secs("ONCELINK_CONFIG_REFRESH_SECS", 300)? {
        0 => None,
        secs => Some(Duration::from_secs(secs)),
    };
    let max_resumes = env_secs("ONCELINK_MAX_RESUMES", u64::from(oncelink::decision::DEFAULT_MAX_RESUMES))?;
    let policy = EdgePolicy {
        clock_skew: Duration::from_secs(env_secs("ONCELINK_CLOCK_SKEW_SECS", 60)?),
        max_resumes: u32::try_from(max_resumes).context("ONCELINK_MAX_RESUMES is too large")?,
        ..EdgePolicy::default()
    };
    let service = EdgeService::on_aws(&sdk, prefix, policy, refresh);
    let service = &service;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if event.payload.pointer("/Records/0/cf/config/eventType").and_then(Value::as_str) == Some("origin-response") {
            let request_id = event.payload.pointer("/Records/0/cf/config/requestId").and_then(Value::as_str).unwrap_or("-").to_owned();
            let (response, settled) = service.handle_origin_response(event.payload).await;
            if settled == Settled::GivenBack {
                oncelink::metrics_emf::emit(FUNCTION, &request_id, &[oncelink::metrics::use_given_back()]);
            }
            return Ok::<_, std::convert::Infallible>(response);
        }
        let handled = service.handle_event(event.payload, SystemTime::now()).await;
        // One EMF line per decision on stdout: CloudWatch turns it into metrics.
        oncelink::metrics_emf::emit(FUNCTION, &handled.request_id, &handled.measured.samples());
        Ok(serde_json::to_value(handled.answer).unwrap_or(Value::Null))
    }))
    .await
}
