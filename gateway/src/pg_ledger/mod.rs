//! The PostgreSQL ledger (`--ledger postgres --database-url …`): several gateways on one
//! database, behind the core's [`Ledger`] port.
//!
//! Every decision is one SQL statement on the link's row ([`sql`] states the core's
//! [`oncelink::ledger::LinkRecord`] rule in SQL and says why one statement is exact under any
//! concurrency); the row's layout and its migrations, applied at start, are in [`schema`]; the
//! pool and its timeouts in [`pool`]; reading rows back in [`row`].
//!
//! A claim that gets no row back was refused; one more read tells why (revoked, its own retry,
//! spent), as DynamoDB's `ALL_OLD` does. That read decides nothing: when it finds the claim
//! would now succeed (a use given back in between), the claim's statement runs again.
//!
//! Fail closed: any error of the pool, the connection or the server is
//! [`LedgerError::Unavailable`] (a 503), and a broken connection is replaced on the next
//! request, so the gateway recovers when the database is back. Expired rows are deleted in
//! bounded batches by a background task ([`PgLedger::spawn_purger`]).

mod pool;
mod row;
mod schema;
mod sql;

use std::future::Future;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use deadpool_postgres::Pool;
use oncelink::ledger::{
    ClaimOutcome, Commit, Delivery, Ledger, LedgerError, LedgerKey, LinkState, REFUSALS_KEPT, Release, ResumeClaim, ResumeOutcome,
    TrailEntry, TrailOutcome, UseClaim,
};
pub use pool::redact;
use row::{count, secs};

/// How often a claim is written again when the row changed between its refusal and the read
/// that explains it.
const CLAIM_ATTEMPTS: usize = 4;

/// Rows deleted per purge statement, and statements per purge round.
const PURGE_BATCH: i64 = 1000;
const PURGE_BATCHES: usize = 20;

#[derive(Clone)]
pub struct PgLedger {
    pool: Pool,
}

fn unavailable(e: impl std::error::Error) -> LedgerError {
    LedgerError::Unavailable(format!("postgres ledger: {}", causes(&e)))
}

/// An error and its causes, `a: b: c` (the driver's own message is often only "error
/// connecting to server"). None of them carries the URL or a parameter's value.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text = format!("{text}: {next}");
        }
        source = cause.source();
    }
    text
}

impl PgLedger {
    /// Connects to `url` and brings its schema up to date. Fails (the gateway does not start)
    /// when the database cannot be reached or was migrated by a newer gateway.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let pool = pool::pool(url)?;
        let shown = redact(url);
        let mut client = pool.get().await.map_err(|e| anyhow::anyhow!("cannot connect to the ledger database {shown}: {}", causes(&e)))?;
        let version = schema::migrate(&mut client)
            .await
            .map_err(|e| anyhow::anyhow!("cannot migrate the ledger database {shown}: {}", causes(&e)))?;
        if version > schema::newest() {
            anyhow::bail!("the ledger database {shown} has schema version {version}; this gateway knows up to {}", schema::newest());
        }
        drop(client);
        Ok(Self { pool })
    }

    /// Runs `op` on a pooled connection, within [`pool::OPERATION_TIMEOUT`].
    async fn with<T, F, Fut>(&self, op: F) -> Result<T, LedgerError>
    where
        F: FnOnce(deadpool_postgres::Object) -> Fut,
        Fut: Future<Output = Result<T, LedgerError>>,
    {
        let work = async {
            let client = self.pool.get().await.map_err(unavailable)?;
            op(client).await
        };
        tokio::time::timeout(pool::OPERATION_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| Err(LedgerError::Unavailable("postgres ledger: no answer in time".into())))
    }

    /// Deletes the rows whose retention ended by `now`, in bounded batches; returns how many.
    pub async fn purge(&self, now: SystemTime) -> Result<u64, LedgerError> {
        let mut purged = 0;
        for _ in 0..PURGE_BATCHES {
            let deleted = self
                .with(|client| async move {
                    let statement = client.prepare_cached(sql::PURGE).await.map_err(unavailable)?;
                    client.execute(&statement, &[&secs(now), &PURGE_BATCH]).await.map_err(unavailable)
                })
                .await?;
            purged += deleted;
            if deleted < PURGE_BATCH as u64 {
                break;
            }
        }
        Ok(purged)
    }

    /// Runs `statement` (`$1` key, `$2` request id) on one use of a link: whether it got a row
    /// back, i.e. whether its condition held.
    async fn use_changed(&self, statement: &'static str, key: &LedgerKey, request_id: &str) -> Result<bool, LedgerError> {
        self.with(|client| async move {
            let statement = client.prepare_cached(statement).await.map_err(unavailable)?;
            Ok(client.query_opt(&statement, &[&key.as_str(), &request_id]).await.map_err(unavailable)?.is_some())
        })
        .await
    }

    /// Purges expired rows every `every` (every gateway on the database may: the batches skip
    /// rows another one is deleting).
    pub fn spawn_purger(&self, every: Duration) {
        let ledger = self.clone();
        crate::purger::spawn(every, move |now| {
            let l = ledger.clone();
            async move { l.purge(now).await }
        });
    }
}

