//! Multipart uploads in progress and their parts. Part writes, completion and abort hold
//! the upload row (FOR UPDATE), so they serialize per upload across gateways.

use super::objects::{queue_blob, write_new};
use super::rows::{execute, key_at, query, query_opt, version_by_seq};
use super::{Fail, RowLock, Tx, buckets};
use crate::MetaError;
use crate::listing::uploads_page;
use crate::model::*;
use crate::{ReplicaVersion, ReplicaWrite};
use holdfast_lock::UtcMillis;
use std::collections::HashSet;

pub(super) async fn create(tx: &Tx<'_>, u: &Upload) -> Result<(), Fail> {
    buckets::require(tx, &u.bucket, RowLock::KeyShare).await?;
    execute(
        tx,
        "INSERT INTO uploads (upload_id, bucket, key, initiated_ms, data) VALUES ($1, $2, $3, $4, $5)",
        &[&u.upload_id, &u.bucket, &u.key.as_bytes(), &u.initiated.millis(), &serde_json::to_string(u)?],
    )
    .await?;
    Ok(())
}

pub(super) async fn get(tx: &Tx<'_>, bucket: &str, key: &str, upload_id: &str, lock: RowLock) -> Result<Upload, Fail> {
    let bucket_lock = if lock == RowLock::None { RowLock::None } else { RowLock::KeyShare };
    buckets::require(tx, bucket, bucket_lock).await?;
    let sql = format!("SELECT data FROM uploads WHERE upload_id = $1 AND bucket = $2 AND key = $3{}", lock.sql());
    let row = query_opt(tx, &sql, &[&upload_id, &bucket, &key.as_bytes()]).await?;
    let data: String = row.ok_or(Fail::Meta(MetaError::NoSuchUpload))?.try_get(0)?;
    Ok(serde_json::from_str(&data)?)
}

async fn part_rows(tx: &Tx<'_>, upload_id: &str, after: u32, limit: i64) -> Result<Vec<Part>, Fail> {
    let rows = query(
        tx,
        "SELECT data FROM parts WHERE upload_id = $1 AND part_number > $2 ORDER BY part_number LIMIT $3",
        &[&upload_id, &i64::from(after), &limit],
    )
    .await?;
    rows.iter().map(|r| Ok(serde_json::from_str(&r.try_get::<_, String>(0)?)?)).collect()
}

pub(super) async fn parts(tx: &Tx<'_>, upload_id: &str, after: u32, max: usize) -> Result<(Vec<Part>, bool), Fail> {
    let limit = i64::try_from(max).unwrap_or(i64::MAX - 1).saturating_add(1);
    let mut parts = part_rows(tx, upload_id, after, limit).await?;
    let truncated = parts.len() > max;
    parts.truncate(max);
    Ok((parts, truncated))
}

pub(super) async fn put_part(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    upload_id: &str,
    part: &Part,
    now: UtcMillis,
) -> Result<(), Fail> {
    get(tx, bucket, key, upload_id, RowLock::Update).await?;
    let number = i64::from(part.number);
    let old = query_opt(tx, "SELECT data FROM parts WHERE upload_id = $1 AND part_number = $2", &[&upload_id, &number])
        .await?;
    if let Some(old) = old {
        let old: Part = serde_json::from_str(&old.try_get::<_, String>(0)?)?;
        queue_blob(tx, &old.segment.blob, now).await?;
    }
    execute(
        tx,
        "INSERT INTO parts (upload_id, part_number, data) VALUES ($1, $2, $3)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET data = excluded.data",
        &[&upload_id, &number, &serde_json::to_string(part)?],
    )
    .await?;
    execute(tx, "INSERT INTO blobs (id) VALUES ($1) ON CONFLICT (id) DO NOTHING", &[&part.segment.blob]).await?;
    Ok(())
}

/// Drops every upload in progress of `bucket` (the bucket is being deleted); their parts'
/// blobs are collected.
pub(super) async fn drop_bucket_uploads(tx: &Tx<'_>, bucket: &str, now: UtcMillis) -> Result<(), Fail> {
    let uploads = query(tx, "SELECT upload_id FROM uploads WHERE bucket = $1", &[&bucket]).await?;
    for row in uploads {
        let id: String = row.try_get(0)?;
        drop_upload(tx, &id, now).await?;
    }
    Ok(())
}

/// Forgets an upload and queues every part's blob for collection.
pub(super) async fn drop_upload(tx: &Tx<'_>, upload_id: &str, now: UtcMillis) -> Result<(), Fail> {
    for part in part_rows(tx, upload_id, 0, i64::MAX).await? {
        queue_blob(tx, &part.segment.blob, now).await?;
    }
    execute(tx, "DELETE FROM parts WHERE upload_id = $1", &[&upload_id]).await?;
    execute(tx, "DELETE FROM uploads WHERE upload_id = $1", &[&upload_id]).await?;
    Ok(())
}

