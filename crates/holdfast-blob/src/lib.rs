//! Immutable blobs. A blob is written once under a fresh random id, made durable, and only
//! then may metadata point at it; it is never overwritten, and only garbage collection
//! removes it (after the metadata transaction that stopped referring to it).

mod local;

pub use local::{LocalBlobStore, WRITE_CHUNK, aligned_chunk_buffer};

use bytes::Bytes;
use futures::stream::BoxStream;
use std::io;

pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// A blob being written. Dropping it without `commit` leaves at most a temporary file,
/// which the next start sweeps.
#[async_trait::async_trait]
pub trait BlobWrite: Send {
    async fn write(&mut self, data: Bytes) -> io::Result<()>;
    /// Makes the blob durable (data and directory entry fsynced) and returns its id.
    async fn commit(self: Box<Self>) -> io::Result<String>;
    async fn abort(self: Box<Self>);
}

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    async fn create(&self) -> io::Result<Box<dyn BlobWrite>>;
    /// Streams `len` bytes of blob `id` from `offset`.
    async fn read(&self, id: &str, offset: u64, len: u64) -> io::Result<ByteStream>;
    async fn delete(&self, id: &str) -> io::Result<()>;
    /// Ids of committed blobs last modified before `older_than_secs` ago (for the orphan sweep).
    async fn list_older_than(&self, older_than_secs: u64) -> io::Result<Vec<String>>;
}
