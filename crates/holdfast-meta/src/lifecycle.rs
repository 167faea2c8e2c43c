//! Lifecycle configuration records, the lifecycle deletion request, and the lock report.
//! Which version a rule expires is decided by the engine's lifecycle worker; the store only
//! carries out [`LifecycleAction`]s, through the same lock check as every delete.

use crate::TagSet;
use holdfast_lock::UtcMillis;
use serde::{Deserialize, Serialize};

/// Which versions a rule applies to: every condition holds (AWS `Filter`, `Filter/And`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleFilter {
    pub prefix: String,
    /// `ObjectSizeGreaterThan` (strict), bytes.
    pub size_greater_than: Option<u64>,
    /// `ObjectSizeLessThan` (strict), bytes.
    pub size_less_than: Option<u64>,
    /// `Tag` / `And/Tag`: the version must carry every one of these tags, key and value
    /// exactly (an empty value matches only an empty value); other tags do not matter.
    #[serde(default, skip_serializing_if = "TagSet::is_empty")]
    pub tags: TagSet,
}

impl LifecycleFilter {
    /// Whether a version of this key and size, carrying `tags` (empty when it has none), is
    /// in scope. A delete marker has no size and no tags: it is judged by prefix only, and a
    /// rule with a tag filter never applies to one.
    pub fn applies(&self, key: &str, size: Option<u64>, tags: &TagSet) -> bool {
        if !key.starts_with(&self.prefix) {
            return false;
        }
        let Some(size) = size else { return self.tags.is_empty() };
        self.size_greater_than.is_none_or(|g| size > g)
            && self.size_less_than.is_none_or(|l| size < l)
            && self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CurrentExpiration {
    /// Current versions expire this many lifecycle days after they were written.
    Days(u32),
    /// Current versions expire once this instant has passed.
    Date(UtcMillis),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    pub filter: LifecycleFilter,
    pub expiration: Option<CurrentExpiration>,
    /// Remove a delete marker that is the current version and has no older versions.
    pub expired_object_delete_marker: bool,
    /// Noncurrent versions expire this many days after they became noncurrent...
    pub noncurrent_days: Option<u32>,
    /// ...except the newest N noncurrent versions of each key.
    pub newer_noncurrent_versions: Option<u32>,
    /// Abort multipart uploads this many days after they were initiated.
    pub abort_incomplete_days: Option<u32>,
}

/// A bucket's lifecycle configuration (stored as JSON under
/// [`BucketConfigKind::Lifecycle`](crate::BucketConfigKind)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfig {
    pub rules: Vec<LifecycleRule>,
}

/// What the lifecycle worker asks the store to do with one version. The store re-checks, in
/// the transaction, that the version is still in the state the worker saw, and then runs
/// the very same delete (and lock check) as DeleteObject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleAction {
    /// Expiration of the current version: in a versioned bucket a delete marker goes on top
    /// (D11: allowed even over a protected version); otherwise the version is removed
    /// through the lock check. Skipped if the version is no longer current.
    ExpireCurrent,
    /// Permanent removal of a noncurrent version, through the lock check. Skipped if the
    /// version has become current again.
    ExpireNoncurrent,
    /// Removal of a delete marker that is current and the key's only version.
    RemoveExpiredMarker,
}

/// Opaque bucket-level documents kept by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketConfigKind {
    /// JSON of [`NotificationConfig`](crate::NotificationConfig); the store reads it when it
    /// queues events.
    Notification,
    /// JSON of [`LifecycleConfig`].
    Lifecycle,
    /// JSON of [`ReplicationConfig`](crate::ReplicationConfig); the store reads it when it
    /// queues replications.
    Replication,
    /// JSON of [`InventoryConfigs`](crate::InventoryConfigs).
    Inventory,
    /// JSON of [`SosapiSetting`](crate::SosapiSetting): the bucket's own Veeam SOSAPI switch
    /// (absent: the server's `[sosapi] enabled`).
    Sosapi,
    /// JSON of [`BucketQuota`](crate::BucketQuota); the store reads it in every transaction
    /// that writes an object version.
    Quota,
}

impl BucketConfigKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Notification => "notification",
            Self::Lifecycle => "lifecycle",
            Self::Replication => "replication",
            Self::Inventory => "inventory",
            Self::Sosapi => "sosapi",
            Self::Quota => "quota",
        }
    }
}

/// Versions and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub versions: u64,
    pub bytes: u64,
}

/// Active retentions ending in one calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthTally {
    /// `YYYY-MM`.
    pub month: String,
    pub versions: u64,
    pub bytes: u64,
}

/// What is protected in one bucket at the instant of the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockReport {
    pub bucket: String,
    /// Active GOVERNANCE retention (retain-until after now).
    pub governance: Tally,
    /// Active COMPLIANCE retention.
    pub compliance: Tally,
    /// Legal hold ON, whatever the retention.
    pub legal_hold: Tally,
    /// The latest retain-until date of an active retention.
    pub latest_retain_until: Option<UtcMillis>,
    /// Active retentions by the month they end, oldest month first.
    pub expiries_by_month: Vec<MonthTally>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> TagSet {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn tag_filters_need_every_tag_exactly() {
        let f = LifecycleFilter { prefix: "logs/".into(), tags: tags(&[("a", "1"), ("b", "")]), ..Default::default() };
        assert!(f.applies("logs/x", Some(1), &tags(&[("a", "1"), ("b", ""), ("c", "3")])));
        assert!(!f.applies("logs/x", Some(1), &tags(&[("a", "1")])));
        assert!(!f.applies("logs/x", Some(1), &tags(&[("a", "1"), ("b", "x")])));
        assert!(!f.applies("logs/x", Some(1), &tags(&[("A", "1"), ("b", "")])));
        assert!(!f.applies("other/x", Some(1), &tags(&[("a", "1"), ("b", "")])));
        // A delete marker has no tags.
        assert!(!f.applies("logs/x", None, &TagSet::new()));
        // Without tag conditions, tags do not matter.
        let plain = LifecycleFilter { prefix: "logs/".into(), ..Default::default() };
        assert!(plain.applies("logs/x", None, &TagSet::new()));
        assert!(plain.applies("logs/x", Some(1), &tags(&[("z", "9")])));
    }

    #[test]
    fn filters_stored_before_tags_still_read() {
        let old: LifecycleFilter =
            serde_json::from_str(r#"{"prefix":"p","size_greater_than":null,"size_less_than":5}"#)
                .expect("an old filter parses");
        assert!(old.tags.is_empty());
        assert_eq!(old.size_less_than, Some(5));
    }
}
