//! Who is calling: SigV4 secrets for s3s (from the key directory), and the access check
//! that runs before every operation (policies, see `access`).

use crate::access::{Authorizer, Caller, Target};
use holdfast_identity::{Directory, Principal};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{PutObjectLegalHoldInput, PutObjectRetentionInput, PutObjectTaggingInput};
use s3s::{S3Request, S3Result, s3_error};
use std::sync::{Arc, Mutex};

pub struct KeyStore {
    dir: Arc<Directory>,
}

impl KeyStore {
    pub fn new(dir: Arc<Directory>) -> Self {
        Self { dir }
    }
}

#[async_trait::async_trait]
impl S3Auth for KeyStore {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.dir.lookup(access_key).await {
            Ok(Some((_, secret))) => Ok(SecretKey::from(secret)),
            // Unknown and inactive keys look the same, as on AWS.
            Ok(None) => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
            }
            Err(e) => Err(s3_error!(InternalError, "{e}")),
        }
    }
}

/// The S3 operation a request resolved to, recorded for metrics and logs at the HTTP edge.
#[derive(Clone, Default)]
pub struct OpSlot(pub Arc<Mutex<Option<String>>>);

impl OpSlot {
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

pub struct Access {
    authz: Arc<Authorizer>,
}

impl Access {
    pub fn new(authz: Arc<Authorizer>) -> Self {
        Self { authz }
    }

