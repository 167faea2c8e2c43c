//! Hashing a large body on threads of their own, beside the thread that writes it: one for
//! the MD5 (the ETag; serial, the slowest digest, so it gets a thread to itself and
//! libcrypto's implementation), one for CRC64NVME and the requested checksum. A large PUT or
//! UploadPart then goes at the speed of the slowest of the three instead of their sum, and no
//! digest runs on an async worker.

use crate::checksum::{BodyHasher, Md5Part, Sums};
use crate::error::{EngineError, EngineResult};
use crate::md5_fast::FastMd5;
use bytes::Bytes;
use md5::Digest as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks queued for each hashing thread, at most (they are the blob writer's chunks, shared,
/// not copies: this adds no memory beyond the writer's own bound).
const HASH_DEPTH: usize = 4;

/// Where a body's digests are computed: on the request's task for small bodies, on
/// blocking-pool threads once the body is going to a blob in whole chunks.
pub(crate) enum Hashing {
    Inline(Box<BodyHasher>),
    Piped {
        md5: mpsc::Sender<Bytes>,
        sums: mpsc::Sender<Bytes>,
        md5_done: JoinHandle<std::io::Result<[u8; 16]>>,
        sums_done: JoinHandle<Sums>,
    },
    /// Only while switching.
    Gone,
}

/// The MD5 thread's digest: libcrypto's when the body starts here, else the md-5 state
/// that already holds the body's first bytes (a body that outgrew the inline limit).
enum Md5Engine {
    Fast(FastMd5),
    Continued(md5::Md5),
}

impl Md5Engine {
    fn start(part: Md5Part) -> std::io::Result<Self> {
        if part.len == 0 { FastMd5::new().map(Self::Fast) } else { Ok(Self::Continued(part.md5)) }
    }

    fn update(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Fast(h) => h.update(data),
            Self::Continued(h) => {
                h.update(data);
                Ok(())
            }
        }
    }

    fn finish(self) -> std::io::Result<[u8; 16]> {
        match self {
            Self::Fast(h) => h.finish(),
            Self::Continued(h) => Ok(h.finalize().into()),
        }
    }
}

fn stopped(what: &str) -> EngineError {
    EngineError::Io(std::io::Error::other(format!("the {what} thread stopped")))
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

    /// Hands `chunk` to the hashing threads (started at the first call), in body order.
    pub(crate) async fn update_piped(&mut self, chunk: Bytes) -> EngineResult<()> {
        if let Self::Inline(_) = self
            && let Self::Inline(hasher) = std::mem::replace(self, Self::Gone)
        {
            let (md5_part, mut sums) = hasher.into_parts();
            let (md5_tx, mut md5_rx) = mpsc::channel::<Bytes>(HASH_DEPTH);
            let (sums_tx, mut sums_rx) = mpsc::channel::<Bytes>(HASH_DEPTH);
            let md5_done = tokio::task::spawn_blocking(move || {
                let mut engine = Md5Engine::start(md5_part)?;
                while let Some(c) = md5_rx.blocking_recv() {
                    engine.update(&c)?;
                }
                engine.finish()
            });
            let sums_done = tokio::task::spawn_blocking(move || {
                while let Some(c) = sums_rx.blocking_recv() {
                    sums.update(&c);
                }
                sums
            });
            *self = Self::Piped { md5: md5_tx, sums: sums_tx, md5_done, sums_done };
        }
        match self {
            Self::Piped { md5, sums, .. } => {
                md5.send(chunk.clone()).await.map_err(|_| stopped("MD5"))?;
                sums.send(chunk).await.map_err(|_| stopped("checksum"))
            }
            _ => Err(EngineError::Io(std::io::Error::other("hashing already finished"))),
        }
    }

    /// Every chunk hashed: the digests' state.
    pub(crate) async fn finish(self) -> EngineResult<BodyHasher> {
        match self {
            Self::Inline(h) => Ok(*h),
            Self::Piped { md5, sums, md5_done, sums_done } => {
                drop((md5, sums));
                let failed = |e: tokio::task::JoinError| {
                    EngineError::Io(std::io::Error::other(format!("a hashing thread failed: {e}")))
                };
                let digest = md5_done.await.map_err(failed)?.map_err(EngineError::Io)?;
                let sums = sums_done.await.map_err(failed)?;
                Ok(BodyHasher::from_parts(digest, sums))
            }
            Self::Gone => Err(EngineError::Io(std::io::Error::other("hashing already finished"))),
        }
    }
}
