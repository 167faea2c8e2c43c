//! The audit outbox on PostgreSQL: each gateway's records, by chain, committed
//! with their changes and waiting for that gateway's trail files. Within a chain the
//! follower writes records in id order as they become visible (commit order for one
//! gateway's records to within the few in flight at once).

use super::{Fail, Tx};

pub(super) const V4: &str = r"
CREATE TABLE IF NOT EXISTS audit_outbox (
    id bigserial PRIMARY KEY,
    chain text NOT NULL,
    record text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_outbox_chain ON audit_outbox (chain, id);
";

pub(crate) async fn insert(
    tx: &Tx<'_>,
    chain: &str,
    actor: &holdfast_audit::Actor,
    facts: holdfast_audit::ChangeFacts,
) -> Result<i64, Fail> {
    let recorded = crate::trail::record(actor, facts, holdfast_lock::UtcMillis::now_system());
    // Through the statement cache: one round trip, not a parse and an execute, per record.
    let row = super::rows::query_one(
        tx,
        "INSERT INTO audit_outbox (chain, record) VALUES ($1, $2) RETURNING id",
        &[&chain, &recorded.text],
    )
    .await?;
    let id = row.try_get(0)?;
    // A lock change's history entry, derived from the same record, in the same transaction.
    if let Some(entry) = &recorded.lock {
        super::lock_history::insert(tx, entry, id).await?;
    }
    Ok(id)
}

pub(super) async fn append(tx: &Tx<'_>, chain: &str, records: &[String]) -> Result<Vec<i64>, Fail> {
    let mut ids = Vec::with_capacity(records.len());
    for r in records {
        let row =
            tx.query_one("INSERT INTO audit_outbox (chain, record) VALUES ($1, $2) RETURNING id", &[&chain, r]).await?;
        ids.push(row.try_get(0)?);
    }
    Ok(ids)
}

pub(super) async fn pending(tx: &Tx<'_>, chain: &str, limit: usize) -> Result<Vec<(i64, String)>, Fail> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = tx
        .query("SELECT id, record FROM audit_outbox WHERE chain = $1 ORDER BY id LIMIT $2", &[&chain, &limit])
        .await?;
    rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
}

pub(super) async fn remove(tx: &Tx<'_>, chain: &str, ids: &[i64]) -> Result<(), Fail> {
    tx.execute("DELETE FROM audit_outbox WHERE chain = $1 AND id = ANY($2)", &[&chain, &ids]).await?;
    Ok(())
}

pub(super) async fn backlog(tx: &Tx<'_>) -> Result<Vec<String>, Fail> {
    let rows = tx.query("SELECT record FROM audit_outbox ORDER BY id", &[]).await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}
