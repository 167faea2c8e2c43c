//! Leases for background jobs that one gateway at a time runs (the lifecycle pass): one row
//! per job in `leases`, naming its holder and when the lease ends. Taking and renewing are
//! one conditional upsert, judged by the database server's clock (gateways' clocks may
//! differ); no advisory locks, so a serializable PostgreSQL-compatible database can stand in.

use super::rows::query_opt;
use super::{Fail, Tx};

/// Takes the lease `name` for `holder` until `ttl_ms` from the database's now, if nobody
/// holds it, its lease has ended, or `holder` holds it already. `since_ms` keeps the
/// moment the current holder took it (a renewal does not move it).
pub(super) async fn acquire(tx: &Tx<'_>, name: &str, holder: &str, ttl_ms: i64) -> Result<bool, Fail> {
    let row = query_opt(
        tx,
        "INSERT INTO leases AS l (name, holder, since_ms, expires_ms)
         SELECT $1, $2, t.now_ms, t.now_ms + $3 FROM (SELECT holdfast_now_ms() AS now_ms) AS t
         ON CONFLICT (name) DO UPDATE SET
             holder = excluded.holder,
             expires_ms = excluded.expires_ms,
             since_ms = CASE WHEN l.holder = excluded.holder THEN l.since_ms ELSE excluded.since_ms END
         WHERE l.holder = excluded.holder OR l.expires_ms <= excluded.since_ms
         RETURNING l.holder",
        &[&name, &holder, &ttl_ms.max(1)],
    )
    .await?;
    Ok(row.is_some())
}
