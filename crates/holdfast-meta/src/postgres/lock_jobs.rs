//! Lock jobs on PostgreSQL (issue #14): the job row is locked `FOR UPDATE` by every change
//! of it, so a batch, a status change and another gateway's batch serialize on it; a batch
//! runs its tasks, their audit records and the cursor in the one transaction.

use super::rows::{execute, key_at, query, query_opt};
use super::{Fail, Tx, WORM_GUARD_STATE, objects};
use crate::lock_jobs::{RUNNING, count};
use crate::{LockJob, LockJobBatch, LockJobChange, LockJobTask, MetaError, TaskAction, TaskResult, VersionSelector};
use holdfast_lock::UtcMillis;
use tokio_postgres::Row;

pub(super) const V8: &str = r#"
CREATE TABLE lock_jobs (
    id text PRIMARY KEY,
    spec text NOT NULL,
    status text NOT NULL,
    priority bigint NOT NULL,
    created_ms bigint NOT NULL,
    client_token text NOT NULL UNIQUE,
    total bigint NOT NULL DEFAULT 0,
    succeeded bigint NOT NULL DEFAULT 0,
    failed bigint NOT NULL DEFAULT 0,
    failures text NOT NULL DEFAULT '{}',
    cursor bigint NOT NULL DEFAULT 0,
    reason text,
    terminated_ms bigint
);
-- done: 0 pending, 1 succeeded, 2 failed.
CREATE TABLE lock_job_tasks (
    job_id text NOT NULL,
    seq bigint NOT NULL,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    version_id text,
    done smallint NOT NULL DEFAULT 0,
    error_code text NOT NULL DEFAULT '',
    http_status integer NOT NULL DEFAULT 0,
    message text NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, seq)
);
"#;

const JOB_COLUMNS: &str = "id, spec, status, priority, created_ms, client_token, total, succeeded, failed, failures, \
                           cursor, reason, terminated_ms";

fn job_from_row(r: &Row) -> Result<LockJob, Fail> {
    let failures: String = r.try_get(9)?;
    Ok(LockJob {
        id: r.try_get(0)?,
        spec: r.try_get(1)?,
        status: r.try_get(2)?,
        priority: r.try_get(3)?,
        created: UtcMillis(r.try_get(4)?),
        client_token: r.try_get(5)?,
        total: r.try_get(6)?,
        succeeded: r.try_get(7)?,
        failed: r.try_get(8)?,
        failures: serde_json::from_str(&failures)?,
        cursor: r.try_get(10)?,
        reason: r.try_get(11)?,
        terminated: r.try_get::<_, Option<i64>>(12)?.map(UtcMillis),
    })
}

async fn get(tx: &Tx<'_>, id: &str, lock: bool) -> Result<Option<LockJob>, Fail> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM lock_jobs WHERE id = $1{}", if lock { " FOR UPDATE" } else { "" });
    query_opt(tx, &sql, &[&id]).await?.as_ref().map(job_from_row).transpose()
}

pub(super) async fn list(tx: &Tx<'_>, id: Option<&str>) -> Result<Vec<LockJob>, Fail> {
    if let Some(id) = id {
        return Ok(get(tx, id, false).await?.into_iter().collect());
    }
    let sql = format!("SELECT {JOB_COLUMNS} FROM lock_jobs ORDER BY created_ms DESC, id");
    query(tx, &sql, &[]).await?.iter().map(job_from_row).collect()
}

pub(super) async fn put(tx: &Tx<'_>, job: &LockJob) -> Result<LockJob, Fail> {
    execute(
        tx,
        "INSERT INTO lock_jobs (id, spec, status, priority, created_ms, client_token) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (client_token) DO NOTHING",
        &[&job.id, &job.spec, &job.status, &job.priority, &job.created.millis(), &job.client_token],
    )
    .await?;
    let sql = format!("SELECT {JOB_COLUMNS} FROM lock_jobs WHERE client_token = $1");
    let row = query_opt(tx, &sql, &[&job.client_token]).await?;
    row.as_ref()
        .map(job_from_row)
        .transpose()?
        .ok_or_else(|| Fail::Meta(MetaError::Internal("lock job vanished".into())))
}

pub(super) async fn update(tx: &Tx<'_>, id: &str, change: &LockJobChange) -> Result<Option<LockJob>, Fail> {
    let Some(job) = get(tx, id, true).await? else { return Ok(None) };
    match change {
        LockJobChange::Status { from, to, reason, total, terminated } => {
            if !from.contains(&job.status) {
                return Err(Fail::Meta(MetaError::PreconditionFailed));
            }
            execute(
                tx,
                "UPDATE lock_jobs SET status = $2, reason = coalesce($3, reason), total = coalesce($4, total),
                 terminated_ms = coalesce($5, terminated_ms) WHERE id = $1",
                &[&id, to, reason, total, &terminated.map(|t| t.millis())],
            )
            .await?;
        }
        LockJobChange::Priority(p) => {
            execute(tx, "UPDATE lock_jobs SET priority = $2 WHERE id = $1", &[&id, p]).await?;
        }
    }
    get(tx, id, false).await
}

