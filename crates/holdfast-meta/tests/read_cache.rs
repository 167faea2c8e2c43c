//! The embedded store answers `version_for_read` of a key's latest version from memory when
//! it can (#17). Every writer path must leave that answer equal to what the database holds
//! once the write is acknowledged: each step below reads (filling the cache), writes, and
//! compares with a store opened afresh on the same file (no cache).

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{Bypass, LegalHold, LockState, Mode, Retention, UtcMillis};
use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::{
    LifecycleAction, ListQuery, MetaStore, NewVersion, ObjectData, ObjectHeaders, Part, Segment, TagSet, Upload,
    VersionSelector, Versioning, WriteConditions,
};
use std::path::Path;

fn now() -> UtcMillis {
    UtcMillis::now_system()
}

fn inline(body: &'static [u8]) -> ObjectData {
    ObjectData {
        size: body.len() as u64,
        etag: format!("{:x}", body.len()),
        headers: ObjectHeaders::default(),
        checksum: None,
        segments: Vec::new(),
        parts: Vec::new(),
        inline: Some(bytes::Bytes::from_static(body)),
    }
}

fn blob() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn put(s: &SqliteMeta, b: &str, k: &str, body: &'static [u8], lock: LockState) -> holdfast_meta::VersionRecord {
    let v = NewVersion { bucket: b.into(), key: k.into(), object: inline(body), lock, origin: Default::default() };
    s.put_version(v, TagSet::new(), WriteConditions::default(), now()).await.unwrap()
}

/// Reads through `s` (twice: the second from memory) and through a fresh store on `path`.
async fn same(s: &SqliteMeta, path: &Path, b: &str, k: &str, step: &str) {
    let fresh = SqliteMeta::open_read_only(path).unwrap();
    let want = fresh.version_for_read(b, k, &VersionSelector::Latest, true).await;
    for _ in 0..2 {
        let got = s.version_for_read(b, k, &VersionSelector::Latest, true).await;
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "after {step}");
    }
}

