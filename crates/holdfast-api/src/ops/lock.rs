//! Object Lock configuration, retention and legal hold (spec §1, §3, §4).

use super::require_integrity_header;
use crate::Gateway;
use crate::audit::AuditSlot;
use crate::convert::{instant, ts};
use crate::error::{default_denial, engine_error, meta_error, retention_denial, with_resource};
use holdfast_engine::model::{Bucket, MetaError, VersionRecord, VersionSelector};
use holdfast_engine::{EngineError, LockChange, version_selector};
use holdfast_lock::{DefaultRetention, LegalHold, Period};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

const MALFORMED: &str = "The XML you provided was not well-formed or did not validate against our published schema";

fn malformed() -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, MALFORMED)
}

fn missing_object_lock() -> S3Error {
    s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration")
}

/// B7..B9 (`holdfast_lock::default_retention`): the configuration body, validated as AWS
/// validates it.
pub fn default_retention(config: &ObjectLockConfiguration, aws_strict: bool) -> S3Result<Option<DefaultRetention>> {
    if config.object_lock_enabled.as_ref().map(ObjectLockEnabled::as_str) != Some("Enabled") {
        return Err(malformed());
    }
    let Some(rule) = &config.rule else { return Ok(None) };
    let d = rule.default_retention.as_ref().ok_or_else(malformed)?;
    holdfast_lock::default_retention(d.mode.as_ref().map(ObjectLockRetentionMode::as_str), d.days, d.years)
        .map(Some)
        .map_err(|e| default_denial(e, aws_strict))
}

/// R5, R6 (`holdfast_lock::requested_retention`): the `<Retention>` body of
/// PutObjectRetention as the lock state it asks for (`None`: remove the retention); `now`
/// judges a past RetainUntilDate.
pub fn retention_request(
    r: ObjectLockRetention,
    now: holdfast_lock::UtcMillis,
) -> S3Result<Option<holdfast_lock::Retention>> {
    holdfast_lock::requested_retention(
        r.mode.as_ref().map(ObjectLockRetentionMode::as_str),
        r.retain_until_date.map(instant),
        now,
    )
    .map_err(retention_denial)
}

/// The `<LegalHold>` body of PutObjectLegalHold: `ON` or `OFF`, anything else MalformedXML.
pub fn legal_hold_request(h: Option<ObjectLockLegalHold>) -> S3Result<LegalHold> {
    h.and_then(|h| h.status).and_then(|s| LegalHold::parse(s.as_str())).ok_or_else(malformed)
}

impl Gateway {
    /// Lock state before and after a lock change for the audit trail; for a refused change,
    /// the state that was kept.
    async fn audit_lock_change(
        &self,
        ext: &http::Extensions,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        change: Option<&LockChange>,
    ) {
        let (version_id, before, after) = match change {
            Some(c) => (Some(c.after.version_id.clone()), c.before, Some(c.after.lock)),
            None => match self.engine.version(bucket, key, sel).await {
                Ok(v) => (Some(v.version_id), Some(v.lock), None),
                Err(_) => (None, None, None),
            },
        };
        AuditSlot::update(ext, |f| {
            if version_id.is_some() {
                f.version_id = version_id;
            }
            f.lock_before = before;
            f.lock_after = after;
        });
    }

    pub(crate) async fn put_object_lock_configuration(
        &self,
        req: S3Request<PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
        require_integrity_header(&req.headers, &req.extensions)?;
        let input = req.input;
        self.bucket(&input.bucket).await?;
        // B17: no body at all is MissingRequestBodyError, not MalformedXML.
        let config = input
            .object_lock_configuration
            .ok_or_else(|| s3_error!(MissingRequestBodyError, "Request Body is empty."))?;
        let default = default_retention(&config, self.config.aws_strict)?;
        self.engine.set_lock_configuration(&input.bucket, default).await.map_err(engine_error)?;
        Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
    }

