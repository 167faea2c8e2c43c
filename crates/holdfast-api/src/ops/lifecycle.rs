//! Put/Get/DeleteBucketLifecycleConfiguration. Expiration (Days, Date,
//! ExpiredObjectDeleteMarker), NoncurrentVersionExpiration (NoncurrentDays,
//! NewerNoncurrentVersions) and AbortIncompleteMultipartUpload, filtered by prefix, object
//! size and object tags (`Filter/Tag`, `Filter/And/Tag`). Transitions are refused with 501
//! NotImplemented: Holdfast has one storage class.

use super::require_integrity_header;
use crate::Gateway;
use crate::convert::{instant, ts};
use crate::error::{bucket_error, engine_error, invalid_argument, with_resource};
use holdfast_engine::model::{
    CurrentExpiration, LifecycleConfig, LifecycleFilter, LifecycleRule as Rule, MAX_TAG_KEY, MAX_TAG_VALUE, TagSet,
};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

const MALFORMED: &str = "The XML you provided was not well-formed or did not validate against our published schema";
const MAX_RULES: usize = 1000;
const DAY_MS: i64 = 86_400_000;

fn malformed() -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, MALFORMED)
}

fn positive(v: i32, message: &str, name: &str) -> S3Result<u32> {
    u32::try_from(v).ok().filter(|v| *v > 0).ok_or_else(|| invalid_argument(message, name, Some(&v.to_string())))
}

/// The tags of a filter: each key at most once, each tag within the object tag limits.
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
            return Err(s3_error!(InvalidRequest, "Duplicate Tag Keys are not allowed."));
        }
    }
    Ok(out)
}

fn size(v: Option<i64>) -> S3Result<Option<u64>> {
    v.map(|n| u64::try_from(n).map_err(|_| s3_error!(InvalidArgument, "Object size filters must not be negative")))
        .transpose()
}

fn filter(rule: &LifecycleRule) -> S3Result<LifecycleFilter> {
    match (&rule.prefix, &rule.filter) {
        (Some(_), Some(_)) => Err(malformed()),
        (Some(p), None) => Ok(LifecycleFilter { prefix: p.clone(), ..Default::default() }),
        (None, None) => Ok(LifecycleFilter::default()),
        (None, Some(f)) => {
            let (prefix, gt, lt, tags) = match &f.and {
                Some(and) => {
                    if f.prefix.is_some()
                        || f.object_size_greater_than.is_some()
                        || f.object_size_less_than.is_some()
                        || f.tag.is_some()
                    {
                        return Err(malformed());
                    }
                    let tags = filter_tags(and.tags.as_deref().unwrap_or_default())?;
                    (and.prefix.clone(), and.object_size_greater_than, and.object_size_less_than, tags)
                }
                None => {
                    // A Tag beside another condition needs And (LifecycleRuleFilter: one of
                    // Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan, And).
                    let others =
                        f.prefix.is_some() || f.object_size_greater_than.is_some() || f.object_size_less_than.is_some();
                    if f.tag.is_some() && others {
                        return Err(malformed());
                    }
                    let tags = filter_tags(f.tag.as_slice())?;
                    (f.prefix.clone(), f.object_size_greater_than, f.object_size_less_than, tags)
                }
            };
            let filter = LifecycleFilter {
                prefix: prefix.unwrap_or_default(),
                size_greater_than: size(gt)?,
                size_less_than: size(lt)?,
                tags,
            };
            if let (Some(g), Some(l)) = (filter.size_greater_than, filter.size_less_than)
                && g >= l
            {
                return Err(s3_error!(InvalidArgument, "ObjectSizeGreaterThan must be less than ObjectSizeLessThan"));
            }
            Ok(filter)
        }
    }
}

