//! SQLite schema 7 keeps what a listing shows of each key's current version in `latest`. A
//! database of schema 6 gets the columns, filled from the version rows, when it is opened:
//! `fixtures/schema6-listing.db` was written through the S3 API by the build before schema 7
//! (44a66cc, schema 6): bucket `fixture`, versioned, with keys `plain` (CRC32),
//! `ia&<odd>` (STANDARD_IA, SHA256), `crc` (REDUCED_REDUNDANCY, CRC32), `gone` (a delete
//! marker on top), `two` (a SHA1 version under a CRC32 one) and `mp` (multipart, composite
//! CRC32).

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::{ChecksumAlgorithm, ChecksumKind, MetaStore, VersionSelector};

mod support;
use support::listed_as_head;

/// Undoes migrations 14 to 17 on PostgreSQL (the put function back to 13's signature, with a
/// stand-in body: 14 drops it by signature; the table options of 14 and 17; 14's trigger; 16's
/// dropped index is not put back, as 16 drops it only if it exists), so that an upgrade test can
/// replay them.
const UNDO_14_TO_17: &str =
    "DROP FUNCTION holdfast_put_version(text, bytea, text, text, bigint, text, text, bigint, boolean,
             bigint, text[], text, text, text, bytea, text, text, text, text, text, text);
         CREATE FUNCTION holdfast_put_version(text, bytea, text, text, bigint, text, text, bigint, boolean,
             bigint, text[], text, text, text, bytea) RETURNS void LANGUAGE sql AS 'SELECT';
         ALTER TABLE versions RESET (toast_tuple_target);
         DROP TRIGGER holdfast_latest_listed_moved ON latest;
         ALTER TABLE versions RESET (vacuum_truncate); ALTER TABLE latest RESET (vacuum_truncate);
         ALTER TABLE version_tags RESET (vacuum_truncate); ALTER TABLE blobs RESET (vacuum_truncate);";

