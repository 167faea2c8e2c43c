//! The trail's files follow the outbox. A record is committed in the metadata
//! store together with its change (or on its own, for denials and server events); that
//! commit is what makes it durable. One thread per trail then copies the committed records,
//! in outbox order, into the hash-chained files: seal, append, fsync, and only then remove
//! them from the outbox. A write that fails (disk full, EIO) is cut back off the file and
//! tried again later, so nothing committed is lost, skipped or reordered, and the files
//! never keep a torn line. Each line carries its outbox id (`rid`); after a crash between
//! the fsync and the removal, a restart skips the ids the files already hold.

use crate::AuditRecord;
use crate::chain::{GENESIS, last_link, seal_line, trail_files};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Where committed records wait for the files: the metadata store's `audit_outbox`.
#[async_trait::async_trait]
pub trait Outbox: Send + Sync {
    /// Commits records that stand alone (denials, server events); returns their ids.
    async fn append(&self, records: Vec<String>) -> io::Result<Vec<i64>>;
    /// The oldest committed records not yet removed, in order.
    async fn pending(&self, limit: usize) -> io::Result<Vec<(i64, String)>>;
    /// Forgets records the files hold.
    async fn remove(&self, ids: Vec<i64>) -> io::Result<()>;
}

#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// A file that reaches this size is closed and the next one started.
    pub max_file_bytes: u64,
    /// Longest time a committed record waits for the files when nobody asks for it.
    pub poll_interval: Duration,
    /// Wait before trying again after the files could not be written.
    pub retry_interval: Duration,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: 64 << 20,
            poll_interval: Duration::from_millis(250),
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// Most records in one write.
const MAX_BATCH: usize = 1024;
/// Outbox ids remembered as written (for waiters and to skip duplicates after a crash).
const RECENT: usize = 1 << 16;
/// Log the same failure at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

type Flushed = oneshot::Sender<io::Result<()>>;
type Appended = oneshot::Sender<io::Result<Vec<i64>>>;

enum Msg {
    Nudge,
    Flush(Flushed),
}

#[derive(Default)]
struct Progress {
    recent: BTreeSet<i64>,
    waiters: Vec<(BTreeSet<i64>, oneshot::Sender<()>)>,
}

impl Progress {
    fn written(&mut self, ids: &[i64]) {
        self.recent.extend(ids.iter().copied());
        while self.recent.len() > RECENT {
            self.recent.pop_first();
        }
        for (want, _) in &mut self.waiters {
            for id in ids {
                want.remove(id);
            }
        }
        let (done, open): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiters).into_iter().partition(|(w, _)| w.is_empty());
        self.waiters = open;
        for (_, tx) in done {
            let _ = tx.send(());
        }
    }
}

/// The audit trail of one chain directory: appends go to the outbox, a follower thread
/// writes the files. Cheap to share (`Arc`).
pub struct AuditLog {
    dir: PathBuf,
    outbox: Arc<dyn Outbox>,
    nudge: mpsc::Sender<Msg>,
    loose: tokio::sync::mpsc::UnboundedSender<(AuditRecord, Option<Appended>)>,
    progress: Arc<Mutex<Progress>>,
    /// False while the files cannot be written: callers then do not wait for them.
    files_ok: Arc<AtomicBool>,
}

