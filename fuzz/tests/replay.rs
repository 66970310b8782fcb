//! Replays the checked-in corpus through every harness, without libFuzzer: a plain
//! `cargo test` on stable (`tests/fuzz.sh --replay`). Any panic is a regression.

use std::fs;
use std::path::Path;

use oncelink::cloudfront::Answer;
use oncelink_fuzz::{configs, now, service};

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.is_file())
        .map(|path| (path.file_name().unwrap_or_default().to_string_lossy().into_owned(), fs::read(&path).expect("read corpus file")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus for {target}");
    files
}

fn replay(target: &str, harness: fn(&[u8])) {
    for (name, data) in corpus(target) {
        let outcome = std::panic::catch_unwind(|| harness(&data));
        assert!(outcome.is_ok(), "{target}: corpus input {name} crashed the harness");
    }
}

#[test]
fn edge_event_corpus() {
    replay("edge_event", oncelink_fuzz::edge_event);
}

#[test]
fn viewer_request_corpus() {
    replay("viewer_request", oncelink_fuzz::viewer_request);
}

#[test]
fn gateway_head_corpus() {
    replay("gateway_head", oncelink_fuzz::gateway_head);
}

#[test]
fn sealed_token_corpus() {
    replay("sealed_token", oncelink_fuzz::sealed_token);
}

/// The seeds reach the deep end: a real link is forwarded in its own mode.
#[test]
fn seeds_are_real_links() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/edge_event");
    let [presigned, sealed] = configs();
    for (file, config) in [("presigned-get-range.json", presigned), ("sealed-get-filename-range.json", sealed)] {
        let event = serde_json::from_slice(&fs::read(dir.join(file)).expect("seed present")).expect("seed is JSON");
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let answer = runtime.block_on(service(config).handle_event(event, now())).answer;
        assert!(matches!(answer, Answer::Continue(_)), "{file} was not forwarded: {answer:?}");
    }
}

/// The gateway seeds reach the deep end too: a real link's head is read and forwarded.
#[test]
fn gateway_head_seeds_are_real_requests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/gateway_head");
    let [presigned, sealed] = configs();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    for (file, config) in [("presigned-get.http", presigned), ("sealed-get-range.http", sealed)] {
        let parts = oncelink_fuzz::http_parts(&fs::read(dir.join(file)).expect("seed present")).expect("a complete head");
        let client_ip = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let viewer = oncelink::http_head::viewer_request(&parts, client_ip, "r", oncelink_fuzz::MAX_UPLOAD_BYTES).expect("head accepted");
        let decision = runtime.block_on(service(config).decide(&viewer, now())).decision;
        assert!(matches!(decision, oncelink::Decision::Forward(_)), "{file} was not forwarded: {decision:?}");
    }
    let refused = fs::read(dir.join("latin1-user-agent.http")).expect("seed present");
    let parts = oncelink_fuzz::http_parts(&refused).expect("hyper accepts obs-text in values");
    assert!(oncelink::http_head::viewer_request(&parts, "127.0.0.1".parse().unwrap(), "r", 1).is_err());
}
