//! Put/Get/DeleteBucketReplication with AWS's XML (the V2 rules: ID, Priority, Status,
//! Filter by Prefix / Tag / And, DeleteMarkerReplication, Destination Bucket ARN and
//! StorageClass; the V1 rule with a bare Prefix; `Role` accepted and kept). The source must
//! have versioning enabled; a destination is `arn:aws:s3:::<bucket>` (a bucket of this store)
//! or `arn:holdfast:s3:<target>::<bucket>` (a remote target of the server configuration). A
//! refused configuration stores nothing. Holdfast refuses one thing AWS admits and fails at
//! delivery (`DstBucketObjectLockConfigMissing`): a destination without Object Lock for a
//! source that has it (spec X2: the copy must be as immutable as the original). A remote
//! destination's versioning and Object Lock are asked over the wire.

use super::require_integrity_header;
use crate::Gateway;
use crate::error::{bucket_error, engine_error, invalid_argument, with_resource};
use holdfast_engine::model::{
    DestinationRef, FilterForm, MAX_TAG_KEY, MAX_TAG_VALUE, ReplicationConfig, ReplicationDestination,
    ReplicationFilter, ReplicationRule as Rule, TagSet, Versioning,
};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

const MALFORMED: &str = "The XML you provided was not well-formed or did not validate against our published schema";
const MAX_RULES: usize = 1000;
const SCHEMA_HINT: &str =
    "of Cross Region Replication configuration schema. Please refer to S3 Developer Guide for more information.";

fn malformed() -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, MALFORMED)
}

fn invalid_request(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidRequest, message.to_owned())
}

fn status(s: &str) -> S3Result<bool> {
    match s {
        "Enabled" => Ok(true),
        "Disabled" => Ok(false),
        _ => Err(malformed()),
    }
}

fn filter_tags(tags: &[Tag]) -> S3Result<TagSet> {
    let mut out = TagSet::new();
    for t in tags {
        let (Some(k), Some(v)) = (&t.key, &t.value) else { return Err(malformed()) };
        if k.is_empty() || k.encode_utf16().count() > MAX_TAG_KEY {
            return Err(s3_error!(InvalidArgument, "The TagKey you have provided is invalid"));
        }
        if v.encode_utf16().count() > MAX_TAG_VALUE {
            return Err(s3_error!(InvalidArgument, "The TagValue you have provided is invalid"));
        }
        if out.insert(k.clone(), v.clone()).is_some() {
            return Err(invalid_request("Duplicate Tag Keys are not allowed."));
        }
    }
    Ok(out)
}

fn filter(rule: &ReplicationRule) -> S3Result<ReplicationFilter> {
    let Some(f) = &rule.filter else {
        // V1: a bare Prefix (required then).
        let prefix = rule.prefix.clone().ok_or_else(malformed)?;
        return Ok(ReplicationFilter { prefix, tags: TagSet::new(), form: FilterForm::Legacy });
    };
    if rule.prefix.is_some() {
        return Err(malformed());
    }
    let members = usize::from(f.prefix.is_some()) + usize::from(f.tag.is_some()) + usize::from(f.and.is_some());
    if members > 1 {
        return Err(malformed());
    }
    if let Some(and) = &f.and {
        let tags = filter_tags(and.tags.as_deref().unwrap_or_default())?;
        if tags.len() + usize::from(and.prefix.is_some()) < 2 {
            return Err(malformed());
        }
        return Ok(ReplicationFilter { prefix: and.prefix.clone().unwrap_or_default(), tags, form: FilterForm::And });
    }
    if let Some(tag) = &f.tag {
        return Ok(ReplicationFilter {
            prefix: String::new(),
            tags: filter_tags(std::slice::from_ref(tag))?,
            form: FilterForm::Tag,
        });
    }
    match &f.prefix {
        Some(p) => Ok(ReplicationFilter { prefix: p.clone(), tags: TagSet::new(), form: FilterForm::Prefix }),
        None => Ok(ReplicationFilter::default()),
    }
}

