//! Row ↔ record mapping shared by the queries.

use crate::model::{ObjectData, VersionRecord};
use crate::{MetaError, MetaResult};
use holdfast_lock::{LegalHold, LockState, Retention, UtcMillis};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

/// Columns of `versions v` in the order [`version_from_row`] reads them, then is_latest (a
/// macro, so that the statements of every PUT are literals: no `format!` per call).
macro_rules! version_columns {
    () => {
        "v.seq, v.bucket, v.key, v.version_id, v.delete_marker, v.last_modified_ms, \
         v.data, v.lock_mode, v.lock_until_ms, v.legal_hold, \
         (SELECT l.seq FROM latest l WHERE l.bucket = v.bucket AND l.key = v.key) = v.seq"
    };
}
pub(super) const VERSION_COLUMNS: &str = version_columns!();

fn conversion<E: std::error::Error + Send + Sync + 'static>(idx: usize, ty: Type, e: E) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, ty, Box::new(e))
}

pub(super) fn key_from_row(row: &Row<'_>, idx: usize) -> rusqlite::Result<String> {
    let bytes: Vec<u8> = row.get(idx)?;
    String::from_utf8(bytes).map_err(|e| conversion(idx, Type::Blob, e))
}

pub(super) fn version_from_row(row: &Row<'_>) -> rusqlite::Result<VersionRecord> {
    let data: Option<String> = row.get(6)?;
    let object: Option<ObjectData> = match data {
        Some(s) => Some(serde_json::from_str(&s).map_err(|e| conversion(6, Type::Text, e))?),
        None => None,
    };
    let mode: Option<String> = row.get(7)?;
    let until: Option<i64> = row.get(8)?;
    let retention = match (mode, until) {
        (Some(m), Some(u)) => {
            Some(Retention { mode: m.parse().map_err(|e| conversion(7, Type::Text, e))?, until: UtcMillis(u) })
        }
        _ => None,
    };
    let legal_hold = row.get::<_, Option<i64>>(9)?.map(|h| if h == 1 { LegalHold::On } else { LegalHold::Off });
    Ok(VersionRecord {
        seq: row.get(0)?,
        bucket: row.get(1)?,
        key: key_from_row(row, 2)?,
        version_id: row.get(3)?,
        last_modified: UtcMillis(row.get(5)?),
        is_latest: row.get::<_, Option<bool>>(10)?.unwrap_or(false),
        object,
        lock: LockState { retention, legal_hold },
        replication: None,
    })
}

/// Fills in the inline bytes of an object version that keeps them in `inline_data`
/// (no segments, not empty).
pub(super) fn load_inline(conn: &Connection, rec: &mut VersionRecord) -> MetaResult<()> {
    let seq = rec.seq;
    let Some(obj) = rec.object.as_mut() else { return Ok(()) };
    if !obj.segments.is_empty() || obj.size == 0 {
        return Ok(());
    }
    let bytes: Option<Vec<u8>> = conn
        .prepare_cached("SELECT bytes FROM inline_data WHERE seq = ?1")?
        .query_row(params![seq], |r| r.get(0))
        .optional()?;
    let bytes =
        bytes.ok_or_else(|| MetaError::Internal(format!("version {seq} has no segments and no inline bytes")))?;
    if bytes.len() as u64 != obj.size {
        return Err(MetaError::Internal(format!("version {seq}: {} inline bytes for size {}", bytes.len(), obj.size)));
    }
    obj.inline = Some(bytes::Bytes::from(bytes));
    Ok(())
}

pub(super) fn lock_columns(lock: &LockState) -> (Option<&'static str>, Option<i64>, Option<i64>) {
    (
        lock.retention.map(|r| r.mode.as_str()),
        lock.retention.map(|r| r.until.millis()),
        lock.legal_hold.map(|h| i64::from(h == LegalHold::On)),
    )
}

pub(super) fn version_by_seq(conn: &Connection, seq: i64) -> MetaResult<Option<VersionRecord>> {
    let sql = concat!("SELECT ", version_columns!(), " FROM versions v WHERE v.seq = ?1");
    Ok(conn.prepare_cached(sql)?.query_row(params![seq], version_from_row).optional()?)
}

pub(super) fn version_by_id(conn: &Connection, bucket: &str, key: &str, id: &str) -> MetaResult<Option<VersionRecord>> {
    let sql = concat!(
        "SELECT ",
        version_columns!(),
        " FROM versions v WHERE v.bucket = ?1 AND v.key = ?2 AND v.version_id = ?3"
    );
    Ok(conn.prepare_cached(sql)?.query_row(params![bucket, key.as_bytes(), id], version_from_row).optional()?)
}

pub(super) fn latest_seq(conn: &Connection, bucket: &str, key: &str) -> MetaResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT seq FROM latest WHERE bucket = ?1 AND key = ?2")?
        .query_row(params![bucket, key.as_bytes()], |r| r.get(0))
        .optional()?)
}
