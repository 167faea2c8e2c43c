//! Multipart upload operations.

use super::objects::{byte_range_header, check_lock_write, read_conditions, write_conditions, written_version_id};
use super::shown_version_id;
use crate::Gateway;
use crate::convert::*;
use crate::error::{engine_error, with_resource};
use holdfast_engine::model::UploadListQuery;
use holdfast_engine::{CompletedPart as EngineCompletedPart, CreateUpload, PartSource, version_selector};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

fn part_checksum(p: &CompletedPart) -> Option<String> {
    p.checksum_crc32
        .clone()
        .or_else(|| p.checksum_crc32c.clone())
        .or_else(|| p.checksum_crc64nvme.clone())
        .or_else(|| p.checksum_sha1.clone())
        .or_else(|| p.checksum_sha256.clone())
}

impl Gateway {
    pub(crate) async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        if req.headers.contains_key(super::replication::SOURCE_VERSION_HEADER) {
            return self.create_replica_upload(req).await;
        }
        let input = req.input;
        let bucket = self.bucket(&input.bucket).await?;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        self.check_object_acl_headers(&req.headers, &input.bucket).await?;
        let lock = requested_lock(&req.headers, &req.extensions, self.engine.clock.now())?;
        check_lock_write(&bucket, &lock, None)?;
        let headers = crate::convert::object_headers_of!(input)?;
        let algorithm = input.checksum_algorithm.as_ref().map(checksum_algorithm).transpose()?;
        let kind = checksum_kind(input.checksum_type.as_ref())?;
        let tags = super::tagging::tags_from_header(input.tagging.as_deref(), self.config.aws_strict)?;
        let upload = self
            .engine
            .create_upload(CreateUpload {
                bucket: input.bucket.clone(),
                key: input.key.clone(),
                headers,
                checksum_algorithm: algorithm,
                checksum_kind: kind,
                lock,
                replica: None,
            })
            .await
            .map_err(engine_error)?;
        if !tags.is_empty()
            && let Err(e) = self.engine.set_upload_tags(&input.bucket, &input.key, &upload.upload_id, tags).await
        {
            // The client never learns this upload's id: take it away again.
            let _ = self.engine.abort_upload(&input.bucket, &input.key, &upload.upload_id).await;
            return Err(engine_error(e));
        }
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id),
            checksum_algorithm: input.checksum_algorithm,
            checksum_type: input.checksum_type,
            ..Default::default()
        }))
    }

    pub(crate) async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        let S3Request { input, headers, trailing_headers, .. } = req;
        let bucket = self.bucket(&input.bucket).await?;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        let upload = self.engine.upload(&input.bucket, &input.key, &input.upload_id).await.map_err(engine_error)?;
        super::replication::check_upload_kind(&headers, &upload)?;
        let claims = body_claims(
            &headers,
            trailing_headers,
            input.content_length,
            input.content_md5.as_ref(),
            input.checksum_algorithm.as_ref(),
            &ChecksumValues {
                crc32: input.checksum_crc32.as_ref(),
                crc32c: input.checksum_crc32c.as_ref(),
                crc64nvme: input.checksum_crc64nvme.as_ref(),
                sha1: input.checksum_sha1.as_ref(),
                sha256: input.checksum_sha256.as_ref(),
            },
        )?;
        // W7: parts of an upload that will be locked need an integrity header too.
        check_lock_write(&bucket, &upload.lock, Some(claims.has_integrity_check()))?;
        let (part, _) = self
            .engine
            .upload_part(
                &input.bucket,
                &input.key,
                &input.upload_id,
                i64::from(input.part_number),
                PartSource::Body { body: body_stream(input.body), claims },
            )
            .await
            .map_err(|e| self.engine_err(e))?;
        let mut out = UploadPartOutput { e_tag: Some(etag(&part.etag)), ..Default::default() };
        if let (Some(a), Some(v)) = (upload.checksum_algorithm, part.checksum.as_ref()) {
            let stored = holdfast_engine::model::StoredChecksum {
                algorithm: a,
                value: v.clone(),
                kind: holdfast_engine::model::ChecksumKind::FullObject,
            };
            put_checksum!(out, Some(&stored));
        }
        Ok(S3Response::new(out))
    }

    pub(crate) async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        let (src_bucket, src_key, version_id) = crate::convert::copy_source(&input.copy_source)?;
        let range = match input.copy_source_range.as_deref() {
            None => None,
            Some(r) => Some(byte_range_header(r)?),
        };
        let (part, src) = self
            .engine
            .upload_part(
                &input.bucket,
                &input.key,
                &input.upload_id,
                i64::from(input.part_number),
                PartSource::Copy {
                    bucket: src_bucket.to_string(),
                    key: src_key.to_string(),
                    version: version_selector(version_id.map(ToString::to_string)).map_err(engine_error)?,
                    conditions: read_conditions(
                        input.copy_source_if_match.as_ref(),
                        input.copy_source_if_none_match.as_ref(),
                        input.copy_source_if_modified_since.as_ref(),
                        input.copy_source_if_unmodified_since.as_ref(),
                    ),
                    range,
                },
            )
            .await
            .map_err(|e| with_resource(engine_error(e), src_bucket, Some(src_key)))?;
        let copy_source_version_id = match &src {
            Some(s) => shown_version_id(self, s).await,
            None => None,
        };
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag(&part.etag)),
                last_modified: Some(ts(part.last_modified)),
                ..Default::default()
            }),
            copy_source_version_id,
            ..Default::default()
        }))
    }

    pub(crate) async fn complete_multipart_upload(
        &self,
        mut req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.bucket(&req.input.bucket).await?;
        self.refuse_system_write(&req.input.bucket, &req.input.key).await?;
        let parts: Vec<EngineCompletedPart> = req
            .input
            .multipart_upload
            .take()
            .and_then(|m| m.parts)
            .unwrap_or_default()
            .iter()
            .map(|p| EngineCompletedPart {
                number: u32::try_from(p.part_number.unwrap_or(0)).unwrap_or(0),
                etag: p.e_tag.as_ref().map(|e| e.value().to_owned()).unwrap_or_default(),
                checksum: part_checksum(p),
            })
            .collect();
        if req.headers.contains_key(super::replication::SOURCE_VERSION_HEADER) {
            return self.complete_replica_upload(req, parts).await;
        }
        let input = req.input;
        let conditions = write_conditions(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let stated = [
            (holdfast_engine::model::ChecksumAlgorithm::Crc32, input.checksum_crc32.as_ref()),
            (holdfast_engine::model::ChecksumAlgorithm::Crc32c, input.checksum_crc32c.as_ref()),
            (holdfast_engine::model::ChecksumAlgorithm::Crc64Nvme, input.checksum_crc64nvme.as_ref()),
            (holdfast_engine::model::ChecksumAlgorithm::Sha1, input.checksum_sha1.as_ref()),
            (holdfast_engine::model::ChecksumAlgorithm::Sha256, input.checksum_sha256.as_ref()),
        ]
        .into_iter()
        .find_map(|(a, v)| v.map(|v| (a, v.clone())));
        let rec = self
            .engine
            .complete_upload(&input.bucket, &input.key, &input.upload_id, parts, stated, conditions)
            .await
            .map_err(engine_error)?;
        crate::audit::AuditSlot::update(&req.extensions, |f| f.version_id = Some(rec.version_id.clone()));
        let obj = rec.object_data();
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag(&obj.etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            version_id: written_version_id(&rec),
            ..Default::default()
        };
        put_checksum!(out, obj.checksum.as_ref());
        out.checksum_type = obj.checksum.as_ref().map(checksum_type);
        Ok(S3Response::new(out))
    }

    pub(crate) async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        // A replication request aborts only a replication upload; a client allowed
        // s3:AbortMultipartUpload aborts any upload (a replication's left by a crash too).
        if req.headers.contains_key(super::replication::SOURCE_VERSION_HEADER) {
            let upload = self.engine.upload(&input.bucket, &input.key, &input.upload_id).await.map_err(engine_error)?;
            super::replication::check_upload_kind(&req.headers, &upload)?;
        }
        self.engine.abort_upload(&input.bucket, &input.key, &input.upload_id).await.map_err(engine_error)?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(crate) async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let upload = self.engine.upload(&input.bucket, &input.key, &input.upload_id).await.map_err(engine_error)?;
        let marker = input.part_number_marker.and_then(|m| u32::try_from(m).ok()).unwrap_or(0);
        let max = input.max_parts.and_then(|m| usize::try_from(m).ok()).unwrap_or(1000).min(1000);
        let (parts, truncated) = self.engine.list_parts(&input.upload_id, marker, max).await.map_err(engine_error)?;
        let out_parts: Vec<Part> = parts
            .iter()
            .map(|p| {
                let mut out = Part {
                    e_tag: Some(etag(&p.etag)),
                    last_modified: Some(ts(p.last_modified)),
                    part_number: i32::try_from(p.number).ok(),
                    size: i64::try_from(p.size).ok(),
                    ..Default::default()
                };
                if let (Some(a), Some(v)) = (upload.checksum_algorithm, p.checksum.as_ref()) {
                    let stored = holdfast_engine::model::StoredChecksum {
                        algorithm: a,
                        value: v.clone(),
                        kind: holdfast_engine::model::ChecksumKind::FullObject,
                    };
                    put_checksum!(out, Some(&stored));
                }
                out
            })
            .collect();
        let owner = self.owner_of(&input.bucket).await?;
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: parts.last().and_then(|p| i32::try_from(p.number).ok()),
            max_parts: i32::try_from(max).ok(),
            is_truncated: Some(truncated),
            parts: Some(out_parts),
            owner: Some(owner.clone()),
            initiator: Some(Initiator { display_name: owner.display_name.clone(), id: owner.id.clone() }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: upload.checksum_algorithm.map(algorithm_dto),
            ..Default::default()
        }))
    }

    pub(crate) async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        let max = input.max_uploads.and_then(|m| usize::try_from(m).ok()).unwrap_or(1000).min(1000);
        let page = self
            .engine
            .list_uploads(UploadListQuery {
                bucket: input.bucket.clone(),
                prefix: input.prefix.clone().unwrap_or_default(),
                delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
                key_marker: input.key_marker.clone().filter(|k| !k.is_empty()),
                upload_id_marker: input.upload_id_marker.clone().filter(|k| !k.is_empty()),
                max_uploads: max,
            })
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, None))?;
        let owner = self.owner_of(&input.bucket).await?;
        let uploads: Vec<MultipartUpload> = page
            .uploads
            .iter()
            .map(|u| MultipartUpload {
                initiated: Some(ts(u.initiated)),
                initiator: Some(Initiator { display_name: owner.display_name.clone(), id: owner.id.clone() }),
                key: Some(u.key.clone()),
                owner: Some(owner.clone()),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                upload_id: Some(u.upload_id.clone()),
                checksum_algorithm: u.checksum_algorithm.map(algorithm_dto),
                checksum_type: None,
            })
            .collect();
        let (next_key, next_id) = match page.uploads.last() {
            Some(u) if page.truncated => (Some(u.key.clone()), Some(u.upload_id.clone())),
            _ => (None, None),
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            common_prefixes: (!page.common_prefixes.is_empty())
                .then(|| page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(p.clone()) }).collect()),
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            is_truncated: Some(page.truncated),
            key_marker: input.key_marker,
            max_uploads: i32::try_from(max).ok(),
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            prefix: input.prefix,
            upload_id_marker: input.upload_id_marker,
            uploads: Some(uploads),
            request_charged: None,
        }))
    }
}