fn rule_from_dto(r: &ReplicationRule, v1: bool) -> S3Result<Rule> {
    let enabled = status(r.status.as_str())?;
    if r.existing_object_replication.is_some() {
        // AWS answers this for a rule it has not enabled for the account; Holdfast's backfill
        // is `holdfast admin replicate`.
        return Err(invalid_request("ExistingObjectReplication is not supported; use holdfast admin replicate"));
    }
    let filter = filter(r)?;
    let hint = |field: &str, required: bool| {
        let what = if required { "must be specified for this version" } else { "cannot be used for this version" };
        invalid_request(&format!("{field} {what} {SCHEMA_HINT}"))
    };
    if v1 {
        if r.priority.is_some() {
            return Err(hint("Priority", false));
        }
        if r.delete_marker_replication.is_some() {
            return Err(hint("DeleteMarkerReplication", false));
        }
    } else {
        if r.priority.is_none() {
            return Err(hint("Priority", true));
        }
        if r.delete_marker_replication.is_none() {
            return Err(hint("DeleteMarkerReplication", true));
        }
    }
    let delete_markers = match &r.delete_marker_replication {
        Some(d) => Some(status(d.status.as_ref().map(|s| s.as_str()).ok_or_else(malformed)?)?),
        None => None,
    };
    if delete_markers == Some(true) && !filter.tags.is_empty() {
        return Err(invalid_request(
            "Delete marker replication is not supported if any Tag filter is specified. Please refer to S3 Developer Guide for more information.",
        ));
    }
    if r.priority.is_some_and(|p| p < 0) {
        return Err(invalid_request("Priority must be between 0 and 2147483647."));
    }
    let id = r.id.clone().filter(|i| !i.is_empty()).unwrap_or_else(holdfast_engine::model::new_version_id);
    if id.len() > 255 {
        return Err(invalid_argument("Rule Id cannot be greater than 255", "ID", Some(&id)));
    }
    let d = &r.destination;
    if d.access_control_translation.is_some()
        || d.encryption_configuration.is_some()
        || d.replication_time.is_some()
        || d.metrics.is_some()
        || r.source_selection_criteria.is_some()
    {
        return Err(s3_error!(
            NotImplemented,
            "Holdfast replicates without owner override, KMS, replication time control or metrics elements"
        ));
    }
    Ok(Rule {
        id,
        priority: r.priority,
        enabled,
        filter,
        delete_markers,
        destination: ReplicationDestination {
            arn: d.bucket.clone(),
            storage_class: d.storage_class.as_ref().map(|s| s.as_str().to_owned()),
        },
    })
}

fn rule_to_dto(r: Rule) -> ReplicationRule {
    let f = r.filter;
    let (prefix, filter) = match f.form {
        FilterForm::Legacy => (Some(f.prefix), None),
        FilterForm::Empty => (None, Some(ReplicationRuleFilter::default())),
        FilterForm::Prefix => (None, Some(ReplicationRuleFilter { prefix: Some(f.prefix), ..Default::default() })),
        FilterForm::Tag => {
            let tag = f.tags.into_iter().next().map(|(k, v)| Tag { key: Some(k), value: Some(v) });
            (None, Some(ReplicationRuleFilter { tag, ..Default::default() }))
        }
        FilterForm::And => (
            None,
            Some(ReplicationRuleFilter {
                and: Some(ReplicationRuleAndOperator {
                    prefix: (!f.prefix.is_empty()).then_some(f.prefix),
                    tags: Some(super::tagging::to_dto(&f.tags)),
                }),
                ..Default::default()
            }),
        ),
    };
    let on_off = |b: bool| if b { "Enabled" } else { "Disabled" }.to_owned();
    ReplicationRule {
        delete_marker_replication: r
            .delete_markers
            .map(|b| DeleteMarkerReplication { status: Some(DeleteMarkerReplicationStatus::from(on_off(b))) }),
        destination: Destination {
            bucket: r.destination.arn,
            storage_class: r.destination.storage_class.map(StorageClass::from),
            ..Default::default()
        },
        existing_object_replication: None,
        filter,
        id: Some(r.id),
        prefix,
        priority: r.priority,
        source_selection_criteria: None,
        status: ReplicationRuleStatus::from(on_off(r.enabled)),
    }
}

/// The headers of an authenticated replication request from another Holdfast: a PutObject
/// that carries the source version's id (and is authorised by `s3:ReplicateObject` on the
/// destination, `s3:ReplicateTags` with tags, instead of `s3:PutObject`).
pub const SOURCE_VERSION_HEADER: &str = "x-holdfast-replication-source-version-id";
/// The source version's last-modified, in milliseconds since the epoch.
pub const LAST_MODIFIED_HEADER: &str = "x-holdfast-replication-last-modified";
/// `object` (the default), `marker` (a delete marker, empty body) or `metadata` (only the
/// lock state and tags of a version the destination has; 404 NoSuchVersion when it has not).
pub const KIND_HEADER: &str = "x-holdfast-replication-kind";
/// The source's ETag (kept when it is a multipart one).
pub const ETAG_HEADER: &str = "x-holdfast-replication-etag";
/// The source's composite checksum, `<ALGORITHM> <base64>-<n>` (kept as it is).
pub const COMPOSITE_CHECKSUM_HEADER: &str = "x-holdfast-replication-composite-checksum";

