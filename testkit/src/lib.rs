//! What every oncelink test suite shares, written once:
//!
//! * claims and ledger keys ([`claim`], [`key`]) and unique names ([`unique`]);
//! * SDK configuration for the local stand-ins ([`sdk`]) and a fresh ledger table
//!   ([`create_ledger_table`]);
//! * the verdicts tests assert on ([`forwarded`], [`denied`]);
//! * the ledger contract ([`ledger_contract`]): the same test functions for every [`Ledger`]
//!   adapter, instantiated with one line per adapter by [`ledger_contract!`].
//!
//! [`Ledger`]: oncelink::ledger::Ledger

pub mod ledger_contract;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use oncelink::ledger::{ClientHint, LedgerKey, UseClaim};
use oncelink::link::LinkId;
use oncelink::{Decision, DenyReason};

/// How long the records of [`claim`]s are kept.
pub const RETENTION: Duration = Duration::from_secs(3600);

/// The ledger key of a made-up link named `name`.
pub fn key(name: &str) -> LedgerKey {
    LedgerKey::for_link(&LinkId::for_nonce(name.as_bytes()))
}

/// A claim by request `request_id` at `at` on a link granting `max_uses`, first used by client
/// `fp-1` (a curl in 203.0.113.0/24), kept for [`RETENTION`].
pub fn claim(key: &LedgerKey, request_id: &str, at: SystemTime, max_uses: u32) -> UseClaim {
    UseClaim {
        key: key.clone(),
        request_id: request_id.into(),
        at,
        retain_until: at + RETENTION,
        max_uses,
        fingerprint: Some("fp-1".into()),
        hold_until: None,
        client: client_hint(),
    }
}

/// The client hint of [`claim`]s.
pub fn client_hint() -> ClientHint {
    ClientHint { network: "203.0.113.0/24".into(), agent: "curl".into() }
}

/// The same claim, held until `until` instead of spent at once (the gateway's way).
pub fn held(claim: UseClaim, until: SystemTime) -> UseClaim {
    UseClaim { hold_until: Some(until), ..claim }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// SDK configuration for one local stand-in: static test credentials, short timeouts.
pub async fn sdk(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "oncelink-tests"))
        .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(2)).operation_timeout(Duration::from_secs(10)).build())
        .load()
        .await
}

/// Creates a ledger table (`pk` string key, on demand, as the infrastructure creates it) and
/// returns its name.
pub async fn create_ledger_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = unique("ledger");
    let attribute = AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build();
    let key = KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build();
    client
        .create_table()
        .table_name(&name)
        .attribute_definitions(attribute.expect("a valid attribute definition"))
        .key_schema(key.expect("a valid key schema"))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("create the ledger table");
    name
}

/// Stops or starts a stand-in (`ddb`, `moto`, `s3`, `pg`) through the harness's ctl.sh
/// (`ONCELINK_TEST_CTL`, set by tests/with-emulators.sh); panics if that fails.
pub fn ctl(action: &str, which: &str) {
    let script = std::env::var("ONCELINK_TEST_CTL").expect("ONCELINK_TEST_CTL (run through tests/with-emulators.sh)");
    let status = std::process::Command::new("bash").arg(script).arg(action).arg(which).status().expect("run ctl.sh");
    assert!(status.success(), "ctl.sh {action} {which} failed");
}

/// Did the decision let the request through?
pub fn forwarded(decision: &Decision) -> bool {
    matches!(decision, Decision::Forward(_))
}

/// Why the decision refused; panics if it did not.
pub fn denied(decision: Decision) -> DenyReason {
    match decision {
        Decision::Deny(reason) => reason,
        other => panic!("expected a denial, got {other:?}"),
    }
}
