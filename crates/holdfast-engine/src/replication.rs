//! Bucket replication: the configuration (a bucket document kept by the metadata store, which
//! reads it when it queues replications inside a change's transaction) and the delivery
//! worker that copies queued versions to their destination.
//!
//! Delivery is at-least-once and idempotent: an item names a version, and the worker copies
//! what that version is *now* (bytes, headers, checksums, tags, lock state); the destination
//! recognises a version it already holds by its id and only lets its lock grow
//! (`holdfast_lock::replica_lock`). Items are leased when claimed, so one gateway delivers
//! each, and an item whose delivery a crash cut short is handed out again after the lease.

use crate::{Engine, EngineResult};
use futures::StreamExt;
use holdfast_audit::{Actor, ActorCell};
use holdfast_lock::UtcMillis;
use holdfast_meta::{
    BucketConfigKind, DestinationRef, MetaError, ObjectData, QueuedReplication, ReplicaVersion, ReplicaWrite,
    ReplicationBacklog, ReplicationConfig, ReplicationDestination, ReplicationKind, ReplicationOutcome, Segment,
    TagSet, VersionRecord, VersionSelector,
};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ReplicationSettings {
    /// First retry delay; doubles with every failed attempt...
    pub retry_min: Duration,
    /// ...up to this.
    pub retry_max: Duration,
    /// How often the queue is polled when it is empty.
    pub poll: Duration,
    /// How long a claimed item is withheld from other workers.
    pub lease: Duration,
    /// Items claimed per pass.
    pub batch: usize,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        Self {
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            poll: Duration::from_millis(250),
            lease: Duration::from_secs(60),
            batch: 64,
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A delivery that did not happen: for good (the destination refuses), or for now.
enum Miss {
    Permanent(String),
    Passing(String),
}

impl From<crate::EngineError> for Miss {
    fn from(e: crate::EngineError) -> Self {
        match e {
            crate::EngineError::Meta(m) => m.into(),
            other => Self::Passing(other.to_string()),
        }
    }
}

impl From<MetaError> for Miss {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NoSuchBucket => {
                Self::Permanent("DstBucketNotFound: the destination bucket does not exist".into())
            }
            MetaError::InvalidRequest(m) => Self::Permanent(m),
            MetaError::Locked(d) => Self::Permanent(format!("the destination's Object Lock refused the replica: {d}")),
            other => Self::Passing(other.to_string()),
        }
    }
}

impl From<std::io::Error> for Miss {
    fn from(e: std::io::Error) -> Self {
        Self::Passing(e.to_string())
    }
}

impl Engine {
    pub async fn replication_config(&self, bucket: &str) -> EngineResult<Option<ReplicationConfig>> {
        let doc = self.meta.bucket_config(bucket, BucketConfigKind::Replication).await?;
        Ok(doc.map(|d| serde_json::from_str(&d)).transpose().map_err(|e| MetaError::Internal(e.to_string()))?)
    }

    /// `None` removes it (nothing more is queued for the bucket; what is queued is delivered).
    pub async fn set_replication_config(&self, bucket: &str, config: Option<&ReplicationConfig>) -> EngineResult<()> {
        let doc = config.map(|c| serde_json::to_string(c).expect("replication configurations serialize"));
        Ok(self.meta.put_bucket_config(bucket, BucketConfigKind::Replication, doc).await?)
    }

    /// What waits or failed, per bucket and rule.
    pub async fn replication_backlog(&self, bucket: Option<&str>) -> EngineResult<Vec<ReplicationBacklog>> {
        Ok(self.meta.replication_backlog(bucket).await?)
    }

    /// Queues the versions under `prefix` that predate the configuration or FAILED, a page
    /// at a time (see `MetaStore::requeue_replication`).
    pub async fn requeue_replication(
        &self,
        bucket: &str,
        prefix: &str,
        after: i64,
        limit: usize,
    ) -> EngineResult<(u64, Option<i64>)> {
        Ok(self.meta.requeue_replication(bucket, prefix, after, limit, self.clock.now()).await?)
    }

    /// Copies the blobs of `obj` into new blobs (a replica never shares a blob: collection
    /// needs no reference counts), streaming; small objects kept inline stay inline.
    async fn copy_content(&self, obj: &ObjectData) -> Result<ObjectData, Miss> {
        let mut out = obj.clone();
        out.segments.clear();
        let mut written: Vec<String> = Vec::new();
        for seg in &obj.segments {
            match self.copy_blob(seg).await {
                Ok(id) => {
                    written.push(id.clone());
                    out.segments.push(Segment { blob: id, size: seg.size });
                }
                Err(e) => {
                    self.drop_blobs(&written).await;
                    return Err(e.into());
                }
            }
        }
        Ok(out)
    }

