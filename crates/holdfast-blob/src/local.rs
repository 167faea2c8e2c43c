//! Blobs as files under `<root>/blobs/<2 hex>/<id>`, written through `<root>/tmp/`.

use crate::{BlobStore, BlobWrite, ByteStream};
use bytes::Bytes;
use futures::StreamExt;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncReadExt;

/// Writes go to the file in chunks of this size (each at an offset that is a multiple of it,
/// but the last).
pub const WRITE_CHUNK: usize = 1 << 20;
/// Chunks queued for a blob's writer thread, at most: with the chunk being filled and the
/// one being written, a blob write holds at most `(WRITE_DEPTH + 2) * WRITE_CHUNK` bytes.
const WRITE_DEPTH: usize = 4;
/// Bytes written through the page cache (where direct writes are not possible) are synced
/// in steps of this many bytes while the file is written (each step on its own thread, the
/// previous one awaited first): the sync before the commit then has at most about one step
/// left to write, and dirty pages per upload stay bounded.
const SYNC_STEP: u64 = 16 << 20;
const READ_CHUNK: usize = 256 << 10;

pub struct LocalBlobStore {
    root: PathBuf,
}

fn fsync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Blob directories and files are private to the server's user, whatever the
/// process umask.
fn create_private_dir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

fn is_blob_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl LocalBlobStore {
    /// Opens the store, creating its directories, and removes temporary files left by a crash.
    /// For a directory that this process alone uses.
    pub fn open(root: &Path) -> io::Result<Self> {
        Self::open_with(root, None)
    }

    /// Opens a directory that several gateways share: only temporaries older than
    /// `grace_secs` are removed (younger ones may be another gateway's writes in progress).
    pub fn open_shared(root: &Path, grace_secs: u64) -> io::Result<Self> {
        Self::open_with(root, Some(grace_secs))
    }

    fn open_with(root: &Path, tmp_grace_secs: Option<u64>) -> io::Result<Self> {
        let store = Self { root: root.to_owned() };
        let cutoff = SystemTime::now() - Duration::from_secs(tmp_grace_secs.unwrap_or(0));
        create_private_dir(&store.tmp_dir())?;
        for i in 0..=255u8 {
            create_private_dir(&store.root.join("blobs").join(format!("{i:02x}")))?;
        }
        fsync_dir(&store.root.join("blobs"))?;
        fsync_dir(&store.root)?;
        let mut swept = 0;
        for entry in fs::read_dir(store.tmp_dir())? {
            let entry = entry?;
            if tmp_grace_secs.is_some() && entry.metadata()?.modified()? > cutoff {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => swept += 1,
                // Another gateway finished (renamed) or removed it meanwhile.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        if swept > 0 {
            tracing::info!(swept, "removed temporary blob files left by an earlier run");
        }
        Ok(store)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn path_of(&self, id: &str) -> io::Result<PathBuf> {
        // Ids are generated here; anything else never becomes a path (no traversal).
        if !is_blob_id(id) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a blob id"));
        }
        Ok(self.root.join("blobs").join(&id[..2]).join(id))
    }
}

/// A blob being written: the caller's task fills chunks, a writer thread on the blocking
/// pool writes them in order and syncs the file in steps ([`write_file`]).
struct LocalWrite {
    id: String,
    tmp: PathBuf,
    dest: PathBuf,
    buf: Vec<u8>,
    chunks: Option<tokio::sync::mpsc::Sender<Bytes>>,
    writer: Option<tokio::task::JoinHandle<io::Result<Written>>>,
    /// Set when the blob will not be committed: the writer thread skips its final sync.
    dropped: Arc<AtomicBool>,
}

impl Drop for LocalWrite {
    fn drop(&mut self) {
        // Dropped without commit (a cancelled request): no sync for a file nobody keeps.
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl LocalWrite {
    /// Queues a chunk for the writer thread (waits while [`WRITE_DEPTH`] are queued). When
    /// the thread stopped on an error, that error (e.g. a full disk), unchanged.
    async fn send(&mut self, chunk: Bytes) -> io::Result<()> {
        let Some(tx) = &self.chunks else { return Err(io::Error::other("blob writer closed")) };
        if tx.send(chunk).await.is_ok() {
            return Ok(());
        }
        self.chunks = None;
        Err(self.join().await.err().unwrap_or_else(|| io::Error::other("blob writer stopped")))
    }

    /// Closes the queue and waits for the writer thread's outcome.
    async fn join(&mut self) -> io::Result<()> {
        self.chunks = None;
        match self.writer.take() {
            Some(w) => {
                let written = w.await.map_err(io::Error::other)??;
                tracing::trace!(direct = written.direct, buffered = written.buffered, "blob written");
                Ok(())
            }
            None => Err(io::Error::other("blob writer closed")),
        }
    }

    async fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(WRITE_CHUNK)));
        self.send(chunk).await
    }
}

