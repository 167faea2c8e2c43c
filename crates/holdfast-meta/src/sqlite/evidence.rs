//! Bucket-level documents, the event queue (filled inside the transactions that change
//! versions) and the lock report.

use super::buckets;
use crate::model::VersionRecord;
use crate::{
    BucketConfigKind, LockReport, MetaResult, MonthTally, NotificationConfig, ObjectEvent, QueuedEvent, Settlement,
    Tally,
};
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

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn lock_report(conn: &Connection, bucket: Option<&str>, now: UtcMillis) -> MetaResult<Vec<LockReport>> {
    let names: Vec<String> = match bucket {
        Some(b) => vec![buckets::require(conn, b)?.name],
        None => buckets::all(conn)?.into_iter().map(|b| b.name).collect(),
    };
    let mut totals = conn.prepare_cached(
        "SELECT
           COALESCE(SUM(lock_mode = 'GOVERNANCE' AND lock_until_ms > ?2), 0),
           COALESCE(SUM(CASE WHEN lock_mode = 'GOVERNANCE' AND lock_until_ms > ?2 THEN size ELSE 0 END), 0),
           COALESCE(SUM(lock_mode = 'COMPLIANCE' AND lock_until_ms > ?2), 0),
           COALESCE(SUM(CASE WHEN lock_mode = 'COMPLIANCE' AND lock_until_ms > ?2 THEN size ELSE 0 END), 0),
           COALESCE(SUM(legal_hold = 1), 0),
           COALESCE(SUM(CASE WHEN legal_hold = 1 THEN size ELSE 0 END), 0),
           MAX(CASE WHEN lock_mode IS NOT NULL AND lock_until_ms > ?2 THEN lock_until_ms END)
         FROM versions WHERE bucket = ?1 AND (lock_mode IS NOT NULL OR legal_hold = 1)",
    )?;
    let mut months = conn.prepare_cached(
        "SELECT strftime('%Y-%m', lock_until_ms / 1000, 'unixepoch') AS month, COUNT(*), COALESCE(SUM(size), 0)
         FROM versions WHERE bucket = ?1 AND (lock_mode IS NOT NULL OR legal_hold = 1)
           AND lock_mode IS NOT NULL AND lock_until_ms > ?2
         GROUP BY month ORDER BY month",
    )?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let mut r = totals.query_row(params![name, now.millis()], |r| {
            Ok(LockReport {
                bucket: String::new(),
                governance: Tally { versions: to_u64(r.get(0)?), bytes: to_u64(r.get(1)?) },
                compliance: Tally { versions: to_u64(r.get(2)?), bytes: to_u64(r.get(3)?) },
                legal_hold: Tally { versions: to_u64(r.get(4)?), bytes: to_u64(r.get(5)?) },
                latest_retain_until: r.get::<_, Option<i64>>(6)?.map(UtcMillis),
                expiries_by_month: Vec::new(),
            })
        })?;
        r.expiries_by_month = months
            .query_map(params![name, now.millis()], |row| {
                Ok(MonthTally {
                    month: row.get::<_, Option<String>>(0)?.unwrap_or_else(|| "9999-12".into()),
                    versions: to_u64(row.get(1)?),
                    bytes: to_u64(row.get(2)?),
                })
            })?
            .collect::<Result<_, _>>()?;
        r.bucket = name;
        out.push(r);
    }
    Ok(out)
}
