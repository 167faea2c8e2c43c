//! The S3 operations, in domain terms: no wire types. The engine orchestrates one request:
//! blob writes, the metadata transaction (which enforces the lock rules), and blob
//! collection afterwards.

mod buckets;
pub mod capacity;
pub mod checksum;
mod clock;
pub mod cluster;
mod error;
mod gc;
mod hash_pipe;
pub mod ingest;
pub mod inventory;
pub mod lifecycle;
mod listing;
pub mod lock_insight;
pub mod lock_jobs;
mod md5_fast;
mod multipart;
mod notification;
mod objects;
mod read;
pub mod replication;
pub mod space;
mod tagging;
mod trail;

/// The metadata model the layers above read and write through the engine: records,
/// selectors, queries, configurations and the store's errors. The store itself (the
/// `MetaStore` trait and its backends) stays behind the engine.
pub mod model {
    pub use holdfast_meta::{
        Bucket, ChecksumAlgorithm, ChecksumKind, CurrentExpiration, LifecycleConfig, LifecycleFilter, LifecycleRule,
        ListPage, ListQuery, MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS, MetaError, NotificationConfig, NotificationKind,
        NotificationRule, ObjectData, ObjectHeaders, StoredChecksum, TagSet, UploadListQuery, VersionRecord,
        VersionSelector, Versioning, WriteConditions, is_supported_event, new_version_id,
    };
    pub use holdfast_meta::{BucketQuota, MonthTally, SosapiSetting, Tally, request_view};
    pub use holdfast_meta::{
        DestinationRef, FilterForm, ReplicationBacklog, ReplicationConfig, ReplicationDestination, ReplicationFilter,
        ReplicationRule, ReplicationStatus, Upload, UploadReplica, is_well_formed_version_id,
    };
    pub use holdfast_meta::{
        Emptiable, HistoryOrder, LockAction, LockHistoryEntry, LockHistoryQuery, LockReport, MAX_LOCK_HISTORY_PAGE,
    };
    pub use holdfast_meta::{
        InventoryConfig, InventoryConfigs, InventoryFormat, InventoryFrequency, InventoryVersions,
        MAX_INVENTORY_CONFIGS,
    };
}

pub use clock::Clock;
pub use error::{BodyError, EngineError, EngineResult};
pub use ingest::{BodyClaims, BodyStream, ExpectedChecksum};
pub use multipart::{CompletedPart, CreateUpload, PartSource};
pub use objects::{CopyObject, LockChange, MAX_KEY_BYTES, MetadataDirective, PutObject};
pub use read::{ByteRange, GetObject, ObjectRead, ReadConditions};
pub use tagging::TaggingDirective;

use holdfast_blob::BlobStore;
use holdfast_meta::{MetaStore, VersionSelector, is_well_formed_version_id};
use std::sync::Arc;

/// Default of [`EngineConfig::inline_max_size`]: 64 KiB.
pub const DEFAULT_INLINE_MAX: u64 = 64 << 10;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Largest single PUT or part body (AWS: 5 GiB).
    pub max_put_size: u64,
    /// Smallest part other than the last (AWS: 5 MiB).
    pub min_part_size: u64,
    /// How long a blob waits in the collection queue before its file is removed, so that
    /// reads that started before the delete can finish.
    pub gc_grace_ms: i64,
    /// Largest object whose bytes are kept inline in the metadata store (when the store
    /// can), written and fsynced in the same commit as its version; `0` keeps every
    /// object in a blob file.
    pub inline_max_size: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self { max_put_size: 5 << 30, min_part_size: 5 << 20, gc_grace_ms: 60_000, inline_max_size: DEFAULT_INLINE_MAX }
    }
}