struct Follower {
    dir: PathBuf,
    opts: AuditOptions,
    file: File,
    index: u32,
    size: u64,
    seq: u64,
    prev: String,
    /// The outbox, reached through a task on the runtime (the thread never blocks on the
    /// runtime itself, so a runtime that shuts down simply ends the follower).
    calls: tokio::sync::mpsc::UnboundedSender<Call>,
    progress: Arc<Mutex<Progress>>,
    files_ok: Arc<AtomicBool>,
    /// Ids written but not yet removed from the outbox.
    unremoved: Vec<i64>,
    failing: Option<(String, Instant)>,
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

/// Trail files are private to the server's user, whatever the process umask.
fn open_append(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// Where the chain stands after a restart.
struct Recovered {
    seq: u64,
    prev: String,
    /// Bytes of a torn last line cut off.
    dropped: u64,
    last_file: Option<PathBuf>,
    /// Outbox ids of the last lines (a crash may have left them in the outbox too).
    recent: Vec<i64>,
}

fn rids_of(text: &str, into: &mut Vec<i64>) {
    for line in text.split_terminator('\n').rev().take(MAX_BATCH * 4) {
        if let Some(at) = line.rfind("\"rid\":") {
            let digits: String = line[at + 6..].chars().take_while(char::is_ascii_digit).collect();
            if let Ok(id) = digits.parse() {
                into.push(id);
            }
        }
    }
}

fn recover(dir: &Path) -> io::Result<Recovered> {
    let files = trail_files(dir)?;
    let mut dropped = 0;
    let mut recent = Vec::new();
    for (i, path) in files.iter().enumerate().rev() {
        let bytes = std::fs::read(path)?;
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if keep < bytes.len() && i == files.len() - 1 {
            // A line cut short by a crash: its record is still in the outbox.
            let f = OpenOptions::new().write(true).open(path)?;
            f.set_len(keep as u64)?;
            f.sync_all()?;
            dropped = (bytes.len() - keep) as u64;
        }
        let text = String::from_utf8_lossy(&bytes[..keep]);
        rids_of(&text, &mut recent);
        if let Some(last) = text.split_terminator('\n').next_back() {
            let (seq, hash) = last_link(last).ok_or_else(|| {
                io::Error::other(format!(
                    "the last record of {} is unreadable; run `holdfast admin audit verify`",
                    path.display()
                ))
            })?;
            if i > 0
                && let Some(before) = files.get(i - 1)
            {
                // The batch before a rotation may sit at the end of the previous file.
                rids_of(&String::from_utf8_lossy(&std::fs::read(before)?), &mut recent);
            }
            return Ok(Recovered { seq, prev: hash, dropped, last_file: files.last().cloned(), recent });
        }
    }
    Ok(Recovered { seq: 0, prev: GENESIS.to_owned(), dropped, last_file: files.last().cloned(), recent })
}

impl AuditLog {
    /// Opens the trail in `dir` (created if needed), continuing its chain, and starts
    /// copying `outbox` into it. Must be called within a tokio runtime.
    pub fn open(dir: &Path, outbox: Arc<dyn Outbox>, opts: AuditOptions) -> io::Result<Self> {
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(dir)?;
        let rec = recover(dir)?;
        let index = rec.last_file.as_deref().map_or(1, index_of).max(1);
        let path = dir.join(file_name(index));
        let file = open_append(&path)?;
        let size = file.metadata()?.len();
        sync_dir(dir)?;
        let progress = Arc::new(Mutex::new(Progress::default()));
        let (calls, calls_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(serve_calls(Arc::clone(&outbox), calls_rx));
        progress.lock().unwrap_or_else(PoisonError::into_inner).written(&rec.recent);
        let files_ok = Arc::new(AtomicBool::new(true));
        let follower = Follower {
            dir: dir.to_owned(),
            opts,
            file,
            index,
            size,
            seq: rec.seq,
            prev: rec.prev,
            calls,
            progress: Arc::clone(&progress),
            files_ok: Arc::clone(&files_ok),
            unremoved: Vec::new(),
            failing: None,
        };
        let (nudge, rx) = mpsc::channel();
        std::thread::Builder::new().name("holdfast-audit".into()).spawn(move || follower.run(&rx))?;
        let (loose, loose_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(append_loose(Arc::clone(&outbox), loose_rx, nudge.clone()));
        let log = Self { dir: dir.to_owned(), outbox, nudge, loose, progress, files_ok };
        if rec.dropped > 0 {
            let mut r = AuditRecord::new("AuditRecovered", holdfast_lock::UtcMillis::now_system());
            r.principal = Some("holdfast:audit".into());
            r.detail = Some(serde_json::json!({ "dropped_bytes": rec.dropped, "file": file_name(index) }));
            log.append(r);
        }
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn outbox(&self) -> &Arc<dyn Outbox> {
        &self.outbox
    }

    /// Commits a record that stands alone, without waiting (a server event, a lifecycle
    /// summary). Records appended this way keep their order.
    pub fn append(&self, record: AuditRecord) {
        let _ = self.loose.send((record, None));
    }

    /// Commits a record that stands alone and returns once it is durable in the outbox
    /// and, within `file_wait`, in the files too.
    pub async fn append_durable(&self, record: AuditRecord, file_wait: Duration) -> io::Result<()> {
        let (done, wait) = oneshot::channel();
        self.loose.send((record, Some(done))).map_err(|_| io::Error::other("the audit appender stopped"))?;
        let ids = wait.await.map_err(|_| io::Error::other("the audit appender stopped"))??;
        self.wait_written(&ids, file_wait).await;
        Ok(())
    }

    /// Asks the follower to look at the outbox now (after a commit that holds records).
    pub fn nudge(&self) {
        let _ = self.nudge.send(Msg::Nudge);
    }

    /// Waits until the records `ids` are in the files, at most `timeout`; true if they are.
    pub async fn wait_written(&self, ids: &[i64], timeout: Duration) -> bool {
        if ids.is_empty() {
            return true;
        }
        if !self.files_ok.load(Ordering::Acquire) {
            // Failing now: the records are committed; the files catch up later.
            self.nudge();
            return false;
        }
        let wait = {
            let mut p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
            let want: BTreeSet<i64> = ids.iter().copied().filter(|id| !p.recent.contains(id)).collect();
            if want.is_empty() {
                return true;
            }
            let (tx, rx) = oneshot::channel();
            p.waiters.push((want, tx));
            rx
        };
        self.nudge();
        matches!(tokio::time::timeout(timeout, wait).await, Ok(Ok(())))
    }

    /// Returns once every record committed before is in the files (an error if the files
    /// cannot be written now; the records stay committed in the outbox).
    pub async fn flush(&self) -> io::Result<()> {
        let (done, wait) = oneshot::channel();
        if self.nudge.send(Msg::Flush(done)).is_err() {
            return Err(io::Error::other("the audit follower stopped"));
        }
        wait.await.map_err(|_| io::Error::other("the audit follower stopped"))?
    }
}

/// A call of the follower thread on the outbox.
enum Call {
    Pending(usize, mpsc::Sender<io::Result<Vec<(i64, String)>>>),
    Remove(Vec<i64>, mpsc::Sender<io::Result<()>>),
}

/// Runs the follower's outbox calls on the runtime.
async fn serve_calls(outbox: Arc<dyn Outbox>, mut rx: tokio::sync::mpsc::UnboundedReceiver<Call>) {
    while let Some(call) = rx.recv().await {
        match call {
            Call::Pending(limit, reply) => {
                let _ = reply.send(outbox.pending(limit).await);
            }
            Call::Remove(ids, reply) => {
                let _ = reply.send(outbox.remove(ids).await);
            }
        }
    }
}

/// The runtime is gone (the process is ending): the follower stops.
fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the runtime stopped")
}

/// Commits standalone records in arrival order, in batches.
async fn append_loose(
    outbox: Arc<dyn Outbox>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<(AuditRecord, Option<Appended>)>,
    nudge: mpsc::Sender<Msg>,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let texts = batch.iter().map(|(r, _)| serde_json::to_string(r).unwrap_or_default()).collect();
        let mut result = outbox.append(texts).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, records = batch.len(), "cannot commit audit records");
            metrics::counter!("holdfast_audit_failures_total").increment(batch.len() as u64);
        }
        let _ = nudge.send(Msg::Nudge);
        for (i, (_, done)) in batch.drain(..).enumerate() {
            if let Some(done) = done {
                let one = match &mut result {
                    Ok(ids) => Ok(ids.get(i).copied().into_iter().collect()),
                    Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                };
                let _ = done.send(one);
            }
        }
    }
}

impl Follower {
    fn run(mut self, rx: &mpsc::Receiver<Msg>) {
        loop {
            let mut flushes = Vec::new();
            let mut stop = false;
            match rx.recv_timeout(self.opts.poll_interval) {
                Ok(Msg::Flush(f)) => flushes.push(f),
                Ok(Msg::Nudge) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => stop = true,
            }
            while let Ok(m) = rx.try_recv() {
                if let Msg::Flush(f) = m {
                    flushes.push(f);
                }
            }
            if stop || self.calls.is_closed() {
                // The log was dropped or the runtime is ending: `flush` did the last pass.
                for f in flushes {
                    let _ = f.send(Err(stopped()));
                }
                return;
            }
            let drained = self.drain();
            self.files_ok.store(drained.is_ok(), Ordering::Release);
            if drained.is_ok() {
                // Caught up: every committed record of this chain is in the files.
                metrics::gauge!("holdfast_audit_outbox_records").set(0.0);
            }
            metrics::gauge!("holdfast_audit_files_ok").set(if drained.is_ok() { 1.0 } else { 0.0 });
            for f in flushes {
                let _ = f.send(match &drained {
                    Ok(()) => Ok(()),
                    Err(e) => Err(io::Error::other(e.clone())),
                });
            }
            if drained.is_err() {
                std::thread::sleep(self.opts.retry_interval);
            }
        }
    }

