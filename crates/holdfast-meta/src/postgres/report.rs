//! The lock report: per bucket, what is protected now and when its retention ends, counted
//! from the versions' lock columns.

use super::rows::{query, query_one};
use super::{Fail, RowLock, Tx, buckets};
use crate::{LockReport, MonthTally, Tally};
use holdfast_lock::UtcMillis;

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) async fn lock_report(tx: &Tx<'_>, bucket: Option<&str>, now: UtcMillis) -> Result<Vec<LockReport>, Fail> {
    let names: Vec<String> = match bucket {
        Some(b) => vec![buckets::require(tx, b, RowLock::None).await?.name],
        None => buckets::all(tx).await?.into_iter().map(|b| b.name).collect(),
    };
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let r = query_one(
            tx,
            "SELECT
               count(*) FILTER (WHERE lock_mode = 'GOVERNANCE' AND lock_until_ms > $2),
               COALESCE(sum(size) FILTER (WHERE lock_mode = 'GOVERNANCE' AND lock_until_ms > $2), 0)::bigint,
               count(*) FILTER (WHERE lock_mode = 'COMPLIANCE' AND lock_until_ms > $2),
               COALESCE(sum(size) FILTER (WHERE lock_mode = 'COMPLIANCE' AND lock_until_ms > $2), 0)::bigint,
               count(*) FILTER (WHERE legal_hold IS TRUE),
               COALESCE(sum(size) FILTER (WHERE legal_hold IS TRUE), 0)::bigint,
               max(lock_until_ms) FILTER (WHERE lock_mode IS NOT NULL AND lock_until_ms > $2)
             FROM versions WHERE bucket = $1 AND (lock_mode IS NOT NULL OR legal_hold IS TRUE)",
            &[&name, &now.millis()],
        )
        .await?;
        let months = query(
            tx,
            "SELECT to_char(to_timestamp(lock_until_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
                    count(*), COALESCE(sum(size), 0)::bigint
             FROM versions WHERE bucket = $1 AND lock_mode IS NOT NULL AND lock_until_ms > $2
             GROUP BY month ORDER BY month",
            &[&name, &now.millis()],
        )
        .await?;
        out.push(LockReport {
            governance: Tally { versions: to_u64(r.try_get(0)?), bytes: to_u64(r.try_get(1)?) },
            compliance: Tally { versions: to_u64(r.try_get(2)?), bytes: to_u64(r.try_get(3)?) },
            legal_hold: Tally { versions: to_u64(r.try_get(4)?), bytes: to_u64(r.try_get(5)?) },
            latest_retain_until: r.try_get::<_, Option<i64>>(6)?.map(UtcMillis),
            expiries_by_month: months
                .iter()
                .map(|m| {
                    Ok(MonthTally {
                        month: m.try_get(0)?,
                        versions: to_u64(m.try_get(1)?),
                        bytes: to_u64(m.try_get(2)?),
                    })
                })
                .collect::<Result<_, Fail>>()?,
            bucket: name,
        });
    }
    Ok(out)
}
