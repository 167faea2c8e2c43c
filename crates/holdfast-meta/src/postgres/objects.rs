//! Versions: write, read, delete and lock changes. Each write function runs inside one
//! transaction that holds the key's `latest` row lock and checks the lock rules against
//! the state it changes.

use super::clock::bump;
use super::rows::{VERSION_COLUMNS, execute, lock_columns, query_one, query_opt, version_by_id, version_from_row};
use super::{Fail, RowLock, Tx};
use super::{buckets, events};
use crate::delete;
use crate::model::*;
use crate::{LifecycleAction, MetaError, ReplicationKind};
use holdfast_lock::{Bypass, LegalHold, LockState, Retention, UtcMillis, check_retention_change};

/// The event names of a delete: what DeleteObject emits, or what lifecycle expiration does.
#[derive(Clone, Copy)]
struct RemovalEvents {
    removed: &'static str,
    marker: &'static str,
}

const DELETE_EVENTS: RemovalEvents =
    RemovalEvents { removed: "s3:ObjectRemoved:Delete", marker: "s3:ObjectRemoved:DeleteMarkerCreated" };
const LIFECYCLE_EVENTS: RemovalEvents =
    RemovalEvents { removed: "s3:LifecycleExpiration:Delete", marker: "s3:LifecycleExpiration:DeleteMarkerCreated" };

/// Locks the key: its `latest` row, FOR UPDATE. Returns the current seq, or `None` when the
/// key has no version yet (then an insert claims it, see [`insert`]).
pub(super) async fn lock_key(tx: &Tx<'_>, bucket: &str, key: &str) -> Result<Option<i64>, Fail> {
    let row =
        query_opt(tx, "SELECT seq FROM latest WHERE bucket = $1 AND key = $2 FOR UPDATE", &[&bucket, &key.as_bytes()])
            .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

async fn latest_version(tx: &Tx<'_>, bucket: &str, key: &str) -> Result<Option<VersionRecord>, Fail> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM latest l JOIN versions v ON v.seq = l.seq WHERE l.bucket = $1 AND l.key = $2"
    );
    query_opt(tx, &sql, &[&bucket, &key.as_bytes()]).await?.as_ref().map(version_from_row).transpose()
}

pub(super) async fn resolve(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
) -> Result<VersionRecord, Fail> {
    buckets::require(tx, bucket, RowLock::None).await?;
    match sel {
        VersionSelector::Latest => latest_version(tx, bucket, key).await?.ok_or(MetaError::NoSuchKey.into()),
        VersionSelector::Id(id) => {
            version_by_id(tx, bucket, key, id, false).await?.ok_or(MetaError::NoSuchVersion.into())
        }
    }
}

/// Evaluates `If-None-Match` / `If-Match` against the key's current version; the caller
/// holds the key.
async fn check_conditions(tx: &Tx<'_>, bucket: &str, key: &str, cond: &WriteConditions) -> Result<(), Fail> {
    if cond.if_none_match.is_none() && cond.if_match.is_none() {
        return Ok(());
    }
    let current = latest_version(tx, bucket, key).await?.filter(|v| !v.is_delete_marker());
    let current_etag = current.as_ref().and_then(|v| v.object.as_ref()).map(|o| o.etag.as_str());
    if let (Some(list), Some(etag)) = (&cond.if_none_match, current_etag)
        && etag_list_matches(list, etag)
    {
        return Err(MetaError::PreconditionFailed.into());
    }
    if let Some(want) = &cond.if_match {
        let Some(etag) = current_etag else { return Err(MetaError::NoSuchKey.into()) };
        if !etag_list_matches(want, etag) {
            return Err(MetaError::PreconditionFailed.into());
        }
    }
    Ok(())
}

/// Removes one version or marker after the lock rules allowed it: its blobs go to the
/// collection queue in this same transaction, and the key's latest pointer moves back.
pub(super) async fn remove_version(tx: &Tx<'_>, rec: &VersionRecord, now: UtcMillis) -> Result<(), Fail> {
    remove_row(tx, rec, now).await?;
    refresh_latest(tx, &rec.bucket, &rec.key).await
}

/// [`remove_version`] without moving `latest`: for a null version that a new version of the
/// same transaction replaces. The `latest` row is the key's lock: deleting it (the null
/// version was the only one) would let a writer waiting on it find no row and start over,
/// again and again under concurrent overwrites.
async fn remove_row(tx: &Tx<'_>, rec: &VersionRecord, now: UtcMillis) -> Result<(), Fail> {
    execute(tx, "DELETE FROM versions WHERE seq = $1", &[&rec.seq]).await?;
    super::lock_history::remove(tx, rec.seq).await?;
    super::replication::forget(tx, rec).await?;
    if let Some(obj) = &rec.object {
        for seg in &obj.segments {
            queue_blob(tx, &seg.blob, now).await?;
        }
    }
    Ok(())
}

