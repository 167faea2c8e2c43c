//! S3 Inventory configurations (issue #14): what a bucket asks to be inventoried, where the
//! report goes and which fields it carries. Kept as one JSON document per bucket under
//! [`BucketConfigKind::Inventory`](crate::BucketConfigKind); report writing reads it.

use serde::{Deserialize, Serialize};

/// Most inventory configurations a bucket may have (as on AWS).
pub const MAX_INVENTORY_CONFIGS: usize = 1000;

/// Which versions a report lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryVersions {
    All,
    Current,
}

/// How often a report is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryFrequency {
    Daily,
    Weekly,
}

/// The file format of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryFormat {
    Csv,
    Parquet,
}

/// One inventory configuration, as validated by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryConfig {
    pub id: String,
    pub enabled: bool,
    /// `Filter/Prefix`; `None` when the configuration has no filter.
    pub prefix: Option<String>,
    pub versions: InventoryVersions,
    pub frequency: InventoryFrequency,
    /// AWS's optional field names, in the order given, each at most once.
    pub optional_fields: Vec<String>,
    /// The destination bucket's name (its ARN is `arn:aws:s3:::<bucket>`).
    pub destination_bucket: String,
    /// `Destination/S3BucketDestination/AccountId`, kept as given.
    pub destination_account: Option<String>,
    pub destination_prefix: Option<String>,
    pub format: InventoryFormat,
}

/// Every inventory configuration of a bucket, sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryConfigs {
    pub configs: Vec<InventoryConfig>,
}

impl InventoryConfigs {
    pub fn get(&self, id: &str) -> Option<&InventoryConfig> {
        self.configs.binary_search_by(|c| c.id.as_str().cmp(id)).ok().map(|i| &self.configs[i])
    }

    /// Adds or replaces the configuration with `config.id`.
    pub fn upsert(&mut self, config: InventoryConfig) {
        match self.configs.binary_search_by(|c| c.id.cmp(&config.id)) {
            Ok(i) => self.configs[i] = config,
            Err(i) => self.configs.insert(i, config),
        }
    }

    /// Removes the configuration `id`; whether there was one.
    pub fn remove(&mut self, id: &str) -> bool {
        match self.configs.binary_search_by(|c| c.id.as_str().cmp(id)) {
            Ok(i) => {
                self.configs.remove(i);
                true
            }
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(id: &str) -> InventoryConfig {
        InventoryConfig {
            id: id.into(),
            enabled: true,
            prefix: None,
            versions: InventoryVersions::All,
            frequency: InventoryFrequency::Daily,
            optional_fields: vec![],
            destination_bucket: "d".into(),
            destination_account: None,
            destination_prefix: None,
            format: InventoryFormat::Csv,
        }
    }

    #[test]
    fn configurations_stay_sorted_and_unique() {
        let mut all = InventoryConfigs::default();
        for id in ["b", "a", "c", "a"] {
            all.upsert(config(id));
        }
        assert_eq!(all.configs.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(all.get("b").is_some());
        assert!(all.remove("b"));
        assert!(!all.remove("b"));
        assert!(all.get("b").is_none());
    }
}
