//! Hashing a large body on a thread of its own (MD5 for the ETag, CRC64NVME, the requested
//! checksum), beside the thread that writes it: a large PUT or UploadPart then goes at the
//! speed of the slower of the two instead of their sum, and no digest runs on an async
//! worker.

use crate::checksum::BodyHasher;
use crate::error::{EngineError, EngineResult};
use bytes::Bytes;
use tokio::sync::mpsc;

/// Chunks queued for the hashing thread, at most (they are the blob writer's chunks, shared,
/// not copies: this adds no memory beyond the writer's own bound).
const HASH_DEPTH: usize = 4;

/// Where a body's digests are computed: on the request's task for small bodies, on a
/// blocking-pool thread once the body is going to a blob in whole chunks.
pub(crate) enum Hashing {
    Inline(Box<BodyHasher>),
    Piped {
        chunks: mpsc::Sender<Bytes>,
        done: tokio::task::JoinHandle<BodyHasher>,
    },
    /// Only while switching.
    Gone,
}

impl Hashing {
    /// Hashes `chunk` here (small bodies: a thread hop costs more than the digest).
    pub(crate) fn update_inline(&mut self, chunk: &[u8]) -> EngineResult<()> {
        match self {
            Self::Inline(h) => {
                h.update(chunk);
                Ok(())
            }
            _ => Err(EngineError::Io(std::io::Error::other("inline hashing after the switch to a thread"))),
        }
    }

    /// Hands `chunk` to the hashing thread (started at the first call), in body order.
    pub(crate) async fn update_piped(&mut self, chunk: Bytes) -> EngineResult<()> {
        if let Self::Inline(_) = self
            && let Self::Inline(hasher) = std::mem::replace(self, Self::Gone)
        {
            let mut hasher = *hasher;
            let (tx, mut rx) = mpsc::channel::<Bytes>(HASH_DEPTH);
            let done = tokio::task::spawn_blocking(move || {
                while let Some(c) = rx.blocking_recv() {
                    hasher.update(&c);
                }
                hasher
            });
            *self = Self::Piped { chunks: tx, done };
        }
        match self {
            Self::Piped { chunks, .. } => chunks
                .send(chunk)
                .await
                .map_err(|_| EngineError::Io(std::io::Error::other("the hashing thread stopped"))),
            _ => Err(EngineError::Io(std::io::Error::other("hashing already finished"))),
        }
    }

    /// Every chunk hashed: the digests' state.
    pub(crate) async fn finish(self) -> EngineResult<BodyHasher> {
        match self {
            Self::Inline(h) => Ok(*h),
            Self::Piped { chunks, done } => {
                drop(chunks);
                done.await
                    .map_err(|e| EngineError::Io(std::io::Error::other(format!("the hashing thread failed: {e}"))))
            }
            Self::Gone => Err(EngineError::Io(std::io::Error::other("hashing already finished"))),
        }
    }
}
