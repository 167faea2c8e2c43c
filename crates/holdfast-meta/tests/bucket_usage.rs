//! Schema 8: each bucket's stored versions and bytes are kept by triggers in the transaction of
//! every change (`src/sqlite/usage.rs`), not summed when read: a bucket with a quota reads it
//! in every PUT. The tally must equal the sum over `versions` after every kind of change.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{Bypass, LockState, UtcMillis};
use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::{MetaStore, TagSet, VersionSelector, Versioning, WriteConditions};

mod support;
use support::{inline_object, new_version};

/// (versions, bytes) of `bucket` as the store reports them, and as a sum over its rows.
async fn tally_and_sum(s: &SqliteMeta, path: &std::path::Path, bucket: &str) -> ((u64, u64), (u64, u64)) {
    let t = s.bucket_usage(bucket).await.unwrap();
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let sum: (i64, i64) = conn
        .query_row(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM versions WHERE bucket = ?1 AND delete_marker = 0",
            [bucket],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    ((t.versions, t.bytes), (sum.0.cast_unsigned(), sum.1.cast_unsigned()))
}

async fn put(s: &SqliteMeta, key: &str, body: &'static [u8]) -> String {
    let v = new_version(key, inline_object(body), LockState::default());
    s.put_version(v, TagSet::new(), WriteConditions::default(), UtcMillis::now_system()).await.unwrap().version_id
}

#[tokio::test]
async fn the_tally_follows_every_change_of_a_buckets_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let s = SqliteMeta::open(&path).unwrap();
    let now = UtcMillis::now_system();
    s.create_bucket("b", false, now).await.unwrap();
    s.create_bucket("other", false, now).await.unwrap();
    assert_eq!(tally_and_sum(&s, &path, "b").await, ((0, 0), (0, 0)));

    // Unversioned: a second PUT of a key replaces its null version.
    put(&s, "a", b"12345").await;
    put(&s, "c", b"123").await;
    put(&s, "a", b"1234567").await;
    let (tally, sum) = tally_and_sum(&s, &path, "b").await;
    assert_eq!(tally, (2, 10));
    assert_eq!(tally, sum);

    // Versioned: versions pile up; a delete marker counts nothing; removing a version does.
    s.set_versioning("b", Versioning::Enabled).await.unwrap();
    let v2 = put(&s, "a", b"12").await;
    put(&s, "a", b"1").await;
    s.delete("b", "a", &VersionSelector::Latest, Bypass::None, UtcMillis::now_system()).await.unwrap();
    let (tally, sum) = tally_and_sum(&s, &path, "b").await;
    assert_eq!(tally, (4, 13));
    assert_eq!(tally, sum);
    s.delete("b", "a", &VersionSelector::Id(v2), Bypass::None, UtcMillis::now_system()).await.unwrap();
    let (tally, sum) = tally_and_sum(&s, &path, "b").await;
    assert_eq!(tally, (3, 11));
    assert_eq!(tally, sum);
    // Another bucket's writes are its own.
    s.put_version(
        holdfast_meta::NewVersion {
            bucket: "other".into(),
            ..new_version("x", inline_object(b"999"), LockState::default())
        },
        TagSet::new(),
        WriteConditions::default(),
        UtcMillis::now_system(),
    )
    .await
    .unwrap();
    assert_eq!(tally_and_sum(&s, &path, "b").await.0, (3, 11));
    assert_eq!(tally_and_sum(&s, &path, "other").await, ((1, 3), (1, 3)));

    // Emptied and removed, then made again: it starts from nothing.
    let rows: Vec<(String, String)> = {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn.prepare("SELECT CAST(key AS TEXT), version_id FROM versions WHERE bucket = 'b'").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    for (key, id) in rows {
        s.delete("b", &key, &VersionSelector::Id(id), Bypass::None, UtcMillis::now_system()).await.unwrap();
    }
    assert_eq!(tally_and_sum(&s, &path, "b").await, ((0, 0), (0, 0)));
    s.delete_bucket("b").await.unwrap();
    s.create_bucket("b", false, UtcMillis::now_system()).await.unwrap();
    put(&s, "z", b"12").await;
    assert_eq!(tally_and_sum(&s, &path, "b").await, ((1, 2), (1, 2)));
}

/// The tally is derived: a `bucket_usage` dropped outside Holdfast (its triggers, on other
/// tables, stay) is made again and filled when the store opens.
#[tokio::test]
async fn a_dropped_tally_is_made_again_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let s = SqliteMeta::open(&path).unwrap();
    s.create_bucket("b", false, UtcMillis::now_system()).await.unwrap();
    put(&s, "a", b"12345").await;
    drop(s);
    rusqlite::Connection::open(&path).unwrap().execute_batch("DROP TABLE bucket_usage").unwrap();
    let s = SqliteMeta::open(&path).unwrap();
    assert_eq!(tally_and_sum(&s, &path, "b").await, ((1, 5), (1, 5)));
    put(&s, "c", b"12").await;
    assert_eq!(tally_and_sum(&s, &path, "b").await, ((2, 7), (2, 7)));
}
