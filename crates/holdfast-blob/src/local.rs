//! Blobs as files under `<root>/blobs/<2 hex>/<id>`, written through `<root>/tmp/`.

use crate::{BlobStore, BlobWrite, ByteStream};
use bytes::Bytes;
use futures::StreamExt;
use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncReadExt;

/// Writes are handed to the blocking pool in chunks of this size.
const WRITE_CHUNK: usize = 1 << 20;
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

struct LocalWrite {
    id: String,
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
}

impl LocalWrite {
    async fn flush_buf(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut file = self.file.take().ok_or_else(|| io::Error::other("blob writer closed"))?;
        let buf = std::mem::take(&mut self.buf);
        let (file, buf, res) = tokio::task::spawn_blocking(move || {
            let res = file.write_all(&buf);
            (file, buf, res)
        })
        .await
        .map_err(io::Error::other)?;
        self.file = Some(file);
        self.buf = buf;
        self.buf.clear();
        res
    }
}

#[async_trait::async_trait]
impl BlobWrite for LocalWrite {
    async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= WRITE_CHUNK {
            self.flush_buf().await?;
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> io::Result<String> {
        if let Err(e) = self.flush_buf().await {
            // A full disk fails here: the temporary goes at once, not at the next start.
            let _ = tokio::fs::remove_file(&self.tmp).await;
            return Err(e);
        }
        let file = self.file.take().ok_or_else(|| io::Error::other("blob writer closed"))?;
        let (tmp, dest) = (self.tmp.clone(), self.dest.clone());
        tokio::task::spawn_blocking(move || -> io::Result<()> {
            let durable = file.sync_all();
            drop(file);
            if let Err(e) = durable.and_then(|()| fs::rename(&tmp, &dest)) {
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
        self.file.take();
        let _ = tokio::fs::remove_file(&self.tmp).await;
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn create(&self) -> io::Result<Box<dyn BlobWrite>> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let tmp = self.tmp_dir().join(&id);
        let dest = self.path_of(&id)?;
        let file = {
            let tmp = tmp.clone();
            tokio::task::spawn_blocking(move || File::options().write(true).create_new(true).mode(0o600).open(tmp))
                .await
                .map_err(io::Error::other)??
        };
        Ok(Box::new(LocalWrite { id, tmp, dest, file: Some(file), buf: Vec::with_capacity(WRITE_CHUNK) }))
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

    #[tokio::test]
    async fn abandoned_temporaries_are_swept_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobStore::open(dir.path()).unwrap();
        let mut w = store.create().await.unwrap();
        w.write(Bytes::from_static(b"partial")).await.unwrap();
        std::mem::forget(w);
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 1);
        LocalBlobStore::open_shared(dir.path(), 3600).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 1, "shared: a fresh temporary stays");
        LocalBlobStore::open(dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