/// The source's full-object checksum, `<ALGORITHM> <base64>`, on the CreateMultipartUpload
/// of a replication upload (a single replication PUT states it as `x-amz-checksum-<alg>`):
/// checked against the one the parts make when the algorithm can be combined (CRC32, CRC32C,
/// CRC64NVME), else kept as it is.
pub const CHECKSUM_HEADER: &str = "x-holdfast-replication-checksum";

/// What every replication request says of its source version.
struct Source {
    version_id: String,
    last_modified: holdfast_lock::UtcMillis,
    lock: holdfast_lock::LockState,
    tags: TagSet,
}

fn source_of(h: &http::HeaderMap, tagging: Option<&str>, aws_strict: bool) -> S3Result<Source> {
    let version_id = header(h, SOURCE_VERSION_HEADER).unwrap_or_default().to_owned();
    if !holdfast_engine::model::is_well_formed_version_id(&version_id) || version_id == "null" {
        return Err(invalid_argument("Invalid version id specified", SOURCE_VERSION_HEADER, Some(&version_id)));
    }
    let last_modified =
        header(h, LAST_MODIFIED_HEADER).and_then(|v| v.parse::<i64>().ok()).map(holdfast_lock::UtcMillis).ok_or_else(
            || invalid_argument("A replication request needs its source's last-modified", LAST_MODIFIED_HEADER, None),
        )?;
    Ok(Source {
        version_id,
        last_modified,
        lock: replica_lock(h)?,
        tags: crate::tags::tags_from_header(tagging, aws_strict)?,
    })
}

/// `<ALGORITHM> <value>` of [`CHECKSUM_HEADER`] or [`COMPOSITE_CHECKSUM_HEADER`].
fn stated_checksum(
    h: &http::HeaderMap,
    name: &str,
    kind: holdfast_engine::model::ChecksumKind,
) -> S3Result<Option<holdfast_engine::model::StoredChecksum>> {
    let Some(v) = header(h, name) else { return Ok(None) };
    let parsed = v.split_once(' ').and_then(|(alg, value)| {
        Some(holdfast_engine::model::StoredChecksum {
            algorithm: holdfast_engine::model::ChecksumAlgorithm::parse(alg)?,
            value: value.to_owned(),
            kind,
        })
    });
    parsed.map(Some).ok_or_else(|| invalid_argument("Invalid replication checksum", name, Some(v)))
}

/// A replication request is addressed to a replication upload, and only such a request is:
/// a key allowed `s3:ReplicateObject` cannot touch a client's upload through it, nor can a
/// client's request complete or feed a replication upload.
pub(crate) fn check_upload_kind(h: &http::HeaderMap, upload: &holdfast_engine::model::Upload) -> S3Result<()> {
    match (h.contains_key(SOURCE_VERSION_HEADER), &upload.replica) {
        (true, None) => Err(s3_error!(AccessDenied, "Access Denied")),
        (false, Some(_)) => Err(invalid_request("The upload belongs to a replication")),
        (true, Some(r)) if header(h, SOURCE_VERSION_HEADER) != Some(r.version_id.as_str()) => Err(invalid_argument(
            "The upload replicates another version",
            SOURCE_VERSION_HEADER,
            header(h, SOURCE_VERSION_HEADER),
        )),
        _ => Ok(()),
    }
}

fn header<'a>(h: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The lock state a replication request carries: as the source has it, an expired
/// retain-until date included (a client write would be refused for that, W4).
fn replica_lock(h: &http::HeaderMap) -> S3Result<holdfast_lock::LockState> {
    let bad = |what: &str| s3_error!(InvalidArgument, "{what}");
    let retention = match (header(h, "x-amz-object-lock-mode"), header(h, "x-amz-object-lock-retain-until-date")) {
        (None, None) => None,
        (Some(m), Some(u)) => Some(holdfast_lock::Retention {
            mode: m.parse().map_err(|_| bad("Unknown wormMode directive."))?,
            until: holdfast_lock::parse_retain_until(u)
                .map_err(|_| bad("The retain until date must be provided in ISO 8601 format"))?,
        }),
        _ => return Err(bad("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")),
    };
    let legal_hold = header(h, "x-amz-object-lock-legal-hold")
        .map(|v| holdfast_lock::LegalHold::parse(v).ok_or_else(|| bad("Legal Hold must be either of 'ON' or 'OFF'")))
        .transpose()?;
    Ok(holdfast_lock::LockState { retention, legal_hold })
}

