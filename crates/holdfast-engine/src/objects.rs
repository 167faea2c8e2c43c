//! Writes of whole objects: PUT, copy, delete, and lock changes on a version.

use crate::checksum::encode;
use crate::ingest::{BodyClaims, BodyStream, Ingested, Stored, ingest};
use crate::read::{ReadConditions, stream_span};
use crate::tagging::TaggingDirective;
use crate::{Engine, EngineError, EngineResult};
use futures::StreamExt;
use holdfast_lock::{Bypass, LegalHold, LockState, Retention};
use holdfast_meta::{
    Bucket, ChecksumAlgorithm, ChecksumKind, DeleteOutcome, NewVersion, ObjectData, ObjectHeaders, Segment,
    StoredChecksum, TagSet, VersionRecord, VersionSelector, WriteConditions, WriteOrigin,
};
use std::sync::Arc;

pub const MAX_KEY_BYTES: usize = 1024;

/// A lock change as the audit trail records it.
#[derive(Debug, Clone)]
pub struct LockChange {
    /// The state read just before the change (`None` if the version could not be read).
    pub before: Option<LockState>,
    pub after: VersionRecord,
}

/// A PutObject below the api. The bucket is not named here: the caller hands the record it
/// read (which proves it exists) to [`Engine::put_object`], so one PUT reads it once.
pub struct PutObject {
    pub key: String,
    pub headers: ObjectHeaders,
    pub body: BodyStream,
    pub claims: BodyClaims,
    pub lock: LockState,
    pub conditions: WriteConditions,
}

pub enum MetadataDirective {
    Copy,
    Replace(Box<ObjectHeaders>),
}

/// A CopyObject below the api; the destination bucket is the record the caller read (see
/// [`Engine::copy_object`]).
pub struct CopyObject {
    pub src_bucket: String,
    pub src_key: String,
    pub src_version: VersionSelector,
    pub src_conditions: ReadConditions,
    pub key: String,
    pub metadata: MetadataDirective,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub lock: LockState,
    pub conditions: WriteConditions,
}

/// The stored checksum of a single-part object: the client's algorithm, or CRC64NVME,
/// which AWS computes for every object uploaded without one.
fn stored_checksum(ing: &Ingested) -> StoredChecksum {
    match &ing.digests.chosen {
        Some((a, raw)) => StoredChecksum { algorithm: *a, value: encode(raw), kind: ChecksumKind::FullObject },
        None => StoredChecksum {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            value: encode(&ing.digests.crc64nvme),
            kind: ChecksumKind::FullObject,
        },
    }
}

pub(crate) fn object_data(ing: &Ingested, headers: ObjectHeaders) -> ObjectData {
    let (segments, inline) = match &ing.stored {
        Stored::Blob(blob) => (vec![Segment { blob: blob.clone(), size: ing.size }], None),
        // An empty object needs no bytes anywhere.
        Stored::Inline(bytes) if bytes.is_empty() => (Vec::new(), None),
        Stored::Inline(bytes) => (Vec::new(), Some(bytes.clone())),
    };
    ObjectData {
        size: ing.size,
        etag: hex::encode(ing.digests.md5),
        headers,
        checksum: Some(stored_checksum(ing)),
        segments,
        parts: Vec::new(),
        inline,
    }
}

pub(crate) fn check_key(key: &str) -> EngineResult<()> {
    if key.len() > MAX_KEY_BYTES {
        return Err(EngineError::KeyTooLong);
    }
    Ok(())
}

impl Engine {
    /// Records the new version; if the metadata refuses it, the blob written for it is
    /// collected at once rather than left to the orphan sweep.
    async fn record(&self, v: NewVersion, tags: TagSet, cond: WriteConditions) -> EngineResult<VersionRecord> {
        let blobs: Vec<String> = v.object.segments.iter().map(|s| s.blob.clone()).collect();
        match self.meta.put_version(v, tags, cond, self.clock.now()).await {
            Ok(rec) => Ok(rec),
            Err(e) => {
                for b in blobs {
                    if let Err(err) = self.blobs.delete(&b).await {
                        tracing::warn!(blob = %b, error = %err, "could not remove the blob of a refused write");
                    }
                }
                Err(e.into())
            }
        }
    }

    /// PutObject into `bucket`, the record the caller read (the api, which judged the lock
    /// headers against it); it is not read again here. `tags` (`x-amz-tagging`, empty when
    /// none) are recorded in the same metadata transaction as the version.
    pub async fn put_object(&self, bucket: &Bucket, req: PutObject, tags: TagSet) -> EngineResult<VersionRecord> {
        self.put_object_admitted(bucket, req, tags, true).await
    }

    /// A report the server writes itself (an inventory file, a lock job's completion
    /// report): a whole in-memory body with its content type, under the destination's own
    /// default retention and lock rules, as any write.
    pub async fn put_generated_object(
        &self,
        dest: &Bucket,
        key: String,
        body: Vec<u8>,
        content_type: &str,
    ) -> EngineResult<()> {
        let len = body.len() as u64;
        let body = futures::stream::once(async move { Ok(bytes::Bytes::from(body)) }).boxed();
        let req = PutObject {
            key,
            headers: ObjectHeaders { content_type: Some(content_type.into()), ..ObjectHeaders::default() },
            body,
            claims: BodyClaims { content_length: Some(len), ..BodyClaims::none() },
            lock: LockState::default(),
            conditions: WriteConditions::default(),
        };
        self.put_object(dest, req, TagSet::new()).await?;
        Ok(())
    }

