//! The Lambda functions as Lambda runs them: the real release `bootstrap` binaries
//! (`issue-url`, `viewer-request`) against the Runtime API stand-in from the integration
//! tests, SSM on moto and the ledger on DynamoDB Local. Measured per function:
//!
//! * cold start: process start → first `GET /runtime/invocation/next` (the init phase) and
//!   process start → first answer (init + the first invocation, SSM read included);
//! * CPU per warm invocation: the process's utime + stime (from `/proc/<pid>/stat`) over N
//!   invocations, divided by N; the harness runs in this process, so it is not counted;
//! * peak RSS: `VmHWM` from `/proc/<pid>/status` after those invocations;
//! * the arm64 deployment zip sizes built by `tests/infra/build-zips.sh`.
//!
//! Run under the emulators, from `target/release` next to the function binaries:
//! `bash tests/with-emulators.sh target/release/functions [--invocations 3000] [--cold-runs 10]`.
//! Writes `$BENCH_OUT/functions.json`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use oncelink::issue::{LinkRequest, Signer, issue};
use oncelink::link::LinkMode;
use oncelink::sealed::KeySet;
use oncelink_bench::result::{Bar, Chart, PartResult, Row, Target, out_dir};
use oncelink_bench::stats::millis;
use oncelink_integration_tests::runtime_api::{RuntimeApi, function_command};
use oncelink_integration_tests::{Deployment, emulators, issuer_settings, viewer_event};
use serde_json::{Value, json};
use tokio::process::Child;

const TARGET_COLD_START: Duration = Duration::from_millis(50);
const WARM_UP: usize = 100;

/// The two functions, and how to make an event each will answer successfully.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Function {
    IssueUrl,
    ViewerRequest,
}

impl Function {
    fn name(self) -> &'static str {
        match self {
            Self::IssueUrl => "issue-url",
            Self::ViewerRequest => "viewer-request",
        }
    }
}

/// A sealed deployment on the emulators and what both functions need to work on it.
struct Setup {
    prefix: String,
    keys: KeySet,
}

impl Setup {
    /// The `i`-th event for `function`: a link request, or a viewer request for a fresh link.
    fn event(&self, function: Function, i: usize) -> anyhow::Result<Value> {
        Ok(match function {
            Function::IssueUrl => api_event(&format!(r#"{{"key":"bench/{i}.bin"}}"#)),
            Function::ViewerRequest => {
                let settings = issuer_settings(LinkMode::Sealed, "files.example.com");
                let signer = Signer { credentials: None, keys: Some(&self.keys) };
                let link =
                    issue(&settings, signer, &LinkRequest { key: format!("bench/{i}.bin"), ..LinkRequest::default() }, SystemTime::now())?;
                viewer_event("GET", &link.url, &format!("cf-{i}"), &[])
            }
        })
    }

    fn env(&self, function: Function) -> Vec<(&'static str, String)> {
        let mut env = vec![("ONCELINK_SSM_PREFIX", self.prefix.clone())];
        if function == Function::IssueUrl {
            env.push(("ONCELINK_BUCKET", "media".into()));
            env.push(("ONCELINK_CDN_DOMAIN", "files.example.com".into()));
        }
        env
    }
}

/// An API Gateway HTTP API (v2) `POST /links` event.
fn api_event(body: &str) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/links", "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": "POST", "path": "/links", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "bench"},
            "requestId": "id", "routeKey": "$default", "stage": "$default", "time": "22/Nov/2026:12:00:00 +0000", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    })
}

/// Fails unless `answer` is the function's success answer.
fn check(function: Function, answer: &Value) -> anyhow::Result<()> {
    let ok = match function {
        Function::IssueUrl => answer["statusCode"] == 201,
        Function::ViewerRequest => answer["uri"].is_string() && answer.get("status").is_none(),
    };
    ensure!(ok, "{} did not succeed: {answer}", function.name());
    Ok(())
}

/// The release binary next to this one (`target/release/<name>`).
fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("exe dir")?.join(name);
    ensure!(path.exists(), "{} is not built: cargo build --release -p {name}", path.display());
    Ok(path)
}

/// Starts `function` against a fresh Runtime API; returns the API, the process and when it started.
async fn start(setup: &Setup, function: Function) -> anyhow::Result<(RuntimeApi, Child, Instant)> {
    let (api, addr) = RuntimeApi::start().await;
    let mut command = function_command(&binary(function.name())?, addr, function.name());
    command.stdout(Stdio::null()).stderr(Stdio::null());
    for (name, value) in setup.env(function) {
        command.env(name, value);
    }
    let started = Instant::now();
    let child = command.spawn().context("spawn the function binary")?;
    Ok((api, child, started))
}