pub(super) async fn add_tasks(tx: &Tx<'_>, id: &str, tasks: &[LockJobTask]) -> Result<(), Fail> {
    let stmt = tx
        .prepare(
            "INSERT INTO lock_job_tasks (job_id, seq, bucket, key, version_id) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (job_id, seq) DO NOTHING",
        )
        .await?;
    for t in tasks {
        tx.execute(&stmt, &[&id, &t.seq, &t.bucket, &t.key.as_bytes(), &t.version_id]).await?;
    }
    Ok(())
}

pub(super) async fn tasks(tx: &Tx<'_>, id: &str, after: i64, limit: usize) -> Result<Vec<LockJobTask>, Fail> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = query(
        tx,
        "SELECT seq, bucket, key, version_id, done, error_code, http_status, message FROM lock_job_tasks
         WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        &[&id, &after, &limit],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let done: i16 = r.try_get(4)?;
            let result = if done == 0 {
                None
            } else {
                Some(TaskResult {
                    succeeded: done == 1,
                    error_code: r.try_get(5)?,
                    http_status: u16::try_from(r.try_get::<_, i32>(6)?).unwrap_or(0),
                    message: r.try_get(7)?,
                })
            };
            Ok(LockJobTask {
                seq: r.try_get(0)?,
                bucket: r.try_get(1)?,
                key: key_at(r, 2)?,
                version_id: r.try_get(3)?,
                result,
            })
        })
        .collect()
}

/// What a failed task's change ended with: a refusal is the task's result (after the
/// savepoint rolled it back); anything else fails the batch (retried whole when it is a
/// conflict).
fn refusal(fail: &Fail) -> Option<MetaError> {
    match fail {
        Fail::Meta(MetaError::Internal(_)) | Fail::Retry => None,
        Fail::Meta(e) => Some(e.copy_refusal()),
        Fail::Db(e) if e.code().map(tokio_postgres::error::SqlState::code) == Some(WORM_GUARD_STATE) => {
            Some(MetaError::Locked(holdfast_lock::LockDenied::Compliance))
        }
        Fail::Db(_) => None,
    }
}

pub(super) async fn run_batch(
    tx: &Tx<'_>,
    chain: &str,
    batch: &LockJobBatch,
) -> Result<Option<Vec<(i64, TaskResult)>>, Fail> {
    let Some(mut job) = get(tx, &batch.job, true).await? else { return Ok(None) };
    if job.cursor != batch.from || !RUNNING.contains(&job.status.as_str()) {
        return Ok(None);
    }
    let mut results = Vec::with_capacity(batch.tasks.len());
    for t in &batch.tasks {
        let sel = VersionSelector::from_option(t.version_id.clone());
        let result = match &t.action {
            TaskAction::Refused(r) => r.clone(),
            action => {
                tx.batch_execute("SAVEPOINT task").await?;
                let (out, facts) = crate::trail::collect_async(async {
                    match action {
                        TaskAction::LegalHold(hold) => {
                            objects::set_legal_hold(tx, &t.bucket, &t.key, &sel, *hold, batch.now).await.map(drop)
                        }
                        TaskAction::Retention { retention, bypass } => {
                            objects::set_retention(tx, &t.bucket, &t.key, &sel, *retention, *bypass, batch.now)
                                .await
                                .map(drop)
                        }
                        TaskAction::Replicate => {
                            super::replication::replicate_task(tx, &t.bucket, &t.key, &sel, batch.now).await.map(drop)
                        }
                        TaskAction::Refused(_) => Ok(()),
                    }
                })
                .await;
                match out {
                    Ok(()) => {
                        super::audit::insert(tx, chain, &t.actor, facts).await?;
                        tx.batch_execute("RELEASE SAVEPOINT task").await?;
                        TaskResult::success()
                    }
                    Err(fail) => {
                        tx.batch_execute("ROLLBACK TO SAVEPOINT task; RELEASE SAVEPOINT task").await?;
                        match refusal(&fail) {
                            Some(e) => (batch.words)(&e),
                            None => return Err(fail),
                        }
                    }
                }
            }
        };
        // Only a pending task takes a result: with the cursor check above, no task runs twice.
        let updated = execute(
            tx,
            "UPDATE lock_job_tasks SET done = $3, error_code = $4, http_status = $5, message = $6
             WHERE job_id = $1 AND seq = $2 AND done = 0",
            &[
                &batch.job,
                &t.seq,
                &(if result.succeeded { 1i16 } else { 2i16 }),
                &result.error_code,
                &i32::from(result.http_status),
                &result.message,
            ],
        )
        .await?;
        if updated != 1 {
            return Err(Fail::Meta(MetaError::Internal(format!(
                "lock job {} task {} is not pending",
                batch.job, t.seq
            ))));
        }
        results.push((t.seq, result));
    }
    let (ok, failed) = count(&mut job.failures, &results);
    execute(
        tx,
        "UPDATE lock_jobs SET succeeded = succeeded + $2, failed = failed + $3, failures = $4, cursor = $5 WHERE id = $1",
        &[&batch.job, &ok, &failed, &serde_json::to_string(&job.failures)?, &batch.to],
    )
    .await?;
    Ok(Some(results))
}
