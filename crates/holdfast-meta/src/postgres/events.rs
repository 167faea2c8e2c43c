//! Events: the bucket-level documents (a bucket's notification configuration, which the
//! queue is filled from, its lifecycle and replication rules) and the event queue, filled inside the
//! transactions that change versions, shared by every gateway. A delivery worker claims due
//! events with a lease (`FOR UPDATE SKIP LOCKED`), so two gateways never hand out the same
//! delivery at once and a gateway that dies leaves its claims to expire.

use super::rows::{execute, query, query_one, query_opt};
use super::{Fail, RowLock, Tx, buckets};
use crate::model::VersionRecord;
use crate::{BucketConfigKind, NotificationConfig, ObjectEvent, QueuedEvent, Settlement};
use holdfast_lock::UtcMillis;

pub(super) async fn put_config(
    tx: &Tx<'_>,
    bucket: &str,
    kind: BucketConfigKind,
    doc: Option<&str>,
) -> Result<(), Fail> {
    buckets::require(tx, bucket, RowLock::KeyShare).await?;
    match doc {
        Some(doc) => {
            execute(
                tx,
                "INSERT INTO bucket_configs (bucket, kind, doc) VALUES ($1, $2, $3)
                 ON CONFLICT (bucket, kind) DO UPDATE SET doc = excluded.doc",
                &[&bucket, &kind.as_str(), &doc],
            )
            .await?
        }
        None => {
            execute(tx, "DELETE FROM bucket_configs WHERE bucket = $1 AND kind = $2", &[&bucket, &kind.as_str()])
                .await?
        }
    };
    Ok(())
}

/// [`MetaStore::swap_bucket_config`](crate::MetaStore::swap_bucket_config): the row is
/// locked while it is compared; an absent row is inserted only if nobody inserted it first.
pub(super) async fn swap_config(
    tx: &Tx<'_>,
    bucket: &str,
    kind: BucketConfigKind,
    expected: Option<&str>,
    doc: Option<&str>,
) -> Result<bool, Fail> {
    buckets::require(tx, bucket, RowLock::KeyShare).await?;
    let row = query_opt(
        tx,
        "SELECT doc FROM bucket_configs WHERE bucket = $1 AND kind = $2 FOR UPDATE",
        &[&bucket, &kind.as_str()],
    )
    .await?;
    let current: Option<String> = row.map(|r| r.try_get(0)).transpose()?;
    if current.as_deref() != expected {
        return Ok(false);
    }
    let changed = match (current.is_some(), doc) {
        (false, None) => 1,
        (false, Some(doc)) => execute(
            tx,
            "INSERT INTO bucket_configs (bucket, kind, doc) VALUES ($1, $2, $3) ON CONFLICT (bucket, kind) DO NOTHING",
            &[&bucket, &kind.as_str(), &doc],
        )
        .await?,
        (true, Some(doc)) => {
            execute(
                tx,
                "UPDATE bucket_configs SET doc = $3 WHERE bucket = $1 AND kind = $2",
                &[&bucket, &kind.as_str(), &doc],
            )
            .await?
        }
        (true, None) => {
            execute(tx, "DELETE FROM bucket_configs WHERE bucket = $1 AND kind = $2", &[&bucket, &kind.as_str()])
                .await?
        }
    };
    Ok(changed == 1)
}

pub(super) async fn config_doc(tx: &Tx<'_>, bucket: &str, kind: BucketConfigKind) -> Result<Option<String>, Fail> {
    let row =
        query_opt(tx, "SELECT doc FROM bucket_configs WHERE bucket = $1 AND kind = $2", &[&bucket, &kind.as_str()])
            .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Queues `name` for `rec` to every target whose rule matches, in the caller's transaction.
/// `removed`: the version is gone (no size, no lock state in the record).
pub(super) async fn emit(
    tx: &Tx<'_>,
    name: &str,
    rec: &VersionRecord,
    removed: bool,
    now: UtcMillis,
) -> Result<(), Fail> {
    let Some(doc) = config_doc(tx, &rec.bucket, BucketConfigKind::Notification).await? else { return Ok(()) };
    let config: NotificationConfig = serde_json::from_str(&doc)?;
    let mut event = ObjectEvent::of_version(name, rec, removed, now);
    let deliveries = config.deliveries(&event);
    if deliveries.is_empty() {
        return Ok(());
    }
    // Increasing across gateways; a key's events are ordered because its writes are.
    event.sequencer = query_one(tx, "SELECT nextval('event_sequencer')", &[]).await?.try_get(0)?;
    let json = serde_json::to_string(&event)?;
    for (config_id, target) in deliveries {
        execute(
            tx,
            "INSERT INTO event_queue (target, config_id, event, attempts, due_ms) VALUES ($1, $2, $3, 0, $4)",
            &[&target, &config_id, &json, &now.millis()],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn backlog(tx: &Tx<'_>) -> Result<Vec<crate::EventBacklog>, Fail> {
    let rows = query(
        tx,
        "SELECT target, count(*), count(*) FILTER (WHERE attempts > 0), max(attempts) FROM event_queue
         GROUP BY target ORDER BY count(*) DESC, target",
        &[],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(crate::EventBacklog {
                target: r.try_get(0)?,
                queued: u64::try_from(r.try_get::<_, i64>(1)?).unwrap_or(0),
                retrying: u64::try_from(r.try_get::<_, i64>(2)?).unwrap_or(0),
                most_attempts: u32::try_from(r.try_get::<_, i32>(3)?).unwrap_or(u32::MAX),
            })
        })
        .collect()
}

pub(super) async fn claim(tx: &Tx<'_>, now: UtcMillis, lease_ms: i64, limit: usize) -> Result<Vec<QueuedEvent>, Fail> {
    let rows = query(
        tx,
        "UPDATE event_queue SET due_ms = $3 WHERE id IN (
             SELECT id FROM event_queue WHERE due_ms <= $1 ORDER BY due_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, target, config_id, event, attempts",
        &[&now.millis(), &i64::try_from(limit).unwrap_or(i64::MAX), &now.plus_millis(lease_ms).millis()],
    )
    .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            let event: ObjectEvent = serde_json::from_str(&r.try_get::<_, String>(3)?)?;
            Ok(QueuedEvent {
                id: r.try_get(0)?,
                target: r.try_get(1)?,
                config_id: r.try_get(2)?,
                event,
                attempts: u32::try_from(r.try_get::<_, i32>(4)?).unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, Fail>>()?;
    out.sort_by_key(|e| e.id);
    Ok(out)
}

pub(super) async fn settle(tx: &Tx<'_>, outcomes: &[(i64, Settlement)]) -> Result<(), Fail> {
    for (id, outcome) in outcomes {
        match outcome {
            Settlement::Delivered => execute(tx, "DELETE FROM event_queue WHERE id = $1", &[id]).await?,
            Settlement::RetryAt(at) => {
                execute(
                    tx,
                    "UPDATE event_queue SET due_ms = $2, attempts = attempts + 1 WHERE id = $1",
                    &[id, &at.millis()],
                )
                .await?
            }
        };
    }
    Ok(())
}
