//! ListObjects(V2) and ListObjectVersions over the byte-ordered key index, with
//! delimiter roll-up into common prefixes.

use super::buckets;
use super::rows::{VERSION_COLUMNS, version_from_row};
use crate::MetaResult;
use crate::listing::{Scan, Step, resumes_within, scan_start};
use crate::model::{ListPage, ListQuery, VersionRecord};
use rusqlite::{Connection, params};

const BATCH: usize = 256;

fn query_rows(
    conn: &Connection,
    sql: &str,
    bucket: &str,
    lower: &[u8],
    upper: Option<&[u8]>,
) -> MetaResult<Vec<VersionRecord>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let upper = upper.unwrap_or(&[0xFF; 1025]);
    let rows = stmt.query_map(params![bucket, lower, upper, BATCH as i64], version_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn list_objects(conn: &Connection, q: &ListQuery) -> MetaResult<ListPage> {
    buckets::require(conn, &q.bucket)?;
    let mut scan = Scan::new(q);
    if q.max_keys == 0 {
        return Ok(scan.finish(false));
    }
    let Some(mut lower) = scan_start(q) else { return Ok(scan.finish(false)) };
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM latest l JOIN versions v ON v.seq = l.seq
         WHERE l.bucket = ?1 AND l.key >= ?2 AND l.key < ?3 AND l.delete_marker = 0
         ORDER BY l.key LIMIT ?4"
    );
    loop {
        let rows = query_rows(conn, &sql, &q.bucket, &lower, scan.upper.as_deref())?;
        if rows.is_empty() {
            return Ok(scan.finish(false));
        }
        for rec in rows {
            let mut next = rec.key.as_bytes().to_vec();
            next.push(0);
            match scan.offer(rec) {
                Step::Entry => lower = next,
                Step::Full => return Ok(scan.finish(true)),
                Step::JumpTo(Some(to)) => {
                    lower = to;
                    break;
                }
                Step::JumpTo(None) => return Ok(scan.finish(false)),
            }
        }
    }
}

pub(super) fn list_versions(conn: &Connection, q: &ListQuery) -> MetaResult<ListPage> {
    buckets::require(conn, &q.bucket)?;
    let mut scan = Scan::new(q);
    if q.max_keys == 0 {
        return Ok(scan.finish(false));
    }
    let Some(mut lower) = scan_start(q) else { return Ok(scan.finish(false)) };
    // Resume inside the marker key's history when a version marker names one of its versions.
    let mut within: Option<(String, i64)> = None;
    if let (Some(key), Some(vid)) = (q.after.as_deref(), q.after_version.as_deref())
        && let Some(rec) = super::rows::version_by_id(conn, &q.bucket, key, vid)?
        && resumes_within(q, key)
    {
        within = Some((key.to_owned(), rec.seq));
    }
    let range_sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v
         WHERE v.bucket = ?1 AND v.key >= ?2 AND v.key < ?3
         ORDER BY v.key, v.seq DESC LIMIT ?4"
    );
    let within_sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v
         WHERE v.bucket = ?1 AND v.key = ?2 AND v.seq < ?3
         ORDER BY v.seq DESC LIMIT ?4"
    );
    loop {
        let rows = if let Some((key, seq)) = &within {
            let mut stmt = conn.prepare_cached(&within_sql)?;
            let rows = stmt.query_map(params![q.bucket, key.as_bytes(), seq, BATCH as i64], version_from_row)?;
            let rows: Vec<VersionRecord> = rows.collect::<Result<_, _>>()?;
            if rows.is_empty() {
                let mut next = key.as_bytes().to_vec();
                next.push(0);
                lower = lower.max(next);
                within = None;
                continue;
            }
            rows
        } else {
            query_rows(conn, &range_sql, &q.bucket, &lower, scan.upper.as_deref())?
        };
        if rows.is_empty() {
            return Ok(scan.finish(false));
        }
        for rec in rows {
            let (key, seq) = (rec.key.clone(), rec.seq);
            match scan.offer(rec) {
                Step::Entry => within = Some((key, seq)),
                Step::Full => return Ok(scan.finish(true)),
                Step::JumpTo(Some(to)) => {
                    lower = to;
                    within = None;
                    break;
                }
                Step::JumpTo(None) => return Ok(scan.finish(false)),
            }
        }
    }
}
