//! Tampering with the metadata store behind the server's back, done the way an
//! operator with shell access would: Debian's `sqlite3` or `psql` on a stopped server. The WORM
//! guards refuse it whatever SQLite version runs them, a legal hold cannot be released
//! outside Holdfast, and dropping a guard to get past it stops the next start (unless the
//! operator accepts it explicitly, which restores the guards and records it in the trail).
//!
//! The SQLite test applies to the embedded store only (it edits the file); the PostgreSQL
//! test starts its gateway on a database of its own, so both run in either suite mode.

use crate::evidence_support::*;
use crate::object_lock_support::{days, lock_bucket, put_held, put_locked};
use holdfast_testkit::aws_sdk_s3::types::ObjectLockMode;
use holdfast_testkit::{ROOT_AK, ROOT_SK, Server};
use std::path::Path;
use std::process::Command;

/// Runs one statement with the system's `sqlite3`; returns (success, stderr).
fn sqlite3(db: &Path, sql: &str) -> (bool, String) {
    let out = Command::new("sqlite3").arg(db).arg(sql).output().expect("run sqlite3 (apt-get install sqlite3)");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `holdfast serve` on the data dir, expected to refuse to start: its stderr.
fn refused_start(srv: &Server, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&srv.data_dir)
        .arg("--config")
        .arg(srv.data_dir.with_extension("toml"))
        .env("HOLDFAST_ROOT_ACCESS_KEY", ROOT_AK)
        .env("HOLDFAST_ROOT_SECRET_KEY", ROOT_SK);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run holdfast");
    assert!(!out.status.success(), "the server started on a tampered database");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A stopped server whose bucket holds a 30-day COMPLIANCE version `comp` and a version
/// under legal hold `held`: (server, bucket, comp, held).
async fn protected_pair(config_toml: &str, tag: &str) -> (Server, String, String, String) {
    let mut srv = Server::start_with(
        BIN,
        holdfast_testkit::ServerOptions { config_toml: config_toml.to_owned(), ..Default::default() },
    );
    let s3 = srv.client();
    let b = lock_bucket(&s3, tag).await;
    let comp = put_locked(&s3, &b, "comp", ObjectLockMode::Compliance, &days(30)).await;
    let held = put_held(&s3, &b, "held").await;
    srv.terminate();
    (srv, b, comp, held)
}

/// Starts on `data_dir` with HOLDFAST_ACCEPT_TAMPER=1.
fn start_accepting(data_dir: &Path, config_toml: &str) -> Server {
    Server::start_in(
        BIN,
        data_dir,
        holdfast_testkit::ServerOptions {
            config_toml: config_toml.to_owned(),
            env: vec![("HOLDFAST_ACCEPT_TAMPER".into(), "1".into())],
            ..Default::default()
        },
    )
}

/// Starts with HOLDFAST_ACCEPT_TAMPER=1; returns the server and its WormGuardsRestored record.
async fn start_accepting_tamper(data_dir: &Path, config_toml: &str) -> (Server, serde_json::Value) {
    let accepted = start_accepting(data_dir, config_toml);
    let restored = wait_for("the tamper record", std::time::Duration::from_secs(10), async || {
        audit_records(&accepted.data_dir).into_iter().find(|r| r["op"] == "WormGuardsRestored")
    })
    .await;
    (accepted, restored)
}

#[tokio::test]
async fn sqlite3_cannot_remove_protection_and_a_dropped_guard_stops_the_start() {
    // The embedded store's file, whatever HOLDFAST_TEST_META says.
    let (srv, b, comp, held) = protected_pair("[meta]\nbackend = \"sqlite\"\n", "tamper").await;
    let db = srv.data_dir.join("meta.db");
    let (version, _) = sqlite3(&db, "SELECT sqlite_version()");
    assert!(version, "sqlite3 runs");

    // Each refused by the guards, whatever the SQLite version (3.40 made them inert before).
    for (sql, why) in [
        (format!("DELETE FROM versions WHERE version_id = '{comp}'"), "WORM guard"),
        // Any UPDATE of versions: the hold guard names holdfast_writer(), which exists only in
        // Holdfast's writer, so the statement does not even compile here.
        (format!("UPDATE versions SET lock_until_ms = 0 WHERE version_id = '{comp}'"), "holdfast_writer"),
        (format!("UPDATE versions SET lock_mode = 'GOVERNANCE' WHERE version_id = '{comp}'"), "holdfast_writer"),
        (format!("DELETE FROM versions WHERE version_id = '{held}'"), "WORM guard"),
        (format!("UPDATE versions SET legal_hold = 0 WHERE version_id = '{held}'"), "holdfast_writer"),
    ] {
        let (ok, err) = sqlite3(&db, &sql);
        assert!(!ok && err.contains(why), "{sql}: {err}");
    }

    // Dropping the guard lets the row go; the next start refuses, naming what changed.
    let (ok, err) =
        sqlite3(&db, &format!("DROP TRIGGER worm_guard_delete; DELETE FROM versions WHERE version_id = '{comp}';"));
    assert!(ok, "{err}");
    let stderr = refused_start(&srv, &[]);
    assert!(
        stderr.contains("trigger worm_guard_delete is missing") && stderr.contains("refusing to start"),
        "{stderr}"
    );
    // And `verify` names the version against the trail, which vouches for its protection.
    let (ok, out, err) = holdfast(&["admin", "audit", "verify", "--data-dir", srv.data_dir.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("TAMPERED: {b}/comp?versionId={comp}: deleted, but the trail has no removal of it")),
        "{err}"
    );
    assert!(err.contains("1 of 2 protected versions lost protection outside the API"), "{err}");
    // Re-creating it by hand with a weaker body is noticed too.
    let (ok, err) =
        sqlite3(&db, "CREATE TRIGGER worm_guard_delete BEFORE DELETE ON versions WHEN 0 BEGIN SELECT 1; END;");
    assert!(ok, "{err}");
    let stderr = refused_start(&srv, &[]);
    assert!(stderr.contains("trigger worm_guard_delete was altered"), "{stderr}");

    // Accepted explicitly: the guards are back, and the trail says what was found.
    let (mut accepted, restored) = start_accepting_tamper(&srv.data_dir, "[meta]\nbackend = \"sqlite\"\n").await;
    assert_eq!(restored["detail"]["found"], serde_json::json!(["trigger worm_guard_delete was altered"]));
    accepted.terminate();
    let (ok, err) = sqlite3(&db, &format!("DELETE FROM versions WHERE version_id = '{held}'"));
    assert!(!ok && err.contains("WORM guard"), "the guard is back: {err}");
}

/// The same on PostgreSQL, done with `psql` on a stopped gateway: the guards refuse deleting a
/// protected version and releasing a hold (only a gateway's sessions may release one);
/// disabling a guard to get past it stops the next start, and verify names the version.
#[tokio::test]
async fn psql_cannot_release_a_hold_and_a_disabled_guard_stops_the_start() {
    let pg = holdfast_testkit::Postgres::shared();
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let config_toml = format!("[meta]\nbackend = \"postgres\"\nurl = \"{url}\"\norphan_grace_secs = 0\n");
    let (srv, b, comp, held) = protected_pair(&config_toml, "pgtamper").await;

    for (sql, why) in [
        (format!("DELETE FROM versions WHERE version_id = '{comp}'"), "WORM guard: refusing to delete"),
        (
            format!("UPDATE versions SET legal_hold = false WHERE version_id = '{held}'"),
            "released only through Holdfast",
        ),
    ] {
        let err = pg.psql(&db, &sql).expect_err(&sql);
        assert!(err.contains(why), "{sql}: {err}");
    }
    let disable = format!(
        "ALTER TABLE versions DISABLE TRIGGER worm_guard_hold; UPDATE versions SET legal_hold = false WHERE version_id = '{held}'"
    );
    pg.psql(&db, &disable).unwrap();
    let stderr = refused_start(&srv, &[]);
    assert!(stderr.contains("trigger worm_guard_hold is disabled") && stderr.contains("refusing to start"), "{stderr}");
    let config = srv.data_dir.with_extension("toml");
    let (ok, out, err) = holdfast(&[
        "admin",
        "audit",
        "verify",
        "--data-dir",
        srv.data_dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!ok, "{out}");
    assert!(
        err.contains(&format!("TAMPERED: {b}/held?versionId={held}: legal hold released outside the API")),
        "{err}"
    );

    let (mut accepted, restored) =
        start_accepting_tamper(&srv.data_dir, &std::fs::read_to_string(&config).unwrap()).await;
    assert_eq!(restored["detail"]["found"], serde_json::json!(["trigger worm_guard_hold is disabled"]));
    // A hold set through the API again cannot be released by psql: the guard is back.
    accepted
        .client()
        .put_object_legal_hold()
        .bucket(&b)
        .key("held")
        .version_id(&held)
        .legal_hold(
            holdfast_testkit::aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(holdfast_testkit::aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();
    accepted.terminate();
    let sql = format!("UPDATE versions SET legal_hold = false WHERE version_id = '{held}'");
    let err = pg.psql(&db, &sql).expect_err(&sql);
    assert!(err.contains("released only through Holdfast"), "{err}");
}

/// Every record the accepted start wrote for a version that lost protection.
async fn accepted_findings(data_dir: &Path, n: usize) -> Vec<serde_json::Value> {
    wait_for("the accepted findings", std::time::Duration::from_secs(10), async || {
        let found: Vec<serde_json::Value> =
            audit_records(data_dir).into_iter().filter(|r| r["op"] == "LockStateTamperAccepted").collect();
        (found.len() == n).then_some(found)
    })
    .await
}

/// The start's one line for two versions edited outside the API, `comp` first.
fn assert_lock_state_refusal(stderr: &str, b: &str, comp: &str) {
    assert!(
        stderr.contains(
            "the metadata store does not match the audit trail: 2 of 2 protected versions lost protection outside the API"
        ) && stderr.contains(&format!("(first: {b}/comp?versionId={comp}: retention shortened outside the API"))
            && stderr.contains("refusing to start"),
        "{stderr}"
    );
}

/// Guards dropped, protected rows edited, guards put back exactly as they were: the guard
/// check passes, but the start compares the store with the trail and refuses, naming the
/// version; accepted explicitly, it records each finding and starts, and verify passes after.
#[tokio::test]
async fn sqlite3_edits_behind_restored_guards_stop_the_start() {
    let (srv, b, comp, held) = protected_pair("[meta]\nbackend = \"sqlite\"\n", "behind").await;
    let db = srv.data_dir.join("meta.db");
    let query = |sql: &str| {
        let out = Command::new("sqlite3").arg(&db).arg(sql).output().expect("run sqlite3");
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let names = query("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'versions'");
    let names: Vec<&str> = names.lines().collect();
    assert!(names.len() >= 2, "{names:?}");
    let mut script = String::new();
    let mut recreate = String::new();
    for name in &names {
        script.push_str(&format!("DROP TRIGGER {name};\n"));
        recreate
            .push_str(&format!("{};\n", query(&format!("SELECT sql FROM sqlite_master WHERE name = '{name}'")).trim()));
    }
    script.push_str(&format!(
        "UPDATE versions SET lock_until_ms = lock_until_ms - 29 * 86400000 WHERE version_id = '{comp}';\n\
         UPDATE versions SET legal_hold = 0 WHERE version_id = '{held}';\n{recreate}"
    ));
    let (ok, err) = sqlite3(&db, &script);
    assert!(ok, "{err}");

    let stderr = refused_start(&srv, &[]);
    assert_lock_state_refusal(&stderr, &b, &comp);
    let (ok, _, err) = holdfast(&["admin", "audit", "verify", "--data-dir", srv.data_dir.to_str().unwrap()]);
    assert!(!ok && err.contains(&format!("TAMPERED: {b}/held?versionId={held}: legal hold released")), "{err}");

    let mut accepted = start_accepting(&srv.data_dir, "[meta]\nbackend = \"sqlite\"\n");
    let found = accepted_findings(&accepted.data_dir, 2).await;
    assert_eq!(found[0]["version_id"], comp.as_str());
    assert_eq!(found[0]["lock_before"]["mode"], "COMPLIANCE");
    assert_eq!(found[1]["version_id"], held.as_str());
    assert_eq!(found[1]["lock_after"]["legal_hold"], "OFF");
    accepted.terminate();
    let (ok, out, err) = holdfast(&["admin", "audit", "verify", "--data-dir", srv.data_dir.to_str().unwrap()]);
    assert!(ok && out.contains("metadata store matches the trail"), "{out}{err}");
}

/// The same on PostgreSQL with `psql`: triggers disabled for the edit and enabled again.
#[tokio::test]
async fn psql_edits_behind_reenabled_guards_stop_the_start() {
    let pg = holdfast_testkit::Postgres::shared();
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let config_toml = format!("[meta]\nbackend = \"postgres\"\nurl = \"{url}\"\norphan_grace_secs = 0\n");
    let (srv, b, comp, held) = protected_pair(&config_toml, "pgbehind").await;
    pg.psql(
        &db,
        &format!(
            "ALTER TABLE versions DISABLE TRIGGER USER; \
             UPDATE versions SET lock_until_ms = lock_until_ms - 29::bigint * 86400000 WHERE version_id = '{comp}'; \
             UPDATE versions SET legal_hold = false WHERE version_id = '{held}'; \
             ALTER TABLE versions ENABLE TRIGGER USER"
        ),
    )
    .unwrap();
    let stderr = refused_start(&srv, &[]);
    assert_lock_state_refusal(&stderr, &b, &comp);

    let mut accepted = start_accepting(&srv.data_dir, &config_toml);
    let found = accepted_findings(&accepted.data_dir, 2).await;
    assert_eq!(found[0]["version_id"], comp.as_str());
    accepted.terminate();
    let config = srv.data_dir.with_extension("toml");
    let (ok, out, err) = holdfast(&[
        "admin",
        "audit",
        "verify",
        "--data-dir",
        srv.data_dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("metadata store matches the trail"), "{out}{err}");
}
