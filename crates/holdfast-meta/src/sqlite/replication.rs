//! Replication: the queue filled inside the transactions that change versions, the status
//! each version shows, and replica writes.

use super::objects::{insert_at, store_lock};
use super::rows::version_by_id;
use super::{buckets, bump_clock, events, tags};
use crate::model::{VersionRecord, Versioning};
use crate::{
    BucketConfigKind, MetaError, MetaResult, QueuedReplication, ReplicaVersion, ReplicaWrite, ReplicationBacklog,
    ReplicationConfig, ReplicationKind, ReplicationOutcome, ReplicationStatus, TagSet,
};
use holdfast_lock::{LockState, UtcMillis};
use rusqlite::{Connection, OptionalExtension, params};

/// Schema version 5 adds these (additive; see `schema::SCHEMA_VERSION`).
pub(super) const SCHEMA: &str = r"
-- One row per (change, destination). `due_ms` is when it may next be handed out: now for a
-- new item, later for a retried one (backoff) or a claimed one (lease). `failed` items wait
-- for `holdfast admin replicate`.
CREATE TABLE IF NOT EXISTS replication_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    destination TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    queued_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS replication_queue_due ON replication_queue (failed, due_ms, id);
CREATE INDEX IF NOT EXISTS replication_queue_key ON replication_queue (bucket, key, destination, id);
CREATE INDEX IF NOT EXISTS replication_queue_version ON replication_queue (bucket, key, version_id);

-- x-amz-replication-status of each version that was ever queued, or that is a replica.
CREATE TABLE IF NOT EXISTS replication_status (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (bucket, key, version_id)
) WITHOUT ROWID;
";

/// Added with foreign S3 targets (additive, no schema version: a build without it refuses
/// such targets in its configuration, so it never needs the table).
pub(super) const SCHEMA_REMOTE_VERSIONS: &str = r"
-- The version id a foreign S3 destination gave each replica (it assigns its own): later lock
-- and tag changes address that version.
CREATE TABLE IF NOT EXISTS replication_remote_versions (
    destination TEXT NOT NULL,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    remote_version_id TEXT NOT NULL,
    PRIMARY KEY (destination, bucket, key, version_id)
) WITHOUT ROWID;
";

/// `[destination, bucket, key, version_id]`.
pub(super) fn remote_version(conn: &Connection, ids: &[String; 4]) -> MetaResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT remote_version_id FROM replication_remote_versions
             WHERE destination = ?1 AND bucket = ?2 AND key = ?3 AND version_id = ?4",
        )?
        .query_row(params![ids[0], ids[1], ids[2].as_bytes(), ids[3]], |r| r.get(0))
        .optional()?)
}

/// `[destination, bucket, key, version_id, remote_version_id]`.
pub(super) fn set_remote_version(conn: &Connection, ids: &[String; 5]) -> MetaResult<()> {
    conn.prepare_cached(
        "INSERT INTO replication_remote_versions (destination, bucket, key, version_id, remote_version_id)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (destination, bucket, key, version_id) DO UPDATE SET remote_version_id = excluded.remote_version_id",
    )?
    .execute(params![ids[0], ids[1], ids[2].as_bytes(), ids[3], ids[4]])?;
    Ok(())
}

/// Whether a database this process opened may hold replication state: a bucket's replication
/// configuration, a queued item or a status. Until then a PUT reads no replication document
/// and a GET or HEAD looks up no status (the hot paths of a store that never replicates,
/// `scripts/perf-guard.sh`). Set when a database that has such state is opened, and before a
/// configuration or a status is first written; never reset, so with several stores in one
/// process it only errs towards looking. A SQLite database is served by one process (the data
/// dir's lock), so nothing written elsewhere can be missed.
static SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(super) fn seen() -> bool {
    SEEN.load(std::sync::atomic::Ordering::Acquire)
}

pub(super) fn mark_seen() {
    SEEN.store(true, std::sync::atomic::Ordering::Release);
}