/// utime + stime of process `pid` so far.
fn cpu_time(pid: u32, ticks_per_second: f64) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after_name = stat.rsplit_once(')').context("/proc/pid/stat format")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11).context("utime")?.parse::<u64>()? + fields.get(12).context("stime")?.parse::<u64>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / ticks_per_second))
}

/// `VmHWM` (peak resident set) of process `pid`, in KiB.
fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("VmHWM")?;
    Ok(line.split_whitespace().nth(1).context("VmHWM value")?.parse()?)
}

fn clock_ticks_per_second() -> anyhow::Result<f64> {
    let output = std::process::Command::new("getconf").arg("CLK_TCK").output().context("getconf CLK_TCK")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
}

struct Measured {
    function: Function,
    init_ms: Vec<f64>,
    first_answer_ms: Vec<f64>,
    cpu_per_invocation_us: f64,
    invocations: usize,
    peak_rss_kib: u64,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

async fn measure(setup: &Setup, function: Function, cold_runs: usize, invocations: usize, ticks: f64) -> anyhow::Result<Measured> {
    let mut init_ms = Vec::new();
    let mut first_answer_ms = Vec::new();
    let mut next_event = 0usize;
    let mut last = None;
    for run in 0..cold_runs {
        let (api, child, started) = start(setup, function).await?;
        let event = setup.event(function, next_event)?;
        next_event += 1;
        let answer = api.invoke(&format!("cold-{run}"), event).await.map_err(|e| anyhow::anyhow!("{} failed: {e}", function.name()))?;
        let answered = started.elapsed();
        check(function, &answer)?;
        let polled = api.first_poll().context("the function never polled for an invocation")?;
        init_ms.push(millis(polled - started));
        first_answer_ms.push(millis(answered));
        last = Some((api, child));
    }
    let (api, child) = last.context("--cold-runs must be at least 1")?;
    let pid = child.id().context("the function exited")?;
    let invoke = |i: usize| {
        let api = api.clone();
        let event = setup.event(function, i);
        async move {
            let answer = api.invoke(&format!("warm-{i}"), event?).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            check(function, &answer)
        }
    };
    for _ in 0..WARM_UP {
        invoke(next_event).await?;
        next_event += 1;
    }
    let before = cpu_time(pid, ticks)?;
    for _ in 0..invocations {
        invoke(next_event).await?;
        next_event += 1;
    }
    let cpu = cpu_time(pid, ticks)? - before;
    let peak = peak_rss_kib(pid)?;
    drop(child);
    Ok(Measured {
        function,
        init_ms,
        first_answer_ms,
        cpu_per_invocation_us: cpu.as_secs_f64() * 1e6 / invocations as f64,
        invocations,
        peak_rss_kib: peak,
    })
}

/// Per cold start: first answer − first poll (the first invocation, configuration read included).
fn first_invocation_ms(m: &Measured) -> Vec<f64> {
    m.first_answer_ms.iter().zip(&m.init_ms).map(|(answer, init)| answer - init).collect()
}

/// Where a cold start's time goes, from the measured phases.
fn cold_start_breakdown(measured: &[Measured]) -> String {
    let phases: Vec<String> = measured
        .iter()
        .map(|m| {
            format!(
                "{}: init (process start → first poll: runtime, SDK clients, TLS roots) {:.1} ms + first invocation {:.1} ms \
                 (vs {:.2} ms CPU for a warm one)",
                m.function.name(),
                median(&m.init_ms),
                median(&first_invocation_ms(m)),
                m.cpu_per_invocation_us / 1000.0
            )
        })
        .collect();
    format!(
        "{}. The first invocation waits on the configuration read from SSM (moto, a Python server, here) and, for \
         viewer-request, the first write to DynamoDB Local (a JVM); both are emulator round trips on a fresh connection, \
         not CPU of ours.",
        phases.join("; ")
    )
}

/// Sizes of the arm64 deployment zips, if `tests/infra/build-zips.sh` has built them.
fn zip_size(function: Function) -> Option<(u64, SystemTime)> {
    let cache = std::env::var_os("ONCELINK_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/oncelink")))?;
    let meta = std::fs::metadata(cache.join("target-arm64/lambda").join(function.name()).join("bootstrap.zip")).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}

