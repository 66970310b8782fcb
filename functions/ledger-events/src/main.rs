//! The ledger-events function: the ledger table's DynamoDB Stream (`NEW_AND_OLD_IMAGES`) in,
//! EventBridge events out — `link.used`, `link.exhausted`, `link.revoked`, `link.refused`, the
//! same events the gateway's webhook sends for the same changes (`oncelink::events`).
//!
//! ```text
//! stream batch ─► each record in order ─► oncelink::ledger::dynamodb::stream::read ─► events ─► PutEvents (≤ 10 per call)
//!                                                     └ unreadable: logged, counted, skipped     └ refused: this record and the rest retried
//! ```
//!
//! Delivery is at least once. The event source mapping reports partial batch failures
//! (`ReportBatchItemFailures`): when EventBridge does not take a record's events, the answer
//! names that record, and Lambda retries from it (events of it already taken are sent again,
//! with the same ids: receivers deduplicate on `id`). Records whose retries run out go to the
//! mapping's on-failure destination (the infrastructure's DLQ). An unreadable record would fail
//! every retry the same way, so it is logged and skipped instead of stopping its shard.
//!
//! Environment: `ONCELINK_EVENT_BUS` — the bus's name or ARN (required).
//!
//! Output: JSON logs, and one EMF line per batch (`EventsPublished`, `EventPublishFailures`).

use anyhow::Context;
use aws_config::BehaviorVersion;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use lambda_runtime::{LambdaEvent, service_fn};
use oncelink::events::{Event, SOURCE};
use oncelink::ledger::dynamodb::stream;
use oncelink::metrics::events_published;
use serde_json::{Value, json};

/// The `Function` dimension of this function's metrics.
const FUNCTION: &str = "ledger-events";

/// Most entries one `PutEvents` call takes.
const MAX_ENTRIES: usize = 10;

struct Publisher {
    client: Client,
    bus: String,
}

impl Publisher {
    /// Puts `events` on the bus; `Err` unless EventBridge took every one.
    async fn put(&self, events: &[Event]) -> Result<(), String> {
        for chunk in events.chunks(MAX_ENTRIES) {
            let entries = chunk.iter().map(|event| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(SOURCE)
                    .detail_type(event.kind.as_str())
                    .detail(event.to_json().to_string())
                    .time(DateTime::from(event.time))
                    .build()
            });
            let output = self
                .client
                .put_events()
                .set_entries(Some(entries.collect()))
                .send()
                .await
                .map_err(|e| aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string())?;
            if output.failed_entry_count() > 0 {
                let codes: Vec<_> = output.entries().iter().filter_map(|e| e.error_code()).collect();
                return Err(format!("EventBridge refused {} of {} events: {codes:?}", output.failed_entry_count(), chunk.len()));
            }
        }
        Ok(())
    }
}

/// One stream batch: the partial batch response Lambda expects.
async fn handle(publisher: &Publisher, batch: &Value) -> Value {
    let records = batch["Records"].as_array().map(Vec::as_slice).unwrap_or_default();
    let (mut published, mut failed) = (0usize, 0usize);
    let mut retry_from = None;
    for raw in records {
        let record = match stream::read(raw) {
            Ok(record) => record,
            Err(error) => {
                tracing::error!(%error, "unreadable stream record; skipped");
                failed += 1;
                continue;
            }
        };
        match publisher.put(&record.events).await {
            Ok(()) => published += record.events.len(),
            Err(error) => {
                tracing::error!(%error, sequence_number = %record.sequence_number, "events not published; the stream retries from this record");
                failed += record.events.len();
                retry_from = Some(record.sequence_number);
                break;
            }
        }
    }
    let batch_id = records.first().and_then(|r| r["eventID"].as_str()).unwrap_or("-");
    oncelink::metrics_emf::emit(FUNCTION, batch_id, &events_published(published, failed));
    let failures: Vec<_> = retry_from.into_iter().map(|seq| json!({"itemIdentifier": seq})).collect();
    json!({"batchItemFailures": failures})
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    oncelink::telemetry::init_json_logs();
    let bus = std::env::var("ONCELINK_EVENT_BUS")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .context("set ONCELINK_EVENT_BUS (the bus's name or ARN)")?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let publisher = Publisher { client: Client::new(&sdk), bus };
    let publisher = &publisher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, std::convert::Infallible>(handle(publisher, &event.payload).await)
    }))
    .await
}
