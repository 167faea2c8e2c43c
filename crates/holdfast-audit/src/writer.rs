//! The appender: one thread owns the current file, seals queued records into lines, writes
//! each batch with one `write` and fsyncs it when a caller waits for durability (or within
//! `sync_interval` otherwise). Rotation starts a new file; the chain runs on across files.

use crate::AuditRecord;
use crate::chain::{GENESIS, last_link, seal_line, trail_files};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// A file that reaches this size is closed and the next one started.
    pub max_file_bytes: u64,
    /// Longest time a record nobody waits for stays unsynced.
    pub sync_interval: Duration,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self { max_file_bytes: 64 << 20, sync_interval: Duration::from_secs(1) }
    }
}

type Done = oneshot::Sender<io::Result<()>>;

enum Msg {
    Append { record: Box<AuditRecord>, durable: bool, done: Option<Done> },
    Flush(Done),
}

/// The audit trail of one data directory. Cheap to share (`Arc`); appends never block on
/// the disk unless the caller asks to wait.
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    dir: PathBuf,
}

struct Writer {
    dir: PathBuf,
    opts: AuditOptions,
    file: File,
    index: u32,
    size: u64,
    seq: u64,
    prev: String,
    unsynced: bool,
    last_sync: Instant,
    failed: Option<String>,
}

fn file_name(index: u32) -> String {
    format!("audit-{index:06}.jsonl")
}

fn index_of(path: &Path) -> u32 {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("audit-")?.strip_suffix(".jsonl")?.parse().ok())
        .unwrap_or(0)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Trail files are private to the server's user (issue #10), whatever the process umask.
fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// Where the chain stands: (last seq, last hash, bytes of a torn last line dropped, file).
fn recover(dir: &Path) -> io::Result<(u64, String, u64, Option<PathBuf>)> {
    let files = trail_files(dir)?;
    let mut dropped = 0;
    for (i, path) in files.iter().enumerate().rev() {
        let bytes = std::fs::read(path)?;
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if keep < bytes.len() && i == files.len() - 1 {
            // A line cut short by a crash was never acknowledged as durable: drop it.
            let f = OpenOptions::new().write(true).open(path)?;
            f.set_len(keep as u64)?;
            f.sync_all()?;
            dropped = (bytes.len() - keep) as u64;
        }
        let text = String::from_utf8_lossy(&bytes[..keep]);
        if let Some(last) = text.split_terminator('\n').next_back() {
            let (seq, hash) = last_link(last).ok_or_else(|| {
                io::Error::other(format!(
                    "the last record of {} is unreadable; run `holdfast admin audit verify`",
                    path.display()
                ))
            })?;
            return Ok((seq, hash, dropped, files.last().cloned()));
        }
    }
    Ok((0, GENESIS.to_owned(), dropped, files.last().cloned()))
}

impl AuditLog {
    /// Opens the trail in `dir` (created if needed), continuing its chain.
    pub fn open(dir: &Path, opts: AuditOptions) -> io::Result<Self> {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(dir)?;
        let (seq, prev, dropped, last) = recover(dir)?;
        let index = last.as_deref().map_or(1, index_of).max(1);
        let path = dir.join(file_name(index));
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        sync_dir(dir)?;
        let mut writer = Writer {
            dir: dir.to_owned(),
            opts,
            file,
            index,
            size,
            seq,
            prev,
            unsynced: false,
            last_sync: Instant::now(),
            failed: None,
        };
        if dropped > 0 {
            let mut r = AuditRecord::new("AuditRecovered", holdfast_lock::Instant::now_system());
            r.principal = Some("holdfast:audit".into());
            r.detail = Some(serde_json::json!({ "dropped_bytes": dropped, "file": file_name(index) }));
            writer.write_batch(vec![(Box::new(r), true, None)]);
        }
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new().name("holdfast-audit".into()).spawn(move || writer.run(&rx))?;
        Ok(Self { tx, dir: dir.to_owned() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends without waiting; the line is on disk within `sync_interval`.
    pub fn append(&self, record: AuditRecord) {
        self.send(record, false, None);
    }

    /// Appends and fsyncs at once without waiting (for callers that cannot wait).
    pub fn append_urgent(&self, record: AuditRecord) {
        self.send(record, true, None);
    }

    /// Appends and returns once the line is durable.
    pub async fn append_durable(&self, record: AuditRecord) -> io::Result<()> {
        let (done, wait) = oneshot::channel();
        self.send(record, true, Some(done));
        wait.await.map_err(|_| io::Error::other("the audit writer stopped"))?
    }

    /// Returns once everything appended before is durable.
    pub async fn flush(&self) -> io::Result<()> {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_err() {
            return Err(io::Error::other("the audit writer stopped"));
        }
        wait.await.map_err(|_| io::Error::other("the audit writer stopped"))?
    }

    fn send(&self, record: AuditRecord, durable: bool, done: Option<Done>) {
        if let Err(mpsc::SendError(Msg::Append { done: Some(done), .. })) =
            self.tx.send(Msg::Append { record: Box::new(record), durable, done })
        {
            let _ = done.send(Err(io::Error::other("the audit writer stopped")));
        }
    }
}

/// Most records in one write.
const MAX_BATCH: usize = 1024;

impl Writer {
    fn run(mut self, rx: &mpsc::Receiver<Msg>) {
        loop {
            let first = match rx.recv_timeout(self.opts.sync_interval) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.sync();
                    return;
                }
            };
            let mut batch = Vec::new();
            let mut flushes = Vec::new();
            let mut next = first;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Append { record, durable, done } => batch.push((record, durable, done)),
                    Msg::Flush(done) => flushes.push(done),
                }
                if batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            let durable_needed = !flushes.is_empty();
            self.write_batch_with(batch, durable_needed);
            if self.unsynced && self.last_sync.elapsed() >= self.opts.sync_interval {
                let _ = self.sync();
            }
            for done in flushes {
                let _ = done.send(self.status());
            }
        }
    }

