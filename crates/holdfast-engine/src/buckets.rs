//! Bucket calls: the api and the binary reach a bucket's record and its settings through
//! the engine, never through the metadata store (the engine is the only door below the api).
//! Each is one store call; the store judges the rules (B1, B4, B5, B13) in its transaction.

use crate::{Engine, EngineResult};
use holdfast_lock::DefaultRetention;
use holdfast_meta::{Bucket, Versioning};

impl Engine {
    /// The bucket's record, if it exists. A request that needs it reads it once and hands it
    /// on (see [`Engine::put_object`]).
    pub async fn bucket(&self, name: &str) -> EngineResult<Option<Bucket>> {
        Ok(self.meta.bucket(name).await?)
    }

    /// Every bucket, in name order.
    pub async fn buckets(&self) -> EngineResult<Vec<Bucket>> {
        Ok(self.meta.buckets().await?)
    }

    /// Creates a bucket at the compliance clock's now (lock-enabled buckets are versioned).
    pub async fn create_bucket(&self, name: &str, lock_enabled: bool) -> EngineResult<()> {
        Ok(self.meta.create_bucket(name, lock_enabled, self.clock.now()).await?)
    }

    /// Refuses while any version or delete marker remains; aborts uploads in progress.
    pub async fn delete_bucket(&self, name: &str) -> EngineResult<()> {
        Ok(self.meta.delete_bucket(name).await?)
    }

    /// Refuses to suspend versioning on a lock-enabled bucket (B13).
    pub async fn set_versioning(&self, name: &str, versioning: Versioning) -> EngineResult<()> {
        Ok(self.meta.set_versioning(name, versioning).await?)
    }

    /// Enables Object Lock and sets or clears the default retention (B4, B5, B10).
    pub async fn set_lock_configuration(&self, name: &str, default: Option<DefaultRetention>) -> EngineResult<()> {
        Ok(self.meta.set_lock_configuration(name, default).await?)
    }
}
