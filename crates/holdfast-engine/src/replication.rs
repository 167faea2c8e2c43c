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
    /// Items of a pass delivered at once.
    pub concurrency: usize,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        Self {
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            poll: Duration::from_millis(250),
            lease: Duration::from_secs(60),
            batch: 64,
            concurrency: 16,
        }
    }
}

/// What a remote destination is sent: one version as it is now. `body` streams the bytes
/// of an object (never for a marker or a metadata-only update).
pub struct OutgoingReplica {
    pub source_bucket: String,
    pub key: String,
    pub version_id: String,
    pub last_modified: UtcMillis,
    pub object: Option<ObjectData>,
    pub tags: TagSet,
    pub lock: holdfast_lock::LockState,
    /// Only the lock state and tags (the destination already has the version).
    pub metadata_only: bool,
    /// The rule's destination storage class, if it names one.
    pub storage_class: Option<String>,
    /// For a foreign S3 target: the version id it gave this version's replica, when known.
    pub remote_version_id: Option<String>,
    /// Opens the byte range `[start, end)` of the version's bytes afresh (a large version goes
    /// in parts, each read twice: once for its MD5, once to send it).
    pub reader: Option<SpanReader>,
}

/// See [`OutgoingReplica::reader`].
pub type SpanReader = Arc<dyn Fn(u64, u64) -> holdfast_blob::ByteStream + Send + Sync>;

/// Why a remote delivery did not happen.
#[derive(Debug)]
pub enum TransportError {
    /// The destination refused it (4xx): retrying will not help.
    Refused(String),
    /// A metadata-only update for a version the destination does not have (send it whole).
    NoSuchVersion,
    /// Unreachable, timed out, 5xx: try again later.
    Passing(String),
}

/// Sends replicas to the remote targets of the server configuration (the binary implements
/// it with a SigV4-signed HTTP client).
#[async_trait::async_trait]
pub trait ReplicaTransport: Send + Sync + 'static {
    /// Whether `target` is configured.
    fn knows(&self, target: &str) -> bool;
    /// Whether `target` is a foreign S3 endpoint, which assigns its own version ids (the
    /// worker then records them, and passes them back in
    /// [`OutgoingReplica::remote_version_id`]).
    fn foreign(&self, _target: &str) -> bool {
        false
    }
    /// Delivers one item; `Ok(Some(id))` is the version id a foreign target gave a new
    /// replica.
    async fn send(
        &self,
        target: &str,
        bucket: &str,
        replica: &OutgoingReplica,
        body: Option<holdfast_blob::ByteStream>,
    ) -> Result<Option<String>, TransportError>;
    /// (versioning enabled, Object Lock enabled) of `bucket` behind `target`.
    async fn bucket_state(&self, target: &str, bucket: &str) -> Result<(bool, bool), TransportError>;
}

/// Judges a replica for a bucket of this store as the destination's access policy would judge
/// a replication request (`s3:ReplicateObject` with the replica's lock condition keys): the
/// api implements it with its authorizer, so a destination bucket policy that caps retention
/// applies to local replicas as to remote ones.
#[async_trait::async_trait]
pub trait ReplicaGate: Send + Sync + 'static {
    /// `Err` names why the destination refuses the replica.
    async fn admit(
        &self,
        bucket: &str,
        key: &str,
        lock: &holdfast_lock::LockState,
        tags: &TagSet,
        marker: bool,
    ) -> Result<(), String>;
}

/// A replica arriving over HTTP from another Holdfast (an authenticated replication request).
pub struct IncomingReplica {
    pub key: String,
    pub version_id: String,
    pub last_modified: UtcMillis,
    pub lock: holdfast_lock::LockState,
    pub tags: TagSet,
    pub content: IncomingContent,
}

pub enum IncomingContent {
    Object {
        headers: Box<holdfast_meta::ObjectHeaders>,
        body: crate::BodyStream,
        claims: crate::BodyClaims,
        /// The source's ETag, kept when it is a multipart one (`<md5-of-md5s>-<n>`), which the
        /// bytes alone cannot give.
        etag: Option<String>,
        /// The source's composite checksum (`<base64>-<n>`), kept as it cannot be recomputed.
        composite_checksum: Option<holdfast_meta::StoredChecksum>,
    },
    DeleteMarker,
    /// Only the lock state and tags of a version the destination has.
    MetadataOnly,
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

impl From<TransportError> for Miss {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Refused(m) => Self::Permanent(m),
            TransportError::NoSuchVersion => Self::Permanent("the destination does not have the version".into()),
            TransportError::Passing(m) => Self::Passing(m),
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
    /// Event deliveries waiting, per target (the console's backlog page).
    pub async fn event_backlog(&self) -> EngineResult<Vec<holdfast_meta::EventBacklog>> {
        Ok(self.meta.event_backlog().await?)
    }

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