fn main() -> anyhow::Result<()> {
    let mut invocations = 3_000usize;
    let mut cold_runs = 10usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut number = || -> anyhow::Result<usize> { Ok(args.next().context("a number")?.parse()?) };
        match flag.as_str() {
            "--invocations" => invocations = number()?,
            "--cold-runs" => cold_runs = number()?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    ensure!(invocations > 0 && cold_runs > 0, "--invocations and --cold-runs must be positive");
    let ticks = clock_ticks_per_second()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let measured = runtime.block_on(async {
        let env = emulators();
        let deployment = Deployment::new(&env.dynamodb_local, true).await;
        let keys = KeySet::generate("k1").context("key set")?;
        deployment.seal(&keys).await;
        let setup = Setup { prefix: deployment.prefix.clone(), keys };
        let mut measured = Vec::new();
        for function in [Function::IssueUrl, Function::ViewerRequest] {
            measured.push(measure(&setup, function, cold_runs, invocations, ticks).await?);
        }
        anyhow::Ok(measured)
    })?;

    let mut rows = Vec::new();
    let mut cold_bars = Vec::new();
    let mut worst_first_answer = 0f64;
    for m in &measured {
        let name = m.function.name();
        let (init, first) = (median(&m.init_ms), median(&m.first_answer_ms));
        let first_max = m.first_answer_ms.iter().copied().fold(0.0, f64::max);
        worst_first_answer = worst_first_answer.max(first);
        eprintln!(
            "{name:<15} init {init:.1} ms, first answer {first:.1} ms (max {first_max:.1}), CPU {:.1} µs/inv, peak RSS {} KiB",
            m.cpu_per_invocation_us, m.peak_rss_kib
        );
        let cold_note = format!("median of {} cold starts", m.init_ms.len());
        rows.push(Row::new(name, "cold start: init (start → first poll)", init, "ms").note(&cold_note));
        rows.push(
            Row::new(name, "cold start: first invocation (first answer − first poll)", median(&first_invocation_ms(m)), "ms")
                .note("includes the SSM read (moto) and, for viewer-request, the first ledger write (DynamoDB Local)"),
        );
        rows.push(
            Row::new(name, "cold start: first answer", first, "ms")
                .note(format!("{cold_note}; max {first_max:.1} ms; includes the SSM read")),
        );
        rows.push(
            Row::new(name, "CPU per warm invocation", m.cpu_per_invocation_us, "µs")
                .note(format!("utime+stime over {} invocations / {}", m.invocations, m.invocations)),
        );
        rows.push(Row::new(name, "peak RSS (VmHWM)", m.peak_rss_kib as f64 / 1024.0, "MiB"));
        match zip_size(m.function) {
            Some((bytes, built)) => {
                let built = oncelink::time::rfc3339(built);
                rows.push(
                    Row::new(name, "arm64 zip size", bytes as f64 / 1_048_576.0, "MiB")
                        .note(format!("tests/infra/build-zips.sh, built {built}")),
                )
            }
            None => eprintln!("{name}: no arm64 zip (run tests/infra/build-zips.sh)"),
        }
        cold_bars.push(Bar { label: format!("{name} init"), value: init });
        cold_bars.push(Bar { label: format!("{name} first answer"), value: first });
    }
    let met = worst_first_answer <= millis(TARGET_COLD_START);
    let result = PartResult {
        part: "functions".into(),
        title: "Lambda functions (release binaries, Runtime API stand-in)".into(),
        method: format!(
            "The release binaries run as Lambda runs them, against the Runtime API stand-in of the integration tests (loopback), \
             sealed mode, SSM on moto and the ledger on DynamoDB Local. Cold start: median of {} fresh processes per function. \
             CPU: utime+stime of the function's process over {} warm invocations (after {WARM_UP}), divided by their number.",
            measured.first().map_or(0, |m| m.init_ms.len()),
            measured.first().map_or(0, |m| m.invocations)
        ),
        rows,
        targets: vec![Target {
            target: format!("cold start <= {} ms (process start → first answer)", TARGET_COLD_START.as_millis()),
            measured: measured
                .iter()
                .map(|m| format!("{}: {:.1} ms", m.function.name(), median(&m.first_answer_ms)))
                .collect::<Vec<_>>()
                .join(", "),
            met,
            explanation: (!met).then(|| cold_start_breakdown(&measured)),
        }],
        charts: vec![Chart { title: "Cold start (median)".into(), unit: "ms".into(), higher_is_better: false, bars: cold_bars }],
    };
    let path = result.write_to(&out_dir())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
