//! End to end: a link issued by the issue API, decided by the viewer-request service (SSM on
//! moto, ledger on DynamoDB Local or moto), then sent to s3s-fs — which really verifies SigV4 —
//! with the CDN host swapped back to the origin, as CloudFront does.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use oncelink::cloudfront::Answer;
use oncelink::edge::AwsEdge;
use oncelink::issue::{IssuedLink, IssuerSettings, LinkRequest, Signer, issue};
use oncelink::link::LinkMode;
use oncelink_integration_tests::{
    Deployment, Emulators, answer, emulators, forwarded, issuer_settings, put_object, refusal, swap_host, unique, viewer_event,
};
use serde_json::{Value, json};

const CDN: &str = "cdn.oncelink.test";

struct Fixture {
    env: Emulators,
    deployment: Deployment,
    service: AwsEdge,
    issuer: IssuerSettings,
    credentials: Credentials,
    http: reqwest::Client,
}

impl Fixture {
    /// SSM on moto; the ledger on `ledger_endpoint`.
    async fn new(ledger_endpoint: &str) -> Self {
        let env = emulators();
        let deployment = Deployment::new(ledger_endpoint, true).await;
        let service = deployment.edge(None);
        let credentials = Credentials::new(&env.s3_access_key, &env.s3_secret_key, None, None, "test");
        Self { deployment, service, issuer: issuer_settings(LinkMode::Presigned, CDN), credentials, http: reqwest::Client::new(), env }
    }

    fn link(&self, method: &str, key: &str, expires_in: Option<u64>, content_type: Option<&str>) -> IssuedLink {
        let request = LinkRequest {
            key: key.into(),
            method: Some(method.into()),
            expires_in,
            content_type: content_type.map(str::to_owned),
            ..Default::default()
        };
        issue(&self.issuer, Signer { credentials: Some(&self.credentials), keys: None }, &request, SystemTime::now()).expect("issue")
    }

    async fn view(&self, method: &str, url: &str, request_id: &str, at: SystemTime) -> Value {
        serde_json::to_value(self.service.handle_event(viewer_event(method, url, request_id, &[]), at).await.answer).unwrap()
    }

    async fn items(&self) -> usize {
        self.deployment.items().await
    }
}

fn denial(answer: &Value) -> (String, String) {
    assert_eq!(answer["headers"]["cache-control"][0]["value"], "no-store", "{answer}");
    refusal(answer)
}

#[tokio::test]
async fn download_once_on_both_ledgers() {
    let env = emulators();
    for ledger in [env.dynamodb_local.clone(), env.moto.clone()] {
        let f = Fixture::new(&ledger).await;
        let key = format!("{}/report 2026 (final).pdf", unique("dl"));
        let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        put_object(&key, &bytes);
        let link = f.link("GET", &key, None, None);
        assert!(link.url.starts_with(&format!("https://{CDN}/")), "{}", link.url);

        let first = f.view("GET", &link.url, "req-1", SystemTime::now()).await;
        assert!(forwarded(&first), "{first}");
        let origin = f.http.get(swap_host(&link.url, &f.env.s3)).send().await.unwrap();
        assert_eq!(origin.status(), 200);
        assert_eq!(origin.bytes().await.unwrap().as_ref(), bytes.as_slice());

        let second = f.view("GET", &link.url, "req-2", SystemTime::now()).await;
        assert_eq!(denial(&second), ("403".into(), "link_already_used".into()));
        let body: Value = serde_json::from_str(second["body"].as_str().unwrap()).unwrap();
        assert!(body["first_used_at"].as_str().unwrap().ends_with('Z'));

        // Rewriting the used link does not mint a new one.
        let (base, query) = link.url.split_once('?').unwrap();
        let mut params: Vec<&str> = query.split('&').collect();
        params.reverse();
        let reordered = format!("{base}?{}", params.join("&"));
        assert_eq!(denial(&f.view("GET", &reordered, "req-3", SystemTime::now()).await).1, "link_already_used");
        let extra = format!("{}&response-content-type=text%2Fplain", link.url);
        assert_eq!(denial(&f.view("GET", &extra, "req-4", SystemTime::now()).await).1, "link_already_used");
        let unknown = format!("{}&utm_source=mail", link.url);
        assert_eq!(denial(&f.view("GET", &unknown, "req-5", SystemTime::now()).await), ("403".into(), "malformed_link".into()));
        assert_eq!(f.items().await, 1);
    }
}

