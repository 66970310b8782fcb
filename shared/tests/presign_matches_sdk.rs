//! Our presigner must produce exactly the URL `aws-sdk-s3`'s `presigned()` produces.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::presigning::PresigningConfig;
use oncelink::Refusal;
use oncelink::link::LinkMethod;
use oncelink::presign::{PresignRequest, S3Origin, presign};
use oncelink::time::parse_amz_date;

fn sdk_client(creds: &Credentials, region: &str, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(creds.clone());
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

async fn sdk_url(client: &aws_sdk_s3::Client, bucket: &str, req: &PresignRequest<'_>, now: SystemTime) -> String {
    let presigning = PresigningConfig::builder().start_time(now).expires_in(req.expires_in).build().unwrap();
    match req.method {
        LinkMethod::Get => client.get_object().bucket(bucket).key(req.key).presigned(presigning).await.unwrap().uri().to_owned(),
        LinkMethod::Put => {
            let mut put = client.put_object().bucket(bucket).key(req.key);
            if let Some(ct) = req.content_type {
                put = put.content_type(ct);
            }
            put.presigned(presigning).await.unwrap().uri().to_owned()
        }
    }
}

#[tokio::test]
async fn byte_identical_to_the_sdk() {
    let now = parse_amz_date("20261122T174231Z").unwrap();
    let plain = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "test");
    let session = Credentials::new("ASIAEXAMPLE", "secret", Some("FwoGZXIvYXdzEJr//session+token/=".into()), None, "test");
    let keys = ["report.pdf", "nested/dir/file name (1).txt", "ünïcødé/€uro+plus=eq&amp", "a~b-c_d.e"];
    let endpoints = [None, Some("http://127.0.0.1:8014")];
    let mut compared = 0;
    for creds in [&plain, &session] {
        for endpoint in endpoints {
            let client = sdk_client(creds, "eu-west-1", endpoint);
            let origin = S3Origin { bucket: "my-bucket".into(), region: "eu-west-1".into(), endpoint: endpoint.map(str::to_owned) };
            for key in keys {
                for (method, content_type) in [(LinkMethod::Get, None), (LinkMethod::Put, None), (LinkMethod::Put, Some("application/pdf"))]
                {
                    let req = PresignRequest { method, key, expires_in: Duration::from_secs(3600), content_type, extra_query: &[] };
                    let ours = presign(&origin, creds, &req, now).unwrap().origin_url();
                    let theirs = sdk_url(&client, "my-bucket", &req, now).await;
                    assert_eq!(ours, theirs, "{method:?} {key} {endpoint:?} {content_type:?}");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 2 * 2 * 4 * 3);
}

#[test]
fn host_swap_keeps_path_and_query() {
    let now = parse_amz_date("20261122T174231Z").unwrap();
    let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
    let origin = S3Origin { bucket: "b".into(), region: "us-east-1".into(), endpoint: None };
    let signed = presign(
        &origin,
        &creds,
        &PresignRequest { method: LinkMethod::Get, key: "k", expires_in: Duration::from_secs(60), content_type: None, extra_query: &[] },
        now,
    )
    .unwrap();
    assert!(signed.origin_url().starts_with("https://b.s3.us-east-1.amazonaws.com/k?x-id=GetObject&X-Amz-Algorithm="));
    assert_eq!(signed.on_cdn("d111.cloudfront.net"), format!("https://d111.cloudfront.net{}", signed.path_and_query));
    assert_eq!(signed.on_cdn("http://127.0.0.1:8787/"), format!("http://127.0.0.1:8787{}", signed.path_and_query));
}

/// A presigned URL dies with the credentials that signed it: the issuer never promises more.
#[test]
fn links_never_outlive_their_signing_credentials() {
    use oncelink::issue::{IssuerSettings, LinkRequest, Signer, issue};
    use oncelink::link::LinkMode;
    let now = parse_amz_date("20261122T174231Z").unwrap();
    let settings = IssuerSettings {
        origin: S3Origin { bucket: "b".into(), region: "eu-west-1".into(), endpoint: None },
        cdn: "cdn.example.com".into(),
        default_expires: Duration::from_secs(900),
        max_expires: Duration::from_secs(604_800),
        key_prefix: String::new(),
        cors_origins: vec![],
        mode: LinkMode::Presigned,
    };
    let request = LinkRequest { key: "k".into(), expires_in: Some(3600), ..Default::default() };
    let expiring = Credentials::new("ASIAEXAMPLE", "secret", Some("token".into()), Some(now + Duration::from_secs(100)), "sts");
    let link = issue(&settings, Signer { credentials: Some(&expiring), keys: None }, &request, now).unwrap();
    assert!(link.url.contains("&X-Amz-Expires=100&"), "{}", link.url);
    assert_eq!(link.expires_at, "2026-11-22T17:44:11Z");
    let lasting = Credentials::new("AKIDEXAMPLE", "secret", None, Some(now + Duration::from_secs(86_400)), "static");
    assert!(
        issue(&settings, Signer { credentials: Some(&lasting), keys: None }, &request, now).unwrap().url.contains("&X-Amz-Expires=3600&")
    );
    let expired = Credentials::new("ASIAEXAMPLE", "secret", None, Some(now - Duration::from_secs(1)), "sts");
    let error = issue(&settings, Signer { credentials: Some(&expired), keys: None }, &request, now).unwrap_err();
    assert_eq!((error.status(), error.code()), (503, "credentials_unavailable"));
}

/// The signing key is cached per thread (with the credential scope and the last session token's
/// encoding): crossing midnight, switching region and rotating the credentials (a new secret
/// under the same access key, a new key pair, a new session token under the same secret, a
/// session token appearing or going away) must each sign exactly as the SDK does, in any order,
/// and coming back to an earlier scope too. (The service is always `s3`.)
#[tokio::test(flavor = "current_thread")]
async fn the_cached_signing_key_follows_day_region_and_credentials() {
    let before_midnight = parse_amz_date("20261122T235959Z").unwrap();
    let after_midnight = parse_amz_date("20261123T000000Z").unwrap();
    let first = Credentials::new("ASIAFIRST", "first-secret", Some("token-one".into()), None, "sts");
    let same_secret_new_token = Credentials::new("ASIAFIRST", "first-secret", Some("token+two/=".into()), None, "sts");
    let same_secret_no_token = Credentials::new("ASIAFIRST", "first-secret", None, None, "static");
    let same_key_new_secret = Credentials::new("ASIAFIRST", "rotated-secret", Some("token-one".into()), None, "sts");
    let same_key_new_secret_no_token = Credentials::new("ASIAFIRST", "rotated-secret", None, None, "static");
    let rotated = Credentials::new("ASIASECOND", "second-secret", Some("token-three".into()), None, "sts");
    let steps: [(&Credentials, &str, SystemTime); 17] = [
        (&first, "eu-west-1", before_midnight),
        (&first, "eu-west-1", before_midnight),
        (&first, "eu-west-1", after_midnight),
        (&first, "us-east-1", after_midnight),
        (&same_secret_new_token, "us-east-1", after_midnight),
        (&same_secret_no_token, "us-east-1", after_midnight),
        (&same_secret_new_token, "us-east-1", after_midnight),
        (&same_secret_no_token, "us-east-1", after_midnight),
        (&first, "us-east-1", after_midnight),
        (&same_key_new_secret, "us-east-1", after_midnight),
        (&same_key_new_secret_no_token, "us-east-1", after_midnight),
        (&same_key_new_secret, "us-east-1", before_midnight),
        (&first, "us-east-1", before_midnight),
        (&rotated, "us-east-1", after_midnight),
        (&rotated, "eu-west-1", before_midnight),
        (&same_secret_no_token, "eu-west-1", before_midnight),
        (&first, "eu-west-1", before_midnight),
    ];
    for (i, (creds, region, now)) in steps.into_iter().enumerate() {
        let client = sdk_client(creds, region, None);
        let origin = S3Origin { bucket: "my-bucket".into(), region: region.into(), endpoint: None };
        // A GET and a PUT with a signed content type: one and two signed headers.
        for (method, content_type) in [(LinkMethod::Get, None), (LinkMethod::Put, Some("text/plain"))] {
            let req = PresignRequest { method, key: "report.pdf", expires_in: Duration::from_secs(600), content_type, extra_query: &[] };
            let ours = presign(&origin, creds, &req, now).unwrap().origin_url();
            assert_eq!(ours, sdk_url(&client, "my-bucket", &req, now).await, "step {i} {method:?}");
        }
    }
}

/// What the SDK presigns, our verifier (the gateway's file origin) accepts; one changed byte of
/// the key and it does not.
#[tokio::test]
async fn the_verifier_accepts_what_the_sdk_signs() {
    use oncelink::query::Query;
    use oncelink::sigv4::{Presented, SignatureError, Verifier, verify_query};
    let now = parse_amz_date("20261122T174231Z").unwrap();
    let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "test");
    let client = sdk_client(&creds, "eu-west-1", Some("http://127.0.0.1:8014"));
    let verifier = Verifier { access_key: "AKIDEXAMPLE", secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", region: "eu-west-1" };
    for key in ["report.pdf", "nested/dir/file name (1).txt", "ünïcødé/€uro+plus=eq&amp"] {
        for (method, content_type) in [(LinkMethod::Get, None), (LinkMethod::Put, Some("application/pdf"))] {
            let req = PresignRequest { method, key, expires_in: Duration::from_secs(3600), content_type, extra_query: &[] };
            let url = sdk_url(&client, "my-bucket", &req, now).await;
            let (path, query) = url.strip_prefix("http://127.0.0.1:8014").unwrap().split_once('?').unwrap();
            let query = Query::parse(query).unwrap();
            let headers: Vec<(&str, &str)> = content_type.map(|ct| ("content-type", ct)).into_iter().collect();
            let presented = Presented { method: method.as_str(), host: "127.0.0.1:8014", path, query: &query, headers: &headers };
            assert_eq!(verify_query(&presented, &verifier, now), Ok(()), "{key} {method:?}");
            let tampered = path.replacen("my-bucket", "my-buckes", 1);
            let presented = Presented { path: &tampered, ..presented };
            assert_eq!(verify_query(&presented, &verifier, now), Err(SignatureError::Mismatch));
        }
    }
}