pub(super) async fn queue_blob(tx: &Tx<'_>, blob: &str, now: UtcMillis) -> Result<(), Fail> {
    execute(tx, "DELETE FROM blobs WHERE id = $1", &[&blob]).await?;
    execute(
        tx,
        "INSERT INTO gc_queue (id, queued_ms) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        &[&blob, &now.millis()],
    )
    .await?;
    Ok(())
}

/// Points `latest` at the key's newest remaining row, or removes it; the caller holds it.
async fn refresh_latest(tx: &Tx<'_>, bucket: &str, key: &str) -> Result<(), Fail> {
    let newest = query_opt(
        tx,
        "SELECT seq, delete_marker FROM versions WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1",
        &[&bucket, &key.as_bytes()],
    )
    .await?;
    match newest {
        Some(row) => {
            let (seq, marker): (i64, bool) = (row.try_get(0)?, row.try_get(1)?);
            execute(
                tx,
                "UPDATE latest SET seq = $3, delete_marker = $4 WHERE bucket = $1 AND key = $2",
                &[&bucket, &key.as_bytes(), &seq, &marker],
            )
            .await?;
        }
        None => {
            execute(tx, "DELETE FROM latest WHERE bucket = $1 AND key = $2", &[&bucket, &key.as_bytes()]).await?;
        }
    }
    Ok(())
}

/// Inserts a version or delete marker as the key's newest, replacing a `null` version when
/// the id is `null` (unversioned and suspended buckets) — through the lock check. `held` is
/// what [`lock_key`] returned: with `None` the key is claimed by inserting its `latest`
/// row, and a transaction that finds it already inserted by another starts over.
#[allow(clippy::too_many_arguments)]
async fn insert(
    tx: &Tx<'_>,
    held: Option<i64>,
    bucket: &str,
    key: &str,
    version_id: &str,
    object: Option<&ObjectData>,
    lock: &LockState,
    now: UtcMillis,
    event: &str,
) -> Result<VersionRecord, Fail> {
    insert_at(tx, held, bucket, key, version_id, object, lock, now, now, event).await
}

/// [`insert`] with a last-modified instant of its own (a replica keeps its source's).
#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_at(
    tx: &Tx<'_>,
    held: Option<i64>,
    bucket: &str,
    key: &str,
    version_id: &str,
    object: Option<&ObjectData>,
    lock: &LockState,
    last_modified: UtcMillis,
    now: UtcMillis,
    event: &str,
) -> Result<VersionRecord, Fail> {
    if delete::replaces_null(version_id)
        && held.is_some()
        && let Some(old) = version_by_id(tx, bucket, key, "null", false).await?
    {
        delete::replace_null(&old, now)?;
        // The insert below points `latest` at the new version (the key is held).
        remove_row(tx, &old, now).await?;
    }
    if let Some(obj) = object {
        buckets::check_quota(tx, bucket, obj.size).await?;
    }
    let (mode, until, hold) = lock_columns(lock);
    let data = object.map(serde_json::to_string).transpose()?;
    let size = object.map_or(0, |o| i64::try_from(o.size).unwrap_or(i64::MAX));
    let etag = object.map_or("", |o| o.etag.as_str());
    // A small object's bytes, in its own row (schema 13).
    let inline: Option<&[u8]> = object.and_then(|o| o.inline.as_deref());
    let inserted = query_one(
        tx,
        "INSERT INTO versions (bucket, key, version_id, delete_marker, last_modified_ms, size, etag, data,
                               lock_mode, lock_until_ms, legal_hold, inline_bytes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING seq",
        &[
            &bucket,
            &key.as_bytes(),
            &version_id,
            &object.is_none(),
            &last_modified.millis(),
            &size,
            &etag,
            &data,
            &mode,
            &until,
            &hold,
            &inline,
        ],
    )
    .await;
    let row = match inserted {
        // Two first writes of a key raced (neither held a `latest` row) and both wrote the
        // null version: the loser runs again, and then holds the key.
        Err(Fail::Db(e)) if held.is_none() && e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            return Err(Fail::Retry);
        }
        other => other?,
    };
    let seq: i64 = row.try_get(0)?;
    let claimed = if held.is_some() {
        // Held (or removed above by this transaction): nobody else can have changed it.
        execute(
            tx,
            "INSERT INTO latest (bucket, key, seq, delete_marker) VALUES ($1, $2, $3, $4)
             ON CONFLICT (bucket, key) DO UPDATE SET seq = excluded.seq, delete_marker = excluded.delete_marker",
            &[&bucket, &key.as_bytes(), &seq, &object.is_none()],
        )
        .await?
    } else {
        execute(
            tx,
            "INSERT INTO latest (bucket, key, seq, delete_marker) VALUES ($1, $2, $3, $4)
             ON CONFLICT (bucket, key) DO NOTHING",
            &[&bucket, &key.as_bytes(), &seq, &object.is_none()],
        )
        .await?
    };
    if claimed == 0 {
        return Err(Fail::Retry);
    }
    if let Some(obj) = object {
        for seg in &obj.segments {
            execute(tx, "INSERT INTO blobs (id) VALUES ($1) ON CONFLICT (id) DO NOTHING", &[&seg.blob]).await?;
        }
    }
    bump(tx, now).await?;
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
    events::emit(tx, event, &rec, false, now).await?;
    Ok(rec)
}