#[tokio::test]
async fn a_schema_6_database_gets_its_listed_columns_filled() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema6-listing.db"), &path).unwrap();
    let version = |path: &std::path::Path| -> i64 {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).unwrap()
    };
    assert_eq!(version(&path), 6);
    let s = SqliteMeta::open(&path).unwrap();
    let listed = listed_as_head(&s, "fixture").await;
    let mut shown = Vec::new();
    for e in &listed {
        let got = e.object_data();
        let ck = got.checksum.as_ref().map(|c| (c.algorithm, c.kind));
        shown.push((e.key.as_str(), got.headers.storage_class.as_deref(), ck));
    }
    let (full, composite) = (ChecksumKind::FullObject, ChecksumKind::Composite);
    assert_eq!(
        shown,
        [
            ("crc", Some("REDUCED_REDUNDANCY"), Some((ChecksumAlgorithm::Crc32, full))),
            ("ia&<odd>", Some("STANDARD_IA"), Some((ChecksumAlgorithm::Sha256, full))),
            ("mp", None, Some((ChecksumAlgorithm::Crc32, composite))),
            ("plain", None, Some((ChecksumAlgorithm::Crc32, full))),
            ("two", None, Some((ChecksumAlgorithm::Crc32, full))),
        ]
    );
    drop(s);
    assert_eq!(version(&path), holdfast_meta::sqlite::SCHEMA_VERSION);
    assert_eq!(holdfast_meta::sqlite::SCHEMA_VERSION, 8);
    // A marker's row keeps no listed object fields; every object's row has them all.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let unfilled: i64 = conn
        .query_row(
            "SELECT count(*) FROM latest WHERE delete_marker = 0 AND (version_id IS NULL OR size IS NULL OR etag IS NULL
                 OR last_modified_ms IS NULL)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unfilled, 0);
    // Schema 8: the bucket's tally was filled from the versions it already held.
    let (tally, summed): ((i64, i64), (i64, i64)) = (
        conn.query_row("SELECT versions, bytes FROM bucket_usage WHERE bucket = 'fixture'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap(),
        conn.query_row(
            "SELECT COUNT(*), SUM(size) FROM versions WHERE bucket = 'fixture' AND delete_marker = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap(),
    );
    assert!(tally.0 > 0 && tally.1 > 0, "{tally:?}");
    assert_eq!(tally, summed);
}

/// `versions_by_key` (bucket, key, seq) duplicated `versions_by_key_desc` and cost every PUT a
/// B-tree insert: a database that has it (the schema 6 fixture, as every database before #17's
/// session 8) loses it when opened, its schema version unchanged, and a key's versions still
/// read newest first without a sort.
#[tokio::test]
async fn the_ascending_versions_index_is_dropped_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/schema6-listing.db"), &path).unwrap();
    let indexes = |path: &std::path::Path| -> Vec<String> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'versions' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    };
    assert!(indexes(&path).contains(&"versions_by_key".to_owned()));
    let s = SqliteMeta::open(&path).unwrap();
    let q = holdfast_meta::ListQuery {
        bucket: "fixture".into(),
        prefix: String::new(),
        delimiter: None,
        after: None,
        after_version: None,
        max_keys: 1000,
    };
    let versions = s.list_versions(q).await.unwrap().versions;
    let two: Vec<_> = versions.iter().filter(|v| v.key == "two").map(|v| v.seq).collect();
    assert_eq!(two.len(), 2);
    assert!(two[0] > two[1], "newest first: {two:?}");
    drop(s);
    let left = indexes(&path);
    assert!(
        !left.contains(&"versions_by_key".to_owned()) && left.contains(&"versions_by_key_desc".to_owned()),
        "{left:?}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT seq FROM versions WHERE bucket = 'fixture' AND key = x'74776f'
             ORDER BY seq DESC LIMIT 1",
        )
        .unwrap()
        .query_map([], |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let plan = plan.join("; ");
    assert!(plan.contains("versions_by_key_desc") && !plan.contains("TEMP B-TREE"), "{plan}");
    let version: i64 = conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, holdfast_meta::sqlite::SCHEMA_VERSION, "no new schema version: an older build recreates it");
}

