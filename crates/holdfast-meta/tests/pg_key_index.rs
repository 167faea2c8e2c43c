//! PostgreSQL migration 16 drops `versions_by_key (bucket, key, seq)`, which held the same
//! entries as `versions_by_key_desc` (issue #17: one index entry fewer per PUT). A database of
//! migration 15 loses it on upgrade and keeps working; on a table of realistic size every query
//! that read a key's versions in order still reads an index, without a sort or a scan of the
//! table.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{LockState, UtcMillis};
use holdfast_meta::postgres::{PgMeta, PgOptions};
use holdfast_meta::{MetaStore, TagSet, Versioning, WriteConditions};

mod support;
use support::{first_page, inline_object, new_version};

fn indexes(pg: &holdfast_testkit::Postgres, db: &str) -> String {
    pg.psql(db, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'versions'")
        .unwrap()
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_15_postgres_database_drops_the_ascending_key_index() {
    let pg = holdfast_testkit::Postgres::shared();
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let now = UtcMillis::now_system;
    {
        let s = PgMeta::open(PgOptions::new(url.clone())).await.unwrap();
        s.create_bucket("b", false, now()).await.unwrap();
        s.set_versioning("b", Versioning::Enabled).await.unwrap();
        for body in [&b"one"[..], b"two"] {
            let v = new_version("k", inline_object(body), LockState::default());
            s.put_version(v, TagSet::new(), WriteConditions::default(), now()).await.unwrap();
        }
    }
    assert!(!indexes(pg, &db).contains("versions_by_key,"), "{}", indexes(pg, &db));
    // Back to migration 15: its index, its version.
    pg.psql(
        &db,
        "CREATE INDEX versions_by_key ON versions (bucket, key, seq); UPDATE holdfast_schema SET version = 15;",
    )
    .unwrap();
    assert!(indexes(pg, &db).contains("versions_by_key,"));

    let s = PgMeta::open(PgOptions::new(url)).await.unwrap();
    assert_eq!(pg.psql(&db, "SELECT version FROM holdfast_schema").unwrap().trim(), "17");
    assert_eq!(
        indexes(pg, &db),
        "versions_bucket_key_version_id_key,versions_by_key_desc,versions_pkey,versions_protected"
    );
    let v = new_version("k", inline_object(b"three"), LockState::default());
    s.put_version(v, TagSet::new(), WriteConditions::default(), now()).await.unwrap();
    let page = s.list_versions(first_page("b")).await.unwrap();
    let bodies: Vec<u64> = page.versions.iter().map(|v| v.object_data().size).collect();
    assert_eq!(bodies, [5, 3, 3], "the key's history, newest first");
}

/// The plans of the queries that read `versions` by bucket and key, on 40,000 versions of
/// 4,000 keys in two buckets: each reads an index, none scans the table, and those with an
/// order besides `last_modified_ms` sort nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_ordered_queries_read_an_index_without_the_ascending_one() {
    let pg = holdfast_testkit::Postgres::shared();
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let s = PgMeta::open(PgOptions::new(url)).await.unwrap();
    for b in ["b", "c"] {
        s.create_bucket(b, false, UtcMillis::now_system()).await.unwrap();
    }
    drop(s);
    pg.psql(
        &db,
        "INSERT INTO versions (bucket, key, version_id, delete_marker, last_modified_ms, size, etag, data)
         SELECT CASE WHEN i % 2 = 0 THEN 'b' ELSE 'c' END, convert_to('key/' || lpad((i % 4000)::text, 5, '0'), 'UTF8'),
                'v' || i, false, 1700000000000 + i, 4096, 'e', '{}'
         FROM generate_series(1, 40000) AS i;
         INSERT INTO version_tags (seq, tags) SELECT seq, '' FROM versions WHERE seq % 10 = 0;
         ANALYZE versions; ANALYZE version_tags;",
    )
    .unwrap();
    let key = "convert_to('key/00042', 'UTF8')";
    let ordered = [
        // ListObjectVersions: a key range, newest first within a key; inside the marker's key.
        format!(
            "SELECT * FROM versions v WHERE v.bucket = 'b' AND v.key >= {key} AND v.key < '\\xff'::bytea
             ORDER BY v.key, v.seq DESC LIMIT 1001"
        ),
        format!(
            "SELECT * FROM versions v WHERE v.bucket = 'b' AND v.key = {key} AND v.seq < 30000 ORDER BY v.seq DESC LIMIT 1001"
        ),
        // A key's newest version (removals), its tag history, another version of the key.
        format!("SELECT seq, delete_marker FROM versions WHERE bucket = 'b' AND key = {key} ORDER BY seq DESC LIMIT 1"),
        format!(
            "SELECT v.version_id, t.tags FROM versions v JOIN version_tags t ON t.seq = v.seq
             WHERE v.bucket = 'b' AND v.key = {key} ORDER BY v.seq DESC"
        ),
        format!("SELECT * FROM versions WHERE bucket = 'b' AND key = {key} ORDER BY seq LIMIT 5"),
        // Replication's rescan of a bucket by `seq`.
        "SELECT * FROM versions v WHERE v.bucket = 'b' AND v.seq > 100 ORDER BY v.seq LIMIT 100".to_owned(),
    ];
    let unordered = [
        format!("SELECT 1 FROM versions WHERE bucket = 'b' AND key = {key} AND seq <> 42 LIMIT 1"),
        format!(
            "SELECT seq, delete_marker FROM versions WHERE bucket = 'b' AND key = {key}
             ORDER BY last_modified_ms DESC, seq DESC LIMIT 1"
        ),
        format!("SELECT * FROM versions v WHERE v.bucket = 'b' AND v.key = {key} AND v.version_id = 'v42'"),
    ];
    // (The emptiness check, `WHERE bucket = $1 LIMIT 1`, reads the table: its first row of a
    // bucket that holds half of it, as it did with the index.)
    for (sql, sorted_ok) in ordered.iter().map(|q| (q, false)).chain(unordered.iter().map(|q| (q, true))) {
        let plan = pg.psql(&db, &format!("EXPLAIN {sql}")).unwrap();
        assert!(plan.contains("Index") && !plan.contains("Seq Scan on versions"), "{sql}\n{plan}");
        assert!(sorted_ok || !plan.contains("Sort"), "{sql}\n{plan}");
    }
}
