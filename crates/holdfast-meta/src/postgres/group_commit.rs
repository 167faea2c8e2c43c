//! Group commit of PUTs (issue #17). A PUT that waits while others commit joins the next
//! group: a writer task takes every PUT queued (up to [`MAX_GROUP`]) and runs them in one
//! READ COMMITTED transaction on one connection:
//!
//! 1. `BEGIN`; the groups' buckets `FOR KEY SHARE` (the lock order of the module above);
//! 2. per PUT, its version id and lock state from `holdfast_lock` against that bucket row,
//!    then one call of `holdfast_put_version` (migration 14: it also writes `latest`'s listed
//!    columns), all pipelined with the group's one raise of the clock mark: one round trip
//!    for the whole group. Each call is its own subtransaction: a refused PUT (412, no such
//!    key) or one that must take the full path undoes only itself;
//! 3. the audit records of the PUTs that went in, pipelined, in the same transaction;
//! 4. one `COMMIT` (one WAL flush: `synchronous_commit` stays on) and then the answers.
//!
//! A PUT the function declines (`slow`) goes back to its caller, who runs it statement by
//! statement (`tags::put_version`) in a transaction of its own. A failure of the group
//! itself (connection lost, database down) answers every PUT of the group with the error:
//! nothing of it was acknowledged, and a lost `COMMIT` is as uncertain as it is for one PUT.

use super::{Fail, RowLock, Tx, buckets};
use crate::model::{NewVersion, VersionRecord, WriteConditions};
use crate::{MetaError, MetaResult, TagSet};
use deadpool_postgres::Pool;
use holdfast_audit::scope::ActorCell;
use holdfast_lock::{LockState, UtcMillis};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use tokio::sync::{Mutex, mpsc, oneshot};

/// PUTs in one transaction at most (each call is a subtransaction; PostgreSQL caches 64
/// subtransaction ids per transaction before it spills them).
const MAX_GROUP: usize = 32;
/// Groups in flight at once: two (one while the other waits for its WAL flush), one with a
/// pool of fewer than 8. With half the pool (8) writing, 16 clients made groups of 1.3 PUTs
/// on average (a `BEGIN`, a bucket lock and a `COMMIT` for almost every PUT); two writers
/// take what waits while the other commits.
fn writers(pool_size: usize) -> usize {
    (pool_size / 8).clamp(1, 2)
}
/// PUTs waiting for a writer at most; a caller beyond it waits to enqueue.
const QUEUE: usize = 1024;

const CALL: &str = "SELECT code, new_seq, audit_id FROM holdfast_put_version($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
     $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)";

/// What a PUT brings.
pub(super) struct Request {
    pub v: NewVersion,
    pub tags: TagSet,
    pub cond: WriteConditions,
    pub now: UtcMillis,
}

/// The answer to a PUT.
pub(super) enum Answer {
    /// Committed (with its audit record's outbox id) or refused.
    Done(MetaResult<(Box<VersionRecord>, Option<i64>)>),
    /// Nothing was changed: run it on the full path.
    Slow(Box<Request>),
}

struct Job {
    req: Request,
    actor: Option<ActorCell>,
    answer: oneshot::Sender<Answer>,
}

/// The queue to this store's writers, started by the first PUT (on the runtime that serves).
pub(super) struct GroupCommit {
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl GroupCommit {
    pub(super) const fn new() -> Self {
        Self { queue: OnceLock::new() }
    }

    /// Runs `req` in the next group.
    pub(super) async fn put(
        &self,
        pool: &Pool,
        chain: &Arc<OnceLock<String>>,
        req: Request,
        actor: Option<ActorCell>,
    ) -> Answer {
        let queue = self.queue.get_or_init(|| start(pool.clone(), Arc::clone(chain)));
        let (answer, answered) = oneshot::channel();
        if let Err(mpsc::error::SendError(job)) = queue.send(Job { req, actor, answer }).await {
            // The writers are gone (their runtime stopped): nothing was done.
            return Answer::Slow(Box::new(job.req));
        }
        // A writer that went away without answering may have committed: never run it again.
        answered.await.unwrap_or_else(|_| {
            Answer::Done(Err(MetaError::Internal("the group commit writer stopped before answering".into())))
        })
    }
}

fn start(pool: Pool, chain: Arc<OnceLock<String>>) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..writers(pool.status().max_size) {
        tokio::spawn(writer(pool.clone(), Arc::clone(&chain), Arc::clone(&rx)));
    }
    tx
}

