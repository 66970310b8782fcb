//! Events on AWS, end to end on the stand-ins: a link's life written by the DynamoDB ledger on
//! DynamoDB Local (its table with a stream, `NEW_AND_OLD_IMAGES`, as the infrastructure makes
//! it), the stream's records read back with the Streams API, handed to the real `ledger-events`
//! binary as Lambda would, and put on an EventBridge bus on moto, whose rule forwards them to an
//! SQS queue this test reads. Plus: a redelivered batch carries the same ids, and a bus that
//! cannot be reached names the record to retry from.
//!
//! The stand-ins' Streams, EventBridge and SQS APIs are called as JSON over HTTP (no SDK crate
//! for each): DynamoDB Local and moto accept any credentials.

use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use oncelink::ledger::{ClientHint, DynamoDbLedger, Ledger, LedgerKey, TrailEntry, TrailOutcome, UseClaim};
use oncelink::link::LinkId;
use oncelink::time::{from_unix_secs, unix_secs};
use oncelink_integration_tests::runtime_api::{RuntimeApi, function_command, workspace_binary};
use oncelink_integration_tests::{emulators, unique};
use serde_json::{Value, json};

/// One JSON API call (`X-Amz-Target: <target>`) to a stand-in.
async fn call(endpoint: &str, service: &str, target: String, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", &target)
        .header(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{target}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Every record the table's stream holds, oldest first.
async fn stream_records(endpoint: &str, stream_arn: &str) -> Vec<Value> {
    let streams = |target: &str, body: Value| call(endpoint, "dynamodb", format!("DynamoDBStreams_20120810.{target}"), body);
    let described = streams("DescribeStream", json!({"StreamArn": stream_arn})).await;
    let mut records = Vec::new();
    for shard in described["StreamDescription"]["Shards"].as_array().unwrap() {
        let iterator =
            streams("GetShardIterator", json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}))
                .await;
        let mut next = iterator["ShardIterator"].clone();
        while next.is_string() {
            let page = streams("GetRecords", json!({"ShardIterator": next})).await;
            let got = page["Records"].as_array().cloned().unwrap_or_default();
            if got.is_empty() {
                break;
            }
            records.extend(got);
            next = page["NextShardIterator"].clone();
        }
    }
    records
}

/// A bus on moto whose rule forwards every oncelink event to a new queue: (bus, queue URL).
async fn bus_to_queue(moto: &str) -> (String, String) {
    let name = unique("events");
    let sqs = |target: &str, body: Value| call(moto, "sqs", format!("AmazonSQS.{target}"), body);
    let events = |target: &str, body: Value| call(moto, "events", format!("AWSEvents.{target}"), body);
    let queue_url = sqs("CreateQueue", json!({"QueueName": name})).await["QueueUrl"].as_str().unwrap().to_owned();
    let attributes = sqs("GetQueueAttributes", json!({"QueueUrl": queue_url, "AttributeNames": ["QueueArn"]})).await;
    let queue_arn = attributes["Attributes"]["QueueArn"].as_str().unwrap().to_owned();
    events("CreateEventBus", json!({"Name": name})).await;
    events("PutRule", json!({"Name": "all", "EventBusName": name, "EventPattern": json!({"source": ["oncelink"]}).to_string()})).await;
    events("PutTargets", json!({"Rule": "all", "EventBusName": name, "Targets": [{"Id": "queue", "Arn": queue_arn}]})).await;
    (name, queue_url)
}

/// Every message in the queue (EventBridge envelopes), received and deleted.
async fn drain(moto: &str, queue_url: &str) -> Vec<Value> {
    let mut bodies = Vec::new();
    loop {
        let got = call(moto, "sqs", "AmazonSQS.ReceiveMessage".into(), json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10})).await;
        let messages = got["Messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for message in messages {
            bodies.push(serde_json::from_str(message["Body"].as_str().unwrap()).unwrap());
            call(moto, "sqs", "AmazonSQS.DeleteMessage".into(), json!({"QueueUrl": queue_url, "ReceiptHandle": message["ReceiptHandle"]}))
                .await;
        }
    }
}

/// The ledger-events binary, its bus `bus` on the EventBridge endpoint `events_endpoint`.
async fn function(bus: &str, events_endpoint: &str) -> (RuntimeApi, tokio::process::Child) {
    let (api, addr) = RuntimeApi::start().await;
    let mut command = function_command(&workspace_binary("ledger-events"), addr, "ledger-events");
    command.env("ONCELINK_EVENT_BUS", bus).env("AWS_ENDPOINT_URL_EVENTBRIDGE", events_endpoint).stdout(std::process::Stdio::null());
    (api, command.spawn().expect("spawn ledger-events"))
}

