//! Small objects inline on PostgreSQL (schema 13, issue #17): the bytes are written in the
//! version's own row and transaction, by a grouped PUT and by the statement-by-statement path,
//! come back with a read of the version (not with listings), go with the version's removal,
//! stay while a lock keeps the version, and the database refuses to change them.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{Bypass, LockState, Mode, Retention, UtcMillis};
use holdfast_meta::postgres::{PgMeta, PgOptions};
use holdfast_meta::{
    BucketConfigKind, MetaError, MetaStore, ObjectData, TagSet, VersionSelector, Versioning, WriteConditions,
};
use holdfast_testkit::Postgres;

mod support;
use support::{inline_object, new_version};

async fn open() -> (PgMeta, String) {
    let url = Postgres::shared().fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    (PgMeta::open(PgOptions::new(url)).await.unwrap(), db)
}

fn sql(db: &str, q: &str) -> Result<String, String> {
    Postgres::shared().psql(db, q).map(|s| s.trim().to_owned())
}

fn rows_with_bytes(db: &str) -> i64 {
    sql(db, "SELECT count(*) FROM versions WHERE inline_bytes IS NOT NULL").unwrap().parse().unwrap()
}

fn bytes_of(rec: &holdfast_meta::VersionRecord) -> Option<&[u8]> {
    rec.object.as_ref().and_then(|o| o.inline.as_deref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_bytes_live_and_die_with_their_version() {
    let (s, db) = open().await;
    assert!(s.stores_inline());
    let now = UtcMillis::now_system();
    s.create_bucket("b", false, now).await.unwrap();
    s.set_versioning("b", Versioning::Enabled).await.unwrap();
    // A grouped PUT (holdfast_put_version).
    let rec = s
        .put_version(
            new_version("k", inline_object(b"hello"), LockState::default()),
            TagSet::new(),
            WriteConditions::default(),
            now,
        )
        .await
        .unwrap();
    let got = s.version("b", "k", &VersionSelector::Latest).await.unwrap();
    assert_eq!(bytes_of(&got), Some(&b"hello"[..]));
    assert_eq!(got.version_id, rec.version_id);
    let (read, _) = s.version_for_read("b", "k", &VersionSelector::Latest, true).await.unwrap();
    assert_eq!(bytes_of(&read), Some(&b"hello"[..]));
    // Listings carry no bytes.
    let page = s.list_versions(support::first_page("b")).await.unwrap();
    assert_eq!(page.versions.len(), 1);
    assert_eq!(page.versions[0].object.as_ref().map(|o| (o.size, o.inline.is_none())), Some((5, true)));
    assert_eq!(rows_with_bytes(&db), 1);

    // The database itself refuses to change the bytes of a version, even an unprotected one.
    let upd = sql(&db, "UPDATE versions SET inline_bytes = '\\x00'").unwrap_err();
    assert!(upd.contains("WORM guard"), "{upd}");
    let cleared = sql(&db, "UPDATE versions SET inline_bytes = NULL").unwrap_err();
    assert!(cleared.contains("WORM guard"), "{cleared}");

    // A delete marker keeps the version (and its bytes); removing the version removes them.
    s.delete("b", "k", &VersionSelector::Latest, Bypass::None, now).await.unwrap();
    assert_eq!(rows_with_bytes(&db), 1);
    let id = VersionSelector::Id(rec.version_id.clone());
    assert_eq!(bytes_of(&s.version("b", "k", &id).await.unwrap()), Some(&b"hello"[..]));
    s.delete("b", "k", &id, Bypass::None, now).await.unwrap();
    assert_eq!(rows_with_bytes(&db), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_by_statement_path_keeps_inline_bytes_too() {
    let (s, db) = open().await;
    let now = UtcMillis::now_system();
    s.create_bucket("b", false, now).await.unwrap();
    // A quota document sends every PUT of the bucket to the full path (objects::insert_at).
    s.put_bucket_config("b", BucketConfigKind::Quota, Some(r#"{"bytes":1000000}"#.into())).await.unwrap();
    s.put_version(
        new_version("q", inline_object(b"full path"), LockState::default()),
        TagSet::new(),
        WriteConditions::default(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(bytes_of(&s.version("b", "q", &VersionSelector::Latest).await.unwrap()), Some(&b"full path"[..]));
    // Unversioned: the next PUT of the key replaces the null version, bytes and all.
    s.put_version(
        new_version("q", inline_object(b"second"), LockState::default()),
        TagSet::new(),
        WriteConditions::default(),
        now,
    )
    .await
    .unwrap();
    assert_eq!(bytes_of(&s.version("b", "q", &VersionSelector::Latest).await.unwrap()), Some(&b"second"[..]));
    assert_eq!(rows_with_bytes(&db), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_inline_version_keeps_its_bytes() {
    let (s, db) = open().await;
    let now = UtcMillis::now_system();
    s.create_bucket("b", true, now).await.unwrap();
    let lock = LockState {
        retention: Some(Retention { mode: Mode::Compliance, until: now.plus_millis(3_600_000) }),
        legal_hold: None,
    };
    let rec = s
        .put_version(new_version("k", inline_object(b"kept"), lock), TagSet::new(), WriteConditions::default(), now)
        .await
        .unwrap();
    let id = VersionSelector::Id(rec.version_id);
    assert!(matches!(s.delete("b", "k", &id, Bypass::Governance, now).await, Err(MetaError::Locked(_))));
    let dropped = sql(&db, "DELETE FROM versions").unwrap_err();
    assert!(dropped.contains("WORM guard"), "{dropped}");
    assert_eq!(rows_with_bytes(&db), 1);
    assert_eq!(bytes_of(&s.version("b", "k", &id).await.unwrap()), Some(&b"kept"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_bytes_must_be_the_whole_object() {
    let (s, _db) = open().await;
    let now = UtcMillis::now_system();
    s.create_bucket("b", false, now).await.unwrap();
    let short = ObjectData { size: 9, ..inline_object(b"four") };
    let err = s
        .put_version(new_version("k", short, LockState::default()), TagSet::new(), WriteConditions::default(), now)
        .await;
    assert!(matches!(err, Err(MetaError::Internal(_))), "{err:?}");
    assert!(matches!(s.version("b", "k", &VersionSelector::Latest).await, Err(MetaError::NoSuchKey)));
}

/// PUTs that wait together commit as one group (migration 14: the put function writes the
/// listed columns, the group raises the clock mark once): a PUT refused inside the group
/// (If-None-Match on a taken key, If-Match on a missing one) fails alone, every other one is
/// stored and listed as a HEAD reads it, and the clock mark is at least the latest reading.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_commits_around_its_refused_puts() {
    let (s, _db) = open().await;
    let now = UtcMillis::now_system();
    s.create_bucket("b", false, now).await.unwrap();
    s.put_version(
        new_version("taken", inline_object(b"first"), LockState::default()),
        TagSet::new(),
        cond(None, None),
        now,
    )
    .await
    .unwrap();
    let ahead = now.plus_millis(60_000);
    let class_of = |i: usize| i.is_multiple_of(2).then(|| "STANDARD_IA".to_owned());
    let puts = (0..16).map(|i| {
        let s = &s;
        async move {
            let (key, c, at) = match i {
                0 => ("taken".to_owned(), cond(Some("*"), None), now),
                1 => ("missing".to_owned(), cond(None, Some("*")), now),
                2 => ("ahead".to_owned(), cond(None, None), ahead),
                _ => (format!("k{i:02}"), cond(None, None), now),
            };
            let mut object = inline_object(b"grouped");
            object.headers.storage_class = class_of(i);
            object.checksum = Some(holdfast_meta::StoredChecksum {
                algorithm: holdfast_meta::ChecksumAlgorithm::Crc32c,
                value: format!("v{i}"),
                kind: holdfast_meta::ChecksumKind::FullObject,
            });
            s.put_version(new_version(&key, object, LockState::default()), TagSet::new(), c, at).await
        }
    });
    let results = futures::future::join_all(puts).await;
    assert!(matches!(results[0], Err(MetaError::PreconditionFailed)), "{:?}", results[0]);
    assert!(matches!(results[1], Err(MetaError::NoSuchKey)), "{:?}", results[1]);
    for r in &results[2..] {
        r.as_ref().unwrap();
    }
    let taken = s.version("b", "taken", &VersionSelector::Latest).await.unwrap();
    assert_eq!(bytes_of(&taken), Some(&b"first"[..]), "the refused PUT changed nothing");
    assert!(matches!(s.version("b", "missing", &VersionSelector::Latest).await, Err(MetaError::NoSuchKey)));
    let listed = support::listed_as_head(&s, "b").await;
    assert_eq!(listed.len(), 15, "taken, ahead and k03..k15");
    for e in &listed {
        let got = e.object_data();
        if let Some(i) = e.key.strip_prefix('k') {
            let i: usize = i.parse().unwrap();
            assert_eq!(
                (got.headers.storage_class.clone(), got.checksum.as_ref().unwrap().value.clone()),
                (class_of(i), format!("v{i}"))
            );
        }
    }
    assert!(s.clock_high_water().await.unwrap() >= ahead, "the group's mark is its latest reading");
}

fn cond(if_none_match: Option<&str>, if_match: Option<&str>) -> WriteConditions {
    WriteConditions { if_none_match: if_none_match.map(Into::into), if_match: if_match.map(Into::into) }
}