async fn writer(pool: Pool, chain: Arc<OnceLock<String>>, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        let mut group = Vec::with_capacity(MAX_GROUP);
        if rx.lock().await.recv_many(&mut group, MAX_GROUP).await == 0 {
            return;
        }
        let chain = chain.get().cloned().unwrap_or_else(|| "default".to_owned());
        run(&pool, &chain, group).await;
    }
}

/// What became of one PUT inside the group's transaction.
enum Outcome {
    /// With the id of its audit record when the put function inserted it (migration 15).
    Stored(Box<VersionRecord>, Option<i64>),
    Refused(MetaError),
    Slow,
}

async fn run(pool: &Pool, chain: &str, mut group: Vec<Job>) {
    // One key order for every group: concurrent groups lock `latest` rows in the same order.
    group.sort_by(|a, b| (&a.req.v.bucket, &a.req.v.key).cmp(&(&b.req.v.bucket, &b.req.v.key)));
    let result = commit(pool, chain, &group).await;
    match result {
        Ok(outcomes) => {
            for (job, (outcome, audit_id)) in group.into_iter().zip(outcomes) {
                let answer = match outcome {
                    Outcome::Stored(rec, _) => Answer::Done(Ok((rec, audit_id))),
                    Outcome::Refused(e) => Answer::Done(Err(e)),
                    Outcome::Slow => Answer::Slow(Box::new(job.req)),
                };
                let _ = job.answer.send(answer);
            }
        }
        // Nothing of the group stayed: each PUT runs again on its own, with its retries.
        Err(e) if e.retryable() => {
            tracing::debug!("a group commit conflicted; its PUTs run one by one");
            for job in group {
                let _ = job.answer.send(Answer::Slow(Box::new(job.req)));
            }
        }
        Err(e) => {
            let message = match e.into_meta() {
                MetaError::Internal(m) => m,
                other => other.to_string(),
            };
            for job in group {
                let _ = job.answer.send(Answer::Done(Err(MetaError::Internal(message.clone()))));
            }
        }
    }
}

/// The group's transaction; `Ok` only once it committed.
async fn commit(pool: &Pool, chain: &str, group: &[Job]) -> Result<Vec<(Outcome, Option<i64>)>, Fail> {
    let mut client = pool.get().await?;
    let tx = client.build_transaction().isolation_level(tokio_postgres::IsolationLevel::ReadCommitted).start().await?;
    let mut found = HashMap::new();
    for job in group {
        let name = job.req.v.bucket.as_str();
        if !found.contains_key(name) {
            found.insert(name, buckets::get(&tx, name, RowLock::KeyShare).await?);
        }
    }
    // The clock mark once for the group (its latest reading), pipelined with the PUTs.
    let high = UtcMillis(group.iter().map(|job| job.req.now.millis()).max().unwrap_or_default());
    let (outcomes, bumped) =
        futures::future::join(put_all(&tx, chain, group, &found), super::clock::bump(&tx, high)).await;
    bumped?;
    let outcomes = outcomes?;
    let audit_ids = record_all(&tx, chain, group, &outcomes).await?;
    tx.commit().await?;
    Ok(outcomes.into_iter().zip(audit_ids).collect())
}

