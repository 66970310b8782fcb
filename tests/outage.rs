//! Fail closed: when the ledger or the configuration store is down, no link works (503), and
//! once they are back, links work again. One sequential test: it stops shared stand-ins.

use std::time::Duration;

use oncelink::edge::AwsEdge;
use oncelink_integration_tests::{Deployment, answer, ctl, emulators, new_presigned_link, refusal, viewer_event};
use serde_json::Value;

async fn decide(service: &AwsEdge, url: String, id: &str) -> Value {
    answer(service, viewer_event("GET", &url, id, &[])).await
}

fn status_of(answer: &Value) -> String {
    refusal(answer).0
}

#[tokio::test]
async fn stand_ins_down_means_503_and_stale_config_is_served() {
    let deployment = Deployment::new(&emulators().dynamodb_local, true).await;
    // Refresh every second so the test sees a refresh fail.
    let service = deployment.edge(Some(Duration::from_secs(1)));
    let cold = deployment.edge(None);
    assert_eq!(status_of(&decide(&service, new_presigned_link(), "a").await), "forward");

    // SSM (moto) down: the warm service serves its last good configuration...
    ctl("stop", "moto");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let warm = decide(&service, new_presigned_link(), "b").await;
    // ...while a cold one (never loaded) fails closed.
    let cold_answer = decide(&cold, new_presigned_link(), "c").await;
    ctl("start", "moto");
    assert_eq!(status_of(&warm), "forward", "{warm}");
    assert_eq!(status_of(&cold_answer), "503", "{cold_answer}");
    assert!(cold_answer["body"].as_str().unwrap().contains("config_unavailable"));

    // Ledger (DynamoDB Local) down: fail closed.
    ctl("stop", "ddb");
    let down = decide(&service, new_presigned_link(), "d").await;
    ctl("start", "ddb");
    assert_eq!(status_of(&down), "503", "{down}");
    assert!(down["body"].as_str().unwrap().contains("ledger_unavailable"));
    // An expired link is still a 403 while the ledger is down: the pure checks come first.
}