/// Alignment a direct write keeps (its buffer's address, its offset and its length): the
/// largest logical block size in common use.
const DIRECT_ALIGN: u64 = 4096;

/// Asks for direct writes on `file` (`O_DIRECT`: the disk reads the chunk where it is, no
/// copy into the page cache and no dirty pages to write back later). False where the file
/// system refuses them (the file is then written through the page cache, as before).
#[cfg(target_os = "linux")]
fn set_direct(file: &File, on: bool) -> bool {
    use rustix::fs::OFlags;
    let Ok(flags) = rustix::fs::fcntl_getfl(file) else { return false };
    let flags = if on { flags | OFlags::DIRECT } else { flags - OFlags::DIRECT };
    rustix::fs::fcntl_setfl(file, flags).is_ok()
}

#[cfg(not(target_os = "linux"))]
fn set_direct(_file: &File, _on: bool) -> bool {
    false
}

fn is_aligned(chunk: &[u8]) -> bool {
    (chunk.as_ptr().addr() as u64).is_multiple_of(DIRECT_ALIGN)
}

/// An empty buffer for one [`WRITE_CHUNK`] whose data will start at an address a direct
/// write takes: `(buffer, start)`, the buffer holding `start` bytes of padding, room for a
/// whole chunk after them. The engine fills its chunks here, so the writer sends them to the
/// disk where they are. (The allocator, jemalloc, starts large allocations at a random cache
/// line of their first page: a plain `Vec` of 1 MiB is almost never aligned.)
pub fn aligned_chunk_buffer() -> (Vec<u8>, usize) {
    let align = DIRECT_ALIGN as usize;
    let mut buf: Vec<u8> = Vec::with_capacity(WRITE_CHUNK + align);
    let start = (align - buf.as_ptr().addr() % align) % align;
    buf.resize(start, 0);
    (buf, start)
}

/// An aligned buffer of `len` bytes inside `store` (grown when needed): where a chunk whose
/// memory is not aligned (a caller's own buffer, not the engine's) is copied before a
/// direct write.
fn bounce(store: &mut Vec<u8>, len: usize) -> &mut [u8] {
    let align = DIRECT_ALIGN as usize;
    if store.len() < len + align {
        *store = vec![0; len + align];
    }
    let pad = (align - store.as_ptr().addr() % align) % align;
    &mut store[pad..pad + len]
}

/// What the writer thread wrote, for the tests and the log.
#[derive(Debug, Default, PartialEq, Eq)]
struct Written {
    direct: u64,
    buffered: u64,
    /// Of `direct`, bytes first copied to an aligned buffer.
    bounced: u64,
}