    /// Copies every pending record into the files; `Err` when something could not be done
    /// (the rest waits for the next pass).
    fn drain(&mut self) -> Result<(), String> {
        loop {
            let limit = MAX_BATCH + self.unremoved.len();
            let rows = match self.call(|reply| Call::Pending(limit, reply)) {
                Ok(rows) => rows,
                Err(e) => return Err(self.failed("cannot read the audit outbox", &e)),
            };
            metrics::gauge!("holdfast_audit_outbox_records").set(rows.len() as f64);
            let full = rows.len() >= MAX_BATCH;
            let fresh: Vec<(i64, String)> = {
                let p = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
                let (old, fresh): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(id, _)| p.recent.contains(id));
                self.unremoved.extend(old.into_iter().map(|(id, _)| id));
                fresh
            };
            self.unremoved.sort_unstable();
            self.unremoved.dedup();
            if !fresh.is_empty() {
                let ids: Vec<i64> = fresh.iter().map(|(id, _)| *id).collect();
                if let Err(e) = self.write(fresh) {
                    return Err(self.failed("cannot write the audit trail", &e));
                }
                self.progress.lock().unwrap_or_else(PoisonError::into_inner).written(&ids);
                self.unremoved.extend(ids);
            }
            if !self.unremoved.is_empty() {
                let ids = std::mem::take(&mut self.unremoved);
                if let Err(e) = self.call(|reply| Call::Remove(ids.clone(), reply)) {
                    self.unremoved = ids;
                    return Err(self.failed("cannot remove written records from the audit outbox", &e));
                }
            }
            if !full {
                self.recovered();
                return Ok(());
            }
        }
    }