/// A new object version of `bucket`/`key` made of `object`: bucket and key locked,
/// conditions checked, default retention applied; `event` is queued for it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn write_new(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    object: &ObjectData,
    requested: LockState,
    cond: &WriteConditions,
    now: UtcMillis,
    event: &str,
) -> Result<VersionRecord, Fail> {
    let b = buckets::require(tx, bucket, RowLock::KeyShare).await?;
    let held = lock_key(tx, bucket, key).await?;
    check_conditions(tx, bucket, key, cond).await?;
    let lock = holdfast_lock::lock_for_new_version(b.lock(), requested, now);
    insert(tx, held, bucket, key, &b.next_version_id(), Some(object), &lock, now, event).await
}

pub(super) async fn put_version(
    tx: &Tx<'_>,
    v: &NewVersion,
    cond: &WriteConditions,
    now: UtcMillis,
) -> Result<VersionRecord, Fail> {
    write_new(tx, &v.bucket, &v.key, &v.object, v.lock, cond, now, v.origin.event_name()).await
}

pub(super) async fn delete(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    bypass: Bypass,
    now: UtcMillis,
) -> Result<DeleteOutcome, Fail> {
    delete_with(tx, bucket, key, sel, bypass, now, DELETE_EVENTS).await
}

/// The one delete: [`delete::plan`] judged and carried out with the key held.
async fn delete_with(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    bypass: Bypass,
    now: UtcMillis,
    events: RemovalEvents,
) -> Result<DeleteOutcome, Fail> {
    let b = buckets::require(tx, bucket, RowLock::KeyShare).await?;
    let held = lock_key(tx, bucket, key).await?;
    // A key that is not held has no version at all.
    let found = match delete::target(b.versioning, sel) {
        Some(id) if held.is_some() => version_by_id(tx, bucket, key, id, false).await?,
        _ => None,
    };
    let plan = delete::plan(&b, sel, found, now, bypass)?;
    match plan.step {
        delete::Step::AddMarker(id) => {
            let rec = insert(tx, held, bucket, key, &id, None, &LockState::default(), now, events.marker).await?;
            // Markers of DeleteObject replicate where a rule says so; lifecycle's never (AWS).
            if events.marker == DELETE_EVENTS.marker {
                super::replication::enqueue(tx, &rec, ReplicationKind::DeleteMarker, None, now).await?;
            }
        }
        delete::Step::Remove(rec) => {
            remove_version(tx, &rec, now).await?;
            bump(tx, now).await?;
            crate::trail::note_version(bucket, key, &rec.version_id);
            events::emit(tx, events.removed, &rec, true, now).await?;
        }
        delete::Step::Nothing => {
            if let Some(id) = &plan.outcome.version_id {
                crate::trail::note_version(bucket, key, id);
            }
        }
    }
    Ok(plan.outcome)
}

/// The version a lock change addresses, with the key held; a delete marker is refused.
async fn resolve_for_lock_change(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
) -> Result<VersionRecord, Fail> {
    let rec = resolve_held(tx, bucket, key, sel).await?;
    if rec.is_delete_marker() {
        return Err(MetaError::DeleteMarker { version_id: rec.version_id, last_modified: rec.last_modified }.into());
    }
    Ok(rec)
}

