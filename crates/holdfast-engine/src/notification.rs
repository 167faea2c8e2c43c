//! A bucket's notification configuration, kept by the metadata store (which reads it when it
//! queues events inside a change's transaction).

use crate::{Engine, EngineResult};
use holdfast_meta::{BucketConfigKind, MetaError, NotificationConfig};

impl Engine {
    pub async fn notification_config(&self, bucket: &str) -> EngineResult<Option<NotificationConfig>> {
        let doc = self.meta.bucket_config(bucket, BucketConfigKind::Notification).await?;
        Ok(doc.map(|d| serde_json::from_str(&d)).transpose().map_err(|e| MetaError::Internal(e.to_string()))?)
    }

    /// An empty configuration removes it (no events are queued for the bucket).
    pub async fn set_notification_config(&self, bucket: &str, config: &NotificationConfig) -> EngineResult<()> {
        let doc = (!config.rules.is_empty())
            .then(|| serde_json::to_string(config).expect("notification configurations serialize"));
        Ok(self.meta.put_bucket_config(bucket, BucketConfigKind::Notification, doc).await?)
    }
}