    fn status(&self) -> io::Result<()> {
        match &self.failed {
            Some(e) => Err(io::Error::other(format!("the audit trail cannot be written: {e}"))),
            None => Ok(()),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.unsynced {
            self.file.sync_data()?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    fn write_batch(&mut self, batch: Vec<(Box<AuditRecord>, bool, Option<Done>)>) {
        self.write_batch_with(batch, false);
    }

    fn write_batch_with(&mut self, batch: Vec<(Box<AuditRecord>, bool, Option<Done>)>, force_sync: bool) {
        let mut waiters = Vec::new();
        let mut durable = force_sync;
        if self.failed.is_none() && !batch.is_empty() {
            let mut text = String::new();
            for (record, wants_sync, done) in batch {
                self.seq += 1;
                let (line, hash) = seal_line(self.seq, &self.prev, &record);
                self.prev = hash;
                text.push_str(&line);
                text.push('\n');
                durable |= wants_sync;
                waiters.extend(done);
            }
            match self.file.write_all(text.as_bytes()) {
                Ok(()) => {
                    self.size += text.len() as u64;
                    self.unsynced = true;
                }
                Err(e) => self.fail(&e),
            }
        } else {
            waiters.extend(batch.into_iter().filter_map(|(_, _, d)| d));
        }
        if durable
            && self.failed.is_none()
            && let Err(e) = self.sync()
        {
            self.fail(&e);
        }
        // Rotate before answering: a caller that saw its record durable and then reopens the
        // trail (a restart) must find the writer done with the directory.
        let written = self.status();
        if self.failed.is_none()
            && self.size >= self.opts.max_file_bytes
            && let Err(e) = self.rotate()
        {
            self.fail(&e);
        }
        for w in waiters {
            let _ = w.send(written.as_ref().map(|_| ()).map_err(|e| io::Error::other(e.to_string())));
        }
    }

    fn fail(&mut self, e: &io::Error) {
        tracing::error!(error = %e, dir = %self.dir.display(), "cannot write the audit trail; refusing further records");
        self.failed = Some(e.to_string());
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.unsynced = true;
        self.sync()?;
        self.index += 1;
        self.file = open_append(&self.dir.join(file_name(self.index)))?;
        self.size = 0;
        sync_dir(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize) -> AuditRecord {
        let mut r = AuditRecord::new("PutObject", holdfast_lock::Instant(0));
        r.key = Some(format!("key-{i}"));
        r
    }

    #[tokio::test]
    async fn rotation_and_restart_keep_one_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("audit");
        let opts = AuditOptions { max_file_bytes: 600, sync_interval: Duration::from_millis(50) };
        {
            let log = AuditLog::open(&dir, opts.clone()).unwrap();
            for i in 0..10 {
                log.append(rec(i));
            }
            log.append_durable(rec(10)).await.unwrap();
        }
        // Reopened (a restart): the chain continues, and a torn last line is dropped.
        let log = AuditLog::open(&dir, opts.clone()).unwrap();
        log.append_durable(rec(11)).await.unwrap();
        drop(log);
        let files = trail_files(&dir).unwrap();
        assert!(files.len() >= 2, "rotated into {} files", files.len());
        let report = crate::verify_dir(&dir).unwrap().unwrap();
        assert_eq!(report.records, 12);
        let last = files.last().unwrap();
        let mut f = OpenOptions::new().append(true).open(last).unwrap();
        f.write_all(b"{\"hash\":\"abc").unwrap();
        drop(f);
        let log = AuditLog::open(&dir, opts).unwrap();
        log.flush().await.unwrap();
        drop(log);
        let report = crate::verify_dir(&dir).unwrap().unwrap();
        assert_eq!(report.records, 13, "12 records and the recovery note");
    }
}
