//! Issuing throughput per core: oncelink (presigned and sealed links, through the real
//! `oncelink::issue::issue` path) against `aws-sdk-s3`'s `presigned()`, boto3's
//! `generate_presigned_url` and the JavaScript SDK v3's `getSignedUrl`, all signing the same
//! inputs ([`oncelink_bench::inputs`]) on one thread, clients built once, warm-up excluded.
//!
//! usage: issuing --python <python with boto3> --node-peers <dir with node_modules> [--budget-secs 2.5]
//! Writes `$BENCH_OUT/issuing.json`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use oncelink::issue::{LinkRequest, Signer, issue};
use oncelink::link::LinkMethod;
use oncelink::link::LinkMode;
use oncelink::presign::{PresignRequest, presign};
use oncelink::sealed::KeySet;
use oncelink_bench::inputs::{self, BUCKET, EXPIRES_SECS, KEY, REGION, SECRET_ACCESS_KEY};
use oncelink_bench::result::{Bar, Chart, PartResult, Row, Target, out_dir};
use oncelink_bench::stats::thousands;
use oncelink_bench::timing::{Throughput, measure};
use serde::Deserialize;

const SIGNING_KEY_SUBJECT: &str = "SigV4 signing-key derivation alone (aws-sigv4)";
const WARM_UP: Duration = Duration::from_millis(500);

struct Args {
    python: PathBuf,
    node_peers: PathBuf,
    budget: Duration,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut python = None;
    let mut node_peers = None;
    let mut budget = Duration::from_millis(2500);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--python" => python = Some(PathBuf::from(value()?)),
            "--node-peers" => node_peers = Some(PathBuf::from(value()?)),
            "--budget-secs" => budget = Duration::from_secs_f64(value()?.parse().context("--budget-secs")?),
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(Args {
        python: python.context("--python <python with boto3> is required")?,
        node_peers: node_peers.context("--node-peers <dir> is required")?,
        budget,
    })
}

/// What a peer script prints.
#[derive(Deserialize)]
struct PeerOutput {
    #[serde(flatten)]
    throughput: Throughput,
    version: String,
}

