//! Builders shared by the inline-object tests of both stores.

use bytes::Bytes;
use holdfast_lock::LockState;
use holdfast_meta::{NewVersion, ObjectData, ObjectHeaders, WriteOrigin};

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
