//! The embedded, durable ledger: one `redb` file in the data directory, behind the core's
//! [`Ledger`] port.
//!
//! Storage only. The rule (what a claim does to a link's record) is the core's
//! [`LinkRecord::apply`] / [`LinkRecord::revoke`]; this adapter reads a record, applies the rule
//! and writes it back inside one write transaction. redb serialises write transactions and
//! commits them durably (fsync) before `claim` returns, so concurrent first uses have exactly
//! one winner and a granted use survives `kill -9`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use oncelink::ledger::memory::LinkRecord;
use oncelink::ledger::{ClaimOutcome, Ledger, LedgerError, LedgerKey, LinkState, UseClaim};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

const LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("links");

/// The on-disk form of a [`LinkRecord`] (times as Unix milliseconds).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_used_at_ms: Option<u64>,
    uses: u32,
    #[serde(default)]
    request_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    #[serde(default)]
    revoked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retain_until_ms: Option<u64>,
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

impl From<&LinkRecord> for Stored {
    fn from(r: &LinkRecord) -> Self {
        Self {
            first_used_at_ms: r.first_used_at.map(ms),
            uses: r.uses,
            request_ids: r.request_ids.clone(),
            fingerprint: r.fingerprint.clone(),
            revoked: r.revoked,
            retain_until_ms: r.retain_until.map(ms),
        }
    }
}

impl From<Stored> for LinkRecord {
    fn from(s: Stored) -> Self {
        Self {
            first_used_at: s.first_used_at_ms.map(from_ms),
            uses: s.uses,
            request_ids: s.request_ids,
            fingerprint: s.fingerprint,
            revoked: s.revoked,
            retain_until: s.retain_until_ms.map(from_ms),
        }
    }
}

#[derive(Clone)]
pub struct FileLedger {
    db: Arc<Database>,
}

fn unavailable(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Unavailable(format!("file ledger: {e}"))
}

impl FileLedger {
    /// Opens (or creates) the ledger file. Fails if another process holds it.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let db = Database::create(path).map_err(|e| anyhow::anyhow!("cannot open the ledger {}: {e}", path.display()))?;
        // Create the table so that readers never see it missing.
        let tx = db.begin_write()?;
        tx.open_table(LINKS)?;
        tx.commit()?;
        Ok(Self { db: Arc::new(db) })
    }

    /// Reads one record, applies `change` to it and writes it back, in one durable transaction.
    async fn update<T: Send + 'static>(
        &self,
        key: &LedgerKey,
        change: impl FnOnce(&mut LinkRecord) -> T + Send + 'static,
    ) -> Result<T, LedgerError> {
        let db = self.db.clone();
        let key = key.as_str().to_owned();
        tokio::task::spawn_blocking(move || -> Result<T, LedgerError> {
            let tx = db.begin_write().map_err(unavailable)?;
            let out = {
                let mut table = tx.open_table(LINKS).map_err(unavailable)?;
                let mut record: LinkRecord = match table.get(key.as_str()).map_err(unavailable)? {
                    Some(raw) => decode(raw.value())?,
                    None => LinkRecord::default(),
                };
                let out = change(&mut record);
                let bytes = serde_json::to_vec(&Stored::from(&record)).map_err(unavailable)?;
                table.insert(key.as_str(), bytes.as_slice()).map_err(unavailable)?;
                out
            };
            tx.commit().map_err(unavailable)?;
            Ok(out)
        })
        .await
        .map_err(unavailable)?
    }

    /// Deletes every record whose retention has passed; returns how many.
    pub fn purge(&self, now: SystemTime) -> anyhow::Result<u64> {
        let tx = self.db.begin_write()?;
        let mut removed = 0u64;
        {
            let mut table = tx.open_table(LINKS)?;
            let now_ms = ms(now);
            table.retain(|_, raw| {
                let keep = match serde_json::from_slice::<Stored>(raw) {
                    Ok(s) => s.retain_until_ms.is_none_or(|r| r > now_ms),
                    Err(_) => true, // never delete what we cannot read
                };
                if !keep {
                    removed += 1;
                }
                keep
            })?;
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Number of records (for metrics).
    pub fn len(&self) -> anyhow::Result<u64> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(LINKS)?.len()?)
    }

    /// Purges expired records every `every`, forever.
    pub fn spawn_purger(&self, every: Duration) {
        let ledger = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let l = ledger.clone();
                match tokio::task::spawn_blocking(move || l.purge(SystemTime::now())).await {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => tracing::info!(purged = n, "purged expired ledger records"),
                    Ok(Err(error)) => tracing::warn!(%error, "ledger purge failed"),
                    Err(error) => tracing::warn!(%error, "ledger purge task failed"),
                }
            }
        });
    }
}