fn rule_from_dto(r: &LifecycleRule) -> S3Result<Rule> {
    let enabled = match r.status.as_str() {
        "Enabled" => true,
        "Disabled" => false,
        _ => return Err(malformed()),
    };
    let id = r.id.clone().filter(|i| !i.is_empty()).unwrap_or_else(holdfast_engine::model::new_version_id);
    if id.len() > 255 {
        return Err(invalid_argument("ID length should not exceed allowed limit of 255", "ID", Some(&id)));
    }
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
    {
        return Err(s3_error!(NotImplemented, "Transition actions are not supported: Holdfast has one storage class"));
    }
    let mut rule = Rule { id, enabled, filter: filter(r)?, ..Default::default() };
    if let Some(e) = &r.expiration {
        let marker = e.expired_object_delete_marker.unwrap_or(false);
        rule.expiration = match (e.days, &e.date) {
            (Some(_), Some(_)) => return Err(malformed()),
            (Some(d), None) => Some(CurrentExpiration::Days(positive(
                d,
                "'Days' for Expiration action must be a positive integer",
                "Days",
            )?)),
            (None, Some(date)) => {
                let at = instant(date.clone());
                if at.millis().rem_euclid(DAY_MS) != 0 {
                    return Err(invalid_argument("'Date' must be at midnight GMT", "Date", None));
                }
                Some(CurrentExpiration::Date(at))
            }
            (None, None) if e.expired_object_delete_marker.is_some() => None,
            (None, None) => return Err(malformed()),
        };
        if marker && rule.expiration.is_some() {
            return Err(invalid_argument(
                "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy",
                "ExpiredObjectDeleteMarker",
                None,
            ));
        }
        rule.expired_object_delete_marker = marker;
    }
    if let Some(n) = &r.noncurrent_version_expiration {
        let days = n.noncurrent_days.ok_or_else(malformed)?;
        rule.noncurrent_days = Some(positive(
            days,
            "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            "NoncurrentDays",
        )?);
        if let Some(keep) = n.newer_noncurrent_versions {
            let keep = positive(
                keep,
                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer",
                "NewerNoncurrentVersions",
            )?;
            if keep > 100 {
                return Err(invalid_argument(
                    "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be at most 100",
                    "NewerNoncurrentVersions",
                    Some(&keep.to_string()),
                ));
            }
            rule.newer_noncurrent_versions = Some(keep);
        }
    }
    if let Some(a) = &r.abort_incomplete_multipart_upload {
        let days = a.days_after_initiation.ok_or_else(malformed)?;
        rule.abort_incomplete_days = Some(positive(
            days,
            "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
            "DaysAfterInitiation",
        )?);
    }
    // Delete markers and uploads carry no tags (AWS refuses these combinations).
    if !rule.filter.tags.is_empty() && rule.expired_object_delete_marker {
        return Err(invalid_argument(
            "ExpiredObjectDeleteMarker cannot be specified with object tags in a Lifecycle Filter",
            "ExpiredObjectDeleteMarker",
            None,
        ));
    }
    if !rule.filter.tags.is_empty() && rule.abort_incomplete_days.is_some() {
        return Err(s3_error!(InvalidRequest, "AbortIncompleteMultipartUpload cannot be specified with Tags."));
    }
    if rule.expiration.is_none()
        && !rule.expired_object_delete_marker
        && rule.noncurrent_days.is_none()
        && rule.abort_incomplete_days.is_none()
    {
        return Err(s3_error!(InvalidRequest, "At least one action needs to be specified in a rule"));
    }
    Ok(rule)
}