/// The only door below the api: the api and the binary call these methods and never the
/// metadata store itself (`meta` is private to the engine).
pub struct Engine {
    meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Clock,
    pub config: EngineConfig,
    /// Where background work (lifecycle) and clock alarms leave evidence, once set.
    audit: std::sync::OnceLock<Arc<holdfast_audit::AuditLog>>,
    /// The free-space reserve of the data volume, once set.
    space: std::sync::OnceLock<Arc<space::DiskSpace>>,
    /// Where replicas for remote targets are sent, once set.
    replica_transport: std::sync::OnceLock<Arc<dyn replication::ReplicaTransport>>,
    /// What judges a replica for a bucket of this store (the destination's policy), once set.
    replica_gate: std::sync::OnceLock<Arc<dyn replication::ReplicaGate>>,
    /// What judges each object of an inventory report (the destination's policy), once set.
    report_gate: std::sync::OnceLock<Arc<dyn inventory::ReportGate>>,
    /// What judges each task of a lock job as its creator's request (the api), once set.
    lock_job_gate: std::sync::OnceLock<Arc<dyn lock_jobs::LockJobGate>>,
}

impl Engine {
    pub async fn new(meta: Arc<dyn MetaStore>, blobs: Arc<dyn BlobStore>, config: EngineConfig) -> EngineResult<Self> {
        let clock = Clock::new(meta.clock_high_water().await?);
        Ok(Self {
            meta,
            blobs,
            clock,
            config,
            audit: std::sync::OnceLock::new(),
            space: std::sync::OnceLock::new(),
            replica_transport: std::sync::OnceLock::new(),
            replica_gate: std::sync::OnceLock::new(),
            report_gate: std::sync::OnceLock::new(),
            lock_job_gate: std::sync::OnceLock::new(),
        })
    }

    /// Sends lifecycle actions and compliance-clock alarms to the audit trail from now on.
    pub fn set_audit(&self, log: Arc<holdfast_audit::AuditLog>) {
        self.clock.set_alarm(Arc::clone(&log));
        let _ = self.audit.set(log);
    }

    pub fn audit(&self) -> Option<&Arc<holdfast_audit::AuditLog>> {
        self.audit.get()
    }

    /// Refuses new data below the free-space reserve from now on.
    pub fn set_space(&self, space: Arc<space::DiskSpace>) {
        let _ = self.space.set(space);
    }

    pub fn space(&self) -> Option<&Arc<space::DiskSpace>> {
        self.space.get()
    }

    /// Admits new data of `incoming` declared bytes against the reserve (nothing to admit
    /// when no reserve is set). Hold the claim until the write is recorded.
    pub(crate) fn admit(&self, incoming: u64) -> EngineResult<Option<space::SpaceClaim<'_>>> {
        self.space.get().map(|s| s.admit(incoming)).transpose()
    }

    /// A write the volume refused (ENOSPC, SQLITE_FULL) becomes 507 InsufficientStorage.
    pub(crate) fn full_disk(&self, e: EngineError) -> EngineError {
        match self.space.get() {
            Some(s) if e.is_disk_full() => s.refused(),
            _ => e,
        }
    }

    /// Before a delete or lock change: reads the volume, which releases the ballast when the
    /// disk is nearly exhausted, so that the change can commit.
    pub(crate) fn make_headroom(&self) {
        if let Some(s) = self.space.get()
            && let Err(e) = s.measure()
        {
            tracing::warn!(error = %e, "cannot read the data volume's free space");
        }
    }

    /// Watches the data volume every `every`: gauges, and the ballast made again once space
    /// is back.
    pub fn spawn_space_watch(self: &Arc<Self>, every: std::time::Duration) {
        let Some(space) = self.space.get().map(Arc::clone) else { return };
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let s = Arc::clone(&space);
                match tokio::task::spawn_blocking(move || s.tend()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the data volume's free space"),
                    Err(e) => tracing::warn!(error = %e, "space watch failed"),
                }
            }
        });
    }

    /// The inline limit in force: 0 when the metadata store keeps no bytes.
    pub(crate) fn inline_max(&self) -> u64 {
        if self.meta.stores_inline() { self.config.inline_max_size } else { 0 }
    }
}

/// A request's `versionId`: absent → latest; malformed → 400 InvalidArgument (R3).
pub fn version_selector(version_id: Option<String>) -> EngineResult<VersionSelector> {
    match version_id {
        None => Ok(VersionSelector::Latest),
        Some(v) if is_well_formed_version_id(&v) => Ok(VersionSelector::Id(v)),
        Some(v) => Err(EngineError::InvalidArgument {
            message: "Invalid version id specified".into(),
            name: "versionId".into(),
            value: Some(v),
        }),
    }
}
