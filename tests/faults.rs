//! Fail closed under faults: a fault-injecting proxy sits between the validator and its
//! stand-ins (DynamoDB Local for the ledger, moto for SSM), and the validator runs with the very
//! SDK timeouts the viewer-request function uses (`oncelink::edge::sdk_timeouts`).
//!
//! Every fault — refused connections, a hang-up mid-exchange, an answer later than the timeout,
//! throttling, 5xx — must be answered 503 (never 200) within the time the edge shim waits, and
//! the first request after recovery must succeed. A write whose answer was lost is retried by
//! the SDK and must grant exactly one use.

use std::time::{Duration, Instant, SystemTime};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use oncelink::edge::AwsEdge;
use oncelink_integration_tests::fault_proxy::{
    DYNAMODB_INTERNAL_ERROR, DYNAMODB_THROTTLED, Fault, FaultProxy, SERVICE_UNAVAILABLE, SSM_THROTTLED,
};
use oncelink_integration_tests::{Deployment, emulators, new_presigned_link, unique, viewer_event};
use serde_json::Value;

/// The edge shim gives the regional function about 3 s; a fault must be answered before that.
const SHIM_WAIT: Duration = Duration::from_secs(3);

/// SDK configuration as the viewer-request function builds it (timeouts, retries), with test
/// credentials and the proxy as endpoint.
async fn production_sdk(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "fault-tests"))
        .timeout_config(oncelink::edge::sdk_timeouts())
        .load()
        .await
}

/// A deployment on the stand-ins, and proxies in front of both.
struct Rig {
    deployment: Deployment,
    ssm: FaultProxy,
    ledger: FaultProxy,
}

impl Rig {
    async fn new() -> Self {
        let env = emulators();
        let deployment = Deployment::new(&env.dynamodb_local, true).await;
        Self { deployment, ssm: FaultProxy::start(&env.moto).await, ledger: FaultProxy::start(&env.dynamodb_local).await }
    }

    /// A cold validator (its first request reads SSM) talking to the stand-ins through the proxies.
    async fn validator(&self) -> AwsEdge {
        AwsEdge::with_clients(
            aws_sdk_ssm::Client::new(&production_sdk(&self.ssm.url()).await),
            aws_sdk_dynamodb::Client::new(&production_sdk(&self.ledger.url()).await),
            self.deployment.prefix.clone(),
            oncelink::EdgePolicy::default(),
            None,
        )
    }
}

/// Runs one viewer request; returns its status (200 for a forward) and how long it took.
async fn use_link(validator: &AwsEdge, url: &str, request_id: &str) -> (u16, Duration) {
    let started = Instant::now();
    let answer =
        serde_json::to_value(validator.handle_event(viewer_event("GET", url, request_id, &[]), SystemTime::now()).await.answer).unwrap();
    let status = match answer.get("status").and_then(Value::as_str) {
        None => 200, // the request goes on to the origin
        Some(status) => status.parse().expect("a numeric status"),
    };
    (status, started.elapsed())
}

/// Faults that every stand-in gets.
fn network_faults() -> Vec<(&'static str, Fault)> {
    vec![
        ("connection refused", Fault::Refuse),
        ("hang-up mid-exchange", Fault::Hangup),
        ("answer after the timeout", Fault::Delay(Duration::from_secs(3))),
        ("503 service unavailable", SERVICE_UNAVAILABLE),
    ]
}

#[tokio::test]
async fn ledger_faults_are_503_within_the_shim_wait_and_recovery_is_immediate() {
    let rig = Rig::new().await;
    let validator = rig.validator().await;
    // Warm: configuration cached, so only the ledger is in play below.
    assert_eq!(use_link(&validator, &new_presigned_link(), &unique("warm")).await.0, 200);

    let mut faults = network_faults();
    faults.push(("throttled (400 ProvisionedThroughputExceeded)", DYNAMODB_THROTTLED));
    faults.push(("500 internal error", DYNAMODB_INTERNAL_ERROR));
    for (name, fault) in faults {
        rig.ledger.set(fault);
        let (status, took) = use_link(&validator, &new_presigned_link(), &unique("faulty")).await;
        assert_eq!(status, 503, "ledger fault {name:?}: must fail closed");
        assert!(took < SHIM_WAIT, "ledger fault {name:?}: answered after {took:?}");
        rig.ledger.set(Fault::None);
        let (status, _) = use_link(&validator, &new_presigned_link(), &unique("after")).await;
        assert_eq!(status, 200, "first request after the ledger fault {name:?} recovered");
    }
}

#[tokio::test]
async fn config_faults_on_a_cold_validator_are_503_and_not_cached() {
    let rig = Rig::new().await;
    let mut faults = network_faults();
    faults.push(("throttled (400 ThrottlingException)", SSM_THROTTLED));
    for (name, fault) in faults {
        let validator = rig.validator().await; // cold: must read SSM
        rig.ssm.set(fault);
        let before = rig.ledger.seen();
        let (status, took) = use_link(&validator, &new_presigned_link(), &unique("faulty")).await;
        assert_eq!(status, 503, "SSM fault {name:?}: must fail closed");
        assert!(took < SHIM_WAIT, "SSM fault {name:?}: answered after {took:?}");
        assert_eq!(rig.ledger.seen(), before, "SSM fault {name:?}: the ledger was touched without a configuration");
        rig.ssm.set(Fault::None);
        // The failure was not cached: the next request loads the configuration and goes through.
        let (status, _) = use_link(&validator, &new_presigned_link(), &unique("after")).await;
        assert_eq!(status, 200, "first request after the SSM fault {name:?} recovered");
    }
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_retried_and_grants_exactly_one_use() {
    let rig = Rig::new().await;
    let validator = rig.validator().await;
    assert_eq!(use_link(&validator, &new_presigned_link(), &unique("warm")).await.0, 200);
    let items_before = rig.deployment.items().await;

    let url = new_presigned_link();
    let forwarded_before = rig.ledger.forwarded();
    // The PutItem reaches DynamoDB Local and succeeds; its answer never comes back.
    rig.ledger.set_for_next(1, Fault::LoseAnswer);
    let (status, _) = use_link(&validator, &url, "viewer-request-1").await;
    assert_eq!(status, 200, "the SDK's retry must be recognised as the same request (its id is in the item)");
    assert_eq!(rig.ledger.forwarded() - forwarded_before, 2, "the write and its retry both reached the ledger");
    assert_eq!(rig.deployment.items().await, items_before + 1, "one item for the link");

    // CloudFront redelivering the same viewer request is the same use; anyone else is refused.
    assert_eq!(use_link(&validator, &url, "viewer-request-1").await.0, 200);
    assert_eq!(use_link(&validator, &url, "viewer-request-2").await.0, 403);
}
