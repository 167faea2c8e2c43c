//! Identity records and their store: users, access keys, inline user policies, bucket
//! policies. Policies are kept as the JSON documents the client sent; parsing and
//! evaluation live in `holdfast-policy`.

use crate::MetaResult;
use holdfast_lock::UtcMillis;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// IAM-style unique id (`AIDA...`).
    pub id: String,
    pub path: String,
    pub created: UtcMillis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key_id: String,
    pub user: String,
    /// The secret, sealed (encrypted) by the caller; never stored in the clear.
    pub sealed_secret: Vec<u8>,
    pub active: bool,
    pub created: UtcMillis,
}

/// The identity boundary, apart from objects: one trait per storage concern.
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// EntityAlreadyExists when the name is taken.
    async fn create_user(&self, user: User) -> MetaResult<()>;
    async fn user(&self, name: &str) -> MetaResult<Option<User>>;
    async fn users(&self) -> MetaResult<Vec<User>>;
    /// DeleteConflict while the user still has access keys or policies (as IAM does).
    async fn delete_user(&self, name: &str) -> MetaResult<()>;

    /// LimitExceeded beyond two keys per user (IAM's quota).
    async fn create_access_key(&self, key: AccessKey) -> MetaResult<()>;
    async fn access_key(&self, access_key_id: &str) -> MetaResult<Option<AccessKey>>;
    async fn access_keys(&self, user: &str) -> MetaResult<Vec<AccessKey>>;
    async fn set_access_key_active(&self, user: &str, access_key_id: &str, active: bool) -> MetaResult<()>;
    async fn delete_access_key(&self, user: &str, access_key_id: &str) -> MetaResult<()>;

    async fn put_user_policy(&self, user: &str, name: &str, document: &str) -> MetaResult<()>;
    async fn user_policy(&self, user: &str, name: &str) -> MetaResult<Option<String>>;
    /// (name, document) pairs in name order.
    async fn user_policies(&self, user: &str) -> MetaResult<Vec<(String, String)>>;
    async fn delete_user_policy(&self, user: &str, name: &str) -> MetaResult<()>;

    async fn set_bucket_policy(&self, bucket: &str, document: Option<&str>) -> MetaResult<()>;
    async fn bucket_policy(&self, bucket: &str) -> MetaResult<Option<String>>;

    /// Records that `account` (another account than the installation's own) owns `bucket`;
    /// the record goes with the bucket.
    async fn set_bucket_owner(&self, bucket: &str, account: &str) -> MetaResult<()>;
    /// (bucket, account) for every bucket another account owns; unlisted buckets belong to the
    /// installation's own account.
    async fn bucket_owners(&self) -> MetaResult<Vec<(String, String)>>;
    async fn bucket_owner(&self, bucket: &str) -> MetaResult<Option<String>>;
}
