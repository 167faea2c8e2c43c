//! Multipart uploads in progress and their parts.

use super::objects::{insert_completed, queue_blob};
use super::{
    buckets,
    rows::{key_from_row, version_by_seq},
};
use crate::listing::uploads_page;
use crate::model::*;
use crate::{MetaError, MetaResult};
use crate::{ReplicaVersion, ReplicaWrite};
use holdfast_lock::UtcMillis;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashSet;

pub(super) fn create(conn: &Connection, u: &Upload) -> MetaResult<()> {
    buckets::require(conn, &u.bucket)?;
    conn.execute(
        "INSERT INTO uploads (upload_id, bucket, key, initiated_ms, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![u.upload_id, u.bucket, u.key.as_bytes(), u.initiated.millis(), serde_json::to_string(u)?],
    )?;
    Ok(())
}

pub(super) fn get(conn: &Connection, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Upload> {
    buckets::require(conn, bucket)?;
    let data: Option<String> = conn
        .query_row(
            "SELECT data FROM uploads WHERE upload_id = ?1 AND bucket = ?2 AND key = ?3",
            params![upload_id, bucket, key.as_bytes()],
            |r| r.get(0),
        )
        .optional()?;
    let data = data.ok_or(MetaError::NoSuchUpload)?;
    Ok(serde_json::from_str(&data)?)
}

fn part_rows(conn: &Connection, upload_id: &str, after: u32, limit: usize) -> MetaResult<Vec<Part>> {
    let mut stmt = conn.prepare_cached(
        "SELECT data FROM parts WHERE upload_id = ?1 AND part_number > ?2 ORDER BY part_number LIMIT ?3",
    )?;
    let rows =
        stmt.query_map(params![upload_id, after, i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get::<_, String>(0))?;
    rows.map(|r| Ok(serde_json::from_str(&r?)?)).collect()
}

pub(super) fn parts(conn: &Connection, upload_id: &str, after: u32, max: usize) -> MetaResult<(Vec<Part>, bool)> {
    let mut parts = part_rows(conn, upload_id, after, max.saturating_add(1))?;
    let truncated = parts.len() > max;
    parts.truncate(max);
    Ok((parts, truncated))
}

pub(super) fn put_part(
    conn: &Connection,
    bucket: &str,
    key: &str,
    upload_id: &str,
    part: &Part,
    now: UtcMillis,
) -> MetaResult<()> {
    get(conn, bucket, key, upload_id)?;
    let old: Option<String> = conn
        .query_row(
            "SELECT data FROM parts WHERE upload_id = ?1 AND part_number = ?2",
            params![upload_id, part.number],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(old) = old {
        let old: Part = serde_json::from_str(&old)?;
        queue_blob(conn, &old.segment.blob, now)?;
    }
    conn.execute(
        "INSERT INTO parts (upload_id, part_number, data) VALUES (?1, ?2, ?3)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET data = excluded.data",
        params![upload_id, part.number, serde_json::to_string(part)?],
    )?;
    conn.execute("INSERT INTO blobs (id) VALUES (?1) ON CONFLICT (id) DO NOTHING", [&part.segment.blob])?;
    Ok(())
}

/// Forgets an upload and queues every part's blob for collection.
pub(super) fn drop_upload(conn: &Connection, upload_id: &str, now: UtcMillis) -> MetaResult<()> {
    for part in part_rows(conn, upload_id, 0, usize::MAX)? {
        queue_blob(conn, &part.segment.blob, now)?;
    }
    conn.execute("DELETE FROM parts WHERE upload_id = ?1", [upload_id])?;
    conn.execute("DELETE FROM uploads WHERE upload_id = ?1", [upload_id])?;
    Ok(())
}

/// Drops every upload in progress of `bucket` (the bucket is being deleted); their parts'
/// blobs are collected.
pub(super) fn drop_bucket_uploads(conn: &Connection, bucket: &str, now: UtcMillis) -> MetaResult<()> {
    let uploads: Vec<String> = {
        let mut stmt = conn.prepare("SELECT upload_id FROM uploads WHERE bucket = ?1")?;
        stmt.query_map([bucket], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    for id in uploads {
        drop_upload(conn, &id, now)?;
    }
    Ok(())
}

pub(super) fn abort(conn: &Connection, bucket: &str, key: &str, upload_id: &str, now: UtcMillis) -> MetaResult<()> {
    get(conn, bucket, key, upload_id)?;
    drop_upload(conn, upload_id, now)
}

pub(super) fn complete(
    conn: &Connection,
    upload: &Upload,
    object: &ObjectData,
    cond: &WriteConditions,
    now: UtcMillis,
) -> MetaResult<VersionRecord> {
    get(conn, &upload.bucket, &upload.key, &upload.upload_id)?;
    let parts = part_rows(conn, &upload.upload_id, 0, usize::MAX)?;
    let current: HashSet<&str> = parts.iter().map(|p| p.segment.blob.as_str()).collect();
    // A part replaced since the caller read it would leave the object pointing at a blob
    // that is about to be collected.
    if object.segments.iter().any(|s| !current.contains(s.blob.as_str())) {
        return Err(MetaError::InvalidPart);
    }
    let rec = insert_completed(conn, upload, object, cond, now)?;
    let used: HashSet<&str> = object.segments.iter().map(|s| s.blob.as_str()).collect();
    for part in &parts {
        if !used.contains(part.segment.blob.as_str()) {
            queue_blob(conn, &part.segment.blob, now)?;
        }
    }
    conn.execute("DELETE FROM parts WHERE upload_id = ?1", [&upload.upload_id])?;
    conn.execute("DELETE FROM uploads WHERE upload_id = ?1", [&upload.upload_id])?;
    conn.execute(
        "INSERT INTO completed_uploads (upload_id, bucket, key, seq, completed_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![upload.upload_id, upload.bucket, upload.key.as_bytes(), rec.seq, now.millis()],
    )?;
    Ok(rec)
}

/// A replication upload becomes the replica `r` (see `MetaStore::complete_replica_upload`).
pub(super) fn complete_replica(
    conn: &Connection,
    upload: &Upload,
    r: &ReplicaVersion,
    now: UtcMillis,
) -> MetaResult<ReplicaWrite> {
    get(conn, &upload.bucket, &upload.key, &upload.upload_id)?;
    let parts = part_rows(conn, &upload.upload_id, 0, usize::MAX)?;
    let current: HashSet<&str> = parts.iter().map(|p| p.segment.blob.as_str()).collect();
    let segments = r.object.iter().flat_map(|o| o.segments.iter());
    if segments.clone().any(|s| !current.contains(s.blob.as_str())) {
        return Err(MetaError::InvalidPart);
    }
    let write = super::replication::put_replica(conn, r, now)?;
    let used: HashSet<&str> =
        if write == ReplicaWrite::Created { segments.map(|s| s.blob.as_str()).collect() } else { HashSet::new() };
    for part in &parts {
        if !used.contains(part.segment.blob.as_str()) {
            queue_blob(conn, &part.segment.blob, now)?;
        }
    }
    conn.execute("DELETE FROM parts WHERE upload_id = ?1", [&upload.upload_id])?;
    conn.execute("DELETE FROM uploads WHERE upload_id = ?1", [&upload.upload_id])?;
    Ok(write)
}

/// The version a completed upload made, while it still exists.
pub(super) fn completed(
    conn: &Connection,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> MetaResult<Option<VersionRecord>> {
    buckets::require(conn, bucket)?;
    let seq: Option<i64> = conn
        .query_row(
            "SELECT seq FROM completed_uploads WHERE upload_id = ?1 AND bucket = ?2 AND key = ?3",
            params![upload_id, bucket, key.as_bytes()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(seq) = seq else { return Ok(None) };
    Ok(version_by_seq(conn, seq)?.filter(|v| v.bucket == bucket && v.key == key && !v.is_delete_marker()))
}

pub(super) fn list(conn: &Connection, q: &UploadListQuery) -> MetaResult<UploadPage> {
    buckets::require(conn, &q.bucket)?;
    let mut stmt = conn.prepare(
        "SELECT key, upload_id, data FROM uploads WHERE bucket = ?1 AND key >= ?2 ORDER BY key, initiated_ms, upload_id",
    )?;
    let rows = stmt.query_map(params![q.bucket, q.prefix.as_bytes()], |r| {
        Ok((key_from_row(r, 0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
    })?;
    uploads_page(q, rows.map(|r| r.map_err(MetaError::from)))
}
