//! The ledger contract (`oncelink_testkit::ledger_contract`) against every adapter: the same test
//! functions, one line per adapter. DynamoDB Local runs the real engine, PostgreSQL is the real
//! server (a fresh cluster `tests/with-emulators.sh` starts); moto is served one
//! request at a time (tests/emulators/moto_serial.py): its threaded server evaluates a condition
//! and applies the write without a lock (seen: 2 winners of 64 for a one-time PutItem), which
//! real DynamoDB never does. Soak (`ONCELINK_SOAK=1`): 10,000 one-time races per adapter.
//!
//! After the contract: what only the DynamoDB adapter promises, the stored item's shape; and the
//! PostgreSQL ledger's purge of expired rows.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_dynamodb::types::AttributeValue;
use oncelink::ledger::{DynamoDbLedger, Ledger, MemoryLedger};
use oncelink::time::{from_unix_secs, unix_secs};
use oncelink_gateway::file_ledger::FileLedger;
use oncelink_gateway::pg_ledger::PgLedger;
use oncelink_integration_tests::{create_ledger_table, emulators, sdk, unique};
use oncelink_testkit::{claim, key, ledger_contract};

async fn dynamodb(endpoint: String) -> Arc<DynamoDbLedger> {
    let client = aws_sdk_dynamodb::Client::new(&sdk(&endpoint).await);
    let table = create_ledger_table(&client).await;
    Arc::new(DynamoDbLedger::new(client, table))
}

fn file() -> Arc<FileLedger> {
    // Kept until the test process ends (the writer thread holds the file open).
    let dir = tempfile::tempdir().expect("a temporary directory").keep();
    Arc::new(FileLedger::open(&dir.join("ledger.journal")).expect("open the file ledger"))
}

/// The shared test database (link keys never collide); connecting applies the migrations.
async fn pg_ledger() -> Arc<PgLedger> {
    Arc::new(PgLedger::connect(&emulators().postgres).await.expect("connect to the PostgreSQL stand-in"))
}

ledger_contract!(memory, races = (150, 10), async { Arc::new(MemoryLedger::new()) });
ledger_contract!(file_journal, races = (150, 10), async { file() });
ledger_contract!(dynamodb_local, races = (150, 10), dynamodb(emulators().dynamodb_local));
ledger_contract!(moto, races = (40, 10), dynamodb(emulators().moto));
ledger_contract!(postgres, races = (150, 10), pg_ledger());

/// Rows whose retention ended are deleted by the purge; the others stay.
#[tokio::test]
async fn postgres_purges_expired_rows() {
    let ledger = pg_ledger().await;
    let now = from_unix_secs(unix_secs(SystemTime::now()));
    let (expired, kept) = (key(&unique("purged")), key(&unique("kept")));
    let mut old = claim(&expired, "r1", now - Duration::from_secs(7200), 1);
    old.retain_until = now - Duration::from_secs(1);
    ledger.claim(&old).await.unwrap();
    ledger.claim(&claim(&kept, "r1", now, 1)).await.unwrap();
    assert!(ledger.purge(now).await.unwrap() >= 1);
    assert_eq!(ledger.lookup(&expired).await.unwrap(), None, "expired: deleted");
    assert_eq!(ledger.lookup(&kept).await.unwrap().unwrap().uses, 1, "not expired: kept");
}

/// The item: the hashed key, the TTL attribute, the request ids, the use count.
#[tokio::test]
async fn dynamodb_items_hold_a_hash_a_ttl_and_the_request_ids() {
    let now = from_unix_secs(unix_secs(SystemTime::now()));
    for endpoint in [emulators().dynamodb_local, emulators().moto] {
        let ledger = dynamodb(endpoint.clone()).await;
        let link = key(&unique("item"));
        ledger.claim(&claim(&link, "r1", now, 1)).await.unwrap();
        let client = aws_sdk_dynamodb::Client::new(&sdk(&endpoint).await);
        let stored = client
            .get_item()
            .table_name(ledger.table())
            .key("pk", AttributeValue::S(link.as_str().into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item()
            .cloned()
            .expect("the item exists");
        assert_eq!(stored["expires_at"], AttributeValue::N(unix_secs(now + Duration::from_secs(3600)).to_string()), "{endpoint}");
        assert_eq!(stored["uses"], AttributeValue::N("1".into()), "{endpoint}");
        assert_eq!(stored["request_ids"], AttributeValue::Ss(vec!["r1".into()]), "{endpoint}");
        assert!(link.as_str().starts_with("link:") && link.as_str().len() == 5 + 22, "{endpoint}");
    }
}