/// At open: marks [`seen`] when the database holds any replication state.
pub(super) fn note_existing(conn: &Connection) -> MetaResult<()> {
    let any: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM bucket_configs WHERE kind = ?1)
             OR EXISTS (SELECT 1 FROM replication_status) OR EXISTS (SELECT 1 FROM replication_queue)",
        [BucketConfigKind::Replication.as_str()],
        |r| r.get(0),
    )?;
    if any {
        mark_seen();
    }
    Ok(())
}

fn config(conn: &Connection, bucket: &str) -> MetaResult<Option<ReplicationConfig>> {
    if !seen() {
        return Ok(None);
    }
    let Some(doc) = events::config_doc(conn, bucket, BucketConfigKind::Replication)? else { return Ok(None) };
    Ok(Some(serde_json::from_str(&doc)?))
}

pub(super) fn status(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> MetaResult<Option<ReplicationStatus>> {
    if !seen() {
        return Ok(None);
    }
    let s: Option<String> = conn
        .prepare_cached("SELECT status FROM replication_status WHERE bucket = ?1 AND key = ?2 AND version_id = ?3")?
        .query_row(params![bucket, key.as_bytes(), version_id], |r| r.get(0))
        .optional()?;
    Ok(s.as_deref().and_then(ReplicationStatus::parse))
}

fn set_status(conn: &Connection, bucket: &str, key: &str, version_id: &str, s: ReplicationStatus) -> MetaResult<()> {
    mark_seen();
    conn.prepare_cached(
        "INSERT INTO replication_status (bucket, key, version_id, status) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (bucket, key, version_id) DO UPDATE SET status = excluded.status",
    )?
    .execute(params![bucket, key.as_bytes(), version_id, s.as_str()])?;
    Ok(())
}

/// A removed version takes its status with it (its queued items stay: the worker finds the
/// version gone and settles them).
pub(super) fn forget(conn: &Connection, rec: &VersionRecord) -> MetaResult<()> {
    if !seen() {
        return Ok(());
    }
    conn.prepare_cached("DELETE FROM replication_status WHERE bucket = ?1 AND key = ?2 AND version_id = ?3")?
        .execute(params![rec.bucket, rec.key.as_bytes(), rec.version_id])?;
    Ok(())
}

/// Queues `kind` for `rec` to every destination whose rule applies (`tags`: the version's
/// tags, `None` for a delete marker), in the caller's transaction, and marks it PENDING.
/// Returns how many items were queued. A replica is never replicated again.
pub(super) fn enqueue(
    conn: &Connection,
    rec: &VersionRecord,
    kind: ReplicationKind,
    tags: Option<&TagSet>,
    now: UtcMillis,
) -> MetaResult<usize> {
    let Some(config) = config(conn, &rec.bucket)? else { return Ok(0) };
    let destinations = config.destinations(kind, &rec.key, tags);
    if destinations.is_empty() {
        return Ok(0);
    }
    if status(conn, &rec.bucket, &rec.key, &rec.version_id)? == Some(ReplicationStatus::Replica) {
        return Ok(0);
    }
    let size = rec.object.as_ref().map_or(0, |o| i64::try_from(o.size).unwrap_or(i64::MAX));
    let size = if kind == ReplicationKind::Object { size } else { 0 };
    let mut stmt = conn.prepare_cached(
        "INSERT INTO replication_queue (bucket, key, version_id, rule_id, destination, kind, size, queued_ms, due_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )?;
    for (rule, destination) in &destinations {
        stmt.execute(params![
            rec.bucket,
            rec.key.as_bytes(),
            rec.version_id,
            rule,
            destination,
            kind.as_str(),
            size,
            now.millis()
        ])?;
    }
    set_status(conn, &rec.bucket, &rec.key, &rec.version_id, ReplicationStatus::Pending)?;
    Ok(destinations.len())
}

/// [`enqueue`] for a change of an existing object version (lock, tags): judged by its tags.
pub(super) fn enqueue_change(
    conn: &Connection,
    rec: &VersionRecord,
    kind: ReplicationKind,
    now: UtcMillis,
) -> MetaResult<usize> {
    if !seen() {
        return Ok(0);
    }
    let tags = tags::of_seq(conn, rec.seq)?;
    enqueue(conn, rec, kind, Some(&tags), now)
}

pub(super) fn claim(
    conn: &Connection,
    now: UtcMillis,
    lease_ms: i64,
    limit: usize,
) -> MetaResult<Vec<QueuedReplication>> {
    let mut stmt = conn.prepare_cached(
        "SELECT q.id, q.bucket, q.key, q.version_id, q.rule_id, q.destination, q.kind, q.size, q.queued_ms, q.attempts
         FROM replication_queue q
         WHERE q.failed = 0 AND q.due_ms <= ?1
           AND NOT EXISTS (SELECT 1 FROM replication_queue p
                           WHERE p.bucket = q.bucket AND p.key = q.key AND p.destination = q.destination
                             AND p.id < q.id AND p.failed = 0)
         ORDER BY q.id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now.millis(), i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            super::rows::key_from_row(r, 2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?,
            r.get::<_, i64>(9)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, bucket, key, version_id, rule_id, destination, kind, size, queued, attempts) = row?;
        let kind = ReplicationKind::parse(&kind).ok_or_else(|| MetaError::Internal(format!("bad kind {kind}")))?;
        out.push(QueuedReplication {
            id,
            bucket,
            key,
            version_id,
            rule_id,
            destination,
            kind,
            size: u64::try_from(size).unwrap_or(0),
            queued: UtcMillis(queued),
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        });
    }
    let mut lease = conn.prepare_cached("UPDATE replication_queue SET due_ms = ?2 WHERE id = ?1")?;
    for q in &out {
        lease.execute(params![q.id, now.plus_millis(lease_ms).millis()])?;
    }
    Ok(out)
}

pub(super) fn settle(conn: &Connection, outcomes: &[(QueuedReplication, ReplicationOutcome)]) -> MetaResult<()> {
    for (q, outcome) in outcomes {
        match outcome {
            ReplicationOutcome::Done => {
                conn.prepare_cached("DELETE FROM replication_queue WHERE id = ?1")?.execute([q.id])?;
            }
            ReplicationOutcome::RetryAt(at, why) => {
                conn.prepare_cached(
                    "UPDATE replication_queue SET due_ms = ?2, attempts = attempts + 1, last_error = ?3 WHERE id = ?1",
                )?
                .execute(params![q.id, at.millis(), why])?;
            }
            ReplicationOutcome::Failed(why) => {
                conn.prepare_cached(
                    "UPDATE replication_queue SET failed = 1, attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                )?
                .execute(params![q.id, why])?;
            }
        }
        if let Some(now) = refresh_status(conn, &q.bucket, &q.key, &q.version_id)? {
            record_transition(conn, q, now)?;
        }
    }
    Ok(())
}

/// A version's status became COMPLETED or FAILED: the event (to the bucket's notification
/// rules that name it) and the audit record, in the settle's transaction.
fn record_transition(conn: &Connection, q: &QueuedReplication, status: ReplicationStatus) -> MetaResult<()> {
    let (actor, facts) = crate::replication::transition_record(q, status);
    super::audit::insert_change(conn, &actor, facts)?;
    // The version is read only for a bucket with notification rules.
    let notifies = events::config_doc(conn, &q.bucket, BucketConfigKind::Notification)?.is_some();
    if notifies && let Some(mut rec) = version_by_id(conn, &q.bucket, &q.key, &q.version_id)? {
        rec.replication = Some(status);
        events::emit(conn, crate::replication::transition_event(status), &rec, false, UtcMillis::now_system())?;
    }
    Ok(())
}

/// PENDING while an item of the version waits, FAILED when one failed, else COMPLETED;
/// returns the new status when it became COMPLETED or FAILED.
fn refresh_status(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> MetaResult<Option<ReplicationStatus>> {
    let current = status(conn, bucket, key, version_id)?;
    if current.is_none_or(|s| s == ReplicationStatus::Replica) {
        return Ok(None);
    }
    let (waiting, failed): (i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(failed = 0), 0), COALESCE(SUM(failed = 1), 0) FROM replication_queue
             WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
        )?
        .query_row(params![bucket, key.as_bytes(), version_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let next = if failed > 0 {
        ReplicationStatus::Failed
    } else if waiting > 0 {
        ReplicationStatus::Pending
    } else {
        ReplicationStatus::Completed
    };
    if current == Some(next) {
        return Ok(None);
    }
    set_status(conn, bucket, key, version_id, next)?;
    Ok((next != ReplicationStatus::Pending).then_some(next))
}

pub(super) fn put_replica(conn: &Connection, r: &ReplicaVersion, now: UtcMillis) -> MetaResult<ReplicaWrite> {
    let b = buckets::require(conn, &r.bucket)?;
    if b.versioning != Versioning::Enabled {
        return Err(MetaError::InvalidRequest("Destination bucket must have versioning enabled.".into()));
    }
    if !crate::is_well_formed_version_id(&r.version_id) || r.version_id == "null" {
        return Err(MetaError::InvalidRequest(format!("A replica needs a version id, not {:?}", r.version_id)));
    }
    if let Some(mut existing) = version_by_id(conn, &r.bucket, &r.key, &r.version_id)? {
        let same_kind = existing.is_delete_marker() == r.object.is_none();
        let same_content = match (&existing.object, &r.object) {
            (Some(a), Some(b)) => a.etag == b.etag && a.size == b.size,
            _ => true,
        };
        if !same_kind || !same_content {
            return Err(MetaError::InvalidRequest(format!(
                "version {} of {} exists with other content",
                r.version_id, r.key
            )));
        }
        if existing.is_delete_marker() {
            return Ok(ReplicaWrite::Existing);
        }
        let lock = holdfast_lock::replica_lock(existing.lock, r.lock, now);
        if lock != existing.lock {
            crate::trail::note_version(&r.bucket, &r.key, &r.version_id);
            crate::trail::note_lock(&existing.lock, &lock);
            store_lock(conn, &mut existing, lock)?;
            bump_clock(conn, now)?;
        }
        tags::store(conn, existing.seq, &r.tags)?;
        return Ok(ReplicaWrite::Existing);
    }
    let wants_lock = r.lock != LockState::default();
    if wants_lock && !b.lock_enabled {
        return Err(MetaError::InvalidRequest("Bucket is missing ObjectLockConfiguration".into()));
    }
    let (lock, event) = match &r.object {
        // X2: the source's retention, else the destination's default (W9).
        Some(_) => (holdfast_lock::lock_for_new_version(b.lock(), r.lock, now), "s3:ObjectCreated:Put"),
        None => (LockState::default(), "s3:ObjectRemoved:DeleteMarkerCreated"),
    };
    let rec = insert_at(conn, &r.bucket, &r.key, &r.version_id, r.object.as_ref(), &lock, r.last_modified, now, event)?;
    if r.object.is_some() && !r.tags.is_empty() {
        tags::store(conn, rec.seq, &r.tags)?;
    }
    set_status(conn, &r.bucket, &r.key, &r.version_id, ReplicationStatus::Replica)?;
    // A version that arrives after newer ones of its key (a backfill) does not become latest.
    conn.prepare_cached(
        "UPDATE latest SET seq = (SELECT seq FROM versions WHERE bucket = ?1 AND key = ?2
                                  ORDER BY last_modified_ms DESC, seq DESC LIMIT 1),
                           delete_marker = (SELECT delete_marker FROM versions WHERE bucket = ?1 AND key = ?2
                                  ORDER BY last_modified_ms DESC, seq DESC LIMIT 1)
         WHERE bucket = ?1 AND key = ?2",
    )?
    .execute(params![r.bucket, r.key.as_bytes()])?;
    super::listed::refill(conn, &r.bucket, &r.key)?;
    Ok(ReplicaWrite::Created)
}

pub(super) fn requeue(
    conn: &Connection,
    bucket: &str,
    prefix: &str,
    after: i64,
    limit: usize,
    now: UtcMillis,
) -> MetaResult<(u64, Option<i64>)> {
    buckets::require(conn, bucket)?;
    let sql = format!(
        "SELECT {} FROM versions v WHERE v.bucket = ?1 AND v.seq > ?2 ORDER BY v.seq LIMIT ?3",
        super::rows::VERSION_COLUMNS
    );
    let recs: Vec<VersionRecord> = conn
        .prepare_cached(&sql)?
        .query_map(params![bucket, after, i64::try_from(limit).unwrap_or(i64::MAX)], super::rows::version_from_row)?
        .collect::<Result<_, _>>()?;
    let Some(last) = recs.last().map(|r| r.seq) else { return Ok((0, None)) };
    let mut queued = 0u64;
    for rec in recs.iter().filter(|r| r.key.starts_with(prefix)) {
        if requeue_version(conn, rec, now)? {
            queued += 1;
        }
    }
    Ok((queued, Some(last)))
}

/// Queues one version as `holdfast admin replicate` does (and a lock job's
/// `S3ReplicateObject` task): a version never queued (it predates the rule) is queued to the
/// destinations whose rules apply; a FAILED one is retried; a PENDING, COMPLETED or REPLICA one
/// is left as it is. Returns whether anything was queued.
pub(super) fn requeue_version(conn: &Connection, rec: &VersionRecord, now: UtcMillis) -> MetaResult<bool> {
    match status(conn, &rec.bucket, &rec.key, &rec.version_id)? {
        None => {
            let kind = if rec.is_delete_marker() { ReplicationKind::DeleteMarker } else { ReplicationKind::Object };
            let tags = if rec.is_delete_marker() { None } else { Some(tags::of_seq(conn, rec.seq)?) };
            Ok(enqueue(conn, rec, kind, tags.as_ref(), now)? > 0)
        }
        Some(ReplicationStatus::Failed) => {
            conn.prepare_cached(
                "UPDATE replication_queue SET failed = 0, attempts = 0, due_ms = ?4
                 WHERE bucket = ?1 AND key = ?2 AND version_id = ?3 AND failed = 1",
            )?
            .execute(params![rec.bucket, rec.key.as_bytes(), rec.version_id, now.millis()])?;
            set_status(conn, &rec.bucket, &rec.key, &rec.version_id, ReplicationStatus::Pending)?;
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}

/// A lock job's `S3ReplicateObject` task, in the batch's transaction: the version must exist
/// and a rule of its bucket's replication configuration must apply to it (else
/// `InvalidRequest`, nothing queued); then [`requeue_version`].
pub(super) fn replicate_task(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &crate::VersionSelector,
    now: UtcMillis,
) -> MetaResult<bool> {
    let rec = super::objects::resolve(conn, bucket, key, sel)?;
    crate::trail::note_version(bucket, key, &rec.version_id);
    let tags = if rec.is_delete_marker() { None } else { Some(tags::of_seq(conn, rec.seq)?) };
    let config = config(conn, bucket)?;
    crate::replication::check_replicable(config.as_ref(), &rec, tags.as_ref())?;
    requeue_version(conn, &rec, now)
}

pub(super) fn backlog(conn: &Connection, bucket: Option<&str>) -> MetaResult<Vec<ReplicationBacklog>> {
    let mut stmt = conn.prepare_cached(
        "SELECT bucket, rule_id, destination,
                COALESCE(SUM(failed = 0), 0), COALESCE(SUM(CASE WHEN failed = 0 THEN size ELSE 0 END), 0),
                COALESCE(SUM(failed = 1), 0), COALESCE(SUM(CASE WHEN failed = 1 THEN size ELSE 0 END), 0),
                MIN(CASE WHEN failed = 0 THEN queued_ms END)
         FROM replication_queue WHERE ?1 IS NULL OR bucket = ?1
         GROUP BY bucket, rule_id, destination ORDER BY bucket, rule_id, destination",
    )?;
    let rows = stmt.query_map(params![bucket], |r| {
        let n = |i: usize| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
        Ok(ReplicationBacklog {
            bucket: r.get(0)?,
            rule_id: r.get(1)?,
            destination: r.get(2)?,
            pending: n(3)?,
            pending_bytes: n(4)?,
            failed: n(5)?,
            failed_bytes: n(6)?,
            oldest_pending: r.get::<_, Option<i64>>(7)?.map(UtcMillis),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