/// The version `sel` names (a delete marker too), with its key held for the transaction.
pub(super) async fn resolve_held(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
) -> Result<VersionRecord, Fail> {
    buckets::require(tx, bucket, RowLock::KeyShare).await?;
    let held = lock_key(tx, bucket, key).await?;
    let rec = match (sel, held) {
        (VersionSelector::Latest, None) => return Err(MetaError::NoSuchKey.into()),
        (VersionSelector::Id(_), None) => return Err(MetaError::NoSuchVersion.into()),
        (VersionSelector::Latest, Some(_)) => latest_version(tx, bucket, key).await?.ok_or(MetaError::NoSuchKey)?,
        (VersionSelector::Id(id), Some(_)) => {
            version_by_id(tx, bucket, key, id, false).await?.ok_or(MetaError::NoSuchVersion)?
        }
    };
    Ok(rec)
}

pub(super) async fn store_lock(tx: &Tx<'_>, rec: &mut VersionRecord, lock: LockState) -> Result<(), Fail> {
    let (mode, until, hold) = lock_columns(&lock);
    execute(
        tx,
        "UPDATE versions SET lock_mode = $2, lock_until_ms = $3, legal_hold = $4 WHERE seq = $1",
        &[&rec.seq, &mode, &until, &hold],
    )
    .await?;
    rec.lock = lock;
    Ok(())
}

pub(super) async fn set_retention(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    retention: Option<Retention>,
    bypass: Bypass,
    now: UtcMillis,
) -> Result<VersionRecord, Fail> {
    let mut rec = resolve_for_lock_change(tx, bucket, key, sel).await?;
    check_retention_change(rec.lock.retention, retention, now, bypass)?;
    let lock = LockState { retention, ..rec.lock };
    crate::trail::note_version(bucket, key, &rec.version_id);
    crate::trail::note_lock(&rec.lock, &lock);
    store_lock(tx, &mut rec, lock).await?;
    bump(tx, now).await?;
    events::emit(tx, "s3:ObjectCreated:PutRetention", &rec, false, now).await?;
    super::replication::enqueue_change(tx, &rec, ReplicationKind::Lock, now).await?;
    Ok(rec)
}

pub(super) async fn set_legal_hold(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    hold: LegalHold,
    now: UtcMillis,
) -> Result<VersionRecord, Fail> {
    // L4: a hold may be placed or lifted at any time, under any retention.
    let mut rec = resolve_for_lock_change(tx, bucket, key, sel).await?;
    let lock = LockState { legal_hold: Some(hold), ..rec.lock };
    crate::trail::note_version(bucket, key, &rec.version_id);
    crate::trail::note_lock(&rec.lock, &lock);
    store_lock(tx, &mut rec, lock).await?;
    events::emit(tx, "s3:ObjectCreated:PutLegalHold", &rec, false, now).await?;
    super::replication::enqueue_change(tx, &rec, ReplicationKind::Lock, now).await?;
    Ok(rec)
}

/// Lifecycle expiration of one version: with the key held, the state the worker saw is
/// re-checked, then the version goes through [`delete_with`], the same lock check and
/// removal as DeleteObject.
pub(super) async fn lifecycle_delete(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    version_id: &str,
    action: LifecycleAction,
    now: UtcMillis,
) -> Result<DeleteOutcome, Fail> {
    buckets::require(tx, bucket, RowLock::KeyShare).await?;
    lock_key(tx, bucket, key).await?;
    let rec = version_by_id(tx, bucket, key, version_id, false).await?.ok_or(MetaError::PreconditionFailed)?;
    let still = match action {
        LifecycleAction::ExpireCurrent => rec.is_latest && !rec.is_delete_marker(),
        LifecycleAction::ExpireNoncurrent => !rec.is_latest,
        LifecycleAction::RemoveExpiredMarker => {
            let others = query_opt(
                tx,
                "SELECT 1 FROM versions WHERE bucket = $1 AND key = $2 AND seq <> $3 LIMIT 1",
                &[&bucket, &key.as_bytes(), &rec.seq],
            )
            .await?;
            rec.is_latest && rec.is_delete_marker() && others.is_none()
        }
    };
    if !still {
        return Err(MetaError::PreconditionFailed.into());
    }
    let sel = match action {
        LifecycleAction::ExpireCurrent => VersionSelector::Latest,
        LifecycleAction::ExpireNoncurrent | LifecycleAction::RemoveExpiredMarker => {
            VersionSelector::Id(version_id.to_owned())
        }
    };
    delete_with(tx, bucket, key, &sel, Bypass::None, now, LIFECYCLE_EVENTS).await
}