/// Local replicas pass the destination's access policy as a replication request from this
/// installation's root would: `s3:ReplicateObject` (`s3:ReplicateDelete` for a marker,
/// `s3:ReplicateTags` with tags) with the replica's lock condition keys.
pub struct PolicyGate(pub std::sync::Arc<crate::access::Authorizer>);

#[async_trait::async_trait]
impl holdfast_engine::replication::ReplicaGate for PolicyGate {
    async fn admit(
        &self,
        bucket: &str,
        key: &str,
        lock: &holdfast_lock::LockState,
        tags: &TagSet,
        marker: bool,
    ) -> Result<(), String> {
        let mut h = http::HeaderMap::new();
        let mut set = |name: &'static str, value: String| {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        };
        set(SOURCE_VERSION_HEADER, "local".into());
        set(KIND_HEADER, if marker { "marker" } else { "object" }.into());
        if let Some(r) = lock.retention {
            set("x-amz-object-lock-mode", r.mode.as_str().into());
            set("x-amz-object-lock-retain-until-date", r.until.to_iso8601());
        }
        if let Some(hold) = lock.legal_hold {
            set("x-amz-object-lock-legal-hold", hold.as_str().into());
        }
        if !tags.is_empty() {
            let pairs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            set("x-amz-tagging", holdfast_identity::signer::canonical_query(&pairs));
        }
        let uri: http::Uri = "/".parse().expect("a static path parses");
        let target = crate::access::Target {
            operation: "PutObject",
            bucket: Some(bucket),
            key: Some(key),
            headers: &h,
            uri: &uri,
        };
        let mut ext = http::Extensions::new();
        // The date as the access hook leaves it for a request's condition keys: known here,
        // not parsed back from the header just written.
        if let Some(r) = lock.retention {
            ext.insert(crate::convert::RetainUntil(Ok(r.until)));
        }
        self.0
            .check(&holdfast_identity::Principal::Root, &target, &mut ext, |_| {})
            .await
            .map_err(|e| format!("the destination's policy refuses the replica: {}", e.code().as_str()))
    }
}

impl Gateway {
    /// A PutObject that is a replication request (it carries [`SOURCE_VERSION_HEADER`]).
    pub(crate) async fn receive_replica(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        use holdfast_engine::replication::{IncomingContent, IncomingReplica};
        let S3Request { input, headers, extensions, .. } = req;
        let bucket = self.bucket(&input.bucket).await?;
        // As the replication upload does: nothing is written under the SOSAPI prefix.
        self.refuse_system_write(&input.bucket, &input.key).await?;
        let Source { version_id, last_modified, lock, tags } =
            source_of(&headers, input.tagging.as_deref(), self.config.aws_strict)?;
        let content = match header(&headers, KIND_HEADER).unwrap_or("object") {
            "marker" => IncomingContent::DeleteMarker,
            "metadata" => IncomingContent::MetadataOnly,
            "object" => {
                let claims = crate::convert::body_claims(
                    &headers,
                    None,
                    input.content_length,
                    input.content_md5.as_ref(),
                    input.checksum_algorithm.as_ref(),
                    &crate::convert::ChecksumValues {
                        crc32: input.checksum_crc32.as_ref(),
                        crc32c: input.checksum_crc32c.as_ref(),
                        crc64nvme: input.checksum_crc64nvme.as_ref(),
                        sha1: input.checksum_sha1.as_ref(),
                        sha256: input.checksum_sha256.as_ref(),
                    },
                )?;
                let composite = stated_checksum(
                    &headers,
                    COMPOSITE_CHECKSUM_HEADER,
                    holdfast_engine::model::ChecksumKind::Composite,
                )?;
                IncomingContent::Object {
                    headers: Box::new(crate::convert::object_headers_of!(input)?),
                    body: crate::convert::body_stream(input.body),
                    claims,
                    etag: header(&headers, ETAG_HEADER).map(str::to_owned),
                    composite_checksum: composite,
                }
            }
            other => return Err(invalid_argument("Unknown replication kind", KIND_HEADER, Some(other))),
        };
        let r = IncomingReplica {
            key: input.key.clone(),
            version_id: version_id.clone(),
            last_modified,
            lock,
            tags,
            content,
        };
        self.engine
            .receive_replica(&bucket, r)
            .await
            .map_err(|e| with_resource(self.engine_err(e), &input.bucket, Some(&input.key)))?;
        crate::audit::AuditSlot::update(&extensions, |f| f.version_id = Some(version_id.clone()));
        Ok(S3Response::new(PutObjectOutput { version_id: Some(version_id), ..Default::default() }))
    }