    /// (versioning enabled, Object Lock enabled) of a bucket behind a remote target, asked
    /// over the wire when a replication configuration names it.
    pub async fn remote_bucket_state(&self, target: &str, bucket: &str) -> Result<(bool, bool), String> {
        let Some(transport) = self.replica_transport.get().filter(|t| t.knows(target)) else {
            return Err(format!("no replication target {target:?} is configured"));
        };
        transport.bucket_state(target, bucket).await.map_err(|e| match e {
            TransportError::Refused(m) | TransportError::Passing(m) => m,
            TransportError::NoSuchVersion => "no such version".into(),
        })
    }

    /// From now on, replicas for buckets of this store pass `gate` first.
    pub fn set_replica_gate(&self, gate: Arc<dyn ReplicaGate>) {
        let _ = self.replica_gate.set(gate);
    }

    /// From now on, remote destinations are delivered through `transport`.
    pub fn set_replica_transport(&self, transport: Arc<dyn ReplicaTransport>) {
        let _ = self.replica_transport.set(transport);
    }

    /// Records a replica sent by another Holdfast into `bucket` (the record the api read),
    /// under the source's version id and last-modified; the bytes stream into a new blob.
    pub async fn receive_replica(
        &self,
        bucket: &holdfast_meta::Bucket,
        r: IncomingReplica,
    ) -> EngineResult<ReplicaWrite> {
        crate::objects::check_key(&r.key)?;
        let sel = VersionSelector::Id(r.version_id.clone());
        let (object, fresh) = match r.content {
            IncomingContent::DeleteMarker => (None, Vec::new()),
            IncomingContent::MetadataOnly => {
                let existing = self.meta.version(&bucket.name, &r.key, &sel).await?;
                (existing.object, Vec::new())
            }
            IncomingContent::Object { headers, body, claims, etag, composite_checksum } => {
                let _claim = self.admit(claims.content_length.unwrap_or(0))?;
                self.admit_quota(&bucket.name, claims.content_length.unwrap_or(0)).await?;
                let ing = crate::ingest::ingest(
                    self.blobs.as_ref(),
                    body,
                    claims,
                    self.config.max_put_size,
                    self.inline_max(),
                )
                .await
                .map_err(|e| self.full_disk(e))?;
                let mut obj = crate::objects::object_data(&ing, *headers);
                if let Some(e) = etag.filter(|e| e.contains('-')) {
                    obj.etag = e;
                }
                if composite_checksum.is_some() {
                    obj.checksum = composite_checksum;
                }
                let fresh = obj.segments.iter().map(|s| s.blob.clone()).collect();
                (Some(obj), fresh)
            }
        };
        let replica = ReplicaVersion {
            bucket: bucket.name.clone(),
            key: r.key,
            version_id: r.version_id,
            last_modified: r.last_modified,
            object,
            tags: r.tags,
            lock: r.lock,
        };
        match self.meta.put_replica(replica, self.clock.now()).await {
            Ok(ReplicaWrite::Created) => Ok(ReplicaWrite::Created),
            Ok(ReplicaWrite::Existing) => {
                self.drop_blobs(&fresh).await;
                Ok(ReplicaWrite::Existing)
            }
            Err(e) => {
                self.drop_blobs(&fresh).await;
                Err(self.full_disk(e.into()))
            }
        }
    }

