//! Shared helpers for the integration tests: where the stand-ins are, clients for them,
//! unique names, CloudFront events. The tests need the emulators that
//! `tests/with-emulators.sh` starts; without them they fail loudly rather than pass silently.

pub mod fault_proxy;
pub mod runtime_api;

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
pub use oncelink_testkit::{create_ledger_table, ctl, sdk, unique};
use serde_json::{Value, json};

/// Endpoints of the running stand-ins.
#[derive(Debug, Clone)]
pub struct Emulators {
    pub moto: String,
    pub dynamodb_local: String,
    pub s3: String,
    pub s3_bucket: String,
    pub s3_access_key: String,
    pub s3_secret_key: String,
    /// PostgreSQL: `postgres://oncelink@127.0.0.1:5433/oncelink`.
    pub postgres: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run these tests through `bash tests/with-emulators.sh cargo test …`"))
}

pub fn emulators() -> Emulators {
    Emulators {
        moto: var("ONCELINK_TEST_MOTO_URL"),
        dynamodb_local: var("ONCELINK_TEST_DDB_LOCAL_URL"),
        s3: var("ONCELINK_TEST_S3_URL"),
        s3_bucket: var("ONCELINK_TEST_S3_BUCKET"),
        s3_access_key: var("ONCELINK_TEST_S3_ACCESS_KEY"),
        s3_secret_key: var("ONCELINK_TEST_S3_SECRET_KEY"),
        postgres: var("ONCELINK_TEST_POSTGRES_URL"),
    }
}

/// Number of items in a table (a full scan; test tables are tiny).
pub async fn item_count(client: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    client.scan().table_name(table).send().await.expect("scan").items().len()
}

/// A Lambda@Edge viewer-request event for `url` (scheme://host/path?query).
pub fn viewer_event(method: &str, url: &str, request_id: &str, extra_headers: &[(&str, &str)]) -> Value {
    let request = oncelink::ViewerRequest::from_url(method, url, request_id);
    let (host, uri, querystring) = (request.header("host").unwrap_or(""), request.uri.as_str(), request.querystring.as_str());
    let mut headers = serde_json::Map::new();
    headers.insert("host".into(), json!([{"key": "Host", "value": host}]));
    headers.insert("user-agent".into(), json!([{"key": "User-Agent", "value": "integration-test/1.0"}]));
    for (name, value) in extra_headers {
        headers.insert(name.to_ascii_lowercase(), json!([{"key": name, "value": value}]));
    }
    json!({"Records": [{"cf": {
        "config": {"distributionDomainName": host, "distributionId": "EDFDVBD6EXAMPLE", "eventType": "viewer-request", "requestId": request_id},
        "request": {"clientIp": "203.0.113.178", "headers": headers, "method": method, "querystring": querystring, "uri": uri}
    }}]})
}

/// The same URL on another `scheme://host[:port]` base: what CloudFront does when it sends the
/// request to the origin.
pub fn swap_host(url: &str, base: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = &rest[rest.find('/').unwrap_or(rest.len())..];
    format!("{}{path}", base.trim_end_matches('/'))
}

/// One deployment on the stand-ins: SSM on moto, a fresh ledger table on `ledger_endpoint`,
/// parameters under a fresh prefix.
pub struct Deployment {
    pub ssm: aws_sdk_ssm::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub prefix: String,
}

impl Deployment {
    /// Creates the table; writes `<prefix>/table-name` unless `with_table_name` is false.
    pub async fn new(ledger_endpoint: &str, with_table_name: bool) -> Self {
        let env = emulators();
        let ssm = aws_sdk_ssm::Client::new(&sdk(&env.moto).await);
        let ddb = aws_sdk_dynamodb::Client::new(&sdk(ledger_endpoint).await);
        let table = create_ledger_table(&ddb).await;
        let deployment = Self { ssm, ddb, table, prefix: format!("/oncelink/{}", unique("deploy")) };
        if with_table_name {
            deployment.put("table-name", &deployment.table, aws_sdk_ssm::types::ParameterType::String).await;
        }
        deployment
    }