fn rule_to_dto(r: Rule) -> LifecycleRule {
    let f = r.filter;
    let has_size = f.size_greater_than.is_some() || f.size_less_than.is_some();
    let as_i64 = |v: Option<u64>| v.and_then(|n| i64::try_from(n).ok());
    // One condition stands alone; several go in And (an empty prefix is no condition).
    let conditions = usize::from(!f.prefix.is_empty())
        + usize::from(f.size_greater_than.is_some())
        + usize::from(f.size_less_than.is_some())
        + f.tags.len();
    let filter = if conditions > 1 && (!f.tags.is_empty() || !f.prefix.is_empty()) {
        LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: (!f.prefix.is_empty()).then_some(f.prefix),
                object_size_greater_than: as_i64(f.size_greater_than),
                object_size_less_than: as_i64(f.size_less_than),
                tags: (!f.tags.is_empty()).then(|| super::tagging::to_dto(&f.tags)),
            }),
            ..Default::default()
        }
    } else if let Some((k, v)) = f.tags.into_iter().next() {
        LifecycleRuleFilter { tag: Some(Tag { key: Some(k), value: Some(v) }), ..Default::default() }
    } else {
        LifecycleRuleFilter {
            prefix: (!has_size).then_some(f.prefix),
            object_size_greater_than: as_i64(f.size_greater_than),
            object_size_less_than: as_i64(f.size_less_than),
            ..Default::default()
        }
    };
    let expiration = (r.expiration.is_some() || r.expired_object_delete_marker).then(|| LifecycleExpiration {
        date: match &r.expiration {
            Some(CurrentExpiration::Date(at)) => Some(ts(*at)),
            _ => None,
        },
        days: match &r.expiration {
            Some(CurrentExpiration::Days(d)) => i32::try_from(*d).ok(),
            _ => None,
        },
        expired_object_delete_marker: r.expired_object_delete_marker.then_some(true),
    });
    LifecycleRule {
        abort_incomplete_multipart_upload: r
            .abort_incomplete_days
            .map(|d| AbortIncompleteMultipartUpload { days_after_initiation: i32::try_from(d).ok() }),
        expiration,
        filter: Some(filter),
        id: Some(r.id),
        noncurrent_version_expiration: r.noncurrent_days.map(|d| NoncurrentVersionExpiration {
            noncurrent_days: i32::try_from(d).ok(),
            newer_noncurrent_versions: r.newer_noncurrent_versions.and_then(|n| i32::try_from(n).ok()),
        }),
        noncurrent_version_transitions: None,
        prefix: None,
        status: ExpirationStatus::from(if r.enabled { "Enabled" } else { "Disabled" }.to_owned()),
        transitions: None,
    }
}

impl Gateway {
    pub(crate) async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        require_integrity_header(&req.headers, &req.extensions)?;
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let dto = input.lifecycle_configuration.ok_or_else(malformed)?;
        if dto.rules.is_empty() || dto.rules.len() > MAX_RULES {
            return Err(malformed());
        }
        let rules = dto.rules.iter().map(rule_from_dto).collect::<S3Result<Vec<_>>>()?;
        let mut ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid_argument(
                "Rule ID must be unique. Found same ID for more than one rule",
                "ID",
                ids.windows(2).find(|w| w[0] == w[1]).map(|w| w[0]),
            ));
        }
        self.engine
            .set_lifecycle_config(&input.bucket, Some(&LifecycleConfig { rules }))
            .await
            .map_err(|e| with_resource(engine_error(e), &input.bucket, None))?;
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
    }

    pub(crate) async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let bucket = req.input.bucket;
        self.bucket(&bucket).await?;
        let config = self
            .engine
            .lifecycle_config(&bucket)
            .await
            .map_err(|e| with_resource(engine_error(e), &bucket, None))?
            .ok_or_else(|| {
                bucket_error(
                    S3ErrorCode::NoSuchLifecycleConfiguration,
                    "The lifecycle configuration does not exist",
                    &bucket,
                )
            })?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(config.rules.into_iter().map(rule_to_dto).collect()),
            ..Default::default()
        }))
    }

    pub(crate) async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        let bucket = req.input.bucket;
        self.bucket(&bucket).await?;
        self.engine
            .set_lifecycle_config(&bucket, None)
            .await
            .map_err(|e| with_resource(engine_error(e), &bucket, None))?;
        Ok(S3Response::with_status(DeleteBucketLifecycleOutput {}, http::StatusCode::NO_CONTENT))
    }
}
