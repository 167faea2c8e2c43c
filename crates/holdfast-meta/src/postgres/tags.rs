//! Object tags: `version_tags` beside `versions`, `upload_tags` beside
//! `uploads`. Tags are not protected data, so these tables sit outside the WORM guards; a
//! trigger (a foreign key) removes a version's (an upload's) tags with the version (the upload). A
//! change of tags holds the key (its `latest` row) like every change to a key's versions.

use super::objects::{lock_key, resolve};
use super::rows::{execute, query, query_opt};
use super::{Fail, RowLock, Tx, buckets, multipart};
use crate::model::*;
use crate::tags::{decode, encode};
use crate::{MetaError, ReplicationKind, TagSet};
use holdfast_lock::UtcMillis;

/// Schema version 3 (after the leases of version 2).
pub(super) const V3: &str = r#"
-- Object tags (issue #5): not protected data, so outside the WORM guards on versions.
-- A trigger, not a foreign key, removes a version's tags with it: a foreign key would make
-- `TRUNCATE versions` fail on the reference before the WORM guard could refuse it.
CREATE TABLE version_tags (
    seq bigint PRIMARY KEY,
    tags text NOT NULL
);
CREATE FUNCTION holdfast_version_tags_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM version_tags WHERE seq = OLD.seq;
    RETURN OLD;
END $$;
CREATE TRIGGER version_tags_follow AFTER DELETE ON versions
    FOR EACH ROW EXECUTE FUNCTION holdfast_version_tags_follow();
CREATE TABLE upload_tags (
    upload_id text COLLATE "C" PRIMARY KEY REFERENCES uploads (upload_id) ON DELETE CASCADE,
    tags text NOT NULL
);
"#;

pub(super) async fn store(tx: &Tx<'_>, seq: i64, tags: &TagSet) -> Result<(), Fail> {
    if tags.is_empty() {
        execute(tx, "DELETE FROM version_tags WHERE seq = $1", &[&seq]).await?;
    } else {
        execute(
            tx,
            "INSERT INTO version_tags (seq, tags) VALUES ($1, $2) ON CONFLICT (seq) DO UPDATE SET tags = excluded.tags",
            &[&seq, &encode(tags)],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn of_seq(tx: &Tx<'_>, seq: i64) -> Result<TagSet, Fail> {
    match query_opt(tx, "SELECT tags FROM version_tags WHERE seq = $1", &[&seq]).await? {
        Some(row) => Ok(decode(&row.try_get::<_, String>(0)?)?),
        None => Ok(TagSet::new()),
    }
}

fn not_a_marker(rec: VersionRecord) -> Result<VersionRecord, Fail> {
    if rec.is_delete_marker() {
        return Err(MetaError::DeleteMarker { version_id: rec.version_id, last_modified: rec.last_modified }.into());
    }
    Ok(rec)
}

pub(super) async fn put_version(
    tx: &Tx<'_>,
    v: &NewVersion,
    tags: &TagSet,
    cond: &WriteConditions,
    now: UtcMillis,
) -> Result<VersionRecord, Fail> {
    let rec = super::objects::put_version(tx, v, cond, now).await?;
    // A new version has no tags yet: an empty set has nothing to store.
    if !tags.is_empty() {
        store(tx, rec.seq, tags).await?;
    }
    super::replication::enqueue(tx, &rec, ReplicationKind::Object, Some(tags), now).await?;
    Ok(rec)
}

pub(super) async fn get(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
) -> Result<(VersionRecord, TagSet), Fail> {
    let rec = not_a_marker(resolve(tx, bucket, key, sel).await?)?;
    let tags = of_seq(tx, rec.seq).await?;
    Ok((rec, tags))
}

/// No lock check: tags are not protected data (a locked version's tags may change).
pub(super) async fn set(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    tags: &TagSet,
) -> Result<VersionRecord, Fail> {
    buckets::require(tx, bucket, RowLock::KeyShare).await?;
    lock_key(tx, bucket, key).await?;
    let rec = not_a_marker(resolve(tx, bucket, key, sel).await?)?;
    store(tx, rec.seq, tags).await?;
    super::replication::enqueue(tx, &rec, ReplicationKind::Tags, Some(tags), UtcMillis::now_system()).await?;
    Ok(rec)
}

pub(super) async fn set_upload(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    upload_id: &str,
    tags: &TagSet,
) -> Result<(), Fail> {
    multipart::get(tx, bucket, key, upload_id, RowLock::Update).await?;
    if tags.is_empty() {
        execute(tx, "DELETE FROM upload_tags WHERE upload_id = $1", &[&upload_id]).await?;
    } else {
        execute(
            tx,
            "INSERT INTO upload_tags (upload_id, tags) VALUES ($1, $2)
             ON CONFLICT (upload_id) DO UPDATE SET tags = excluded.tags",
            &[&upload_id, &encode(tags)],
        )
        .await?;
    }
    Ok(())
}

/// [`multipart::complete`] that gives the new version the upload's tags. They are read
/// first: completion removes the upload, and its tags with it.
pub(super) async fn complete(
    tx: &Tx<'_>,
    upload: &Upload,
    object: &ObjectData,
    cond: &WriteConditions,
    now: UtcMillis,
) -> Result<VersionRecord, Fail> {
    let doc = query_opt(tx, "SELECT tags FROM upload_tags WHERE upload_id = $1", &[&upload.upload_id]).await?;
    let doc: Option<String> = doc.map(|r| r.try_get(0)).transpose()?;
    let rec = multipart::complete(tx, upload, object, cond, now).await?;
    let tags = doc.map(|d| decode(&d)).transpose()?.unwrap_or_default();
    if !tags.is_empty() {
        store(tx, rec.seq, &tags).await?;
    }
    super::replication::enqueue(tx, &rec, ReplicationKind::Object, Some(&tags), now).await?;
    Ok(rec)
}

pub(super) async fn of_key(tx: &Tx<'_>, bucket: &str, key: &str) -> Result<Vec<(String, TagSet)>, Fail> {
    buckets::require(tx, bucket, RowLock::None).await?;
    let rows = query(
        tx,
        "SELECT v.version_id, t.tags FROM versions v JOIN version_tags t ON t.seq = v.seq
         WHERE v.bucket = $1 AND v.key = $2 ORDER BY v.seq DESC",
        &[&bucket, &key.as_bytes()],
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0)?;
        let doc: String = row.try_get(1)?;
        out.push((id, decode(&doc)?));
    }
    Ok(out)
}