#[tokio::test]
async fn every_writer_path_leaves_the_cached_latest_equal_to_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let s = SqliteMeta::open(&path).unwrap();
    let (b, k) = ("b", "k");
    same(&s, &path, b, k, "nothing").await;
    s.create_bucket(b, true, now()).await.unwrap();
    s.set_versioning(b, Versioning::Enabled).await.unwrap();
    same(&s, &path, b, k, "create bucket").await;

    let v1 = put(&s, b, k, b"one", LockState::default()).await;
    same(&s, &path, b, k, "first put").await;
    let v2 = put(&s, b, k, b"two!", LockState::default()).await;
    same(&s, &path, b, k, "overwrite").await;

    let until = now().plus_millis(3_600_000);
    s.set_retention(
        b,
        k,
        &VersionSelector::Latest,
        Some(Retention { mode: Mode::Governance, until }),
        Bypass::None,
        now(),
    )
    .await
    .unwrap();
    same(&s, &path, b, k, "retention").await;
    s.set_legal_hold(b, k, &VersionSelector::Latest, LegalHold::On).await.unwrap();
    same(&s, &path, b, k, "legal hold on").await;
    s.set_legal_hold(b, k, &VersionSelector::Latest, LegalHold::Off).await.unwrap();
    same(&s, &path, b, k, "legal hold off").await;
    s.set_retention(b, k, &VersionSelector::Latest, None, Bypass::Governance, now()).await.unwrap();
    same(&s, &path, b, k, "retention removed with bypass").await;

    let mut tags = TagSet::new();
    tags.insert("a".into(), "1".into());
    s.set_version_tags(b, k, &VersionSelector::Latest, tags).await.unwrap();
    same(&s, &path, b, k, "tags").await;
    s.set_version_tags(b, k, &VersionSelector::Latest, TagSet::new()).await.unwrap();
    same(&s, &path, b, k, "tags removed").await;

    let marker = s.delete(b, k, &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    same(&s, &path, b, k, "delete marker").await;
    let marker_id = marker.version_id.clone().unwrap();
    s.delete(b, k, &VersionSelector::Id(marker_id), Bypass::None, now()).await.unwrap();
    same(&s, &path, b, k, "marker removed").await;

    s.lifecycle_delete(b, k, &v1.version_id, LifecycleAction::ExpireNoncurrent, now()).await.unwrap();
    same(&s, &path, b, k, "lifecycle noncurrent").await;
    s.lifecycle_delete(b, k, &v2.version_id, LifecycleAction::ExpireCurrent, now()).await.unwrap();
    same(&s, &path, b, k, "lifecycle current (a marker)").await;

    // A multipart upload completing over the key.
    let upload = Upload {
        upload_id: "u1".into(),
        bucket: b.into(),
        key: k.into(),
        initiated: now(),
        headers: ObjectHeaders::default(),
        checksum_algorithm: None,
        checksum_kind: None,
        lock: LockState::default(),
        replica: None,
    };
    s.create_upload(upload.clone()).await.unwrap();
    let blob = blob();
    let part = Part {
        number: 1,
        size: 3,
        etag: "p1".into(),
        last_modified: now(),
        checksum: None,
        crc64nvme: String::new(),
        md5: String::new(),
        segment: Segment { blob: blob.clone(), size: 3 },
    };
    s.put_part(b, k, "u1", part).await.unwrap();
    let object = ObjectData {
        size: 3,
        etag: "m-1".into(),
        headers: ObjectHeaders::default(),
        checksum: None,
        segments: vec![Segment { blob, size: 3 }],
        parts: vec![holdfast_meta::PartSummary { number: 1, size: 3, etag: "p1".into(), checksum: None }],
        inline: None,
    };
    s.complete_upload(&upload, object, WriteConditions::default(), now()).await.unwrap();
    same(&s, &path, b, k, "multipart complete").await;

    // Every version away, the bucket deleted and made again: a fresh, empty key.
    let mut q = ListQuery {
        bucket: b.into(),
        prefix: String::new(),
        delimiter: None,
        after: None,
        after_version: None,
        max_keys: 1000,
    };
    q.prefix = k.into();
    for e in s.list_versions(q).await.unwrap().versions {
        s.delete(b, k, &VersionSelector::Id(e.version_id), Bypass::Governance, now()).await.unwrap();
    }
    same(&s, &path, b, k, "all versions deleted").await;
    s.delete_bucket(b).await.unwrap();
    same(&s, &path, b, k, "bucket deleted").await;
    s.create_bucket(b, false, now()).await.unwrap();
    same(&s, &path, b, k, "bucket created again").await;
    put(&s, b, k, b"three", LockState::default()).await;
    same(&s, &path, b, k, "put in the new bucket").await;
}

/// Another process writing the same database (`holdfast admin replicate` beside a running
/// server) goes around the writer's triggers: the writer notices SQLite's `data_version`
/// move and forgets the cache within `EXTERNAL_CHANGE_WINDOW` (#17).
#[tokio::test]
async fn a_change_committed_by_another_connection_is_forgotten_within_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let server = SqliteMeta::open(&path).unwrap();
    let (b, k) = ("b", "k");
    server.create_bucket(b, false, now()).await.unwrap();
    server.set_versioning(b, Versioning::Enabled).await.unwrap();
    put(&server, b, k, b"one", LockState::default()).await;
    same(&server, &path, b, k, "first put").await; // now cached

    let admin = SqliteMeta::open(&path).unwrap();
    let newer = put(&admin, b, k, b"newer", LockState::default()).await;
    drop(admin);
    tokio::time::sleep(2 * holdfast_meta::sqlite::EXTERNAL_CHANGE_WINDOW).await;
    let got = server.version_for_read(b, k, &VersionSelector::Latest, true).await.unwrap();
    assert_eq!(got.0.version_id, newer.version_id, "the cache still showed the version before the other writer's");
    same(&server, &path, b, k, "another connection's put").await;
}
