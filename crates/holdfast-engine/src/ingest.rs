//! Streams a request body into a new blob while hashing it, then checks what the client
//! declared (length, Content-MD5, `x-amz-checksum-*`, trailing checksums). Nothing is
//! recorded for a body that fails a check: its blob is discarded.

use crate::checksum::{self, BodyDigests, BodyHasher};
use crate::error::{BodyError, EngineError, EngineResult};
use crate::hash_pipe::Hashing;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use holdfast_blob::{BlobStore, BlobWrite};
use holdfast_meta::ChecksumAlgorithm;

pub type BodyStream = BoxStream<'static, Result<Bytes, BodyError>>;

/// A checksum value the client declared, now or after the body (trailer).
pub enum ExpectedChecksum {
    /// Only the algorithm was named (`x-amz-sdk-checksum-algorithm` without a value).
    None,
    Given(String),
    /// Read once the body has been consumed (`x-amz-trailer`).
    Trailer(Box<dyn FnOnce() -> Option<String> + Send>),
}

/// What the request declared about its body.
pub struct BodyClaims {
    pub content_length: Option<u64>,
    /// Decoded Content-MD5.
    pub content_md5: Option<[u8; 16]>,
    pub checksum: Option<(ChecksumAlgorithm, ExpectedChecksum)>,
}

impl BodyClaims {
    pub fn none() -> Self {
        Self { content_length: None, content_md5: None, checksum: None }
    }

    /// Whether the request carries an integrity header (Content-MD5 or any checksum),
    /// as Object Lock writes require (W7, B14).
    pub fn has_integrity_check(&self) -> bool {
        self.content_md5.is_some() || self.checksum.as_ref().is_some_and(|(_, e)| !matches!(e, ExpectedChecksum::None))
    }
}

/// Decodes a Content-MD5 header (InvalidDigest when it is not a base64 MD5).
pub fn parse_content_md5(value: &str) -> EngineResult<[u8; 16]> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(value.trim()).map_err(|_| EngineError::InvalidDigest)?;
    raw.try_into().map_err(|_| EngineError::InvalidDigest)
}

/// Where an accepted body is now.
pub enum Stored {
    /// A durable blob (fsynced file and directory entry).
    Blob(String),
    /// Held in memory, to be written inline with the version's metadata (in the same
    /// transaction, so nothing of it is on disk yet, and nothing needs removing if the
    /// metadata refuses it).
    Inline(Bytes),
}

pub struct Ingested {
    pub stored: Stored,
    pub size: u64,
    pub digests: BodyDigests,
}

