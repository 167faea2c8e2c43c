//! A bucket's inventory configurations (issue #14), one document per bucket in the
//! metadata store. Report writing is not here yet (docs/inventory.md).

use crate::{Engine, EngineResult};
use holdfast_meta::{BucketConfigKind, InventoryConfig, InventoryConfigs, MAX_INVENTORY_CONFIGS, MetaError};

/// Attempts of a change that other writers keep overtaking before it gives up.
const ATTEMPTS: usize = 64;

/// What a change to the configurations did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryChange {
    Done,
    /// The bucket has [`MAX_INVENTORY_CONFIGS`] already and `id` is not one of them.
    TooMany,
    /// Delete of an id the bucket does not have.
    Missing,
}

fn parse(doc: Option<&str>) -> EngineResult<InventoryConfigs> {
    Ok(doc.map(serde_json::from_str).transpose().map_err(|e| MetaError::Internal(e.to_string()))?.unwrap_or_default())
}

impl Engine {
    /// Every inventory configuration of `bucket`, sorted by id.
    pub async fn inventory_configs(&self, bucket: &str) -> EngineResult<InventoryConfigs> {
        parse(self.meta.bucket_config(bucket, BucketConfigKind::Inventory).await?.as_deref())
    }

    /// Reads the document, lets `change` decide, and writes the result only if nobody wrote
    /// in between (compare-and-swap, so gateways sharing a store lose no change).
    async fn change_inventory(
        &self,
        bucket: &str,
        change: impl Fn(&mut InventoryConfigs) -> InventoryChange,
    ) -> EngineResult<InventoryChange> {
        for _ in 0..ATTEMPTS {
            let before = self.meta.bucket_config(bucket, BucketConfigKind::Inventory).await?;
            let mut all = parse(before.as_deref())?;
            let outcome = change(&mut all);
            if outcome != InventoryChange::Done {
                return Ok(outcome);
            }
            let doc = (!all.configs.is_empty())
                .then(|| serde_json::to_string(&all).expect("inventory configurations serialize"));
            if self.meta.swap_bucket_config(bucket, BucketConfigKind::Inventory, before, doc).await? {
                return Ok(InventoryChange::Done);
            }
        }
        Err(MetaError::Internal("inventory configuration: too many concurrent changes".into()).into())
    }

    /// Adds or replaces the configuration `config.id`.
    pub async fn put_inventory_config(&self, bucket: &str, config: InventoryConfig) -> EngineResult<InventoryChange> {
        self.change_inventory(bucket, |all| {
            if all.get(&config.id).is_none() && all.configs.len() >= MAX_INVENTORY_CONFIGS {
                return InventoryChange::TooMany;
            }
            all.upsert(config.clone());
            InventoryChange::Done
        })
        .await
    }

    /// Removes the configuration `id`.
    pub async fn delete_inventory_config(&self, bucket: &str, id: &str) -> EngineResult<InventoryChange> {
        self.change_inventory(
            bucket,
            |all| if all.remove(id) { InventoryChange::Done } else { InventoryChange::Missing },
        )
        .await
    }
}
