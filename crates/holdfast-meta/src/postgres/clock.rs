//! The shared compliance clock: every lock-deciding transaction raises its gateway's mark
//! (one row per database session, so concurrent transactions never wait on each other);
//! the high-water mark is the largest of all. Each gateway also reports its clock against
//! the database's, so that one far from the others can be found.

use super::rows::{execute, query, query_one};
use super::{Fail, Tx};
use crate::store::GatewayClock;
use holdfast_lock::UtcMillis;

/// A gateway that has not reported for this long is no longer compared with.
const LIVE_MS: i64 = 60_000;

/// The database server's clock, in UTC milliseconds.
const DB_NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Raises the mark within the current transaction.
pub(super) async fn bump(tx: &Tx<'_>, now: UtcMillis) -> Result<(), Fail> {
    execute(
        tx,
        "INSERT INTO clock_marks (session, high_water_ms) VALUES (pg_backend_pid(), $1)
         ON CONFLICT (session) DO UPDATE SET high_water_ms = GREATEST(clock_marks.high_water_ms, excluded.high_water_ms)",
        &[&now.millis()],
    )
    .await?;
    Ok(())
}

pub(super) async fn high_water(tx: &Tx<'_>) -> Result<UtcMillis, Fail> {
    let row = query_one(tx, "SELECT COALESCE(max(high_water_ms), 0)::bigint FROM clock_marks", &[]).await?;
    Ok(UtcMillis(row.try_get(0)?))
}

/// Records this gateway's reading, folds old session marks into one (keeping the
/// maximum), and returns the live gateways' offsets from the database clock.
pub(super) async fn report(tx: &Tx<'_>, gateway: &str, now: UtcMillis) -> Result<Vec<GatewayClock>, Fail> {
    let sql = format!(
        "INSERT INTO gateways (id, clock_ms, db_ms) VALUES ($1, $2, {DB_NOW_MS})
         ON CONFLICT (id) DO UPDATE SET clock_ms = excluded.clock_ms, db_ms = excluded.db_ms"
    );
    execute(tx, &sql, &[&gateway, &now.millis()]).await?;
    execute(tx, "DELETE FROM clock_marks WHERE high_water_ms < (SELECT max(high_water_ms) FROM clock_marks)", &[])
        .await?;
    let sql = format!("DELETE FROM gateways WHERE db_ms < {DB_NOW_MS} - $1");
    execute(tx, &sql, &[&(10 * LIVE_MS)]).await?;
    let sql = format!("SELECT id, clock_ms - db_ms FROM gateways WHERE db_ms >= {DB_NOW_MS} - $1 ORDER BY id");
    let rows = query(tx, &sql, &[&LIVE_MS]).await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get(0)?;
            Ok(GatewayClock { this: id == gateway, gateway: id, offset_ms: r.try_get(1)? })
        })
        .collect()
}
