//! ListObjects(V2) and ListObjectVersions over the `bytea` key indexes (byte order), with
//! the store-independent scan of `crate::listing`. Runs in one snapshot. A page is one
//! round trip when it holds no common prefix; each common prefix costs one seek past it.

use super::buckets;
use super::rows::{VERSION_COLUMNS, key_at, query, version_by_id, version_from_row};
use super::{Fail, RowLock, Tx};
use crate::MetaError;
use crate::listing::{ListedColumns, Scan, Step, listed_entry, resumes_within, scan_start};
use crate::model::{ListPage, ListQuery};

/// Rows asked for at once: a page of 1,000 and the one that says more follow.
const PAGE_ROWS: usize = 1001;

/// Rows asked for right after jumping past a common prefix: the next key is most often
/// under another prefix, so a full page would be read for one row.
const AFTER_JUMP_ROWS: usize = 16;

/// Larger than any key (S3 keys are at most 1024 bytes).
const NO_UPPER: [u8; 1025] = [0xFF; 1025];

/// PostgreSQL migration 10: the index ListObjectVersions reads in page order (keys
/// ascending, each key's versions newest first), so that a page never sorts a key's history.
pub(super) const V10: &str = "CREATE INDEX versions_by_key_desc ON versions (bucket, key, seq DESC);";

/// PostgreSQL migration 16: one index fewer to write per version (issue #17). Migration 1's
/// `versions_by_key (bucket, key, seq)` holds the same entries as `versions_by_key_desc`, and a
/// B-tree is read in either direction: every query on `versions` by bucket and key (a key's
/// history either way, a key range newest first within a key, the listing's marker inside a
/// key, a key's newest version, "another version of the key", the replication rescan by `seq`)
/// reads `versions_by_key_desc`, the `(bucket, key, version_id)` unique index or the primary
/// key without a sort (`tests/pg_key_index.rs`). `IF EXISTS`: the upgrade tests replay older
/// migrations on a database that never had it again.
pub(super) const V16: &str = "DROP INDEX IF EXISTS versions_by_key;";

/// Rows to ask for next: after a jump past a common prefix a few, else a page's worth.
fn rows_wanted(q: &ListQuery, jumped: bool) -> i64 {
    let n = if jumped { AFTER_JUMP_ROWS } else { (q.max_keys + 1).min(PAGE_ROWS) };
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) async fn list_objects(tx: &Tx<'_>, q: &ListQuery) -> Result<ListPage, Fail> {
    buckets::require(tx, &q.bucket, RowLock::None).await?;
    let mut scan = Scan::new(q);
    if q.max_keys == 0 {
        return Ok(scan.finish(false));
    }
    let Some(mut lower) = scan_start(q) else { return Ok(scan.finish(false)) };
    let upper = scan.upper.clone().unwrap_or_else(|| NO_UPPER.to_vec());
    // The current versions that are objects, with only the columns a listing shows.
    let sql = "SELECT l.seq, l.key, l.version_id, l.last_modified_ms, l.size, l.etag, l.storage_class,
                      l.checksum_algorithm, l.checksum_kind, l.checksum_value
               FROM latest l
               WHERE l.bucket = $1 AND l.key >= $2 AND l.key < $3 AND NOT l.delete_marker
               ORDER BY l.key LIMIT $4";
    let mut jumped = false;
    'seek: loop {
        let limit = rows_wanted(q, jumped);
        let rows = query(tx, sql, &[&q.bucket, &lower, &upper, &limit]).await?;
        let got = rows.len();
        for row in &rows {
            let cols = ListedColumns {
                version_id: row.try_get(2)?,
                last_modified_ms: row.try_get(3)?,
                size: row.try_get(4)?,
                etag: row.try_get(5)?,
                storage_class: row.try_get(6)?,
                checksum: (row.try_get(7)?, row.try_get(8)?, row.try_get(9)?),
            };
            let rec = listed_entry(row.try_get(0)?, &q.bucket, key_at(row, 1)?, cols)
                .map_err(|e| Fail::Meta(MetaError::Internal(format!("corrupt listed columns: {e}"))))?;
            let mut next = rec.key.as_bytes().to_vec();
            next.push(0);
            match scan.offer(rec) {
                Step::Entry => lower = next,
                Step::Full => return Ok(scan.finish(true)),
                Step::JumpTo(Some(to)) => {
                    lower = to;
                    jumped = true;
                    continue 'seek;
                }
                Step::JumpTo(None) => return Ok(scan.finish(false)),
            }
        }
        if i64::try_from(got).unwrap_or(i64::MAX) < limit {
            return Ok(scan.finish(false));
        }
        jumped = false;
    }
}

pub(super) async fn list_versions(tx: &Tx<'_>, q: &ListQuery) -> Result<ListPage, Fail> {
    buckets::require(tx, &q.bucket, RowLock::None).await?;
    let mut scan = Scan::new(q);
    if q.max_keys == 0 {
        return Ok(scan.finish(false));
    }
    let Some(mut lower) = scan_start(q) else { return Ok(scan.finish(false)) };
    let upper = scan.upper.clone().unwrap_or_else(|| NO_UPPER.to_vec());
    // Resume inside the marker key's history when a version marker names one of its versions.
    let mut within: Option<(String, i64)> = None;
    if let (Some(key), Some(vid)) = (q.after.as_deref(), q.after_version.as_deref())
        && let Some(rec) = version_by_id(tx, &q.bucket, key, vid, false).await?
        && resumes_within(q, key)
    {
        within = Some((key.to_owned(), rec.seq));
    }
    // Key ascending, newest first within a key: the order of `versions_by_key_desc`.
    let range_sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v
         WHERE v.bucket = $1 AND v.key >= $2 AND v.key < $3
         ORDER BY v.key, v.seq DESC LIMIT $4"
    );
    let within_sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v
         WHERE v.bucket = $1 AND v.key = $2 AND v.seq < $3
         ORDER BY v.seq DESC LIMIT $4"
    );
    let mut jumped = false;
    loop {
        let limit = rows_wanted(q, jumped);
        jumped = false;
        let rows = if let Some((key, seq)) = &within {
            let rows = query(tx, &within_sql, &[&q.bucket, &key.as_bytes(), seq, &limit]).await?;
            if rows.is_empty() {
                let mut next = key.as_bytes().to_vec();
                next.push(0);
                lower = lower.max(next);
                within = None;
                continue;
            }
            rows
        } else {
            query(tx, &range_sql, &[&q.bucket, &lower, &upper, &limit]).await?
        };
        if rows.is_empty() {
            return Ok(scan.finish(false));
        }
        for row in &rows {
            let rec = version_from_row(row)?;
            let (key, seq) = (rec.key.clone(), rec.seq);
            match scan.offer(rec) {
                Step::Entry => within = Some((key, seq)),
                Step::Full => return Ok(scan.finish(true)),
                Step::JumpTo(Some(to)) => {
                    lower = to;
                    within = None;
                    jumped = true;
                    break;
                }
                Step::JumpTo(None) => return Ok(scan.finish(false)),
            }
        }
    }
}
