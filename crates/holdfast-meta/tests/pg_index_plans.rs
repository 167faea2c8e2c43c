//! PostgreSQL migration 17: a PUT's key lookups stay on their indexes when the statistics say
//! the table is empty or tiny (`src/postgres/index_plans.rs`). Before it the planner costed a
//! scan of `latest` below its primary key, the put function's cached plan for "this key's row,
//! locked" became a scan of the whole table, and every PUT read every row written since, until
//! the next autoanalyze (issue #17: 7.5 → 578 µs per lookup in `scripts/pg-put-profile.sh` with
//! PRE_RUNS=1 PRE_GAP=90). And the gateway's sessions run with `enable_seqscan = off`
//! (session 11): GET's reads, planned and cached while the tables were tiny, scanned them whole
//! on every request as they grew.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{LockState, UtcMillis};
use holdfast_meta::postgres::{PgMeta, PgOptions};
use holdfast_meta::{MetaStore, TagSet, WriteConditions};

mod support;
use support::{inline_object, new_version};

/// Scans of `table` so far. Statistics reach the shared counters when a backend goes idle or
/// exits: this waits until no other backend is connected to `db` (the caller drops its store).
fn seq_scans(pg: &holdfast_testkit::Postgres, db: &str, table: &str) -> u64 {
    let others = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    for _ in 0..50 {
        if pg.psql(db, others).unwrap().trim() == "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let n = pg.psql(db, &format!("SELECT seq_scan FROM pg_stat_user_tables WHERE relname = '{table}'")).unwrap();
    n.trim().parse().unwrap()
}

/// The generic plan (the one a connection caches) of `sql` with the given parameter types.
fn generic_plan(pg: &holdfast_testkit::Postgres, db: &str, types: &str, sql: &str, args: &str) -> String {
    pg.psql(
        db,
        &format!("SET plan_cache_mode = force_generic_plan; PREPARE q({types}) AS {sql}; EXPLAIN EXECUTE q({args});"),
    )
    .unwrap()
}

/// A fresh database holding bucket "b", and a store open on it: (its URL, its name, the store).
async fn fresh_bucket(pg: &holdfast_testkit::Postgres) -> (String, String, PgMeta) {
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let s = PgMeta::open(PgOptions::new(url.clone())).await.unwrap();
    s.create_bucket("b", false, UtcMillis::now_system()).await.unwrap();
    (url, db, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_and_vacuumed_table_is_still_read_by_its_indexes() {
    let pg = holdfast_testkit::Postgres::shared();
    let (url, db, s) = fresh_bucket(pg).await;
    drop(s);
    // 5,000 keys written and then removed, as a benchmark's cleanup or a pruning run leaves them;
    // then what autovacuum does to such a table.
    pg.psql(
        &db,
        "INSERT INTO versions (bucket, key, version_id, delete_marker, last_modified_ms, size, etag, data)
         SELECT 'b', convert_to('old/' || lpad(i::text, 5, '0'), 'UTF8'), 'null', false, 1700000000000 + i, 4096, 'e', '{}'
         FROM generate_series(1, 5000) AS i;
         INSERT INTO latest (bucket, key, seq, delete_marker) SELECT bucket, key, seq, false FROM versions;
         DELETE FROM latest; DELETE FROM versions;",
    )
    .unwrap();
    for table in ["latest", "versions"] {
        pg.psql(&db, &format!("VACUUM (ANALYZE) {table}")).unwrap();
    }
    assert_eq!(pg.psql(&db, "SELECT reltuples FROM pg_class WHERE relname = 'latest'").unwrap().trim(), "0");

    // The plans a connection caches for the put function's key lookups read an index.
    let lookups = [
        ("text, bytea", "SELECT seq FROM latest WHERE bucket = $1 AND key = $2 FOR UPDATE", "'b', '\\x00'"),
        (
            "text, bytea, text",
            "SELECT seq, data FROM versions WHERE bucket = $1 AND key = $2 AND version_id = $3",
            "'b', '\\x00', 'null'",
        ),
        ("bigint", "SELECT etag FROM versions WHERE seq = $1 AND NOT delete_marker", "1"),
    ];
    for (types, sql, args) in lookups {
        let plan = generic_plan(pg, &db, types, sql, args);
        assert!(plan.contains("Index") && !plan.contains("Seq Scan"), "{sql}\n{plan}");
    }

    // And the put function itself: 200 new keys, none of them a scan of `latest`.
    let before = seq_scans(pg, &db, "latest");
    let s = PgMeta::open(PgOptions::new(url)).await.unwrap();
    put_new_keys(&s, "new", 200).await;
    drop(s);
    let after = seq_scans(pg, &db, "latest");
    let rows = pg.psql(&db, "SELECT count(*) FROM latest").unwrap();
    assert_eq!(rows.trim(), "200");
    assert_eq!(after - before, 0, "scans of `latest` while putting 200 keys");
}

/// Puts `n` new keys `prefix/000`.. through the put function.
async fn put_new_keys(s: &PgMeta, prefix: &str, n: usize) {
    put_keys(s, prefix, n, false).await;
}

/// Puts `n` new keys `prefix/000`.., each with the tag `k` = `v<i>` when `tagged`.
async fn put_keys(s: &PgMeta, prefix: &str, n: usize, tagged: bool) {
    for i in 0..n {
        let v = new_version(&format!("{prefix}/{i:03}"), inline_object(b"four"), LockState::default());
        let tags = if tagged { TagSet::from([("k".to_owned(), format!("v{i}"))]) } else { TagSet::new() };
        s.put_version(v, tags, WriteConditions::default(), UtcMillis::now_system()).await.unwrap();
    }
}

/// A new deployment's first objects, then a burst: `latest` analyzed while it held one page
/// (as autoanalyze does after its first 50 rows) costs a scan below the primary key, and the
/// put function must not take it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_analyzed_while_tiny_is_still_read_by_its_indexes_as_it_grows() {
    let pg = holdfast_testkit::Postgres::shared();
    let (url, db, s) = fresh_bucket(pg).await;
    put_new_keys(&s, "first", 60).await;
    drop(s);
    pg.psql(&db, "ANALYZE latest").unwrap();
    assert_eq!(
        pg.psql(&db, "SELECT relpages, reltuples FROM pg_class WHERE relname = 'latest'").unwrap().trim(),
        "1|60"
    );
    let plan = generic_plan(
        pg,
        &db,
        "text, bytea",
        "SELECT seq FROM latest WHERE bucket = $1 AND key = $2 FOR UPDATE",
        "'b', '\\x00'",
    );
    assert!(plan.contains("Seq Scan on latest"), "what the planner does outside the function:\n{plan}");

    let before = seq_scans(pg, &db, "latest");
    let s = PgMeta::open(PgOptions::new(url)).await.unwrap();
    put_new_keys(&s, "burst", 200).await;
    drop(s);
    let after = seq_scans(pg, &db, "latest");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM latest").unwrap().trim(), "260");
    assert_eq!(after - before, 0, "scans of `latest` while putting 200 keys");
}

/// The reads of GET and HEAD (`version_for_read`: the latest version of a key with its inline
/// bytes, its tags and its replication status) on tables analyzed while tiny: a gateway's
/// connection caches their plans once it has run them a few times, and keeps them as the
/// tables grow (until an autoanalyze, switched off here as a busy table can wait a minute for one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_planned_while_the_tables_were_tiny_stay_on_their_indexes_as_they_grow() {
    let pg = holdfast_testkit::Postgres::shared();
    let (url, db, s) = fresh_bucket(pg).await;
    put_keys(&s, "first", 60, true).await;
    drop(s);
    let tables = ["latest", "versions", "version_tags"];
    for table in tables {
        pg.psql(&db, &format!("ALTER TABLE {table} SET (autovacuum_enabled = false); ANALYZE {table}")).unwrap();
    }
    let before: Vec<u64> = tables.iter().map(|t| seq_scans(pg, &db, t)).collect();
    let s = PgMeta::open(PgOptions::new(url)).await.unwrap();
    let read = |key: String, tag: String| {
        let s = &s;
        async move {
            let (rec, tags) =
                s.version_for_read("b", &key, &holdfast_meta::VersionSelector::Latest, true).await.unwrap();
            assert_eq!(rec.key, key);
            assert_eq!(tags.and_then(|t| t.get("k").cloned()), Some(tag));
        }
    };
    // Read while tiny, often enough for every pooled connection to settle on a cached plan.
    let tiny_reads = 4 * 60;
    for i in 0..tiny_reads {
        read(format!("first/{:03}", i % 60), format!("v{}", i % 60)).await;
    }
    put_keys(&s, "burst", 3000, true).await;
    let grown_reads = 3000;
    for i in 0..grown_reads {
        read(format!("burst/{i:03}"), format!("v{i}")).await;
    }
    drop(s);
    let after: Vec<u64> = tables.iter().map(|t| seq_scans(pg, &db, t)).collect();
    let scans: Vec<(&str, u64)> = tables.iter().zip(before.iter().zip(&after)).map(|(t, (b, a))| (*t, a - b)).collect();
    // A scan of a one-page table while it was tiny is the planner's right choice; one per read
    // of a table of 3,060 rows is not.
    assert!(scans.iter().all(|(_, n)| *n <= tiny_reads), "scans over {tiny_reads} + {grown_reads} reads: {scans:?}");
}
