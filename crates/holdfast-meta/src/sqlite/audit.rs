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

/// Removes the records `ids`: one range DELETE per run of consecutive ids (the trail takes
/// the outbox in id order, so usually one for the whole batch) instead of one per record.
pub(super) fn remove(conn: &Connection, ids: &[i64]) -> MetaResult<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM audit_outbox WHERE id BETWEEN ?1 AND ?2")?;
    for (first, last) in runs(ids) {
        stmt.execute([first, last])?;
    }
    Ok(())
}

/// `ids` as inclusive runs of consecutive values (sorted, duplicates ignored).
fn runs(ids: &[i64]) -> Vec<(i64, i64)> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for id in sorted {
        match out.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(id) => *last = id,
            _ => out.push((id, id)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_removed_by_runs_and_nothing_else_goes() {
        assert_eq!(runs(&[7, 3, 4, 5, 9, 4, 10]), [(3, 5), (7, 7), (9, 10)]);
        assert_eq!(runs(&[]), []);
        assert_eq!(runs(&[i64::MAX, i64::MAX - 1]), [(i64::MAX - 1, i64::MAX)]);
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let records: Vec<String> = (1..=12).map(|i| format!("r{i}")).collect();
        assert_eq!(append(&conn, &records).unwrap(), (1..=12).collect::<Vec<i64>>());
        remove(&conn, &[2, 3, 4, 8, 6, 7, 12]).unwrap();
        let left: Vec<i64> = pending(&conn, 100).unwrap().into_iter().map(|(id, _)| id).collect();
        assert_eq!(left, [1, 5, 9, 10, 11]);
    }
}
