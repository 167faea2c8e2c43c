//! Lock jobs on the embedded store (issue #14): the job, its tasks, and a batch of tasks
//! run in one writer transaction with their audit records and the job's cursor.

use super::{audit, objects};
use crate::lock_jobs::{RUNNING, count};
use crate::{
    LockJob, LockJobBatch, LockJobChange, LockJobTask, MetaError, MetaResult, TaskAction, TaskResult, VersionSelector,
};
use holdfast_lock::UtcMillis;
use rusqlite::{Connection, OptionalExtension, params};

/// Additive tables (no schema version change: an older build ignores them).
pub(super) const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS lock_jobs (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    client_token TEXT NOT NULL UNIQUE,
    total INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    failures TEXT NOT NULL DEFAULT '{}',
    cursor INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    terminated_ms INTEGER
);
-- done: 0 pending, 1 succeeded, 2 failed.
CREATE TABLE IF NOT EXISTS lock_job_tasks (
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    version_id TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    error_code TEXT NOT NULL DEFAULT '',
    http_status INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
";

const JOB_COLUMNS: &str = "id, spec, status, priority, created_ms, client_token, total, succeeded, failed, failures, \
                           cursor, reason, terminated_ms";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(LockJob, String)> {
    Ok((
        LockJob {
            id: r.get(0)?,
            spec: r.get(1)?,
            status: r.get(2)?,
            priority: r.get(3)?,
            created: UtcMillis(r.get(4)?),
            client_token: r.get(5)?,
            total: r.get(6)?,
            succeeded: r.get(7)?,
            failed: r.get(8)?,
            failures: Default::default(),
            cursor: r.get(10)?,
            reason: r.get(11)?,
            terminated: r.get::<_, Option<i64>>(12)?.map(UtcMillis),
        },
        r.get(9)?,
    ))
}

fn finish(row: (LockJob, String)) -> MetaResult<LockJob> {
    let (mut job, failures) = row;
    job.failures = serde_json::from_str(&failures)?;
    Ok(job)
}

pub(super) fn get(conn: &Connection, id: &str) -> MetaResult<Option<LockJob>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM lock_jobs WHERE id = ?1");
    conn.prepare_cached(&sql)?.query_row([id], job_from_row).optional()?.map(finish).transpose()
}

pub(super) fn list(conn: &Connection, id: Option<&str>) -> MetaResult<Vec<LockJob>> {
    if let Some(id) = id {
        return Ok(get(conn, id)?.into_iter().collect());
    }
    let sql = format!("SELECT {JOB_COLUMNS} FROM lock_jobs ORDER BY created_ms DESC, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], job_from_row)?.collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(finish).collect()
}

pub(super) fn put(conn: &Connection, job: &LockJob) -> MetaResult<LockJob> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM lock_jobs WHERE client_token = ?1");
    if let Some(found) = conn.prepare_cached(&sql)?.query_row([&job.client_token], job_from_row).optional()? {
        return finish(found);
    }
    conn.prepare_cached(
        "INSERT INTO lock_jobs (id, spec, status, priority, created_ms, client_token) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![job.id, job.spec, job.status, job.priority, job.created.millis(), job.client_token])?;
    get(conn, &job.id)?.ok_or_else(|| MetaError::Internal("lock job vanished".into()))
}

pub(super) fn update(conn: &Connection, id: &str, change: &LockJobChange) -> MetaResult<Option<LockJob>> {
    let Some(job) = get(conn, id)? else { return Ok(None) };
    match change {
        LockJobChange::Status { from, to, reason, total, terminated } => {
            if !from.contains(&job.status) {
                return Err(MetaError::PreconditionFailed);
            }
            conn.prepare_cached(
                "UPDATE lock_jobs SET status = ?2, reason = coalesce(?3, reason), total = coalesce(?4, total),
                 terminated_ms = coalesce(?5, terminated_ms) WHERE id = ?1",
            )?
            .execute(params![id, to, reason, total, terminated.map(|t| t.millis())])?;
        }
        LockJobChange::Priority(p) => {
            conn.prepare_cached("UPDATE lock_jobs SET priority = ?2 WHERE id = ?1")?.execute(params![id, p])?;
        }
    }
    get(conn, id)
}

pub(super) fn add_tasks(conn: &Connection, id: &str, tasks: &[LockJobTask]) -> MetaResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO lock_job_tasks (job_id, seq, bucket, key, version_id) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (job_id, seq) DO NOTHING",
    )?;
    for t in tasks {
        stmt.execute(params![id, t.seq, t.bucket, t.key.as_bytes(), t.version_id])?;
    }
    Ok(())
}

