//! Versions: write, read, delete and lock changes. Each write function runs inside one
//! transaction of the writer and checks the lock rules against the state it changes.

use super::rows::{latest_seq, load_inline, lock_columns, version_by_id, version_by_seq};
use super::{buckets, bump_clock, events, worm_guard};
use crate::delete;
use crate::model::*;
use crate::{LifecycleAction, MetaError, MetaResult, ReplicationKind};
use holdfast_lock::{Bypass, LegalHold, LockState, Retention, UtcMillis, check_retention_change};

/// The event names of a delete: what DeleteObject emits, or what lifecycle expiration does.
#[derive(Clone, Copy)]
pub(super) struct RemovalEvents {
    removed: &'static str,
    marker: &'static str,
}

const DELETE_EVENTS: RemovalEvents =
    RemovalEvents { removed: "s3:ObjectRemoved:Delete", marker: "s3:ObjectRemoved:DeleteMarkerCreated" };
const LIFECYCLE_EVENTS: RemovalEvents =
    RemovalEvents { removed: "s3:LifecycleExpiration:Delete", marker: "s3:LifecycleExpiration:DeleteMarkerCreated" };
use rusqlite::{Connection, params};

/// [`resolve`] for a read of the content: with the inline bytes of a small object.
pub(super) fn resolve_content(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
) -> MetaResult<VersionRecord> {
    let mut rec = resolve(conn, bucket, key, sel)?;
    load_inline(conn, &mut rec)?;
    Ok(rec)
}

pub(super) fn resolve(conn: &Connection, bucket: &str, key: &str, sel: &VersionSelector) -> MetaResult<VersionRecord> {
    buckets::require(conn, bucket)?;
    match sel {
        VersionSelector::Latest => {
            let seq = latest_seq(conn, bucket, key)?.ok_or(MetaError::NoSuchKey)?;
            version_by_seq(conn, seq)?.ok_or(MetaError::NoSuchKey)
        }
        VersionSelector::Id(id) => version_by_id(conn, bucket, key, id)?.ok_or(MetaError::NoSuchVersion),
    }
}

fn check_conditions(conn: &Connection, bucket: &str, key: &str, cond: &WriteConditions) -> MetaResult<()> {
    if cond.if_none_match.is_none() && cond.if_match.is_none() {
        return Ok(());
    }
    let current = match latest_seq(conn, bucket, key)? {
        Some(seq) => version_by_seq(conn, seq)?.filter(|v| !v.is_delete_marker()),
        None => None,
    };
    let current_etag = current.as_ref().and_then(|v| v.object.as_ref()).map(|o| o.etag.as_str());
    if let (Some(list), Some(etag)) = (&cond.if_none_match, current_etag)
        && etag_list_matches(list, etag)
    {
        return Err(MetaError::PreconditionFailed);
    }
    if let Some(want) = &cond.if_match {
        let Some(etag) = current_etag else { return Err(MetaError::NoSuchKey) };
        if !etag_list_matches(want, etag) {
            return Err(MetaError::PreconditionFailed);
        }
    }
    Ok(())
}

/// Removes one version or marker after the lock rules allowed it: its blobs go to the
/// collection queue in this same transaction, and the key's latest pointer moves back.
pub(super) fn remove_version(conn: &Connection, rec: &VersionRecord, now: UtcMillis) -> MetaResult<()> {
    conn.prepare_cached("DELETE FROM versions WHERE seq = ?1")?.execute([rec.seq]).map_err(worm_guard)?;
    // Inline bytes go with their version, in the same transaction (no collection needed:
    // a read that resolved the version before holds the bytes already).
    conn.prepare_cached("DELETE FROM inline_data WHERE seq = ?1")?.execute([rec.seq]).map_err(worm_guard)?;
    super::lock_history::remove(conn, rec.seq)?;
    super::replication::forget(conn, rec)?;
    if let Some(obj) = &rec.object {
        for seg in &obj.segments {
            queue_blob(conn, &seg.blob, now)?;
        }
    }
    refresh_latest(conn, &rec.bucket, &rec.key)
}

pub(super) fn queue_blob(conn: &Connection, blob: &str, now: UtcMillis) -> MetaResult<()> {
    conn.prepare_cached("DELETE FROM blobs WHERE id = ?1")?.execute([blob])?;
    conn.prepare_cached("INSERT INTO gc_queue (id, queued_ms) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING")?
        .execute(params![blob, now.millis()])?;
    Ok(())
}

fn refresh_latest(conn: &Connection, bucket: &str, key: &str) -> MetaResult<()> {
    conn.prepare_cached("DELETE FROM latest WHERE bucket = ?1 AND key = ?2")?
        .execute(params![bucket, key.as_bytes()])?;
    conn.prepare_cached(
        "INSERT INTO latest (bucket, key, seq, delete_marker)
         SELECT bucket, key, seq, delete_marker FROM versions
         WHERE bucket = ?1 AND key = ?2 ORDER BY seq DESC LIMIT 1",
    )?
    .execute(params![bucket, key.as_bytes()])?;
    super::listed::refill(conn, bucket, key)
}