    /// A small object the server writes for its own evidence (the audit trail's anchors):
    /// like the audit trail it may use the free-space reserve, so it is never refused for
    /// space below it.
    pub async fn put_object_from_reserve(&self, bucket: &Bucket, req: PutObject) -> EngineResult<VersionRecord> {
        self.put_object_admitted(bucket, req, TagSet::new(), false).await
    }

    async fn put_object_admitted(
        &self,
        bucket: &Bucket,
        req: PutObject,
        tags: TagSet,
        admit: bool,
    ) -> EngineResult<VersionRecord> {
        check_key(&req.key)?;
        // Below the free-space reserve nothing is read or written, except the
        // server's own evidence.
        let incoming = req.claims.content_length.unwrap_or(0);
        let admitted = if admit { self.admit(incoming) } else { Ok(None) };
        let admitted = match admitted {
            Ok(claim) if admit => self.admit_quota(&bucket.name, incoming).await.map(|()| claim),
            other => other,
        };
        let _claim = match admitted {
            Ok(claim) => claim,
            Err(e) => {
                crate::ingest::discard(req.body, req.claims.content_length).await;
                return Err(e);
            }
        };
        let ing = ingest(self.blobs.as_ref(), req.body, req.claims, self.config.max_put_size, self.inline_max())
            .await
            .map_err(|e| self.full_disk(e))?;
        let object = object_data(&ing, req.headers);
        self.record(
            NewVersion { bucket: bucket.name.clone(), key: req.key, object, lock: req.lock, origin: WriteOrigin::Put },
            tags,
            req.conditions,
        )
        .await
        .map_err(|e| self.full_disk(e))
    }

    /// CopyObject into `dest`, the destination bucket's record the caller read (it is not
    /// read again here); `tagging` says whether the copy gets the source version's tags
    /// (read just before the copy is recorded) or the request's.
    pub async fn copy_object(
        &self,
        dest: &Bucket,
        req: CopyObject,
        tagging: TaggingDirective,
    ) -> EngineResult<(VersionRecord, VersionRecord)> {
        check_key(&req.key)?;
        let src = self.resolve_object(&req.src_bucket, &req.src_key, &req.src_version).await?;
        let src_obj = src.object_data().clone();
        req.src_conditions.check_copy_source(&src_obj.etag, src.last_modified)?;
        let same_object = req.src_bucket == dest.name && req.src_key == req.key;
        if same_object && matches!(req.metadata, MetadataDirective::Copy) && req.src_version == VersionSelector::Latest
        {
            return Err(EngineError::CopyOntoItself);
        }
        if src_obj.size > self.config.max_put_size {
            return Err(EngineError::InvalidRequest(
                "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120"
                    .into(),
            ));
        }
        let headers = match req.metadata {
            MetadataDirective::Copy => src_obj.headers.clone(),
            MetadataDirective::Replace(h) => *h,
        };
        let body = stream_span(Arc::clone(&self.blobs), &src_obj, 0, src_obj.size)
            .map(|r| r.map_err(|e| crate::BodyError::Other(e.to_string())))
            .boxed();
        // A copy keeps the source's checksum algorithm unless the request names another.
        let algorithm = req
            .checksum_algorithm
            .or_else(|| src_obj.checksum.as_ref().map(|c| c.algorithm).filter(|a| *a != ChecksumAlgorithm::Crc64Nvme));
        let claims = BodyClaims {
            content_length: Some(src_obj.size),
            content_md5: None,
            checksum: algorithm.map(|a| (a, crate::ExpectedChecksum::None)),
        };
        let _claim = self.admit(src_obj.size)?;
        self.admit_quota(&dest.name, src_obj.size).await?;
        let ing = ingest(self.blobs.as_ref(), body, claims, self.config.max_put_size, self.inline_max())
            .await
            .map_err(|e| self.full_disk(e))?;
        let object = object_data(&ing, headers);
        let tags = match tagging {
            TaggingDirective::Copy => self.source_tags(&src).await?,
            TaggingDirective::Replace(tags) => tags,
        };
        let rec = self
            .record(
                NewVersion {
                    bucket: dest.name.clone(),
                    key: req.key,
                    object,
                    lock: req.lock,
                    origin: WriteOrigin::Copy,
                },
                tags,
                req.conditions,
            )
            .await
            .map_err(|e| self.full_disk(e))?;
        Ok((src, rec))
    }

    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        bypass: Bypass,
    ) -> EngineResult<DeleteOutcome> {
        // no path stores a key (a delete marker's) longer than S3 allows.
        check_key(key)?;
        self.make_headroom();
        Ok(self.meta.delete(bucket, key, sel, bypass, self.clock.now()).await?)
    }

    /// Changes a version's retention. The state before comes from a read just before the
    /// change (for the audit trail); the store judges the change against its own state.
    pub async fn set_retention(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        retention: Option<Retention>,
        bypass: Bypass,
    ) -> EngineResult<LockChange> {
        let before = self.lock_before(bucket, key, sel).await;
        self.make_headroom();
        let after = self.meta.set_retention(bucket, key, sel, retention, bypass, self.clock.now()).await?;
        Ok(LockChange { before, after })
    }

    pub async fn set_legal_hold(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        hold: LegalHold,
    ) -> EngineResult<LockChange> {
        let before = self.lock_before(bucket, key, sel).await;
        self.make_headroom();
        let after = self.meta.set_legal_hold(bucket, key, sel, hold).await?;
        Ok(LockChange { before, after })
    }

    /// The current lock state of a version, if it can be read (for the audit trail).
    pub async fn lock_before(&self, bucket: &str, key: &str, sel: &VersionSelector) -> Option<LockState> {
        self.meta.version(bucket, key, sel).await.ok().map(|v| v.lock)
    }
}
