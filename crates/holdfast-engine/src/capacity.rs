//! What a bucket may hold and what it reports to backup software (issue #18): the bucket
//! quota's early admission, the per-bucket SOSAPI switch and the figures of Veeam's
//! `capacity.xml`.
//!
//! The quota is enforced where the version is written, in the store's transaction
//! (`MetaStore` implementations, `check_quota`); [`Engine::admit_quota`] only refuses a
//! write that already cannot fit before its body is read, so a refused PUT stores nothing.

use crate::{Engine, EngineError, EngineResult};
use holdfast_meta::{BucketConfigKind, BucketQuota, MetaError, SosapiSetting};

/// `capacity.xml`'s three figures, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub capacity: u64,
    pub available: u64,
    pub used: u64,
}

impl Engine {
    /// The bucket's quota, if one is set.
    pub async fn quota(&self, bucket: &str) -> EngineResult<Option<BucketQuota>> {
        let doc = self.meta.bucket_config(bucket, BucketConfigKind::Quota).await?;
        Ok(doc.map(|d| serde_json::from_str(&d)).transpose().map_err(MetaError::from)?)
    }

    /// The bucket's own SOSAPI switch (`None`: the server's default applies).
    pub async fn sosapi_setting(&self, bucket: &str) -> EngineResult<Option<bool>> {
        let doc = self.meta.bucket_config(bucket, BucketConfigKind::Sosapi).await?;
        let s: Option<SosapiSetting> = doc.map(|d| serde_json::from_str(&d)).transpose().map_err(MetaError::from)?;
        Ok(s.map(|s| s.enabled))
    }

    /// Refuses, before any byte is read, a write of `incoming` bytes that the bucket's quota
    /// cannot take now (the store judges it again when the version is written). Parts count
    /// here one at a time; only CompleteMultipartUpload's version counts against the quota.
    pub(crate) async fn admit_quota(&self, bucket: &str, incoming: u64) -> EngineResult<()> {
        let Some(quota) = self.quota(bucket).await? else { return Ok(()) };
        let used = self.meta.bucket_usage(bucket).await?.bytes;
        quota.check(used, incoming).map_err(EngineError::Meta)
    }

    /// `capacity.xml` of `bucket`: with a quota, Capacity = quota, Used = the bucket's
    /// stored bytes, Available = what is left of the quota (never below 0, never more than
    /// the volume can still take); without one, the data volume (`statvfs`) less the
    /// free-space reserve: Capacity = total − reserve, Available = free − reserve, Used =
    /// Capacity − Available.
    pub async fn capacity(&self, bucket: &str) -> EngineResult<Capacity> {
        let volume = match self.space.get() {
            Some(space) => {
                let r = space.measure()?;
                let capacity = r.total.saturating_sub(r.reserve);
                let available = r.free.saturating_sub(r.reserve).min(capacity);
                Capacity { capacity, available, used: capacity - available }
            }
            None => Capacity { capacity: 0, available: 0, used: 0 },
        };
        match self.quota(bucket).await? {
            None => Ok(volume),
            Some(q) => {
                let used = self.meta.bucket_usage(bucket).await?.bytes;
                let available = q.bytes.saturating_sub(used).min(volume.available);
                Ok(Capacity { capacity: q.bytes, available, used })
            }
        }
    }
}