/// Inserts a version or delete marker as the key's newest, replacing a `null` version when
/// the id is `null` (unversioned and suspended buckets) — through the lock check.
#[allow(clippy::too_many_arguments)]
fn insert(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
    object: Option<&ObjectData>,
    lock: &LockState,
    now: UtcMillis,
    event: &str,
) -> MetaResult<VersionRecord> {
    insert_at(conn, bucket, key, version_id, object, lock, now, now, event)
}

/// [`insert`] with a last-modified instant of its own (a replica keeps its source's).
#[allow(clippy::too_many_arguments)]
pub(super) fn insert_at(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
    object: Option<&ObjectData>,
    lock: &LockState,
    last_modified: UtcMillis,
    now: UtcMillis,
    event: &str,
) -> MetaResult<VersionRecord> {
    if delete::replaces_null(version_id)
        && let Some(old) = version_by_id(conn, bucket, key, "null")?
    {
        delete::replace_null(&old, now)?;
        remove_version(conn, &old, now)?;
    }
    if let Some(obj) = object {
        buckets::check_quota(conn, bucket, obj.size)?;
    }
    let (mode, until, hold) = lock_columns(lock);
    let data = object.map(serde_json::to_string).transpose()?;
    conn.prepare_cached(
        "INSERT INTO versions (bucket, key, version_id, delete_marker, last_modified_ms, size, etag, data,
                               lock_mode, lock_until_ms, legal_hold)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        bucket,
        key.as_bytes(),
        version_id,
        object.is_none(),
        last_modified.millis(),
        object.map_or(0, |o| i64::try_from(o.size).unwrap_or(i64::MAX)),
        object.map_or("", |o| o.etag.as_str()),
        data,
        mode,
        until,
        hold
    ])?;
    let seq = conn.last_insert_rowid();
    if let Some(obj) = object
        && let Some(bytes) = &obj.inline
    {
        if !obj.segments.is_empty() || bytes.len() as u64 != obj.size {
            return Err(MetaError::Internal("inline bytes must be the whole object and its only content".into()));
        }
        conn.prepare_cached("INSERT INTO inline_data (seq, bytes) VALUES (?1, ?2)")?
            .execute(params![seq, &bytes[..]])?;
    }
    super::listed::upsert(conn, bucket, key, seq, version_id, last_modified, object)?;
    if let Some(obj) = object {
        for seg in &obj.segments {
            conn.prepare_cached("INSERT INTO blobs (id) VALUES (?1) ON CONFLICT (id) DO NOTHING")?
                .execute([&seg.blob])?;
        }
    }
    bump_clock(conn, now)?;
    crate::trail::note_version(bucket, key, version_id);
    if *lock != LockState::default() {
        // The protection a version is written with is vouched for by its record.
        crate::trail::note_lock_written(lock);
    }
    let rec = VersionRecord {
        seq,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: version_id.to_owned(),
        last_modified,
        is_latest: true,
        object: object.cloned(),
        lock: *lock,
        replication: None,
    };
    events::emit(conn, event, &rec, false, now)?;
    Ok(rec)
}

pub(super) fn put_version(
    conn: &Connection,
    v: &NewVersion,
    cond: &WriteConditions,
    now: UtcMillis,
) -> MetaResult<VersionRecord> {
    let bucket = buckets::require(conn, &v.bucket)?;
    check_conditions(conn, &v.bucket, &v.key, cond)?;
    let lock = holdfast_lock::lock_for_new_version(bucket.lock(), v.lock, now);
    insert(conn, &v.bucket, &v.key, &bucket.next_version_id(), Some(&v.object), &lock, now, v.origin.event_name())
}

pub(super) fn delete(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    bypass: Bypass,
    now: UtcMillis,
) -> MetaResult<DeleteOutcome> {
    delete_with(conn, bucket, key, sel, bypass, now, DELETE_EVENTS)
}

/// The one delete: [`delete::plan`] judged and carried out in the caller's transaction.
fn delete_with(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    bypass: Bypass,
    now: UtcMillis,
    events: RemovalEvents,
) -> MetaResult<DeleteOutcome> {
    let b = buckets::require(conn, bucket)?;
    let found = match delete::target(b.versioning, sel) {
        Some(id) => version_by_id(conn, bucket, key, id)?,
        None => None,
    };
    let plan = delete::plan(&b, sel, found, now, bypass)?;
    match plan.step {
        delete::Step::AddMarker(id) => {
            let rec = insert(conn, bucket, key, &id, None, &LockState::default(), now, events.marker)?;
            // Markers of DeleteObject replicate where a rule says so; lifecycle's never (AWS).
            if events.marker == DELETE_EVENTS.marker {
                super::replication::enqueue(conn, &rec, ReplicationKind::DeleteMarker, None, now)?;
            }
        }
        delete::Step::Remove(rec) => {
            remove_version(conn, &rec, now)?;
            bump_clock(conn, now)?;
            crate::trail::note_version(bucket, key, &rec.version_id);
            events::emit(conn, events.removed, &rec, true, now)?;
        }
        delete::Step::Nothing => {
            if let Some(id) = &plan.outcome.version_id {
                crate::trail::note_version(bucket, key, id);
            }
        }
    }
    Ok(plan.outcome)
}

