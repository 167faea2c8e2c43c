//! Bucket documents for backup software: the Veeam SOSAPI switch and the byte quota
//! (issue #18), kept as [`BucketConfigKind`](crate::BucketConfigKind) documents so that no
//! schema change is needed.

use serde::{Deserialize, Serialize};

/// `holdfast admin sosapi enable|disable BUCKET`: overrides the server's `[sosapi] enabled`
/// for one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SosapiSetting {
    pub enabled: bool,
}

/// `holdfast admin bucket quota BUCKET --bytes N`: the most bytes the bucket's versions
/// (current and noncurrent) may hold together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketQuota {
    pub bytes: u64,
}

impl BucketQuota {
    /// The refusal for a version of `incoming` bytes when `used` are stored, if any.
    pub fn check(self, used: u64, incoming: u64) -> Result<(), crate::MetaError> {
        if used.saturating_add(incoming) > self.bytes {
            return Err(crate::MetaError::QuotaExceeded { quota: self.bytes, used, incoming });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_allows_up_to_the_limit_exactly() {
        let q = BucketQuota { bytes: 100 };
        assert!(q.check(60, 40).is_ok());
        assert!(matches!(q.check(60, 41), Err(crate::MetaError::QuotaExceeded { quota: 100, used: 60, incoming: 41 })));
        assert!(q.check(u64::MAX, 1).is_err(), "no overflow");
        assert!(serde_json::from_str::<BucketQuota>(r#"{"bytes":1,"x":2}"#).is_err());
    }
}