    /// Writes (or overwrites) `<prefix>/<name>`.
    pub async fn put(&self, name: &str, value: &str, kind: aws_sdk_ssm::types::ParameterType) {
        self.ssm.put_parameter().name(format!("{}/{name}", self.prefix)).value(value).r#type(kind).overwrite(true).send().await.unwrap();
    }

    /// Makes it a sealed deployment with `keys`.
    pub async fn seal(&self, keys: &oncelink::sealed::KeySet) {
        use aws_sdk_ssm::types::ParameterType;
        self.put("edge-config", r#"{"mode":"sealed"}"#, ParameterType::String).await;
        self.put("keys", &keys.to_json(), ParameterType::SecureString).await;
    }

    /// A cold edge (the first request reads SSM), without periodic refresh unless asked.
    pub fn edge(&self, refresh: Option<Duration>) -> oncelink::edge::AwsEdge {
        oncelink::edge::EdgeService::with_clients(
            self.ssm.clone(),
            self.ddb.clone(),
            self.prefix.clone(),
            oncelink::EdgePolicy::default(),
            refresh,
        )
    }

    pub async fn items(&self) -> usize {
        item_count(&self.ddb, &self.table).await
    }
}

/// Issuer settings for links to s3s-fs behind `cdn`.
pub fn issuer_settings(mode: oncelink::link::LinkMode, cdn: &str) -> oncelink::issue::IssuerSettings {
    let env = emulators();
    oncelink::issue::IssuerSettings {
        origin: oncelink::presign::S3Origin { bucket: env.s3_bucket, region: "us-east-1".into(), endpoint: Some(env.s3) },
        cdn: cdn.into(),
        default_expires: Duration::from_secs(300),
        max_expires: Duration::from_secs(3600),
        key_prefix: String::new(),
        cors_origins: vec![],
        mode,
    }
}

/// A fresh presigned one-time GET link (new key each call) on `cdn.oncelink.test`, signed with
/// made-up credentials: for tests of the edge's decision, which never fetch the object.
pub fn new_presigned_link() -> String {
    let issuer = issuer_settings(oncelink::link::LinkMode::Presigned, "cdn.oncelink.test");
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let request = oncelink::issue::LinkRequest { key: unique("k"), ..Default::default() };
    let signer = oncelink::issue::Signer { credentials: Some(&credentials), keys: None };
    oncelink::issue::issue(&issuer, signer, &request, SystemTime::now()).expect("issue a presigned link").url
}

/// Writes an object straight into s3s-fs's data directory.
pub fn put_object(key: &str, bytes: &[u8]) {
    let dir = std::env::var("ONCELINK_TEST_S3_DATA_DIR").expect("ONCELINK_TEST_S3_DATA_DIR");
    let path = std::path::Path::new(&dir).join(emulators().s3_bucket).join(key);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The edge's answer to `event`, as the JSON CloudFront receives.
pub async fn answer(edge: &oncelink::edge::AwsEdge, event: Value) -> Value {
    serde_json::to_value(edge.handle_event(event, SystemTime::now()).await.answer).expect("an answer serialises")
}

/// Did the edge let the request continue (CloudFront gets the request back, not a response)?
pub fn forwarded(answer: &Value) -> bool {
    answer.get("status").is_none() && answer.get("uri").is_some()
}

/// A generated answer's status and error code (`forward` / `-` when the request continued).
pub fn refusal(answer: &Value) -> (String, String) {
    if forwarded(answer) {
        return ("forward".into(), "-".into());
    }
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("{}")).unwrap_or_default();
    (answer["status"].as_str().unwrap_or("?").to_owned(), body["error"].as_str().unwrap_or("?").to_owned())
}