fn decode(raw: &[u8]) -> Result<LinkRecord, LedgerError> {
    serde_json::from_slice::<Stored>(raw).map(LinkRecord::from).map_err(|e| LedgerError::Corrupt(format!("file ledger record: {e}")))
}

#[async_trait]
impl Ledger for FileLedger {
    async fn claim(&self, claim: &UseClaim) -> Result<ClaimOutcome, LedgerError> {
        let claim = claim.clone();
        self.update(&claim.key.clone(), move |record| record.apply(&claim)).await
    }

    async fn revoke(&self, key: &LedgerKey, _at: SystemTime, retain_until: SystemTime) -> Result<(), LedgerError> {
        self.update(key, move |record| record.revoke(retain_until)).await
    }

    async fn lookup(&self, key: &LedgerKey) -> Result<Option<LinkState>, LedgerError> {
        let db = self.db.clone();
        let key = key.as_str().to_owned();
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_read().map_err(unavailable)?;
            let table = tx.open_table(LINKS).map_err(unavailable)?;
            match table.get(key.as_str()).map_err(unavailable)? {
                Some(raw) => Ok(Some(decode(raw.value())?.state())),
                None => Ok(None),
            }
        })
        .await
        .map_err(unavailable)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(key: &str, request_id: &str, at: SystemTime, max_uses: u32) -> UseClaim {
        UseClaim {
            key: LedgerKey::for_link(key),
            request_id: request_id.into(),
            at,
            retain_until: at + Duration::from_secs(60),
            max_uses,
            fingerprint: Some("fp".into()),
        }
    }

    #[tokio::test]
    async fn claims_survive_reopening_and_purge_drops_old_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let now = from_ms(ms(SystemTime::now()));
        {
            let ledger = FileLedger::open(&path).unwrap();
            assert_eq!(ledger.claim(&claim("a", "r1", now, 1)).await.unwrap(), ClaimOutcome::Granted { use_number: 1 });
            assert_eq!(ledger.claim(&claim("a", "r1", now, 1)).await.unwrap(), ClaimOutcome::Retried);
        }
        let ledger = FileLedger::open(&path).unwrap();
        match ledger.claim(&claim("a", "r2", now, 1)).await.unwrap() {
            ClaimOutcome::Exhausted(used) => assert_eq!(used.first_used_at, now),
            other => panic!("expected exhausted, got {other:?}"),
        }
        ledger.revoke(&LedgerKey::for_link("b"), now, now + Duration::from_secs(3600)).await.unwrap();
        assert_eq!(ledger.claim(&claim("b", "r3", now, 5)).await.unwrap(), ClaimOutcome::Revoked);
        let state = ledger.lookup(&LedgerKey::for_link("a")).await.unwrap().unwrap();
        assert_eq!((state.uses, state.fingerprint.as_deref()), (1, Some("fp")));
        assert_eq!(ledger.len().unwrap(), 2);
        // "a" is retained 60 s, "b" an hour.
        assert_eq!(ledger.purge(now + Duration::from_secs(61)).unwrap(), 1);
        assert!(ledger.lookup(&LedgerKey::for_link("a")).await.unwrap().is_none());
        assert!(ledger.lookup(&LedgerKey::for_link("b")).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn concurrent_claims_have_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileLedger::open(&dir.path().join("l.redb")).unwrap();
        let now = SystemTime::now();
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let l = ledger.clone();
                tokio::spawn(async move { l.claim(&claim("x", &format!("r{i}"), now, 1)).await.unwrap() })
            })
            .collect();
        let mut granted = 0;
        for t in tasks {
            if t.await.unwrap().is_allowed() {
                granted += 1;
            }
        }
        assert_eq!(granted, 1);
    }
}
