use crate::MetaResult;
use crate::model::*;
use crate::{BucketConfigKind, LifecycleAction, LockReport, QueuedEvent, Settlement, TagSet};
use crate::{LockJob, LockJobBatch, LockJobChange, LockJobTask, TaskResult};
use crate::{QueuedReplication, ReplicaVersion, ReplicaWrite, ReplicationBacklog, ReplicationOutcome};
use holdfast_lock::{Bypass, DefaultRetention, LegalHold, Retention, UtcMillis};

/// The metadata boundary. Domain-level, not key-value: each method is one atomic
/// check-and-mutate, so that implementations shared by several gateways stay correct.
/// `now` always comes from the compliance clock.
#[async_trait::async_trait]
pub trait MetaStore: Send + Sync + 'static {
    async fn create_bucket(&self, name: &str, lock_enabled: bool, now: UtcMillis) -> MetaResult<()>;
    async fn bucket(&self, name: &str) -> MetaResult<Option<Bucket>>;
    async fn buckets(&self) -> MetaResult<Vec<Bucket>>;
    /// Refuses with BucketNotEmpty while any version or delete marker remains; aborts
    /// uploads in progress.
    async fn delete_bucket(&self, name: &str) -> MetaResult<()>;
    /// Refuses to suspend versioning on a lock-enabled bucket (B13).
    async fn set_versioning(&self, name: &str, versioning: Versioning) -> MetaResult<()>;
    /// Enables Object Lock (B4, B5) and sets or clears the default rule (B10).
    async fn set_lock_configuration(&self, name: &str, default: Option<DefaultRetention>) -> MetaResult<()>;

    /// Records a new version with its tags (PutObject with `x-amz-tagging`, CopyObject; an
    /// empty set stores none), in one transaction. When the object carries `inline` bytes
    /// (only if [`Self::stores_inline`]), they are kept in the same transaction too.
    async fn put_version(
        &self,
        v: NewVersion,
        tags: TagSet,
        cond: WriteConditions,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord>;
    /// Whether this store keeps small objects' bytes itself (`ObjectData::inline`).
    /// A store that answers false refuses versions with inline bytes.
    fn stores_inline(&self) -> bool {
        false
    }
    /// The version a read names, with its inline bytes when it has them.
    async fn version(&self, bucket: &str, key: &str, sel: &VersionSelector) -> MetaResult<VersionRecord>;
    async fn delete(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        bypass: Bypass,
        now: UtcMillis,
    ) -> MetaResult<DeleteOutcome>;
    async fn set_retention(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        retention: Option<Retention>,
        bypass: Bypass,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord>;
    async fn set_legal_hold(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        hold: LegalHold,
    ) -> MetaResult<VersionRecord>;

    async fn list_objects(&self, q: ListQuery) -> MetaResult<ListPage>;
    async fn list_versions(&self, q: ListQuery) -> MetaResult<ListPage>;

    async fn create_upload(&self, upload: Upload) -> MetaResult<()>;
    async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Upload>;
    /// Records a part; a part with the same number is replaced and its blob collected.
    async fn put_part(&self, bucket: &str, key: &str, upload_id: &str, part: Part) -> MetaResult<()>;
    async fn parts(&self, upload_id: &str, after: u32, max: usize) -> MetaResult<(Vec<Part>, bool)>;
    async fn list_uploads(&self, q: UploadListQuery) -> MetaResult<UploadPage>;
    /// Turns the upload into a version made of `object.segments`, which must still be the
    /// current blobs of the named parts; unused parts are collected. The version gets the
    /// tags set with [`set_upload_tags`](Self::set_upload_tags).
    async fn complete_upload(
        &self,
        upload: &Upload,
        object: ObjectData,
        cond: WriteConditions,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord>;
    /// The version an upload made when it completed, if it did and the version still exists.
    async fn completed_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Option<VersionRecord>>;
    async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<()>;

    /// Blobs queued for deletion before `before`, at most `limit`. A store shared by several
    /// gateways claims them for a while (a lease), so that one collector removes each.
    async fn gc_candidates(&self, before: UtcMillis, limit: usize) -> MetaResult<Vec<String>>;
    async fn gc_done(&self, blobs: Vec<String>) -> MetaResult<()>;
    /// Of these blob ids, those that no version, part or queue entry knows (orphans).
    async fn unknown_blobs(&self, blobs: Vec<String>) -> MetaResult<Vec<String>>;

    /// The persisted compliance-clock high-water mark (of every gateway, when shared).
    async fn clock_high_water(&self) -> MetaResult<UtcMillis>;

    /// Several gateways: records this gateway's compliance-clock reading and returns every
    /// live gateway's clock relative to the database's, so that one far from the others is
    /// reported. A store owned by one process has nothing to compare and returns nothing.
    async fn report_clock(&self, _now: UtcMillis) -> MetaResult<Vec<GatewayClock>> {
        Ok(Vec::new())
    }

    /// Whether other processes (gateways) share this store and its blob directory. Then no
    /// process may treat a blob file without a record as an orphan until it is old enough
    /// that no write can still be in flight.
    fn shared(&self) -> bool {
        false
    }

    /// Takes or renews the lease `name` (a background job that one gateway at a time runs,
    /// such as the lifecycle pass) for `holder` until `ttl_ms` from now by the store's clock,
    /// in one transaction. Granted (true) when nobody holds it, when the last holder's lease
    /// has expired, or when `holder` holds it already (a renewal); refused (false) while
    /// another holder's lease runs. A store that one process owns has nobody to share a
    /// job with: it grants every request (a shared store that does not implement leases
    /// grants none, so that no job runs twice at once).
    async fn acquire_lease(&self, _name: &str, _holder: &str, _ttl_ms: i64) -> MetaResult<bool> {
        Ok(!self.shared())
    }

    // --- Bucket documents, events, lifecycle and the lock report ----------------

    /// Sets (`Some`) or removes (`None`) a bucket-level document (notification or lifecycle
    /// configuration, JSON of the records in this crate). NoSuchBucket if the bucket does
    /// not exist; the documents go with the bucket when it is deleted.
    async fn put_bucket_config(&self, bucket: &str, kind: BucketConfigKind, doc: Option<String>) -> MetaResult<()>;
    /// The document set by [`put_bucket_config`](Self::put_bucket_config), if any.
    async fn bucket_config(&self, bucket: &str, kind: BucketConfigKind) -> MetaResult<Option<String>>;
    /// Compare-and-swap of a bucket-level document: sets `doc` (`None` removes it) only if
    /// the stored document is still `expected`, in one transaction; false (nothing changed)
    /// when another writer changed it in between. NoSuchBucket if the bucket does not exist.
    async fn swap_bucket_config(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
        expected: Option<String>,
        doc: Option<String>,
    ) -> MetaResult<bool>;

    /// Event deliveries due at `now`, at most `limit`, oldest first. Each one claimed is
    /// leased: it is not handed out again before `now + lease_ms` unless settled.
    /// (Every method that changes a version queues its events in the same transaction, one
    /// delivery per rule of the bucket's notification configuration that matches; see
    /// [`NotificationConfig::deliveries`](crate::NotificationConfig::deliveries).)
    async fn claim_events(&self, now: UtcMillis, lease_ms: i64, limit: usize) -> MetaResult<Vec<QueuedEvent>>;

    /// Deliveries waiting, per target, most first.
    async fn event_backlog(&self) -> MetaResult<Vec<crate::EventBacklog>>;
    /// Removes delivered events and reschedules failed ones (attempts + 1), in one transaction.
    async fn settle_events(&self, outcomes: Vec<(i64, Settlement)>) -> MetaResult<()>;

    // --- Replication ----------------------------------------------------------------
    // Every method that writes a new version, a delete marker made by DeleteObject, a lock
    // change or a tag change queues one item per destination of the bucket's replication
    // configuration ([`ReplicationConfig::destinations`](crate::ReplicationConfig::destinations))
    // in the same transaction, and marks the version PENDING. Replica writes queue nothing.

    /// Replication items due at `now`, at most `limit`, oldest first, and never one while an
    /// older item of the same key and destination is unsettled (a key's changes arrive in
    /// order). Each one claimed is leased until `now + lease_ms`.
    async fn claim_replications(
        &self,
        now: UtcMillis,
        lease_ms: i64,
        limit: usize,
    ) -> MetaResult<Vec<QueuedReplication>>;
    /// Settles claimed items and sets each version's status from what remains queued for it
    /// (PENDING while any item waits, FAILED when one failed for good, COMPLETED when none is
    /// left), in one transaction.
    async fn settle_replications(&self, outcomes: Vec<(QueuedReplication, ReplicationOutcome)>) -> MetaResult<()>;
    /// Records a replica in its bucket (which must have versioning enabled): a new version
    /// (or delete marker) with the source's id and last-modified, its tags, the lock state the
    /// source had (the bucket's default when the source had none, W9) and status REPLICA.
    /// When the version is already there, only its lock grows
    /// ([`holdfast_lock::replica_lock`]) and its tags follow. A replica's lock checks are
    /// those of the destination: a `null` id or an existing version of another content is refused.
    async fn put_replica(&self, r: ReplicaVersion, now: UtcMillis) -> MetaResult<ReplicaWrite>;
    /// Completes a replication upload ([`Upload::replica`](crate::Upload::replica)) as
    /// [`put_replica`](Self::put_replica) records `r`, whose segments must be parts of the
    /// upload still there, in one transaction that also forgets the upload: parts not used (all
    /// of them when the version was already there) are queued for collection. `NoSuchUpload`
    /// when the upload is gone.
    async fn complete_replica_upload(
        &self,
        upload: &Upload,
        r: ReplicaVersion,
        now: UtcMillis,
    ) -> MetaResult<ReplicaWrite>;
    /// Queues the versions of `bucket` under `prefix` that were never queued (they predate the
    /// rule) or that FAILED, with `seq` above `after`, examining at most `limit` versions; returns how many were
    /// queued and the last `seq` examined (`None` when the bucket has no more).
    async fn requeue_replication(
        &self,
        bucket: &str,
        prefix: &str,
        after: i64,
        limit: usize,
        now: UtcMillis,
    ) -> MetaResult<(u64, Option<i64>)>;
    /// The version id a foreign S3 destination (`destination`, the rule's ARN) gave the
    /// replica of `version_id`, as its PUT answered it (`None` when none was recorded).
    async fn remote_version(
        &self,
        destination: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> MetaResult<Option<String>>;
    /// Records the version id a foreign S3 destination gave the replica of `version_id`.
    async fn set_remote_version(
        &self,
        destination: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
        remote_version_id: &str,
    ) -> MetaResult<()>;
    /// What waits or failed, per bucket and rule (one bucket, or all).
    async fn replication_backlog(&self, bucket: Option<&str>) -> MetaResult<Vec<ReplicationBacklog>>;

    /// The lifecycle worker's only way to remove or hide a version: re-checks in the
    /// transaction that `version_id` is still in the state `action` expects (otherwise
    /// PreconditionFailed), then deletes exactly as [`delete`](Self::delete) does, lock check
    /// included (Locked when protected). Emits `s3:LifecycleExpiration:*` events.
    async fn lifecycle_delete(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        action: LifecycleAction,
        now: UtcMillis,
    ) -> MetaResult<DeleteOutcome>;

    /// What is protected at `now`, per bucket (one bucket, or every bucket in name order).
    async fn lock_report(&self, bucket: Option<&str>, now: UtcMillis) -> MetaResult<Vec<LockReport>>;

    /// The version `sel` names (as [`version`](Self::version) resolves it, a delete marker
    /// included, without inline bytes) and a page of its lock history: one entry per audited
    /// change of its lock, each inserted with the change's audit record in the change's
    /// transaction ([`LockHistoryEntry`](crate::LockHistoryEntry)). Entries go with the version.
    async fn lock_history(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        q: crate::LockHistoryQuery,
    ) -> MetaResult<crate::LockHistory>;

    /// The versions (delete markers left out) and bytes stored in `bucket`, noncurrent
    /// versions included: what its quota counts. NoSuchBucket if it does not exist.
    async fn bucket_usage(&self, bucket: &str) -> MetaResult<crate::Tally>;

    // --- Object tags ------------------------------------------------------------
    // Tags are metadata, not protected data: they change on any version whatever its lock
    // state, and go with their version ([`put_version`](Self::put_version) writes them).

    /// [`version`](Self::version) and, when `with_tags` and it is an object version, its tags:
    /// what GET and HEAD need (`x-amz-tagging-count`). A store that can reads both in one trip.
    async fn version_for_read(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        with_tags: bool,
    ) -> MetaResult<(VersionRecord, Option<TagSet>)> {
        let rec = self.version(bucket, key, sel).await?;
        if !with_tags || rec.is_delete_marker() {
            return Ok((rec, None));
        }
        let tags = self.version_tags(bucket, key, &VersionSelector::Id(rec.version_id.clone())).await?.1;
        Ok((rec, Some(tags)))
    }
    /// The version `sel` names (as [`version`](Self::version) resolves it, without inline
    /// bytes) and its tags. A delete marker is `DeleteMarker`.
    async fn version_tags(&self, bucket: &str, key: &str, sel: &VersionSelector)
    -> MetaResult<(VersionRecord, TagSet)>;
    /// Replaces the tags of the version `sel` names; an empty set removes them. A delete
    /// marker is `DeleteMarker`. Returns the version.
    async fn set_version_tags(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        tags: TagSet,
    ) -> MetaResult<VersionRecord>;
    /// The tags the object of a multipart upload gets when it completes:
    /// [`complete_upload`](Self::complete_upload) gives them to the version it records, in
    /// its transaction. They go with the upload when it is aborted.
    async fn set_upload_tags(&self, bucket: &str, key: &str, upload_id: &str, tags: TagSet) -> MetaResult<()>;
    /// The tags of every version of one key that has any, by version id (lifecycle filters).
    async fn key_tags(&self, bucket: &str, key: &str) -> MetaResult<Vec<(String, TagSet)>>;

    // --- Lock jobs (issue #14) ----------------------------------------------------

    /// Records a new job, or returns the job already recorded with the same client token.
    async fn put_lock_job(&self, job: LockJob) -> MetaResult<LockJob>;
    /// One job (`Some(id)`), or every job, newest first.
    async fn lock_jobs(&self, id: Option<&str>) -> MetaResult<Vec<LockJob>>;
    /// Changes a job's status or priority in one transaction; `None` when there is no such
    /// job, PreconditionFailed when its status is not one the change starts from.
    async fn update_lock_job(&self, id: &str, change: LockJobChange) -> MetaResult<Option<LockJob>>;
    /// Adds tasks to a job being prepared; a task whose `seq` is there already is kept as
    /// it is (preparing again after a restart adds nothing twice).
    async fn add_lock_job_tasks(&self, id: &str, tasks: Vec<LockJobTask>) -> MetaResult<()>;
    /// Tasks with `seq` above `after`, in order, at most `limit`.
    async fn lock_job_tasks(&self, id: &str, after: i64, limit: usize) -> MetaResult<Vec<LockJobTask>>;
    /// Runs a batch in ONE transaction: each task's change through the same function as
    /// the single PutObjectLegalHold / PutObjectRetention (lock check included) with its
    /// audit record, each task's result, the job's counters and its cursor. `Ok(None)` and
    /// nothing changed when the job's cursor is not `batch.from` or it is not running
    /// (another worker ran the batch, or the job ended).
    async fn run_lock_job_batch(&self, batch: LockJobBatch) -> MetaResult<Option<Vec<(i64, TaskResult)>>>;

    /// The audit outbox: every write made with an actor in scope commits its
    /// record there in its own transaction. These three calls are the trail follower's:
    /// commit standalone records (denials, server events) and return their ids ...
    async fn audit_append(&self, records: Vec<String>) -> MetaResult<Vec<i64>>;
    /// ... the oldest committed records of this process's chain, in order ...
    async fn audit_pending(&self, limit: usize) -> MetaResult<Vec<(i64, String)>>;
    /// ... and forget the ones the files hold.
    async fn audit_remove(&self, ids: Vec<i64>) -> MetaResult<()>;
    /// Every record still in the outbox, of every chain, oldest first (for verification).
    async fn audit_backlog(&self) -> MetaResult<Vec<String>>;
    /// Names the chain this process's records belong to (gateways sharing a store each
    /// write their own chain); the embedded store has one chain.
    fn set_audit_chain(&self, _chain: &str) {}
    /// Records the store has to put in the audit trail once it is open (a WORM guard
    /// restored at start, say).
    fn startup_notices(&self) -> Vec<holdfast_audit::AuditRecord> {
        Vec::new()
    }
}

/// One gateway's last clock reading, as the shared store saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayClock {
    pub gateway: String,
    /// The gateway's compliance clock minus the database clock at the moment it reported.
    pub offset_ms: i64,
    /// Whether this is the gateway that asked.
    pub this: bool,
}
