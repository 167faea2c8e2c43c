//! A PutObject with Object Lock headers reads its bucket record once above the store (the
//! api judges the lock headers against it and hands it to the engine), and the version gets
//! the retain-until date the access hook parsed: counted on the in-process service over the
//! embedded store, wrapped so that every `MetaStore::bucket` call is counted. (The store
//! reads the bucket once more inside its write transaction, where the version id and the
//! default retention are judged.)

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use super::{AK, SK, call, service, sign_with, unix_now};
use base64::Engine as _;
use bytes::Bytes;
use holdfast_identity::signer::Signer;
use holdfast_lock::{Bypass, DefaultRetention, LegalHold, Mode, Retention, UtcMillis};
use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::*;
use http::Method;
use md5::Digest as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[tokio::test(flavor = "current_thread")]
async fn a_locked_put_reads_its_bucket_once_above_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(SqliteMeta::open(&dir.path().join("meta.db")).unwrap());
    let counted = Arc::new(Counted { inner: Arc::clone(&sqlite), bucket_reads: AtomicUsize::new(0) });
    let s3 = service(dir.path(), Arc::clone(&counted) as Arc<dyn MetaStore>, sqlite as Arc<dyn IdentityStore>)
        .await
        .unwrap();
    let signer = Signer::new(AK, SK, "us-east-1");
    let now = unix_now().unwrap();
    let lock_bucket = vec![("x-amz-bucket-object-lock-enabled", "true".to_owned())];
    call(&s3, sign_with(&signer, Method::PUT, "/locked".into(), lock_bucket, Bytes::new(), now)).await.unwrap();

    let body = Bytes::from_static(b"kept until the date");
    let until = UtcMillis::from_millis((now + 86_400) * 1000);
    let headers = vec![
        ("content-md5", base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body))),
        ("x-amz-object-lock-mode", "GOVERNANCE".to_owned()),
        ("x-amz-object-lock-retain-until-date", until.to_iso8601()),
    ];
    counted.bucket_reads.store(0, Ordering::Relaxed);
    call(&s3, sign_with(&signer, Method::PUT, "/locked/k".into(), headers, body, now)).await.unwrap();
    assert_eq!(counted.bucket_reads.load(Ordering::Relaxed), 1, "bucket reads of one PutObject above the store");

    // The date the access hook parsed is the one the version got.
    let rec = counted.version("locked", "k", &VersionSelector::Latest).await.unwrap();
    assert_eq!(rec.lock.retention, Some(Retention { mode: Mode::Governance, until }));
}

/// A store that counts [`MetaStore::bucket`] calls and hands every call to `inner`.
struct Counted {
    inner: Arc<SqliteMeta>,
    bucket_reads: AtomicUsize,
}

#[async_trait::async_trait]
impl MetaStore for Counted {
    async fn create_bucket(&self, name: &str, lock_enabled: bool, now: UtcMillis) -> MetaResult<()> {
        self.inner.create_bucket(name, lock_enabled, now).await
    }

    async fn bucket(&self, name: &str) -> MetaResult<Option<Bucket>> {
        self.bucket_reads.fetch_add(1, Ordering::Relaxed);
        self.inner.bucket(name).await
    }

    async fn buckets(&self) -> MetaResult<Vec<Bucket>> {
        self.inner.buckets().await
    }

    async fn delete_bucket(&self, name: &str) -> MetaResult<()> {
        self.inner.delete_bucket(name).await
    }

    async fn set_versioning(&self, name: &str, versioning: Versioning) -> MetaResult<()> {
        self.inner.set_versioning(name, versioning).await
    }

    async fn set_lock_configuration(&self, name: &str, default: Option<DefaultRetention>) -> MetaResult<()> {
        self.inner.set_lock_configuration(name, default).await
    }