/// One pipelined call of `holdfast_put_version` per PUT.
async fn put_all(
    tx: &Tx<'_>,
    chain: &str,
    group: &[Job],
    found: &HashMap<&str, Option<crate::model::Bucket>>,
) -> Result<Vec<Outcome>, Fail> {
    let stmt = tx.prepare_cached(CALL).await?;
    let mut plans = Vec::with_capacity(group.len());
    for job in group {
        let v = &job.req.v;
        let plan = found.get(v.bucket.as_str()).and_then(Option::as_ref).map(|b| {
            // The same decisions as objects::write_new, against the row this transaction holds.
            let lock = holdfast_lock::lock_for_new_version(b.lock(), v.lock, job.req.now);
            (b.next_version_id(), lock)
        });
        plans.push(plan);
    }
    let calls = group.iter().zip(&plans).map(|(job, plan)| {
        let stmt = &stmt;
        async move {
            let Some((version_id, lock)) = plan else { return Ok(None) };
            let r = &job.req;
            let (mode, until, hold) = super::rows::lock_columns(lock);
            let data = serde_json::to_string(&r.v.object)?;
            let size = i64::try_from(r.v.object.size).unwrap_or(i64::MAX);
            let blobs: Vec<&str> = r.v.object.segments.iter().map(|s| s.blob.as_str()).collect();
            let tags = (!r.tags.is_empty()).then(|| crate::tags::encode(&r.tags));
            let inline: Option<&[u8]> = r.v.object.inline.as_deref();
            let (class, ck_algorithm, ck_kind, ck_value) = super::put_listed::listed_args(&r.v.object);
            let record = match (&job.actor, lock == &LockState::default()) {
                (Some(cell), true) => Some(put_record(cell, r, version_id).await),
                _ => None,
            };
            let row = tx
                .query_one(
                    stmt,
                    &[
                        &r.v.bucket,
                        &r.v.key.as_bytes(),
                        version_id,
                        &data,
                        &size,
                        &r.v.object.etag,
                        &mode,
                        &until,
                        &hold,
                        &r.now.millis(),
                        &blobs,
                        &tags,
                        &r.cond.if_none_match,
                        &r.cond.if_match,
                        &inline,
                        &class,
                        &ck_algorithm,
                        &ck_kind,
                        &ck_value,
                        &chain,
                        &record,
                    ],
                )
                .await?;
            let code: String = row.try_get(0)?;
            let seq: Option<i64> = row.try_get(1)?;
            let audit_id: Option<i64> = row.try_get(2)?;
            Ok::<_, Fail>(Some((code, seq, audit_id)))
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut outcomes = Vec::with_capacity(group.len());
    for ((job, plan), result) in group.iter().zip(plans).zip(results) {
        let outcome = match (plan, result?) {
            (None, _) | (_, None) => Outcome::Refused(MetaError::NoSuchBucket),
            (Some((version_id, lock)), Some((code, seq, audit_id))) => match (code.as_str(), seq) {
                ("ok", Some(seq)) => Outcome::Stored(Box::new(stored(&job.req, seq, version_id, lock)), audit_id),
                ("precondition", _) => Outcome::Refused(MetaError::PreconditionFailed),
                ("nosuchkey", _) => Outcome::Refused(MetaError::NoSuchKey),
                (other, _) => {
                    if other != "slow" {
                        tracing::debug!(code = other, "a grouped PUT takes the full path");
                    }
                    Outcome::Slow
                }
            },
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// The audit record of a PUT that sets no lock, as `record_all` would write it: handed to the
/// put function, which inserts it only if the PUT is stored.
async fn put_record(cell: &ActorCell, r: &Request, version_id: &str) -> String {
    let ((), facts) =
        crate::trail::collect_async(async { crate::trail::note_version(&r.v.bucket, &r.v.key, version_id) }).await;
    crate::trail::record(&cell.actor(), facts, UtcMillis::now_system()).text
}

fn stored(req: &Request, seq: i64, version_id: String, lock: LockState) -> VersionRecord {
    VersionRecord {
        seq,
        bucket: req.v.bucket.clone(),
        key: req.v.key.clone(),
        version_id,
        last_modified: req.now,
        is_latest: true,
        object: Some(req.v.object.clone()),
        lock,
        replication: None,
    }
}

/// The audit record of each stored PUT with an actor that the put function did not insert (one
/// that sets a lock: `audit::insert` also writes its lock history entry), pipelined; outbox ids
/// in group order.
async fn record_all(tx: &Tx<'_>, chain: &str, group: &[Job], outcomes: &[Outcome]) -> Result<Vec<Option<i64>>, Fail> {
    let inserts = group.iter().zip(outcomes).map(|(job, outcome)| async move {
        let (Outcome::Stored(rec, recorded), Some(cell)) = (outcome, &job.actor) else { return Ok(None) };
        if recorded.is_some() {
            return Ok(*recorded);
        }
        let ((), facts) = crate::trail::collect_async(async {
            crate::trail::note_version(&rec.bucket, &rec.key, &rec.version_id);
            if rec.lock != LockState::default() {
                crate::trail::note_lock_written(&rec.lock);
            }
        })
        .await;
        Ok::<_, Fail>(Some(super::audit::insert(tx, chain, &cell.actor(), facts).await?))
    });
    futures::future::join_all(inserts).await.into_iter().collect()
}
