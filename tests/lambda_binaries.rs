//! The real Lambda binaries (`issue-url`, `viewer-request`), run against a Runtime API
//! stand-in, with SSM on moto and the ledger on DynamoDB Local: configuration from the
//! environment and SSM, wiring, answers in the Lambda shapes.

use oncelink::sealed::KeySet;
use oncelink_integration_tests::runtime_api::{RuntimeApi, workspace_binary};
use oncelink_integration_tests::{Deployment, Emulators, emulators, unique, viewer_event};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Starts a function binary against a fresh Runtime API.
async fn start(binary: &str, env: &[(&str, String)]) -> (RuntimeApi, Child) {
    let (api, addr) = RuntimeApi::start().await;
    let e = emulators();
    let mut command = Command::new(workspace_binary(binary));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", binary)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_ENDPOINT_URL_SSM", &e.moto)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &e.dynamodb_local)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    (api, command.spawn().expect("spawn the function binary"))
}

/// SSM parameters for a deployment; returns its prefix.
async fn deployment(e: &Emulators, sealed: bool) -> String {
    let deployment = Deployment::new(&e.dynamodb_local, true).await;
    if sealed {
        deployment.seal(&KeySet::generate("k1").unwrap()).await;
    }
    deployment.prefix
}

/// An API Gateway HTTP API (v2) event.
fn api_event(method: &str, path: &str, body: Option<&str>) -> Value {
    json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "test"},
            "requestId": "id", "routeKey": "$default", "stage": "$default", "time": "22/Nov/2026:12:00:00 +0000", "timeEpoch": 0},
        "body": body, "isBase64Encoded": false
    })
}

fn body_of(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn sealed_deployment_issue_then_view_then_revoke() {
    let e = emulators();
    let prefix = deployment(&e, true).await;
    let issuer_env = [
        ("ONCELINK_BUCKET", "media".to_owned()),
        ("ONCELINK_CDN_DOMAIN", "files.example.com".to_owned()),
        ("ONCELINK_SSM_PREFIX", prefix.clone()),
    ];
    let (issuer, _issuer_process) = start("issue-url", &issuer_env).await;
    let (edge, _edge_process) = start("viewer-request", &[("ONCELINK_SSM_PREFIX", prefix.clone())]).await;

    let issued = issuer.invoke("i1", api_event("POST", "/links", Some(r#"{"key":"a/b.txt","max_uses":1}"#))).await.unwrap();
    assert_eq!(issued["statusCode"], 201, "{issued}");
    let link = body_of(&issued);
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with("https://files.example.com/a/b.txt?"));

    let first = edge.invoke("e1", viewer_event("GET", url, "cf-1", &[])).await.unwrap();
    assert_eq!(first["uri"], "/a/b.txt", "{first}");
    assert_eq!(first["querystring"], "", "the token is stripped before the origin");
    let second = edge.invoke("e2", viewer_event("GET", url, "cf-2", &[])).await.unwrap();
    assert_eq!(second["status"], "403");
    assert_eq!(body_of(&second)["error"], "link_already_used");

    let other = body_of(&issuer.invoke("i2", api_event("POST", "/links", Some(r#"{"key":"a/c.txt"}"#))).await.unwrap());
    let revoked = issuer.invoke("i3", api_event("DELETE", &format!("/links/{}", other["link_id"].as_str().unwrap()), None)).await.unwrap();
    assert_eq!(revoked["statusCode"], 200, "{revoked}");
    let denied = edge.invoke("e3", viewer_event("GET", other["url"].as_str().unwrap(), "cf-3", &[])).await.unwrap();
    assert_eq!(body_of(&denied)["error"], "link_revoked");
}

#[tokio::test]
async fn presigned_deployment_and_failures_become_answers() {
    let e = emulators();
    let prefix = deployment(&e, false).await;
    let issuer_env = [
        ("ONCELINK_MODE", "presigned".to_owned()),
        ("ONCELINK_BUCKET", e.s3_bucket.clone()),
        ("ONCELINK_ORIGIN_ENDPOINT", e.s3.clone()),
        ("ONCELINK_CDN_DOMAIN", "cdn.example.com".to_owned()),
    ];
    let (issuer, _p1) = start("issue-url", &issuer_env).await;
    // Derived prefix: the function name with the Lambda@Edge replica prefix stripped.
    let function = prefix.trim_start_matches("/oncelink/").to_owned();
    let (edge, mut edge_process) = start("viewer-request", &[("AWS_LAMBDA_FUNCTION_NAME", format!("us-east-1.{function}"))]).await;

    let issued = issuer.invoke("i1", api_event("POST", "/links", Some(r#"{"key":"k.txt"}"#))).await.unwrap();
    assert_eq!(issued["statusCode"], 201, "{issued}");
    let url = body_of(&issued)["url"].as_str().unwrap().to_owned();
    assert!(url.contains("X-Amz-Signature="));
    let first = edge.invoke("e1", viewer_event("GET", &url, "cf-1", &[])).await.unwrap();
    assert_eq!(first["querystring"], url.split_once('?').unwrap().1, "presigned: the query goes to S3 untouched");
    assert_eq!(body_of(&edge.invoke("e2", viewer_event("GET", &url, "cf-2", &[])).await.unwrap())["error"], "link_already_used");

    // Garbage in: an answer, never a crash.
    let garbage = edge.invoke("e3", json!({"hello": "world"})).await.unwrap();
    assert_eq!(garbage["status"], "400");
    let bad = issuer.invoke("i2", api_event("POST", "/links", Some("{not json"))).await.unwrap();
    assert_eq!(bad["statusCode"], 400);
    assert!(edge_process.try_wait().unwrap().is_none(), "the function is still running");
}

#[tokio::test]
async fn missing_ssm_configuration_is_503_and_bad_settings_fail_init() {
    let (edge, _p) = start("viewer-request", &[("ONCELINK_SSM_PREFIX", format!("/oncelink/{}", unique("absent")))]).await;
    let link = "https://cdn.example.com/k?AQJrMQEAAAAAav2GwAABAAAAAAABAgMEBQYHCAkKCwwNDg8AAHfbZZpJZ4GLsh1tKVUvtIsAuBkacAXTN18iPMtLbnsu";
    let answer = edge.invoke("e1", viewer_event("GET", link, "cf", &[])).await.unwrap();
    assert_eq!(answer["status"], "503", "{answer}");
    assert_eq!(body_of(&answer)["error"], "config_unavailable");

    // issue-url without a bucket cannot start: it reports an init error and exits non-zero.
    let (_api, mut issuer) =
        start("issue-url", &[("ONCELINK_MODE", "presigned".to_owned()), ("ONCELINK_CDN_DOMAIN", "cdn".to_owned())]).await;
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), issuer.wait()).await.expect("exits").unwrap();
    assert!(!status.success());
}
