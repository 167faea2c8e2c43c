//! On PostgreSQL, a request's reads of its bucket record, policy, owner and quota are one
//! statement inside a `request_view` scope (issue #17). What they answer is what the database
//! held at the request's first read: a change committed before a request is seen by it, a
//! change the request makes itself is never answered from the view, and a part read a second
//! time is read again.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::UtcMillis;
use holdfast_meta::postgres::{PgMeta, PgOptions};
use holdfast_meta::request_view::scope;
use holdfast_meta::{BucketConfigKind, IdentityStore, MetaError, MetaStore, Versioning};
use std::sync::Arc;

const POLICY: &str = "{\"Version\":\"2012-10-17\"}";
const QUOTA: &str = "{\"bytes\":1000}";

async fn store() -> Arc<PgMeta> {
    let url = holdfast_testkit::Postgres::shared().fresh_database();
    let s = PgMeta::open(PgOptions::new(url)).await.unwrap();
    s.create_bucket("b", false, UtcMillis::now_system()).await.unwrap();
    Arc::new(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sees_its_bucket_as_at_its_first_read() {
    let s = store().await;
    s.set_bucket_policy("b", Some(POLICY)).await.unwrap();
    s.set_bucket_owner("b", "123456789012").await.unwrap();
    s.put_bucket_config("b", BucketConfigKind::Quota, Some(QUOTA.into())).await.unwrap();
    let other = Arc::clone(&s);
    scope(async {
        assert_eq!(s.bucket_policy("b").await.unwrap().as_deref(), Some(POLICY));
        // Another request changes the bucket while this one runs (its own task: no view).
        tokio::spawn(async move {
            other.set_versioning("b", Versioning::Enabled).await.unwrap();
            other.set_bucket_policy("b", None).await.unwrap();
        })
        .await
        .unwrap();
        // The rest of the first read's snapshot, each part once.
        assert_eq!(s.bucket_owner("b").await.unwrap().as_deref(), Some("123456789012"));
        assert_eq!(s.bucket("b").await.unwrap().unwrap().versioning, Versioning::Unversioned);
        assert_eq!(s.bucket_config("b", BucketConfigKind::Quota).await.unwrap().as_deref(), Some(QUOTA));
        // Read again: the database as it is now.
        assert_eq!(s.bucket_policy("b").await.unwrap(), None);
        assert_eq!(s.bucket("b").await.unwrap().unwrap().versioning, Versioning::Enabled);
    })
    .await;
    // The next request sees every change committed before it.
    scope(async {
        assert_eq!(s.bucket("b").await.unwrap().unwrap().versioning, Versioning::Enabled);
        assert_eq!(s.bucket_policy("b").await.unwrap(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_the_request_drops_the_view() {
    let s = store().await;
    scope(async {
        assert_eq!(s.bucket_policy("b").await.unwrap(), None);
        s.set_versioning("b", Versioning::Enabled).await.unwrap();
        s.put_bucket_config("b", BucketConfigKind::Quota, Some(QUOTA.into())).await.unwrap();
        assert_eq!(s.bucket("b").await.unwrap().unwrap().versioning, Versioning::Enabled);
        assert_eq!(s.bucket_config("b", BucketConfigKind::Quota).await.unwrap().as_deref(), Some(QUOTA));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_bucket_is_gone_for_the_next_request() {
    let s = store().await;
    s.set_bucket_policy("b", Some(POLICY)).await.unwrap();
    scope(async {
        assert_eq!(s.bucket_policy("b").await.unwrap().as_deref(), Some(POLICY));
        assert!(s.bucket("b").await.unwrap().is_some());
    })
    .await;
    s.delete_bucket("b").await.unwrap();
    scope(async {
        assert!(matches!(s.bucket_policy("b").await, Err(MetaError::NoSuchBucket)));
        assert_eq!(s.bucket_owner("b").await.unwrap(), None);
        assert_eq!(s.bucket("b").await.unwrap(), None);
        assert!(matches!(s.bucket_config("b", BucketConfigKind::Quota).await, Err(MetaError::NoSuchBucket)));
    })
    .await;
    // A bucket of another name in the same request is read alone.
    s.create_bucket("c", true, UtcMillis::now_system()).await.unwrap();
    scope(async {
        assert!(matches!(s.bucket_policy("b").await, Err(MetaError::NoSuchBucket)));
        assert!(s.bucket("c").await.unwrap().unwrap().lock_enabled);
    })
    .await;
}