/// PostgreSQL migration 12 on a database of migration 11 that holds objects: the columns are
/// added and filled from the version rows, and the trigger keeps them from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_11_postgres_database_gets_its_listed_columns_filled() {
    use holdfast_lock::{LockState, UtcMillis};
    use holdfast_meta::postgres::{PgMeta, PgOptions};
    use holdfast_meta::{NewVersion, ObjectData, ObjectHeaders, Segment, StoredChecksum, TagSet, WriteConditions};
    let pg = holdfast_testkit::Postgres::shared();
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let object = |etag: &str, class: Option<&str>, checksum: Option<StoredChecksum>| ObjectData {
        size: 3,
        etag: etag.into(),
        headers: ObjectHeaders { storage_class: class.map(Into::into), ..ObjectHeaders::default() },
        checksum,
        segments: vec![Segment { blob: uuid::Uuid::new_v4().simple().to_string(), size: 3 }],
        parts: Vec::new(),
        inline: None,
    };
    async fn put(s: &PgMeta, key: &str, o: ObjectData) {
        let nv = NewVersion {
            bucket: "pgup".into(),
            key: key.into(),
            object: o,
            lock: LockState::default(),
            origin: Default::default(),
        };
        s.put_version(nv, TagSet::new(), WriteConditions::default(), UtcMillis::now_system()).await.unwrap();
    }
    {
        let s = PgMeta::open(PgOptions::new(url.clone())).await.unwrap();
        s.create_bucket("pgup", false, UtcMillis::now_system()).await.unwrap();
        let ck =
            StoredChecksum { algorithm: ChecksumAlgorithm::Sha1, value: "c2hh".into(), kind: ChecksumKind::Composite };
        put(&s, "a", object("ea", Some("GLACIER"), Some(ck))).await;
        put(&s, "b", object("eb", None, None)).await;
    }
    // Back to migration 11: no trigger, no listed columns; and migrations 13 (inline bytes),
    // 14 (the put function writing the listed columns) and 15 (and the audit record) undone so they can run again — 13's
    // first step drops migration 11's put function, for which a stand-in with the same
    // signature is enough.
    pg.psql(
        &db,
        &[
            UNDO_14_TO_17,
            "
         DROP TRIGGER holdfast_latest_listed ON latest; DROP FUNCTION holdfast_latest_listed();
         ALTER TABLE latest DROP COLUMN version_id, DROP COLUMN last_modified_ms, DROP COLUMN size,
             DROP COLUMN etag, DROP COLUMN storage_class, DROP COLUMN checksum_algorithm,
             DROP COLUMN checksum_kind, DROP COLUMN checksum_value;
         DROP TRIGGER worm_guard_inline ON versions; DROP FUNCTION holdfast_worm_guard_inline();
         DROP FUNCTION holdfast_put_version(text, bytea, text, text, bigint, text, text, bigint, boolean,
             bigint, text[], text, text, text, bytea);
         ALTER TABLE versions DROP COLUMN inline_bytes;
         CREATE FUNCTION holdfast_put_version(text, bytea, text, text, bigint, text, text, bigint, boolean,
             bigint, text[], text, text, text) RETURNS void LANGUAGE sql AS 'SELECT';
         UPDATE holdfast_schema SET version = 11;",
        ]
        .concat(),
    )
    .unwrap();
    let s = PgMeta::open(PgOptions::new(url)).await.unwrap();
    put(&s, "c", object("ec", Some("STANDARD_IA"), None)).await;
    let listed = listed_as_head(&s, "pgup").await;
    let mut shown = Vec::new();
    for e in &listed {
        let got = e.object_data();
        shown.push((e.key.clone(), got.etag.clone(), got.headers.storage_class.clone(), got.checksum.is_some()));
    }
    assert_eq!(
        shown,
        [
            ("a".to_owned(), "ea".to_owned(), Some("GLACIER".to_owned()), true),
            ("b".to_owned(), "eb".to_owned(), None, false),
            ("c".to_owned(), "ec".to_owned(), Some("STANDARD_IA".to_owned()), false),
        ]
    );
    assert_eq!(
        pg.psql(&db, "SELECT version FROM holdfast_schema").unwrap().trim(),
        holdfast_meta::postgres::SCHEMA_VERSION.to_string()
    );
}

