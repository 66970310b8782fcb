//! The statements: each ledger operation is one SQL statement on one row, and each states the
//! core's rule ([`oncelink::ledger::LinkRecord`]) in SQL, clause for clause.
//!
//! Why one statement is enough under any concurrency (READ COMMITTED, the default): an
//! `INSERT … ON CONFLICT DO UPDATE … WHERE` or an `UPDATE … WHERE` on one row takes that row's
//! lock, and when another transaction changed the row meanwhile it evaluates its `WHERE` and
//! `SET` again on the newest committed version. So the condition that decides a use is always
//! judged on the row as the last winner left it; a loser gets no row back. Everything a
//! condition reads lives in that row (no other table, no earlier read), which is what makes the
//! re-evaluation complete.
//!
//! | `LinkRecord` rule | here |
//! |---|---|
//! | `apply`: revoked → `Revoked` | `WHERE NOT l.revoked` (a refusal is classified by [`CLASSIFY`]) |
//! | `apply`: own request id held or spent → `Retried` | `NOT ($2 = ANY (l.request_ids)) AND NOT (l.holds ? $2)` |
//! | `apply`: `uses < max` → uses + 1 | `CASE WHEN l.uses < $5 THEN l.uses + 1` |
//! | `apply`: spent, a hold lapsed (`until <= at`) → take it over | `OR EXISTS (… jsonb_each_text(l.holds) … <= $3)`, and `holds - <that hold>` |
//! | `take`: a hold (`hold_until`) or a spent use; a held claim puts its client in flight | `holds || {rid: lease}` or `array_append(request_ids, rid)`; `in_flight || {fp: lease}` |
//! | the first use sets `first_used_at`, `fingerprint`, the retention | `COALESCE(l.first_used_at, $3)`, `CASE WHEN l.first_used_at IS NULL`, `COALESCE(l.retain_until, $4)` |
//! | `commit` | [`COMMIT`] |
//! | `release` (uses − 1; the last one forgets the first use) | [`RELEASE`] |
//! | `resume` ([`oncelink::ledger::LinkState::resumable`], not the request's own use) | [`RESUME`] |
//! | `record_delivery` | [`DELIVERY`] |
//! | `revoke` (the first revocation's time and the first retention stay) | [`REVOKE`] |
//! | a granted claim's or resume's trail entry, `max_uses` | `trail || {rid: entry}` in [`CLAIM`] and [`RESUME`] |
//! | `note_refusal` (the first ones kept, every one counted) | [`NOTE_REFUSAL`] |
//! | `tag` (the first stays) | [`TAG`] |
//! | `expired` (`retain_until <= now`) | [`PURGE`] |
//!
//! Times are Unix seconds (`bigint`), as in the DynamoDB ledger; counts are `integer`. Every
//! parameter is cast where it is used, so PostgreSQL never has to guess its type.

/// A claim: `$1` key, `$2` request id, `$3` at, `$4` retain until, `$5` max uses, `$6`
/// fingerprint (NULL: none), `$7` lease end (NULL: spent at once), `$8` its trail entry.
/// Returns the use's number, or no row when refused.
pub const CLAIM: &str = "
INSERT INTO oncelink_links AS l (link_key, uses, first_used_at, fingerprint, request_ids, holds, in_flight, retain_until,
                                 max_uses, trail)
VALUES (
    $1::text, 1, $3::bigint, $6::text,
    CASE WHEN $7::bigint IS NULL THEN ARRAY[$2::text] ELSE '{}'::text[] END,
    CASE WHEN $7::bigint IS NULL THEN '{}'::jsonb ELSE jsonb_build_object($2::text, $7::bigint) END,
    CASE WHEN $7::bigint IS NULL OR $6::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object($6::text, $7::bigint) END,
    $4::bigint, $5::integer, jsonb_build_object($2::text, ($8::text)::jsonb))
