//! The schema, and its migrations, applied when a gateway starts.
//!
//! `oncelink_schema` lists the migrations applied. Each start takes a transaction-scoped advisory
//! lock (so gateways starting together on one database migrate one after the other, never into
//! each other's `CREATE TABLE`), applies the missing ones in order, and records them; a database
//! migrated by a newer gateway is refused rather than misread.
//!
//! `oncelink_links`, one row per used or revoked link:
//!
//! | column | type | meaning (the field of [`oncelink::ledger::LinkRecord`]) |
//! |---|---|---|
//! | `link_key` | text, primary key | the [`oncelink::ledger::LedgerKey`] (`link:<id>`), a hash, never the link |
//! | `uses` | integer | uses granted, held ones included |
//! | `first_used_at` | bigint | Unix seconds of the first use |
//! | `fingerprint` | text | hash of the first client's IP + User-Agent |
//! | `request_ids` | text[] | requests whose use is spent |
//! | `holds` | jsonb | `{request id: lease end}`: held uses |
//! | `revoked`, `revoked_at` | boolean, bigint | the revocation |
//! | `retain_until` | bigint | when the row may be deleted (indexed for the purge) |
//! | `resumes` | integer | resumes granted |
//! | `completed` | text[] | fingerprints whose download completed |
//! | `in_flight` | jsonb | `{fingerprint: until}`: clients with a request in flight |
//! | `deliveries` | jsonb | `{request id: {at, bytes, complete, resume}}` |
//! | `tag` | text | the caller's tag (migration 2) |
//! | `max_uses` | integer | the link's uses in all, from its claims (migration 2) |
//! | `trail` | jsonb | `{request id: {at, outcome, network, agent}}` (migration 2) |
//! | `refusals` | integer | refusals counted (migration 2) |

use tokio_postgres::Client;

/// The migrations, in order; a released one is never edited, only followed by a new one.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE oncelink_links (
        link_key text PRIMARY KEY,
        uses integer NOT NULL DEFAULT 0,
        first_used_at bigint,
        fingerprint text,
        request_ids text[] NOT NULL DEFAULT '{}',
        holds jsonb NOT NULL DEFAULT '{}',
        revoked boolean NOT NULL DEFAULT false,
        revoked_at bigint,
        retain_until bigint,
        resumes integer NOT NULL DEFAULT 0,
        completed text[] NOT NULL DEFAULT '{}',
        in_flight jsonb NOT NULL DEFAULT '{}',
        deliveries jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX oncelink_links_retain_until ON oncelink_links (retain_until);",
    ),
    (
        2,
        "ALTER TABLE oncelink_links
            ADD COLUMN tag text,
            ADD COLUMN max_uses integer NOT NULL DEFAULT 0,
            ADD COLUMN trail jsonb NOT NULL DEFAULT '{}',
            ADD COLUMN refusals integer NOT NULL DEFAULT 0;",
    ),
];

/// An arbitrary constant naming the migration lock (`pg_advisory_xact_lock`).
const LOCK: i64 = 0x6f6e_6365_6c69_6e6b; // "oncelink"

/// Brings the database to the newest schema this gateway knows; returns that version.
pub async fn migrate(client: &mut Client) -> Result<i32, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK]).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS oncelink_schema (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let current: i32 = tx.query_one("SELECT COALESCE(max(version), 0) FROM oncelink_schema", &[]).await?.get(0);
    let newest = newest();
    if current > newest {
        // Not an error of the connection: the caller turns this into a start-up error.
        tx.rollback().await?;
        return Ok(current);
    }
    for (version, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(statements).await?;
        tx.execute("INSERT INTO oncelink_schema (version) VALUES ($1)", &[version]).await?;
        tracing::info!(version, "postgres ledger: schema migrated");
    }
    tx.commit().await?;
    Ok(newest)
}

/// The newest version this gateway knows.
pub fn newest() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}