/// The writer thread: writes the chunks in order, then syncs the file (data and metadata)
/// once. While the chunks stay aligned ([`DIRECT_ALIGN`]: every whole chunk of the engine's)
/// and the file system allows it they are written directly: each write returns once the
/// device has the bytes, so no dirty pages build up and the final sync only flushes the
/// device's cache and the file's metadata. From the first chunk that is not aligned (a
/// body's last piece) on, the file is written through the page cache: every [`SYNC_STEP`]
/// bytes the thread waits for the previous step's fdatasync and starts the next one on
/// another thread, so writing goes on while the disk syncs. Any error ends it (the caller's
/// next send fails and reads the error).
fn write_file(
    file: File,
    mut direct: bool,
    mut chunks: tokio::sync::mpsc::Receiver<Bytes>,
    dropped: &AtomicBool,
) -> io::Result<Written> {
    use std::os::unix::fs::FileExt as _;
    let mut written = Written::default();
    let mut bounce_buf = Vec::new();
    let mut unsynced = 0u64;
    let mut step: Option<std::thread::JoinHandle<io::Result<()>>> = None;
    let wait = |step: Option<std::thread::JoinHandle<io::Result<()>>>| -> io::Result<()> {
        step.map_or(Ok(()), |s| s.join().map_err(|_| io::Error::other("blob sync thread panicked"))?)
    };
    while let Some(chunk) = chunks.blocking_recv() {
        let offset = written.direct + written.buffered;
        let mut rest: &[u8] = &chunk;
        if direct && (!offset.is_multiple_of(DIRECT_ALIGN) || !(rest.len() as u64).is_multiple_of(DIRECT_ALIGN)) {
            direct = false;
            set_direct(&file, false);
        }
        if direct {
            let from: &[u8] = if is_aligned(rest) {
                rest
            } else {
                let b = bounce(&mut bounce_buf, rest.len());
                b.copy_from_slice(rest);
                written.bounced += rest.len() as u64;
                b
            };
            match file.write_at(from, offset) {
                Ok(n) => {
                    written.direct += n as u64;
                    rest = &rest[n..];
                }
                // Refused at the write by a file system that took the flag: buffered.
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => {}
                Err(e) => return Err(e),
            }
            if !rest.is_empty() {
                // A short write (the volume is nearly full) or a refusal: the rest goes
                // through the page cache, whose error, if any, is the one reported.
                direct = false;
                set_direct(&file, false);
            }
        }
        if rest.is_empty() {
            continue;
        }
        file.write_all_at(rest, written.direct + written.buffered)?;
        written.buffered += rest.len() as u64;
        unsynced += rest.len() as u64;
        if unsynced >= SYNC_STEP {
            wait(step.take())?;
            let f = file.try_clone()?;
            step = Some(std::thread::Builder::new().name("holdfast-blob-sync".into()).spawn(move || f.sync_data())?);
            unsynced = 0;
        }
    }
    wait(step.take())?;
    if !dropped.load(Ordering::SeqCst) {
        file.sync_all()?;
    }
    Ok(written)
}

