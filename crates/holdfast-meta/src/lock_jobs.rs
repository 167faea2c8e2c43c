//! Lock jobs (S3 Batch Operations over Object Lock, issue #14): the records both stores keep.
//! The engine owns what a job means (its spec is JSON the engine writes); the store keeps
//! the job, its tasks and their results, and runs a batch of tasks, their audit records
//! and the job's progress in one transaction, so that no task runs twice and no result is
//! lost whatever stops the process.

use holdfast_lock::{Bypass, LegalHold, Retention, UtcMillis};
use std::collections::BTreeMap;

/// One job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockJob {
    pub id: String,
    /// The job's request as the engine keeps it (JSON).
    pub spec: String,
    /// AWS's status names (`New`, `Preparing`, `Ready`, `Active`, ...).
    pub status: String,
    pub priority: i64,
    pub created: UtcMillis,
    /// The client's idempotency token: a second CreateJob with it returns the first job.
    pub client_token: String,
    pub total: i64,
    pub succeeded: i64,
    pub failed: i64,
    /// Failed tasks by S3 error code.
    pub failures: BTreeMap<String, i64>,
    /// Tasks with `seq` at or below this are done.
    pub cursor: i64,
    pub reason: Option<String>,
    pub terminated: Option<UtcMillis>,
}

impl LockJob {
    /// A job as CreateJob makes it: status `New`, nothing counted, no task done.
    pub fn new(id: String, spec: String, priority: i64, created: UtcMillis, client_token: String) -> Self {
        LockJob {
            id,
            spec,
            status: "New".into(),
            priority,
            created,
            client_token,
            total: 0,
            succeeded: 0,
            failed: 0,
            failures: BTreeMap::new(),
            cursor: 0,
            reason: None,
            terminated: None,
        }
    }
}

/// One task: a version (or the latest, without an id) that a job changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockJobTask {
    /// 1, 2, ... in manifest order.
    pub seq: i64,
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    /// `None` while pending.
    pub result: Option<TaskResult>,
}

/// What became of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    pub succeeded: bool,
    /// The S3 error code of a failed task (empty when it succeeded).
    pub error_code: String,
    pub http_status: u16,
    pub message: String,
}

/// A change of a job's state, judged in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockJobChange {
    /// Moves the job to `to` only if its status is one of `from` (otherwise
    /// `MetaError::PreconditionFailed`, nothing changes). `total` sets the task count
    /// (the end of preparing); `terminated` the end date.
    Status {
        from: Vec<String>,
        to: String,
        reason: Option<String>,
        total: Option<i64>,
        terminated: Option<UtcMillis>,
    },
    Priority(i64),
}

/// What one task of a batch does: a change through the same store function as the
/// single request, or a failure decided before the transaction (permissions, bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskAction {
    LegalHold(LegalHold),
    Retention {
        retention: Option<Retention>,
        bypass: Bypass,
    },
    /// `S3ReplicateObject`: queue the version for replication as `holdfast admin replicate`
    /// does (the store's `requeue_version`), in the batch's transaction.
    Replicate,
    Refused(TaskResult),
}

/// One task of a batch with its audit actor.
#[derive(Debug, Clone)]
pub struct BatchTask {
    pub seq: i64,
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub action: TaskAction,
    /// Who the change is recorded as (the job's creator, the operation, the job id).
    pub actor: holdfast_audit::Actor,
}

/// A batch: tasks with `seq` in `(from, to]`, all of them, in order.
pub struct LockJobBatch {
    pub job: String,
    /// The job's cursor the batch expects; another value means another worker ran it.
    pub from: i64,
    pub to: i64,
    pub tasks: Vec<BatchTask>,
    /// Words a store refusal as S3 does (the api's error mapping).
    pub words: fn(&crate::MetaError) -> TaskResult,
    pub now: UtcMillis,
}

/// Most tasks a job may have.
pub const MAX_LOCK_JOB_TASKS: i64 = 20_000_000;

impl TaskResult {
    pub fn success() -> Self {
        Self { succeeded: true, error_code: String::new(), http_status: 200, message: "Successful".into() }
    }
}

/// The job's counters after `results`, as both stores add them.
pub(crate) fn count(job_failures: &mut BTreeMap<String, i64>, results: &[(i64, TaskResult)]) -> (i64, i64) {
    let (mut ok, mut failed) = (0, 0);
    for (_, r) in results {
        if r.succeeded {
            ok += 1;
        } else {
            failed += 1;
            *job_failures.entry(r.error_code.clone()).or_default() += 1;
        }
    }
    (ok, failed)
}

/// The statuses a batch may commit in (a pause or cancel asked mid-batch lets it finish).
pub(crate) const RUNNING: [&str; 3] = ["Active", "Pausing", "Cancelling"];