ON CONFLICT (link_key) DO UPDATE SET
    max_uses = $5::integer,
    trail = l.trail || jsonb_build_object($2::text, ($8::text)::jsonb),
    uses = CASE WHEN l.uses < $5::integer THEN l.uses + 1 ELSE l.uses END,
    first_used_at = COALESCE(l.first_used_at, $3::bigint),
    fingerprint = CASE WHEN l.first_used_at IS NULL THEN $6::text ELSE l.fingerprint END,
    retain_until = COALESCE(l.retain_until, $4::bigint),
    request_ids = CASE WHEN $7::bigint IS NULL THEN array_append(l.request_ids, $2::text) ELSE l.request_ids END,
    holds = CASE WHEN l.uses < $5::integer THEN l.holds
                 ELSE l.holds - (SELECT h.key FROM jsonb_each_text(l.holds) AS h
                                 WHERE h.value::bigint <= $3::bigint ORDER BY h.value::bigint, h.key LIMIT 1) END
            || CASE WHEN $7::bigint IS NULL THEN '{}'::jsonb ELSE jsonb_build_object($2::text, $7::bigint) END,
    in_flight = CASE WHEN $7::bigint IS NULL OR $6::text IS NULL THEN l.in_flight
                     ELSE l.in_flight || jsonb_build_object($6::text, $7::bigint) END
WHERE NOT l.revoked
  AND NOT ($2::text = ANY (l.request_ids)) AND NOT (l.holds ? $2::text)
  AND (l.uses < $5::integer
       OR EXISTS (SELECT 1 FROM jsonb_each_text(l.holds) AS h WHERE h.value::bigint <= $3::bigint))
RETURNING l.uses";

/// Why a claim got no row (`$1` key, `$2` request id, `$3` at): read after the refusal, in a
/// snapshot that sees the refusing winner. It only explains the refusal; when the row says the
/// claim would now succeed (a release or a lapse in between), the claim is written again.
pub const CLASSIFY: &str = "
SELECT revoked, ($2::text = ANY (request_ids) OR holds ? $2::text) AS own, uses, first_used_at, fingerprint,
       EXISTS (SELECT 1 FROM jsonb_each_text(holds) AS h WHERE h.value::bigint <= $3::bigint) AS lapsed
FROM oncelink_links WHERE link_key = $1::text";

/// Confirms a hold (`$1` key, `$2` request id): a row back means `Committed` (also when the use
/// was already spent: idempotent), none means `Lost`.
pub const COMMIT: &str = "
UPDATE oncelink_links SET
    request_ids = CASE WHEN holds ? $2::text THEN array_append(request_ids, $2::text) ELSE request_ids END,
    holds = holds - $2::text
WHERE link_key = $1::text AND (holds ? $2::text OR $2::text = ANY (request_ids))
RETURNING 1";

/// Gives a held or spent use back (`$1` key, `$2` request id): a row back means `Released`.
/// The hold goes first when there is one; otherwise the spent use.
pub const RELEASE: &str = "
UPDATE oncelink_links SET
    holds = holds - $2::text,
    request_ids = CASE WHEN holds ? $2::text THEN request_ids ELSE array_remove(request_ids, $2::text) END,
    uses = GREATEST(uses - 1, 0),
    first_used_at = CASE WHEN uses <= 1 THEN NULL ELSE first_used_at END,
    fingerprint = CASE WHEN uses <= 1 THEN NULL ELSE fingerprint END
WHERE link_key = $1::text AND (holds ? $2::text OR $2::text = ANY (request_ids))
RETURNING 1";

/// A resume (`$1` key, `$2` request id, `$3` fingerprint, `$4` window start, `$5` max resumes,
/// `$6` now and `$7` flight end for a single-flight resume, else NULL, `$8` its trail entry):
/// returns the resume's number, or no row when not resumable.
pub const RESUME: &str = "
UPDATE oncelink_links SET
    resumes = resumes + 1,
    trail = trail || jsonb_build_object($2::text, ($8::text)::jsonb),
    in_flight = CASE WHEN $7::bigint IS NULL THEN in_flight ELSE in_flight || jsonb_build_object($3::text, $7::bigint) END
