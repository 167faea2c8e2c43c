//! ListObjects(V2) and ListObjectVersions over the byte-ordered key index, with
//! delimiter roll-up into common prefixes.

use super::buckets;
use super::rows::{VERSION_COLUMNS, version_from_row};
use crate::MetaResult;
use crate::model::{ListPage, ListQuery, VersionRecord};
use rusqlite::{Connection, params};

const BATCH: usize = 256;

/// The smallest byte string greater than every string that starts with `p`.
pub(super) fn prefix_upper_bound(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// The common prefix `key` rolls up into, if any.
pub(super) fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// Inclusive lower bound for a scan that starts after `after` (a key or a common prefix).
fn scan_start(q: &ListQuery) -> Option<Vec<u8>> {
    let mut lower = q.prefix.as_bytes().to_vec();
    if let Some(after) = q.after.as_deref() {
        let mut next = after.as_bytes().to_vec();
        next.push(0);
        if let Some(cp) = common_prefix(after, &q.prefix, q.delimiter.as_deref())
            && after.starts_with(&q.prefix)
        {
            // Everything under an already returned common prefix is skipped.
            next = prefix_upper_bound(cp.as_bytes())?;
        }
        lower = lower.max(next);
    }
    Some(lower)
}

struct Scan<'q> {
    q: &'q ListQuery,
    upper: Option<Vec<u8>>,
    page: ListPage,
    count: usize,
}

enum Step {
    /// Take the record and keep scanning from the next row.
    Entry,
    /// A common prefix was taken; the scan must jump past it (or stop if nothing can follow).
    JumpTo(Option<Vec<u8>>),
    /// The page is full and another entry exists.
    Full,
}

impl<'q> Scan<'q> {
    fn new(q: &'q ListQuery) -> Self {
        let upper = if q.prefix.is_empty() { None } else { prefix_upper_bound(q.prefix.as_bytes()) };
        Self { q, upper, page: ListPage::default(), count: 0 }
    }

    fn offer(&mut self, rec: VersionRecord) -> Step {
        let cp = common_prefix(&rec.key, &self.q.prefix, self.q.delimiter.as_deref()).map(str::to_owned);
        if let Some(cp) = cp {
            if self.page.common_prefixes.last() == Some(&cp) {
                return Step::JumpTo(prefix_upper_bound(cp.as_bytes()));
            }
            if self.count == self.q.max_keys {
                return Step::Full;
            }
            self.count += 1;
            let next = prefix_upper_bound(cp.as_bytes());
            self.page.next_marker = Some(cp.clone());
            self.page.next_version_marker = None;
            self.page.common_prefixes.push(cp);
            return Step::JumpTo(next);
        }
        if self.count == self.q.max_keys {
            return Step::Full;
        }
        self.count += 1;
        self.page.next_marker = Some(rec.key.clone());
        self.page.next_version_marker = Some(rec.version_id.clone());
        self.page.versions.push(rec);
        Step::Entry
    }

    fn finish(mut self, truncated: bool) -> ListPage {
        self.page.truncated = truncated;
        if !truncated {
            self.page.next_marker = None;
            self.page.next_version_marker = None;
        }
        self.page
    }
}

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
        && key.starts_with(&q.prefix)
        && common_prefix(key, &q.prefix, q.delimiter.as_deref()).is_none()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_skips_ff() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_upper_bound(b"\xff"), None);
    }

    #[test]
    fn common_prefixes() {
        assert_eq!(common_prefix("a/b/c", "", Some("/")), Some("a/"));
        assert_eq!(common_prefix("a/b/c", "a/", Some("/")), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/", Some("/")), None);
        assert_eq!(common_prefix("a/b", "", None), None);
        assert_eq!(common_prefix("a--b--c", "", Some("--")), Some("a--"));
    }
}
