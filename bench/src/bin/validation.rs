//! Validation latency of a consuming request through the real edge service: `EdgeService`
//! with the real SSM and DynamoDB clients, SSM on moto and the ledger on DynamoDB Local, on
//! loopback; a fresh sealed link per request (so every request writes the ledger), one request
//! at a time. The SDK clients carry a [`CallCounter`]: every warm request must send exactly one
//! ledger request and no SSM request, or this bench fails.
//!
//! Beside it, in the same run and interleaved request by request (so drift in the emulator
//! hits both alike), its floor: one raw conditional `PutItem` (`attribute_not_exists(pk)`,
//! `ReturnValuesOnConditionCheckFailure=ALL_OLD`) of a fresh item to the same table, sent by a
//! client built from the same SDK settings with the same counting interceptor. What the edge
//! service adds on top of the one write it cannot avoid is the ratio of the two. Between them,
//! the ledger's own write alone (`DynamoDbLedger::claim`: the same conditional `UpdateItem`,
//! without the decision around it), which splits the difference into what the write's shape
//! costs the emulator and what the edge service adds.
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
use oncelink_bench::result::{PartResult, Row, Target, out_dir};
use oncelink_bench::stats::{micros, summarize};
use oncelink_integration_tests::{Deployment, emulators, issuer_settings, sdk, viewer_event};

const WARM_UP: usize = 100;
/// The validation's p50 may be at most this many times its floor's.
const TARGET_RATIO: f64 = 1.1;
const WRITE_ALONE: &str = "the ledger's write alone: DynamoDbLedger::claim, the same UpdateItem, no decision";

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

