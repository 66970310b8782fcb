//! The DynamoDB ledger: one conditional `PutItem` per first use.
//!
//! Item schema (table key: `pk`, string; TTL attribute: `expires_at`):
//!
//! | attribute       | type | meaning                                                   |
//! |-----------------|------|-----------------------------------------------------------|
//! | `pk`            | S    | the [`LedgerKey`] (a hash, never the link itself)         |
//! | `first_used_at` | N    | Unix seconds of the first use                             |
//! | `request_id`    | S    | the viewer request that used it (makes retries idempotent)|
//! | `uses`          | N    | uses recorded so far                                      |
//! | `expires_at`    | N    | TTL: link expiry plus a margin; DynamoDB deletes it later |
//!
//! The write is `attribute_not_exists(pk)` with `ReturnValuesOnConditionCheckFailure=ALL_OLD`,
//! so a losing racer learns, in the same round trip, when the link was first used and by which
//! request: no read-then-write window, no second call.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::{ClaimOutcome, Ledger, LedgerError, UseClaim};
use crate::time::{from_unix_secs, unix_secs};

pub const PK: &str = "pk";
pub const TTL_ATTRIBUTE: &str = "expires_at";
pub const FIRST_USED_AT: &str = "first_used_at";
pub const REQUEST_ID: &str = "request_id";
pub const USES: &str = "uses";

#[derive(Debug, Clone)]
pub struct DynamoDbLedger {
    client: Client,
    table: String,
}

impl DynamoDbLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

#[async_trait]
impl Ledger for DynamoDbLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, AttributeValue::S(claim.key.as_str().to_owned()))
            .item(FIRST_USED_AT, AttributeValue::N(unix_secs(claim.at).to_string()))
            .item(REQUEST_ID, AttributeValue::S(claim.request_id.clone()))
            .item(USES, AttributeValue::N("1".into()))
            .item(TTL_ATTRIBUTE, AttributeValue::N(unix_secs(claim.retain_until).to_string()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(ClaimOutcome::FirstUse),
            Err(error) => error,
        };
        match error.as_service_error() {
            Some(service) if service.is_conditional_check_failed_exception() => {
                let old = match service {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(e) => e.item(),
                    _ => None,
                };
                outcome_from_existing(old, claim)
            }
            _ => Err(LedgerError::Unavailable(DisplayErrorContext(&error).to_string())),
        }
    }
}

/// Reads the item that made the condition fail.
fn outcome_from_existing(old: Option<&HashMap<String, AttributeValue>>, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
    let old = old.ok_or_else(|| LedgerError::Corrupt("condition failed but no ALL_OLD item returned".into()))?;
    if matches!(old.get(REQUEST_ID), Some(AttributeValue::S(id)) if *id == claim.request_id) {
        return Ok(ClaimOutcome::RetriedFirstUse);
    }
    let first_used_at = match old.get(FIRST_USED_AT) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| LedgerError::Corrupt(format!("{FIRST_USED_AT} is not a number")))?,
        _ => return Err(LedgerError::Corrupt(format!("item has no {FIRST_USED_AT}"))),
    };
    Ok(ClaimOutcome::AlreadyUsed { first_used_at: from_unix_secs(first_used_at) })
}