#[async_trait::async_trait]
impl BlobWrite for LocalWrite {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        if self.buf.is_empty() && data.len() >= WRITE_CHUNK {
            // Already a whole chunk (the engine hands chunks of this size): no copy.
            return self.send(data).await;
        }
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf().await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> io::Result<String> {
        let written = match self.flush_buf().await {
            Ok(()) => self.join().await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            // A full disk fails here: the temporary goes at once, not at the next start.
            self.join().await.ok();
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return Err(e);
        }
        let (tmp, dest) = (self.tmp.clone(), self.dest.clone());
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            if let Err(e) = fs::rename(&tmp, &dest) {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            fsync_dir(dest.parent().unwrap_or(Path::new(".")))
        })
        .await
        .map_err(io::Error::other)??;
        Ok(self.id.clone())
    }

    async fn abort(mut self: Box<Self>) {
        // The thread stops at the closed queue; the file is closed before it goes.
        self.dropped.store(true, Ordering::SeqCst);
        let _ = self.join().await;
        let _ = tokio::fs::remove_file(&self.tmp).await;
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn create(&self) -> io::Result<Box<dyn BlobWrite>> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.tmp_dir().join(&id);
        let dest = self.path_of(&id)?;
        let (file, direct) = {
            let tmp = tmp.clone();
            tokio::task::spawn_blocking(move || -> io::Result<(File, bool)> {
                let file = File::options().write(true).create_new(true).mode(0o600).open(tmp)?;
                let direct = set_direct(&file, true);
                Ok((file, direct))
            })
            .await
            .map_err(io::Error::other)??
        };
        let (tx, rx) = tokio::sync::mpsc::channel(WRITE_DEPTH);
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&dropped);
        let writer = tokio::task::spawn_blocking(move || write_file(file, direct, rx, &flag));
        Ok(Box::new(LocalWrite { id, tmp, dest, buf: Vec::new(), chunks: Some(tx), writer: Some(writer), dropped }))
    }

    async fn read(&self, id: &str, offset: u64, len: u64) -> io::Result<ByteStream> {
        let path = self.path_of(id)?;
        let file = tokio::task::spawn_blocking(move || -> io::Result<File> {
            let mut f = File::open(path)?;
            f.seek(SeekFrom::Start(offset))?;
            Ok(f)
        })
        .await
        .map_err(io::Error::other)??;
        let reader = tokio::fs::File::from_std(file).take(len);
        Ok(tokio_util::io::ReaderStream::with_capacity(reader, READ_CHUNK).boxed())
    }

    async fn delete(&self, id: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path_of(id)?).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    async fn list_older_than(&self, older_than_secs: u64) -> io::Result<Vec<String>> {
        let root = self.root.join("blobs");
        tokio::task::spawn_blocking(move || -> io::Result<Vec<String>> {
            let cutoff = SystemTime::now() - Duration::from_secs(older_than_secs);
            let mut out = Vec::new();
            for dir in fs::read_dir(root)? {
                for entry in fs::read_dir(dir?.path())? {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if is_blob_id(&name) && entry.metadata()?.modified()? <= cutoff {
                        out.push(name);
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(io::Error::other)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_commit_read_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let mut w = store.create().await.unwrap();
        w.write(Bytes::from_static(b"hello ")).await.unwrap();
        w.write(Bytes::from_static(b"world")).await.unwrap();
        let id = w.commit().await.unwrap();
        let mut s = store.read(&id, 6, 5).await.unwrap();
        let mut got = Vec::new();
        while let Some(chunk) = s.next().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, b"world");
        assert_eq!(store.list_older_than(0).await.unwrap(), vec![id.clone()]);
        store.delete(&id).await.unwrap();
        assert!(store.read(&id, 0, 1).await.is_err());
        assert!(store.read("../../etc/passwd", 0, 1).await.is_err());
    }

    /// Chunks of `len` bytes numbered into their content, so a misplaced or lost one shows.
    fn numbered(n: u8, len: usize) -> Bytes {
        Bytes::from((0..len).map(|i| n.wrapping_mul(31).wrapping_add((i % 251) as u8)).collect::<Vec<u8>>())
    }

    fn run_writer(chunks: Vec<Bytes>) -> (Vec<u8>, bool, Written) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let file = File::options().write(true).create_new(true).open(&path).unwrap();
        let direct = set_direct(&file, true);
        let (tx, rx) = tokio::sync::mpsc::channel(chunks.len().max(1));
        for c in chunks {
            tx.try_send(c).unwrap();
        }
        drop(tx);
        let written = write_file(file, direct, rx, &AtomicBool::new(false)).unwrap();
        (fs::read(&path).unwrap(), direct, written)
    }

    /// Whole aligned chunks go straight to the disk (#17: no page-cache copy); from the
    /// first chunk whose length is not a multiple of the alignment on (a body's last piece,
    /// or a caller's odd-sized write), the file is written through the cache. The file
    /// holds every byte in order either way; a chunk whose memory is not aligned (this test
    /// binary's allocator does not align them) is copied to an aligned buffer first.
    #[test]
    fn aligned_chunks_go_direct_and_the_rest_through_the_cache_byte_exact() {
        let chunks = vec![
            numbered(1, WRITE_CHUNK),
            numbered(2, WRITE_CHUNK),
            numbered(3, WRITE_CHUNK + 100),
            numbered(4, WRITE_CHUNK),
            numbered(5, 7),
        ];
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let (got, direct, written) = run_writer(chunks);
        assert!(got == expected, "the file differs from the chunks written");
        let total = expected.len() as u64;
        let direct_bytes = if direct { 2 * WRITE_CHUNK as u64 } else { 0 };
        assert_eq!((written.direct, written.buffered), (direct_bytes, total - direct_bytes));
        if cfg!(target_os = "linux") {
            assert!(direct, "this Linux file system took O_DIRECT on a fresh file");
        }
    }

    /// A body of whole chunks only is written directly to its end.
    #[test]
    fn a_body_of_whole_chunks_is_written_directly_to_its_end() {
        let chunks: Vec<Bytes> = (0..3).map(|n| numbered(n, WRITE_CHUNK)).collect();
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let (got, direct, written) = run_writer(chunks);
        assert!(got == expected);
        let d = if direct { expected.len() as u64 } else { 0 };
        assert_eq!((written.direct, written.buffered), (d, expected.len() as u64 - d));
    }

    /// `numbered` content in a chunk at `misalign` bytes past an aligned address.
    fn placed(n: u8, misalign: usize) -> Bytes {
        let (mut buf, start) = aligned_chunk_buffer();
        buf.resize(start + misalign, 0);
        buf.extend_from_slice(&numbered(n, WRITE_CHUNK));
        Bytes::from(buf).slice(start + misalign..)
    }

    /// Chunks filled in [`aligned_chunk_buffer`]s (the engine's) go to the disk from where
    /// they are; one elsewhere is copied to an aligned buffer first. Both land byte-exact.
    #[test]
    fn chunks_in_aligned_buffers_are_written_without_the_bounce_copy() {
        let chunks = vec![placed(1, 0), placed(2, 8), placed(3, 0)];
        assert!(is_aligned(&chunks[0]) && !is_aligned(&chunks[1]));
        let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let (got, direct, written) = run_writer(chunks);
        assert!(got == expected, "the file differs from the chunks written");
        if direct {
            let chunk = WRITE_CHUNK as u64;
            assert_eq!(written, Written { direct: 3 * chunk, buffered: 0, bounced: chunk });
        }
    }

    /// A tmpfs of `size`, unmounted when dropped (root, like the integration tests' tmpfs).
    struct SmallVolume(tempfile::TempDir);

    impl SmallVolume {
        fn mount(size: &str) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success(), "cannot mount a tmpfs: this test needs root");
            Self(dir)
        }
    }

    impl Drop for SmallVolume {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0.path()).status();
        }
    }

    /// A volume that fills during the direct writes (tmpfs takes `O_DIRECT`): the write that
    /// does not fit, or the rest of a short one written through the cache, fails with the
    /// volume's ENOSPC, and that kind is what the writer returns (the caller's 507), not a
    /// success nor another error.
    #[test]
    fn a_volume_that_fills_during_direct_writes_reports_storage_full() {
        let vol = SmallVolume::mount("4m");
        fs::write(vol.0.path().join("filler"), vec![7u8; (3 << 20) / 2]).unwrap();
        let file = File::options().write(true).create_new(true).open(vol.0.path().join("blob")).unwrap();
        assert!(set_direct(&file, true), "tmpfs takes O_DIRECT");
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        for n in 0..6 {
            tx.try_send(numbered(n, WRITE_CHUNK)).unwrap();
        }
        drop(tx);
        let err = write_file(file, true, rx, &AtomicBool::new(false)).expect_err("6 MiB written on a 4 MiB volume");
        assert_eq!(err.kind(), io::ErrorKind::StorageFull, "{err}");
    }

    #[tokio::test]
    async fn abandoned_temporaries_are_swept_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let mut w = store.create().await.unwrap();
        w.write(Bytes::from_static(b"partial")).await.unwrap();
        drop(w); // not committed nor aborted, as a crash leaves it
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 1);
        LocalBlobStore::open_shared(dir.path(), 3600).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 1, "shared: a fresh temporary stays");
        LocalBlobStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
