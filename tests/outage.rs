//! Fail closed: when the ledger or the configuration store is down, no link works (503), and
//! once they are back, links work again. One sequential test: it stops shared stand-ins.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use oncelink::EdgePolicy;
use oncelink::config::LinkMode;
use oncelink::edge::EdgeService;
use oncelink::issue::{IssuerSettings, LinkRequest, Signer, issue};
use oncelink::presign::S3Origin;
use oncelink_integration_tests::{create_ledger_table, ctl, emulators, sdk, unique, viewer_event};
use serde_json::Value;

async fn decide<C: oncelink::config::ConfigSource>(service: &EdgeService<C>, url: String, id: &str) -> Value {
    let event = viewer_event("GET", &url, id, &[]);
    serde_json::to_value(service.handle_event(event, SystemTime::now()).await).unwrap()
}

fn status_of(answer: &Value) -> String {
    answer.get("status").and_then(Value::as_str).unwrap_or("forward").to_owned()
}

#[tokio::test]
async fn stand_ins_down_means_503_and_stale_config_is_served() {
    let env = emulators();
    let ssm = aws_sdk_ssm::Client::new(&sdk(&env.moto).await);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(&env.dynamodb_local).await);
    let table = create_ledger_table(&ddb).await;
    let prefix = format!("/oncelink/{}", unique("outage"));
    ssm.put_parameter()
        .name(format!("{prefix}/table-name"))
        .value(&table)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    // Refresh every second so the test sees a refresh fail.
    let service = EdgeService::with_clients(ssm.clone(), ddb.clone(), prefix.clone(), EdgePolicy::default(), Some(Duration::from_secs(1)));
    let cold = EdgeService::with_clients(ssm, ddb, prefix, EdgePolicy::default(), None);
    let issuer = IssuerSettings {
        origin: S3Origin { bucket: env.s3_bucket.clone(), region: "us-east-1".into(), endpoint: Some(env.s3.clone()) },
        cdn: "cdn.oncelink.test".into(),
        default_expires: Duration::from_secs(300),
        max_expires: Duration::from_secs(3600),
        key_prefix: String::new(),
        cors_origins: vec![],
        mode: LinkMode::Presigned,
    };
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let new_link = || {
        issue(
            &issuer,
            Signer { credentials: Some(&credentials), keys: None },
            &LinkRequest { key: unique("k"), ..Default::default() },
            SystemTime::now(),
        )
        .unwrap()
        .url
    };

    assert_eq!(status_of(&decide(&service, new_link(), "a").await), "forward");

    // SSM (moto) down: the warm service serves its last good configuration...
    ctl("stop", "moto");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let warm = decide(&service, new_link(), "b").await;
    // ...while a cold one (never loaded) fails closed.
    let cold_answer = decide(&cold, new_link(), "c").await;
    ctl("start", "moto");
    assert_eq!(status_of(&warm), "forward", "{warm}");
    assert_eq!(status_of(&cold_answer), "503", "{cold_answer}");
    assert!(cold_answer["body"].as_str().unwrap().contains("config_unavailable"));

    // Ledger (DynamoDB Local) down: fail closed.
    ctl("stop", "ddb");
    let down = decide(&service, new_link(), "d").await;
    ctl("start", "ddb");
    assert_eq!(status_of(&down), "503", "{down}");
    assert!(down["body"].as_str().unwrap().contains("ledger_unavailable"));
    // An expired link is still a 403 while the ledger is down: the pure checks come first.
}