WHERE link_key = $1::text AND NOT revoked
  AND fingerprint = $3::text AND first_used_at >= $4::bigint AND resumes < $5::integer
  AND NOT ($3::text = ANY (completed))
  AND NOT ($2::text = ANY (request_ids)) AND NOT (holds ? $2::text)
  AND ($6::bigint IS NULL OR COALESCE((in_flight ->> $3::text)::bigint <= $6::bigint, true))
RETURNING resumes";

/// What one use or resume delivered (`$1` key, `$2` request id, `$3` at, `$4` bytes, `$5`
/// complete, `$6` resume, `$7` fingerprint or NULL). No row, no change.
pub const DELIVERY: &str = "
UPDATE oncelink_links SET
    deliveries = deliveries || jsonb_build_object($2::text, jsonb_build_object(
        'at', $3::bigint, 'bytes', $4::bigint, 'complete', $5::boolean, 'resume', $6::boolean)),
    in_flight = CASE WHEN $7::text IS NULL THEN in_flight ELSE in_flight - $7::text END,
    completed = CASE WHEN $7::text IS NOT NULL AND $5::boolean AND NOT ($7::text = ANY (completed))
                     THEN array_append(completed, $7::text) ELSE completed END
WHERE link_key = $1::text";

/// Revokes (`$1` key, `$2` at, `$3` retain until), creating the row if the link was never used.
pub const REVOKE: &str = "
INSERT INTO oncelink_links AS l (link_key, revoked, revoked_at, retain_until)
VALUES ($1::text, true, $2::bigint, $3::bigint)
ON CONFLICT (link_key) DO UPDATE SET
    revoked = true,
    revoked_at = COALESCE(l.revoked_at, EXCLUDED.revoked_at),
    retain_until = COALESCE(l.retain_until, EXCLUDED.retain_until)";

/// A refusal (`$1` key, `$2` request id, `$3` its trail entry, `$4` retain until, `$5` how
/// many are kept): kept in the trail while fewer than `$5` are, counted always; the same
/// request again changes nothing.
pub const NOTE_REFUSAL: &str = "
INSERT INTO oncelink_links AS l (link_key, trail, refusals, retain_until)
VALUES ($1::text, jsonb_build_object($2::text, ($3::text)::jsonb), 1, $4::bigint)
ON CONFLICT (link_key) DO UPDATE SET
    trail = CASE WHEN l.refusals < $5::integer THEN l.trail || jsonb_build_object($2::text, ($3::text)::jsonb) ELSE l.trail END,
    refusals = l.refusals + 1,
    retain_until = COALESCE(l.retain_until, $4::bigint)
WHERE NOT (l.trail ? $2::text)";

/// The caller's tag at issue (`$1` key, `$2` tag, `$3` retain until): the first one stays.
pub const TAG: &str = "
INSERT INTO oncelink_links AS l (link_key, tag, retain_until)
VALUES ($1::text, $2::text, $3::bigint)
ON CONFLICT (link_key) DO UPDATE SET
    tag = COALESCE(l.tag, EXCLUDED.tag),
    retain_until = COALESCE(l.retain_until, EXCLUDED.retain_until)";

/// The whole row (`$1` key); the JSON columns as text, read by [`super::row`].
pub const LOOKUP: &str = "
SELECT first_used_at, uses, fingerprint, revoked, retain_until, holds::text, resumes, completed,
       in_flight::text, deliveries::text, request_ids, revoked_at, tag, max_uses, trail::text, refusals
FROM oncelink_links WHERE link_key = $1::text";

/// Deletes at most `$2` rows whose retention ended by `$1`; rows another transaction is
/// writing are left for the next round.
pub const PURGE: &str = "
DELETE FROM oncelink_links WHERE link_key IN (
    SELECT link_key FROM oncelink_links WHERE retain_until <= $1::bigint
    ORDER BY retain_until LIMIT $2::bigint FOR UPDATE SKIP LOCKED)";
