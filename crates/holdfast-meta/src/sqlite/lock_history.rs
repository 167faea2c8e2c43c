//! Versions' lock histories (`crate::lock_history` says what and why): inserted with the
//! change's audit record, removed with the version.

use super::objects;
use crate::lock_history::{HistoryOrder, LockHistory, LockHistoryEntry, LockHistoryQuery, NewLockEntry, page};
use crate::{MetaResult, VersionSelector};
use rusqlite::{Connection, params};

/// `seq` is the version's row in `versions` (never reused, unlike a `null` version id);
/// `audit_id` the change's record in `audit_outbox` (its `rid` in the trail).
pub(super) const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS lock_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    principal TEXT,
    op TEXT NOT NULL,
    actions TEXT NOT NULL,
    bypass INTEGER NOT NULL,
    lock_before TEXT NOT NULL,
    lock_after TEXT NOT NULL,
    request_id TEXT,
    audit_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS lock_history_by_version ON lock_history (seq, id);
";

/// Records `e` for the version it names, as it is in this transaction.
pub(super) fn insert(conn: &Connection, e: &NewLockEntry, audit_id: i64) -> MetaResult<()> {
    conn.prepare_cached(
        "INSERT INTO lock_history (seq, bucket, key, version_id, time_ms, principal, op, actions, bypass,
            lock_before, lock_after, request_id, audit_id)
         SELECT seq, bucket, key, version_id, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12
         FROM versions WHERE bucket = ?1 AND key = ?2 AND version_id = ?3",
    )?
    .execute(params![
        e.bucket,
        e.key.as_bytes(),
        e.version_id,
        e.time.millis(),
        e.principal,
        e.op,
        e.actions,
        e.bypass,
        e.before,
        e.after,
        e.request_id,
        audit_id
    ])?;
    Ok(())
}

/// The history goes with its version (the trail keeps the records).
pub(super) fn remove(conn: &Connection, seq: i64) -> MetaResult<()> {
    conn.prepare_cached("DELETE FROM lock_history WHERE seq = ?1")?.execute([seq])?;
    Ok(())
}

pub(super) fn read(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    q: LockHistoryQuery,
) -> MetaResult<LockHistory> {
    let version = objects::resolve(conn, bucket, key, sel)?;
    let limit = q.capped_limit();
    let sql = match q.order {
        HistoryOrder::OldestFirst => {
            "SELECT id, time_ms, principal, op, actions, bypass, lock_before, lock_after, request_id, audit_id
             FROM lock_history WHERE seq = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        }
        HistoryOrder::NewestFirst => {
            "SELECT id, time_ms, principal, op, actions, bypass, lock_before, lock_after, request_id, audit_id
             FROM lock_history WHERE seq = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
        }
    };
    let after = q.after.unwrap_or(match q.order {
        HistoryOrder::OldestFirst => i64::MIN,
        HistoryOrder::NewestFirst => i64::MAX,
    });
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params![version.seq, after, i64::try_from(limit + 1).unwrap_or(i64::MAX)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, bool>(5)?,
            r.get::<_, String>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, Option<String>>(8)?,
            r.get::<_, i64>(9)?,
        ))
    })?;
    let mut entries = Vec::new();
    for row in rows {
        let (id, time, principal, op, actions, bypass, before, after, request_id, audit_id) = row?;
        entries.push(LockHistoryEntry::from_row(
            id, time, principal, op, &actions, bypass, &before, &after, request_id, audit_id,
        )?);
    }
    let (entries, next) = page(entries, limit);
    Ok(LockHistory { version, entries, next })
}