/// Runs a peer script with the shared inputs; fails loudly if it fails.
fn run_peer(program: &PathBuf, script: PathBuf, args: &Args) -> anyhow::Result<PeerOutput> {
    let output = Command::new(program)
        .arg(&script)
        .args(inputs::peer_args())
        .arg(WARM_UP.as_secs_f64().to_string())
        .arg(args.budget.as_secs_f64().to_string())
        .output()
        .with_context(|| format!("running {} {}", program.display(), script.display()))?;
    if !output.status.success() {
        bail!("{} failed ({}): {}", script.display(), output.status, String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().context("the peer printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("{} printed {line:?}", script.display()))
}

/// The one result line per issuer.
struct Measured {
    subject: String,
    throughput: Throughput,
    note: String,
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let credentials = inputs::credentials();
    let expires_in = Duration::from_secs(EXPIRES_SECS);
    let mut measured = Vec::new();

    // Ours, through the issue path the Lambda function and the gateway run (validation, signing,
    // link id, host swap), in both modes.
    let request = LinkRequest { key: KEY.into(), expires_in: Some(EXPIRES_SECS), ..LinkRequest::default() };
    let presigned_settings = inputs::issuer_settings(LinkMode::Presigned);
    let signer = Signer { credentials: Some(&credentials), keys: None };
    let throughput = measure(WARM_UP, args.budget, || {
        issue(&presigned_settings, signer, &request, SystemTime::now()).map(|link| link.url).unwrap_or_else(|e| panic!("issue: {e}"))
    });
    measured.push(Measured {
        subject: "oncelink, presigned link".into(),
        throughput,
        note: "oncelink::issue::issue (SigV4 query signing by oncelink::sigv4 with a cached signing key, link id, CDN host)".into(),
    });

    let keys = KeySet::generate("k1").context("key set")?;
    let sealed_settings = inputs::issuer_settings(LinkMode::Sealed);
    let signer = Signer { credentials: None, keys: Some(&keys) };
    let throughput = measure(WARM_UP, args.budget, || {
        issue(&sealed_settings, signer, &request, SystemTime::now()).map(|link| link.url).unwrap_or_else(|e| panic!("issue: {e}"))
    });
    measured.push(Measured {
        subject: "oncelink, sealed link".into(),
        throughput,
        note: "oncelink::issue::issue (pooled random nonce, HMAC-SHA256 token with a cached key schedule)".into(),
    });

    // The raw signing step alone, to show what the issue path adds around it.
    let raw = PresignRequest { method: LinkMethod::Get, key: KEY, expires_in, content_type: None, extra_query: &[] };
    let throughput = measure(WARM_UP, args.budget, || {
        presign(&presigned_settings.origin, &credentials, &raw, SystemTime::now())
            .map(|p| p.origin_url())
            .unwrap_or_else(|e| panic!("presign: {e}"))
    });
    measured.push(Measured { subject: "oncelink::presign (signing only)".into(), throughput, note: "no validation, no link id".into() });

    // What the signing-key cache saves per URL: deriving the SigV4 signing key (four chained
    // HMAC-SHA256), as aws-sigv4 (and so aws-sdk-s3) does for every URL. oncelink derives it
    // once per day, region, service and secret.
    let throughput = measure(WARM_UP, args.budget, || {
        let key = aws_sigv4::sign::v4::generate_signing_key(SECRET_ACCESS_KEY, SystemTime::now(), REGION, "s3");
        key.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>() + KEY
    });
    measured.push(Measured {
        subject: SIGNING_KEY_SUBJECT.into(),
        throughput,
        note: "what aws-sdk-s3 pays per URL and oncelink once per day (+ hex of the key, to keep the result)".into(),
    });

    // aws-sdk-s3: client built once, one presigned() per URL, on a current-thread runtime.
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(credentials.clone())
            .build(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let throughput = measure(WARM_UP, args.budget, || {
        runtime.block_on(async {
            let config = PresigningConfig::expires_in(expires_in).unwrap_or_else(|e| panic!("presigning config: {e}"));
            let presigned = client.get_object().bucket(BUCKET).key(KEY).presigned(config).await;
            presigned.map(|p| p.uri().to_owned()).unwrap_or_else(|e| panic!("aws-sdk-s3 presigned: {e}"))
        })
    });
    measured.push(Measured {
        subject: "aws-sdk-s3 (Rust) presigned()".into(),
        throughput,
        note: format!("aws-sdk-s3 {}", aws_sdk_s3::meta::PKG_VERSION),
    });

    let boto3 = run_peer(&args.python, oncelink_bench::result::repo_root().join("bench/peers/boto3_presign.py"), &args)?;
    measured.push(Measured { subject: "boto3 generate_presigned_url".into(), throughput: boto3.throughput, note: boto3.version });
    let node = PathBuf::from("node");
    let js = run_peer(&node, args.node_peers.join("js_presign.mjs"), &args)?;
    measured.push(Measured { subject: "AWS SDK for JavaScript v3 getSignedUrl".into(), throughput: js.throughput, note: js.version });

    for m in &measured {
        if !m.throughput.sample.contains(KEY) {
            bail!("{} produced {:?}, which is not a URL for {KEY}", m.subject, m.throughput.sample);
        }
        eprintln!(
            "{:<45} {:>12.0} URLs/s {:>9.2} µs/URL  {}",
            m.subject,
            m.throughput.per_second(),
            m.throughput.micros_per_call(),
            m.throughput.sample
        );
    }
    let rate =
        |subject: &str| measured.iter().find(|m| m.subject.starts_with(subject)).map(|m| m.throughput.per_second()).unwrap_or(f64::NAN);
    let ours = rate("oncelink, presigned");
    let boto3_rate = rate("boto3");
    let sdk_rate = rate("aws-sdk-s3");

    let mut rows = Vec::new();
    for m in &measured {
        let per_second = m.throughput.per_second();
        let ratio = format!("{:.1}x boto3, {:.2}x aws-sdk-s3", per_second / boto3_rate, per_second / sdk_rate);
        rows.push(Row::new(&m.subject, "URLs/s", per_second, "URLs/s").ratio(ratio).note(&m.note));
        rows.push(Row::new(&m.subject, "time per URL", m.throughput.micros_per_call(), "µs"));
    }
    // Signing's share of the issue path: time per URL of presign alone / of the whole path.
    let signing_share = ours / rate("oncelink::presign");
    let vs_boto3 = ours / boto3_rate;
    let vs_sdk = ours / sdk_rate;
    let sealed_vs_boto3 = rate("oncelink, sealed") / boto3_rate;
    let sealed_explanation = format!(
        "a sealed link is a random nonce (getrandom, fetched 32 at a time), one HMAC-SHA256 token (key schedule cached) over host, path and expiry, its base64 and the \
         link id (one SHA-256): {:.2} µs per link in this run; boto3 took {:.0} µs",
        1e6 / rate("oncelink, sealed"),
        1e6 / boto3_rate
    );
    let target = |target: &str, ratio: f64, floor: f64, measured: String, why: &str| Target {
        target: target.into(),
        measured,
        met: ratio >= floor,
        explanation: (ratio < floor).then(|| why.to_owned()),
    };
    let presigned_explanation = explanation(signing_share);
    let targets = vec![
        target(
            ">= 100x boto3 issuing throughput per core (presigned link)",
            vs_boto3,
            100.0,
            format!("{vs_boto3:.0}x ({} vs {} URLs/s)", thousands(ours), thousands(boto3_rate)),
            &presigned_explanation,
        ),
        target(
            ">= 5x aws-sdk-s3 presigned() throughput per core (presigned link)",
            vs_sdk,
            5.0,
            format!("{vs_sdk:.1}x ({} vs {} URLs/s)", thousands(ours), thousands(sdk_rate)),
            &presigned_explanation,
        ),
        target(
            ">= 100x boto3 issuing throughput per core (sealed link)",
            sealed_vs_boto3,
            100.0,
            format!("{sealed_vs_boto3:.0}x ({} vs {} URLs/s)", thousands(rate("oncelink, sealed")), thousands(boto3_rate)),
            &sealed_explanation,
        ),
    ];
    let chart = Chart {
        title: "Issuing throughput, one core".into(),
        unit: "URLs/s".into(),
        higher_is_better: true,
        bars: measured.iter().map(|m| Bar { label: m.subject.clone(), value: m.throughput.per_second() }).collect(),
    };
    let result = PartResult {
        part: "issuing".into(),
        title: "Issuing links".into(),
        method: format!(
            "Each issuer signs a GET for s3://{BUCKET}/{KEY} in {REGION}, {EXPIRES_SECS} s expiry, the same static credentials, \
             on one thread with its client built once; {:.1} s warm-up (not counted), then as many calls as fill {:.1} s.",
            WARM_UP.as_secs_f64(),
            args.budget.as_secs_f64()
        ),
        rows,
        targets,
        charts: vec![chart],
    };
    let path = result.write_to(&out_dir())?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Where the time goes when a ratio target is missed: bench/run.sh profiles the presigned issue
/// path with callgrind and the report prints that profile (`issuing.profile.txt`) under the
/// issuing section; `signing_share` is what this run measured for the signing step alone.
fn explanation(signing_share: f64) -> String {
    format!(
        "{:.0}% of the time per presigned link is the SigV4 query signing (oncelink::presign alone vs the whole issue path, \
         measured above; the signing key is cached, so what is left is hashing the canonical request, one HMAC and the \
         URL's encoding); the rest is validation, the link id and the URL. The callgrind profile under \"Issuing links\" \
         shows it function by function.",
        signing_share * 100.0
    )
}