#[async_trait]
impl Ledger for PgLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let (at, retain, max) = (secs(claim.at), secs(claim.retain_until), count(claim.max_uses));
        let (fingerprint, lease) = (claim.fingerprint.as_deref(), claim.hold_until.map(secs));
        let (key, rid) = (claim.key.as_str(), claim.request_id.as_str());
        let entry = row::trail_json(&TrailEntry {
            request_id: claim.request_id.clone(),
            at: claim.at,
            outcome: TrailOutcome::Used,
            client: claim.client.clone(),
        });
        let entry = &entry.as_str();
        self.with(|client| async move {
            let write = client.prepare_cached(sql::CLAIM).await.map_err(unavailable)?;
            let read = client.prepare_cached(sql::CLASSIFY).await.map_err(unavailable)?;
            for _ in 0..CLAIM_ATTEMPTS {
                let granted =
                    client.query_opt(&write, &[&key, &rid, &at, &retain, &max, &fingerprint, &lease, entry]).await.map_err(unavailable)?;
                if let Some(granted) = granted {
                    return Ok(ClaimOutcome::Granted { use_number: row::returned_number(&granted)? });
                }
                let Some(current) = client.query_opt(&read, &[&key, &rid, &at]).await.map_err(unavailable)? else {
                    continue; // purged in between: claim again
                };
                if let Some(refused) = row::refusal(&current, claim)? {
                    return Ok(refused);
                }
            }
            Err(LedgerError::Unavailable("postgres ledger: the link's record kept changing under the claim".into()))
        })
        .await
    }

    async fn commit(&self, key: &LedgerKey, request_id: &str) -> Result<Commit, LedgerError> {
        let done = self.use_changed(sql::COMMIT, key, request_id).await?;
        Ok(if done { Commit::Committed } else { Commit::Lost })
    }

    async fn release(&self, key: &LedgerKey, request_id: &str) -> Result<Release, LedgerError> {
        let done = self.use_changed(sql::RELEASE, key, request_id).await?;
        Ok(if done { Release::Released } else { Release::NotHeld })
    }

    async fn resume(&self, resume: &ResumeClaim) -> Result<ResumeOutcome, LedgerError> {
        let (window_start, max) = (secs(resume.window_start), count(resume.max_resumes));
        let (now, until) = (resume.single_flight.map(|f| secs(f.now)), resume.single_flight.map(|f| secs(f.until)));
        let entry = row::trail_json(&TrailEntry {
            request_id: resume.request_id.clone(),
            at: resume.at,
            outcome: TrailOutcome::Resumed,
            client: resume.client.clone(),
        });
        let entry = &entry.as_str();
        self.with(|client| async move {
            let statement = client.prepare_cached(sql::RESUME).await.map_err(unavailable)?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] =
                [&resume.key.as_str(), &resume.request_id.as_str(), &resume.fingerprint.as_str(), &window_start, &max, &now, &until, entry];
            Ok(match client.query_opt(&statement, &params).await.map_err(unavailable)? {
                Some(row) => ResumeOutcome::Resumed { resume_number: row::returned_number(&row)? },
                None => ResumeOutcome::NotResumable,
            })
        })
        .await
    }

    async fn record_delivery(&self, key: &LedgerKey, fingerprint: Option<&str>, delivery: &Delivery) -> Result<(), LedgerError> {
        let (at, bytes) = (secs(delivery.at), i64::try_from(delivery.bytes).unwrap_or(i64::MAX));
        self.with(|client| async move {
            let statement = client.prepare_cached(sql::DELIVERY).await.map_err(unavailable)?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] =
                [&key.as_str(), &delivery.request_id.as_str(), &at, &bytes, &delivery.complete, &delivery.resume, &fingerprint];
            client.execute(&statement, &params).await.map(drop).map_err(unavailable)
        })
        .await
    }

    async fn revoke(&self, key: &LedgerKey, at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        let (at, retain) = (secs(at), secs(retain_until));
        self.with(|client| async move {
            let statement = client.prepare_cached(sql::REVOKE).await.map_err(unavailable)?;
            client.execute(&statement, &[&key.as_str(), &at, &retain]).await.map(drop).map_err(unavailable)
        })
        .await
    }

    async fn note_refusal(&self, key: &LedgerKey, entry: &TrailEntry, retain_until: SystemTime) -> Result<(), LedgerError> {
        let (stored, retain, kept) = (row::trail_json(entry), secs(retain_until), count(REFUSALS_KEPT));
        let stored = &stored.as_str();
        self.with(|client| async move {
            let statement = client.prepare_cached(sql::NOTE_REFUSAL).await.map_err(unavailable)?;
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                [&key.as_str(), &entry.request_id.as_str(), stored, &retain, &kept];
            client.execute(&statement, &params).await.map(drop).map_err(unavailable)
        })
        .await
    }

    async fn tag(&self, key: &LedgerKey, tag: &str, retain_until: SystemTime) -> Result<(), LedgerError> {
        let retain = secs(retain_until);
        self.with(|client| async move {
            let statement = client.prepare_cached(sql::TAG).await.map_err(unavailable)?;
            client.execute(&statement, &[&key.as_str(), &tag, &retain]).await.map(drop).map_err(unavailable)
        })
        .await
    }

    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError> {
        self.with(|client| async move {
            let statement = client.prepare_cached(sql::LOOKUP).await.map_err(unavailable)?;
            match client.query_opt(&statement, &[&key.as_str()]).await.map_err(unavailable)? {
                Some(found) => row::record(&found).map(|record| Some(record.state())),
                None => Ok(None),
            }
        })
        .await
    }
}