    async fn put_version(
        &self,
        v: NewVersion,
        tags: TagSet,
        cond: WriteConditions,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord> {
        self.inner.put_version(v, tags, cond, now).await
    }

    fn stores_inline(&self) -> bool {
        self.inner.stores_inline()
    }

    async fn version(&self, bucket: &str, key: &str, sel: &VersionSelector) -> MetaResult<VersionRecord> {
        self.inner.version(bucket, key, sel).await
    }

    async fn delete(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        bypass: Bypass,
        now: UtcMillis,
    ) -> MetaResult<DeleteOutcome> {
        self.inner.delete(bucket, key, sel, bypass, now).await
    }

    async fn set_retention(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        retention: Option<Retention>,
        bypass: Bypass,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord> {
        self.inner.set_retention(bucket, key, sel, retention, bypass, now).await
    }

    async fn set_legal_hold(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        hold: LegalHold,
    ) -> MetaResult<VersionRecord> {
        self.inner.set_legal_hold(bucket, key, sel, hold).await
    }

    async fn list_objects(&self, q: ListQuery) -> MetaResult<ListPage> {
        self.inner.list_objects(q).await
    }

    async fn list_versions(&self, q: ListQuery) -> MetaResult<ListPage> {
        self.inner.list_versions(q).await
    }

    async fn create_upload(&self, upload: Upload) -> MetaResult<()> {
        self.inner.create_upload(upload).await
    }

    async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Upload> {
        self.inner.upload(bucket, key, upload_id).await
    }

    async fn put_part(&self, bucket: &str, key: &str, upload_id: &str, part: Part) -> MetaResult<()> {
        self.inner.put_part(bucket, key, upload_id, part).await
    }

    async fn parts(&self, upload_id: &str, after: u32, max: usize) -> MetaResult<(Vec<Part>, bool)> {
        self.inner.parts(upload_id, after, max).await
    }

    async fn list_uploads(&self, q: UploadListQuery) -> MetaResult<UploadPage> {
        self.inner.list_uploads(q).await
    }

    async fn complete_upload(
        &self,
        upload: &Upload,
        object: ObjectData,
        cond: WriteConditions,
        now: UtcMillis,
    ) -> MetaResult<VersionRecord> {
        self.inner.complete_upload(upload, object, cond, now).await
    }

    async fn completed_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Option<VersionRecord>> {
        self.inner.completed_upload(bucket, key, upload_id).await
    }

    async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<()> {
        self.inner.abort_upload(bucket, key, upload_id).await
    }

    async fn gc_candidates(&self, before: UtcMillis, limit: usize) -> MetaResult<Vec<String>> {
        self.inner.gc_candidates(before, limit).await
    }

    async fn gc_done(&self, blobs: Vec<String>) -> MetaResult<()> {
        self.inner.gc_done(blobs).await
    }

    async fn unknown_blobs(&self, blobs: Vec<String>) -> MetaResult<Vec<String>> {
        self.inner.unknown_blobs(blobs).await
    }

    async fn clock_high_water(&self) -> MetaResult<UtcMillis> {
        self.inner.clock_high_water().await
    }

    async fn report_clock(&self, now: UtcMillis) -> MetaResult<Vec<GatewayClock>> {
        self.inner.report_clock(now).await
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    async fn acquire_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> MetaResult<bool> {
        self.inner.acquire_lease(name, holder, ttl_ms).await
    }

    async fn put_bucket_config(&self, bucket: &str, kind: BucketConfigKind, doc: Option<String>) -> MetaResult<()> {
        self.inner.put_bucket_config(bucket, kind, doc).await
    }

    async fn bucket_config(&self, bucket: &str, kind: BucketConfigKind) -> MetaResult<Option<String>> {
        self.inner.bucket_config(bucket, kind).await
    }

    async fn swap_bucket_config(
        &self,
        bucket: &str,
        kind: BucketConfigKind,
        expected: Option<String>,
        doc: Option<String>,
    ) -> MetaResult<bool> {
        self.inner.swap_bucket_config(bucket, kind, expected, doc).await
    }

    async fn event_backlog(&self) -> MetaResult<Vec<holdfast_meta::EventBacklog>> {
        self.inner.event_backlog().await
    }

    async fn claim_events(&self, now: UtcMillis, lease_ms: i64, limit: usize) -> MetaResult<Vec<QueuedEvent>> {
        self.inner.claim_events(now, lease_ms, limit).await
    }

    async fn settle_events(&self, outcomes: Vec<(i64, Settlement)>) -> MetaResult<()> {
        self.inner.settle_events(outcomes).await
    }

    async fn lifecycle_delete(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        action: LifecycleAction,
        now: UtcMillis,
    ) -> MetaResult<DeleteOutcome> {
        self.inner.lifecycle_delete(bucket, key, version_id, action, now).await
    }

    async fn lock_report(&self, bucket: Option<&str>, now: UtcMillis) -> MetaResult<Vec<LockReport>> {
        self.inner.lock_report(bucket, now).await
    }

    async fn lock_history(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        q: LockHistoryQuery,
    ) -> MetaResult<LockHistory> {
        self.inner.lock_history(bucket, key, sel, q).await
    }

    async fn bucket_usage(&self, bucket: &str) -> MetaResult<holdfast_meta::Tally> {
        self.inner.bucket_usage(bucket).await
    }

    async fn version_for_read(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        with_tags: bool,
    ) -> MetaResult<(VersionRecord, Option<TagSet>)> {
        self.inner.version_for_read(bucket, key, sel, with_tags).await
    }

    async fn version_tags(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
    ) -> MetaResult<(VersionRecord, TagSet)> {
        self.inner.version_tags(bucket, key, sel).await
    }

    async fn set_version_tags(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        tags: TagSet,
    ) -> MetaResult<VersionRecord> {
        self.inner.set_version_tags(bucket, key, sel, tags).await
    }

    async fn set_upload_tags(&self, bucket: &str, key: &str, upload_id: &str, tags: TagSet) -> MetaResult<()> {
        self.inner.set_upload_tags(bucket, key, upload_id, tags).await
    }

    async fn key_tags(&self, bucket: &str, key: &str) -> MetaResult<Vec<(String, TagSet)>> {
        self.inner.key_tags(bucket, key).await
    }

    async fn put_lock_job(&self, job: LockJob) -> MetaResult<LockJob> {
        self.inner.put_lock_job(job).await
    }

    async fn lock_jobs(&self, id: Option<&str>) -> MetaResult<Vec<LockJob>> {
        self.inner.lock_jobs(id).await
    }

    async fn update_lock_job(&self, id: &str, change: LockJobChange) -> MetaResult<Option<LockJob>> {
        self.inner.update_lock_job(id, change).await
    }

    async fn add_lock_job_tasks(&self, id: &str, tasks: Vec<LockJobTask>) -> MetaResult<()> {
        self.inner.add_lock_job_tasks(id, tasks).await
    }

    async fn lock_job_tasks(&self, id: &str, after: i64, limit: usize) -> MetaResult<Vec<LockJobTask>> {
        self.inner.lock_job_tasks(id, after, limit).await
    }

    async fn run_lock_job_batch(&self, batch: LockJobBatch) -> MetaResult<Option<Vec<(i64, TaskResult)>>> {
        self.inner.run_lock_job_batch(batch).await
    }

    async fn audit_append(&self, records: Vec<String>) -> MetaResult<Vec<i64>> {
        self.inner.audit_append(records).await
    }

    async fn audit_pending(&self, limit: usize) -> MetaResult<Vec<(i64, String)>> {
        self.inner.audit_pending(limit).await
    }

    async fn audit_remove(&self, ids: Vec<i64>) -> MetaResult<()> {
        self.inner.audit_remove(ids).await
    }

    async fn audit_backlog(&self) -> MetaResult<Vec<String>> {
        self.inner.audit_backlog().await
    }

    fn set_audit_chain(&self, chain: &str) {
        self.inner.set_audit_chain(chain)
    }

    fn startup_notices(&self) -> Vec<holdfast_audit::AuditRecord> {
        self.inner.startup_notices()
    }

    async fn claim_replications(
        &self,
        now: UtcMillis,
        lease_ms: i64,
        limit: usize,
    ) -> MetaResult<Vec<QueuedReplication>> {
        self.inner.claim_replications(now, lease_ms, limit).await
    }

    async fn settle_replications(&self, outcomes: Vec<(QueuedReplication, ReplicationOutcome)>) -> MetaResult<()> {
        self.inner.settle_replications(outcomes).await
    }

    async fn put_replica(&self, r: ReplicaVersion, now: UtcMillis) -> MetaResult<ReplicaWrite> {
        self.inner.put_replica(r, now).await
    }

    async fn complete_replica_upload(
        &self,
        upload: &Upload,
        r: ReplicaVersion,
        now: UtcMillis,
    ) -> MetaResult<ReplicaWrite> {
        self.inner.complete_replica_upload(upload, r, now).await
    }

    async fn requeue_replication(
        &self,
        bucket: &str,
        prefix: &str,
        after: i64,
        limit: usize,
        now: UtcMillis,
    ) -> MetaResult<(u64, Option<i64>)> {
        self.inner.requeue_replication(bucket, prefix, after, limit, now).await
    }

    async fn replication_backlog(&self, bucket: Option<&str>) -> MetaResult<Vec<ReplicationBacklog>> {
        self.inner.replication_backlog(bucket).await
    }

    async fn remote_version(
        &self,
        destination: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> MetaResult<Option<String>> {
        self.inner.remote_version(destination, bucket, key, version_id).await
    }

    async fn set_remote_version(
        &self,
        destination: &str,
        bucket: &str,
        key: &str,
        version_id: &str,
        remote_version_id: &str,
    ) -> MetaResult<()> {
        self.inner.set_remote_version(destination, bucket, key, version_id, remote_version_id).await
    }
}
