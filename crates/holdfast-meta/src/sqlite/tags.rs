//! Object tags: `version_tags` beside `versions`, `upload_tags` beside
//! `uploads`. Tags are not protected data, so these tables sit outside the WORM guards;
//! triggers remove a version's (an upload's) tags with the version (the upload), whichever
//! path removes it.

use super::objects::resolve;
use super::{buckets, multipart};
use crate::model::*;
use crate::tags::{decode, encode};
use crate::{MetaError, MetaResult, ReplicationKind, TagSet};
use holdfast_lock::UtcMillis;
use rusqlite::{Connection, OptionalExtension, params};

/// Schema version 3 adds these (additive; see `schema::SCHEMA_VERSION`). The triggers that
/// remove a version's or an upload's tags with it are in `guards.rs`, with every trigger.
pub(super) const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS version_tags (
    seq INTEGER PRIMARY KEY,
    tags TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS upload_tags (
    upload_id TEXT PRIMARY KEY,
    tags TEXT NOT NULL
);
";

/// Sets (or, with an empty set, removes) the tags of the version `seq`.
pub(super) fn store(conn: &Connection, seq: i64, tags: &TagSet) -> MetaResult<()> {
    if tags.is_empty() {
        conn.prepare_cached("DELETE FROM version_tags WHERE seq = ?1")?.execute([seq])?;
    } else {
        conn.prepare_cached(
            "INSERT INTO version_tags (seq, tags) VALUES (?1, ?2) ON CONFLICT (seq) DO UPDATE SET tags = excluded.tags",
        )?
        .execute(params![seq, encode(tags)])?;
    }
    Ok(())
}

pub(super) fn of_seq(conn: &Connection, seq: i64) -> MetaResult<TagSet> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT tags FROM version_tags WHERE seq = ?1")?
        .query_row([seq], |r| r.get(0))
        .optional()?;
    doc.map_or_else(|| Ok(TagSet::new()), |d| decode(&d))
}

/// The version a tagging request names; a delete marker cannot carry tags.
fn target(conn: &Connection, bucket: &str, key: &str, sel: &VersionSelector) -> MetaResult<VersionRecord> {
    let rec = resolve(conn, bucket, key, sel)?;
    if rec.is_delete_marker() {
        return Err(MetaError::DeleteMarker { version_id: rec.version_id, last_modified: rec.last_modified });
    }
    Ok(rec)
}

pub(super) fn put_version(
    conn: &Connection,
    v: &NewVersion,
    tags: &TagSet,
    cond: &WriteConditions,
    now: UtcMillis,
) -> MetaResult<VersionRecord> {
    let rec = super::objects::put_version(conn, v, cond, now)?;
    // A new version has no tags yet: an empty set has nothing to store.
    if !tags.is_empty() {
        store(conn, rec.seq, tags)?;
    }
    super::replication::enqueue(conn, &rec, ReplicationKind::Object, Some(tags), now)?;
    Ok(rec)
}

pub(super) fn get(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
) -> MetaResult<(VersionRecord, TagSet)> {
    let rec = target(conn, bucket, key, sel)?;
    let tags = of_seq(conn, rec.seq)?;
    Ok((rec, tags))
}

/// No lock check: tags are not protected data (a locked version's tags may change).
pub(super) fn set(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    tags: &TagSet,
) -> MetaResult<VersionRecord> {
    let rec = target(conn, bucket, key, sel)?;
    store(conn, rec.seq, tags)?;
    super::replication::enqueue(conn, &rec, ReplicationKind::Tags, Some(tags), UtcMillis::now_system())?;
    Ok(rec)
}

pub(super) fn set_upload(conn: &Connection, bucket: &str, key: &str, upload_id: &str, tags: &TagSet) -> MetaResult<()> {
    multipart::get(conn, bucket, key, upload_id)?;
    if tags.is_empty() {
        conn.execute("DELETE FROM upload_tags WHERE upload_id = ?1", [upload_id])?;
    } else {
        conn.execute(
            "INSERT INTO upload_tags (upload_id, tags) VALUES (?1, ?2)
             ON CONFLICT (upload_id) DO UPDATE SET tags = excluded.tags",
            params![upload_id, encode(tags)],
        )?;
    }
    Ok(())
}

/// [`multipart::complete`] that gives the new version the upload's tags. They are read
/// first: completion removes the upload, and its tags with it.
pub(super) fn complete(
    conn: &Connection,
    upload: &Upload,
    object: &ObjectData,
    cond: &WriteConditions,
    now: UtcMillis,
) -> MetaResult<VersionRecord> {
    let doc: Option<String> = conn
        .query_row("SELECT tags FROM upload_tags WHERE upload_id = ?1", [&upload.upload_id], |r| r.get(0))
        .optional()?;
    let rec = multipart::complete(conn, upload, object, cond, now)?;
    let tags = doc.map(|d| decode(&d)).transpose()?.unwrap_or_default();
    if !tags.is_empty() {
        store(conn, rec.seq, &tags)?;
    }
    super::replication::enqueue(conn, &rec, ReplicationKind::Object, Some(&tags), now)?;
    Ok(rec)
}

pub(super) fn of_key(conn: &Connection, bucket: &str, key: &str) -> MetaResult<Vec<(String, TagSet)>> {
    buckets::require(conn, bucket)?;
    let mut stmt = conn.prepare_cached(
        "SELECT v.version_id, t.tags FROM versions v JOIN version_tags t ON t.seq = v.seq
         WHERE v.bucket = ?1 AND v.key = ?2 ORDER BY v.seq DESC",
    )?;
    let rows =
        stmt.query_map(params![bucket, key.as_bytes()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, doc) = row?;
        out.push((id, decode(&doc)?));
    }
    Ok(out)
}