    /// One outbox call, answered by [`serve_calls`].
    fn call<T>(&self, make: impl FnOnce(mpsc::Sender<io::Result<T>>) -> Call) -> io::Result<T> {
        let (reply, answer) = mpsc::channel();
        self.calls.send(make(reply)).map_err(|_| stopped())?;
        answer.recv().map_err(|_| stopped())?
    }

    fn failed(&mut self, what: &str, e: &io::Error) -> String {
        if self.calls.is_closed() {
            return e.to_string(); // the process is ending: nothing to report
        }
        metrics::counter!("holdfast_audit_write_failures_total").increment(1);
        let message = format!("{what}: {e}");
        let log_now = match &self.failing {
            Some((m, at)) => *m != message || at.elapsed() >= LOG_EVERY,
            None => true,
        };
        if log_now {
            tracing::error!(dir = %self.dir.display(), error = %e,
                "{what}; the records stay committed in the metadata store and are written once this succeeds");
            self.failing = Some((message.clone(), Instant::now()));
        }
        message
    }

    fn recovered(&mut self) {
        if self.failing.take().is_some() {
            tracing::info!(dir = %self.dir.display(), "the audit trail caught up");
        }
    }

    /// Seals and appends one batch, fsynced; on failure the file is cut back to where it was.
    fn write(&mut self, rows: Vec<(i64, String)>) -> io::Result<()> {
        let (start_size, start_seq, start_prev) = (self.size, self.seq, self.prev.clone());
        let mut text = String::new();
        for (id, json) in rows {
            let mut record: AuditRecord = serde_json::from_str(&json).unwrap_or_else(|e| {
                let mut r = AuditRecord::new("AuditRecordUnreadable", holdfast_lock::UtcMillis::now_system());
                r.principal = Some("holdfast:audit".into());
                r.detail = Some(serde_json::json!({ "error": e.to_string(), "text": json }));
                r
            });
            record.rid = Some(id);
            self.seq += 1;
            let (line, hash) = seal_line(self.seq, &self.prev, &record);
            self.prev = hash;
            text.push_str(&line);
            text.push('\n');
        }
        let written = self.file.write_all(text.as_bytes()).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            self.seq = start_seq;
            self.prev = start_prev;
            // No torn line may stay: it would break the chain for the next batch.
            if let Err(cut) = self.file.set_len(start_size).and_then(|()| self.file.sync_data()) {
                tracing::error!(error = %cut, "cannot cut a failed audit write back off the file; reopening it");
                self.reopen_at(start_size)?;
            }
            return Err(e);
        }
        self.size += text.len() as u64;
        if self.size >= self.opts.max_file_bytes
            && let Err(e) = self.rotate()
        {
            // The batch is written; the next one tries the rotation again.
            tracing::warn!(error = %e, "cannot start a new audit file");
        }
        Ok(())
    }

    fn reopen_at(&mut self, size: u64) -> io::Result<()> {
        let path = self.dir.join(file_name(self.index));
        let f = OpenOptions::new().write(true).open(&path)?;
        f.set_len(size)?;
        f.sync_all()?;
        self.file = open_append(&path)?;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let next = open_append(&self.dir.join(file_name(self.index + 1)))?;
        sync_dir(&self.dir)?;
        self.file = next;
        self.index += 1;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// An outbox in memory; `broken` makes every call fail.
    #[derive(Default)]
    struct MemOutbox {
        rows: Mutex<BTreeMap<i64, String>>,
        next: Mutex<i64>,
        broken: AtomicBool,
    }

    impl MemOutbox {
        fn check(&self) -> io::Result<()> {
            if self.broken.load(Ordering::SeqCst) { Err(io::Error::other("injected")) } else { Ok(()) }
        }
        fn put(&self, record: &AuditRecord) -> i64 {
            let mut next = self.next.lock().unwrap();
            *next += 1;
            self.rows.lock().unwrap().insert(*next, serde_json::to_string(record).unwrap());
            *next
        }
    }

    #[async_trait::async_trait]
    impl Outbox for MemOutbox {
        async fn append(&self, records: Vec<String>) -> io::Result<Vec<i64>> {
            self.check()?;
            Ok(records.iter().map(|t| self.put(&serde_json::from_str(t).unwrap())).collect())
        }
        async fn pending(&self, limit: usize) -> io::Result<Vec<(i64, String)>> {
            self.check()?;
            Ok(self.rows.lock().unwrap().iter().take(limit).map(|(k, v)| (*k, v.clone())).collect())
        }
        async fn remove(&self, ids: Vec<i64>) -> io::Result<()> {
            self.check()?;
            let mut rows = self.rows.lock().unwrap();
            for id in ids {
                rows.remove(&id);
            }
            Ok(())
        }
    }

    fn rec(i: usize) -> AuditRecord {
        let mut r = AuditRecord::new("PutObject", holdfast_lock::UtcMillis(0));
        r.key = Some(format!("key-{i}"));
        r
    }

    fn opts() -> AuditOptions {
        AuditOptions {
            max_file_bytes: 600,
            poll_interval: Duration::from_millis(20),
            retry_interval: Duration::from_millis(20),
        }
    }

    fn keys(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for f in trail_files(dir).unwrap() {
            for line in std::fs::read_to_string(f).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                out.push(v["key"].as_str().unwrap_or(v["op"].as_str().unwrap()).to_owned());
            }
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rotation_restart_and_outbox_failures_keep_one_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("audit");
        let outbox = Arc::new(MemOutbox::default());
        {
            let log = AuditLog::open(&dir, outbox.clone(), opts()).unwrap();
            for i in 0..10 {
                outbox.put(&rec(i));
            }
            log.append_durable(rec(10), Duration::from_secs(5)).await.unwrap();
            log.flush().await.unwrap();
        }
        assert!(outbox.rows.lock().unwrap().is_empty(), "written records leave the outbox");
        // The outbox fails for a while: records committed before stay, nothing is written twice.
        let log = AuditLog::open(&dir, outbox.clone(), opts()).unwrap();
        outbox.broken.store(true, Ordering::SeqCst);
        assert!(log.flush().await.is_err());
        outbox.broken.store(false, Ordering::SeqCst);
        outbox.put(&rec(11));
        log.flush().await.unwrap();
        drop(log);
        assert!(trail_files(&dir).unwrap().len() >= 2, "rotated");
        let report = crate::verify_dir(&dir).unwrap().unwrap();
        assert_eq!(report.records, 12);

        // A torn last line (a crash mid-write) is cut off and noted; a record the files
        // already hold but the outbox still lists (a crash before the removal) is skipped.
        let last = trail_files(&dir).unwrap().pop().unwrap();
        let text = std::fs::read_to_string(&last).unwrap();
        let last_line = text.lines().last().unwrap().to_owned();
        let v: serde_json::Value = serde_json::from_str(&last_line).unwrap();
        let mut again: AuditRecord = serde_json::from_value(v.clone()).unwrap();
        again.rid = None;
        outbox.rows.lock().unwrap().insert(v["rid"].as_i64().unwrap(), serde_json::to_string(&again).unwrap());
        let mut f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all(b"{\"hash\":\"abc").unwrap();
        drop(f);
        let log = AuditLog::open(&dir, outbox.clone(), opts()).unwrap();
        log.append_durable(rec(12), Duration::from_secs(5)).await.unwrap();
        log.flush().await.unwrap();
        drop(log);
        let report = crate::verify_dir(&dir).unwrap().unwrap();
        assert_eq!(report.records, 14, "12 records, the recovery note and one more");
        let k = keys(&dir);
        assert_eq!(k.iter().filter(|k| *k == "key-11").count(), 1, "{k:?}");
        assert_eq!(k.last().map(String::as_str), Some("key-12"));
    }
}
