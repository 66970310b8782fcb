//! Sealed links end to end: key set and mode in SSM (moto, SecureString), ledger in DynamoDB
//! Local, objects in s3s-fs. The edge strips the token and the origin request is signed with
//! SigV4 headers, as CloudFront's OAC does; the token alone gets nothing from the origin.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sdk_ssm::types::ParameterType;
use oncelink::config::{ConfigCache, SsmConfigSource};
use oncelink::credentials::FixedCredentials;
use oncelink::edge::AwsEdge;
use oncelink::issue::{ApiRequest, IssueService, IssuedLink, IssuerSettings, LinkRequest, Signer, issue};
use oncelink::ledger::DynamoDbTables;
use oncelink::link::LinkMode;
use oncelink::presign::sign_origin_request;
use oncelink::sealed::KeySet;
use oncelink_integration_tests::{
    Deployment, Emulators, answer, emulators, forwarded, issuer_settings, put_object, refusal, unique, viewer_event,
};
use serde_json::Value;

const CDN: &str = "files.oncelink.test";

struct Fixture {
    env: Emulators,
    deployment: Deployment,
    keys: KeySet,
    issuer: IssuerSettings,
    origin_credentials: Credentials,
    http: reqwest::Client,
}

impl Fixture {
    async fn new() -> Self {
        let env = emulators();
        let deployment = Deployment::new(&env.dynamodb_local, true).await;
        let keys = KeySet::generate("k1").unwrap();
        deployment.seal(&keys).await;
        let origin_credentials = Credentials::new(&env.s3_access_key, &env.s3_secret_key, None, None, "oac");
        Self { deployment, keys, issuer: issuer_settings(LinkMode::Sealed, CDN), origin_credentials, http: reqwest::Client::new(), env }
    }

    /// A fresh edge (a cold Lambda): reads SSM on first use.
    fn edge(&self) -> AwsEdge {
        self.deployment.edge(None)
    }

    fn link(&self, keys: &KeySet, request: LinkRequest) -> IssuedLink {
        issue(&self.issuer, Signer { credentials: None, keys: Some(keys) }, &request, SystemTime::now()).unwrap()
    }

    /// What CloudFront does after the edge said "continue": send the (rewritten) request to the
    /// origin, signed by OAC.
    async fn through_origin(&self, method: &str, key: &str, forwarded: &Value, body: Option<Vec<u8>>) -> reqwest::Response {
        let query = forwarded["querystring"].as_str().unwrap();
        let signed = sign_origin_request(&self.issuer.origin, &self.origin_credentials, method, key, query, SystemTime::now()).unwrap();
        let mut request = self.http.request(method.parse().unwrap(), &signed.url);
        for (name, value) in &signed.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        request.send().await.unwrap()
    }
}

async fn view(edge: &AwsEdge, method: &str, url: &str, id: &str, headers: &[(&str, &str)]) -> Value {
    answer(edge, viewer_event(method, url, id, headers)).await
}

fn error_code(answer: &Value) -> String {
    let (status, code) = refusal(answer);
    format!("{status} {code}")
}

#[tokio::test]
async fn sealed_download_goes_through_the_edge_only() {
    let f = Fixture::new().await;
    let edge = f.edge();
    let key = format!("{}/q3 report.pdf", unique("sealed"));
    let bytes: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    put_object(&key, &bytes);
    let link = f.link(&f.keys, LinkRequest { key: key.clone(), filename: Some("Q3 report.pdf".into()), ..Default::default() });

    // The origin knows nothing of tokens: the link used directly against S3 is refused.
    let direct = format!("{}/{}/{}", f.env.s3, f.env.s3_bucket, link.url.split_once(&format!("{CDN}/")).unwrap().1);
    let status = f.http.get(&direct).send().await.unwrap().status();
    assert!(status == 403 || status == 400, "direct origin access with the token must fail, got {status}");

    let first = view(&edge, "GET", &link.url, "r1", &[]).await;
    assert!(forwarded(&first), "{first}");
    let query = first["querystring"].as_str().unwrap();
    assert!(query.starts_with("response-content-disposition="), "token stripped, only covered parameters: {query}");
    let response = f.through_origin("GET", &key, &first, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-disposition"], "attachment; filename=\"Q3 report.pdf\"; filename*=UTF-8''Q3%20report.pdf");
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());

    assert_eq!(error_code(&view(&edge, "GET", &link.url, "r2", &[]).await), "403 link_already_used");
    // Viewer query parameters never reach the origin: anything beside the token is refused.
    assert_eq!(
        error_code(&view(&edge, "GET", &format!("{}&response-content-type=text%2Fhtml", link.url), "r3", &[]).await),
        "403 invalid_token"
    );
}

