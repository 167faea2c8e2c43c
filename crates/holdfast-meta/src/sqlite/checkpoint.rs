//! WAL checkpoints off the writer thread (#17).
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` of the connection that crosses its
//! threshold: on the writer thread, whose batches wait meanwhile (the checkpoint's pread,
//! pwrite and two fsyncs were about a fifth of the writer's time under 4 KiB PUTs). Here the
//! writer's automatic checkpoint is off and a thread with a connection of its own runs a
//! `PASSIVE` checkpoint after commits, at most every [`EVERY`]: it never blocks the writer
//! or the readers.
//!
//! The WAL stays bounded: a background checkpoint copies the frames that were there when
//! it started, but the log restarts from its beginning only when the writer begins a
//! transaction with every frame copied, which under constant writes rarely happens. So once
//! a checkpoint reports more than [`WAL_LIMIT_FRAMES`] frames in the log, the writer runs
//! one `PASSIVE` checkpoint itself between two batches (it copies only what came since the
//! background one), and its next transaction restarts the log.
//!
//! Durability is SQLite's: a checkpoint syncs the WAL before copying frames into the
//! database file and syncs the file before the log may be restarted, whatever connection
//! runs it (this one keeps `synchronous=FULL`).

use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Least time between two background checkpoints (commits in between are copied together,
/// and a page written many times is copied once). The log holds at most
/// [`WAL_LIMIT_FRAMES`] plus what this long of writes adds.
#[cfg(not(test))]
pub(super) const EVERY: Duration = Duration::from_millis(100);
#[cfg(test)]
pub(super) const EVERY: Duration = Duration::from_millis(5);

/// Frames in the log (4 KiB pages: 64 MiB) beyond which the writer completes a checkpoint
/// itself so that the log restarts; SQLite's own threshold was 1,000.
#[cfg(not(test))]
pub(super) const WAL_LIMIT_FRAMES: i64 = 16_384;
#[cfg(test)]
pub(super) const WAL_LIMIT_FRAMES: i64 = 256;

/// What the checkpointer last saw, for the writer.
#[derive(Default)]
pub(super) struct WalState {
    /// Frames in the log at the last checkpoint (either thread's).
    frames: AtomicI64,
}

/// The writer's side: wakes the checkpointer after a commit, and completes a checkpoint
/// itself when the log is past its limit.
pub(super) struct Checkpoints {
    wake: mpsc::SyncSender<()>,
    state: Arc<WalState>,
}

impl Checkpoints {
    /// Turns the writer connection's automatic checkpoint off and starts the checkpointer
    /// with its own connection to `path`. The thread ends once the writer drops this.
    pub(super) fn start(writer: &Connection, path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let state = Arc::new(WalState::default());
        let seen = Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("holdfast-meta-ckpt".into())
            .spawn(move || checkpointer_loop(&conn, &woken, &seen));
        if let Err(e) = spawned {
            // No checkpointer: SQLite's own on the writer, as before.
            tracing::error!(error = %e, "cannot start the checkpoint thread; the writer checkpoints");
            writer.pragma_update(None, "wal_autocheckpoint", 1000)?;
        }
        Ok(Self { wake, state })
    }

    /// After a commit: the checkpointer runs once it is free (never waits).
    pub(super) fn committed(&self) {
        let _ = self.wake.try_send(());
    }

    /// Between two batches: when the log is past its limit, completes a checkpoint on the
    /// writer's connection, so that its next transaction restarts the log.
    pub(super) fn bound_log(&self, writer: &Connection) {
        if self.state.frames.load(Ordering::Acquire) <= WAL_LIMIT_FRAMES {
            return;
        }
        match passive(writer) {
            Ok((log, done)) => {
                // Complete: the log restarts at the next BEGIN. Else (a reader holds old
                // frames) the next background checkpoint reports again.
                self.state.frames.store(if done >= log { 0 } else { log }, Ordering::Release);
            }
            Err(e) => {
                self.state.frames.store(0, Ordering::Release);
                tracing::warn!(error = %e, "checkpoint of the metadata log failed; retried after the next commits");
            }
        }
    }
}

fn checkpointer_loop(conn: &Connection, woken: &mpsc::Receiver<()>, state: &WalState) {
    while woken.recv().is_ok() {
        match passive(conn) {
            Ok((log, _)) => state.frames.store(log, Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "background checkpoint of the metadata log failed; retried"),
        }
        std::thread::sleep(EVERY);
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: (frames in the log, frames copied), never waiting for
/// a lock (a busy checkpoint copies what it can).
fn passive(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::{MetaStore, ObjectData, ObjectHeaders, TagSet, WriteConditions, WriteOrigin};
    use holdfast_lock::{LockState, UtcMillis};

    fn object(n: usize) -> ObjectData {
        ObjectData {
            size: 4096,
            etag: "e".into(),
            headers: ObjectHeaders::default(),
            checksum: None,
            segments: Vec::new(),
            parts: Vec::new(),
            inline: Some(bytes::Bytes::from(vec![(n % 251) as u8; 4096])),
        }
    }

    fn wal_len(db: &Path) -> u64 {
        let mut wal = db.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    /// Under constant concurrent writes of 4 KiB inline objects (many times the limit), the
    /// log is copied into the database by checkpoints the writer does not run, and its file
    /// never grows far past the limit; every object reads back after a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checkpoints_off_the_writer_keep_the_log_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let s = Arc::new(super::super::SqliteMeta::open(&path).unwrap());
        let now = UtcMillis::now_system();
        s.create_bucket("b", false, now).await.unwrap();
        const WRITERS: usize = 16;
        const EACH: usize = 200;
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let s = Arc::clone(&s);
            tasks.push(tokio::spawn(async move {
                for i in 0..EACH {
                    let n = w * EACH + i;
                    let v = NewVersion {
                        bucket: "b".into(),
                        key: format!("k{n:05}"),
                        object: object(n),
                        lock: LockState::default(),
                        origin: WriteOrigin::Put,
                    };
                    s.put_version(v, TagSet::new(), WriteConditions::default(), now).await.unwrap();
                }
            }));
        }
        let mut largest = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !tasks.iter().all(tokio::task::JoinHandle::is_finished) {
            assert!(std::time::Instant::now() < deadline, "writes took too long");
            largest = largest.max(wal_len(&path));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        // 3,200 objects wrote well over 6,400 frames; the log holds the limit plus what
        // commits while a checkpoint runs (a few batches of at most 16 jobs here).
        let frame = 4096 + 24;
        let bound = u64::try_from(WAL_LIMIT_FRAMES + 1536).unwrap() * frame;
        assert!(largest > 0 && largest <= bound, "the log grew to {largest} bytes (bound {bound})");
        assert!(wal_len(&path) <= bound);
        let in_file = std::fs::metadata(&path).unwrap().len();
        assert!(in_file > 3200 * 4096, "the checkpoints copied the objects into the database ({in_file} bytes)");
        drop(s);
        let s = super::super::SqliteMeta::open(&path).unwrap();
        for n in [0, 1599, 3199] {
            let got = s.version("b", &format!("k{n:05}"), &crate::VersionSelector::Latest).await.unwrap();
            assert_eq!(got.object.and_then(|o| o.inline).as_deref(), Some(&vec![(n % 251) as u8; 4096][..]));
        }
    }
}
