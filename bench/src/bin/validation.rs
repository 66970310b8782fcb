//! Validation latency of a consuming request through the real edge service: `EdgeService`
//! with the real SSM and DynamoDB clients, SSM on moto and the ledger on DynamoDB Local, on
//! loopback; a fresh sealed link per request (so every request writes the ledger), one request
//! at a time. The SDK clients carry a [`CallCounter`]: every warm request must send exactly one
//! ledger request and no SSM request, or this bench fails.
//!
//! Run under the emulators: `bash tests/with-emulators.sh target/release/validation [--requests 2000]`.
//! Writes `$BENCH_OUT/validation.json`.

use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use oncelink::cloudfront::Answer;
use oncelink::edge::EdgeService;
use oncelink::issue::{LinkRequest, Signer, issue};
use oncelink::link::LinkMode;
use oncelink::sealed::KeySet;
use oncelink_bench::counting::CallCounter;
use oncelink_bench::result::{PartResult, Row, out_dir};
use oncelink_bench::stats::{micros, summarize};
use oncelink_integration_tests::{Deployment, emulators, issuer_settings, sdk, viewer_event};

const WARM_UP: usize = 100;

fn main() -> anyhow::Result<()> {
    let mut requests = 2_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--requests" => requests = args.next().context("--requests N")?.parse().context("--requests N")?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run(requests))
}

async fn run(requests: usize) -> anyhow::Result<()> {
    let env = emulators();
    let deployment = Deployment::new(&env.dynamodb_local, true).await;
    let keys = KeySet::generate("k1").context("key set")?;
    deployment.seal(&keys).await;

    // The production wiring (`EdgeService::with_clients`), with counting clients.
    let ssm_calls = CallCounter::default();
    let ledger_calls = CallCounter::default();
    let ssm =
        aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::config::Builder::from(&sdk(&env.moto).await).interceptor(ssm_calls.clone()).build());
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk(&env.dynamodb_local).await).interceptor(ledger_calls.clone()).build(),
    );
    let edge = EdgeService::with_clients(ssm, ddb, deployment.prefix.clone(), oncelink::EdgePolicy::default(), None);

    let settings = issuer_settings(LinkMode::Sealed, "files.example.com");
    let signer = Signer { credentials: None, keys: Some(&keys) };
    let link =
        |i: usize| issue(&settings, signer, &LinkRequest { key: format!("bench/{i}.bin"), ..LinkRequest::default() }, SystemTime::now());

    // Cold: the first request loads the configuration (one SSM call) and claims (one ledger call).
    let mut samples = Vec::with_capacity(requests);
    let mut cold = Duration::ZERO;
    for i in 0..WARM_UP + requests {
        let url = link(i)?.url;
        let event = viewer_event("GET", &url, &format!("cf-{i}"), &[]);
        let (ssm_before, ledger_before) = (ssm_calls.sent(), ledger_calls.sent());
        let started = Instant::now();
        let answer = edge.handle_event(event, SystemTime::now()).await.answer;
        let elapsed = started.elapsed();
        let (ssm_sent, ledger_sent) = (ssm_calls.sent() - ssm_before, ledger_calls.sent() - ledger_before);
        match &answer {
            Answer::Continue(_) => {}
            Answer::Respond(response) => bail!("request {i}: a fresh link was refused: {response:?}"),
        }
        if i == 0 {
            cold = elapsed;
            ensure!(ssm_sent == 1 && ledger_sent == 1, "cold request: expected 1 SSM + 1 ledger call, saw {ssm_sent} + {ledger_sent}");
        } else {
            ensure!(ssm_sent == 0, "warm request {i}: expected no SSM call, saw {ssm_sent}");
            ensure!(ledger_sent == 1, "warm request {i}: expected exactly one ledger call, saw {ledger_sent}");
        }
        if i >= WARM_UP {
            samples.push(elapsed);
        }
    }
    let ledger_per_request = (ledger_calls.sent() - 1) as f64 / (WARM_UP + requests - 1) as f64;
    let ssm_per_request = (ssm_calls.sent() - 1) as f64 / (WARM_UP + requests - 1) as f64;
    let s = summarize(&mut samples).context("samples")?;
    eprintln!(
        "validation: p50 {:.0} µs p99 {:.0} µs max {:.0} µs cold {:.0} µs; per warm request: {ledger_per_request} ledger, {ssm_per_request} SSM calls",
        micros(s.p50),
        micros(s.p99),
        micros(s.max),
        micros(cold)
    );
    let subject = "EdgeService, DynamoDB Local + moto SSM (loopback)";
    let result = PartResult {
        part: "validation".into(),
        title: "Validation of a consuming request (real ledger)".into(),
        method: format!(
            "{requests} viewer-request events, one at a time, each for a fresh sealed link, through `EdgeService::handle_event` \
             with the real SSM (moto) and DynamoDB (DynamoDB Local) clients on loopback, after {WARM_UP} warm-up requests. \
             Network calls are counted by an interceptor in both SDK clients (once per attempt sent); the bench fails unless \
             every warm request sends exactly one ledger call and no SSM call."
        ),
        rows: vec![
            Row::new(subject, "p50", micros(s.p50), "µs"),
            Row::new(subject, "p99", micros(s.p99), "µs").note(format!("max {:.0} µs over {} requests", micros(s.max), s.count)),
            Row::new(subject, "first (cold) request", micros(cold), "µs").note("loads the configuration: 1 SSM + 1 ledger call"),
            Row::new(subject, "ledger calls per warm request", ledger_per_request, "calls").note("counted in the SDK; must be exactly 1"),
            Row::new(subject, "SSM calls per warm request", ssm_per_request, "calls").note("counted in the SDK; must be 0"),
        ],
        targets: vec![],
        charts: vec![],
    };
    let path = result.write_to(&out_dir())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
