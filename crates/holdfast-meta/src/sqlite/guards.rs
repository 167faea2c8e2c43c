//! The WORM guards of the embedded store: triggers that refuse, a second time
//! and whatever program opens the file, what the lock rules refuse.
//!
//! - Time is `julianday('now')`, which every SQLite has (`unixepoch('subsec')` is NULL
//!   before 3.42, and made the guards inert under Debian's `sqlite3` 3.40).
//! - A legal hold is released only by Holdfast's own writer connection, which defines the
//!   SQL function `holdfast_writer()`; in any other program the function does not exist, so
//!   an UPDATE of `versions` does not even compile there.
//! - At start, the guards must be exactly these. A database at schema 4 or later whose guards
//!   are missing, altered or joined by unknown triggers was edited outside Holdfast: the
//!   store refuses to open (or, when the operator accepts it explicitly, restores the guards
//!   and records the discrepancy in the audit trail).

use crate::{MetaError, MetaResult};
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

/// Milliseconds since the epoch, in any SQLite.
const NOW_MS: &str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// Every trigger of the database: (name, body after `CREATE TRIGGER <name> `).
fn guards() -> Vec<(&'static str, String)> {
    let mut all = vec![
        // Not guards: a version's or an upload's tags go with it.
        (
            "version_tags_follow",
            "AFTER DELETE ON versions BEGIN DELETE FROM version_tags WHERE seq = OLD.seq; END".to_owned(),
        ),
        (
            "upload_tags_follow",
            "AFTER DELETE ON uploads BEGIN DELETE FROM upload_tags WHERE upload_id = OLD.upload_id; END".to_owned(),
        ),
        (
            "inline_guard_delete",
            "BEFORE DELETE ON inline_data WHEN EXISTS (SELECT 1 FROM versions WHERE seq = OLD.seq) BEGIN \
             SELECT RAISE(ABORT, 'WORM guard: refusing to delete the bytes of an existing version'); END"
                .to_owned(),
        ),
        (
            "inline_guard_update",
            "BEFORE UPDATE ON inline_data BEGIN SELECT RAISE(ABORT, 'WORM guard: inline object bytes never change'); END"
                .to_owned(),
        ),
        (
            "worm_guard_delete",
            format!(
                "BEFORE DELETE ON versions WHEN OLD.legal_hold = 1 \
                 OR (OLD.lock_mode = 'COMPLIANCE' AND OLD.lock_until_ms > {NOW_MS}) BEGIN \
                 SELECT RAISE(ABORT, 'WORM guard: refusing to delete a protected version'); END"
            ),
        ),
        (
            "worm_guard_update",
            format!(
                "BEFORE UPDATE ON versions WHEN OLD.lock_mode = 'COMPLIANCE' AND OLD.lock_until_ms > {NOW_MS} \
                 AND (NEW.lock_mode IS NOT 'COMPLIANCE' OR NEW.lock_until_ms IS NULL OR NEW.lock_until_ms < OLD.lock_until_ms \
                 OR NEW.data IS NOT OLD.data OR NEW.key IS NOT OLD.key OR NEW.bucket IS NOT OLD.bucket) BEGIN \
                 SELECT RAISE(ABORT, 'WORM guard: refusing to weaken COMPLIANCE retention'); END"
            ),
        ),
        (
            "worm_guard_hold",
            "BEFORE UPDATE ON versions WHEN OLD.legal_hold = 1 AND NEW.legal_hold IS NOT 1 \
             AND holdfast_writer() IS NOT 1 BEGIN \
             SELECT RAISE(ABORT, 'WORM guard: a legal hold is released only through Holdfast'); END"
                .to_owned(),
        ),
    ];
    // Not guards either: each bucket's stored versions and bytes (usage.rs).
    all.extend(super::usage::TRIGGERS.iter().map(|(name, body)| (*name, (*body).to_owned())));
    all
}

fn create_sql(name: &str, body: &str) -> String {
    format!("CREATE TRIGGER {name} {body}")
}

fn normalized(sql: &str) -> String {
    sql.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Defines `holdfast_writer()` on Holdfast's writer connection (see the module docs).
pub(super) fn register_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function("holdfast_writer", 0, FunctionFlags::SQLITE_DETERMINISTIC, |_| Ok(1i64))
}

/// What is wrong with the guards of `conn`: missing, altered and unknown triggers.
pub(super) fn discrepancies(conn: &Connection) -> MetaResult<Vec<String>> {
    let mut found: std::collections::BTreeMap<String, String> = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")?
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?.unwrap_or_default())))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (name, body) in guards() {
        match found.remove(name) {
            None => out.push(format!("trigger {name} is missing")),
            Some(sql) if normalized(&sql) != normalized(&create_sql(name, &body)) => {
                out.push(format!("trigger {name} was altered"));
            }
            Some(_) => {}
        }
    }
    out.extend(found.into_keys().map(|name| format!("unknown trigger {name}")));
    Ok(out)
}

/// Drops every trigger and creates the guards.
pub(super) fn install(conn: &Connection) -> MetaResult<()> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for name in names {
        conn.execute_batch(&format!("DROP TRIGGER \"{}\"", name.replace('"', "\"\"")))?;
    }
    for (name, body) in guards() {
        conn.execute_batch(&create_sql(name, &body))?;
    }
    Ok(())
}

/// Checks (or, for a new or older database, installs) the guards at start.
/// `established`: the database was already at a schema with these guards.
pub(super) fn check_at_start(
    conn: &Connection,
    path: &std::path::Path,
    established: bool,
    accept_tamper: bool,
) -> MetaResult<()> {
    if !established {
        return install(conn);
    }
    let wrong = discrepancies(conn)?;
    if wrong.is_empty() {
        return Ok(());
    }
    let what = wrong.join(", ");
    if !accept_tamper {
        return Err(MetaError::Internal(format!(
            "the WORM guards of {} were changed outside Holdfast ({what}); refusing to start. Compare the data \
             with `holdfast admin audit verify` and a backup; to restore the guards and start anyway, start once \
             with HOLDFAST_ACCEPT_TAMPER=1 (the discrepancy is recorded in the audit trail)",
            path.display()
        )));
    }
    tracing::error!(db = %path.display(), %what, "WORM guards were changed outside Holdfast; restoring them (HOLDFAST_ACCEPT_TAMPER=1)");
    install(conn)?;
    super::usage::refill(conn)?;
    let mut record = holdfast_audit::AuditRecord::new("WormGuardsRestored", holdfast_lock::UtcMillis::now_system());
    record.principal = Some("holdfast:meta".into());
    record.detail = Some(serde_json::json!({ "found": wrong }));
    super::audit::insert(conn, &serde_json::to_string(&record)?)?;
    Ok(())
}
