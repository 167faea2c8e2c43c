//! The commit pipeline of the embedded store: the writer commits a batch without waiting for
//! the disk (WAL, `synchronous=NORMAL`: the frames are written, not synced) and hands it to
//! the syncer thread, which fdatasyncs the WAL once for every batch that reached it and only
//! then answers their callers. Meanwhile the writer runs the next batch: the disk syncs while
//! the CPU works.
//!
//! Why nothing acknowledged or shown can be lost (docs/performance.md, "commit pipeline"):
//! - A caller is answered after an fdatasync of the WAL that started after its batch's
//!   `COMMIT` wrote every frame of it: acknowledged writes survive SIGKILL and power loss.
//! - Checkpoints: SQLite's, under `synchronous=NORMAL`, sync the WAL before copying and the
//!   database file after, before the WAL may be reset: the log is never overwritten while
//!   the file holds less than it.
//! - A committed batch is visible to other connections before it is durable. Readers
//!   therefore [`Durability::settle_read`] after reading: they wait until every batch that
//!   had begun its `COMMIT` by then is durable. So no read shows a write that a crash
//!   could still remove.
//! - A failed sync fails its batches and every later one, for good (until restart): the
//!   durable mark never passes it, so every read that could include it errs too, and no
//!   later batch is acknowledged on top of a log whose earlier frames may be lost.

use super::{CommitObserver, CommitStage, Reply};
use crate::{MetaError, MetaResult};
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, mpsc};

/// Batches committed and waiting for their sync, at most; the writer then waits (bounded
/// memory, and the log never runs far ahead of the disk).
pub(super) const MAX_UNSYNCED: usize = 4;

/// One batch after its `COMMIT`, on its way to the syncer.
pub(super) struct Committed {
    pub seq: u64,
    pub jobs: usize,
    /// The commit's outcome: an `Err` wrote nothing visible (rolled back).
    pub result: Result<(), String>,
    pub replies: Vec<Reply>,
}

/// How far the log is durable, shared by the writer, the syncer and the readers.
#[derive(Default)]
pub(super) struct Durability {
    /// The writer's last batch number.
    numbered: AtomicU64,
    /// The last batch whose `COMMIT` began: from then on readers may see it.
    committing: AtomicU64,
    /// The last batch known durable (or rolled back).
    durable: AtomicU64,
    /// The first sync failure: nothing is acknowledged or shown past it until restart.
    failed: OnceLock<String>,
    lock: Mutex<()>,
    moved: Condvar,
}

impl Durability {
    /// Numbers the next batch (the writer's, in order).
    pub(super) fn next_batch(&self) -> u64 {
        self.numbered.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Called right before batch `seq`'s `COMMIT`: readers from now on wait for its sync.
    /// (Not earlier: a read need not wait for a batch that is still running its jobs.)
    pub(super) fn begin_commit(&self, seq: u64) {
        self.committing.store(seq, Ordering::SeqCst);
    }

    pub(super) fn failed(&self) -> Option<&String> {
        self.failed.get()
    }

    /// Called by a reader once its statements ran: waits until everything its snapshot
    /// could hold is durable (at once when no commit is in flight).
    pub(super) fn settle_read(&self) -> MetaResult<()> {
        let mark = self.committing.load(Ordering::SeqCst);
        if self.durable.load(Ordering::SeqCst) >= mark {
            return Ok(());
        }
        let mut guard = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if self.durable.load(Ordering::SeqCst) >= mark {
                return Ok(());
            }
            if let Some(e) = self.failed.get() {
                return Err(MetaError::Internal(format!(
                    "the metadata log could not be synced ({e}); restart required"
                )));
            }
            guard = self.moved.wait(guard).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn advance(&self, seq: u64) {
        let _guard = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.durable.fetch_max(seq, Ordering::SeqCst);
        self.moved.notify_all();
    }

    fn fail(&self, e: String) {
        let _guard = self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = self.failed.set(e);
        self.moved.notify_all();
    }
}

/// Runs the syncer until the writer ends: each round takes every batch queued, syncs the
/// WAL once if any of them committed, marks them durable, and answers them.
pub(super) fn syncer_loop(
    rx: &mpsc::Receiver<Committed>,
    wal: &PathBuf,
    durability: &Durability,
    observer: Option<&CommitObserver>,
) {
    let mut file: Option<File> = None;
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while let Ok(more) = rx.try_recv() {
            group.push(more);
        }
        let jobs = group.iter().map(|b| b.jobs).sum();
        let synced = match durability.failed() {
            Some(e) => Err(e.clone()),
            None if group.iter().any(|b| b.result.is_ok()) => {
                // A panic (an observer's) counts as a failed sync: the thread stays.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    sync(&mut file, wal)
                        .and_then(|()| observer.map_or(Ok(()), |o| o(CommitStage::Synced { jobs }, None)))
                }))
                .unwrap_or_else(|_| Err("the sync step panicked".into()))
            }
            None => Ok(()),
        };
        match &synced {
            Ok(()) => durability.advance(group.last().map_or(0, |b| b.seq)),
            Err(e) => {
                tracing::error!(error = %e, jobs, "cannot sync the metadata log: no write is acknowledged until restart");
                durability.fail(e.clone());
            }
        }
        // The hook for work that must follow durability and precede the answers.
        for batch in group {
            let outcome = batch.result.and_then(|()| synced.clone());
            for reply in batch.replies {
                reply(outcome.clone());
            }
        }
    }
}

fn sync(file: &mut Option<File>, wal: &PathBuf) -> Result<(), String> {
    if file.is_none() {
        // The WAL exists once anything committed; it keeps its inode while the writer's
        // connection is open (a reset rewrites it in place).
        *file = Some(File::open(wal).map_err(|e| format!("cannot open {}: {e}", wal.display()))?);
    }
    file.as_ref().map_or(Ok(()), |f| f.sync_data().map_err(|e| format!("fdatasync of the WAL failed: {e}")))
}
