//! A bucket's inventory configurations (issue #14), one document per bucket in the
//! metadata store. Report writing is not here yet (docs/inventory.md).

use crate::{Engine, EngineResult};
use holdfast_meta::{BucketConfigKind, InventoryConfig, InventoryConfigs, MAX_INVENTORY_CONFIGS, MetaError};

/// Serialises the read-modify-write of the document within this process (several
/// gateways on one PostgreSQL store may still race: a known limit, docs/inventory.md).
static WRITE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a change to the configurations did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryChange {
    Done,
    /// The bucket has [`MAX_INVENTORY_CONFIGS`] already and `id` is not one of them.
    TooMany,
    /// Delete of an id the bucket does not have.
    Missing,
}

impl Engine {
    /// Every inventory configuration of `bucket`, sorted by id.
    pub async fn inventory_configs(&self, bucket: &str) -> EngineResult<InventoryConfigs> {
        let doc = self.meta.bucket_config(bucket, BucketConfigKind::Inventory).await?;
        Ok(doc
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| MetaError::Internal(e.to_string()))?
            .unwrap_or_default())
    }

    async fn store_inventory_configs(&self, bucket: &str, all: &InventoryConfigs) -> EngineResult<()> {
        let doc =
            (!all.configs.is_empty()).then(|| serde_json::to_string(all).expect("inventory configurations serialize"));
        Ok(self.meta.put_bucket_config(bucket, BucketConfigKind::Inventory, doc).await?)
    }

    /// Adds or replaces the configuration `config.id`.
    pub async fn put_inventory_config(&self, bucket: &str, config: InventoryConfig) -> EngineResult<InventoryChange> {
        let _guard = WRITE.lock().await;
        let mut all = self.inventory_configs(bucket).await?;
        if all.get(&config.id).is_none() && all.configs.len() >= MAX_INVENTORY_CONFIGS {
            return Ok(InventoryChange::TooMany);
        }
        all.upsert(config);
        self.store_inventory_configs(bucket, &all).await?;
        Ok(InventoryChange::Done)
    }

    /// Removes the configuration `id`.
    pub async fn delete_inventory_config(&self, bucket: &str, id: &str) -> EngineResult<InventoryChange> {
        let _guard = WRITE.lock().await;
        let mut all = self.inventory_configs(bucket).await?;
        if !all.remove(id) {
            return Ok(InventoryChange::Missing);
        }
        self.store_inventory_configs(bucket, &all).await?;
        Ok(InventoryChange::Done)
    }
}
