//! Decision CPU per request, excluding I/O: the pure phases (`precheck`: method, link shape,
//! signature/token, validity window) and the whole decision with the in-memory ledger
//! (`decide`), timed call by call on one thread, each call on a fresh link, exact percentiles
//! over all samples.
//!
//! usage: decision [--samples 100000]. Writes `$BENCH_OUT/decision.json`.

use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use oncelink::config::EdgeConfig;
use oncelink::issue::{LinkRequest, Signer, issue};
use oncelink::ledger::MemoryLedger;
use oncelink::link::LinkMode;
use oncelink::sealed::KeySet;
use oncelink::{Decision, EdgePolicy, Precheck, ViewerRequest, decide, precheck};
use oncelink_bench::inputs::{self, CDN, EXPIRES_SECS, KEY};
use oncelink_bench::result::{Bar, Chart, PartResult, Row, Target, out_dir};
use oncelink_bench::stats::{Summary, micros, summarize};

/// The target: the decision's CPU at p99, excluding I/O.
const TARGET_P99: Duration = Duration::from_micros(5);

/// `count` fresh links of `mode`, as the viewer requests the edge would see.
fn requests(mode: LinkMode, keys: &KeySet, count: usize) -> anyhow::Result<Vec<ViewerRequest>> {
    let credentials = inputs::credentials();
    let settings = inputs::issuer_settings(mode);
    let signer = Signer { credentials: Some(&credentials), keys: Some(keys) };
    let request = LinkRequest { key: KEY.into(), ..LinkRequest::default() };
    let now = SystemTime::now();
    (0..count)
        .map(|i| {
            // A distinct expiry per link makes every presigned link distinct (sealed ones differ by nonce).
            let url = issue(&settings, signer, &LinkRequest { expires_in: Some(EXPIRES_SECS + i as u64), ..request.clone() }, now)?.url;
            ensure!(url.starts_with(&format!("https://{CDN}/")), "a CDN URL");
            let request = ViewerRequest::from_url("GET", &url, &format!("r{i}")).with_header("user-agent", "bench/1.0");
            Ok(ViewerRequest { client_ip: Some("203.0.113.7".into()), ..request })
        })
        .collect()
}

struct ModeResult {
    mode: &'static str,
    precheck: Summary,
    decide: Summary,
}

fn measure(mode_name: &'static str, mode: LinkMode, samples: usize) -> anyhow::Result<ModeResult> {
    let keys = KeySet::generate("k1").context("key set")?;
    let config = match mode {
        LinkMode::Sealed => EdgeConfig::sealed(keys.clone()),
        LinkMode::Presigned => EdgeConfig::presigned(),
    };
    let policy = EdgePolicy::default();
    let warm = requests(mode, &keys, 2_000)?;
    let links = requests(mode, &keys, samples)?;
    let ledger = MemoryLedger::new();
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let now = SystemTime::now();

    let mut precheck_samples = Vec::with_capacity(samples);
    for request in warm.iter().chain(&links) {
        let started = Instant::now();
        let verdict = precheck(std::hint::black_box(request), &policy, &config, now);
        precheck_samples.push(started.elapsed());
        if !matches!(verdict, Precheck::Claim(_)) {
            bail!("{mode_name}: precheck did not accept a fresh link: {verdict:?}");
        }
    }
    precheck_samples.drain(..warm.len());

    let mut decide_samples = Vec::with_capacity(samples);
    for request in warm.iter().chain(&links) {
        let started = Instant::now();
        let decision = runtime.block_on(decide(std::hint::black_box(request), &policy, &config, &ledger, now));
        decide_samples.push(started.elapsed());
        if !matches!(decision, Decision::Forward(_)) {
            bail!("{mode_name}: a fresh link was not forwarded: {decision:?}");
        }
    }
    decide_samples.drain(..warm.len());
    Ok(ModeResult {
        mode: mode_name,
        precheck: summarize(&mut precheck_samples).context("samples")?,
        decide: summarize(&mut decide_samples).context("samples")?,
    })
}

fn main() -> anyhow::Result<()> {
    let mut samples = 100_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--samples" => samples = args.next().context("--samples N")?.parse().context("--samples N")?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    let results = [measure("sealed", LinkMode::Sealed, samples)?, measure("presigned", LinkMode::Presigned, samples)?];

    let mut rows = Vec::new();
    let mut bars = Vec::new();
    for r in &results {
        for (what, s) in [("precheck (pure phases)", &r.precheck), ("decide, in-memory ledger", &r.decide)] {
            let subject = format!("{} link: {what}", r.mode);
            rows.push(Row::new(&subject, "p50", micros(s.p50), "µs"));
            rows.push(Row::new(&subject, "p99", micros(s.p99), "µs").note(format!("max {:.1} µs over {} calls", micros(s.max), s.count)));
            bars.push(Bar { label: format!("{} {what} p99", r.mode), value: micros(s.p99) });
            eprintln!("{subject:<45} p50 {:>7.2} µs  p99 {:>7.2} µs  max {:>8.1} µs", micros(s.p50), micros(s.p99), micros(s.max));
        }
    }
    let worst = results.iter().map(|r| r.decide.p99).max().unwrap_or_default();
    let met = worst <= TARGET_P99;
    let targets = vec![Target {
        target: format!("decision CPU <= {} µs p99, excluding I/O", TARGET_P99.as_micros()),
        measured: results.iter().map(|r| format!("{}: {:.1} µs", r.mode, micros(r.decide.p99))).collect::<Vec<_>>().join(", "),
        met,
        explanation: (!met).then(|| {
            let per_mode: Vec<String> = results
                .iter()
                .map(|r| {
                    format!(
                        "{}: precheck (the pure phases) p99 {:.1} µs, decide p99 {:.1} µs (the difference is the in-memory \
                         ledger claim and the executor poll), max {:.0} µs",
                        r.mode,
                        micros(r.precheck.p99),
                        micros(r.decide.p99),
                        micros(r.decide.max)
                    )
                })
                .collect();
            per_mode.join("; ")
        }),
    }];
    let result = PartResult {
        part: "decision".into(),
        title: "Edge decision CPU (no I/O)".into(),
        method: format!(
            "{samples} fresh links per mode, each decided once on one thread and timed call by call (Instant around the call, \
             2,000 warm-up calls excluded); `decide` includes `precheck` and a claim on the in-memory ledger, polled on a \
             current-thread Tokio runtime. Percentiles are exact (sorted samples)."
        ),
        rows,
        targets,
        charts: vec![Chart { title: "Edge decision CPU per request, p99".into(), unit: "µs".into(), higher_is_better: false, bars }],
    };
    let path = result.write_to(&out_dir())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
