//! Multipart uploads: parts are blobs of their own; completion records a version whose
//! segments are the chosen parts, so no byte is copied.

use crate::checksum::{self, combine_crc, composite, encode, multipart_etag};
use crate::ingest::{BodyClaims, BodyStream, ExpectedChecksum, ingest};
use crate::objects::check_key;
use crate::read::{ByteRange, ReadConditions, stream_span};
use crate::{Engine, EngineError, EngineResult};
use base64::Engine as _;
use futures::StreamExt;
use holdfast_lock::LockState;
use holdfast_meta::{
    ChecksumAlgorithm, ChecksumKind, MetaError, ObjectData, ObjectHeaders, Part, PartSummary, ReplicaVersion,
    ReplicaWrite, Segment, StoredChecksum, Upload, UploadReplica, VersionRecord, VersionSelector, WriteConditions,
};
use std::sync::Arc;

pub const MAX_PART_NUMBER: u32 = 10_000;

pub struct CreateUpload {
    pub bucket: String,
    pub key: String,
    pub headers: ObjectHeaders,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_kind: Option<ChecksumKind>,
    pub lock: LockState,
    /// A replication upload from another Holdfast: the source version it completes into.
    pub replica: Option<UploadReplica>,
}

/// One entry of a CompleteMultipartUpload body.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub number: u32,
    pub etag: String,
    /// The part checksum the client states, in the upload's algorithm.
    pub checksum: Option<String>,
}

pub enum PartSource {
    Body { body: BodyStream, claims: BodyClaims },
    Copy { bucket: String, key: String, version: VersionSelector, conditions: ReadConditions, range: Option<ByteRange> },
}

