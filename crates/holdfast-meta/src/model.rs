//! The records the store keeps. No wire types here: the API layer converts.

use holdfast_lock::{BucketLock, DefaultRetention, LockState, UtcMillis};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Never configured: every write replaces the `null` version.
    Unversioned,
    Enabled,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub created: UtcMillis,
    pub versioning: Versioning,
    /// One-way switch (B12).
    pub lock_enabled: bool,
    pub default_retention: Option<DefaultRetention>,
}

impl Bucket {
    /// The id of a new version written now: a fresh one with versioning enabled, else `null`.
    pub fn next_version_id(&self) -> String {
        match self.versioning {
            Versioning::Enabled => crate::new_version_id(),
            Versioning::Unversioned | Versioning::Suspended => "null".to_owned(),
        }
    }

    /// What Object Lock knows of this bucket (the write rules of `holdfast_lock` judge it).
    pub fn lock(&self) -> BucketLock {
        BucketLock { enabled: self.lock_enabled, default_retention: self.default_retention }
    }
}

/// Where an object's bytes live: immutable blobs, concatenated in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub blob: String,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [Self; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// The name AWS uses in `x-amz-checksum-algorithm` and in `x-amz-checksum-<name>`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// CRCs can be combined into a whole-object value; hashes only as checksum-of-checksums.
    pub const fn supports_full_object(self) -> bool {
        matches!(self, Self::Crc32 | Self::Crc32c | Self::Crc64Nvme)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChecksumKind {
    FullObject,
    /// Checksum of the part checksums, rendered `<base64>-<parts>`.
    Composite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    pub algorithm: ChecksumAlgorithm,
    /// Base64 of the digest (with `-N` for composite).
    pub value: String,
    pub kind: ChecksumKind,
}

/// The standard headers and user metadata that round-trip on an object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub content_disposition: Option<String>,
    pub content_encoding: Option<String>,
    pub content_language: Option<String>,
    /// Kept as the client sent it (an HTTP date, normally).
    pub expires: Option<String>,
    pub website_redirect_location: Option<String>,
    pub storage_class: Option<String>,
    /// `x-amz-meta-*` without the prefix, names lower-cased.
    pub user: BTreeMap<String, String>,
}

/// One part of a completed multipart object (GetObjectAttributes, `?partNumber=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSummary {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub checksum: Option<String>,
}

/// An object version's content: everything but its lock state and identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectData {
    pub size: u64,
    /// Without quotes; `<md5>` or `<md5-of-md5s>-<parts>`.
    pub etag: String,
    pub headers: ObjectHeaders,
    pub checksum: Option<StoredChecksum>,
    pub segments: Vec<Segment>,
    /// Empty for a single-part object.
    pub parts: Vec<PartSummary>,
    /// The bytes of a small object kept in the metadata store itself (no segments then):
    /// written in the version's own transaction, so one commit makes bytes and metadata
    /// durable together. Never part of the serialized record; a store that keeps inline
    /// bytes fills this in when a version is read for its content
    /// ([`crate::MetaStore::version`]), not in listings.
    #[serde(skip)]
    pub inline: Option<bytes::Bytes>,
}

/// One row of a key's history: an object version or a delete marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    /// Store-assigned order; higher is newer. Not shown to clients.
    pub seq: i64,
    pub bucket: String,
    pub key: String,
    /// Opaque id, or `null` for the null version.
    pub version_id: String,
    pub last_modified: UtcMillis,
    pub is_latest: bool,
    /// `None` for a delete marker.
    pub object: Option<ObjectData>,
    pub lock: LockState,
    /// `x-amz-replication-status`: filled in only by the reads of GET and HEAD
    /// ([`crate::MetaStore::version_for_read`]); `None` elsewhere and when never replicated.
    pub replication: Option<crate::ReplicationStatus>,
}

impl VersionRecord {
    pub fn is_delete_marker(&self) -> bool {
        self.object.is_none()
    }

