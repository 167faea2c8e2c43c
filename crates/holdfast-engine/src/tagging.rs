//! Object tags: read and change a version's tags, and the tags of a copy.
//! Tags are metadata, not protected data: changing them needs no lock check and makes no
//! new version. Their syntax and limits are judged by the API layer.

use crate::{Engine, EngineError, EngineResult};
use holdfast_meta::{MetaError, TagSet, VersionRecord, VersionSelector};

/// CopyObject `x-amz-tagging-directive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaggingDirective {
    /// The copy gets the source version's tags (the default).
    Copy,
    /// The copy gets these tags (`x-amz-tagging`; none when absent).
    Replace(TagSet),
}

/// A delete marker named by a tagging request: the current one is 404 NoSuchKey, one named
/// by id 405 MethodNotAllowed (as for the other object subresources).
fn marker_error(e: MetaError, sel: &VersionSelector) -> EngineError {
    match (e, sel) {
        (MetaError::DeleteMarker { version_id, .. }, VersionSelector::Latest) => {
            EngineError::CurrentIsDeleteMarker { version_id }
        }
        (e, _) => e.into(),
    }
}

impl Engine {
    /// GetObjectTagging: the version and its tags.
    pub async fn object_tags(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
    ) -> EngineResult<(VersionRecord, TagSet)> {
        self.meta.version_tags(bucket, key, sel).await.map_err(|e| marker_error(e, sel))
    }

    /// PutObjectTagging (and DeleteObjectTagging with an empty set): replaces the tags of
    /// one version, whatever its lock state.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        tags: TagSet,
    ) -> EngineResult<VersionRecord> {
        self.meta.set_version_tags(bucket, key, sel, tags).await.map_err(|e| marker_error(e, sel))
    }

    /// The tags a multipart upload's object gets at completion (CreateMultipartUpload with
    /// `x-amz-tagging`).
    pub async fn set_upload_tags(&self, bucket: &str, key: &str, upload_id: &str, tags: TagSet) -> EngineResult<()> {
        Ok(self.meta.set_upload_tags(bucket, key, upload_id, tags).await?)
    }

    /// The tags of a copy source (already resolved to an object version).
    pub(crate) async fn source_tags(&self, src: &VersionRecord) -> EngineResult<TagSet> {
        let sel = VersionSelector::Id(src.version_id.clone());
        Ok(self.meta.version_tags(&src.bucket, &src.key, &sel).await?.1)
    }
}