#[tokio::test]
async fn tampered_tokens_bots_and_head_write_nothing() {
    let f = Fixture::new().await;
    let edge = f.edge();
    let link = f.link(&f.keys, LinkRequest { key: unique("t"), ..Default::default() });
    let (base, token) = link.url.split_once('?').unwrap();
    let flipped: String = token.chars().enumerate().map(|(i, c)| if i == 10 { if c == 'A' { 'B' } else { 'A' } } else { c }).collect();
    for (what, url) in [
        ("mac", format!("{base}?{flipped}")),
        ("truncated", format!("{base}?{}", &token[..token.len() - 4])),
        ("duplicated", format!("{base}?{token}&{token}")),
        ("empty", format!("{base}?")),
        ("path", format!("{base}x?{token}")),
    ] {
        let answer = view(&edge, "GET", &url, what, &[]).await;
        assert!(error_code(&answer).starts_with("403"), "{what}: {answer}");
    }
    assert_eq!(f.deployment.items().await, 0, "a request that is no link touches no record");
    // A preview bot spends nothing, but is kept in the link's trail (the scanner got there first).
    let preview = view(&edge, "GET", &link.url, "bot", &[("User-Agent", "Slackbot-LinkExpanding 1.0")]).await;
    assert_eq!(preview["status"], "200");
    assert_eq!(preview["body"], "");
    assert!(forwarded(&view(&edge, "HEAD", &link.url, "head", &[]).await));
    let ledger = oncelink::ledger::DynamoDbLedger::new(f.deployment.ddb.clone(), &f.deployment.table);
    let key = oncelink::ledger::LedgerKey::for_link(&link.link_id);
    let state = oncelink::ledger::Ledger::lookup(&ledger, &key).await.unwrap().expect("the preview is in the trail");
    assert_eq!((state.uses, state.refusals, state.trail.len()), (0, 1, 1), "the preview and the HEAD spent nothing");
    assert_eq!(state.trail[0].outcome.label(), "preview");
    assert_eq!(state.trail[0].client.agent, "bot");
    assert!(forwarded(&view(&edge, "GET", &link.url, "person", &[]).await));
    let state = oncelink::ledger::Ledger::lookup(&ledger, &key).await.unwrap().unwrap();
    assert_eq!(state.uses, 1);
}

#[tokio::test]
async fn n_uses_grace_and_revocation_on_dynamodb() {
    let f = Fixture::new().await;
    let edge = f.edge();
    let n_use = f.link(&f.keys, LinkRequest { key: unique("n"), max_uses: Some(2), ..Default::default() });
    assert!(forwarded(&view(&edge, "GET", &n_use.url, "a", &[]).await));
    assert!(forwarded(&view(&edge, "GET", &n_use.url, "b", &[]).await));
    assert_eq!(error_code(&view(&edge, "GET", &n_use.url, "c", &[]).await), "403 link_already_used");

    let video = f.link(&f.keys, LinkRequest { key: unique("v"), grace_seconds: Some(60), ..Default::default() });
    assert!(forwarded(&view(&edge, "GET", &video.url, "v1", &[]).await));
    assert!(forwarded(&view(&edge, "GET", &video.url, "v2", &[("Range", "bytes=100-")]).await), "resume from the same client");
    assert_eq!(
        error_code(&view(&edge, "GET", &video.url, "v3", &[("Range", "bytes=100-"), ("User-Agent", "other/1")]).await),
        "403 link_already_used"
    );
    assert_eq!(error_code(&view(&edge, "GET", &video.url, "v4", &[]).await), "403 link_already_used");

    // Revocation through the issue API's DELETE, wired as issue-url is: the table from SSM.
    let doomed = f.link(&f.keys, LinkRequest { key: unique("r"), ..Default::default() });
    let config = SsmConfigSource::new(f.deployment.ssm.clone(), f.deployment.prefix.clone());
    let api = IssueService::new(
        f.issuer.clone(),
        Some(std::sync::Arc::new(ConfigCache::new(config, None))),
        DynamoDbTables(f.deployment.ddb.clone()),
        FixedCredentials(aws_credential_types::Credentials::new("unused", "unused", None, None, "test")),
    );
    let path = format!("/links/{}", doomed.link_id);
    let response = api.handle(&ApiRequest { method: "DELETE", path: &path, ..Default::default() }, SystemTime::now()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(error_code(&view(&edge, "GET", &doomed.url, "x", &[]).await), "403 link_revoked");
}

#[tokio::test]
async fn sealed_upload_then_rotation_through_ssm() {
    let f = Fixture::new().await;
    let key = format!("{}/avatar.png", unique("up"));
    let put = f.link(
        &f.keys,
        LinkRequest { key: key.clone(), method: Some("PUT".into()), content_type: Some("image/png".into()), ..Default::default() },
    );
    let edge = f.edge();
    let wrong = view(&edge, "PUT", &put.url, "p0", &[("Content-Type", "text/html")]).await;
    assert_eq!(error_code(&wrong), "403 wrong_content_type");
    let ok = view(&edge, "PUT", &put.url, "p1", &[("Content-Type", "image/png")]).await;
    assert!(forwarded(&ok), "{ok}");
    let uploaded = f.through_origin("PUT", &key, &ok, Some(b"\x89PNG fake".to_vec())).await;
    assert_eq!(uploaded.status(), 200);

    // Rotate: k2 becomes active, k1 stays listed. A link signed with k1 still works.
    let old_link = f.link(&f.keys, LinkRequest { key: key.clone(), ..Default::default() });
    let mut rotated = f.keys.clone();
    rotated.rotate("k2").unwrap();
    f.deployment.put("keys", &rotated.to_json(), ParameterType::SecureString).await;
    let after_rotation = f.edge();
    let answer = view(&after_rotation, "GET", &old_link.url, "g1", &[]).await;
    assert!(forwarded(&answer), "{answer}");
    assert_eq!(f.through_origin("GET", &key, &answer, None).await.bytes().await.unwrap().as_ref(), b"\x89PNG fake");

    // Remove k1: its remaining links die with 403 unknown_key.
    let another_old = f.link(&f.keys, LinkRequest { key: key.clone(), ..Default::default() });
    rotated.remove("k1").unwrap();
    f.deployment.put("keys", &rotated.to_json(), ParameterType::SecureString).await;
    assert_eq!(error_code(&view(&f.edge(), "GET", &another_old.url, "g2", &[]).await), "403 unknown_key");
}
