//! The audit record of a change, committed in the change's own transaction.
//!
//! A write runs with the actor of its task ([`holdfast_audit::scope`]). While it runs, the
//! store's functions note what they changed ([`note`]: the version written, the lock state
//! before and after); when it succeeds, one record (actor + notes) goes into `audit_outbox`
//! inside the same transaction, so a change never commits without its record and a record
//! never exists without its change. Writes with no actor (the store's own housekeeping:
//! collection, event delivery, leases) leave no record.

use holdfast_audit::{Actor, ChangeFacts, LockSnapshot};
use holdfast_lock::LockState;
use std::cell::RefCell;
use std::sync::{Arc, Mutex, PoisonError};

thread_local! {
    /// The notes of the job running on this thread (the SQLite writer).
    static JOB: RefCell<Option<ChangeFacts>> = const { RefCell::new(None) };
}

tokio::task_local! {
    /// The notes of the transaction running in this task (PostgreSQL).
    static TX: Arc<Mutex<ChangeFacts>>;
}

/// Adds to the record of the change being made, if it is being recorded.
pub(crate) fn note(f: impl FnOnce(&mut ChangeFacts)) {
    let mut f = Some(f);
    JOB.with(|j| {
        if let Some(facts) = j.borrow_mut().as_mut()
            && let Some(f) = f.take()
        {
            f(facts);
        }
    });
    if let Some(f) = f {
        let _ = TX.try_with(|t| f(&mut t.lock().unwrap_or_else(PoisonError::into_inner)));
    }
}

/// Notes the version a change is about.
pub(crate) fn note_version(bucket: &str, key: &str, version_id: &str) {
    note(|c| {
        c.bucket = Some(bucket.to_owned());
        c.key = Some(key.to_owned());
        c.version_id = Some(version_id.to_owned());
    });
}

/// Notes a lock change.
pub(crate) fn note_lock(before: &LockState, after: &LockState) {
    note(|c| {
        c.lock_before = Some(LockSnapshot::from(before));
        c.lock_after = Some(LockSnapshot::from(after));
    });
}

/// Notes the lock a version is written with (its history starts "written").
pub(crate) fn note_lock_written(lock: &LockState) {
    note_lock(&LockState::default(), lock);
    note(|c| c.lock_written = true);
}

/// Runs `f` (on the SQLite writer thread) collecting its notes.
#[cfg(feature = "sqlite")]
pub(crate) fn collect_sync<T>(f: impl FnOnce() -> T) -> (T, ChangeFacts) {
    JOB.with(|j| *j.borrow_mut() = Some(ChangeFacts::default()));
    let out = f();
    let facts = JOB.with(|j| j.borrow_mut().take()).unwrap_or_default();
    (out, facts)
}

/// Runs `fut` (a PostgreSQL transaction's body) collecting its notes.
#[cfg(feature = "postgres")]
pub(crate) async fn collect_async<F: std::future::Future>(fut: F) -> (F::Output, ChangeFacts) {
    let cell = Arc::new(Mutex::new(ChangeFacts::default()));
    let out = TX.scope(Arc::clone(&cell), fut).await;
    let facts = std::mem::take(&mut *cell.lock().unwrap_or_else(PoisonError::into_inner));
    (out, facts)
}

/// A change's audit record, ready for the outbox, and the lock history entry derived from
/// it when the change is a lock change: both go in with the change, in its transaction.
pub(crate) struct Recorded {
    pub text: String,
    pub lock: Option<crate::lock_history::NewLockEntry>,
}

/// The record of `facts` made by `actor` at `now`.
pub(crate) fn record(actor: &Actor, facts: ChangeFacts, now: holdfast_lock::UtcMillis) -> Recorded {
    let written = facts.lock_written;
    let record = holdfast_audit::scope::change_record(actor, facts, now);
    let lock = crate::lock_history::entry_of(&record, now, written);
    Recorded { text: serde_json::to_string(&record).unwrap_or_default(), lock }
}
