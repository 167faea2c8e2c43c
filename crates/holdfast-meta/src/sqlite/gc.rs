//! Blob collection bookkeeping and the persisted compliance-clock mark.

use crate::MetaResult;
use holdfast_lock::UtcMillis;
use rusqlite::{Connection, OptionalExtension, params};

pub(super) fn candidates(conn: &Connection, before: UtcMillis, limit: usize) -> MetaResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM gc_queue WHERE queued_ms < ?1 ORDER BY queued_ms LIMIT ?2")?;
    let rows = stmt.query_map(params![before.millis(), i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn done(conn: &Connection, blobs: &[String]) -> MetaResult<()> {
    let mut stmt = conn.prepare_cached("DELETE FROM gc_queue WHERE id = ?1")?;
    for b in blobs {
        stmt.execute([b])?;
    }
    Ok(())
}

pub(super) fn unknown(conn: &Connection, blobs: Vec<String>) -> MetaResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM blobs WHERE id = ?1) OR EXISTS (SELECT 1 FROM gc_queue WHERE id = ?1)",
    )?;
    let mut out = Vec::new();
    for b in blobs {
        let known: bool = stmt.query_row([&b], |r| r.get(0))?;
        if !known {
            out.push(b);
        }
    }
    Ok(out)
}

pub(super) fn clock_high_water(conn: &Connection) -> MetaResult<UtcMillis> {
    let ms: Option<i64> =
        conn.query_row("SELECT high_water_ms FROM clock WHERE id = 1", [], |r| r.get(0)).optional()?;
    Ok(UtcMillis(ms.unwrap_or(0)))
}