/// Times `call`, which must send exactly one request through `calls`' client.
async fn one_call<T>(what: &str, calls: &CallCounter, call: impl std::future::Future<Output = T>) -> anyhow::Result<(T, Duration)> {
    let before = calls.sent();
    let started = Instant::now();
    let out = call.await;
    let elapsed = started.elapsed();
    let sent = calls.sent() - before;
    ensure!(sent == 1, "{what}: expected exactly one call, saw {sent}");
    Ok((out, elapsed))
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
    // Every DynamoDB client of this bench: the same settings, each with its own counter.
    let ddb_settings = sdk(&env.dynamodb_local).await;
    let counted_ddb = |calls: &CallCounter| {
        aws_sdk_dynamodb::Client::from_conf(aws_sdk_dynamodb::config::Builder::from(&ddb_settings).interceptor(calls.clone()).build())
    };
    let edge = EdgeService::with_clients(ssm, counted_ddb(&ledger_calls), deployment.prefix.clone(), oncelink::EdgePolicy::default(), None);
    let floor_calls = CallCounter::default();
    let raw = counted_ddb(&floor_calls);
    let write_calls = CallCounter::default();
    let ledger = oncelink::ledger::DynamoDbLedger::new(counted_ddb(&write_calls), deployment.table.clone());
    // The claim the edge service makes for request `i`'s viewer request (same fingerprint,
    // same client hint: the same UpdateItem), on a fresh key of its own.
    let write_alone = |i: usize, request: &oncelink::ViewerRequest| {
        let at = SystemTime::now();
        let claim = oncelink::ledger::UseClaim {
            key: oncelink::ledger::LedgerKey::from_stored(format!("link:write-{i:022}")),
            request_id: format!("write-{i}"),
            at,
            retain_until: at + Duration::from_secs(7200),
            max_uses: 1,
            fingerprint: Some(oncelink::decision::fingerprint(request)),
            hold_until: None,
            client: oncelink::ledger::ClientHint::of(request),
        };
        let ledger = &ledger;
        async move { oncelink::ledger::Ledger::claim(ledger, &claim).await }
    };
    let floor = |i: usize| {
        use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
        raw.put_item()
            .table_name(&deployment.table)
            .item("pk", AttributeValue::S(format!("floor:{i:032x}")))
            .item("uses", AttributeValue::N("1".into()))
            .item("ttl", AttributeValue::N("4102444800".into()))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
    };

    let settings = issuer_settings(LinkMode::Sealed, "files.example.com");
    let signer = Signer { credentials: None, keys: Some(&keys) };
    let link =
        |i: usize| issue(&settings, signer, &LinkRequest { key: format!("bench/{i}.bin"), ..LinkRequest::default() }, SystemTime::now());

    // Cold: the first request loads the configuration (one SSM call) and claims (one ledger call).
    let mut samples = Vec::with_capacity(requests);
    let mut floor_samples = Vec::with_capacity(requests);
    let mut write_samples = Vec::with_capacity(requests);
    let mut cold = Duration::ZERO;
    for i in 0..WARM_UP + requests {
        let url = link(i)?.url;
        let event = viewer_event("GET", &url, &format!("cf-{i}"), &[]);
        let (_, viewer) = oncelink::cloudfront::parse_event(event.clone()).map_err(anyhow::Error::msg)?;
        let viewer = viewer.to_viewer_request(&format!("cf-{i}"));
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
        // The ledger's write alone, then the floor: one conditional write and nothing else.
        let (outcome, write_elapsed) = one_call(&format!("ledger write {i}"), &write_calls, write_alone(i, &viewer)).await?;
        let outcome = outcome.map_err(|e| anyhow::anyhow!("ledger write {i}: {e}"))?;
        ensure!(outcome.is_allowed(), "ledger write {i}: a fresh key was refused: {outcome:?}");
        let (written, floor_elapsed) = one_call(&format!("floor request {i}"), &floor_calls, floor(i)).await?;
        written.with_context(|| format!("floor PutItem {i}"))?;
        if i >= WARM_UP {
            samples.push(elapsed);
            floor_samples.push(floor_elapsed);
            write_samples.push(write_elapsed);
        }
    }
    let ledger_per_request = (ledger_calls.sent() - 1) as f64 / (WARM_UP + requests - 1) as f64;
    let ssm_per_request = (ssm_calls.sent() - 1) as f64 / (WARM_UP + requests - 1) as f64;
    let s = summarize(&mut samples).context("samples")?;
    let f = summarize(&mut floor_samples).context("floor samples")?;
    let w = summarize(&mut write_samples).context("ledger write samples")?;
    let ratio = s.p50.as_secs_f64() / f.p50.as_secs_f64();
    eprintln!(
        "floor (one raw conditional PutItem): p50 {:.0} µs p99 {:.0} µs; validation/floor p50 {ratio:.2}x",
        micros(f.p50),
        micros(f.p99)
    );
    eprintln!(
        "validation: p50 {:.0} µs p99 {:.0} µs max {:.0} µs cold {:.0} µs; per warm request: {ledger_per_request} ledger, {ssm_per_request} SSM calls",
        micros(s.p50),
        micros(s.p99),
        micros(s.max),
        micros(cold)
    );
    let subject = "EdgeService, DynamoDB Local + moto SSM (loopback)";
    let floor_subject = "floor: one raw conditional PutItem, same DynamoDB Local, same client settings";
    let met = ratio <= TARGET_RATIO;
    let target = Target {
        target: format!("consuming validation p50 <= {TARGET_RATIO}x its floor (one raw conditional PutItem, same emulator, same run)"),
        measured: format!("{ratio:.2}x ({:.0} µs vs {:.0} µs p50)", micros(s.p50), micros(f.p50)),
        met,
        explanation: (!met).then(|| {
            format!(
                "The edge service sends one UpdateItem per request (counted). That write alone (DynamoDbLedger::claim, the \
                 claim the edge service makes, no decision around it) takes p50 {:.0} µs against the floor's {:.0} µs: the \
                 emulator stores the item a first use must leave (count, first use, fingerprint, request id, trail entry, \
                 max uses, retention: 8 attributes where the floor's has 3), and evaluates the claim's condition \
                 (revocation, the use count, the request ids, holds) and its SET/ADD expressions (if_not_exists keeps the \
                 first use and the retention), which a bare PutItem does not ask of it; the claim asks for nothing back on \
                 a first use (UPDATED_OLD). The edge service around that write adds p50 {:.0} µs (the decision itself is a \
                 few µs: see the decision part).",
                micros(w.p50),
                micros(f.p50),
                micros(s.p50) - micros(w.p50)
            )
        }),
    };
    let result = PartResult {
        part: "validation".into(),
        title: "Validation of a consuming request (real ledger)".into(),
        method: format!(
            "{requests} viewer-request events, one at a time, each for a fresh sealed link, through `EdgeService::handle_event` \
             with the real SSM (moto) and DynamoDB (DynamoDB Local) clients on loopback, after {WARM_UP} warm-up requests. \
             Network calls are counted by an interceptor in both SDK clients (once per attempt sent); the bench fails unless \
             every warm request sends exactly one ledger call and no SSM call. After each, its floor: one raw conditional \
             PutItem of a fresh item to the same table from a client with the same SDK settings, and between them the \
             ledger's write alone (DynamoDbLedger::claim on a fresh key): interleaved, same run."
        ),
        rows: vec![
            Row::new(subject, "p50", micros(s.p50), "µs").ratio(format!("{ratio:.2}x floor")),
            Row::new(subject, "p99", micros(s.p99), "µs").note(format!("max {:.0} µs over {} requests", micros(s.max), s.count)),
            Row::new(subject, "first (cold) request", micros(cold), "µs").note("loads the configuration: 1 SSM + 1 ledger call"),
            Row::new(subject, "ledger calls per warm request", ledger_per_request, "calls").note("counted in the SDK; must be exactly 1"),
            Row::new(subject, "SSM calls per warm request", ssm_per_request, "calls").note("counted in the SDK; must be 0"),
            Row::new(WRITE_ALONE, "p50", micros(w.p50), "µs").ratio(format!("{:.2}x floor", w.p50.as_secs_f64() / f.p50.as_secs_f64())),
            Row::new(WRITE_ALONE, "p99", micros(w.p99), "µs"),
            Row::new(floor_subject, "p50", micros(f.p50), "µs"),
            Row::new(floor_subject, "p99", micros(f.p99), "µs").note(format!("max {:.0} µs over {} requests", micros(f.max), f.count)),
        ],
        targets: vec![target],
        charts: vec![],
    };
    let path = result.write_to(&out_dir())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
