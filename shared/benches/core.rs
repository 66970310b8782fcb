//! Benchmarks of the hot paths, each next to its peer so the report reads as a ratio on the
//! same (noisy) machine:
//!
//! * `presign/aws-sigv4` (ours) vs `presign/aws-sdk-s3` (the SDK's `presigned()`), same inputs.
//! * `edge/precheck` (pure phases 1–3) vs `edge/query-parse` (just reading the query) and
//!   `edge/decide-memory` (all four phases with the in-memory ledger).
//!
//! Run: `cargo bench -p oncelink --bench core`. Nothing here is asserted.

use std::hint::black_box;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use criterion::{Criterion, criterion_group, criterion_main};
use oncelink::ViewerRequest;
use oncelink::config::EdgeConfig;
use oncelink::decision::{EdgePolicy, decide, precheck};
use oncelink::ledger::MemoryLedger;
use oncelink::link::LinkMethod;
use oncelink::presign::{PresignRequest, S3Origin, presign};
use oncelink::query::Query;
use oncelink::time::parse_amz_date;

fn bench_presign(c: &mut Criterion) {
    let now = parse_amz_date("20261122T174231Z").unwrap();
    let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("session-token".into()), None, "bench");
    let origin = S3Origin { bucket: "bucket".into(), region: "eu-west-1".into(), endpoint: None };
    let request = PresignRequest {
        method: LinkMethod::Get,
        key: "reports/2026/file-0001.pdf",
        expires_in: Duration::from_secs(900),
        content_type: None,
        extra_query: &[],
    };
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(creds.clone())
            .build(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let mut group = c.benchmark_group("presign");
    group.bench_function("aws-sigv4", |b| b.iter(|| presign(black_box(&origin), &creds, black_box(&request), now).unwrap()));
    group.bench_function("aws-sdk-s3", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let config = PresigningConfig::builder().start_time(now).expires_in(request.expires_in).build().unwrap();
                client.get_object().bucket("bucket").key(black_box(request.key)).presigned(config).await.unwrap()
            })
        })
    });
    group.finish();
}

fn bench_edge(c: &mut Criterion) {
    let now = parse_amz_date("20261122T174231Z").unwrap();
    let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "bench");
    let origin = S3Origin { bucket: "bucket".into(), region: "eu-west-1".into(), endpoint: None };
    let signed = presign(
        &origin,
        &creds,
        &PresignRequest {
            method: LinkMethod::Get,
            key: "reports/2026/file-0001.pdf",
            expires_in: Duration::from_secs(900),
            content_type: None,
            extra_query: &[],
        },
        now,
    )
    .unwrap();
    let (uri, querystring) = signed.path_and_query.split_once('?').unwrap();
    let mut request = ViewerRequest {
        method: "GET".into(),
        uri: uri.into(),
        querystring: querystring.into(),
        headers: vec![],
        client_ip: None,
        request_id: "r".into(),
    };
    let policy = EdgePolicy::default();
    let config = EdgeConfig::presigned();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();

    let mut group = c.benchmark_group("edge");
    group.bench_function("query-parse", |b| b.iter(|| Query::parse(black_box(querystring)).unwrap()));
    group.bench_function("precheck", |b| b.iter(|| precheck(black_box(&request), &policy, &config, now)));
    let ledger = MemoryLedger::new();
    let mut n = 0u64;
    group.bench_function("decide-memory", |b| {
        b.iter(|| {
            n += 1;
            request.request_id = n.to_string();
            runtime.block_on(decide(black_box(&request), &policy, &config, &ledger, now))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_presign, bench_edge);
criterion_main!(benches);
