use holdfast_meta::MetaError;

/// Why a request body could not be read to its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body ended before its declared length")]
    Incomplete,
    #[error("the body does not match x-amz-content-sha256")]
    Sha256Mismatch,
    #[error("a chunk signature does not match")]
    SignatureMismatch,
    #[error("the body is larger than allowed")]
    TooLarge,
    /// No body byte arrived for the server's body-idle time (`[limits] body_idle_secs`).
    #[error("the body sent nothing for too long")]
    Timeout,
    #[error("body stream failed: {0}")]
    Other(String),
}

/// Everything an operation can refuse; the API layer maps each variant to one S3 error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("invalid argument {name}: {message}")]
    InvalidArgument { message: String, name: String, value: Option<String> },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// An `x-amz-checksum-*` value that is not a base64 digest of the right length.
    #[error("the x-amz-checksum-{} value is malformed", algorithm.as_str().to_ascii_lowercase())]
    MalformedChecksum { algorithm: holdfast_meta::ChecksumAlgorithm, trailer: bool },
    #[error("Content-MD5 is not a valid MD5 digest")]
    InvalidDigest,
    #[error("{0}")]
    BadDigest(String),
    #[error("the range is not satisfiable")]
    InvalidRange { object_size: u64 },
    #[error("the part number is not satisfiable")]
    InvalidPartNumber,
    /// The key's current version is a delete marker: 404 NoSuchKey with the marker's id.
    #[error("the current version is a delete marker")]
    CurrentIsDeleteMarker { version_id: String },
    #[error("not modified")]
    NotModified { etag: String, last_modified: holdfast_lock::UtcMillis },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("the object is larger than allowed")]
    EntityTooLarge,
    #[error("the request has no parts")]
    MalformedXml(String),
    #[error("the key is too long")]
    KeyTooLong,
    #[error("the copy would copy an object onto itself without changing anything")]
    CopyOntoItself,
    /// New data refused: the data volume has less than the reserve free.
    #[error("insufficient storage: {free} bytes free, reserve {reserve} bytes")]
    InsufficientStorage { free: u64, reserve: u64 },
    #[error("storage failure: {0}")]
    Io(#[from] std::io::Error),
}

pub type EngineResult<T> = Result<T, EngineError>;

impl EngineError {
    /// Whether the volume itself refused a write: ENOSPC or a quota while writing a blob,
    /// or SQLite's SQLITE_FULL, which reaches here as the text of a failed commit.
    pub(crate) fn is_disk_full(&self) -> bool {
        match self {
            Self::Io(e) => matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded),
            Self::Meta(MetaError::Internal(m)) => m.contains("database or disk is full"),
            _ => false,
        }
    }
}