    /// The object of a version that is not a delete marker: the record a write returns, one
    /// a lookup that refuses delete markers (R4, L7, G5) returns, an entry of a listing of
    /// objects. Holding a delete marker here is a broken invariant of the caller.
    pub fn object_data(&self) -> &ObjectData {
        self.object.as_ref().expect("a version other than a delete marker has its object")
    }
}

/// Which version a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    Latest,
    Id(String),
}

impl VersionSelector {
    pub fn from_option(v: Option<String>) -> Self {
        v.map_or(Self::Latest, Self::Id)
    }
}

/// Preconditions evaluated inside the write transaction, against the key's current version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteConditions {
    /// `If-None-Match`: `*` fails if a current (non-marker) version exists; a list of ETags
    /// fails if the current version has one of them (RFC 7232; AWS itself accepts only `*`).
    pub if_none_match: Option<String>,
    /// `If-Match: <etag>` (`*` for any): fail unless the current version matches.
    pub if_match: Option<String>,
}

/// Whether an `If-Match` / `If-None-Match` list (`*`, or quoted ETags separated by commas)
/// names `etag`.
pub fn etag_list_matches(list: &str, etag: &str) -> bool {
    list.split(',').map(|t| t.trim().trim_start_matches("W/").trim_matches('"')).any(|t| t == "*" || t == etag)
}

/// A new object version to record.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub bucket: String,
    pub key: String,
    pub object: ObjectData,
    /// Explicit lock state from the request; the bucket default fills in retention (W9, W10).
    pub lock: LockState,
    /// Which request wrote it, for the event it emits (`s3:ObjectCreated:<origin>`).
    pub origin: WriteOrigin,
}

/// The request that created a version by PUT, POST or copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WriteOrigin {
    #[default]
    Put,
    Post,
    Copy,
}

impl WriteOrigin {
    pub const fn event_name(self) -> &'static str {
        match self {
            Self::Put => "s3:ObjectCreated:Put",
            Self::Post => "s3:ObjectCreated:Post",
            Self::Copy => "s3:ObjectCreated:Copy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOutcome {
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    /// Exclusive start: list keys after this one (marker / start-after / continuation).
    pub after: Option<String>,
    /// For version listings: continue after this version of `after`.
    pub after_version: Option<String>,
    pub max_keys: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub versions: Vec<VersionRecord>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or common prefix returned, to continue from when truncated.
    pub next_marker: Option<String>,
    pub next_version_marker: Option<String>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiated: UtcMillis,
    pub headers: ObjectHeaders,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_kind: Option<ChecksumKind>,
    /// Lock state requested at CreateMultipartUpload, applied at completion (W1, W14).
    pub lock: LockState,
    /// An upload another Holdfast opened to replicate one version (issue #13): what the
    /// version keeps of its source. Kept in the upload's JSON document (absent from older rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<UploadReplica>,
}

/// The source version a replication upload completes into: its id, last-modified, ETag and
/// checksum (kept as the source has them) and tags; its lock state is the upload's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReplica {
    pub version_id: String,
    pub last_modified: UtcMillis,
    pub etag: String,
    pub checksum: Option<StoredChecksum>,
    #[serde(default)]
    pub tags: crate::TagSet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub number: u32,
    pub size: u64,
    pub etag: String,
    pub last_modified: UtcMillis,
    /// Base64 digest in the upload's checksum algorithm, if it has one.
    pub checksum: Option<String>,
    /// Base64 CRC64NVME, always kept so a whole-object default checksum can be combined.
    pub crc64nvme: String,
    /// Base64 MD5 of the part, for the multipart ETag.
    pub md5: String,
    pub segment: Segment,
}

#[derive(Debug, Clone, Default)]
pub struct UploadListQuery {
    pub bucket: String,
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
    pub max_uploads: usize,
}

#[derive(Debug, Clone, Default)]
pub struct UploadPage {
    pub uploads: Vec<Upload>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
}
