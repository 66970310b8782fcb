//! `oncelink demo`: the whole story in one command, against a throwaway data dir and a free port:
//! start a gateway, store a file through a one-time PUT link, issue a one-time GET link, fetch it
//! twice (200, then 403), stop. Exit code 0 only if it went exactly like that.

use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::Method;

use crate::client::Api;
use crate::datadir;
use crate::settings::{LedgerKind, Settings};
use crate::wiring;

/// `oncelink demo`: the whole story in one command, against a throwaway data dir.
pub async fn run() -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("oncelink-demo-{}", datadir::random_token(6)?));
    let settings = Settings {
        data_dir: dir.clone(),
        listen: "127.0.0.1:0".parse()?,
        public_url: None,
        mode: oncelink::link::LinkMode::Sealed,
        ledger: LedgerKind::File,
        table: None,
        dynamodb_endpoint: None,
        database_url: None,
        origin_endpoint: None,
        bucket: "oncelink".into(),
        region: "us-east-1".into(),
        default_expires: Duration::from_secs(600),
        max_expires: Duration::from_secs(3600),
        max_upload_bytes: 1 << 20,
        shutdown_timeout: Duration::from_secs(5),
        trust_forwarded_for: false,
        origin_timeout: Duration::from_secs(60),
        max_resumes: oncelink::decision::DEFAULT_MAX_RESUMES,
        resume_window: Duration::from_secs(600),
        inline_active_content: false,
        tls: None,
        limits: crate::watchdog::Limits::default(),
        webhook: None,
        webhook_secret: None,
        api_token: None,
        config_file: None,
    };
    let result = demo_steps(&settings).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn demo_steps(settings: &Settings) -> anyhow::Result<ExitCode> {
    let running = wiring::start(settings).await?;
    println!("1. gateway started at {} (data dir {})", running.public_url, settings.data_dir.display());
    let api = Api::new(&running.public_url, running.api_token.clone())?;
    let sample = Bytes::from_static(b"hello from oncelink: this file can be downloaded once.\n");
    let put = api.issue(&serde_json::json!({"key": "demo/hello.txt", "method": "PUT"})).await?;
    let (status, _) = api.fetch(Method::PUT, &put.url, sample.clone()).await?;
    println!("2. stored demo/hello.txt ({} bytes) through a one-time PUT link: {}", sample.len(), status);
    let link = api.issue(&serde_json::json!({"key": "demo/hello.txt", "expires_in": 600})).await?;
    println!("3. issued a one-time link (id {}, expires {}):\n   {}", link.link_id, link.expires_at, link.url);
    let (first, body) = api.fetch(Method::GET, &link.url, Bytes::new()).await?;
    println!("4. first GET:  {first}  {:?}", String::from_utf8_lossy(&body).trim_end());
    let (second, body) = api.fetch(Method::GET, &link.url, Bytes::new()).await?;
    println!("5. second GET: {second}  {}", String::from_utf8_lossy(&body));
    running.stop().await;
    println!("6. gateway stopped");
    if first.as_u16() == 200 && body_is_used(&body) && second.as_u16() == 403 && status.is_success() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("oncelink: error: the demo did not go as expected (wanted 200 then 403)");
        Ok(ExitCode::FAILURE)
    }
}

fn body_is_used(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(|s| s == "link_already_used"))
        .unwrap_or(false)
}
