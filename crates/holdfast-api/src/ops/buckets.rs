//! Bucket operations: create, delete, head, list, location, versioning.

use crate::Gateway;
use crate::convert::ts;
use crate::error::{engine_error, meta_error, with_resource};
use holdfast_engine::EngineError;
use holdfast_engine::model::Versioning;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

impl Gateway {
    pub(crate) async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let input = req.input;
        let caller_account = self.caller_account(&req.extensions);
        if let Some(loc) = input.create_bucket_configuration.as_ref().and_then(|c| c.location_constraint.as_ref())
            && loc.as_str() != self.config.region
        {
            return Err(s3_error!(InvalidLocationConstraint, "The specified location-constraint is not valid"));
        }
        self.check_create_bucket_acl(&req.headers, &caller_account)?;
        let lock = input.object_lock_enabled_for_bucket.unwrap_or(false);
        // Bucket names are global: another account's bucket is not yours to re-create.
        if self.engine.bucket(&input.bucket).await.map_err(engine_error)?.is_some()
            && self.bucket_account(&input.bucket).await? != caller_account
        {
            return Err(s3_error!(
                BucketAlreadyExists,
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
            ));
        }
        let created = self.engine.create_bucket(&input.bucket, lock).await;
        if created.is_ok() && caller_account != self.dir.account_id() {
            self.dir.store().set_bucket_owner(&input.bucket, &caller_account).await.map_err(meta_error)?;
        }
        match created {
            // AWS CreateBucket: re-creating a bucket you own answers 200 in us-east-1 (legacy
            // behaviour) and 409 BucketAlreadyOwnedByYou in every other region. The existing
            // bucket is left as it is, so asking for Object Lock on a bucket without it is
            // still refused rather than answered with a 200 that did not enable anything.
            Err(EngineError::Meta(holdfast_engine::model::MetaError::BucketAlreadyOwnedByYou))
                if self.config.region == "us-east-1" && (!lock || self.bucket(&input.bucket).await?.lock_enabled) => {}
            other => other.map_err(engine_error)?,
        }
        Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{}", input.bucket)) }))
    }

    pub(crate) async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let name = req.input.bucket;
        self.engine.delete_bucket(&name).await.map_err(|e| with_resource(engine_error(e), &name, None))?;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub(crate) async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput { bucket_region: Some(self.config.region.clone()), ..Default::default() }))
    }

    pub(crate) async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let prefix = req.input.prefix.unwrap_or_default();
        let caller_account = self.caller_account(&req.extensions);
        let owners: std::collections::HashMap<String, String> =
            self.dir.store().bucket_owners().await.map_err(meta_error)?.into_iter().collect();
        let mine = |name: &str| owners.get(name).map_or(self.dir.account_id(), String::as_str) == caller_account;
        let buckets = self.engine.buckets().await.map_err(engine_error)?;
        let buckets = buckets
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix) && mine(&b.name))
            .map(|b| Bucket {
                bucket_region: Some(self.config.region.clone()),
                creation_date: Some(ts(b.created)),
                name: Some(b.name),
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(s3s::dto::Owner {
                display_name: Some("holdfast".into()),
                id: Some(self.dir.canonical_id(&caller_account).to_owned()),
            }),
            prefix: (!prefix.is_empty()).then_some(prefix),
            continuation_token: None,
        }))
    }

    pub(crate) async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket(&req.input.bucket).await?;
        // us-east-1 is reported as an empty LocationConstraint, as AWS does.
        let location_constraint =
            (self.config.region != "us-east-1").then(|| BucketLocationConstraint::from(self.config.region.clone()));
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
    }

    pub(crate) async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let status = input.versioning_configuration.status.as_ref().map(BucketVersioningStatus::as_str);
        let versioning = match status {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            _ => {
                return Err(s3_error!(
                    MalformedXML,
                    "The XML you provided was not well-formed or did not validate against our published schema"
                ));
            }
        };
        if input.versioning_configuration.mfa_delete.as_ref().is_some_and(|m| m.as_str() == "Enabled") {
            return Err(s3_error!(NotImplemented, "MFA Delete is not supported"));
        }
        self.bucket(&input.bucket).await?;
        self.engine.set_versioning(&input.bucket, versioning).await.map_err(engine_error)?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    pub(crate) async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let b = self.bucket(&req.input.bucket).await?;
        let status = match b.versioning {
            Versioning::Unversioned => None,
            Versioning::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
            Versioning::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
        };
        Ok(S3Response::new(GetBucketVersioningOutput { status, mfa_delete: None }))
    }

    /// The account the request acts for (the installation's own for anonymous callers).
    fn caller_account(&self, ext: &http::Extensions) -> String {
        ext.get::<crate::access::Caller>()
            .and_then(|c| self.dir.account_of(&c.0).map(str::to_owned))
            .unwrap_or_else(|| self.dir.account_id().to_owned())
    }

    pub(crate) async fn bucket_account(&self, bucket: &str) -> S3Result<String> {
        let owner = self.dir.store().bucket_owner(bucket).await.map_err(meta_error)?;
        Ok(owner.unwrap_or_else(|| self.dir.account_id().to_owned()))
    }
}
