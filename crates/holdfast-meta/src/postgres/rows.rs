//! Statements through the connection's statement cache, and row ↔ record mapping.

use super::{Fail, Tx};
use crate::MetaError;
use crate::model::{ObjectData, VersionRecord};
use holdfast_lock::{LegalHold, LockState, Retention, UtcMillis};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) async fn query(tx: &Tx<'_>, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Fail> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query(&stmt, params).await?)
}

pub(super) async fn query_opt(tx: &Tx<'_>, sql: &str, params: Params<'_>) -> Result<Option<Row>, Fail> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&stmt, params).await?)
}

pub(super) async fn query_one(tx: &Tx<'_>, sql: &str, params: Params<'_>) -> Result<Row, Fail> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&stmt, params).await?)
}

pub(super) async fn execute(tx: &Tx<'_>, sql: &str, params: Params<'_>) -> Result<u64, Fail> {
    let stmt = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&stmt, params).await?)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Fail {
    Fail::Meta(MetaError::Internal(format!("corrupt {what}: {e}")))
}

/// A `bytea` key column as the UTF-8 key it was written from.
pub(super) fn key_at(row: &Row, idx: usize) -> Result<String, Fail> {
    String::from_utf8(row.try_get::<_, Vec<u8>>(idx)?).map_err(|e| corrupt("key", e))
}

/// Columns of `versions v` in the order [`version_from_row`] reads them, then is_latest.
pub(super) const VERSION_COLUMNS: &str = "v.seq, v.bucket, v.key, v.version_id, v.delete_marker, v.last_modified_ms, \
     v.data, v.lock_mode, v.lock_until_ms, v.legal_hold, \
     (SELECT l.seq FROM latest l WHERE l.bucket = v.bucket AND l.key = v.key) = v.seq";

pub(super) fn version_from_row(row: &Row) -> Result<VersionRecord, Fail> {
    let data: Option<String> = row.try_get(6)?;
    let object: Option<ObjectData> = data.map(|s| serde_json::from_str(&s)).transpose()?;
    let mode: Option<String> = row.try_get(7)?;
    let until: Option<i64> = row.try_get(8)?;
    let retention = match (mode, until) {
        (Some(m), Some(u)) => {
            Some(Retention { mode: m.parse().map_err(|e| corrupt("lock mode", e))?, until: UtcMillis(u) })
        }
        _ => None,
    };
    let legal_hold = row.try_get::<_, Option<bool>>(9)?.map(|h| if h { LegalHold::On } else { LegalHold::Off });
    Ok(VersionRecord {
        seq: row.try_get(0)?,
        bucket: row.try_get(1)?,
        key: key_at(row, 2)?,
        version_id: row.try_get(3)?,
        last_modified: UtcMillis(row.try_get(5)?),
        is_latest: row.try_get::<_, Option<bool>>(10)?.unwrap_or(false),
        object,
        lock: LockState { retention, legal_hold },
        replication: None,
    })
}

pub(super) fn lock_columns(lock: &LockState) -> (Option<&'static str>, Option<i64>, Option<bool>) {
    (
        lock.retention.map(|r| r.mode.as_str()),
        lock.retention.map(|r| r.until.millis()),
        lock.legal_hold.map(|h| h == LegalHold::On),
    )
}

pub(super) async fn version_by_seq(tx: &Tx<'_>, seq: i64) -> Result<Option<VersionRecord>, Fail> {
    let sql = format!("SELECT {VERSION_COLUMNS} FROM versions v WHERE v.seq = $1");
    query_opt(tx, &sql, &[&seq]).await?.as_ref().map(version_from_row).transpose()
}

/// One version of a key; with `for_update` its row stays locked until the transaction ends.
pub(super) async fn version_by_id(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    id: &str,
    for_update: bool,
) -> Result<Option<VersionRecord>, Fail> {
    let lock = if for_update { " FOR UPDATE OF v" } else { "" };
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM versions v WHERE v.bucket = $1 AND v.key = $2 AND v.version_id = $3{lock}"
    );
    query_opt(tx, &sql, &[&bucket, &key.as_bytes(), &id]).await?.as_ref().map(version_from_row).transpose()
}
