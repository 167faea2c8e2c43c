//! The WORM guards on PostgreSQL. The triggers of schema 1 refuse deleting and
//! weakening protected versions by the database server's clock; schema 5 adds the hold
//! guard: a legal hold is released only by a Holdfast gateway, whose connections carry
//! `holdfast.writer=on` from their startup packet (a `psql` session does not). At start the
//! guard triggers must be present, enabled and call their functions, and the functions'
//! bodies must be exactly those of the migrations; otherwise the gateway refuses to start,
//! or, when the operator accepts it explicitly, restores them and leaves a notice for the
//! audit trail.

use super::schema;
use crate::{MetaError, MetaResult};

/// Version 5: the legal-hold guard.
pub(super) const V5: &str = r#"
CREATE FUNCTION holdfast_worm_guard_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.legal_hold IS TRUE AND NEW.legal_hold IS NOT TRUE
       AND current_setting('holdfast.writer', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'WORM guard: a legal hold is released only through Holdfast' USING ERRCODE = '@STATE@';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER worm_guard_hold BEFORE UPDATE ON versions
    FOR EACH ROW EXECUTE FUNCTION holdfast_worm_guard_hold();
"#;

/// (trigger, function) of every guard on `versions`.
const GUARDS: [(&str, &str); 5] = [
    ("worm_guard_delete", "holdfast_worm_guard_delete"),
    ("worm_guard_update", "holdfast_worm_guard_update"),
    ("worm_guard_truncate", "holdfast_worm_guard_truncate"),
    ("worm_guard_hold", "holdfast_worm_guard_hold"),
    ("worm_guard_inline", "holdfast_worm_guard_inline"),
];

/// The SQL of every guard function and trigger, as the migrations create them.
fn guards_sql() -> String {
    format!("{}{V5}{}", schema::guard_sql(), super::inline::guard_sql()).replace("@STATE@", super::WORM_GUARD_STATE)
}

/// The body (`$$ ... $$`) of `function` as the migrations create it.
fn expected_body(function: &str) -> Option<String> {
    let sql = guards_sql();
    let start = sql.find(&format!("CREATE FUNCTION {function}()"))?;
    let open = sql[start..].find("$$")? + start + 2;
    let close = sql[open..].find("$$")? + open;
    Some(sql[open..close].to_owned())
}

/// The SQL that (re)creates every guard function and trigger.
fn restore_sql() -> String {
    let mut sql = String::new();
    for (trigger, function) in GUARDS {
        sql.push_str(&format!("DROP TRIGGER IF EXISTS {trigger} ON versions; DROP FUNCTION IF EXISTS {function}();\n"));
    }
    let create = guards_sql();
    // holdfast_now_ms() stays: only the guard functions and triggers are recreated.
    let create =
        create.replacen("CREATE FUNCTION holdfast_now_ms()", "CREATE OR REPLACE FUNCTION holdfast_now_ms()", 1);
    sql.push_str(&create);
    sql
}

/// What is wrong with the guards.
pub(super) async fn discrepancies(client: &deadpool_postgres::Object) -> MetaResult<Vec<String>> {
    let internal = |e: tokio_postgres::Error| MetaError::Internal(format!("cannot read the WORM guards: {e}"));
    let mut out = Vec::new();
    for (trigger, function) in GUARDS {
        let row = client
            .query_opt(
                "SELECT t.tgenabled::text, p.proname::text, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                 WHERE t.tgrelid = 'versions'::regclass AND t.tgname = $1 AND NOT t.tgisinternal",
                &[&trigger],
            )
            .await
            .map_err(internal)?;
        match row {
            None => out.push(format!("trigger {trigger} is missing")),
            Some(row) => {
                let (enabled, called, body): (String, String, String) = (row.get(0), row.get(1), row.get(2));
                if enabled == "D" {
                    out.push(format!("trigger {trigger} is disabled"));
                }
                if called != function || Some(body) != expected_body(function) {
                    out.push(format!("trigger {trigger} was altered"));
                }
            }
        }
    }
    Ok(out)
}

/// Checks the guards at start; `accept_tamper` restores them and returns the notice for the
/// audit trail.
pub(super) async fn check_at_start(
    client: &deadpool_postgres::Object,
    accept_tamper: bool,
) -> MetaResult<Option<Vec<String>>> {
    let wrong = discrepancies(client).await?;
    if wrong.is_empty() {
        return Ok(None);
    }
    let what = wrong.join(", ");
    if !accept_tamper {
        return Err(MetaError::Internal(format!(
            "the WORM guards of the PostgreSQL store were changed outside Holdfast ({what}); refusing to start. \
             Compare the data with `holdfast admin audit verify --config ...` and a backup; to restore the guards \
             and start anyway, start once with HOLDFAST_ACCEPT_TAMPER=1 (the discrepancy is recorded in the audit trail)"
        )));
    }
    tracing::error!(%what, "WORM guards were changed outside Holdfast; restoring them (HOLDFAST_ACCEPT_TAMPER=1)");
    client
        .batch_execute(&format!("BEGIN; {} COMMIT;", restore_sql()))
        .await
        .map_err(|e| MetaError::Internal(format!("cannot restore the WORM guards: {e}")))?;
    Ok(Some(wrong))
}
