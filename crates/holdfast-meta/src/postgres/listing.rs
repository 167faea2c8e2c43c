//! ListObjects(V2) and ListObjectVersions over the `bytea` key index (byte order), with
//! the store-independent scan of `crate::listing`. Runs in one snapshot.

use super::buckets;
use super::rows::{VERSION_COLUMNS, query, version_by_id, versions_from_rows};
use super::{Fail, RowLock, Tx};
use crate::listing::{Scan, Step, resumes_within, scan_start};
use crate::model::{ListPage, ListQuery, VersionRecord};

const BATCH: i64 = 256;

/// Larger than any key (S3 keys are at most 1024 bytes).
const NO_UPPER: [u8; 1025] = [0xFF; 1025];

async fn range(
    tx: &Tx<'_>,
    sql: &str,
    bucket: &str,
    lower: &[u8],
    upper: Option<&[u8]>,
) -> Result<Vec<VersionRecord>, Fail> {
    let upper = upper.unwrap_or(&NO_UPPER);
    versions_from_rows(&query(tx, sql, &[&bucket, &lower, &upper, &BATCH]).await?)
}

pub(super) async fn list_objects(tx: &Tx<'_>, q: &ListQuery) -> Result<ListPage, Fail> {
    buckets::require(tx, &q.bucket, RowLock::None).await?;
    let mut scan = Scan::new(q);
    if q.max_keys == 0 {
        return Ok(scan.finish(false));
    }
    let Some(mut lower) = scan_start(q) else { return Ok(scan.finish(false)) };
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM latest l JOIN versions v ON v.seq = l.seq
         WHERE l.bucket = $1 AND l.key >= $2 AND l.key < $3 AND NOT l.delete_marker
         ORDER BY l.key LIMIT $4"
    );
    loop {
        let rows = range(tx, &sql, &q.bucket, &lower, scan.upper.as_deref()).await?;
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

pub(super) async fn list_versions(tx: &Tx<'_>, q: &ListQuery) -> Result<ListPage, Fail> {
    buckets::require(tx, &q.bucket, RowLock::None).await?;
    let mut scan = Scan::new(q);
    if q.max_keys == 0 {
        return Ok(scan.finish(false));
    }
    let Some(mut lower) = scan_start(q) else { return Ok(scan.finish(false)) };
    // Resume inside the marker key's history when a version marker names one of its versions.
    let mut within: Option<(String, i64)> = None;
    if let (Some(key), Some(vid)) = (q.after.as_deref(), q.after_version.as_deref())
        && let Some(rec) = version_by_id(tx, &q.bucket, key, vid, false).await?
        && resumes_within(q, key)
    {
        within = Some((key.to_owned(), rec.seq));
    }
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
    loop {
        let rows = if let Some((key, seq)) = &within {
            let rows = versions_from_rows(&query(tx, &within_sql, &[&q.bucket, &key.as_bytes(), seq, &BATCH]).await?)?;
            if rows.is_empty() {
                let mut next = key.as_bytes().to_vec();
                next.push(0);
                lower = lower.max(next);
                within = None;
                continue;
            }
            rows
        } else {
            range(tx, &range_sql, &q.bucket, &lower, scan.upper.as_deref()).await?
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
