//! The DynamoDB ledger: exactly one conditional write per claim.
//!
//! Item schema (table key: `pk`, string; TTL attribute: `expires_at`):
//!
//! | attribute       | type | meaning                                                    |
//! |-----------------|------|------------------------------------------------------------|
//! | `pk`            | S    | the [`LedgerKey`]: `link:<link id>`, a hash, never the link |
//! | `first_used_at` | N    | Unix seconds of the first use                              |
//! | `uses`          | N    | uses granted so far                                        |
//! | `request_ids`   | SS   | viewer requests that were granted (makes retries idempotent)|
//! | `fingerprint`   | S    | hash of the first user's IP + User-Agent (Range grace)     |
//! | `revoked`       | BOOL | present and true once the link is revoked                  |
//! | `revoked_at`    | N    | Unix seconds of the revocation                             |
//! | `expires_at`    | N    | TTL: link expiry plus a margin; DynamoDB deletes it later  |
//!
//! One-time links use `PutItem` with `attribute_not_exists(pk)`; N-use links use `UpdateItem`
//! with `ADD uses :one` under `uses < :max`. Revocation is one `UpdateItem`. The retention rule is
//! the one of [`super::record`]: the first write sets `expires_at`, later writes keep it. Both ask for
//! `ReturnValuesOnConditionCheckFailure=ALL_OLD`, so a losing racer learns in the same round trip
//! why it lost (spent, revoked, or its own earlier write): no read-then-write window.

use std::collections::HashMap;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{ClaimOutcome, Ledger, LedgerError, LedgerFor, LedgerKey, LinkState, UseClaim, UsedLink};
use crate::config::AwsDeployment;
use crate::time::{from_unix_secs, unix_secs};

pub const PK: &str = "pk";
pub const TTL_ATTRIBUTE: &str = "expires_at";
pub const FIRST_USED_AT: &str = "first_used_at";
pub const USES: &str = "uses";
pub const REQUEST_IDS: &str = "request_ids";
pub const FINGERPRINT: &str = "fingerprint";
pub const REVOKED: &str = "revoked";
pub const REVOKED_AT: &str = "revoked_at";

type Item = HashMap<String, AttributeValue>;

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

    /// One-time link: a single `PutItem` that only succeeds if no record exists.
    async fn claim_once(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(claim.key.as_str()))
            .item(FIRST_USED_AT, n(unix_secs(claim.at)))
            .item(USES, n(1))
            .item(REQUEST_IDS, AttributeValue::Ss(vec![claim.request_id.clone()]))
            .item(TTL_ATTRIBUTE, n(unix_secs(claim.retain_until)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(fingerprint) = &claim.fingerprint {
            put = put.item(FINGERPRINT, s(fingerprint));
        }
        match put.send().await {
            Ok(_) => Ok(ClaimOutcome::Granted { use_number: 1 }),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let old = match e.err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item(),
                    _ => None,
                };
                outcome_from_existing(old, claim)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// N-use link: a single `UpdateItem` that adds one use while fewer than `max` are spent.
    async fn claim_counted(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let mut set = String::from("#first = if_not_exists(#first, :now), #ttl = if_not_exists(#ttl, :ttl)");
        if claim.fingerprint.is_some() {
            set.push_str(", #fp = if_not_exists(#fp, :fp)");
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(claim.key.as_str()))
            .update_expression(format!("ADD #uses :one, #rids :rid SET {set}"))
            .condition_expression(
                "attribute_not_exists(#revoked) AND (attribute_not_exists(#uses) OR #uses < :max) AND NOT contains(#rids, :rid_str)",
            )
            .expression_attribute_names("#uses", USES)
            .expression_attribute_names("#rids", REQUEST_IDS)
            .expression_attribute_names("#first", FIRST_USED_AT)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#revoked", REVOKED)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":rid", AttributeValue::Ss(vec![claim.request_id.clone()]))
            .expression_attribute_values(":rid_str", s(&claim.request_id))
            .expression_attribute_values(":now", n(unix_secs(claim.at)))
            .expression_attribute_values(":ttl", n(unix_secs(claim.retain_until)))
            .expression_attribute_values(":max", n(u64::from(claim.max_uses)))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(fingerprint) = &claim.fingerprint {
            update = update.expression_attribute_names("#fp", FINGERPRINT).expression_attribute_values(":fp", s(fingerprint));
        }
        match update.send().await {
            Ok(output) => {
                let uses = output.attributes().and_then(|a| number(a, USES)).unwrap_or(1);
                Ok(ClaimOutcome::Granted { use_number: u32::try_from(uses).unwrap_or(u32::MAX) })
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let old = match e.err() {
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item(),
                    _ => None,
                };
                outcome_from_existing(old, claim)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl Ledger for DynamoDbLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        if claim.max_uses <= 1 { self.claim_once(claim).await } else { self.claim_counted(claim).await }
    }

    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key.as_str()))
            .update_expression("SET #revoked = :true, #revoked_at = if_not_exists(#revoked_at, :now), #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#revoked", REVOKED)
            .expression_attribute_names("#revoked_at", REVOKED_AT)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":now", n(unix_secs(at)))
            .expression_attribute_values(":ttl", n(unix_secs(retain_until)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(key.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item().map(|item| LinkState {
            first_used_at: number(item, FIRST_USED_AT).map(from_unix_secs),
            uses: number(item, USES).map_or(0, |u| u32::try_from(u).unwrap_or(u32::MAX)),
            fingerprint: match item.get(FINGERPRINT) {
                Some(AttributeValue::S(f)) => Some(f.clone()),
                _ => None,
            },
            revoked: matches!(item.get(REVOKED), Some(AttributeValue::Bool(true))),
            retain_until: number(item, TTL_ATTRIBUTE).map(from_unix_secs),
        }))
    }
}

/// The ledger of an AWS deployment: the DynamoDB table its configuration (SSM) names.
#[derive(Debug, Clone)]
pub struct DynamoDbTables(pub Client);

impl LedgerFor<AwsDeployment> for DynamoDbTables {
    type Ledger = DynamoDbLedger;

    fn ledger_for(&self, config: &AwsDeployment) -> DynamoDbLedger {
        DynamoDbLedger::new(self.0.clone(), config.table_name.clone())
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn unavailable<E: std::error::Error + 'static>(error: E) -> LedgerError {
    LedgerError::Unavailable(DisplayErrorContext(&error).to_string())
}

/// Reads the item that made the condition fail: why did this claim lose?
fn outcome_from_existing(old: Option<&Item>, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
    let old = old.ok_or_else(|| LedgerError::Corrupt("condition failed but no ALL_OLD item returned".into()))?;
    if matches!(old.get(REVOKED), Some(AttributeValue::Bool(true))) {
        return Ok(ClaimOutcome::Revoked);
    }
    if matches!(old.get(REQUEST_IDS), Some(AttributeValue::Ss(ids)) if ids.contains(&claim.request_id)) {
        return Ok(ClaimOutcome::Retried);
    }
    let first_used_at = number(old, FIRST_USED_AT).ok_or_else(|| LedgerError::Corrupt(format!("item has no numeric {FIRST_USED_AT}")))?;
    let uses = number(old, USES).unwrap_or(1);
    let fingerprint = match old.get(FINGERPRINT) {
        Some(AttributeValue::S(f)) => Some(f.clone()),
        _ => None,
    };
    Ok(ClaimOutcome::Exhausted(UsedLink {
        first_used_at: from_unix_secs(first_used_at),
        uses: u32::try_from(uses).unwrap_or(u32::MAX),
        fingerprint,
    }))
}