/// Receives a body: hashes it, checks the claims, and keeps it either in memory (bodies of at
/// most `inline_max` bytes, `0` never) or as a durable blob. A body whose declared length
/// is larger than `inline_max` goes to a blob from its first byte; one without a declared
/// length is buffered until it outgrows `inline_max`, then written to a blob.
pub async fn ingest(
    blobs: &dyn BlobStore,
    mut body: BodyStream,
    mut claims: BodyClaims,
    max_size: u64,
    inline_max: u64,
) -> EngineResult<Ingested> {
    if let Some((a, ExpectedChecksum::Given(v))) = &claims.checksum
        && checksum::decode(*a, v).is_none()
    {
        return Err(EngineError::MalformedChecksum { algorithm: *a, trailer: false });
    }
    if claims.content_length.is_some_and(|l| l > max_size) {
        return Err(EngineError::EntityTooLarge);
    }
    let algorithm = claims.checksum.as_ref().map(|(a, _)| *a);
    let mut hashing = Hashing::Inline(Box::new(BodyHasher::new(algorithm)));
    let may_inline = inline_max > 0 && claims.content_length.is_none_or(|l| l <= inline_max);
    let mut writer = if may_inline { None } else { Some(blobs.create().await?) };
    let mut held: Vec<Bytes> = Vec::new();
    let mut chunker = Chunker::default();
    let mut size: u64 = 0;
    let read: EngineResult<()> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            if size > max_size {
                return Err(EngineError::EntityTooLarge);
            }
            match writer.as_mut() {
                Some(w) => chunker.push(&chunk, &mut hashing, w.as_mut()).await?,
                None if size <= inline_max => {
                    hashing.update_inline(&chunk)?;
                    held.push(chunk);
                }
                None => {
                    // Outgrew the inline limit: what was held (hashed already) goes first
                    // into a blob. The writer is kept before writing, so a failed write (a
                    // full disk) aborts it and leaves no temporary file.
                    let w = writer.insert(blobs.create().await?);
                    for piece in held.drain(..) {
                        chunker.push_hashed(&piece, &mut hashing, w.as_mut()).await?;
                    }
                    chunker.push(&chunk, &mut hashing, w.as_mut()).await?;
                }
            }
        }
        if let Some(w) = writer.as_mut() {
            chunker.finish(&mut hashing, w.as_mut()).await?;
        }
        Ok(())
    }
    .await;
    let checked = match read {
        Ok(()) => finish_checks(&mut claims, hashing, algorithm, size).await,
        Err(e) => Err(e),
    };
    match (checked, writer) {
        (Ok(digests), Some(writer)) => {
            let blob = writer.commit().await?;
            Ok(Ingested { stored: Stored::Blob(blob), size, digests })
        }
        (Ok(digests), None) => Ok(Ingested { stored: Stored::Inline(concat(held, size)), size, digests }),
        (Err(e), Some(writer)) => {
            writer.abort().await;
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

async fn finish_checks(
    claims: &mut BodyClaims,
    hashing: Hashing,
    algorithm: Option<ChecksumAlgorithm>,
    size: u64,
) -> EngineResult<BodyDigests> {
    resolve_trailer(claims)?;
    let digests = hashing.finish().await?.finalize(algorithm);
    verify(claims, size, &digests)?;
    Ok(digests)
}

/// Cuts a blob's body into whole [`holdfast_blob::WRITE_CHUNK`]s, each handed to the hashing
/// threads and to the blob writer (the same bytes, shared): large aligned writes, and the
/// digests computed beside the write instead of before it. Each chunk is filled in an
/// aligned buffer ([`holdfast_blob::aligned_chunk_buffer`]), so the writer's direct write
/// reads it where it is: the body's bytes are copied once, from the request into the chunk.
#[derive(Default)]
struct Chunker {
    buf: Vec<u8>,
    /// Padding at the front of `buf` (its data starts aligned).
    start: usize,
    /// Leading bytes not yet emitted whose digest is taken already (held while the body
    /// might have been inline).
    hashed: usize,
}

impl Chunker {
    /// Bytes whose digest is already taken.
    async fn push_hashed(&mut self, data: &[u8], hashing: &mut Hashing, w: &mut dyn BlobWrite) -> EngineResult<()> {
        self.hashed += data.len();
        self.push(data, hashing, w).await
    }

    async fn push(&mut self, mut data: &[u8], hashing: &mut Hashing, w: &mut dyn BlobWrite) -> EngineResult<()> {
        const CHUNK: usize = holdfast_blob::WRITE_CHUNK;
        while !data.is_empty() {
            if self.buf.capacity() < self.start + CHUNK {
                (self.buf, self.start) = holdfast_blob::aligned_chunk_buffer();
            }
            let n = (self.start + CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() == self.start + CHUNK {
                let full = Bytes::from(std::mem::take(&mut self.buf)).slice(self.start..);
                self.start = 0;
                self.emit(full, hashing, w, false).await?;
            }
        }
        Ok(())
    }

    /// The last, partial chunk.
    async fn finish(&mut self, hashing: &mut Hashing, w: &mut dyn BlobWrite) -> EngineResult<()> {
        if self.buf.len() <= self.start {
            return Ok(());
        }
        let tail = Bytes::from(std::mem::take(&mut self.buf)).slice(self.start..);
        self.start = 0;
        self.emit(tail, hashing, w, true).await
    }

    async fn emit(
        &mut self,
        chunk: Bytes,
        hashing: &mut Hashing,
        w: &mut dyn BlobWrite,
        last: bool,
    ) -> EngineResult<()> {
        let skip = self.hashed.min(chunk.len());
        self.hashed -= skip;
        let fresh = chunk.slice(skip..);
        if !fresh.is_empty() {
            if last && matches!(hashing, Hashing::Inline(_)) {
                // A blob smaller than a chunk: no thread for one digest.
                hashing.update_inline(&fresh)?;
            } else {
                hashing.update_piped(fresh).await?;
            }
        }
        w.write(chunk).await?;
        Ok(())
    }
}

/// Bodies of refused writes up to this size are read to their end (and dropped) before the
/// answer; longer ones are answered at once.
pub const DISCARD_MAX: u64 = 8 << 20;

/// Reads and drops a refused request's body (nothing is kept or written), so that a client
/// still sending it reads the answer on a connection that stays usable, instead of a reset
/// one. Only bodies declared at most [`DISCARD_MAX`] long; it stops at that size anyway.
pub(crate) async fn discard(mut body: BodyStream, declared: Option<u64>) {
    if declared.is_none_or(|l| l > DISCARD_MAX) {
        return;
    }
    let mut seen: u64 = 0;
    while let Some(Ok(chunk)) = body.next().await {
        seen += chunk.len() as u64;
        if seen > DISCARD_MAX {
            return;
        }
    }
}

fn concat(mut pieces: Vec<Bytes>, size: u64) -> Bytes {
    if pieces.len() == 1 {
        return pieces.pop().unwrap_or_default();
    }
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    for p in pieces {
        out.extend_from_slice(&p);
    }
    Bytes::from(out)
}

/// Verifies a body already held in memory (the small XML bodies of lock-changing requests
/// and DeleteObjects, B14 / D9) against its Content-MD5 and checksum claims.
pub fn verify_buffered(claims: &BodyClaims, body: &[u8]) -> EngineResult<()> {
    let algorithm = claims.checksum.as_ref().map(|(a, _)| *a);
    let mut hasher = BodyHasher::new(algorithm);
    hasher.update(body);
    verify(claims, body.len() as u64, &hasher.finalize(algorithm))
}

fn verify(claims: &BodyClaims, size: u64, digests: &BodyDigests) -> EngineResult<()> {
    match claims.content_length {
        Some(len) if size < len => return Err(BodyError::Incomplete.into()),
        Some(len) if size > len => {
            return Err(EngineError::InvalidRequest("the body is longer than Content-Length".into()));
        }
        _ => {}
    }
    if let Some(md5) = claims.content_md5
        && md5 != digests.md5
    {
        return Err(EngineError::BadDigest("The Content-MD5 you specified did not match what we received.".into()));
    }
    if let Some((algorithm, expected)) = claims.checksum.as_ref() {
        let expected = match expected {
            ExpectedChecksum::None => None,
            ExpectedChecksum::Given(v) => Some(v.clone()),
            ExpectedChecksum::Trailer(_) => {
                return Err(EngineError::InvalidRequest("trailing checksum not read".into()));
            }
        };
        if let (Some(want), Some((_, got))) = (expected, &digests.chosen)
            && checksum::decode(*algorithm, &want).as_deref() != Some(got.as_slice())
        {
            return Err(mismatch(*algorithm));
        }
    }
    Ok(())
}

pub(crate) fn mismatch(a: ChecksumAlgorithm) -> EngineError {
    EngineError::BadDigest(format!("The {} you specified did not match the calculated checksum.", a.as_str()))
}

/// Replaces a trailing checksum by its value, once the body has been consumed.
fn resolve_trailer(claims: &mut BodyClaims) -> EngineResult<()> {
    let Some((algorithm, expected)) = claims.checksum.as_mut() else { return Ok(()) };
    if !matches!(expected, ExpectedChecksum::Trailer(_)) {
        return Ok(());
    }
    let ExpectedChecksum::Trailer(read) = std::mem::replace(expected, ExpectedChecksum::None) else { return Ok(()) };
    let value = read().ok_or_else(|| {
        EngineError::InvalidRequest(format!(
            "The x-amz-checksum-{} trailer was declared but not sent.",
            algorithm.as_str().to_ascii_lowercase()
        ))
    })?;
    if checksum::decode(*algorithm, &value).is_none() {
        return Err(EngineError::MalformedChecksum { algorithm: *algorithm, trailer: true });
    }
    *expected = ExpectedChecksum::Given(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;
    use holdfast_blob::{BlobStore, ByteStream, WRITE_CHUNK};
    use md5::Digest as _;
    use std::sync::{Arc, Mutex};

    /// A blob store that keeps what each write received (the chunks as handed over).
    #[derive(Default, Clone)]
    struct Recording(Arc<Mutex<Vec<Bytes>>>, Arc<Mutex<Vec<&'static str>>>);

    struct RecordingWrite(Recording);

    #[async_trait::async_trait]
    impl BlobWrite for RecordingWrite {
        async fn write(&mut self, data: Bytes) -> std::io::Result<()> {
            self.0.0.lock().unwrap().push(data);
            Ok(())
        }
        async fn commit(self: Box<Self>) -> std::io::Result<String> {
            self.0.1.lock().unwrap().push("commit");
            Ok("blob".into())
        }
        async fn abort(self: Box<Self>) {
            self.0.1.lock().unwrap().push("abort");
        }
    }

    #[async_trait::async_trait]
    impl BlobStore for Recording {
        async fn create(&self) -> std::io::Result<Box<dyn BlobWrite>> {
            Ok(Box::new(RecordingWrite(self.clone())))
        }
        async fn read(&self, _: &str, _: u64, _: u64) -> std::io::Result<ByteStream> {
            Err(std::io::Error::other("not in this test"))
        }
        async fn delete(&self, _: &str) -> std::io::Result<()> {
            Ok(())
        }
        async fn list_older_than(&self, _: u64) -> std::io::Result<Vec<String>> {
            Ok(Vec::new())
        }
    }

    fn body_of(len: usize) -> Vec<u8> {
        (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect()
    }

    fn frames(body: &[u8], frame: usize) -> BodyStream {
        let pieces: Vec<Result<Bytes, BodyError>> = body.chunks(frame).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        stream::iter(pieces).boxed()
    }

    fn crc(a: ChecksumAlgorithm, body: &[u8]) -> Vec<u8> {
        let mut d = checksum::Digest::new(a);
        d.update(body);
        d.finalize()
    }

    fn claims(body: &[u8], length: bool, crc32: Option<Vec<u8>>) -> BodyClaims {
        BodyClaims {
            content_length: length.then_some(body.len() as u64),
            content_md5: Some(md5::Md5::digest(body).into()),
            checksum: crc32.map(|v| (ChecksumAlgorithm::Crc32, ExpectedChecksum::Given(checksum::encode(&v)))),
        }
    }

    /// Checks what reached the store and the digests of an accepted body.
    fn assert_stored(rec: &Recording, body: &[u8], got: &Ingested) {
        let chunks = rec.0.lock().unwrap().clone();
        let (whole, tail) = chunks.split_at(body.len() / WRITE_CHUNK);
        for c in whole {
            assert_eq!(c.len(), WRITE_CHUNK);
            assert_eq!(c.as_ptr().addr() % 4096, 0, "a whole chunk is not 4 KiB-aligned");
        }
        assert_eq!(tail.iter().map(Bytes::len).sum::<usize>(), body.len() % WRITE_CHUNK);
        assert!(chunks.concat() == body, "the blob differs from the body");
        assert_eq!(*rec.1.lock().unwrap(), ["commit"]);
        assert_eq!(got.size, body.len() as u64);
        assert_eq!(got.digests.md5, <[u8; 16]>::from(md5::Md5::digest(body)));
        assert_eq!(got.digests.crc64nvme, crc(ChecksumAlgorithm::Crc64Nvme, body));
        assert_eq!(got.digests.chosen, Some((ChecksumAlgorithm::Crc32, crc(ChecksumAlgorithm::Crc32, body))));
    }

    /// A declared large body: whole 1 MiB chunks filled in aligned buffers (no bounce copy
    /// in the writer), byte-exact, MD5 (libcrypto on its thread), CRC64NVME and the
    /// requested CRC32 (on the other thread) equal to a one-pass digest.
    #[tokio::test]
    async fn a_large_body_goes_in_aligned_whole_chunks_with_exact_digests() {
        let body = body_of(3 * WRITE_CHUNK + 5);
        let rec = Recording::default();
        let c = claims(&body, true, Some(crc(ChecksumAlgorithm::Crc32, &body)));
        let got = ingest(&rec, frames(&body, 100_003), c, u64::MAX, 0).await.unwrap();
        assert!(matches!(got.stored, Stored::Blob(_)));
        assert_stored(&rec, &body, &got);
    }

    /// A body without a declared length that outgrows the inline limit: what was held (and
    /// hashed on the request's task) goes first, the MD5 continues on its thread from there.
    #[tokio::test]
    async fn a_body_that_outgrows_the_inline_limit_keeps_exact_digests() {
        let body = body_of(2 * WRITE_CHUNK + WRITE_CHUNK / 2);
        let rec = Recording::default();
        let c = claims(&body, false, Some(crc(ChecksumAlgorithm::Crc32, &body)));
        let got = ingest(&rec, frames(&body, 50_000), c, u64::MAX, 64 << 10).await.unwrap();
        assert_stored(&rec, &body, &got);
    }

    /// A wrong MD5 or CRC32 for a large body hashed on the threads is refused with S3's
    /// message, and the blob is aborted.
    #[tokio::test]
    async fn a_large_body_with_a_wrong_digest_is_refused_and_aborted() {
        let body = body_of(2 * WRITE_CHUNK + 1);
        let mut wrong = body.clone();
        wrong[WRITE_CHUNK + 7] ^= 1;
        for (c, message) in [
            (claims(&wrong, true, None), "The Content-MD5 you specified did not match what we received."),
            (
                claims(&body, true, Some(crc(ChecksumAlgorithm::Crc32, &wrong))),
                "The CRC32 you specified did not match the calculated checksum.",
            ),
        ] {
            let rec = Recording::default();
            let claims = BodyClaims { content_md5: c.content_md5.filter(|_| c.checksum.is_none()), ..c };
            let err = ingest(&rec, frames(&body, 65_536), claims, u64::MAX, 0).await.err().unwrap();
            assert!(matches!(&err, EngineError::BadDigest(m) if m == message), "{err:?}");
            assert_eq!(*rec.1.lock().unwrap(), ["abort"]);
        }
    }
}