/// PostgreSQL migrations 14 to 17 on a database of migration 13 that holds objects: the put function
/// then writes `latest`'s listed columns itself (new key, PUT over a key), the trigger still fills
/// them on every other path (here a delete marker and its removal), and a 4 KiB inline object's
/// row is no longer split into TOAST chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_13_postgres_database_upgrades_to_17() {
    use holdfast_lock::{Bypass, LockState, UtcMillis};
    use holdfast_meta::postgres::{PgMeta, PgOptions};
    use holdfast_meta::{NewVersion, ObjectData, ObjectHeaders, StoredChecksum, TagSet, Versioning, WriteConditions};
    let pg = holdfast_testkit::Postgres::shared();
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    static BODY: [u8; 4096] = [7; 4096];
    let object = |etag: &str, class: Option<&str>, checksum: Option<StoredChecksum>| ObjectData {
        size: 4096,
        etag: etag.into(),
        headers: ObjectHeaders { storage_class: class.map(Into::into), ..ObjectHeaders::default() },
        checksum,
        segments: Vec::new(),
        parts: Vec::new(),
        inline: Some(bytes::Bytes::from_static(&BODY)),
    };
    async fn put(s: &PgMeta, key: &str, o: ObjectData) -> holdfast_meta::VersionRecord {
        let nv = NewVersion {
            bucket: "up14".into(),
            key: key.into(),
            object: o,
            lock: LockState::default(),
            origin: Default::default(),
        };
        s.put_version(nv, TagSet::new(), WriteConditions::default(), UtcMillis::now_system()).await.unwrap()
    }
    let ck = |alg, kind| StoredChecksum { algorithm: alg, value: "Y2s=".into(), kind };
    {
        let s = PgMeta::open(PgOptions::new(url.clone())).await.unwrap();
        s.create_bucket("up14", false, UtcMillis::now_system()).await.unwrap();
        s.set_versioning("up14", Versioning::Enabled).await.unwrap();
        put(&s, "a", object("ea", Some("GLACIER"), Some(ck(ChecksumAlgorithm::Sha1, ChecksumKind::Composite)))).await;
        put(&s, "b", object("eb", None, None)).await;
    }
    // Back to migration 13: its trigger on every insert and move of `seq`, no table option, and a
    // stand-in for its put function (migration 14 drops it by signature; 15 then replaces 14's).
    pg.psql(
        &db,
        &[
            UNDO_14_TO_17,
            " DROP TRIGGER holdfast_latest_listed ON latest;
         CREATE TRIGGER holdfast_latest_listed BEFORE INSERT OR UPDATE OF seq ON latest
             FOR EACH ROW EXECUTE FUNCTION holdfast_latest_listed();
         UPDATE holdfast_schema SET version = 13;",
        ]
        .concat(),
    )
    .unwrap();
    let toast = pg.psql(&db, "SELECT reltoastrelid::regclass FROM pg_class WHERE relname = 'versions'").unwrap();
    let chunks = || pg.psql(&db, &format!("SELECT count(*) FROM {}", toast.trim())).unwrap().trim().to_owned();
    // (Rows the migration found stay as they are; the new ones must not add chunks.)
    let before = chunks();

    let s = PgMeta::open(PgOptions::new(url)).await.unwrap();
    assert_eq!(pg.psql(&db, "SELECT version FROM holdfast_schema").unwrap().trim(), "17");
    let opts = |table: &str| {
        let sql = format!("SELECT reloptions FROM pg_class WHERE relname = '{table}'");
        pg.psql(&db, &sql).unwrap().trim().to_owned()
    };
    assert_eq!(opts("versions"), "{toast_tuple_target=8160,vacuum_truncate=false}");
    assert_eq!(opts("latest"), "{vacuum_truncate=false}", "migration 17");
    put(&s, "c", object("ec", Some("STANDARD_IA"), Some(ck(ChecksumAlgorithm::Crc32c, ChecksumKind::FullObject))))
        .await;
    put(&s, "a", object("ea2", None, Some(ck(ChecksumAlgorithm::Crc64Nvme, ChecksumKind::FullObject)))).await;
    assert_eq!(chunks(), before, "no TOAST chunks for 4 KiB inline rows after migration 14");
    let listed = listed_as_head(&s, "up14").await;
    let shown: Vec<_> = listed
        .iter()
        .map(|e| {
            let o = e.object_data();
            (e.key.clone(), o.etag.clone(), o.headers.storage_class.clone(), o.checksum.clone())
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("a".to_owned(), "ea2".to_owned(), None, Some(ck(ChecksumAlgorithm::Crc64Nvme, ChecksumKind::FullObject))),
            ("b".to_owned(), "eb".to_owned(), None, None),
            (
                "c".to_owned(),
                "ec".to_owned(),
                Some("STANDARD_IA".to_owned()),
                Some(ck(ChecksumAlgorithm::Crc32c, ChecksumKind::FullObject))
            ),
        ]
    );
    // The trigger's paths: a delete marker hides a key, removing it shows the version again.
    let marker = s.delete("up14", "a", &VersionSelector::Latest, Bypass::None, UtcMillis::now_system()).await.unwrap();
    assert_eq!(listed_as_head(&s, "up14").await.len(), 2);
    let id = VersionSelector::Id(marker.version_id.unwrap());
    s.delete("up14", "a", &id, Bypass::None, UtcMillis::now_system()).await.unwrap();
    let listed = listed_as_head(&s, "up14").await;
    assert_eq!((listed.len(), listed[0].object_data().etag.as_str()), (3, "ea2"));
}