fn resolve_for_lock_change(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
) -> MetaResult<VersionRecord> {
    let rec = resolve(conn, bucket, key, sel)?;
    if rec.is_delete_marker() {
        return Err(MetaError::DeleteMarker { version_id: rec.version_id, last_modified: rec.last_modified });
    }
    Ok(rec)
}

pub(super) fn store_lock(conn: &Connection, rec: &mut VersionRecord, lock: LockState) -> MetaResult<()> {
    let (mode, until, hold) = lock_columns(&lock);
    conn.prepare_cached("UPDATE versions SET lock_mode = ?2, lock_until_ms = ?3, legal_hold = ?4 WHERE seq = ?1")?
        .execute(params![rec.seq, mode, until, hold])
        .map_err(worm_guard)?;
    rec.lock = lock;
    Ok(())
}

pub(super) fn set_retention(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    retention: Option<Retention>,
    bypass: Bypass,
    now: UtcMillis,
) -> MetaResult<VersionRecord> {
    let mut rec = resolve_for_lock_change(conn, bucket, key, sel)?;
    check_retention_change(rec.lock.retention, retention, now, bypass)?;
    let lock = LockState { retention, ..rec.lock };
    crate::trail::note_version(bucket, key, &rec.version_id);
    crate::trail::note_lock(&rec.lock, &lock);
    store_lock(conn, &mut rec, lock)?;
    bump_clock(conn, now)?;
    events::emit(conn, "s3:ObjectCreated:PutRetention", &rec, false, now)?;
    super::replication::enqueue_change(conn, &rec, ReplicationKind::Lock, now)?;
    Ok(rec)
}

pub(super) fn set_legal_hold(
    conn: &Connection,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    hold: LegalHold,
    now: UtcMillis,
) -> MetaResult<VersionRecord> {
    // L4: a hold may be placed or lifted at any time, under any retention.
    let mut rec = resolve_for_lock_change(conn, bucket, key, sel)?;
    let lock = LockState { legal_hold: Some(hold), ..rec.lock };
    crate::trail::note_version(bucket, key, &rec.version_id);
    crate::trail::note_lock(&rec.lock, &lock);
    store_lock(conn, &mut rec, lock)?;
    events::emit(conn, "s3:ObjectCreated:PutLegalHold", &rec, false, now)?;
    super::replication::enqueue_change(conn, &rec, ReplicationKind::Lock, now)?;
    Ok(rec)
}

pub(super) fn insert_completed(
    conn: &Connection,
    upload: &Upload,
    object: &ObjectData,
    cond: &WriteConditions,
    now: UtcMillis,
) -> MetaResult<VersionRecord> {
    let bucket = buckets::require(conn, &upload.bucket)?;
    check_conditions(conn, &upload.bucket, &upload.key, cond)?;
    let lock = holdfast_lock::lock_for_new_version(bucket.lock(), upload.lock, now);
    insert(
        conn,
        &upload.bucket,
        &upload.key,
        &bucket.next_version_id(),
        Some(object),
        &lock,
        now,
        "s3:ObjectCreated:CompleteMultipartUpload",
    )
}

/// Lifecycle expiration of one version: the state the worker saw is re-checked here, then
/// the version goes through [`delete_with`], the same lock check and removal as DeleteObject.
pub(super) fn lifecycle_delete(
    conn: &Connection,
    bucket: &str,
    key: &str,
    version_id: &str,
    action: LifecycleAction,
    now: UtcMillis,
) -> MetaResult<DeleteOutcome> {
    buckets::require(conn, bucket)?;
    let rec = version_by_id(conn, bucket, key, version_id)?.ok_or(MetaError::PreconditionFailed)?;
    let still = match action {
        LifecycleAction::ExpireCurrent => rec.is_latest && !rec.is_delete_marker(),
        LifecycleAction::ExpireNoncurrent => !rec.is_latest,
        LifecycleAction::RemoveExpiredMarker => {
            let others: i64 = conn.query_row(
                "SELECT COUNT(*) FROM versions WHERE bucket = ?1 AND key = ?2 AND seq <> ?3",
                params![bucket, key.as_bytes(), rec.seq],
                |r| r.get(0),
            )?;
            rec.is_latest && rec.is_delete_marker() && others == 0
        }
    };
    if !still {
        return Err(MetaError::PreconditionFailed);
    }
    let sel = match action {
        LifecycleAction::ExpireCurrent => VersionSelector::Latest,
        LifecycleAction::ExpireNoncurrent | LifecycleAction::RemoveExpiredMarker => {
            VersionSelector::Id(version_id.to_owned())
        }
    };
    delete_with(conn, bucket, key, &sel, Bypass::None, now, LIFECYCLE_EVENTS)
}
