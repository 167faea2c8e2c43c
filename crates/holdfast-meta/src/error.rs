use holdfast_lock::{BucketDenial, LockDenied};

/// What the metadata layer can refuse. The API layer maps each to one S3 error.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("bucket already exists")]
    BucketAlreadyOwnedByYou,
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("no such key")]
    NoSuchKey,
    #[error("no such version")]
    NoSuchVersion,
    /// The addressed version is a delete marker (R4, L7, G5).
    #[error("the version is a delete marker")]
    DeleteMarker { version_id: String, last_modified: holdfast_lock::UtcMillis },
    #[error("no such upload")]
    NoSuchUpload,
    #[error("precondition failed")]
    PreconditionFailed,
    /// Another conditional write on the same key is in progress (S3 ConditionalRequestConflict).
    #[error("conflicting conditional request")]
    ConditionalConflict,
    #[error("object lock: {0}")]
    Locked(#[from] LockDenied),
    #[error("invalid bucket state: {0}")]
    InvalidBucketState(#[from] BucketDenial),
    #[error("invalid part")]
    InvalidPart,
    #[error("invalid part order")]
    InvalidPartOrder,
    #[error("entity too small")]
    EntityTooSmall,
    /// IAM: the named user, key or policy does not exist.
    #[error("{0}")]
    NoSuchEntity(String),
    #[error("{0}")]
    EntityAlreadyExists(String),
    #[error("{0}")]
    DeleteConflict(String),
    #[error("{0}")]
    LimitExceeded(String),
    /// A request the store cannot carry out as asked (S3 InvalidRequest), such as a replica
    /// for a bucket without versioning.
    #[error("{0}")]
    InvalidRequest(String),
    /// The write would take the bucket's stored bytes over its quota (judged in the write's
    /// own transaction).
    #[error("bucket quota of {quota} bytes: {used} stored, {incoming} more refused")]
    QuotaExceeded { quota: u64, used: u64, incoming: u64 },
    #[error("metadata store failure: {0}")]
    Internal(String),
}

impl MetaError {
    /// A copy of a refusal a lock change can end with (MetaError is not Clone: its
    /// internal errors carry sources); anything else becomes `Internal` with its words.
    pub fn copy_refusal(&self) -> MetaError {
        match self {
            MetaError::NoSuchBucket => MetaError::NoSuchBucket,
            MetaError::NoSuchKey => MetaError::NoSuchKey,
            MetaError::NoSuchVersion => MetaError::NoSuchVersion,
            MetaError::DeleteMarker { version_id, last_modified } => {
                MetaError::DeleteMarker { version_id: version_id.clone(), last_modified: *last_modified }
            }
            MetaError::Locked(d) => MetaError::Locked(*d),
            MetaError::InvalidRequest(m) => MetaError::InvalidRequest(m.clone()),
            other => MetaError::Internal(other.to_string()),
        }
    }
}

#[cfg(feature = "sqlite")]
impl From<rusqlite::Error> for MetaError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<serde_json::Error> for MetaError {
    fn from(e: serde_json::Error) -> Self {
        Self::Internal(format!("corrupt record: {e}"))
    }
}

pub type MetaResult<T> = Result<T, MetaError>;
