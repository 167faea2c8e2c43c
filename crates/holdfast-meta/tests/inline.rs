//! Small objects inline in the embedded store: the bytes are written in the version's own
//! transaction, come back with a read of the version (not with listings), go with the
//! version's removal, and the database refuses to drop or change them on its own.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{Bypass, LockState, Mode, Retention, UtcMillis};
use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::{MetaError, MetaStore, ObjectData, TagSet, VersionSelector, WriteConditions};

mod support;
use support::{inline_object, new_version};

fn rows(path: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM inline_data", [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn inline_bytes_live_and_die_with_their_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let s = SqliteMeta::open(&path).unwrap();
    assert!(s.stores_inline());
    let now = UtcMillis::now_system();
    s.create_bucket("b", false, now).await.unwrap();
    s.set_versioning("b", holdfast_meta::Versioning::Enabled).await.unwrap();
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
    assert_eq!(got.object.as_ref().and_then(|o| o.inline.as_deref()), Some(&b"hello"[..]));
    assert_eq!(got.version_id, rec.version_id);
    // Listings carry no bytes.
    let page = s.list_versions(support::first_page("b")).await.unwrap();
    assert_eq!(page.versions.len(), 1);
    assert_eq!(page.versions[0].object.as_ref().map(|o| (o.size, o.inline.is_none())), Some((5, true)));
    assert_eq!(rows(&path), 1);

    // The database itself refuses to drop or change the bytes of a version that exists.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let del = conn.execute("DELETE FROM inline_data", []).unwrap_err().to_string();
        assert!(del.contains("WORM guard"), "{del}");
        let upd = conn.execute("UPDATE inline_data SET bytes = x'00'", []).unwrap_err().to_string();
        assert!(upd.contains("WORM guard"), "{upd}");
    }

    // A delete marker keeps the version (and its bytes); removing the version removes them.
    s.delete("b", "k", &VersionSelector::Latest, Bypass::None, now).await.unwrap();
    assert_eq!(rows(&path), 1);
    let id = VersionSelector::Id(rec.version_id.clone());
    assert_eq!(s.version("b", "k", &id).await.unwrap().object.unwrap().inline.as_deref(), Some(&b"hello"[..]));
    s.delete("b", "k", &id, Bypass::None, now).await.unwrap();
    assert_eq!(rows(&path), 0);
}

#[tokio::test]
async fn locked_inline_version_keeps_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let s = SqliteMeta::open(&path).unwrap();
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
    assert_eq!(rows(&path), 1);
    assert_eq!(s.version("b", "k", &id).await.unwrap().object.unwrap().inline.as_deref(), Some(&b"kept"[..]));
}

#[tokio::test]
async fn inline_bytes_must_be_the_whole_object() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteMeta::open(&dir.path().join("meta.db")).unwrap();
    let now = UtcMillis::now_system();
    s.create_bucket("b", false, now).await.unwrap();
    let short = ObjectData { size: 9, ..inline_object(b"four") };
    let err = s
        .put_version(new_version("k", short, LockState::default()), TagSet::new(), WriteConditions::default(), now)
        .await;
    assert!(matches!(err, Err(MetaError::Internal(_))), "{err:?}");
    assert!(matches!(s.version("b", "k", &VersionSelector::Latest).await, Err(MetaError::NoSuchKey)));
}

#[tokio::test]
async fn an_older_schema_is_upgraded_and_newer_builds_are_required_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    drop(SqliteMeta::open(&path).unwrap());
    let version = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("SELECT version FROM schema_version", [], |r| r.get(0)).unwrap()
    };
    let conn = rusqlite::Connection::open(&path).unwrap();
    let current = version(&conn);
    assert!(current >= 2, "inline bytes came with schema 2");
    conn.execute("UPDATE schema_version SET version = 1", []).unwrap();
    drop(conn);
    drop(SqliteMeta::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(version(&conn), current, "upgraded to the current schema");
}
