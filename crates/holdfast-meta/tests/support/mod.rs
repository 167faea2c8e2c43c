//! Builders and checks shared by the metadata tests of both stores.

#![allow(dead_code, clippy::unwrap_used)] // Each test crate uses part of it; unwrap states what a test expects.

use bytes::Bytes;
use holdfast_lock::LockState;
use holdfast_meta::{
    ListQuery, MetaStore, NewVersion, ObjectData, ObjectHeaders, VersionRecord, VersionSelector, WriteOrigin,
};

/// An object whose bytes are kept inline in its version row.
pub fn inline_object(bytes: &'static [u8]) -> ObjectData {
    ObjectData {
        size: bytes.len() as u64,
        etag: "e".into(),
        headers: ObjectHeaders::default(),
        checksum: None,
        segments: Vec::new(),
        parts: Vec::new(),
        inline: Some(Bytes::from_static(bytes)),
    }
}

/// A PUT of `object` under `key` in bucket "b".
pub fn new_version(key: &str, object: ObjectData, lock: LockState) -> NewVersion {
    NewVersion { bucket: "b".into(), key: key.into(), object, lock, origin: WriteOrigin::Put }
}

/// The first page (up to 1,000 entries) of `bucket`, from its start.
pub fn first_page(bucket: &str) -> ListQuery {
    ListQuery {
        bucket: bucket.into(),
        prefix: String::new(),
        delimiter: None,
        after: None,
        after_version: None,
        max_keys: 1000,
    }
}

/// The first page of `bucket`, each entry checked against a HEAD of its key: the listed
/// columns must say what the version row says.
pub async fn listed_as_head(s: &impl MetaStore, bucket: &str) -> Vec<VersionRecord> {
    let page = s.list_objects(first_page(bucket)).await.unwrap();
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
