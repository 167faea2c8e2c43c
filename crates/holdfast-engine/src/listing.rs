//! Reads that list or look up metadata without touching bytes: object and version
//! listings, multipart uploads and their parts, a version's record, the lock report.

use crate::{Engine, EngineResult};
use holdfast_meta::{
    ListPage, ListQuery, LockReport, Part, Upload, UploadListQuery, UploadPage, VersionRecord, VersionSelector,
};

impl Engine {
    /// ListObjects (V1 and V2): the current versions that are objects.
    pub async fn list_objects(&self, q: ListQuery) -> EngineResult<ListPage> {
        Ok(self.meta.list_objects(q).await?)
    }

    /// ListObjectVersions: every version and delete marker.
    pub async fn list_versions(&self, q: ListQuery) -> EngineResult<ListPage> {
        Ok(self.meta.list_versions(q).await?)
    }

    /// ListMultipartUploads.
    pub async fn list_uploads(&self, q: UploadListQuery) -> EngineResult<UploadPage> {
        Ok(self.meta.list_uploads(q).await?)
    }

    /// The multipart upload `upload_id` of `bucket`/`key`, while it is in progress.
    pub async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<Upload> {
        Ok(self.meta.upload(bucket, key, upload_id).await?)
    }

    /// ListParts: up to `max` parts numbered above `after`, and whether more follow.
    pub async fn list_parts(&self, upload_id: &str, after: u32, max: usize) -> EngineResult<(Vec<Part>, bool)> {
        Ok(self.meta.parts(upload_id, after, max).await?)
    }

    /// The record of the version `sel` names, a delete marker included (unlike
    /// [`Engine::resolve_object`], which reads only objects).
    pub async fn version(&self, bucket: &str, key: &str, sel: &VersionSelector) -> EngineResult<VersionRecord> {
        Ok(self.meta.version(bucket, key, sel).await?)
    }

    /// What is protected now (by the compliance clock), per bucket: one bucket, or every
    /// bucket in name order.
    pub async fn lock_report(&self, bucket: Option<&str>) -> EngineResult<Vec<LockReport>> {
        Ok(self.meta.lock_report(bucket, self.clock.now()).await?)
    }
}
