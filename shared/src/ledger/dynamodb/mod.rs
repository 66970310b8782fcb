//! The DynamoDB ledger: every decision is one conditional write.
//!
//! Item schema (table key: `pk`, string; TTL attribute: `expires_at`):
//!
//! | attribute        | type | meaning                                                     |
//! |------------------|------|-------------------------------------------------------------|
//! | `pk`             | S    | the [`LedgerKey`]: `link:<link id>`, a hash, never the link  |
//! | `first_used_at`  | N    | Unix seconds of the first use                               |
//! | `uses`           | N    | uses granted, held ones included                            |
//! | `request_ids`    | SS   | requests whose use is spent (retries recognised, give-backs keyed) |
//! | `hold:<request>` | N    | a held use (gateway) and the end of its lease, Unix seconds |
//! | `fingerprint`    | S    | hash of the first client's IP + User-Agent (resume window)  |
//! | `resumes`        | N    | resumes granted                                             |
//! | `completed`      | SS   | fingerprints whose download completed (no more resumes)     |
//! | `delivery:<request>` | M | `{at, bytes, complete, resume}`: what one use or resume sent |
//! | `inflight:<fingerprint>` | N | the client has a request in flight until then, Unix seconds |
//! | `revoked`        | BOOL | present and true once the link is revoked                   |
//! | `revoked_at`     | N    | Unix seconds of the revocation                              |
//! | `max_uses`       | N    | the link's uses in all, from its claims                     |
//! | `tag`            | S    | the caller's tag, from the issue                            |
//! | `trail:<request>` | M   | `{at, outcome, network, agent}`: one use, resume or refusal ([`crate::ledger::trail`]) |
//! | `refusals`       | N    | refusals counted (the first [`REFUSALS_KEPT`] are in the trail) |
//! | `expires_at`     | N    | TTL: link expiry plus a margin; DynamoDB deletes it later   |
//!
//! | operation | the one write (and its condition) |
//! |---|---|
//! | claim | `UpdateItem ADD uses :1, request_ids :rid` (or `SET hold:<rid> = :lease`) under `attribute_not_exists(revoked) AND (attribute_not_exists(uses) OR uses < :max) AND NOT contains(request_ids, :rid) AND attribute_not_exists(hold:<rid>)` |
//! | take over a lapsed hold | when the claim lost to `uses >= :max` and its `ALL_OLD` item shows a hold whose lease ended: `REMOVE hold:<old>` + the claim's use, under `hold:<old> <= :now` (the same conditions otherwise) |
//! | commit | `REMOVE hold:<rid> ADD request_ids :rid` under `attribute_exists(hold:<rid>)` |
//! | release | `REMOVE hold:<rid> DELETE request_ids :rid ADD uses :-1` under `attribute_exists(hold:<rid>) OR contains(request_ids, :rid)`; the last use (`uses = :1`) also removes `first_used_at` and `fingerprint` |
//! | resume | `ADD resumes :1` under `fingerprint = :fp AND first_used_at >= :window_start AND (attribute_not_exists(resumes) OR resumes < :max) AND attribute_not_exists(revoked) AND NOT contains(completed, :fp)` and not the request's own use (`NOT contains(request_ids, :rid) AND attribute_not_exists(hold:<rid>)`); single-flight also `SET inflight:<fp> = :until` under `(attribute_not_exists(inflight:<fp>) OR inflight:<fp> <= :now)` |
//! | delivery | `SET delivery:<rid> = :d REMOVE inflight:<fp> (ADD completed :fp)` under `attribute_exists(pk)` |
//! | revoke | `SET revoked, revoked_at = if_not_exists(…), expires_at = if_not_exists(…)` |
//! | note a refusal | `SET trail:<rid> ADD refusals :1` under `(attribute_not_exists(refusals) OR refusals < :kept) AND attribute_not_exists(trail:<rid>)`; past the first ones only `ADD refusals :1` |
//! | tag | `SET tag = if_not_exists(tag, :tag), expires_at = if_not_exists(…)` |
//!
//! A granted claim or resume writes its `trail:<rid>` entry (and a claim `max_uses`) in its own
//! one write.
//!
//! Every losing write asks for `ReturnValuesOnConditionCheckFailure=ALL_OLD`, so it learns in the
//! same round trip why it lost (spent, revoked, its own earlier write, a lapsed hold): no
//! read-then-write window. The retention rule is the one of [`super::record`]: the first write
//! sets `expires_at`, later writes keep it.