    pub(crate) async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        let bucket = self.bucket(&req.input.bucket).await?;
        if !bucket.lock_enabled {
            return Err(crate::error::bucket_error(
                S3ErrorCode::ObjectLockConfigurationNotFoundError,
                "Object Lock configuration does not exist for this bucket",
                &bucket.name,
            ));
        }
        let rule = bucket.default_retention.map(|d| ObjectLockRule {
            default_retention: Some(s3s::dto::DefaultRetention {
                mode: Some(ObjectLockRetentionMode::from(d.mode.as_str().to_owned())),
                days: match d.period {
                    Period::Days(n) => i32::try_from(n).ok(),
                    Period::Years(_) => None,
                },
                years: match d.period {
                    Period::Years(n) => i32::try_from(n).ok(),
                    Period::Days(_) => None,
                },
            }),
        });
        Ok(S3Response::new(GetObjectLockConfigurationOutput {
            object_lock_configuration: Some(ObjectLockConfiguration {
                object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
                rule,
            }),
        }))
    }

    async fn lock_bucket(&self, name: &str) -> S3Result<Bucket> {
        let bucket = self.bucket(name).await?;
        if !bucket.lock_enabled {
            return Err(missing_object_lock());
        }
        Ok(bucket)
    }

    /// The version a lock read names; a current delete marker is NoSuchKey, a named one 405.
    async fn lock_target(&self, bucket: &str, key: &str, sel: &VersionSelector) -> S3Result<VersionRecord> {
        self.engine
            .resolve_object(bucket, key, sel)
            .await
            .map_err(|e| with_resource(engine_error(e), bucket, Some(key)))
    }

    pub(crate) async fn put_object_retention(
        &self,
        req: S3Request<PutObjectRetentionInput>,
    ) -> S3Result<S3Response<PutObjectRetentionOutput>> {
        let input = req.input;
        let bucket = self.lock_bucket(&input.bucket).await?;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        let sel = version_selector(input.version_id).map_err(engine_error)?;
        // R3: a missing key is reported before the body is judged.
        if sel == VersionSelector::Latest
            && let Err(EngineError::Meta(MetaError::NoSuchKey)) =
                self.engine.version(&input.bucket, &input.key, &sel).await
        {
            return Err(with_resource(meta_error(MetaError::NoSuchKey), &input.bucket, Some(&input.key)));
        }
        require_integrity_header(&req.headers, &req.extensions)?;
        let r = input.retention.ok_or_else(malformed)?;
        let retention = retention_request(r, self.engine.clock.now())?;
        let bypass = self.bypass(&bucket, input.bypass_governance_retention, &req.extensions)?;
        AuditSlot::update(&req.extensions, |f| f.bypass = bypass == holdfast_lock::Bypass::Governance);
        let change = self.engine.set_retention(&input.bucket, &input.key, &sel, retention, bypass).await;
        self.audit_lock_change(&req.extensions, &input.bucket, &input.key, &sel, change.as_ref().ok()).await;
        change.map_err(|e| with_resource(engine_error(e), &input.bucket, Some(&input.key)))?;
        Ok(S3Response::new(PutObjectRetentionOutput::default()))
    }

    pub(crate) async fn get_object_retention(
        &self,
        req: S3Request<GetObjectRetentionInput>,
    ) -> S3Result<S3Response<GetObjectRetentionOutput>> {
        let input = req.input;
        self.lock_bucket(&input.bucket).await?;
        let sel = version_selector(input.version_id).map_err(engine_error)?;
        let rec = self.lock_target(&input.bucket, &input.key, &sel).await?;
        let r = rec.lock.retention.ok_or_else(no_lock_configuration)?;
        Ok(S3Response::new(GetObjectRetentionOutput {
            retention: Some(ObjectLockRetention {
                mode: Some(ObjectLockRetentionMode::from(r.mode.as_str().to_owned())),
                retain_until_date: Some(ts(r.until)),
            }),
        }))
    }

    pub(crate) async fn put_object_legal_hold(
        &self,
        req: S3Request<PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
        let input = req.input;
        self.lock_bucket(&input.bucket).await?;
        self.refuse_system_write(&input.bucket, &input.key).await?;
        let sel = version_selector(input.version_id).map_err(engine_error)?;
        if sel == VersionSelector::Latest
            && let Err(EngineError::Meta(MetaError::NoSuchKey)) =
                self.engine.version(&input.bucket, &input.key, &sel).await
        {
            return Err(with_resource(meta_error(MetaError::NoSuchKey), &input.bucket, Some(&input.key)));
        }
        require_integrity_header(&req.headers, &req.extensions)?;
        let hold = legal_hold_request(input.legal_hold)?;
        let change = self.engine.set_legal_hold(&input.bucket, &input.key, &sel, hold).await;
        self.audit_lock_change(&req.extensions, &input.bucket, &input.key, &sel, change.as_ref().ok()).await;
        change.map_err(|e| with_resource(engine_error(e), &input.bucket, Some(&input.key)))?;
        Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
    }

    pub(crate) async fn get_object_legal_hold(
        &self,
        req: S3Request<GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
        let input = req.input;
        self.lock_bucket(&input.bucket).await?;
        let sel = version_selector(input.version_id).map_err(engine_error)?;
        let rec = self.lock_target(&input.bucket, &input.key, &sel).await?;
        let hold = rec.lock.legal_hold.ok_or_else(no_lock_configuration)?;
        Ok(S3Response::new(GetObjectLegalHoldOutput {
            legal_hold: Some(ObjectLockLegalHold {
                status: Some(ObjectLockLegalHoldStatus::from(hold.as_str().to_owned())),
            }),
        }))
    }
}

fn no_lock_configuration() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchObjectLockConfiguration,
        "The specified object does not have a ObjectLock configuration",
    )
}
