//! Versions' lock histories on PostgreSQL (`crate::lock_history` says what and why):
//! inserted with the change's audit record, removed with the version.

use super::rows::{execute, query};
use super::{Fail, Tx, objects};
use crate::VersionSelector;
use crate::lock_history::{HistoryOrder, LockHistory, LockHistoryEntry, LockHistoryQuery, NewLockEntry, page};

/// `seq` is the version's row in `versions` (never reused, unlike a `null` version id);
/// `audit_id` the change's record in `audit_outbox` (its `rid` in the trail).
pub(super) const V9: &str = r#"
CREATE TABLE lock_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq bigint NOT NULL,
    bucket text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    version_id text NOT NULL,
    time_ms bigint NOT NULL,
    principal text,
    op text NOT NULL,
    actions text NOT NULL,
    bypass boolean NOT NULL,
    lock_before text NOT NULL,
    lock_after text NOT NULL,
    request_id text,
    audit_id bigint NOT NULL
);
CREATE INDEX lock_history_by_version ON lock_history (seq, id);
"#;

/// Records `e` for the version it names, as it is in this transaction.
pub(super) async fn insert(tx: &Tx<'_>, e: &NewLockEntry, audit_id: i64) -> Result<(), Fail> {
    execute(
        tx,
        "INSERT INTO lock_history (seq, bucket, key, version_id, time_ms, principal, op, actions, bypass,
            lock_before, lock_after, request_id, audit_id)
         SELECT seq, bucket, key, version_id, $4, $5, $6, $7, $8, $9, $10, $11, $12
         FROM versions WHERE bucket = $1 AND key = $2 AND version_id = $3",
        &[
            &e.bucket,
            &e.key.as_bytes(),
            &e.version_id,
            &e.time.millis(),
            &e.principal,
            &e.op,
            &e.actions,
            &e.bypass,
            &e.before,
            &e.after,
            &e.request_id,
            &audit_id,
        ],
    )
    .await?;
    Ok(())
}

/// The history goes with its version (the trail keeps the records).
pub(super) async fn remove(tx: &Tx<'_>, seq: i64) -> Result<(), Fail> {
    execute(tx, "DELETE FROM lock_history WHERE seq = $1", &[&seq]).await?;
    Ok(())
}

pub(super) async fn read(
    tx: &Tx<'_>,
    bucket: &str,
    key: &str,
    sel: &VersionSelector,
    q: LockHistoryQuery,
) -> Result<LockHistory, Fail> {
    let version = objects::resolve(tx, bucket, key, sel).await?;
    let limit = q.capped_limit();
    let sql = match q.order {
        HistoryOrder::OldestFirst => {
            "SELECT id, time_ms, principal, op, actions, bypass, lock_before, lock_after, request_id, audit_id
             FROM lock_history WHERE seq = $1 AND id > $2 ORDER BY id LIMIT $3"
        }
        HistoryOrder::NewestFirst => {
            "SELECT id, time_ms, principal, op, actions, bypass, lock_before, lock_after, request_id, audit_id
             FROM lock_history WHERE seq = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        }
    };
    let after = q.after.unwrap_or(match q.order {
        HistoryOrder::OldestFirst => i64::MIN,
        HistoryOrder::NewestFirst => i64::MAX,
    });
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let rows = query(tx, sql, &[&version.seq, &after, &fetch]).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        entries.push(LockHistoryEntry::from_row(
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            r.try_get(3)?,
            r.try_get::<_, &str>(4)?,
            r.try_get(5)?,
            r.try_get::<_, &str>(6)?,
            r.try_get::<_, &str>(7)?,
            r.try_get(8)?,
            r.try_get(9)?,
        )?);
    }
    let (entries, next) = page(entries, limit);
    Ok(LockHistory { version, entries, next })
}
