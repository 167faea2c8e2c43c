//! Events: the bucket-level documents (a bucket's notification configuration, which the
//! queue is filled from, its lifecycle and replication rules) and the event queue, filled inside the
//! transactions that change versions. `SCHEMA` also holds the lock report's index.

use super::buckets;
use crate::model::VersionRecord;
use crate::{BucketConfigKind, MetaResult, NotificationConfig, ObjectEvent, QueuedEvent, Settlement};
use holdfast_lock::UtcMillis;
use rusqlite::{Connection, OptionalExtension, params};

pub(super) const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS bucket_configs (
    bucket TEXT NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (bucket, kind)
) WITHOUT ROWID;

-- One row per (event, target). `due_ms` is when it may next be handed out: now for a new
-- event, later for a failed one (backoff) or a claimed one (lease).
CREATE TABLE IF NOT EXISTS event_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    config_id TEXT NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS event_queue_due ON event_queue (due_ms, id);

-- The lock report reads only protected versions.
CREATE INDEX IF NOT EXISTS versions_protected ON versions (bucket, lock_until_ms)
    WHERE lock_mode IS NOT NULL OR legal_hold = 1;
";

pub(super) fn put_config(conn: &Connection, bucket: &str, kind: BucketConfigKind, doc: Option<&str>) -> MetaResult<()> {
    buckets::require(conn, bucket)?;
    if kind == BucketConfigKind::Replication && doc.is_some() {
        super::replication::mark_seen();
    }
    match doc {
        Some(doc) => conn.execute(
            "INSERT INTO bucket_configs (bucket, kind, doc) VALUES (?1, ?2, ?3)
             ON CONFLICT (bucket, kind) DO UPDATE SET doc = excluded.doc",
            params![bucket, kind.as_str(), doc],
        )?,
        None => {
            conn.execute("DELETE FROM bucket_configs WHERE bucket = ?1 AND kind = ?2", params![bucket, kind.as_str()])?
        }
    };
    Ok(())
}

pub(super) fn config(conn: &Connection, bucket: &str, kind: BucketConfigKind) -> MetaResult<Option<String>> {
    buckets::require(conn, bucket)?;
    config_doc(conn, bucket, kind)
}

pub(super) fn config_doc(conn: &Connection, bucket: &str, kind: BucketConfigKind) -> MetaResult<Option<String>> {
    let mut stmt = conn.prepare_cached("SELECT doc FROM bucket_configs WHERE bucket = ?1 AND kind = ?2")?;
    Ok(stmt.query_row(params![bucket, kind.as_str()], |r| r.get(0)).optional()?)
}

/// Queues `name` for `rec` to every target whose rule matches, in the caller's transaction.
/// `removed`: the version is gone (no size, no lock state in the record).
pub(super) fn emit(
    conn: &Connection,
    name: &str,
    rec: &VersionRecord,
    removed: bool,
    now: UtcMillis,
) -> MetaResult<()> {
    let Some(doc) = config_doc(conn, &rec.bucket, BucketConfigKind::Notification)? else { return Ok(()) };
    let config: NotificationConfig = serde_json::from_str(&doc)?;
    let mut event = ObjectEvent::of_version(name, rec, removed, now);
    let deliveries = config.deliveries(&event);
    if deliveries.is_empty() {
        return Ok(());
    }
    // The id the first row will get: increasing with every event, shared by its deliveries.
    let last: Option<i64> =
        conn.query_row("SELECT seq FROM sqlite_sequence WHERE name = 'event_queue'", [], |r| r.get(0)).optional()?;
    event.sequencer = last.unwrap_or(0) + 1;
    let json = serde_json::to_string(&event)?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO event_queue (target, config_id, event, attempts, due_ms) VALUES (?1, ?2, ?3, 0, ?4)",
    )?;
    for (config_id, target) in deliveries {
        stmt.execute(params![target, config_id, json, now.millis()])?;
    }
    Ok(())
}

pub(super) fn backlog(conn: &Connection) -> MetaResult<Vec<crate::EventBacklog>> {
    let mut stmt = conn.prepare_cached(
        "SELECT target, count(*), sum(attempts > 0), max(attempts) FROM event_queue
         GROUP BY target ORDER BY count(*) DESC, target",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(crate::EventBacklog {
            target: r.get(0)?,
            queued: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            retrying: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            most_attempts: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(u32::MAX),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn claim(conn: &Connection, now: UtcMillis, lease_ms: i64, limit: usize) -> MetaResult<Vec<QueuedEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, target, config_id, event, attempts FROM event_queue WHERE due_ms <= ?1 ORDER BY due_ms, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now.millis(), i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, target, config_id, event, attempts) = row?;
        let event: ObjectEvent = serde_json::from_str(&event)?;
        out.push(QueuedEvent { id, target, config_id, event, attempts: u32::try_from(attempts).unwrap_or(u32::MAX) });
    }
    let mut lease = conn.prepare_cached("UPDATE event_queue SET due_ms = ?2 WHERE id = ?1")?;
    for e in &out {
        lease.execute(params![e.id, now.plus_millis(lease_ms).millis()])?;
    }
    Ok(out)
}

pub(super) fn settle(conn: &Connection, outcomes: &[(i64, Settlement)]) -> MetaResult<()> {
    let mut done = conn.prepare_cached("DELETE FROM event_queue WHERE id = ?1")?;
    let mut retry = conn.prepare_cached("UPDATE event_queue SET due_ms = ?2, attempts = attempts + 1 WHERE id = ?1")?;
    for (id, outcome) in outcomes {
        match outcome {
            Settlement::Delivered => done.execute([id])?,
            Settlement::RetryAt(at) => retry.execute(params![id, at.millis()])?,
        };
    }
    Ok(())
}
