//! Object tags: a version's tag set, kept beside the version and not in it.
//!
//! Tags are metadata, not protected data: S3 changes them with PutObjectTagging /
//! DeleteObjectTagging on any version, locked or not, and they never make a new version.
//! The stores therefore keep them in a table of their own (`version_tags`, keyed by the
//! version's `seq`), outside the WORM guards on `versions`, and remove them with their
//! version.

use std::collections::BTreeMap;

/// Most tags on one object version (AWS: 10).
pub const MAX_TAGS: usize = 10;
/// Longest tag key, in UTF-16 code units (AWS: 128 Unicode characters, counted as UTF-16).
pub const MAX_TAG_KEY: usize = 128;
/// Longest tag value, in UTF-16 code units (AWS: 256).
pub const MAX_TAG_VALUE: usize = 256;

/// A version's tags: unique keys, in key (byte) order. Empty when it has none.
pub type TagSet = BTreeMap<String, String>;

/// The JSON a store keeps for a tag set.
pub(crate) fn encode(tags: &TagSet) -> String {
    serde_json::to_string(tags).expect("a string map serializes")
}

pub(crate) fn decode(doc: &str) -> crate::MetaResult<TagSet> {
    Ok(serde_json::from_str(doc)?)
}
