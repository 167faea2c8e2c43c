//! ListObjects(V2) and ListObjectVersions over the byte-ordered key indexes, with
//! delimiter roll-up into common prefixes. Rows are read one at a time from one cursor:
//! a page stops reading at its last entry, and a common prefix costs one seek past it.

use super::buckets;
use super::rows::{VERSION_COLUMNS, key_from_row, version_from_row};
use crate::MetaResult;
use crate::listing::{ListedColumns, Scan, Step, listed_entry, resumes_within, scan_start};
use crate::model::{ListPage, ListQuery, VersionRecord};
use rusqlite::types::Type;
use rusqlite::{Connection, params};

/// Larger than any key (S3 keys are at most 1024 bytes).
const NO_UPPER: [u8; 1025] = [0xFF; 1025];

/// The current versions that are objects, in key order from the `latest` primary key, with
/// the columns a listing shows kept beside the pointer (`listed.rs`): one table, no join.
const OBJECTS_SQL: &str = "SELECT l.seq, l.key, l.version_id, l.last_modified_ms, l.size, l.etag, l.storage_class,
            l.checksum_algorithm, l.checksum_kind, l.checksum_value
     FROM latest l
     WHERE l.bucket = ?1 AND l.key >= ?2 AND l.key < ?3 AND l.delete_marker = 0
     ORDER BY l.key";

fn listed_from_row(row: &rusqlite::Row<'_>, bucket: &str) -> rusqlite::Result<VersionRecord> {
    let cols = ListedColumns {
        version_id: row.get(2)?,
        last_modified_ms: row.get(3)?,
        size: row.get(4)?,
        etag: row.get(5)?,
        storage_class: row.get(6)?,
        checksum: (row.get(7)?, row.get(8)?, row.get(9)?),
    };
    listed_entry(row.get(0)?, bucket, key_from_row(row, 1)?, cols)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(4, Type::Integer, e.into()))
}

/// Every version from a lower key on, key ascending and newest first within a key: the
/// order of `versions_by_key_desc`, so nothing is sorted at query time.
fn range_sql() -> String {
    format!(
        "SELECT {VERSION_COLUMNS} FROM versions v INDEXED BY versions_by_key_desc
         WHERE v.bucket = ?1 AND v.key >= ?2 AND v.key < ?3
         ORDER BY v.key, v.seq DESC"
    )
}

/// The versions of one key older than a version, newest first.
fn within_sql() -> String {
    format!(
        "SELECT {VERSION_COLUMNS} FROM versions v
         WHERE v.bucket = ?1 AND v.key = ?2 AND v.seq < ?3
         ORDER BY v.seq DESC"
    )
}

pub(super) fn list_objects(conn: &Connection, q: &ListQuery) -> MetaResult<ListPage> {
    buckets::require(conn, &q.bucket)?;
    let mut scan = Scan::new(q);
    if q.max_keys == 0 {
        return Ok(scan.finish(false));
    }
    let Some(mut lower) = scan_start(q) else { return Ok(scan.finish(false)) };
    let upper = scan.upper.clone().unwrap_or_else(|| NO_UPPER.to_vec());
    let mut stmt = conn.prepare_cached(OBJECTS_SQL)?;
    'seek: loop {
        let mut rows = stmt.query(params![q.bucket, lower, upper])?;
        while let Some(row) = rows.next()? {
            match scan.offer(listed_from_row(row, &q.bucket)?) {
                Step::Entry => {}
                Step::Full => return Ok(scan.finish(true)),
                Step::JumpTo(Some(to)) => {
                    lower = to;
                    continue 'seek;
                }
                Step::JumpTo(None) => return Ok(scan.finish(false)),
            }
        }
        return Ok(scan.finish(false));
    }
}

pub(super) fn list_versions(conn: &Connection, q: &ListQuery) -> MetaResult<ListPage> {
    buckets::require(conn, &q.bucket)?;
    let mut scan = Scan::new(q);
    if q.max_keys == 0 {
        return Ok(scan.finish(false));
    }
    let Some(mut lower) = scan_start(q) else { return Ok(scan.finish(false)) };
    let upper = scan.upper.clone().unwrap_or_else(|| NO_UPPER.to_vec());
    // Resume inside the marker key's history when a version marker names one of its versions.
    if let (Some(key), Some(vid)) = (q.after.as_deref(), q.after_version.as_deref())
        && let Some(rec) = super::rows::version_by_id(conn, &q.bucket, key, vid)?
        && resumes_within(q, key)
    {
        let mut stmt = conn.prepare_cached(&within_sql())?;
        let mut rows = stmt.query(params![q.bucket, key.as_bytes(), rec.seq])?;
        while let Some(row) = rows.next()? {
            match scan.offer(version_from_row(row)?) {
                Step::Entry => {}
                Step::Full => return Ok(scan.finish(true)),
                // Not reached: the marker key rolls up into no common prefix.
                Step::JumpTo(_) => break,
            }
        }
        let mut next = key.as_bytes().to_vec();
        next.push(0);
        lower = lower.max(next);
    }
    let mut stmt = conn.prepare_cached(&range_sql())?;
    'seek: loop {
        let mut rows = stmt.query(params![q.bucket, lower, upper])?;
        while let Some(row) = rows.next()? {
            match scan.offer(version_from_row(row)?) {
                Step::Entry => {}
                Step::Full => return Ok(scan.finish(true)),
                Step::JumpTo(Some(to)) => {
                    lower = to;
                    continue 'seek;
                }
                Step::JumpTo(None) => return Ok(scan.finish(false)),
            }
        }
        return Ok(scan.finish(false));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql`, one line per step.
    fn plan(sql: &str) -> String {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::schema::SCHEMA).unwrap();
        super::super::listed::ensure(&conn).unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(params!["b", b"a".to_vec(), b"z".to_vec()], |r| r.get::<_, String>(3)).unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("\n")
    }

    #[test]
    fn listings_read_an_index_in_page_order_and_never_sort() {
        let objects = plan(OBJECTS_SQL);
        assert!(objects.contains("SEARCH l USING PRIMARY KEY") && !objects.contains("TEMP B-TREE"), "{objects}");
        let versions = plan(&range_sql());
        assert!(versions.contains("versions_by_key_desc") && !versions.contains("TEMP B-TREE"), "{versions}");
        let within = plan(&within_sql());
        assert!(!within.contains("TEMP B-TREE"), "{within}");
    }
}
