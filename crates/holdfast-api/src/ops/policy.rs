//! Bucket policies: Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus. A policy is
//! validated when it is stored (400 MalformedPolicy for what AWS refuses), kept as sent.

use crate::Gateway;
use crate::error::{meta_error, with_resource};
use holdfast_identity::IdentityStore;
use holdfast_policy::{Effect, Matcher, Policy, PrincipalId, Principals};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

/// Largest bucket policy AWS accepts.
const MAX_POLICY_BYTES: usize = 20 * 1024;

fn no_policy(bucket: &str) -> S3Error {
    crate::error::bucket_error(S3ErrorCode::NoSuchBucketPolicy, "The bucket policy does not exist", bucket)
}

/// AWS calls a policy public when it allows anyone (`Principal: "*"`) without a condition
/// that narrows who that can be.
fn is_public(policy: &Policy) -> bool {
    policy.statements.iter().any(|s| {
        let everyone = match &s.principal {
            Some(Matcher::Is(Principals::Everyone)) => true,
            Some(Matcher::Is(Principals::Listed(ids))) => ids.contains(&PrincipalId::Everyone),
            _ => false,
        };
        s.effect == Effect::Allow && everyone && s.conditions.is_empty()
    })
}

impl Gateway {
    fn identity_store(&self) -> &std::sync::Arc<dyn IdentityStore> {
        self.dir.store()
    }

    pub(crate) async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        if input.policy.len() > MAX_POLICY_BYTES {
            return Err(S3Error::with_message(S3ErrorCode::MalformedPolicy, "Policies must be less than 20 KB"));
        }
        // aws_strict = false stores what ceph/s3-tests stores: a statement whose actions cannot
        // act on its resources (it never applies). AWS refuses it.
        let parsed = if self.config.aws_strict {
            Policy::parse_bucket(&input.policy, &input.bucket)
        } else {
            Policy::parse_bucket_permissive(&input.policy, &input.bucket)
        };
        parsed.map_err(|e| S3Error::with_message(S3ErrorCode::MalformedPolicy, e.to_string()))?;
        self.identity_store()
            .set_bucket_policy(&input.bucket, Some(&input.policy))
            .await
            .map_err(|e| with_resource(meta_error(e), &input.bucket, None))?;
        Ok(S3Response::with_status(PutBucketPolicyOutput {}, http::StatusCode::NO_CONTENT))
    }

    pub(crate) async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let bucket = req.input.bucket;
        self.bucket(&bucket).await?;
        let policy = self
            .identity_store()
            .bucket_policy(&bucket)
            .await
            .map_err(|e| with_resource(meta_error(e), &bucket, None))?
            .ok_or_else(|| no_policy(&bucket))?;
        Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
    }

    pub(crate) async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        let bucket = req.input.bucket;
        self.bucket(&bucket).await?;
        self.identity_store()
            .set_bucket_policy(&bucket, None)
            .await
            .map_err(|e| with_resource(meta_error(e), &bucket, None))?;
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }

    pub(crate) async fn get_bucket_policy_status(
        &self,
        req: S3Request<GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
        let bucket = req.input.bucket;
        self.bucket(&bucket).await?;
        let doc = self
            .identity_store()
            .bucket_policy(&bucket)
            .await
            .map_err(|e| with_resource(meta_error(e), &bucket, None))?;
        // Without a policy AWS answers 404 NoSuchBucketPolicy; ceph/s3-tests expects "not
        // public" (Holdfast has no ACLs, so no policy means nothing is public).
        let doc = match doc {
            Some(doc) => doc,
            None if self.config.aws_strict => return Err(no_policy(&bucket)),
            None => {
                return Ok(S3Response::new(GetBucketPolicyStatusOutput {
                    policy_status: Some(PolicyStatus { is_public: Some(false) }),
                }));
            }
        };
        let public = Policy::parse_bucket_permissive(&doc, &bucket).map(|p| is_public(&p)).unwrap_or(false);
        Ok(S3Response::new(GetBucketPolicyStatusOutput {
            policy_status: Some(PolicyStatus { is_public: Some(public) }),
        }))
    }
}
