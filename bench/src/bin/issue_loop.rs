//! A fixed number of presigned (or sealed) links through `oncelink::issue::issue`, nothing else: the
//! workload `bench/run.sh` profiles with callgrind (deterministic instruction counts), so the
//! report can show where the issuing time goes.
//!
//! usage: issue_loop [COUNT=2000] [MODE=presigned|sealed]

use std::time::SystemTime;

use anyhow::Context;
use oncelink::issue::{LinkRequest, Signer, issue};
use oncelink::link::LinkMode;
use oncelink::sealed::KeySet;
use oncelink_bench::inputs::{self, EXPIRES_SECS, KEY};

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args().nth(1).map(|n| n.parse()).transpose().context("COUNT")?.unwrap_or(2_000);
    let mode = std::env::args().nth(2).map_or(Some(LinkMode::Presigned), |m| LinkMode::parse(&m)).context("MODE")?;
    let credentials = inputs::credentials();
    let keys = KeySet::generate("k1").context("key set")?;
    let settings = inputs::issuer_settings(mode);
    let signer = match mode {
        LinkMode::Presigned => Signer { credentials: Some(&credentials), keys: None },
        LinkMode::Sealed => Signer { credentials: None, keys: Some(&keys) },
    };
    let request = LinkRequest { key: KEY.into(), expires_in: Some(EXPIRES_SECS), ..LinkRequest::default() };
    let mut bytes = 0usize;
    for _ in 0..count {
        bytes += issue(&settings, signer, &request, SystemTime::now())?.url.len();
    }
    println!("{count} {} links, {bytes} bytes of URLs", mode.as_str());
    Ok(())
}
