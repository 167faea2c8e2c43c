//! The lock report: per bucket, what is protected now and when its retention ends, counted
//! from the versions' lock columns.

use super::buckets;
use crate::{LockReport, MetaResult, MonthTally, Tally};
use holdfast_lock::UtcMillis;
use rusqlite::{Connection, params};

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn lock_report(conn: &Connection, bucket: Option<&str>, now: UtcMillis) -> MetaResult<Vec<LockReport>> {
    let names: Vec<String> = match bucket {
        Some(b) => vec![buckets::require(conn, b)?.name],
        None => buckets::all(conn)?.into_iter().map(|b| b.name).collect(),
    };
    let mut totals = conn.prepare_cached(
        "SELECT
           COALESCE(SUM(lock_mode = 'GOVERNANCE' AND lock_until_ms > ?2), 0),
           COALESCE(SUM(CASE WHEN lock_mode = 'GOVERNANCE' AND lock_until_ms > ?2 THEN size ELSE 0 END), 0),
           COALESCE(SUM(lock_mode = 'COMPLIANCE' AND lock_until_ms > ?2), 0),
           COALESCE(SUM(CASE WHEN lock_mode = 'COMPLIANCE' AND lock_until_ms > ?2 THEN size ELSE 0 END), 0),
           COALESCE(SUM(legal_hold = 1), 0),
           COALESCE(SUM(CASE WHEN legal_hold = 1 THEN size ELSE 0 END), 0),
           MAX(CASE WHEN lock_mode IS NOT NULL AND lock_until_ms > ?2 THEN lock_until_ms END)
         FROM versions WHERE bucket = ?1 AND (lock_mode IS NOT NULL OR legal_hold = 1)",
    )?;
    let mut months = conn.prepare_cached(
        "SELECT strftime('%Y-%m', lock_until_ms / 1000, 'unixepoch') AS month, COUNT(*), COALESCE(SUM(size), 0)
         FROM versions WHERE bucket = ?1 AND (lock_mode IS NOT NULL OR legal_hold = 1)
           AND lock_mode IS NOT NULL AND lock_until_ms > ?2
         GROUP BY month ORDER BY month",
    )?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let mut r = totals.query_row(params![name, now.millis()], |r| {
            Ok(LockReport {
                bucket: String::new(),
                governance: Tally { versions: to_u64(r.get(0)?), bytes: to_u64(r.get(1)?) },
                compliance: Tally { versions: to_u64(r.get(2)?), bytes: to_u64(r.get(3)?) },
                legal_hold: Tally { versions: to_u64(r.get(4)?), bytes: to_u64(r.get(5)?) },
                latest_retain_until: r.get::<_, Option<i64>>(6)?.map(UtcMillis),
                expiries_by_month: Vec::new(),
            })
        })?;
        r.expiries_by_month = months
            .query_map(params![name, now.millis()], |row| {
                Ok(MonthTally {
                    month: row.get::<_, Option<String>>(0)?.unwrap_or_else(|| "9999-12".into()),
                    versions: to_u64(row.get(1)?),
                    bytes: to_u64(row.get(2)?),
                })
            })?
            .collect::<Result<_, _>>()?;
        r.bucket = name;
        out.push(r);
    }
    Ok(out)
}
