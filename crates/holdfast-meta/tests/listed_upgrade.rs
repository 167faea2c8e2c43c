//! SQLite schema 7 keeps what a listing shows of each key's current version in `latest`. A
//! database of schema 6 gets the columns, filled from the version rows, when it is opened:
//! `fixtures/schema6-listing.db` was written through the S3 API by the build before schema 7
//! (44a66cc, schema 6): bucket `fixture`, versioned, with keys `plain` (CRC32),
//! `ia&<odd>` (STANDARD_IA, SHA256), `crc` (REDUCED_REDUNDANCY, CRC32), `gone` (a delete
//! marker on top), `two` (a SHA1 version under a CRC32 one) and `mp` (multipart, composite
//! CRC32).

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::{ChecksumAlgorithm, ChecksumKind, ListQuery, MetaStore, VersionSelector};

/// The first page of `bucket`, each entry checked against a HEAD of its key: the listed
/// columns must say what the version row says.
async fn listed_as_head(s: &impl MetaStore, bucket: &str) -> Vec<holdfast_meta::VersionRecord> {
    let q = ListQuery {
        bucket: bucket.into(),
        prefix: String::new(),
        delimiter: None,
        after: None,
        after_version: None,
        max_keys: 1000,
    };
    let page = s.list_objects(q).await.unwrap();
    for e in &page.versions {
        let head = s.version(bucket, &e.key, &VersionSelector::Latest).await.unwrap();
        let (got, want) = (e.object_data(), head.object_data());
        assert_eq!(
            (&e.version_id, e.last_modified, got.size, &got.etag, &got.headers.storage_class, &got.checksum),
            (&head.version_id, head.last_modified, want.size, &want.etag, &want.headers.storage_class, &want.checksum),
            "{}",
            e.key
        );
    }
    page.versions
}

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
    assert_eq!(holdfast_meta::sqlite::SCHEMA_VERSION, 7);
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
    // Back to migration 11: no trigger, no listed columns; and migration 13 (inline bytes)
    // undone so it can run again — its first step drops migration 11's put function, for which a
    // stand-in with the same signature is enough.
    pg.psql(
        &db,
        "DROP TRIGGER holdfast_latest_listed ON latest; DROP FUNCTION holdfast_latest_listed();
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
