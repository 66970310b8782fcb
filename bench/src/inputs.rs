//! The one set of inputs every issuer gets (ours and the peers'), so that every URL signs the
//! same bytes: same bucket, key, region, expiry and static credentials.

use std::time::Duration;

use aws_credential_types::Credentials;
use oncelink::issue::IssuerSettings;
use oncelink::link::LinkMode;
use oncelink::presign::S3Origin;

pub const BUCKET: &str = "bench-bucket";
pub const KEY: &str = "reports/2026/file-0001.pdf";
pub const REGION: &str = "eu-west-1";
pub const EXPIRES_SECS: u64 = 900;
/// AWS's documentation example key pair: static, so no credential provider runs per URL.
pub const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// The CDN our links point at (the peers produce S3 URLs; swapping the host is part of our work).
pub const CDN: &str = "files.example.com";

/// The same inputs as command-line arguments for the peer scripts in `bench/peers/`.
pub fn peer_args() -> Vec<String> {
    [BUCKET, KEY, REGION, &EXPIRES_SECS.to_string(), ACCESS_KEY_ID, SECRET_ACCESS_KEY].iter().map(|s| s.to_string()).collect()
}

/// The static credentials every issuer signs with.
pub fn credentials() -> Credentials {
    Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "bench")
}

/// Our issuer, configured for these inputs, in `mode`.
pub fn issuer_settings(mode: LinkMode) -> IssuerSettings {
    IssuerSettings {
        origin: S3Origin { bucket: BUCKET.into(), region: REGION.into(), endpoint: None },
        cdn: CDN.into(),
        default_expires: Duration::from_secs(EXPIRES_SECS),
        max_expires: Duration::from_secs(604_800),
        key_prefix: String::new(),
        cors_origins: vec![],
        mode,
    }
}
