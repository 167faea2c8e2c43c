//! Replication: the queue filled inside the transactions that change versions, the status
//! each version shows, and replica writes, shared by every gateway. A delivery worker claims
//! due items with a lease (`FOR UPDATE SKIP LOCKED`), so two gateways never hand out the
//! same item at once, and a gateway that dies leaves its claims to expire.

use super::clock::bump;
use super::objects::{insert_at, lock_key, store_lock};
use super::rows::{VERSION_COLUMNS, execute, key_at, query, query_opt, version_by_id, version_from_row};
use super::{Fail, RowLock, Tx, buckets, events, tags};
use crate::model::{VersionRecord, Versioning};
use crate::{
    BucketConfigKind, MetaError, QueuedReplication, ReplicaVersion, ReplicaWrite, ReplicationBacklog,
    ReplicationConfig, ReplicationKind, ReplicationOutcome, ReplicationStatus, TagSet,
};
use holdfast_lock::{LockState, UtcMillis};

/// Schema version 6: bucket replication.
pub(super) const V6: &str = r#"
-- One row per (change, destination). `due_ms` is when it may next be handed out: now for a
-- new item, later for a retried one (backoff) or a claimed one (lease). `failed` items wait
-- for `holdfast admin replicate`.
CREATE TABLE replication_queue (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    version_id text NOT NULL,
    rule_id text NOT NULL,
    destination text NOT NULL,
    kind text NOT NULL,
    size bigint NOT NULL DEFAULT 0,
    queued_ms bigint NOT NULL,
    due_ms bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    failed boolean NOT NULL DEFAULT false,
    last_error text
);
CREATE INDEX replication_queue_due ON replication_queue (failed, due_ms, id);
CREATE INDEX replication_queue_key ON replication_queue (bucket, key, destination, id);
CREATE INDEX replication_queue_version ON replication_queue (bucket, key, version_id);

-- x-amz-replication-status of each version that was ever queued, or that is a replica.
CREATE TABLE replication_status (
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    version_id text NOT NULL,
    status text NOT NULL,
    PRIMARY KEY (bucket, key, version_id)
);
"#;

/// Schema version 7: the version ids foreign S3 destinations gave replicas (they assign
/// their own), so that later lock and tag changes address that version.
pub(super) const V7: &str = r#"
CREATE TABLE replication_remote_versions (
    destination text NOT NULL,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    version_id text NOT NULL,
    remote_version_id text NOT NULL,
    PRIMARY KEY (destination, bucket, key, version_id)
);
"#;

