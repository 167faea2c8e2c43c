//! The embedded store keeps bucket-level records in memory; every acknowledged change to
//! them is seen by the next read (the writer empties the cache before it answers).

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::UtcMillis;
use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::{IdentityStore, MetaError, MetaStore, Versioning};

#[tokio::test]
async fn bucket_reads_see_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteMeta::open(&dir.path().join("meta.db")).unwrap();
    let now = UtcMillis::now_system();
    assert_eq!(s.bucket("b").await.unwrap(), None);
    s.create_bucket("b", false, now).await.unwrap();
    assert_eq!(s.bucket("b").await.unwrap().map(|b| b.versioning), Some(Versioning::Unversioned));
    // Read twice (the second from memory), then change and read again.
    assert_eq!(s.bucket("b").await.unwrap().map(|b| b.versioning), Some(Versioning::Unversioned));
    s.set_versioning("b", Versioning::Enabled).await.unwrap();
    assert_eq!(s.bucket("b").await.unwrap().map(|b| b.versioning), Some(Versioning::Enabled));

    assert_eq!(s.bucket_policy("b").await.unwrap(), None);
    assert_eq!(s.bucket_owner("b").await.unwrap(), None);
    s.set_bucket_policy("b", Some("{\"Version\":\"2012-10-17\"}")).await.unwrap();
    s.set_bucket_owner("b", "123456789012").await.unwrap();
    assert_eq!(s.bucket_policy("b").await.unwrap().as_deref(), Some("{\"Version\":\"2012-10-17\"}"));
    assert_eq!(s.bucket_owner("b").await.unwrap().as_deref(), Some("123456789012"));
    s.set_bucket_policy("b", None).await.unwrap();
    assert_eq!(s.bucket_policy("b").await.unwrap(), None);

    s.delete_bucket("b").await.unwrap();
    assert_eq!(s.bucket("b").await.unwrap(), None);
    assert!(matches!(s.bucket_policy("b").await, Err(MetaError::NoSuchBucket)));
}
