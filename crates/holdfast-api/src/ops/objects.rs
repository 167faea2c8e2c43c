//! Object operations: put, get, head, delete, multi-delete, copy, attributes.

use super::tagging::{tag_count, tags_visible};
use super::{require_integrity_header, shown_version_id};
use crate::Gateway;
use crate::access::ListGrant;
use crate::audit::AuditSlot;
use crate::convert::*;
use crate::error::{engine_error, meta_error, with_resource};
use futures::StreamExt;
use holdfast_engine::model::{Bucket, ObjectData, StoredChecksum, VersionRecord, WriteConditions};
use holdfast_engine::{ByteRange, CopyObject, GetObject, ObjectRead, PutObject, ReadConditions, version_selector};
use holdfast_lock::{Bypass, LockState};
use s3s::dto::*;
use s3s::{S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

fn etag_text(c: &ETagCondition) -> String {
    match c {
        ETagCondition::Any => "*".to_owned(),
        ETagCondition::ETag(e) => e.value().to_owned(),
    }
}

/// `If-Match` / `If-None-Match` of a write. AWS accepts only `If-None-Match: *`; Holdfast
/// also honours a list of ETags there (RFC 7232), which only ever refuses more writes.
pub(crate) fn write_conditions(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteConditions> {
    Ok(WriteConditions { if_none_match: if_none_match.map(etag_text), if_match: if_match.map(etag_text) })
}

pub(crate) fn read_conditions(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> ReadConditions {
    ReadConditions {
        if_match: if_match.map(etag_text),
        if_none_match: if_none_match.map(etag_text),
        if_modified_since: if_modified_since.cloned().map(instant),
        if_unmodified_since: if_unmodified_since.cloned().map(instant),
    }
}

/// The `<Delete>` body of DeleteObjects as a whole: at most 1000 keys, none empty (
/// an empty key was reported as deleted). Each key's own limits (length, version id) are
/// per-key errors of the engine's delete.
pub fn check_delete(delete: &Delete) -> S3Result<()> {
    if delete.objects.len() > 1000 || delete.objects.iter().any(|o| o.key.is_empty()) {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    Ok(())
}

pub fn byte_range(r: Option<&Range>) -> Option<ByteRange> {
    r.map(|r| match *r {
        Range::Int { first, last } => ByteRange::From { first, last },
        Range::Suffix { length } => ByteRange::Suffix(length),
    })
}

/// W6 and W7 (`holdfast_lock::check_write`), worded by the error mapping.
pub(crate) fn check_lock_write(bucket: &Bucket, lock: &LockState, has_integrity: Option<bool>) -> S3Result<()> {
    holdfast_lock::check_write(bucket.lock(), lock, has_integrity).map_err(crate::error::write_denial)
}

/// `x-amz-version-id` on a write response: only a generated id is shown. A write to an
/// unversioned or versioning-suspended bucket makes the `null` version, and AWS sends no
/// header then (PutObject API examples, "versioning suspended").
pub(crate) fn written_version_id(rec: &VersionRecord) -> Option<String> {
    (rec.version_id != "null").then(|| rec.version_id.clone())
}

/// The checksum a GET or HEAD shows with `x-amz-checksum-mode: ENABLED`: the object's for a
/// whole-object read; for `?partNumber=N` of a multipart object the part's own checksum (in
/// the upload's algorithm, with the object's checksum type), as AWS returns part-level
/// checksums; none for a byte range.
fn shown_checksum(obj: &ObjectData, part_number: Option<u32>, ranged: bool) -> Option<StoredChecksum> {
    let whole = obj.checksum.clone();
    match part_number {
        None if ranged => None,
        None => whole,
        Some(_) if obj.parts.is_empty() => whole,
        Some(n) => {
            let part = obj.parts.iter().find(|p| p.number == n)?;
            let c = whole?;
            Some(StoredChecksum { value: part.checksum.clone()?, ..c })
        }
    }
}

fn content_range(read: &ObjectRead) -> Option<String> {
    read.span.map(|(a, b)| format!("bytes {a}-{}/{}", b - 1, read.object().size))
}

/// G2: lock headers only for callers allowed to read them; the request never fails for it.
fn visible_lock_headers(
    lock: &LockState,
    ext: &http::Extensions,
) -> (Option<ObjectLockMode>, Option<Timestamp>, Option<ObjectLockLegalHoldStatus>) {
    let (mode, until, hold) = lock_headers(lock);
    let seen = ext
        .get::<crate::access::LockVisibility>()
        .copied()
        .unwrap_or(crate::access::LockVisibility { retention: false, legal_hold: false });
    if seen.retention {
        (mode, until, if seen.legal_hold { hold } else { None })
    } else {
        (None, None, if seen.legal_hold { hold } else { None })
    }
}

fn lock_headers(lock: &LockState) -> (Option<ObjectLockMode>, Option<Timestamp>, Option<ObjectLockLegalHoldStatus>) {
    (
        lock.retention.map(|r| ObjectLockMode::from(r.mode.as_str().to_owned())),
        lock.retention.map(|r| ts(r.until)),
        lock.legal_hold.map(|h| ObjectLockLegalHoldStatus::from(h.as_str().to_owned())),
    )
}

/// GetObject and HeadObject: one read, answered with the same headers. s3s gives each its
/// own input and output type (with the same field names), so the shared part is a macro over
/// them. Evaluates to `(read, output, tag count)`; the caller adds the body (GET) or puts the
/// tag count where its response carries it.
macro_rules! answer_read {
    ($gw:expr, $req:expr, $with_body:expr, $Output:ident) => {{
        let S3Request { input, extensions, .. } = $req;
        let version = version_selector(input.version_id.clone()).map_err(engine_error)?;
        let part_number = input.part_number.map(|n| u32::try_from(n).unwrap_or(0));
        let get = GetObject {
            bucket: input.bucket,
            key: input.key,
            version,
            range: byte_range(input.range.as_ref()),
            part_number,
            conditions: read_conditions(
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                input.if_modified_since.as_ref(),
                input.if_unmodified_since.as_ref(),
            ),
            with_tags: tags_visible(&extensions),
        };
        let read = $gw.read_object(get, $with_body, &extensions).await?;
        let version_id = shown_version_id($gw, &read.version).await;
        let tag_count = tag_count(&read);
        let obj = read.object();
        let h = &obj.headers;
        let (mode, until, hold) = visible_lock_headers(&read.version.lock, &extensions);
        let mut out = $Output {
            accept_ranges: Some("bytes".into()),
            cache_control: input.response_cache_control.or_else(|| h.cache_control.clone()),
            content_disposition: input.response_content_disposition.or_else(|| h.content_disposition.clone()),
            content_encoding: input.response_content_encoding.or_else(|| h.content_encoding.clone()),
            content_language: input.response_content_language.or_else(|| h.content_language.clone()),
            content_length: i64::try_from(read.content_length()).ok(),
            content_range: content_range(&read),
            content_type: input.response_content_type.or_else(|| content_type_out(h)),
            e_tag: Some(etag(&obj.etag)),
            expires: input.response_expires.or_else(|| expires_out(h)),
            last_modified: Some(ts(read.version.last_modified)),
            metadata: metadata_out(h),
            object_lock_mode: mode,
            object_lock_retain_until_date: until,
            object_lock_legal_hold_status: hold,
            parts_count: read.parts_count.and_then(|n| i32::try_from(n).ok()),
            replication_status: read.version.replication.map(|s| ReplicationStatus::from(s.as_str().to_owned())),
            storage_class: storage_class_out(h).map(StorageClass::from),
            version_id,
            website_redirect_location: h.website_redirect_location.clone(),
            ..Default::default()
        };
        if input.checksum_mode.as_ref().is_some_and(|m| m.as_str() == "ENABLED") {
            let shown = shown_checksum(obj, part_number, read.span.is_some());
            put_checksum!(out, shown.as_ref());
            out.checksum_type = shown.as_ref().map(checksum_type);
        }
        (read, out, tag_count)
    }};
}

impl Gateway {
    pub(crate) async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        // The replica receiver's future is boxed: a future is copied whole each time it moves,
        // and held inline it would make every PUT's future 9.6 KB instead of 7.
        if req.headers.contains_key(super::replication::SOURCE_VERSION_HEADER) {
            return Box::pin(self.receive_replica(req)).await;
        }
        let S3Request { input, headers, trailing_headers, extensions, .. } = req;
        let bucket = self.bucket(&input.bucket).await?;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        self.check_object_acl_headers(&headers, &input.bucket).await?;
        let lock = requested_lock(&headers, &extensions, self.engine.clock.now())?;
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
        check_lock_write(&bucket, &lock, Some(claims.has_integrity_check()))?;
        let client_checksum = claims.checksum.as_ref().map(|(a, _)| *a);
        let object_headers = crate::convert::object_headers_of!(input)?;
        let conditions = write_conditions(input.if_match.as_ref(), input.if_none_match.as_ref())?;
        let tags = super::tagging::tags_from_header(input.tagging.as_deref(), self.config.aws_strict)?;
        let rec = self
            .engine
            .put_object(
                &bucket,
                PutObject {
                    key: input.key.clone(),
                    headers: object_headers,
                    body: body_stream(input.body),
                    claims,
                    lock,
                    conditions,
                },
                tags,
            )
            .await
            .map_err(|e| with_resource(self.engine_err(e), &input.bucket, Some(&input.key)))?;
        AuditSlot::update(&extensions, |f| f.version_id = Some(rec.version_id.clone()));
        let obj = rec.object_data();
        let mut out = PutObjectOutput {
            e_tag: Some(etag(&obj.etag)),
            version_id: written_version_id(&rec),
            size: i64::try_from(obj.size).ok(),
            ..Default::default()
        };
        if client_checksum.is_some() {
            put_checksum!(out, obj.checksum.as_ref());
            out.checksum_type = obj.checksum.as_ref().map(checksum_type);
        }
        Ok(S3Response::new(out))
    }

    async fn read_object(&self, get: GetObject, with_body: bool, ext: &http::Extensions) -> S3Result<ObjectRead> {
        let (bucket, key) = (get.bucket.clone(), get.key.clone());
        let e = match self.engine.get_object(get, with_body).await {
            Ok(read) => return Ok(read),
            Err(e) => with_resource(self.engine_err(e), &bucket, Some(&key)),
        };
        // AWS: a missing key is 404 only for a caller allowed s3:ListBucket on the bucket;
        // anyone else learns nothing about which keys exist (403).
        if *e.code() == S3ErrorCode::NoSuchKey && ext.get::<ListGrant>().is_some_and(|g| !g.0) {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        Err(e)
    }

    pub(crate) async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        if super::sosapi::is_system_key(&req.input.key)
            && let Some(o) = self.system_object(&req.input.bucket, &req.input.key).await?
        {
            return Ok(S3Response::new(Self::system_get(o, req.input.version_id.as_deref())?));
        }
        let (read, mut out, tag_count) = answer_read!(self, req, true, GetObjectOutput);
        out.tag_count = tag_count;
        let body = read.body.expect("a GET streams the body");
        out.body = Some(StreamingBlob::wrap(sync_wrapper::SyncStream::new(body)));
        Ok(S3Response::new(out))
    }

    pub(crate) async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        if super::sosapi::is_system_key(&req.input.key)
            && let Some(o) = self.system_object(&req.input.bucket, &req.input.key).await?
        {
            return Ok(S3Response::new(Self::system_head(&o, req.input.version_id.as_deref())?));
        }
        let (_, out, tag_count) = answer_read!(self, req, false, HeadObjectOutput);
        let mut resp = S3Response::new(out);
        // s3s's HeadObjectOutput has no tag count; AWS (and s3-tests) send it on HEAD too.
        if let Some(n) = tag_count {
            resp.headers.insert("x-amz-tagging-count", http::HeaderValue::from(n));
        }
        Ok(resp)
    }

    /// Governance bypass for this request (P4): the header must say `true`, the bucket must
    /// have Object Lock, and the access check must have found `s3:BypassGovernanceRetention`
    /// allowed. A request asking for bypass without that permission is refused outright
    /// (R10, DP3), even where nothing would need bypassing. On a bucket without Object Lock
    /// the header is refused (AWS, D7) or ignored (DP1 compatibility). The rule is
    /// `holdfast_lock::bypass`; this hands it the bucket, the header and the access grant.
    pub(crate) fn bypass(&self, bucket: &Bucket, header: Option<bool>, ext: &http::Extensions) -> S3Result<Bypass> {
        let granted = matches!(ext.get::<crate::access::BypassGrant>(), Some(crate::access::BypassGrant(true)));
        holdfast_lock::bypass(bucket.lock_enabled, header, granted, self.config.aws_strict)
            .map_err(crate::error::bypass_denial)
    }

    pub(crate) async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let bucket = self.bucket(&input.bucket).await?;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        let sel = version_selector(input.version_id).map_err(engine_error)?;
        let bypass = self.bypass(&bucket, input.bypass_governance_retention, &req.extensions)?;
        AuditSlot::update(&req.extensions, |f| f.bypass = bypass == Bypass::Governance);
        let out = self
            .engine
            .delete_object(&input.bucket, &input.key, &sel, bypass)
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, Some(&input.key)))?;
        AuditSlot::update(&req.extensions, |f| f.version_id.clone_from(&out.version_id));
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: out.delete_marker.then_some(true),
            version_id: out.version_id,
            request_charged: None,
        }))
    }

    pub(crate) async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        require_integrity_header(&req.headers, &req.extensions)?;
        let input = req.input;
        check_delete(&input.delete)?;
        let bucket = self.bucket(&input.bucket).await?;
        let bypass = self.bypass(&bucket, input.bypass_governance_retention, &req.extensions)?;
        AuditSlot::update(&req.extensions, |f| f.bypass = bypass == Bypass::Governance);
        let quiet = input.delete.quiet.unwrap_or(false);
        let system_refused = input.delete.objects.iter().any(|o| super::sosapi::is_system_key(&o.key))
            && self.sosapi_enabled(&input.bucket).await?;
        // Deletes run concurrently so that they share group commits; results keep input order.
        let results: Vec<_> = futures::stream::iter(input.delete.objects)
            .map(|obj| {
                let bucket = input.bucket.clone();
                async move {
                    let outcome = match version_selector(obj.version_id.clone()) {
                        _ if system_refused && super::sosapi::is_system_key(&obj.key) => Err(Self::system_refusal()),
                        Ok(sel) => {
                            self.engine.delete_object(&bucket, &obj.key, &sel, bypass).await.map_err(engine_error)
                        }
                        Err(e) => Err(engine_error(e)),
                    };
                    (obj, outcome)
                }
            })
            .buffered(64)
            .collect()
            .await;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for (obj, outcome) in results {
            match outcome {
                Ok(d) => {
                    if !quiet {
                        deleted.push(DeletedObject {
                            key: Some(obj.key),
                            version_id: obj.version_id,
                            delete_marker: d.delete_marker.then_some(true),
                            delete_marker_version_id: if d.delete_marker { d.version_id } else { None },
                        });
                    }
                }
                Err(e) => {
                    AuditSlot::update(&req.extensions, |f| {
                        f.refused.push((obj.key.clone(), obj.version_id.clone(), e.code().as_str().to_owned()));
                    });
                    errors.push(Error {
                        code: Some(e.code().as_str().to_owned()),
                        key: Some(obj.key),
                        message: e.message().map(str::to_owned),
                        version_id: obj.version_id,
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput { deleted: Some(deleted), errors: Some(errors), request_charged: None }))
    }

    pub(crate) async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (src_bucket, src_key, src_version) = crate::convert::copy_source(&input.copy_source)?;
        let dest = self.bucket(&input.bucket).await?;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        self.check_object_acl_headers(&req.headers, &input.bucket).await?;
        let lock = requested_lock(&req.headers, &req.extensions, self.engine.clock.now())?;
        check_lock_write(&dest, &lock, None)?;
        let metadata = match input.metadata_directive.as_ref().map(MetadataDirective::as_str) {
            None | Some("COPY") => holdfast_engine::MetadataDirective::Copy,
            Some("REPLACE") => {
                holdfast_engine::MetadataDirective::Replace(Box::new(crate::convert::object_headers_of!(input)?))
            }
            Some(other) => {
                return Err(crate::error::invalid_argument(
                    "Unknown metadata directive.",
                    "x-amz-metadata-directive",
                    Some(other),
                ));
            }
        };
        let checksum_algorithm = input.checksum_algorithm.as_ref().map(checksum_algorithm).transpose()?;
        let tagging = match input.tagging_directive.as_ref().map(TaggingDirective::as_str) {
            None | Some("COPY") => holdfast_engine::TaggingDirective::Copy,
            Some("REPLACE") => holdfast_engine::TaggingDirective::Replace(super::tagging::tags_from_header(
                input.tagging.as_deref(),
                self.config.aws_strict,
            )?),
            Some(other) => {
                return Err(crate::error::invalid_argument(
                    "Unknown tagging directive.",
                    "x-amz-tagging-directive",
                    Some(other),
                ));
            }
        };
        let (src, rec) = self
            .engine
            .copy_object(
                &dest,
                CopyObject {
                    src_bucket: src_bucket.to_string(),
                    src_key: src_key.to_string(),
                    src_version: version_selector(src_version.map(ToString::to_string)).map_err(engine_error)?,
                    src_conditions: read_conditions(
                        input.copy_source_if_match.as_ref(),
                        input.copy_source_if_none_match.as_ref(),
                        input.copy_source_if_modified_since.as_ref(),
                        input.copy_source_if_unmodified_since.as_ref(),
                    ),
                    key: input.key.clone(),
                    metadata,
                    checksum_algorithm,
                    lock,
                    conditions: WriteConditions::default(),
                },
                tagging,
            )
            .await
            .map_err(|e| with_resource(engine_error(e), src_bucket, Some(src_key)))?;
        AuditSlot::update(&req.extensions, |f| f.version_id = Some(rec.version_id.clone()));
        let obj = rec.object_data();
        let mut result = CopyObjectResult {
            e_tag: Some(etag(&obj.etag)),
            last_modified: Some(ts(rec.last_modified)),
            ..Default::default()
        };
        if obj.checksum.as_ref().is_some_and(|c| c.algorithm != holdfast_engine::model::ChecksumAlgorithm::Crc64Nvme) {
            put_checksum!(result, obj.checksum.as_ref());
            result.checksum_type = obj.checksum.as_ref().map(checksum_type);
        }
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            copy_source_version_id: shown_version_id(self, &src).await,
            version_id: written_version_id(&rec),
            expiration: None,
            ..Default::default()
        }))
    }

    pub(crate) async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = req.input;
        let sel = version_selector(input.version_id).map_err(engine_error)?;
        let rec = self
            .engine
            .resolve_object(&input.bucket, &input.key, &sel)
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, Some(&input.key)))?;
        let obj = rec.object_data();
        // `x-amz-object-attributes` is one comma-separated header (as the SDKs send it) or
        // several headers; s3s hands over each header value whole.
        let wants =
            |name: &str| input.object_attributes.iter().flat_map(|a| a.as_str().split(',')).any(|a| a.trim() == name);
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(ts(rec.last_modified)),
            version_id: shown_version_id(self, &rec).await,
            ..Default::default()
        };
        if wants("ETag") {
            out.e_tag = Some(etag(&obj.etag));
        }
        if wants("ObjectSize") {
            out.object_size = i64::try_from(obj.size).ok();
        }
        if wants("StorageClass") {
            out.storage_class =
                Some(StorageClass::from(obj.headers.storage_class.clone().unwrap_or_else(|| "STANDARD".into())));
        }
        if wants("Checksum")
            && let Some(c) = obj.checksum.as_ref()
        {
            let mut cs = Checksum { checksum_type: Some(checksum_type(c)), ..Default::default() };
            put_checksum!(cs, Some(c));
            out.checksum = Some(cs);
        }
        if wants("ObjectParts") && !obj.parts.is_empty() {
            let marker = input.part_number_marker.and_then(|m| u32::try_from(m).ok()).unwrap_or(0);
            let max = input.max_parts.and_then(|m| usize::try_from(m).ok()).unwrap_or(1000);
            let after: Vec<_> = obj.parts.iter().filter(|p| p.number > marker).collect();
            let truncated = after.len() > max;
            let algorithm = obj.checksum.as_ref().map(|c| c.algorithm);
            let parts: Vec<ObjectPart> = after
                .iter()
                .take(max)
                .map(|p| {
                    let mut op = ObjectPart {
                        part_number: i32::try_from(p.number).ok(),
                        size: i64::try_from(p.size).ok(),
                        ..Default::default()
                    };
                    if let (Some(a), Some(v)) = (algorithm, p.checksum.as_ref()) {
                        let stored = holdfast_engine::model::StoredChecksum {
                            algorithm: a,
                            value: v.clone(),
                            kind: holdfast_engine::model::ChecksumKind::FullObject,
                        };
                        put_checksum!(op, Some(&stored));
                    }
                    op
                })
                .collect();
            out.object_parts = Some(GetObjectAttributesParts {
                total_parts_count: i32::try_from(obj.parts.len()).ok(),
                part_number_marker: Some(i32::try_from(marker).unwrap_or(0)),
                next_part_number_marker: parts.last().and_then(|p| p.part_number),
                max_parts: i32::try_from(max).ok(),
                is_truncated: Some(truncated),
                parts: Some(parts),
            });
        }
        let _ = meta_error;
        Ok(S3Response::new(out))
    }
}

/// Parses `bytes=first-last` (x-amz-copy-source-range).
pub fn byte_range_header(v: &str) -> S3Result<ByteRange> {
    let bad = || {
        crate::error::invalid_argument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
            "x-amz-copy-source-range",
            Some(v),
        )
    };
    let spec = v.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let first: u64 = a.parse().map_err(|_| bad())?;
    let last: u64 = b.parse().map_err(|_| bad())?;
    if last < first {
        return Err(bad());
    }
    Ok(ByteRange::From { first, last: Some(last) })
}