pub(super) async fn remote_version(
    tx: &Tx<'_>,
    destination: &str,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<String>, Fail> {
    let row = query_opt(
        tx,
        "SELECT remote_version_id FROM replication_remote_versions
         WHERE destination = $1 AND bucket = $2 AND key = $3 AND version_id = $4",
        &[&destination, &bucket, &key.as_bytes(), &version_id],
    )
    .await?;
    Ok(row.map(|r| r.get(0)))
}

/// `[destination, bucket, key, version_id, remote_version_id]`.
pub(super) async fn set_remote_version(tx: &Tx<'_>, ids: [&str; 5]) -> Result<(), Fail> {
    execute(
        tx,
        "INSERT INTO replication_remote_versions (destination, bucket, key, version_id, remote_version_id)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (destination, bucket, key, version_id) DO UPDATE SET remote_version_id = excluded.remote_version_id",
        &[&ids[0], &ids[1], &ids[2].as_bytes(), &ids[3], &ids[4]],
    )
    .await?;
    Ok(())
}

async fn config(tx: &Tx<'_>, bucket: &str) -> Result<Option<ReplicationConfig>, Fail> {
    let Some(doc) = events::config_doc(tx, bucket, BucketConfigKind::Replication).await? else { return Ok(None) };
    Ok(Some(serde_json::from_str(&doc)?))
}

pub(super) async fn status(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<ReplicationStatus>, Fail> {
    let row = query_opt(
        tx,
        "SELECT status FROM replication_status WHERE bucket = $1 AND key = $2 AND version_id = $3",
        &[&bucket, &key.as_bytes(), &version_id],
    )
    .await?;
    let s: Option<String> = row.map(|r| r.try_get(0)).transpose()?;
    Ok(s.as_deref().and_then(ReplicationStatus::parse))
}

async fn set_status(tx: &Tx<'_>, bucket: &str, key: &str, version_id: &str, s: ReplicationStatus) -> Result<(), Fail> {
    execute(
        tx,
        "INSERT INTO replication_status (bucket, key, version_id, status) VALUES ($1, $2, $3, $4)
         ON CONFLICT (bucket, key, version_id) DO UPDATE SET status = excluded.status",
        &[&bucket, &key.as_bytes(), &version_id, &s.as_str()],
    )
    .await?;
    Ok(())
}

/// A removed version takes its status with it.
pub(super) async fn forget(tx: &Tx<'_>, rec: &VersionRecord) -> Result<(), Fail> {
    execute(
        tx,
        "DELETE FROM replication_status WHERE bucket = $1 AND key = $2 AND version_id = $3",
        &[&rec.bucket, &rec.key.as_bytes(), &rec.version_id],
    )
    .await?;
    Ok(())
}

/// Queues `kind` for `rec` to every destination whose rule applies, in the caller's
/// transaction, and marks it PENDING. A replica is never replicated again.
pub(super) async fn enqueue(
    tx: &Tx<'_>,
    rec: &VersionRecord,
    kind: ReplicationKind,
    tags: Option<&TagSet>,
    now: UtcMillis,
) -> Result<usize, Fail> {
    let Some(config) = config(tx, &rec.bucket).await? else { return Ok(0) };
    let destinations = config.destinations(kind, &rec.key, tags);
    if destinations.is_empty() {
        return Ok(0);
    }
    if status(tx, &rec.bucket, &rec.key, &rec.version_id).await? == Some(ReplicationStatus::Replica) {
        return Ok(0);
    }
    let size = rec.object.as_ref().map_or(0, |o| i64::try_from(o.size).unwrap_or(i64::MAX));
    let size = if kind == ReplicationKind::Object { size } else { 0 };
    for (rule, destination) in &destinations {
        execute(
            tx,
            "INSERT INTO replication_queue (bucket, key, version_id, rule_id, destination, kind, size, queued_ms, due_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            &[&rec.bucket, &rec.key.as_bytes(), &rec.version_id, rule, destination, &kind.as_str(), &size, &now.millis()],
        )
        .await?;
    }
    set_status(tx, &rec.bucket, &rec.key, &rec.version_id, ReplicationStatus::Pending).await?;
    Ok(destinations.len())
}

/// [`enqueue`] for a change of an existing object version (lock, tags): judged by its tags.
pub(super) async fn enqueue_change(
    tx: &Tx<'_>,
    rec: &VersionRecord,
    kind: ReplicationKind,
    now: UtcMillis,
) -> Result<usize, Fail> {
    let tags = tags::of_seq(tx, rec.seq).await?;
    enqueue(tx, rec, kind, Some(&tags), now).await
}

pub(super) async fn claim(
    tx: &Tx<'_>,
    now: UtcMillis,
    lease_ms: i64,
    limit: usize,
) -> Result<Vec<QueuedReplication>, Fail> {
    let rows = query(
        tx,
        "UPDATE replication_queue SET due_ms = $3 WHERE id IN (
             SELECT q.id FROM replication_queue q
             WHERE NOT q.failed AND q.due_ms <= $1
               AND NOT EXISTS (SELECT 1 FROM replication_queue p
                               WHERE p.bucket = q.bucket AND p.key = q.key AND p.destination = q.destination
                                 AND p.id < q.id AND NOT p.failed)
             ORDER BY q.id LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, bucket, key, version_id, rule_id, destination, kind, size, queued_ms, attempts",
        &[&now.millis(), &i64::try_from(limit).unwrap_or(i64::MAX), &now.plus_millis(lease_ms).millis()],
    )
    .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            let kind: String = r.try_get(6)?;
            let kind = ReplicationKind::parse(&kind)
                .ok_or_else(|| Fail::Meta(MetaError::Internal(format!("bad replication kind {kind}"))))?;
            Ok(QueuedReplication {
                id: r.try_get(0)?,
                bucket: r.try_get(1)?,
                key: key_at(r, 2)?,
                version_id: r.try_get(3)?,
                rule_id: r.try_get(4)?,
                destination: r.try_get(5)?,
                kind,
                size: u64::try_from(r.try_get::<_, i64>(7)?).unwrap_or(0),
                queued: UtcMillis(r.try_get(8)?),
                attempts: u32::try_from(r.try_get::<_, i32>(9)?).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, Fail>>()?;
    out.sort_by_key(|q| q.id);
    Ok(out)
}

pub(super) async fn settle(
    tx: &Tx<'_>,
    chain: &str,
    outcomes: &[(QueuedReplication, ReplicationOutcome)],
) -> Result<(), Fail> {
    for (q, outcome) in outcomes {
        match outcome {
            ReplicationOutcome::Done => {
                execute(tx, "DELETE FROM replication_queue WHERE id = $1", &[&q.id]).await?;
            }
            ReplicationOutcome::RetryAt(at, why) => {
                execute(
                    tx,
                    "UPDATE replication_queue SET due_ms = $2, attempts = attempts + 1, last_error = $3 WHERE id = $1",
                    &[&q.id, &at.millis(), why],
                )
                .await?;
            }
            ReplicationOutcome::Failed(why) => {
                execute(
                    tx,
                    "UPDATE replication_queue SET failed = true, attempts = attempts + 1, last_error = $2 WHERE id = $1",
                    &[&q.id, why],
                )
                .await?;
            }
        }
        if let Some(now) = refresh_status(tx, &q.bucket, &q.key, &q.version_id).await? {
            let (actor, facts) = crate::replication::transition_record(q, now);
            super::audit::insert(tx, chain, &actor, facts).await?;
            // The version is read only for a bucket with notification rules.
            let notifies = events::config_doc(tx, &q.bucket, BucketConfigKind::Notification).await?.is_some();
            if notifies && let Some(mut rec) = version_by_id(tx, &q.bucket, &q.key, &q.version_id, false).await? {
                rec.replication = Some(now);
                events::emit(tx, crate::replication::transition_event(now), &rec, false, UtcMillis::now_system())
                    .await?;
            }
        }
    }
    Ok(())
}

/// Returns the new status when it became COMPLETED or FAILED.
async fn refresh_status(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<Option<ReplicationStatus>, Fail> {
    let current = status(tx, bucket, key, version_id).await?;
    if current.is_none_or(|s| s == ReplicationStatus::Replica) {
        return Ok(None);
    }
    let row = super::rows::query_one(
        tx,
        "SELECT COUNT(*) FILTER (WHERE NOT failed), COUNT(*) FILTER (WHERE failed) FROM replication_queue
         WHERE bucket = $1 AND key = $2 AND version_id = $3",
        &[&bucket, &key.as_bytes(), &version_id],
    )
    .await?;
    let (waiting, failed): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let next = if failed > 0 {
        ReplicationStatus::Failed
    } else if waiting > 0 {
        ReplicationStatus::Pending
    } else {
        ReplicationStatus::Completed
    };
    if current == Some(next) {
        return Ok(None);
    }
    set_status(tx, bucket, key, version_id, next).await?;
    Ok((next != ReplicationStatus::Pending).then_some(next))
}

pub(super) async fn put_replica(tx: &Tx<'_>, r: &ReplicaVersion, now: UtcMillis) -> Result<ReplicaWrite, Fail> {
    let b = buckets::require(tx, &r.bucket, RowLock::KeyShare).await?;
    if b.versioning != Versioning::Enabled {
        return Err(MetaError::InvalidRequest("Destination bucket must have versioning enabled.".into()).into());
    }
    if !crate::is_well_formed_version_id(&r.version_id) || r.version_id == "null" {
        return Err(MetaError::InvalidRequest(format!("A replica needs a version id, not {:?}", r.version_id)).into());
    }
    let held = lock_key(tx, &r.bucket, &r.key).await?;
    let existing = if held.is_some() { version_by_id(tx, &r.bucket, &r.key, &r.version_id, true).await? } else { None };
    if let Some(mut existing) = existing {
        let same_kind = existing.is_delete_marker() == r.object.is_none();
        let same_content = match (&existing.object, &r.object) {
            (Some(a), Some(b)) => a.etag == b.etag && a.size == b.size,
            _ => true,
        };
        if !same_kind || !same_content {
            return Err(MetaError::InvalidRequest(format!(
                "version {} of {} exists with other content",
                r.version_id, r.key
            ))
            .into());
        }
        if existing.is_delete_marker() {
            return Ok(ReplicaWrite::Existing);
        }
        let lock = holdfast_lock::replica_lock(existing.lock, r.lock, now);
        if lock != existing.lock {
            crate::trail::note_version(&r.bucket, &r.key, &r.version_id);
            crate::trail::note_lock(&existing.lock, &lock);
            store_lock(tx, &mut existing, lock).await?;
            bump(tx, now).await?;
        }
        tags::store(tx, existing.seq, &r.tags).await?;
        return Ok(ReplicaWrite::Existing);
    }
    if r.lock != LockState::default() && !b.lock_enabled {
        return Err(MetaError::InvalidRequest("Bucket is missing ObjectLockConfiguration".into()).into());
    }
    let (lock, event) = match &r.object {
        // X2: the source's retention, else the destination's default (W9).
        Some(_) => (holdfast_lock::lock_for_new_version(b.lock(), r.lock, now), "s3:ObjectCreated:Put"),
        None => (LockState::default(), "s3:ObjectRemoved:DeleteMarkerCreated"),
    };
    let rec =
        insert_at(tx, held, &r.bucket, &r.key, &r.version_id, r.object.as_ref(), &lock, r.last_modified, now, event)
            .await?;
    if r.object.is_some() && !r.tags.is_empty() {
        tags::store(tx, rec.seq, &r.tags).await?;
    }
    set_status(tx, &r.bucket, &r.key, &r.version_id, ReplicationStatus::Replica).await?;
    // A version that arrives after newer ones of its key (a backfill) does not become latest.
    execute(
        tx,
        "UPDATE latest l SET seq = n.seq, delete_marker = n.delete_marker
         FROM (SELECT seq, delete_marker FROM versions WHERE bucket = $1 AND key = $2
               ORDER BY last_modified_ms DESC, seq DESC LIMIT 1) n
         WHERE l.bucket = $1 AND l.key = $2",
        &[&r.bucket, &r.key.as_bytes()],
    )
    .await?;
    Ok(ReplicaWrite::Created)
}

pub(super) async fn requeue(
    tx: &Tx<'_>,
    bucket: &str,
    prefix: &str,
    after: i64,
    limit: usize,
    now: UtcMillis,
) -> Result<(u64, Option<i64>), Fail> {
    buckets::require(tx, bucket, RowLock::KeyShare).await?;
    let sql =
        format!("SELECT {VERSION_COLUMNS} FROM versions v WHERE v.bucket = $1 AND v.seq > $2 ORDER BY v.seq LIMIT $3");
    let rows = query(tx, &sql, &[&bucket, &after, &i64::try_from(limit).unwrap_or(i64::MAX)]).await?;
    let recs = rows.iter().map(version_from_row).collect::<Result<Vec<_>, Fail>>()?;
    let Some(last) = recs.last().map(|r| r.seq) else { return Ok((0, None)) };
    let mut queued = 0u64;
    for rec in recs.iter().filter(|r| r.key.starts_with(prefix)) {
        if requeue_version(tx, rec, now).await? {
            queued += 1;
        }
    }
    Ok((queued, Some(last)))
}

/// Queues one version as `holdfast admin replicate` does (and a lock job's
/// `S3ReplicateObject` task): a version never queued (it predates the rule) is queued to the
/// destinations whose rules apply; a FAILED one is retried; a PENDING, COMPLETED or REPLICA one
/// is left as it is. Returns whether anything was queued.
pub(super) async fn requeue_version(tx: &Tx<'_>, rec: &VersionRecord, now: UtcMillis) -> Result<bool, Fail> {
    match status(tx, &rec.bucket, &rec.key, &rec.version_id).await? {
        None => {
            let kind = if rec.is_delete_marker() { ReplicationKind::DeleteMarker } else { ReplicationKind::Object };
            let tags = if rec.is_delete_marker() { None } else { Some(tags::of_seq(tx, rec.seq).await?) };
            Ok(enqueue(tx, rec, kind, tags.as_ref(), now).await? > 0)
        }
        Some(ReplicationStatus::Failed) => {
            execute(
                tx,
                "UPDATE replication_queue SET failed = false, attempts = 0, due_ms = $4
                 WHERE bucket = $1 AND key = $2 AND version_id = $3 AND failed",
                &[&rec.bucket, &rec.key.as_bytes(), &rec.version_id, &now.millis()],
            )
            .await?;
            set_status(tx, &rec.bucket, &rec.key, &rec.version_id, ReplicationStatus::Pending).await?;
            Ok(true)
        }
        Some(_) => Ok(false),
    }
}

/// A lock job's `S3ReplicateObject` task, in the batch's transaction: the version must exist
/// and a rule of its bucket's replication configuration must apply to it (else
/// `InvalidRequest`, nothing queued); then [`requeue_version`].
pub(super) async fn replicate_task(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &crate::VersionSelector,
    now: UtcMillis,
) -> Result<bool, Fail> {
    let rec = super::objects::resolve_held(tx, bucket, key, sel).await?;
    crate::trail::note_version(bucket, key, &rec.version_id);
    let tags = if rec.is_delete_marker() { None } else { Some(tags::of_seq(tx, rec.seq).await?) };
    let config = config(tx, bucket).await?;
    crate::replication::check_replicable(config.as_ref(), &rec, tags.as_ref())?;
    requeue_version(tx, &rec, now).await
}

pub(super) async fn backlog(tx: &Tx<'_>, bucket: Option<&str>) -> Result<Vec<ReplicationBacklog>, Fail> {
    let rows = query(
        tx,
        "SELECT bucket, rule_id, destination,
                COUNT(*) FILTER (WHERE NOT failed), COALESCE(SUM(size) FILTER (WHERE NOT failed), 0)::bigint,
                COUNT(*) FILTER (WHERE failed), COALESCE(SUM(size) FILTER (WHERE failed), 0)::bigint,
                MIN(queued_ms) FILTER (WHERE NOT failed)
         FROM replication_queue WHERE $1::text IS NULL OR bucket = $1
         GROUP BY bucket, rule_id, destination ORDER BY bucket, rule_id, destination",
        &[&bucket],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let n = |i: usize| r.try_get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
            Ok(ReplicationBacklog {
                bucket: r.try_get(0)?,
                rule_id: r.try_get(1)?,
                destination: r.try_get(2)?,
                pending: n(3)?,
                pending_bytes: n(4)?,
                failed: n(5)?,
                failed_bytes: n(6)?,
                oldest_pending: r.try_get::<_, Option<i64>>(7)?.map(UtcMillis),
            })
        })
        .collect()
}
