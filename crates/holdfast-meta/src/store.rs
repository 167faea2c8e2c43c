use crate::MetaResult;
use crate::model::*;
use holdfast_lock::{Bypass, DefaultRetention, Instant, LegalHold, Retention};

/// The metadata boundary. Domain-level, not key-value: each method is one atomic
/// check-and-mutate, so that implementations shared by several gateways stay correct.
/// `now` always comes from the compliance clock.
#[async_trait::async_trait]
pub trait MetaStore: Send + Sync + 'static {
    async fn create_bucket(&self, name: &str, lock_enabled: bool, now: Instant) -> MetaResult<()>;
    async fn bucket(&self, name: &str) -> MetaResult<Option<Bucket>>;
    async fn buckets(&self) -> MetaResult<Vec<Bucket>>;
    /// Refuses with BucketNotEmpty while any version or delete marker remains; aborts
    /// uploads in progress.
    async fn delete_bucket(&self, name: &str) -> MetaResult<()>;
    /// Refuses to suspend versioning on a lock-enabled bucket (B13).
    async fn set_versioning(&self, name: &str, versioning: Versioning) -> MetaResult<()>;
    /// Enables Object Lock (B4, B5) and sets or clears the default rule (B10).
    async fn set_lock_configuration(&self, name: &str, default: Option<DefaultRetention>) -> MetaResult<()>;

    async fn put_version(&self, v: NewVersion, cond: WriteConditions, now: Instant) -> MetaResult<VersionRecord>;
    async fn version(&self, bucket: &str, key: &str, sel: &VersionSelector) -> MetaResult<VersionRecord>;
    async fn delete(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        bypass: Bypass,
        now: Instant,
    ) -> MetaResult<DeleteOutcome>;
    async fn set_retention(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        retention: Option<Retention>,
        bypass: Bypass,
        now: Instant,
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
    /// current blobs of the named parts; unused parts are collected.
    async fn complete_upload(
        &self,
        upload: &Upload,
        object: ObjectData,
        cond: WriteConditions,
        now: Instant,
    ) -> MetaResult<VersionRecord>;
    /// The version an upload made when it completed, if it did and the version still exists.
    async fn completed_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<Option<VersionRecord>>;
    async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> MetaResult<()>;

    /// Blobs queued for deletion before `before`, at most `limit`. A store shared by several
    /// gateways claims them for a while (a lease), so that one collector removes each.
    async fn gc_candidates(&self, before: Instant, limit: usize) -> MetaResult<Vec<String>>;
    async fn gc_done(&self, blobs: Vec<String>) -> MetaResult<()>;
    /// Of these blob ids, those that no version, part or queue entry knows (orphans).
    async fn unknown_blobs(&self, blobs: Vec<String>) -> MetaResult<Vec<String>>;

    /// The persisted compliance-clock high-water mark (of every gateway, when shared).
    async fn clock_high_water(&self) -> MetaResult<Instant>;

    /// Several gateways: records this gateway's compliance-clock reading and returns every
    /// live gateway's clock relative to the database's, so that one far from the others is
    /// reported. A store owned by one process has nothing to compare and returns nothing.
    async fn report_clock(&self, _now: Instant) -> MetaResult<Vec<GatewayClock>> {
        Ok(Vec::new())
    }

    /// Whether other processes (gateways) share this store and its blob directory. Then no
    /// process may treat a blob file without a record as an orphan until it is old enough
    /// that no write can still be in flight.
    fn shared(&self) -> bool {
        false
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
