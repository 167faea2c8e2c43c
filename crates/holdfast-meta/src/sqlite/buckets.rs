//! Bucket records and their configuration (versioning, Object Lock).

use crate::model::{Bucket, Versioning};
use crate::{MetaError, MetaResult};
use holdfast_lock::{DefaultRetention, UtcMillis};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// A macro, so that the lookup every PUT makes is a literal (no `format!` per call).
macro_rules! bucket_columns {
    () => {
        "name, created_ms, versioning, lock_enabled, default_retention"
    };
}
const BUCKET_COLUMNS: &str = bucket_columns!();

fn versioning_to_str(v: Versioning) -> &'static str {
    match v {
        Versioning::Unversioned => "",
        Versioning::Enabled => "Enabled",
        Versioning::Suspended => "Suspended",
    }
}

fn bucket_from_row(row: &Row<'_>) -> rusqlite::Result<Bucket> {
    let versioning: String = row.get(2)?;
    let default: Option<String> = row.get(4)?;
    Ok(Bucket {
        name: row.get(0)?,
        created: UtcMillis(row.get(1)?),
        versioning: match versioning.as_str() {
            "Enabled" => Versioning::Enabled,
            "Suspended" => Versioning::Suspended,
            _ => Versioning::Unversioned,
        },
        lock_enabled: row.get(3)?,
        default_retention: default.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

pub(super) fn get(conn: &Connection, name: &str) -> MetaResult<Option<Bucket>> {
    let sql = concat!("SELECT ", bucket_columns!(), " FROM buckets WHERE name = ?1");
    Ok(conn.prepare_cached(sql)?.query_row([name], bucket_from_row).optional()?)
}

pub(super) fn require(conn: &Connection, name: &str) -> MetaResult<Bucket> {
    get(conn, name)?.ok_or(MetaError::NoSuchBucket)
}

pub(super) fn all(conn: &Connection) -> MetaResult<Vec<Bucket>> {
    let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], bucket_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn create(conn: &Connection, name: &str, lock_enabled: bool, now: UtcMillis) -> MetaResult<()> {
    if get(conn, name)?.is_some() {
        return Err(MetaError::BucketAlreadyOwnedByYou);
    }
    // A lock-enabled bucket always has versioning Enabled (B1).
    let versioning = if lock_enabled { Versioning::Enabled } else { Versioning::Unversioned };
    conn.execute(
        "INSERT INTO buckets (name, created_ms, versioning, lock_enabled) VALUES (?1, ?2, ?3, ?4)",
        params![name, now.millis(), versioning_to_str(versioning), lock_enabled],
    )?;
    Ok(())
}

/// Refuses a bucket that does not exist or still holds a version or delete marker.
pub(super) fn require_empty(conn: &Connection, name: &str) -> MetaResult<()> {
    require(conn, name)?;
    let any: Option<i64> =
        conn.query_row("SELECT 1 FROM versions WHERE bucket = ?1 LIMIT 1", [name], |r| r.get(0)).optional()?;
    if any.is_some() {
        return Err(MetaError::BucketNotEmpty);
    }
    Ok(())
}

/// Removes a bucket [`require_empty`] passed, once its uploads in progress are dropped
/// (`multipart::drop_bucket_uploads`).
pub(super) fn delete(conn: &Connection, name: &str) -> MetaResult<()> {
    conn.execute("DELETE FROM completed_uploads WHERE bucket = ?1", [name])?;
    conn.execute("DELETE FROM buckets WHERE name = ?1", [name])?;
    Ok(())
}

pub(super) fn set_versioning(conn: &Connection, name: &str, versioning: Versioning) -> MetaResult<()> {
    let bucket = require(conn, name)?;
    holdfast_lock::check_versioning_change(bucket.lock_enabled, versioning == Versioning::Enabled)
        .map_err(MetaError::from)?;
    conn.execute("UPDATE buckets SET versioning = ?2 WHERE name = ?1", params![name, versioning_to_str(versioning)])?;
    Ok(())
}

pub(super) fn set_lock_configuration(
    conn: &Connection,
    name: &str,
    default: Option<DefaultRetention>,
) -> MetaResult<()> {
    let bucket = require(conn, name)?;
    holdfast_lock::check_lock_configuration(bucket.lock_enabled, bucket.versioning == Versioning::Enabled)
        .map_err(MetaError::from)?;
    let default = default.map(|d| serde_json::to_string(&d)).transpose()?;
    conn.execute(
        "UPDATE buckets SET lock_enabled = 1, default_retention = ?2 WHERE name = ?1",
        params![name, default],
    )?;
    Ok(())
}

/// The bucket's quota against a new version of `incoming` bytes, in the writer's
/// transaction: the one writer sees every earlier write, so the bound is exact.
pub(super) fn check_quota(conn: &Connection, bucket: &str, incoming: u64) -> MetaResult<()> {
    let Some(doc) = super::events::config_doc(conn, bucket, crate::BucketConfigKind::Quota)? else { return Ok(()) };
    let quota: crate::BucketQuota = serde_json::from_str(&doc)?;
    quota.check(super::usage::of(conn, bucket)?.bytes, incoming)
}
