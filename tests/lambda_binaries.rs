//! The real Lambda binaries (`issue-url`, `viewer-request`), run against a Runtime API
//! stand-in, with SSM on moto and the ledger on DynamoDB Local: configuration from the
//! environment and SSM, wiring, answers in the Lambda shapes.

use oncelink::issue::{LinkRequest, Signer};
use oncelink::link::LinkMode;
use oncelink::sealed::KeySet;
use oncelink_integration_tests::runtime_api::{RuntimeApi, function_command, workspace_binary};
use oncelink_integration_tests::{Deployment, Emulators, emulators, issuer_settings, unique, viewer_event};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// Starts a function binary against a fresh Runtime API.
async fn start(binary: &str, env: &[(&str, String)]) -> (RuntimeApi, Child) {
    start_with(binary, env, Stdio::inherit()).await
}

/// Same, with the function's stdout (logs and EMF metric lines) going to `stdout`.
async fn start_with(binary: &str, env: &[(&str, String)], stdout: Stdio) -> (RuntimeApi, Child) {
    let (api, addr) = RuntimeApi::start().await;
    let mut command = function_command(&workspace_binary(binary), addr, binary);
    command.stdout(stdout);
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

/// A sealed deployment on the stand-ins and both functions started on it: (issue-url,
/// viewer-request, the processes to keep alive).
async fn sealed_functions() -> (RuntimeApi, RuntimeApi, [Child; 2]) {
    let e = emulators();
    let prefix = deployment(&e, true).await;
    let issuer_env = [
        ("ONCELINK_BUCKET", "media".to_owned()),
        ("ONCELINK_CDN_DOMAIN", "files.example.com".to_owned()),
        ("ONCELINK_SSM_PREFIX", prefix.clone()),
    ];
    let (issuer, issuer_process) = start("issue-url", &issuer_env).await;
    let (edge, edge_process) = start("viewer-request", &[("ONCELINK_SSM_PREFIX", prefix)]).await;
    (issuer, edge, [issuer_process, edge_process])
}

fn body_of(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn sealed_deployment_issue_then_view_then_revoke() {
    let (issuer, edge, _processes) = sealed_functions().await;

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

/// The origin-response trigger, through the real binary: an origin refusal gives the use back,
/// once per CloudFront request id; the origin's response goes back unchanged.
#[tokio::test]
async fn an_origin_refusal_gives_the_use_back_through_the_real_binary() {
    let (issuer, edge, _processes) = sealed_functions().await;
    let link = body_of(&issuer.invoke("i1", api_event("POST", "/links", Some(r#"{"key":"not/there-yet.pdf"}"#))).await.unwrap());
    let url = link["url"].as_str().unwrap();

    let forwarded = edge.invoke("e1", viewer_event("GET", url, "cf-404", &[])).await.unwrap();
    assert_eq!(
        forwarded["headers"]["x-oncelink-link"][0]["value"], link["link_id"],
        "the link is named for the origin-response trigger: {forwarded}"
    );
    let origin_response = |status: &str| {
        json!({"Records": [{"cf": {
            "config": {"distributionDomainName": "d.cloudfront.net", "distributionId": "E", "eventType": "origin-response", "requestId": "cf-404"},
            "request": forwarded.clone(),
            "response": {"status": status, "statusDescription": "Not Found", "headers": {"content-type": [{"key": "Content-Type", "value": "application/xml"}]}}
        }}]})
    };
    let response = edge.invoke("e2", origin_response("404")).await.unwrap();
    assert_eq!(
        (response["status"].as_str(), response["headers"]["content-type"][0]["value"].as_str()),
        (Some("404"), Some("application/xml"))
    );
    // A retried trigger gives nothing back twice: the link has exactly its one use again.
    edge.invoke("e3", origin_response("404")).await.unwrap();
    let again = edge.invoke("e4", viewer_event("GET", url, "cf-200", &[])).await.unwrap();
    assert_eq!(again["uri"], "/not/there-yet.pdf", "the use came back: {again}");
    let spent = edge.invoke("e5", viewer_event("GET", url, "cf-third", &[])).await.unwrap();
    assert_eq!(body_of(&spent)["error"], "link_already_used");
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

/// The EMF metrics line (a JSON object with `_aws`) that carries `request_id`, read from the
/// function's stdout; other lines (JSON logs) are skipped.
async fn emf_line_for(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>, request_id: &str) -> Value {
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read the function's stdout") {
            let Ok(doc) = serde_json::from_str::<Value>(&line) else { continue };
            if doc.get("_aws").is_some() && doc["request_id"] == request_id {
                return doc;
            }
        }
        panic!("the function's stdout ended without an EMF line for {request_id}");
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.expect("an EMF line within 20 s")
}

/// Names of the metrics an EMF line declares, each checked to be a number member of the line.
fn declared_metrics(doc: &Value) -> Vec<String> {
    let aws = &doc["_aws"];
    assert!(aws["Timestamp"].as_u64().is_some_and(|ms| ms > 1_600_000_000_000), "Timestamp in ms: {doc}");
    let mut names = Vec::new();
    for directive in aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics") {
        assert_eq!(directive["Namespace"], "oncelink");
        for dimension in directive["Dimensions"][0].as_array().unwrap() {
            assert!(doc[dimension.as_str().unwrap()].is_string(), "dimension {dimension} present: {doc}");
        }
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap().to_owned();
            assert!(doc[&name].is_number(), "metric {name} present: {doc}");
            names.push(name);
        }
    }
    names
}

/// The real viewer-request binary writes one EMF line per decision on stdout, with CloudFront's
/// request id as a member, the decision and reason as dimensions, and no part of the link.
#[tokio::test]
async fn viewer_request_emits_one_emf_line_per_decision() {
    let e = emulators();
    let deployment = Deployment::new(&e.dynamodb_local, true).await;
    let keys = KeySet::generate("k1").unwrap();
    deployment.seal(&keys).await;
    let settings = issuer_settings(LinkMode::Sealed, "cdn.example.com");
    let request = LinkRequest { key: "obs/a.txt".into(), ..LinkRequest::default() };
    let link = oncelink::issue::issue(&settings, Signer { credentials: None, keys: Some(&keys) }, &request, SystemTime::now()).unwrap();
    let token = link.url.split_once('?').unwrap().1.to_owned();

    let (edge, mut process) = start_with("viewer-request", &[("ONCELINK_SSM_PREFIX", deployment.prefix.clone())], Stdio::piped()).await;
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();

    let answer = edge.invoke("e1", viewer_event("GET", &link.url, "cf-obs-forward", &[])).await.unwrap();
    assert_eq!(answer["uri"], "/obs/a.txt", "{answer}");
    let forward = emf_line_for(&mut lines, "cf-obs-forward").await;
    assert_eq!(
        (forward["Function"].as_str(), forward["Decision"].as_str(), forward["Reason"].as_str()),
        (Some("viewer-request"), Some("forward"), Some("ok"))
    );
    assert_eq!(declared_metrics(&forward), ["Decisions", "DecisionLatency"]);
    assert!(forward["DecisionLatency"].as_f64().unwrap() > 0.0, "{forward}");

    let answer = edge.invoke("e2", viewer_event("GET", &link.url, "cf-obs-again", &[])).await.unwrap();
    assert_eq!(answer["status"], "403", "{answer}");
    let denied = emf_line_for(&mut lines, "cf-obs-again").await;
    assert_eq!((denied["Decision"].as_str(), denied["Reason"].as_str()), (Some("deny"), Some("link_already_used")));
    assert_eq!(declared_metrics(&denied), ["Decisions", "DecisionLatency"]);
    for line in [&forward, &denied] {
        let text = line.to_string();
        assert!(!text.contains(&token) && !text.contains("obs/a.txt"), "no link or path in the metrics line: {text}");
    }
}

/// A configuration outage is counted as such: `ConfigErrors` next to the 503 denial.
#[tokio::test]
async fn viewer_request_counts_configuration_errors() {
    let prefix = format!("/oncelink/{}", unique("absent"));
    let (edge, mut process) = start_with("viewer-request", &[("ONCELINK_SSM_PREFIX", prefix)], Stdio::piped()).await;
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    let link = "https://cdn.example.com/k?AQJrMQEAAAAAav2GwAABAAAAAAABAgMEBQYHCAkKCwwNDg8AAHfbZZpJZ4GLsh1tKVUvtIsAuBkacAXTN18iPMtLbnsu";
    let answer = edge.invoke("e1", viewer_event("GET", link, "cf-obs-503", &[])).await.unwrap();
    assert_eq!(answer["status"], "503", "{answer}");
    let line = emf_line_for(&mut lines, "cf-obs-503").await;
    assert_eq!(line["Reason"], "config_unavailable");
    assert_eq!(declared_metrics(&line), ["Decisions", "DecisionLatency", "ConfigErrors"]);
    assert_eq!(line["ConfigErrors"], 1.0);
}