#[tokio::test]
async fn a_links_life_on_dynamodb_becomes_eventbridge_events_once_per_change() {
    let e = emulators();
    let sdk = oncelink_testkit::sdk(&e.dynamodb_local).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = unique("ledger-stream");
    client
        .create_table()
        .table_name(&table)
        .attribute_definitions(AttributeDefinition::builder().attribute_name("pk").attribute_type(ScalarAttributeType::S).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("pk").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(
            StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::NewAndOldImages).build().unwrap(),
        )
        .send()
        .await
        .expect("create the ledger table with its stream");
    let described = client.describe_table().table_name(&table).send().await.unwrap();
    let stream_arn = described.table().and_then(|t| t.latest_stream_arn()).expect("the table's stream").to_owned();

    // A tagged one-time link: a scanner's preview, the person's use (spent at once, as on
    // CloudFront), a second try refused, then revoked.
    let ledger = DynamoDbLedger::new(client.clone(), &table);
    let id = LinkId::for_nonce(unique("stream-link").as_bytes());
    let key = LedgerKey::for_link(&id);
    let at = from_unix_secs(unix_secs(SystemTime::now()));
    let retain = at + Duration::from_secs(3600);
    let person = ClientHint { network: "198.51.100.0/24".into(), agent: "firefox".into() };
    let scanner = ClientHint { network: "192.0.2.0/24".into(), agent: "scanner".into() };
    ledger.tag(&key, "order-42", retain).await.unwrap();
    let preview = TrailEntry { request_id: "cf-scanner".into(), at, outcome: TrailOutcome::Preview, client: scanner };
    ledger.note_refusal(&key, &preview, retain).await.unwrap();
    let claim = UseClaim {
        key: key.clone(),
        request_id: "cf-person".into(),
        at,
        retain_until: retain,
        max_uses: 1,
        fingerprint: Some("fp".into()),
        hold_until: None,
        client: person.clone(),
    };
    assert!(ledger.claim(&claim).await.unwrap().is_allowed());
    let again =
        TrailEntry { request_id: "cf-again".into(), at, outcome: TrailOutcome::Refused("link_already_used".into()), client: person };
    ledger.note_refusal(&key, &again, retain).await.unwrap();
    ledger.revoke(&key, at, retain).await.unwrap();

    let records = stream_records(&e.dynamodb_local, &stream_arn).await;
    assert_eq!(records.len(), 5, "one stream record per write: {records:#?}");
    let batch = json!({"Records": records.iter().map(|r| {
        let mut r = r.clone();
        r["eventSource"] = "aws:dynamodb".into();
        r["eventSourceARN"] = stream_arn.clone().into();
        r
    }).collect::<Vec<_>>()});

    let (bus, queue) = bus_to_queue(&e.moto).await;
    let (api, _child) = function(&bus, &e.moto).await;
    let answer = api.invoke("batch-1", batch.clone()).await.expect("the function answers");
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let envelopes = drain(&e.moto, &queue).await;
    let mut got: Vec<(String, String, String)> = envelopes
        .iter()
        .map(|m| {
            assert_eq!(m["source"], "oncelink");
            assert_eq!(m["detail-type"], m["detail"]["type"], "DetailType is the event's type");
            assert_eq!(m["detail"]["link_id"], id.to_string());
            assert_eq!(m["detail"]["tag"], "order-42");
            let detail = &m["detail"];
            (
                detail["type"].as_str().unwrap().to_owned(),
                detail["request_id"].as_str().unwrap_or("").to_owned(),
                detail["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let kinds: Vec<_> = got.iter().map(|(t, r, _)| (t.as_str(), r.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("link.exhausted", "cf-person"),
            ("link.refused", "cf-again"),
            ("link.refused", "cf-scanner"),
            ("link.revoked", ""),
            ("link.used", "cf-person"),
        ]
    );
    let used = envelopes.iter().find(|m| m["detail"]["type"] == "link.used").unwrap();
    assert_eq!(used["detail"]["client"], json!({"network": "198.51.100.0/24", "agent": "firefox"}));
    assert_eq!((used["detail"]["uses"].as_u64(), used["detail"]["max_uses"].as_u64()), (Some(1), Some(1)));
    let preview = envelopes.iter().find(|m| m["detail"]["request_id"] == "cf-scanner").unwrap();
    assert_eq!(preview["detail"]["reason"], "preview");

    // The same batch again (Lambda retries it): the same events, with the same ids.
    assert_eq!(api.invoke("batch-2", batch.clone()).await.unwrap(), json!({"batchItemFailures": []}));
    let mut again: Vec<_> = drain(&e.moto, &queue).await.iter().map(|m| m["detail"]["id"].as_str().unwrap().to_owned()).collect();
    again.sort();
    let mut ids: Vec<_> = got.iter().map(|(_, _, id)| id.clone()).collect();
    ids.sort();
    assert_eq!(again, ids, "a redelivered batch carries the same event ids");

    // A bus that cannot be reached: the first record with events is named for the retry
    // (the tag's record has none, so it is the preview's).
    let (down, _child) = function(&bus, "http://127.0.0.1:9").await;
    let answer = down.invoke("batch-3", batch).await.expect("the function answers");
    assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}));
}