fn check_part_number(n: i64) -> EngineResult<u32> {
    u32::try_from(n).ok().filter(|n| (1..=MAX_PART_NUMBER).contains(n)).ok_or_else(|| EngineError::InvalidArgument {
        message: "Part number must be an integer between 1 and 10000, inclusive".into(),
        name: "partNumber".into(),
        value: Some(n.to_string()),
    })
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

impl Engine {
    pub async fn create_upload(&self, req: CreateUpload) -> EngineResult<Upload> {
        check_key(&req.key)?;
        if req.checksum_kind == Some(ChecksumKind::FullObject)
            && !req.checksum_algorithm.is_some_and(ChecksumAlgorithm::supports_full_object)
        {
            return Err(EngineError::InvalidRequest(
                "The FULL_OBJECT checksum type is only supported for CRC32, CRC32C and CRC64NVME.".into(),
            ));
        }
        if req.checksum_kind == Some(ChecksumKind::Composite)
            && req.checksum_algorithm == Some(ChecksumAlgorithm::Crc64Nvme)
        {
            return Err(EngineError::InvalidRequest(
                "The COMPOSITE checksum type is not supported for CRC64NVME.".into(),
            ));
        }
        let _claim = self.admit(0)?;
        let upload = Upload {
            upload_id: uuid::Uuid::new_v4().simple().to_string(),
            bucket: req.bucket,
            key: req.key,
            initiated: self.clock.now(),
            headers: req.headers,
            checksum_algorithm: req.checksum_algorithm,
            checksum_kind: req.checksum_kind,
            lock: req.lock,
            replica: req.replica,
        };
        self.meta.create_upload(upload.clone()).await?;
        Ok(upload)
    }

    /// Stores one part. Returns the part and, for a copy, the source version.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: i64,
        source: PartSource,
    ) -> EngineResult<(Part, Option<VersionRecord>)> {
        let number = check_part_number(number)?;
        let upload = self.meta.upload(bucket, key, upload_id).await?;
        let (body, mut claims, src) = match source {
            PartSource::Body { body, claims } => (body, claims, None),
            PartSource::Copy { bucket: sb, key: sk, version, conditions, range } => {
                let src = self.resolve_object(&sb, &sk, &version).await?;
                let obj = src.object_data().clone();
                conditions.check_copy_source(&obj.etag, src.last_modified)?;
                let (start, end) = match range {
                    None => (0, obj.size),
                    Some(r) => match r.resolve(obj.size) {
                        Some((a, b)) if matches!(r, ByteRange::From { last: Some(l), .. } if l < obj.size) => (a, b),
                        // A well-formed range outside the source: AWS names the source size.
                        _ => {
                            return Err(EngineError::InvalidArgument {
                                message: format!(
                                    "Range specified is not valid for source object of size: {}",
                                    obj.size
                                ),
                                name: "x-amz-copy-source-range".into(),
                                value: None,
                            });
                        }
                    },
                };
                let body = stream_span(Arc::clone(&self.blobs), &obj, start, end)
                    .map(|r| r.map_err(|e| crate::BodyError::Other(e.to_string())))
                    .boxed();
                (body, BodyClaims { content_length: Some(end - start), content_md5: None, checksum: None }, Some(src))
            }
        };
        // Parts are hashed in the upload's algorithm; a part declaring another is refused.
        match (&claims.checksum, upload.checksum_algorithm) {
            (Some((given, _)), Some(want)) if *given != want => {
                return Err(EngineError::InvalidRequest(format!(
                    "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                    want.as_str().to_ascii_lowercase(),
                    given.as_str().to_ascii_lowercase()
                )));
            }
            (None, Some(want)) => claims.checksum = Some((want, ExpectedChecksum::None)),
            _ => {}
        }
        let incoming = claims.content_length.unwrap_or(0);
        let admitted = match self.admit(incoming) {
            Ok(claim) => self.admit_quota(bucket, incoming).await.map(|()| claim),
            Err(e) => Err(e),
        };
        let _claim = match admitted {
            Ok(claim) => claim,
            Err(e) => {
                crate::ingest::discard(body, claims.content_length).await;
                return Err(e);
            }
        };
        // Parts are always blobs: a completed upload is the list of its parts' blobs.
        let ing = ingest(self.blobs.as_ref(), body, claims, self.config.max_put_size, 0)
            .await
            .map_err(|e| self.full_disk(e))?;
        let crate::ingest::Stored::Blob(blob) = ing.stored else {
            return Err(MetaError::Internal("a part was not written to a blob".into()).into());
        };
        let part = Part {
            number,
            size: ing.size,
            etag: hex::encode(ing.digests.md5),
            last_modified: self.clock.now(),
            checksum: upload
                .checksum_algorithm
                .and_then(|a| ing.digests.chosen.as_ref().filter(|(c, _)| *c == a).map(|(_, raw)| encode(raw))),
            crc64nvme: encode(&ing.digests.crc64nvme),
            md5: encode(&ing.digests.md5),
            segment: Segment { blob: blob.clone(), size: ing.size },
        };
        if let Err(e) = self.meta.put_part(bucket, key, upload_id, part.clone()).await {
            let _ = self.blobs.delete(&blob).await;
            return Err(self.full_disk(e.into()));
        }
        Ok((part, src))
    }

    pub async fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: Vec<CompletedPart>,
        stated: Option<(ChecksumAlgorithm, String)>,
        conditions: WriteConditions,
    ) -> EngineResult<VersionRecord> {
        let upload = match self.meta.upload(bucket, key, upload_id).await {
            Ok(u) => u,
            // S3 answers a repeated completion (a client retry) with the object it made, as
            // long as it names the same parts.
            Err(MetaError::NoSuchUpload) => {
                return match self.meta.completed_upload(bucket, key, upload_id).await? {
                    Some(rec) if same_parts(&rec, &requested) => {
                        check_stated_checksum(stated.as_ref(), rec.object.as_ref().and_then(|o| o.checksum.as_ref()))?;
                        Ok(rec)
                    }
                    _ => Err(MetaError::NoSuchUpload.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        // A retried completion (above) is answered from what exists; a new one records a
        // version: refused below the reserve.
        if upload.replica.is_some() {
            return Err(EngineError::InvalidRequest("A replication upload is completed by its replication".into()));
        }
        let _claim = self.admit(0)?;
        let object = self.assemble(&upload, &requested).await?;
        check_stated_checksum(stated.as_ref(), object.checksum.as_ref())?;
        self.meta
            .complete_upload(&upload, object, conditions, self.clock.now())
            .await
            .map_err(|e| self.full_disk(e.into()))
    }

    /// The object the parts `requested` of `upload` make: its segments, multipart ETag and
    /// checksum (composite or full-object, in the upload's algorithm).
    async fn assemble(&self, upload: &Upload, requested: &[CompletedPart]) -> EngineResult<ObjectData> {
        if requested.is_empty() {
            return Err(EngineError::MalformedXml(
                "The XML you provided was not well-formed or did not validate against our published schema".into(),
            ));
        }
        let (stored, _) = self.meta.parts(&upload.upload_id, 0, MAX_PART_NUMBER as usize).await?;
        let mut chosen: Vec<&Part> = Vec::with_capacity(requested.len());
        let mut previous = 0;
        for req in requested {
            if req.number <= previous {
                return Err(MetaError::InvalidPartOrder.into());
            }
            previous = req.number;
            let part = stored.iter().find(|p| p.number == req.number).ok_or(MetaError::InvalidPart)?;
            if req.etag.trim().trim_matches('"') != part.etag {
                return Err(MetaError::InvalidPart.into());
            }
            if let (Some(given), Some(have)) = (&req.checksum, &part.checksum)
                && given.trim() != have
            {
                return Err(MetaError::InvalidPart.into());
            }
            chosen.push(part);
        }
        if let Some((_, all_but_last)) = chosen.split_last()
            && all_but_last.iter().any(|p| p.size < self.config.min_part_size)
        {
            return Err(MetaError::EntityTooSmall.into());
        }
        let md5s: Vec<[u8; 16]> =
            chosen.iter().map(|p| b64_decode(&p.md5).and_then(|v| v.try_into().ok()).unwrap_or([0; 16])).collect();
        let object = ObjectData {
            size: chosen.iter().map(|p| p.size).sum(),
            etag: multipart_etag(&md5s),
            headers: upload.headers.clone(),
            checksum: Some(upload_checksum(upload, &chosen)?),
            segments: chosen.iter().map(|p| p.segment.clone()).collect(),
            parts: chosen
                .iter()
                .map(|p| PartSummary {
                    number: p.number,
                    size: p.size,
                    etag: p.etag.clone(),
                    checksum: p.checksum.clone(),
                })
                .collect(),
            inline: None,
        };
        Ok(object)
    }

    /// Completes a replication upload into the replica of its source version (issue #13, X2):
    /// the parts named, under the source's version id, last-modified and ETag (replicas keep
    /// the source's ETag, as on AWS), its tags and the upload's lock state. A source
    /// full-object checksum in the upload's algorithm must be the one the parts make (400
    /// BadDigest otherwise: the bytes are checked end to end); a composite or SHA one is kept
    /// as the source has it, as the single replication PUT keeps composite ones. A version the
    /// bucket already holds only has its lock grow and its tags follow (`put_replica`), and
    /// the upload's parts are collected: a repeated delivery is not a second version.
    pub async fn complete_replica_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: Vec<CompletedPart>,
    ) -> EngineResult<(String, ReplicaWrite)> {
        let upload = self.meta.upload(bucket, key, upload_id).await?;
        let Some(source) = upload.replica.clone() else {
            return Err(EngineError::InvalidRequest("The upload is not a replication upload".into()));
        };
        let _claim = self.admit(0)?;
        let mut object = self.assemble(&upload, &requested).await?;
        if let (Some(want), Some(made)) = (&source.checksum, &object.checksum)
            && want.kind == ChecksumKind::FullObject
            && made.kind == ChecksumKind::FullObject
            && want.algorithm == made.algorithm
            && want.value != made.value
        {
            return Err(crate::ingest::mismatch(want.algorithm));
        }
        object.etag = source.etag;
        if source.checksum.is_some() {
            object.checksum = source.checksum;
        }
        // The parts are this delivery's, not the source's: `?partNumber=` does not address them.
        object.parts.clear();
        let r = ReplicaVersion {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: source.version_id.clone(),
            last_modified: source.last_modified,
            object: Some(object),
            tags: source.tags,
            lock: upload.lock,
        };
        let write = self
            .meta
            .complete_replica_upload(&upload, r, self.clock.now())
            .await
            .map_err(|e| self.full_disk(e.into()))?;
        Ok((source.version_id, write))
    }

    pub async fn abort_upload(&self, bucket: &str, key: &str, upload_id: &str) -> EngineResult<()> {
        Ok(self.meta.abort_upload(bucket, key, upload_id).await?)
    }
}

/// The whole-object checksum a CompleteMultipartUpload states (`x-amz-checksum-<alg>`) must
/// be the one its parts make, else 400 BadDigest; a composite value may leave out its `-N`.
fn check_stated_checksum(
    stated: Option<&(ChecksumAlgorithm, String)>,
    made: Option<&StoredChecksum>,
) -> EngineResult<()> {
    let Some((algorithm, value)) = stated else { return Ok(()) };
    let Some(made) = made else { return Err(crate::ingest::mismatch(*algorithm)) };
    if made.algorithm != *algorithm {
        return Err(EngineError::InvalidRequest(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            made.algorithm.as_str().to_ascii_lowercase(),
            algorithm.as_str().to_ascii_lowercase()
        )));
    }
    let value = value.trim();
    let same = value == made.value
        || (made.kind == ChecksumKind::Composite && made.value.split_once('-').is_some_and(|(v, _)| v == value));
    if same { Ok(()) } else { Err(crate::ingest::mismatch(*algorithm)) }
}

/// Whether a completion request names exactly the parts a completed object is made of.
fn same_parts(rec: &VersionRecord, requested: &[CompletedPart]) -> bool {
    let Some(obj) = rec.object.as_ref() else { return false };
    if obj.parts.is_empty() {
        // A one-part upload still records its part; an object without parts was not made
        // by an upload.
        return false;
    }
    obj.parts.len() == requested.len()
        && obj
            .parts
            .iter()
            .zip(requested)
            .all(|(p, r)| p.number == r.number && p.etag == r.etag.trim().trim_matches('"'))
}

/// The completed object's checksum: composite or full-object in the upload's algorithm,
/// or a full-object CRC64NVME when the upload named none.
fn upload_checksum(upload: &Upload, parts: &[&Part]) -> EngineResult<StoredChecksum> {
    let Some(algorithm) = upload.checksum_algorithm else {
        let raw: Vec<(Vec<u8>, u64)> =
            parts.iter().map(|p| (b64_decode(&p.crc64nvme).unwrap_or_default(), p.size)).collect();
        let value = combine_crc(ChecksumAlgorithm::Crc64Nvme, &raw).unwrap_or_default();
        return Ok(StoredChecksum {
            algorithm: ChecksumAlgorithm::Crc64Nvme,
            value: encode(&value),
            kind: ChecksumKind::FullObject,
        });
    };
    let raw: Vec<Vec<u8>> = parts
        .iter()
        .map(|p| p.checksum.as_deref().and_then(|c| checksum::decode(algorithm, c)))
        .collect::<Option<_>>()
        .ok_or(MetaError::InvalidPart)?;
    let kind = upload.checksum_kind.unwrap_or(if algorithm == ChecksumAlgorithm::Crc64Nvme {
        ChecksumKind::FullObject
    } else {
        ChecksumKind::Composite
    });
    let value = match kind {
        ChecksumKind::Composite => composite(algorithm, &raw),
        ChecksumKind::FullObject => {
            let with_len: Vec<(Vec<u8>, u64)> = raw.into_iter().zip(parts.iter().map(|p| p.size)).collect();
            encode(&combine_crc(algorithm, &with_len).ok_or(MetaError::InvalidPart)?)
        }
    };
    Ok(StoredChecksum { algorithm, value, kind })
}