    /// One item to a bucket behind a remote target: metadata only when only the lock or the
    /// tags changed (and the whole version when the destination turns out not to have it).
    async fn deliver_remote(&self, q: &QueuedReplication, target: &str, dest: &str) -> Result<(), Miss> {
        let Some(transport) = self.replica_transport.get().filter(|t| t.knows(target)) else {
            return Err(Miss::Permanent(format!("no replication target {target:?} is configured")));
        };
        let sel = VersionSelector::Id(q.version_id.clone());
        let src = match self.meta.version(&q.bucket, &q.key, &sel).await {
            Ok(v) => v,
            Err(MetaError::NoSuchVersion | MetaError::NoSuchKey | MetaError::NoSuchBucket) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let tags = if src.is_delete_marker() {
            TagSet::new()
        } else {
            self.meta.version_tags(&q.bucket, &q.key, &sel).await?.1
        };
        let storage_class = self
            .replication_config(&q.bucket)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.rules.into_iter().find(|r| r.id == q.rule_id))
            .and_then(|r| r.destination.storage_class);
        let mut replica = OutgoingReplica {
            source_bucket: q.bucket.clone(),
            key: q.key.clone(),
            version_id: src.version_id.clone(),
            last_modified: src.last_modified,
            object: src.object.clone(),
            tags,
            lock: src.lock,
            metadata_only: matches!(q.kind, ReplicationKind::Lock | ReplicationKind::Tags),
            storage_class,
            remote_version_id: None,
            reader: src.object.clone().map(|o| {
                let blobs = Arc::clone(&self.blobs);
                Arc::new(move |start, end| crate::read::stream_span(Arc::clone(&blobs), &o, start, end)) as SpanReader
            }),
        };
        let foreign = transport.foreign(target);
        if foreign && !src.is_delete_marker() {
            replica.remote_version_id =
                self.meta.remote_version(&q.destination, &q.bucket, &q.key, &src.version_id).await?;
            // A foreign store would make a second version of a repeated delivery (a crash
            // between its answer and the settle): one it already has only gets its lock and tags.
            if replica.remote_version_id.is_some() {
                replica.metadata_only = true;
            }
        }
        if replica.metadata_only {
            match transport.send(target, dest, &replica, None).await {
                Ok(_) => return Ok(()),
                Err(TransportError::NoSuchVersion) => {
                    replica.metadata_only = false;
                    replica.remote_version_id = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let body = src.object.as_ref().map(|o| crate::read::stream_span(Arc::clone(&self.blobs), o, 0, o.size));
        let made = transport.send(target, dest, &replica, body).await.map_err(Miss::from)?;
        if let Some(remote) = made.filter(|_| foreign && !src.is_delete_marker()) {
            self.meta.set_remote_version(&q.destination, &q.bucket, &q.key, &src.version_id, &remote).await?;
        }
        Ok(())
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
        if let Some(gate) = self.replica_gate.get()
            && let Err(why) = gate.admit(dest, &q.key, &src.lock, &tags, src.is_delete_marker()).await
        {
            self.drop_blobs(&fresh).await;
            return Err(Miss::Permanent(why));
        }
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
            Some(DestinationRef::Remote { target, bucket }) => self.deliver_remote(q, target, bucket).await,
            None => Err(Miss::Permanent(format!("unknown destination {}", q.destination))),
        }
    }

    async fn outcome(&self, q: &QueuedReplication, settings: &ReplicationSettings) -> ReplicationOutcome {
        match self.deliver(q).await {
            Ok(()) => {
                record_done(q);
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
        }
    }

    /// Claims and settles one batch; returns how many items it handled.
    pub async fn replication_pass(&self, settings: &ReplicationSettings) -> EngineResult<usize> {
        let now = UtcMillis::now_system();
        let claimed = self.meta.claim_replications(now, millis(settings.lease), settings.batch).await?;
        let n = claimed.len();
        // A claim holds at most one item per key and destination (the queue hands out a key's
        // next item only once the previous one is settled): the items of a batch may go at once.
        let outcomes: Vec<(QueuedReplication, ReplicationOutcome)> = futures::stream::iter(claimed)
            .map(|q| async move {
                let outcome = self.outcome(&q, settings).await;
                (q, outcome)
            })
            .buffer_unordered(settings.concurrency.max(1))
            .collect()
            .await;
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
        // Server-wide figures without a bucket label: what a scraper that may not see
        // per-bucket series still sees (the metrics page drops gauges that name a bucket).
        let (pending, pending_bytes, failed) = backlog
            .iter()
            .fold((0u64, 0u64, 0u64), |(p, pb, f), b| (p + b.pending, pb + b.pending_bytes, f + b.failed));
        let oldest = backlog.iter().filter_map(|b| b.oldest_pending).min();
        metrics::gauge!("holdfast_replication_backlog_versions").set(pending as f64);
        metrics::gauge!("holdfast_replication_backlog_bytes").set(pending_bytes as f64);
        metrics::gauge!("holdfast_replication_failed_versions").set(failed as f64);
        let age = oldest.map_or(0, |t| now.millis().saturating_sub(t.millis()).max(0));
        metrics::gauge!("holdfast_replication_backlog_oldest_seconds").set(age as f64 / 1000.0);
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
