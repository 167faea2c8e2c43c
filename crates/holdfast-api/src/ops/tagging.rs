//! Object tags: Put/Get/DeleteObjectTagging, `x-amz-tagging` on writes, the tag
//! count of GET/HEAD (the tag syntax and limits are in `crate::tags`).
//!
//! Tags are metadata, not protected data: they change on any version, locked or not, and
//! never make a new version (AWS documents no lock error for PutObjectTagging; Object Lock
//! protects a version from being overwritten or deleted).

use super::shown_version_id;
use crate::Gateway;
use crate::access::TagVisibility;
use crate::error::{engine_error, with_resource};
pub(crate) use crate::tags::{tags_from_body, tags_from_header, to_dto};
use holdfast_engine::model::TagSet;
use holdfast_engine::version_selector;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

/// Whether GET/HEAD may show `x-amz-tagging-count`: the caller is allowed `s3:GetObjectTagging`
/// (AWS GetObject). The read then fetches the tags in the same trip to the store.
pub(crate) fn tags_visible(ext: &http::Extensions) -> bool {
    ext.get::<TagVisibility>().is_some_and(|v| v.0)
}

/// `x-amz-tagging-count` of GET/HEAD: the number of tags of the version read, when it has any
/// and they were read (the caller may see them).
pub(crate) fn tag_count(read: &holdfast_engine::ObjectRead) -> Option<i32> {
    let tags = read.tags.as_ref()?;
    (!tags.is_empty()).then(|| i32::try_from(tags.len()).unwrap_or(i32::MAX))
}

impl Gateway {
    pub(crate) async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let sel = version_selector(input.version_id).map_err(engine_error)?;
        let (rec, tags) = self
            .engine
            .object_tags(&input.bucket, &input.key, &sel)
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, Some(&input.key)))?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: to_dto(&tags),
            version_id: shown_version_id(self, &rec).await,
        }))
    }

    pub(crate) async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        let sel = version_selector(input.version_id).map_err(engine_error)?;
        let tags = tags_from_body(&input.tagging, self.config.aws_strict)?;
        let rec = self
            .engine
            .set_object_tags(&input.bucket, &input.key, &sel, tags)
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, Some(&input.key)))?;
        crate::audit::AuditSlot::update(&req.extensions, |f| f.version_id = Some(rec.version_id.clone()));
        Ok(S3Response::new(PutObjectTaggingOutput { version_id: shown_version_id(self, &rec).await }))
    }

    pub(crate) async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        let sel = version_selector(input.version_id).map_err(engine_error)?;
        let rec = self
            .engine
            .set_object_tags(&input.bucket, &input.key, &sel, TagSet::new())
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, Some(&input.key)))?;
        crate::audit::AuditSlot::update(&req.extensions, |f| f.version_id = Some(rec.version_id.clone()));
        Ok(S3Response::new(DeleteObjectTaggingOutput { version_id: shown_version_id(self, &rec).await }))
    }
}