#[tokio::test]
async fn the_origin_rejects_tampered_links() {
    let f = Fixture::new(&emulators().dynamodb_local).await;
    let key = format!("{}/a.txt", unique("tamper"));
    put_object(&key, b"hello");
    let link = f.link("GET", &key, None, None);
    let origin_url = swap_host(&link.url, &f.env.s3);
    let last = origin_url.chars().last().unwrap();
    let tampered = format!("{}{}", &origin_url[..origin_url.len() - 1], if last == '0' { '1' } else { '0' });
    assert_eq!(f.http.get(&tampered).send().await.unwrap().status(), 403);
    let other_key = origin_url.replace("/a.txt?", "/b.txt?");
    assert_eq!(f.http.get(&other_key).send().await.unwrap().status(), 403);
    assert_eq!(f.http.get(&origin_url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn upload_once_then_download_the_same_bytes() {
    let f = Fixture::new(&emulators().dynamodb_local).await;
    let key = format!("{}/upload.bin", unique("up"));
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let put = f.link("PUT", &key, Some(120), Some("application/octet-stream"));
    assert!(forwarded(&f.view("PUT", &put.url, "put-1", SystemTime::now()).await));
    let uploaded = f
        .http
        .put(swap_host(&put.url, &f.env.s3))
        .header("content-type", "application/octet-stream")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    assert_eq!(denial(&f.view("PUT", &put.url, "put-2", SystemTime::now()).await).1, "link_already_used");
    // A different content type than the one signed is refused by the origin.
    let wrong_type = f.http.put(swap_host(&put.url, &f.env.s3)).header("content-type", "text/html").body("x").send().await.unwrap();
    assert_eq!(wrong_type.status(), 403);

    let get = f.link("GET", &key, None, None);
    assert!(forwarded(&f.view("GET", &get.url, "get-1", SystemTime::now()).await));
    let downloaded = f.http.get(swap_host(&get.url, &f.env.s3)).send().await.unwrap();
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

/// An expired link is refused before any use is claimed; the attempt is kept in its trail (it
/// was a link, read and verified), but nothing is spent. A link dated in the future is not read
/// as one yet, and leaves nothing.
#[tokio::test]
async fn expired_links_are_refused_and_spend_nothing() {
    let f = Fixture::new(&emulators().dynamodb_local).await;
    let link = f.link("GET", &format!("{}/k", unique("exp")), Some(1), None);
    let early = f.view("GET", &link.url, "req-2", SystemTime::now() - Duration::from_secs(600)).await;
    assert_eq!(denial(&early).1, "link_not_yet_valid");
    assert_eq!(f.items().await, 0, "a link not yet valid leaves no record");
    let answer = f.view("GET", &link.url, "req-1", SystemTime::now() + Duration::from_secs(3)).await;
    assert_eq!(denial(&answer), ("403".into(), "link_expired".into()));
    let ledger = oncelink::ledger::DynamoDbLedger::new(f.deployment.ddb.clone(), &f.deployment.table);
    let key = oncelink::ledger::LedgerKey::for_link(&oncelink::link::LinkId::parse(&link.link_id.to_string()).unwrap());
    let state = oncelink::ledger::Ledger::lookup(&ledger, &key).await.unwrap().expect("the refusal is in the link's trail");
    assert_eq!((state.uses, state.refusals), (0, 1));
    assert_eq!(state.trail.iter().map(|e| e.outcome.label()).collect::<Vec<_>>(), ["link_expired"]);
}

#[tokio::test]
async fn head_and_options_do_not_consume() {
    let f = Fixture::new(&emulators().dynamodb_local).await;
    let link = f.link("GET", &format!("{}/k", unique("head")), None, None);
    for (i, method) in ["HEAD", "HEAD", "OPTIONS"].iter().enumerate() {
        assert!(forwarded(&f.view(method, &link.url, &format!("probe-{i}"), SystemTime::now()).await));
    }
    assert_eq!(f.items().await, 0);
    assert!(forwarded(&f.view("GET", &link.url, "get-1", SystemTime::now()).await));
    assert_eq!(f.items().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_first_uses_one_winner_fifty_times() {
    let f = std::sync::Arc::new(Fixture::new(&emulators().dynamodb_local).await);
    for round in 0..50 {
        let link = f.link("GET", &format!("{}/k", unique("race")), None, None);
        let mut tasks = tokio::task::JoinSet::new();
        for viewer in 0..64 {
            let (f, url) = (f.clone(), link.url.clone());
            tasks.spawn(async move { f.view("GET", &url, &format!("r{round}-v{viewer}"), SystemTime::now()).await });
        }
        let mut winners = 0;
        while let Some(answer) = tasks.join_next().await {
            let answer = answer.unwrap();
            if forwarded(&answer) {
                winners += 1;
            } else {
                assert_eq!(denial(&answer), ("403".into(), "link_already_used".into()));
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test]
async fn missing_config_is_503_and_the_error_is_not_cached() {
    let deployment = Deployment::new(&emulators().dynamodb_local, false).await;
    let service = deployment.edge(None);
    let f = Fixture::new(&emulators().dynamodb_local).await;
    let link = f.link("GET", &format!("{}/k", unique("cfg")), None, None);
    let view = |id: &'static str| {
        let event = viewer_event("GET", &link.url, id, &[]);
        let service = &service;
        async move { answer(service, event).await }
    };
    assert_eq!(denial(&view("r1").await), ("503".into(), "config_unavailable".into()));
    deployment.put("table-name", &deployment.table, aws_sdk_ssm::types::ParameterType::String).await;
    assert!(forwarded(&view("r2").await));
}

#[tokio::test]
async fn malformed_events_get_an_answer_not_a_panic() {
    let f = Fixture::new(&emulators().dynamodb_local).await;
    for event in [json!({}), json!({"Records": []}), json!({"Records": [{"cf": {}}]}), json!("text"), json!(null)] {
        assert_eq!(denial(&answer(&f.service, event.clone()).await), ("400".into(), "malformed_request".into()), "{event}");
    }
    let unsigned = answer(&f.service, viewer_event("GET", "https://cdn/k?x-id=GetObject", "r", &[])).await;
    assert_eq!(denial(&unsigned), ("403".into(), "missing_signature".into()));
    assert!(matches!(f.service.handle_event(json!({}), SystemTime::now()).await.answer, Answer::Respond(_)));
}