mod item;
pub mod stream;

use std::collections::HashMap;
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::{
    ClaimOutcome, Commit, Delivery, Ledger, LedgerError, LedgerFor, LedgerKey, LinkState, REFUSALS_KEPT, Release, ResumeClaim,
    ResumeOutcome, TrailEntry, TrailOutcome, UseClaim,
};
use crate::config::AwsDeployment;
use crate::time::unix_secs;
pub use item::*;
use item::{exhausted, hold_name, n, number, s, string_set, trail_name, trail_value, unavailable};

/// How often a claim is tried again when the item changed under it (a lapsed hold it tried to
/// take over was taken by someone else, or committed): each try is one conditional write.
const CLAIM_ATTEMPTS: usize = 4;

#[derive(Debug, Clone)]
pub struct DynamoDbLedger {
    client: Client,
    table: String,
}

/// How a conditional write ended: done (with the values its `ReturnValues` asked for), or lost
/// (with the item as it was, when there was one).
enum Written {
    Done(Option<Item>),
    Lost(Option<Item>),
}

impl DynamoDbLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn update(&self, key: &LedgerKey) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key.as_str()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    }

    async fn write(update: UpdateItemFluentBuilder) -> Result<Written, LedgerError> {
        match update.send().await {
            Ok(output) => Ok(Written::Done(output.attributes)),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let old = match e.err() {
                    UpdateItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                    _ => None,
                };
                Ok(Written::Lost(old))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The claim's one write: a new use (held or spent) under the link's conditions.
    async fn claim_new(&self, claim: &UseClaim) -> Result<Written, LedgerError> {
        let mut set = String::from("#first = if_not_exists(#first, :now), #ttl = if_not_exists(#ttl, :ttl)");
        if claim.fingerprint.is_some() {
            set.push_str(", #fp = if_not_exists(#fp, :fp)");
        }
        let mut add = String::from("#uses :one");
        // The use's number is the count before plus the one added: `UPDATED_OLD` returns nothing
        // at all for a link's first use (its common case), where `UPDATED_NEW` would echo every
        // attribute the write set, the trail entry included, for DynamoDB to encode and the SDK to
        // parse.
        let mut update = self.update(&claim.key).return_values(ReturnValue::UpdatedOld);
        update = use_of(update, claim, &mut set, &mut add);
        update = update
            .update_expression(format!("SET {set} ADD {add}"))
            .condition_expression(
                "attribute_not_exists(#revoked) AND (attribute_not_exists(#uses) OR #uses < :max) AND NOT contains(#rids, :rid) AND attribute_not_exists(#hold)",
            )
            .expression_attribute_names("#uses", USES)
            .expression_attribute_names("#first", FIRST_USED_AT)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#revoked", REVOKED)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(unix_secs(claim.at)))
            .expression_attribute_values(":ttl", n(unix_secs(claim.retain_until)));
        if let Some(fingerprint) = &claim.fingerprint {
            update = update.expression_attribute_names("#fp", FINGERPRINT).expression_attribute_values(":fp", s(fingerprint));
        }
        Self::write(update).await
    }

    /// The use of a lapsed hold `old` becomes the claim's, in one write guarded by the lapse.
    async fn take_over(&self, claim: &UseClaim, old: &str) -> Result<Written, LedgerError> {
        let (mut set, mut add) = (String::new(), String::new());
        let mut update = self.update(&claim.key);
        update = use_of(update, claim, &mut set, &mut add);
        let mut expression = String::from("REMOVE #old");
        if !set.is_empty() {
            expression.push_str(&format!(" SET {}", set.trim_start_matches(", ")));
        }
        if !add.is_empty() {
            expression.push_str(&format!(" ADD {}", add.trim_start_matches(", ")));
        }
        update = update
            .update_expression(expression)
            .condition_expression(
                "#old <= :now AND attribute_not_exists(#revoked) AND NOT contains(#rids, :rid) AND attribute_not_exists(#hold)",
            )
            .expression_attribute_names("#old", old)
            .expression_attribute_names("#revoked", REVOKED)
            .expression_attribute_values(":now", n(unix_secs(claim.at)));
        Self::write(update).await
    }

    /// Release's one write; `last` also forgets the first use (the link is as if never used).
    async fn give_back(&self, key: &LedgerKey, request_id: &str, last: bool) -> Result<Written, LedgerError> {
        let (remove, condition) = if last {
            ("REMOVE #hold, #first, #fp", "(attribute_exists(#hold) OR contains(#rids, :rid)) AND #uses = :one")
        } else {
            ("REMOVE #hold", "attribute_exists(#hold) OR contains(#rids, :rid)")
        };
        let mut update = self
            .update(key)
            .update_expression(format!("{remove} DELETE #rids :rid_set ADD #uses :minus_one"))
            .condition_expression(condition)
            .expression_attribute_names("#hold", hold_name(request_id))
            .expression_attribute_names("#rids", REQUEST_IDS)
            .expression_attribute_names("#uses", USES)
            .expression_attribute_values(":rid", s(request_id))
            .expression_attribute_values(":rid_set", AttributeValue::Ss(vec![request_id.to_owned()]))
            .expression_attribute_values(":minus_one", AttributeValue::N("-1".into()));
        if last {
            update = update
                .expression_attribute_names("#first", FIRST_USED_AT)
                .expression_attribute_names("#fp", FINGERPRINT)
                .expression_attribute_values(":one", n(1));
        }
        Self::write(update).await
    }
}

/// Adds the claim's use to an update: a hold (`SET hold:<rid> = :lease`) or a spent use
/// (`ADD request_ids :rid`), its trail entry and `max_uses`, and the names and values every
/// claim condition uses (`:max`, the link's uses in all, is both `max_uses` and the bound of the
/// count).
fn use_of(update: UpdateItemFluentBuilder, claim: &UseClaim, set: &mut String, add: &mut String) -> UpdateItemFluentBuilder {
    set.push_str(", #trail = :trail, #max_uses = :max");
    let entry =
        TrailEntry { request_id: claim.request_id.clone(), at: claim.at, outcome: TrailOutcome::Used, client: claim.client.clone() };
    let update = update
        .expression_attribute_names("#rids", REQUEST_IDS)
        .expression_attribute_names("#hold", hold_name(&claim.request_id))
        .expression_attribute_names("#trail", trail_name(&claim.request_id))
        .expression_attribute_names("#max_uses", MAX_USES)
        .expression_attribute_values(":rid", s(&claim.request_id))
        .expression_attribute_values(":trail", trail_value(&entry))
        .expression_attribute_values(":max", n(u64::from(claim.max_uses)));
    match claim.hold_until {
        Some(until) => {
            set.push_str(", #hold = :lease");
            let update = update.expression_attribute_values(":lease", n(unix_secs(until)));
            match &claim.fingerprint {
                Some(fingerprint) => {
                    set.push_str(", #inflight = :lease");
                    update.expression_attribute_names("#inflight", format!("{IN_FLIGHT_PREFIX}{fingerprint}"))
                }
                None => update,
            }
        }
        None => {
            add.push_str(", #rids :rid_set");
            update.expression_attribute_values(":rid_set", AttributeValue::Ss(vec![claim.request_id.clone()]))
        }
    }
}

#[async_trait]
impl Ledger for DynamoDbLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let mut write = self.claim_new(claim).await?;
        for _ in 0..CLAIM_ATTEMPTS {
            let old = match write {
                Written::Done(before) => {
                    // `UPDATED_OLD`: the count as it was (absent on a first use); the write added one.
                    let uses = before.as_ref().and_then(|a| number(a, USES)).unwrap_or(0).saturating_add(1);
                    return Ok(ClaimOutcome::Granted { use_number: u32::try_from(uses).unwrap_or(u32::MAX) });
                }
                Written::Lost(old) => old.ok_or_else(|| LedgerError::Corrupt("condition failed but no ALL_OLD item returned".into()))?,
            };
            if matches!(old.get(REVOKED), Some(AttributeValue::Bool(true))) {
                return Ok(ClaimOutcome::Revoked);
            }
            if old.contains_key(&hold_name(&claim.request_id)) || string_set(&old, REQUEST_IDS).contains(&claim.request_id) {
                return Ok(ClaimOutcome::Retried);
            }
            let uses = number(&old, USES).unwrap_or(0);
            if uses < u64::from(claim.max_uses) {
                // The item changed between the write and now (a release, a take-over): ask again.
                write = self.claim_new(claim).await?;
                continue;
            }
            let lapsed = old.iter().find(|(name, value)| {
                name.starts_with(HOLD_PREFIX)
                    && matches!(value, AttributeValue::N(v) if v.parse::<u64>().is_ok_and(|until| until <= unix_secs(claim.at)))
            });
            let Some((lapsed, _)) = lapsed else { return exhausted(&old, claim) };
            write = match self.take_over(claim, lapsed).await? {
                Written::Done(_) => return Ok(ClaimOutcome::Granted { use_number: u32::try_from(uses).unwrap_or(u32::MAX) }),
                lost => lost,
            };
        }
        Err(LedgerError::Unavailable("the link's record kept changing under the claim".into()))
    }

    async fn commit(&self, key: &LedgerKey, request_id: &str) -> Result<Commit, LedgerError> {
        let update = self
            .update(key)
            .update_expression("REMOVE #hold ADD #rids :rid_set")
            .condition_expression("attribute_exists(#hold)")
            .expression_attribute_names("#hold", hold_name(request_id))
            .expression_attribute_names("#rids", REQUEST_IDS)
            .expression_attribute_values(":rid_set", AttributeValue::Ss(vec![request_id.to_owned()]));
        match Self::write(update).await? {
            Written::Done(_) => Ok(Commit::Committed),
            Written::Lost(old) if old.as_ref().is_some_and(|o| string_set(o, REQUEST_IDS).iter().any(|id| id == request_id)) => {
                Ok(Commit::Committed)
            }
            Written::Lost(_) => Ok(Commit::Lost),
        }
    }

    async fn release(&self, key: &LedgerKey, request_id: &str) -> Result<Release, LedgerError> {
        if let Written::Done(_) = self.give_back(key, request_id, true).await? {
            return Ok(Release::Released);
        }
        match self.give_back(key, request_id, false).await? {
            Written::Done(_) => Ok(Release::Released),
            Written::Lost(_) => Ok(Release::NotHeld),
        }
    }

    async fn resume(&self, resume: &ResumeClaim) -> Result<ResumeOutcome, LedgerError> {
        let mut condition = String::from(
            "#fp = :fp AND #first >= :window_start AND (attribute_not_exists(#resumes) OR #resumes < :max) AND attribute_not_exists(#revoked) AND NOT contains(#completed, :fp) AND NOT contains(#rids, :rid) AND attribute_not_exists(#hold)",
        );
        let mut update = self
            .update(&resume.key)
            .return_values(ReturnValue::UpdatedNew)
            .expression_attribute_names("#rids", REQUEST_IDS)
            .expression_attribute_names("#hold", hold_name(&resume.request_id))
            .expression_attribute_values(":rid", s(&resume.request_id));
        update = match resume.single_flight {
            Some(flight) => {
                condition.push_str(" AND (attribute_not_exists(#inflight) OR #inflight <= :now)");
                update
                    .update_expression("ADD #resumes :one SET #inflight = :until, #trail = :trail")
                    .expression_attribute_names("#inflight", format!("{IN_FLIGHT_PREFIX}{}", resume.fingerprint))
                    .expression_attribute_values(":now", n(unix_secs(flight.now)))
                    .expression_attribute_values(":until", n(unix_secs(flight.until)))
            }
            None => update.update_expression("ADD #resumes :one SET #trail = :trail"),
        };
        let entry = TrailEntry {
            request_id: resume.request_id.clone(),
            at: resume.at,
            outcome: TrailOutcome::Resumed,
            client: resume.client.clone(),
        };
        let update = update
            .condition_expression(condition)
            .expression_attribute_names("#resumes", RESUMES)
            .expression_attribute_names("#fp", FINGERPRINT)
            .expression_attribute_names("#first", FIRST_USED_AT)
            .expression_attribute_names("#revoked", REVOKED)
            .expression_attribute_names("#completed", COMPLETED)
            .expression_attribute_names("#trail", trail_name(&resume.request_id))
            .expression_attribute_values(":trail", trail_value(&entry))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":fp", s(&resume.fingerprint))
            .expression_attribute_values(":window_start", n(unix_secs(resume.window_start)))
            .expression_attribute_values(":max", n(u64::from(resume.max_resumes)));
        Ok(match Self::write(update).await? {
            Written::Done(new) => {
                let number = new.as_ref().and_then(|a| number(a, RESUMES)).unwrap_or(1);
                ResumeOutcome::Resumed { resume_number: u32::try_from(number).unwrap_or(u32::MAX) }
            }
            Written::Lost(_) => ResumeOutcome::NotResumable,
        })
    }

    async fn record_delivery(&self, key: &LedgerKey, fingerprint: Option<&str>, delivery: &Delivery) -> Result<(), LedgerError> {
        let value = AttributeValue::M(HashMap::from([
            ("at".to_owned(), n(unix_secs(delivery.at))),
            ("bytes".to_owned(), n(delivery.bytes)),
            ("complete".to_owned(), AttributeValue::Bool(delivery.complete)),
            ("resume".to_owned(), AttributeValue::Bool(delivery.resume)),
        ]));
        let mut update = self
            .update(key)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#delivery", format!("{DELIVERY_PREFIX}{}", delivery.request_id))
            .expression_attribute_values(":delivery", value);
        update = match (fingerprint, delivery.complete) {
            (Some(fingerprint), true) => update
                .update_expression("SET #delivery = :delivery REMOVE #inflight ADD #completed :fp")
                .expression_attribute_names("#inflight", format!("{IN_FLIGHT_PREFIX}{fingerprint}"))
                .expression_attribute_names("#completed", COMPLETED)
                .expression_attribute_values(":fp", AttributeValue::Ss(vec![fingerprint.to_owned()])),
            (Some(fingerprint), false) => update
                .update_expression("SET #delivery = :delivery REMOVE #inflight")
                .expression_attribute_names("#inflight", format!("{IN_FLIGHT_PREFIX}{fingerprint}")),
            (None, _) => update.update_expression("SET #delivery = :delivery"),
        };
        Self::write(update).await.map(|_| ())
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

    async fn note_refusal(&self, key: &LedgerKey, entry: &TrailEntry, retain_until: SystemTime) -> Result<(), LedgerError> {
        let kept = self
            .update(key)
            .update_expression("SET #trail = :trail, #ttl = if_not_exists(#ttl, :ttl) ADD #refusals :one")
            .condition_expression("(attribute_not_exists(#refusals) OR #refusals < :kept) AND attribute_not_exists(#trail)")
            .expression_attribute_names("#trail", trail_name(&entry.request_id))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#refusals", REFUSALS)
            .expression_attribute_values(":trail", trail_value(entry))
            .expression_attribute_values(":ttl", n(unix_secs(retain_until)))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":kept", n(u64::from(REFUSALS_KEPT)));
        let old = match Self::write(kept).await? {
            Written::Done(_) => return Ok(()),
            Written::Lost(old) => old,
        };
        if old.is_some_and(|old| old.contains_key(&trail_name(&entry.request_id))) {
            return Ok(()); // this very request again
        }
        // Past the first refusals: counted only.
        let counted = self
            .update(key)
            .update_expression("SET #ttl = if_not_exists(#ttl, :ttl) ADD #refusals :one")
            .condition_expression("attribute_not_exists(#trail)")
            .expression_attribute_names("#trail", trail_name(&entry.request_id))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_names("#refusals", REFUSALS)
            .expression_attribute_values(":ttl", n(unix_secs(retain_until)))
            .expression_attribute_values(":one", n(1));
        Self::write(counted).await.map(drop)
    }

    async fn tag(&self, key: &LedgerKey, tag: &str, retain_until: SystemTime) -> Result<(), LedgerError> {
        let update = self
            .update(key)
            .update_expression("SET #tag = if_not_exists(#tag, :tag), #ttl = if_not_exists(#ttl, :ttl)")
            .expression_attribute_names("#tag", TAG)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":tag", s(tag))
            .expression_attribute_values(":ttl", n(unix_secs(retain_until)));
        Self::write(update).await.map(drop)
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
        Ok(output.item().map(|item| record(item).state()))
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
