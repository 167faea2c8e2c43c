//! The audit outbox: records committed with their changes, waiting for the
//! trail's files. Ids grow in commit order (one writer), which is the trail's order.

use crate::MetaResult;
use rusqlite::Connection;

pub(super) const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS audit_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record TEXT NOT NULL
);
";

pub(super) fn insert(conn: &Connection, record: &str) -> MetaResult<i64> {
    conn.prepare_cached("INSERT INTO audit_outbox (record) VALUES (?1)")?.execute([record])?;
    Ok(conn.last_insert_rowid())
}

/// The audit record of a change made by `actor` and, when it changed a version's lock, the
/// version's history entry: both in the caller's transaction, with the change.
pub(super) fn insert_change(
    conn: &Connection,
    actor: &holdfast_audit::Actor,
    facts: holdfast_audit::ChangeFacts,
) -> MetaResult<i64> {
    let recorded = crate::trail::record(actor, facts, holdfast_lock::UtcMillis::now_system());
    let id = insert(conn, &recorded.text)?;
    if let Some(entry) = &recorded.lock {
        super::lock_history::insert(conn, entry, id)?;
    }
    Ok(id)
}

pub(super) fn append(conn: &Connection, records: &[String]) -> MetaResult<Vec<i64>> {
    records.iter().map(|r| insert(conn, r)).collect()
}

pub(super) fn pending(conn: &Connection, limit: usize) -> MetaResult<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached("SELECT id, record FROM audit_outbox ORDER BY id LIMIT ?1")?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn remove(conn: &Connection, ids: &[i64]) -> MetaResult<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM audit_outbox WHERE id = ?1")?;
    for id in ids {
        stmt.execute([id])?;
    }
    Ok(())
}
