//! Blob collection bookkeeping shared by several gateways: a collector claims queue rows
//! for a lease before it removes their files, so two gateways do not collect the same
//! blobs, and a gateway that dies mid-pass leaves its claims to expire.

use super::rows::{execute, query};
use super::{Fail, Tx};
use holdfast_lock::UtcMillis;

/// How long a claimed queue entry is left to its collector.
const LEASE_MS: i64 = 10 * 60 * 1000;

pub(super) async fn claim(tx: &Tx<'_>, before: UtcMillis, limit: usize, now: UtcMillis) -> Result<Vec<String>, Fail> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = query(
        tx,
        "UPDATE gc_queue SET claimed_until_ms = $4 WHERE id IN (
             SELECT id FROM gc_queue WHERE queued_ms < $1 AND claimed_until_ms < $3
             ORDER BY queued_ms LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id",
        &[&before.millis(), &limit, &now.millis(), &now.plus_millis(LEASE_MS).millis()],
    )
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub(super) async fn done(tx: &Tx<'_>, blobs: &[String]) -> Result<(), Fail> {
    execute(tx, "DELETE FROM gc_queue WHERE id = ANY($1)", &[&blobs]).await?;
    Ok(())
}

pub(super) async fn unknown(tx: &Tx<'_>, blobs: &[String]) -> Result<Vec<String>, Fail> {
    let rows = query(
        tx,
        "SELECT b.id FROM unnest($1::text[]) AS b(id)
         WHERE NOT EXISTS (SELECT 1 FROM blobs WHERE id = b.id)
           AND NOT EXISTS (SELECT 1 FROM gc_queue WHERE id = b.id)",
        &[&blobs],
    )
    .await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
