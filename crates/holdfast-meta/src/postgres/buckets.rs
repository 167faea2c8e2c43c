//! Bucket records and their configuration (versioning, Object Lock).

use super::rows::{execute, query, query_opt};
use super::{Fail, RowLock, Tx};
use crate::MetaError;
use crate::model::{Bucket, Versioning};
use holdfast_lock::{DefaultRetention, UtcMillis};
use tokio_postgres::Row;

pub(super) const BUCKET_COLUMNS: &str = "name, created_ms, versioning, lock_enabled, default_retention";

fn versioning_to_str(v: Versioning) -> &'static str {
    match v {
        Versioning::Unversioned => "",
        Versioning::Enabled => "Enabled",
        Versioning::Suspended => "Suspended",
    }
}

pub(super) fn bucket_from_row(row: &Row) -> Result<Bucket, Fail> {
    let versioning: String = row.try_get(2)?;
    let default: Option<String> = row.try_get(4)?;
    Ok(Bucket {
        name: row.try_get(0)?,
        created: UtcMillis(row.try_get(1)?),
        versioning: match versioning.as_str() {
            "Enabled" => Versioning::Enabled,
            "Suspended" => Versioning::Suspended,
            _ => Versioning::Unversioned,
        },
        lock_enabled: row.try_get(3)?,
        default_retention: default.and_then(|s| serde_json::from_str(&s).ok()),
    })
}

pub(super) async fn get(tx: &Tx<'_>, name: &str, lock: RowLock) -> Result<Option<Bucket>, Fail> {
    let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets WHERE name = $1{}", lock.sql());
    query_opt(tx, &sql, &[&name]).await?.as_ref().map(bucket_from_row).transpose()
}

/// The bucket, locked as asked; NoSuchBucket if it does not exist.
pub(super) async fn require(tx: &Tx<'_>, name: &str, lock: RowLock) -> Result<Bucket, Fail> {
    get(tx, name, lock).await?.ok_or(Fail::Meta(MetaError::NoSuchBucket))
}

pub(super) async fn all(tx: &Tx<'_>) -> Result<Vec<Bucket>, Fail> {
    let sql = format!("SELECT {BUCKET_COLUMNS} FROM buckets ORDER BY name");
    query(tx, &sql, &[]).await?.iter().map(bucket_from_row).collect()
}

pub(super) async fn create(tx: &Tx<'_>, name: &str, lock_enabled: bool, now: UtcMillis) -> Result<(), Fail> {
    // A lock-enabled bucket always has versioning Enabled (B1).
    let versioning = if lock_enabled { Versioning::Enabled } else { Versioning::Unversioned };
    let n = execute(
        tx,
        "INSERT INTO buckets (name, created_ms, versioning, lock_enabled) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO NOTHING",
        &[&name, &now.millis(), &versioning_to_str(versioning), &lock_enabled],
    )
    .await?;
    if n == 0 {
        return Err(MetaError::BucketAlreadyOwnedByYou.into());
    }
    Ok(())
}

/// Locks a bucket's row for its removal, refusing a bucket that does not exist or still
/// holds a version or delete marker.
pub(super) async fn require_empty(tx: &Tx<'_>, name: &str) -> Result<(), Fail> {
    require(tx, name, RowLock::Update).await?;
    if query_opt(tx, "SELECT 1 FROM versions WHERE bucket = $1 LIMIT 1", &[&name]).await?.is_some() {
        return Err(MetaError::BucketNotEmpty.into());
    }
    Ok(())
}

/// Removes a bucket [`require_empty`] locked, once its uploads in progress are dropped
/// (`multipart::drop_bucket_uploads`).
pub(super) async fn delete(tx: &Tx<'_>, name: &str) -> Result<(), Fail> {
    execute(tx, "DELETE FROM completed_uploads WHERE bucket = $1", &[&name]).await?;
    execute(tx, "DELETE FROM buckets WHERE name = $1", &[&name]).await?;
    Ok(())
}

pub(super) async fn set_versioning(tx: &Tx<'_>, name: &str, versioning: Versioning) -> Result<(), Fail> {
    let bucket = require(tx, name, RowLock::Update).await?;
    holdfast_lock::check_versioning_change(bucket.lock_enabled, versioning == Versioning::Enabled)
        .map_err(MetaError::from)?;
    execute(tx, "UPDATE buckets SET versioning = $2 WHERE name = $1", &[&name, &versioning_to_str(versioning)]).await?;
    Ok(())
}

pub(super) async fn set_lock_configuration(
    tx: &Tx<'_>,
    name: &str,
    default: Option<DefaultRetention>,
) -> Result<(), Fail> {
    let bucket = require(tx, name, RowLock::Update).await?;
    holdfast_lock::check_lock_configuration(bucket.lock_enabled, bucket.versioning == Versioning::Enabled)
        .map_err(MetaError::from)?;
    let default = default.map(|d| serde_json::to_string(&d)).transpose()?;
    execute(tx, "UPDATE buckets SET lock_enabled = true, default_retention = $2 WHERE name = $1", &[&name, &default])
        .await?;
    Ok(())
}

/// Versions (not delete markers) and their bytes stored in `bucket`, noncurrent included.
///
/// The one statement of a request that reads a whole bucket: it runs with sequential scans
/// allowed again for the rest of its transaction (gateway sessions start without them,
/// index_plans.rs). A bucket that is most of the table is summed in half the time by a scan
/// (91–96 against 183–227 ms for 500,000 versions, docs/performance.md).
pub(super) async fn usage(tx: &Tx<'_>, bucket: &str) -> Result<crate::Tally, Fail> {
    tx.batch_execute("SET LOCAL enable_seqscan = on").await?;
    let row = super::rows::query_one(
        tx,
        "SELECT COUNT(*)::bigint, COALESCE(SUM(size), 0)::bigint FROM versions WHERE bucket = $1 AND NOT delete_marker",
        &[&bucket],
    )
    .await?;
    let (versions, bytes): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    Ok(crate::Tally { versions: versions.max(0).cast_unsigned(), bytes: bytes.max(0).cast_unsigned() })
}

/// The bucket's quota against a new version of `incoming` bytes, in the write's transaction.
/// The quota document's row is locked (`FOR UPDATE`) before the sum is read, so writes to a
/// bucket with a quota take turns and each sums what the earlier ones committed (READ
/// COMMITTED reads afresh per statement): the bound is exact, as on the embedded store.
/// Buckets without a quota lock nothing.
pub(super) async fn check_quota(tx: &Tx<'_>, bucket: &str, incoming: u64) -> Result<(), Fail> {
    let row = query_opt(
        tx,
        "SELECT doc FROM bucket_configs WHERE bucket = $1 AND kind = $2 FOR UPDATE",
        &[&bucket, &crate::BucketConfigKind::Quota.as_str()],
    )
    .await?;
    let Some(row) = row else { return Ok(()) };
    let doc: String = row.try_get(0)?;
    let quota: crate::BucketQuota = serde_json::from_str(&doc)?;
    quota.check(usage(tx, bucket).await?.bytes, incoming)?;
    Ok(())
}