pub(super) fn tasks(conn: &Connection, id: &str, after: i64, limit: usize) -> MetaResult<Vec<LockJobTask>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, bucket, key, version_id, done, error_code, http_status, message FROM lock_job_tasks
         WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![id, after, limit], |r| {
        let key: Vec<u8> = r.get(2)?;
        let done: i64 = r.get(4)?;
        Ok(LockJobTask {
            seq: r.get(0)?,
            bucket: r.get(1)?,
            key: String::from_utf8_lossy(&key).into_owned(),
            version_id: r.get(3)?,
            result: (done != 0)
                .then(|| -> rusqlite::Result<TaskResult> {
                    Ok(TaskResult {
                        succeeded: done == 1,
                        error_code: r.get(5)?,
                        http_status: u16::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                        message: r.get(7)?,
                    })
                })
                .transpose()?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A refusal of the lock rules or the version lookup is the task's result; anything else
/// (the database itself) fails the whole batch, which then changes nothing.
fn is_task_refusal(e: &MetaError) -> bool {
    !matches!(e, MetaError::Internal(_))
}

pub(super) fn run_batch(conn: &Connection, batch: &LockJobBatch) -> MetaResult<Option<Vec<(i64, TaskResult)>>> {
    let Some(mut job) = get(conn, &batch.job)? else { return Ok(None) };
    if job.cursor != batch.from || !RUNNING.contains(&job.status.as_str()) {
        return Ok(None);
    }
    let mut results = Vec::with_capacity(batch.tasks.len());
    for t in &batch.tasks {
        let sel = VersionSelector::from_option(t.version_id.clone());
        let result = match &t.action {
            TaskAction::Refused(r) => r.clone(),
            action => {
                conn.execute_batch("SAVEPOINT task")?;
                let (out, facts) = crate::trail::collect_sync(|| match action {
                    TaskAction::LegalHold(hold) => {
                        objects::set_legal_hold(conn, &t.bucket, &t.key, &sel, *hold, batch.now).map(drop)
                    }
                    TaskAction::Retention { retention, bypass } => {
                        objects::set_retention(conn, &t.bucket, &t.key, &sel, *retention, *bypass, batch.now).map(drop)
                    }
                    TaskAction::Replicate => {
                        super::replication::replicate_task(conn, &t.bucket, &t.key, &sel, batch.now).map(drop)
                    }
                    TaskAction::Refused(_) => Ok(()),
                });
                match out {
                    Ok(()) => {
                        audit::insert_change(conn, &t.actor, facts)?;
                        conn.execute_batch("RELEASE task")?;
                        TaskResult::success()
                    }
                    Err(e) => {
                        conn.execute_batch("ROLLBACK TO task; RELEASE task")?;
                        if !is_task_refusal(&e) {
                            return Err(e);
                        }
                        (batch.words)(&e)
                    }
                }
            }
        };
        // Only a pending task takes a result: with the cursor check above, no task runs twice.
        let updated = conn
            .prepare_cached(
                "UPDATE lock_job_tasks SET done = ?3, error_code = ?4, http_status = ?5, message = ?6
             WHERE job_id = ?1 AND seq = ?2 AND done = 0",
            )?
            .execute(params![
                batch.job,
                t.seq,
                if result.succeeded { 1 } else { 2 },
                result.error_code,
                result.http_status,
                result.message
            ])?;
        if updated != 1 {
            return Err(MetaError::Internal(format!("lock job {} task {} is not pending", batch.job, t.seq)));
        }
        results.push((t.seq, result));
    }
    let (ok, failed) = count(&mut job.failures, &results);
    conn.prepare_cached(
        "UPDATE lock_jobs SET succeeded = succeeded + ?2, failed = failed + ?3, failures = ?4, cursor = ?5 WHERE id = ?1",
    )?
    .execute(params![batch.job, ok, failed, serde_json::to_string(&job.failures)?, batch.to])?;
    Ok(Some(results))
}