    async fn copy_blob(&self, seg: &Segment) -> std::io::Result<String> {
        let mut reader = self.blobs.read(&seg.blob, 0, seg.size).await?;
        let mut w = self.blobs.create().await?;
        while let Some(chunk) = reader.next().await {
            match chunk {
                Ok(c) => {
                    if let Err(e) = w.write(c).await {
                        w.abort().await;
                        return Err(e);
                    }
                }
                Err(e) => {
                    w.abort().await;
                    return Err(e);
                }
            }
        }
        w.commit().await
    }

    async fn drop_blobs(&self, ids: &[String]) {
        for id in ids {
            if let Err(e) = self.blobs.delete(id).await {
                tracing::warn!(blob = %id, error = %e, "cannot remove an unused replica blob (the orphan sweep will)");
            }
        }
    }

    /// One item to a bucket of this store.
    async fn deliver_local(&self, q: &QueuedReplication, dest: &str) -> Result<(), Miss> {
        let src = match self.meta.version(&q.bucket, &q.key, &VersionSelector::Id(q.version_id.clone())).await {
            Ok(v) => v,
            // The version (or its bucket) is gone: nothing is left to copy.
            Err(MetaError::NoSuchVersion | MetaError::NoSuchKey | MetaError::NoSuchBucket) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let tags = if src.is_delete_marker() {
            TagSet::new()
        } else {
            self.meta.version_tags(&q.bucket, &q.key, &VersionSelector::Id(q.version_id.clone())).await?.1
        };
        let present = match self.meta.version(dest, &q.key, &VersionSelector::Id(q.version_id.clone())).await {
            Ok(_) => true,
            Err(MetaError::NoSuchVersion | MetaError::NoSuchKey) => false,
            Err(e) => return Err(e.into()),
        };
        let replica = |object: Option<ObjectData>| ReplicaVersion {
            bucket: dest.to_owned(),
            key: q.key.clone(),
            version_id: src.version_id.clone(),
            last_modified: src.last_modified,
            object,
            tags: tags.clone(),
            lock: src.lock,
        };
        let object = match (&src.object, present) {
            (Some(obj), false) => Some(self.copy_content(obj).await?),
            (Some(obj), true) => Some(obj.clone()),
            (None, _) => None,
        };
        let fresh: Vec<String> = if present {
            Vec::new()
        } else {
            object.iter().flat_map(|o| o.segments.iter().map(|s| s.blob.clone())).collect()
        };
        let actor = ActorCell::new(Actor {
            principal: Some("holdfast:replication".into()),
            op: Some("ReplicateObject".into()),
            bucket: Some(dest.to_owned()),
            key: Some(q.key.clone()),
            version_id: Some(src.version_id.clone()),
            detail: Some(serde_json::json!({ "source_bucket": q.bucket, "rule": q.rule_id, "kind": q.kind.as_str() })),
            ..Actor::default()
        });
        let write = self.meta.put_replica(replica(object), self.clock.now());
        match actor.scope(write).await {
            Ok(ReplicaWrite::Created) => Ok(()),
            Ok(ReplicaWrite::Existing) => {
                self.drop_blobs(&fresh).await;
                Ok(())
            }
            Err(e) => {
                self.drop_blobs(&fresh).await;
                Err(e.into())
            }
        }
    }

    async fn deliver(&self, q: &QueuedReplication) -> Result<(), Miss> {
        match ReplicationDestination::parse(&q.destination) {
            Some(DestinationRef::Local { bucket }) => self.deliver_local(q, bucket).await,
            Some(DestinationRef::Remote { target, .. }) => Err(Miss::Permanent(format!(
                "remote target {target}: delivery to remote endpoints is not available in this build"
            ))),
            None => Err(Miss::Permanent(format!("unknown destination {}", q.destination))),
        }
    }

    /// Claims and settles one batch; returns how many items it handled.
    pub async fn replication_pass(&self, settings: &ReplicationSettings) -> EngineResult<usize> {
        let now = UtcMillis::now_system();
        let claimed = self.meta.claim_replications(now, millis(settings.lease), settings.batch).await?;
        let n = claimed.len();
        let mut outcomes = Vec::with_capacity(n);
        for q in claimed {
            let outcome = match self.deliver(&q).await {
                Ok(()) => {
                    record_done(&q);
                    ReplicationOutcome::Done
                }
                Err(Miss::Permanent(why)) => {
                    tracing::warn!(bucket = %q.bucket, key = %q.key, version = %q.version_id, destination = %q.destination, %why, "replication failed");
                    metrics::counter!("holdfast_replication_failed_total", "bucket" => q.bucket.clone(), "rule" => q.rule_id.clone()).increment(1);
                    metrics::counter!("holdfast_replication_failed_bytes_total", "bucket" => q.bucket.clone(), "rule" => q.rule_id.clone()).increment(q.size);
                    ReplicationOutcome::Failed(why)
                }
                Err(Miss::Passing(why)) => {
                    tracing::debug!(bucket = %q.bucket, key = %q.key, attempts = q.attempts, %why, "replication will be retried");
                    metrics::counter!("holdfast_replication_retries_total", "bucket" => q.bucket.clone(), "rule" => q.rule_id.clone()).increment(1);
                    let factor = 1u32.checked_shl(q.attempts.min(20)).unwrap_or(u32::MAX);
                    let delay = settings.retry_min.saturating_mul(factor).min(settings.retry_max);
                    ReplicationOutcome::RetryAt(UtcMillis::now_system().plus_millis(millis(delay)), why)
                }
            };
            outcomes.push((q, outcome));
        }
        if !outcomes.is_empty() {
            self.meta.settle_replications(outcomes).await?;
        }
        Ok(n)
    }

    /// Runs the delivery loop until the process ends, and refreshes the backlog gauges.
    pub fn spawn_replication(self: &Arc<Self>, settings: ReplicationSettings) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let mut last_gauges: Option<std::time::Instant> = None;
            let mut shown = std::collections::BTreeSet::new();
            loop {
                let handled = match engine.replication_pass(&settings).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "replication pass failed");
                        0
                    }
                };
                if last_gauges.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    last_gauges = Some(std::time::Instant::now());
                    engine.replication_gauges(&mut shown).await;
                }
                if handled < settings.batch {
                    tokio::time::sleep(settings.poll).await;
                }
            }
        })
    }

    /// Sets the backlog gauges; `shown` remembers the (bucket, rule) pairs set before, so
    /// that one whose backlog drained reads 0 instead of its last value.
    async fn replication_gauges(&self, shown: &mut std::collections::BTreeSet<(String, String)>) {
        let backlog = match self.meta.replication_backlog(None).await {
            Ok(b) => b,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the replication backlog");
                return;
            }
        };
        let now = UtcMillis::now_system();
        let current: std::collections::BTreeSet<(String, String)> =
            backlog.iter().map(|b| (b.bucket.clone(), b.rule_id.clone())).collect();
        for (bucket, rule) in shown.difference(&current) {
            let labels = [("bucket", bucket.clone()), ("rule", rule.clone())];
            for name in [
                "holdfast_replication_pending",
                "holdfast_replication_pending_bytes",
                "holdfast_replication_failed",
                "holdfast_replication_oldest_pending_seconds",
            ] {
                metrics::gauge!(name, &labels).set(0.0);
            }
        }
        *shown = current;
        for b in backlog {
            let labels = [("bucket", b.bucket.clone()), ("rule", b.rule_id.clone())];
            metrics::gauge!("holdfast_replication_pending", &labels).set(b.pending as f64);
            metrics::gauge!("holdfast_replication_pending_bytes", &labels).set(b.pending_bytes as f64);
            metrics::gauge!("holdfast_replication_failed", &labels).set(b.failed as f64);
            let age = b.oldest_pending.map_or(0, |t| now.millis().saturating_sub(t.millis()).max(0));
            metrics::gauge!("holdfast_replication_oldest_pending_seconds", &labels).set(age as f64 / 1000.0);
        }
    }
}

fn record_done(q: &QueuedReplication) {
    let labels = [("bucket", q.bucket.clone()), ("rule", q.rule_id.clone())];
    metrics::counter!("holdfast_replication_completed_total", &labels).increment(1);
    if q.kind == ReplicationKind::Object {
        metrics::counter!("holdfast_replication_completed_bytes_total", &labels).increment(q.size);
    }
    let lag = UtcMillis::now_system().millis().saturating_sub(q.queued.millis()).max(0);
    metrics::histogram!("holdfast_replication_lag_seconds").record(lag as f64 / 1000.0);
}

/// What a version shows as `x-amz-replication-status` (the record carries it on reads).
pub fn replication_status(rec: &VersionRecord) -> Option<&'static str> {
    rec.replication.map(holdfast_meta::ReplicationStatus::as_str)
}