pub(super) async fn abort(tx: &Tx<'_>, bucket: &str, key: &str, upload_id: &str, now: UtcMillis) -> Result<(), Fail> {
    get(tx, bucket, key, upload_id, RowLock::Update).await?;
    drop_upload(tx, upload_id, now).await
}

pub(super) async fn complete(
    tx: &Tx<'_>,
    upload: &Upload,
    object: &ObjectData,
    cond: &WriteConditions,
    now: UtcMillis,
) -> Result<VersionRecord, Fail> {
    get(tx, &upload.bucket, &upload.key, &upload.upload_id, RowLock::Update).await?;
    let parts = part_rows(tx, &upload.upload_id, 0, i64::MAX).await?;
    let current: HashSet<&str> = parts.iter().map(|p| p.segment.blob.as_str()).collect();
    // A part replaced since the caller read it would leave the object pointing at a blob
    // that is about to be collected.
    if object.segments.iter().any(|s| !current.contains(s.blob.as_str())) {
        return Err(MetaError::InvalidPart.into());
    }
    let rec = write_new(
        tx,
        &upload.bucket,
        &upload.key,
        object,
        upload.lock,
        cond,
        now,
        "s3:ObjectCreated:CompleteMultipartUpload",
    )
    .await?;
    let used: HashSet<&str> = object.segments.iter().map(|s| s.blob.as_str()).collect();
    for part in &parts {
        if !used.contains(part.segment.blob.as_str()) {
            queue_blob(tx, &part.segment.blob, now).await?;
        }
    }
    execute(tx, "DELETE FROM parts WHERE upload_id = $1", &[&upload.upload_id]).await?;
    execute(tx, "DELETE FROM uploads WHERE upload_id = $1", &[&upload.upload_id]).await?;
    execute(
        tx,
        "INSERT INTO completed_uploads (upload_id, bucket, key, seq, completed_ms) VALUES ($1, $2, $3, $4, $5)",
        &[&upload.upload_id, &upload.bucket, &upload.key.as_bytes(), &rec.seq, &now.millis()],
    )
    .await?;
    Ok(rec)
}

/// A replication upload becomes the replica `r` (see `MetaStore::complete_replica_upload`).
pub(super) async fn complete_replica(
    tx: &Tx<'_>,
    upload: &Upload,
    r: &ReplicaVersion,
    now: UtcMillis,
) -> Result<ReplicaWrite, Fail> {
    get(tx, &upload.bucket, &upload.key, &upload.upload_id, RowLock::Update).await?;
    let parts = part_rows(tx, &upload.upload_id, 0, i64::MAX).await?;
    let current: HashSet<&str> = parts.iter().map(|p| p.segment.blob.as_str()).collect();
    let segments = r.object.iter().flat_map(|o| o.segments.iter());
    if segments.clone().any(|s| !current.contains(s.blob.as_str())) {
        return Err(MetaError::InvalidPart.into());
    }
    let write = super::replication::put_replica(tx, r, now).await?;
    let used: HashSet<&str> =
        if write == ReplicaWrite::Created { segments.map(|s| s.blob.as_str()).collect() } else { HashSet::new() };
    for part in &parts {
        if !used.contains(part.segment.blob.as_str()) {
            queue_blob(tx, &part.segment.blob, now).await?;
        }
    }
    execute(tx, "DELETE FROM parts WHERE upload_id = $1", &[&upload.upload_id]).await?;
    execute(tx, "DELETE FROM uploads WHERE upload_id = $1", &[&upload.upload_id]).await?;
    Ok(write)
}

/// The version a completed upload made, while it still exists.
pub(super) async fn completed(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<Option<VersionRecord>, Fail> {
    buckets::require(tx, bucket, RowLock::None).await?;
    let row = query_opt(
        tx,
        "SELECT seq FROM completed_uploads WHERE upload_id = $1 AND bucket = $2 AND key = $3",
        &[&upload_id, &bucket, &key.as_bytes()],
    )
    .await?;
    let Some(row) = row else { return Ok(None) };
    let seq: i64 = row.try_get(0)?;
    Ok(version_by_seq(tx, seq).await?.filter(|v| v.bucket == bucket && v.key == key && !v.is_delete_marker()))
}

pub(super) async fn list(tx: &Tx<'_>, q: &UploadListQuery) -> Result<UploadPage, Fail> {
    buckets::require(tx, &q.bucket, RowLock::None).await?;
    let rows = query(
        tx,
        "SELECT key, upload_id, data FROM uploads WHERE bucket = $1 AND key >= $2 ORDER BY key, initiated_ms, upload_id",
        &[&q.bucket, &q.prefix.as_bytes()],
    )
    .await?;
    let rows = rows.iter().map(|row| -> Result<_, Fail> { Ok((key_at(row, 0)?, row.try_get(1)?, row.try_get(2)?)) });
    uploads_page(q, rows)
}