    /// The CreateMultipartUpload of a replication upload (it carries [`SOURCE_VERSION_HEADER`]):
    /// a version too large for one replication PUT goes in parts (issue #13). The upload keeps
    /// what the replica keeps of its source (version id, last-modified, ETag, checksum, tags;
    /// the lock state as the upload's, W1/W14, an expired retain-until included as for the
    /// PUT); parts are hashed in the source's full-object CRC so that completion checks it.
    pub(crate) async fn create_replica_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        use holdfast_engine::model::ChecksumKind;
        let S3Request { input, headers, .. } = req;
        let bucket = self.bucket(&input.bucket).await?;
        // The parts and the completion would be refused there: refuse the upload itself.
        self.refuse_system_write(&input.bucket, &input.key).await?;
        let Source { version_id, last_modified, lock, tags } =
            source_of(&headers, input.tagging.as_deref(), self.config.aws_strict)?;
        if let Some(kind) = header(&headers, KIND_HEADER).filter(|k| *k != "object") {
            return Err(invalid_argument("A replication upload carries an object", KIND_HEADER, Some(kind)));
        }
        let etag = header(&headers, ETAG_HEADER)
            .ok_or_else(|| invalid_argument("A replication upload needs its source's ETag", ETAG_HEADER, None))?;
        // W6: lock state for a bucket without Object Lock is refused here, before any byte.
        super::objects::check_lock_write(&bucket, &lock, None)?;
        let checksum = match stated_checksum(&headers, CHECKSUM_HEADER, ChecksumKind::FullObject)? {
            Some(c) => Some(c),
            None => stated_checksum(&headers, COMPOSITE_CHECKSUM_HEADER, ChecksumKind::Composite)?,
        };
        let combined = checksum
            .as_ref()
            .filter(|c| c.kind == ChecksumKind::FullObject && c.algorithm.supports_full_object())
            .map(|c| c.algorithm);
        let upload = self
            .engine
            .create_upload(holdfast_engine::CreateUpload {
                bucket: input.bucket.clone(),
                key: input.key.clone(),
                headers: crate::convert::object_headers_of!(input)?,
                checksum_algorithm: combined,
                checksum_kind: combined.map(|_| ChecksumKind::FullObject),
                lock,
                replica: Some(holdfast_engine::model::UploadReplica {
                    version_id,
                    last_modified,
                    etag: etag.trim_matches('"').to_owned(),
                    checksum,
                    tags,
                }),
            })
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, Some(&input.key)))?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id),
            ..Default::default()
        }))
    }

    /// The CompleteMultipartUpload of a replication upload: the replica is recorded (or, when
    /// the version is already there, only its lock grows), answered with its version id.
    pub(crate) async fn complete_replica_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
        parts: Vec<holdfast_engine::CompletedPart>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let S3Request { input, headers, extensions, .. } = req;
        let upload = self.engine.upload(&input.bucket, &input.key, &input.upload_id).await.map_err(engine_error)?;
        check_upload_kind(&headers, &upload)?;
        let etag = upload.replica.as_ref().map(|r| r.etag.clone()).unwrap_or_default();
        let (version_id, _) = self
            .engine
            .complete_replica_upload(&input.bucket, &input.key, &input.upload_id, parts)
            .await
            .map_err(|e| with_resource(self.engine_err(e), &input.bucket, Some(&input.key)))?;
        crate::audit::AuditSlot::update(&extensions, |f| f.version_id = Some(version_id.clone()));
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(crate::convert::etag(&etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            version_id: Some(version_id),
            ..Default::default()
        }))
    }

    /// The destinations: each ARN of a known form; a local bucket exists, is versioned, is not
    /// the source, and has Object Lock when the source has it; a remote target is declared.
    async fn check_destinations(&self, source: &holdfast_engine::model::Bucket, rules: &[Rule]) -> S3Result<()> {
        for r in rules {
            let arn = &r.destination.arn;
            match ReplicationDestination::parse(arn) {
                None => return Err(invalid_argument("Invalid bucket ARN", "Bucket", Some(arn))),
                Some(DestinationRef::Local { bucket }) => {
                    if bucket == source.name {
                        return Err(invalid_request("Destination bucket cannot be the same as the source bucket."));
                    }
                    let dest = self
                        .engine
                        .bucket(bucket)
                        .await
                        .map_err(engine_error)?
                        .ok_or_else(|| invalid_request("Destination bucket must exist."))?;
                    if dest.versioning != Versioning::Enabled {
                        return Err(invalid_request("Destination bucket must have versioning enabled."));
                    }
                    if source.lock_enabled && !dest.lock_enabled {
                        return Err(invalid_request(
                            "Destination bucket must have Object Lock enabled when the source bucket has Object Lock enabled.",
                        ));
                    }
                }
                Some(DestinationRef::Remote { target, bucket }) => {
                    if !self.config.replication_targets.contains(target) {
                        return Err(invalid_argument(
                            &format!("Invalid bucket ARN: no replication target {target:?} is configured"),
                            "Bucket",
                            Some(arn),
                        ));
                    }
                    let (versioned, locked) = self.engine.remote_bucket_state(target, bucket).await.map_err(|why| {
                        invalid_request(&format!("Replication validation failed on target {target}: {why}"))
                    })?;
                    if !versioned {
                        return Err(invalid_request("Destination bucket must have versioning enabled."));
                    }
                    if source.lock_enabled && !locked {
                        return Err(invalid_request(
                            "Destination bucket must have Object Lock enabled when the source bucket has Object Lock enabled.",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn put_bucket_replication(
        &self,
        req: S3Request<PutBucketReplicationInput>,
    ) -> S3Result<S3Response<PutBucketReplicationOutput>> {
        require_integrity_header(&req.headers, &req.extensions)?;
        let input = req.input;
        let source = self.bucket(&input.bucket).await?;
        let dto = input.replication_configuration;
        if dto.rules.is_empty() || dto.rules.len() > MAX_RULES {
            return Err(malformed());
        }
        if source.versioning != Versioning::Enabled {
            return Err(bucket_error(
                S3ErrorCode::InvalidRequest,
                "Versioning must be 'Enabled' on the bucket to apply a replication configuration",
                &input.bucket,
            ));
        }
        // One rule without Filter makes the whole configuration V1.
        let v1 = dto.rules.iter().any(|r| r.filter.is_none());
        let rules = dto.rules.iter().map(|r| rule_from_dto(r, v1)).collect::<S3Result<Vec<_>>>()?;
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid_argument("Rule Id must be unique", "ID", Some(w[0])));
        }
        let mut priorities: Vec<i32> = rules.iter().filter_map(|r| r.priority).collect();
        priorities.sort_unstable();
        if let Some(w) = priorities.windows(2).find(|w| w[0] == w[1]) {
            return Err(invalid_request(&format!("Found duplicate priority {}.", w[0])));
        }
        self.check_destinations(&source, &rules).await?;
        self.engine
            .set_replication_config(&input.bucket, Some(&ReplicationConfig { role: dto.role, rules }))
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, None))?;
        Ok(S3Response::new(PutBucketReplicationOutput::default()))
    }

    pub(crate) async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        let bucket = req.input.bucket;
        self.bucket(&bucket).await?;
        let config = self
            .engine
            .replication_config(&bucket)
            .await
            .map_err(|e| with_resource(engine_error(e), &bucket, None))?
            .ok_or_else(|| {
                bucket_error(
                    S3ErrorCode::ReplicationConfigurationNotFoundError,
                    "The replication configuration was not found",
                    &bucket,
                )
            })?;
        Ok(S3Response::new(GetBucketReplicationOutput {
            replication_configuration: Some(ReplicationConfiguration {
                role: config.role,
                rules: config.rules.into_iter().map(rule_to_dto).collect(),
            }),
        }))
    }

    pub(crate) async fn delete_bucket_replication(
        &self,
        req: S3Request<DeleteBucketReplicationInput>,
    ) -> S3Result<S3Response<DeleteBucketReplicationOutput>> {
        let bucket = req.input.bucket;
        self.bucket(&bucket).await?;
        self.engine
            .set_replication_config(&bucket, None)
            .await
            .map_err(|e| with_resource(engine_error(e), &bucket, None))?;
        Ok(S3Response::with_status(DeleteBucketReplicationOutput {}, http::StatusCode::NO_CONTENT))
    }
}