    async fn caller(&self, access_key: Option<&str>) -> S3Result<Principal> {
        let Some(ak) = access_key else { return Ok(Principal::Anonymous) };
        match self.authz.directory().principal(ak).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => {
                Err(s3_error!(InvalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records."))
            }
            Err(e) => Err(s3_error!(InternalError, "{e}")),
        }
    }

    /// The checks of the lock operations, whose condition keys are in the XML body (P2).
    #[allow(clippy::too_many_arguments)]
    async fn check_parsed(
        &self,
        op: &str,
        bucket: &str,
        key: &str,
        credentials: Option<&str>,
        headers: &http::HeaderMap,
        uri: &http::Uri,
        ext: &mut http::Extensions,
        extra: impl FnOnce(&mut holdfast_policy::Context),
    ) -> S3Result<()> {
        let caller = match ext.get::<Caller>() {
            Some(Caller(p)) => p.clone(),
            None => self.caller(credentials).await?,
        };
        let target = Target { operation: op, bucket: Some(bucket), key: Some(key), headers, uri };
        self.authz.check(&caller, &target, ext, extra).await
    }
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name().to_owned();
        if let Some(slot) = cx.extensions_mut().get::<OpSlot>()
            && let Ok(mut g) = slot.0.lock()
        {
            *g = Some(op.clone());
        }
        holdfast_audit::scope::update_current(|a| a.op = Some(op.clone()));
        // The one parse of the retain-until header, for everything after that reads it; W4
        // is judged here, before s3s parses the header (and would refuse it in its own words).
        if let Some(until) = crate::convert::RetainUntil::parse(cx.headers()) {
            if let Err(denial) = &until.0
                && matches!(op.as_str(), "PutObject" | "CopyObject" | "CreateMultipartUpload")
            {
                return Err(crate::error::write_denial(denial.clone()));
            }
            cx.extensions_mut().insert(until);
        }
        let caller = self.caller(cx.credentials().map(|c| c.access_key.as_str())).await?;
        {
            let (bucket, key) = Target::of_path(cx.s3_path());
            let (bucket, key) = (bucket.map(str::to_owned), key.map(str::to_owned));
            let version_id = cx.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("versionId="))
                    .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
            });
            let principal = crate::audit::principal_name(&caller, self.authz.directory().account_id());
            crate::audit::AuditSlot::update(cx.extensions_mut(), |f| {
                f.principal = Some(principal);
                f.bucket = bucket;
                f.key = key;
                f.version_id = version_id.filter(|v| !v.is_empty());
            });
        }
        // the body must match the operation's schema exactly before s3s parses it
        // (s3s skips what it does not know, which could read as "no protection").
        if let Some(schema) = crate::strict_xml::schema(&op) {
            let body = cx.extensions_mut().get::<crate::XmlBody>().map(|b| b.0.clone());
            match body {
                // No body at all: the operation answers MissingRequestBodyError (B17).
                Some(body) if body.is_empty() => {}
                Some(body) => crate::strict_xml::validate(schema, &body).map_err(|m| {
                    tracing::debug!(%op, reason = %m.0, "malformed XML body");
                    s3_error!(
                        MalformedXML,
                        "The XML you provided was not well-formed or did not validate against our published schema"
                    )
                })?,
                // Only an aws-chunked body is not kept: it cannot be checked before s3s reads it.
                None => {
                    return Err(s3_error!(
                        InvalidRequest,
                        "This operation does not accept an aws-chunked (streaming) body; send the XML with a Content-Length"
                    ));
                }
            }
        }
        if matches!(op.as_str(), "PutObjectRetention" | "PutObjectLegalHold" | "PutObjectTagging") {
            // Judged once the body is parsed (its values are condition keys).
            cx.extensions_mut().insert(Caller(caller));
            return Ok(());
        }
        let (bucket, key) = Target::of_path(cx.s3_path());
        let (bucket, key) = (bucket.map(str::to_owned), key.map(str::to_owned));
        let (headers, uri) = (cx.headers().clone(), cx.uri().clone());
        let target =
            Target { operation: &op, bucket: bucket.as_deref(), key: key.as_deref(), headers: &headers, uri: &uri };
        self.authz.check(&caller, &target, cx.extensions_mut(), |_| {}).await
    }

    async fn put_object_retention(&self, req: &mut S3Request<PutObjectRetentionInput>) -> S3Result<()> {
        let retention = req.input.retention.as_ref().and_then(|r| {
            let mode = r.mode.as_ref()?.as_str().to_owned();
            let until = holdfast_lock::UtcMillis::from_offset_datetime(r.retain_until_date.clone()?.into());
            Some((mode, until))
        });
        let ak = req.credentials.as_ref().map(|c| c.access_key.clone());
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.check_parsed(
            "PutObjectRetention",
            &bucket,
            &key,
            ak.as_deref(),
            &req.headers,
            &req.uri,
            &mut req.extensions,
            |cx| {
                if let Some((mode, until)) = retention {
                    let now = holdfast_lock::UtcMillis::now_system().millis();
                    cx.set_requested_retention(&mode, until.millis(), now);
                }
            },
        )
        .await
    }

    /// The requested tags are condition keys (`s3:RequestObjectTag/<key>`,
    /// `s3:RequestObjectTagKeys`); a body that breaks the limits is refused by the operation.
    async fn put_object_tagging(&self, req: &mut S3Request<PutObjectTaggingInput>) -> S3Result<()> {
        let tags = crate::tags::tags_from_body(&req.input.tagging, false).ok();
        let ak = req.credentials.as_ref().map(|c| c.access_key.clone());
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.check_parsed(
            "PutObjectTagging",
            &bucket,
            &key,
            ak.as_deref(),
            &req.headers,
            &req.uri,
            &mut req.extensions,
            |cx| {
                if let Some(tags) = &tags {
                    crate::tags::request_tag_keys(cx, tags);
                }
            },
        )
        .await
    }

    async fn put_object_legal_hold(&self, req: &mut S3Request<PutObjectLegalHoldInput>) -> S3Result<()> {
        let hold = req.input.legal_hold.as_ref().and_then(|h| h.status.as_ref()).map(|s| s.as_str() == "ON");
        let ak = req.credentials.as_ref().map(|c| c.access_key.clone());
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.check_parsed(
            "PutObjectLegalHold",
            &bucket,
            &key,
            ak.as_deref(),
            &req.headers,
            &req.uri,
            &mut req.extensions,
            |cx| {
                if let Some(on) = hold {
                    cx.set_requested_legal_hold(on);
                }
            },
        )
        .await
    }
}
