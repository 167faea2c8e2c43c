//! ACLs as Amazon S3 answers them with ACLs disabled (Object Ownership
//! `BucketOwnerEnforced`, the default of every bucket since April 2023), the only setting
//! Holdfast has: the bucket's owning account owns every object and holds FULL_CONTROL;
//! access is decided by policies alone.
//!
//! Reads answer that owner. A write may name no ACL, or bucket-owner full control (the canned
//! `bucket-owner-full-control`, or grants naming only the owner); anything else, `private`
//! included, is 400 AccessControlListNotSupported (AWS, "Troubleshooting Object Ownership";
//! ceph/s3-tests `_test_object_ownership_bucket_owner_enforced`). CreateBucket also takes
//! `private`, the one bucket ACL compatible with the setting, and refuses other ACLs with
//! 400 InvalidBucketAclWithObjectOwnership.

use crate::Gateway;
use crate::error::{engine_error, with_resource};
use holdfast_engine::version_selector;
use http::{HeaderMap, StatusCode};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

const ENFORCED: &str = ObjectOwnership::BUCKET_OWNER_ENFORCED;
const OWNER_FULL_CONTROL: &str = "bucket-owner-full-control";

fn acl_not_supported() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("AccessControlListNotSupported".into()),
        "The bucket does not allow ACLs",
    );
    e.set_status_code(StatusCode::BAD_REQUEST);
    e
}

fn bucket_acl_refused() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("InvalidBucketAclWithObjectOwnership".into()),
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
    );
    e.set_status_code(StatusCode::BAD_REQUEST);
    e
}

/// ObjectWriter and BucketOwnerPreferred would enable ACLs, which Holdfast does not keep.
fn acls_not_implemented(what: &str) -> S3Error {
    s3_error!(
        NotImplemented,
        "{what}: Holdfast supports only ObjectOwnership BucketOwnerEnforced (ACLs disabled); use bucket policies"
    )
}

/// `id="c1", id=c2` of an `x-amz-grant-*` header: whether every grantee is `id` = `owner`.
fn grants_only(value: &str, owner: &str) -> bool {
    value.split(',').all(|g| {
        let Some((kind, who)) = g.trim().split_once('=') else { return false };
        kind.trim().eq_ignore_ascii_case("id") && who.trim().trim_matches('"') == owner
    })
}

/// Whether the ACL headers of a request ask for bucket-owner full control at most: none,
/// the canned `bucket-owner-full-control` (and `private` where `private_ok`), or only
/// `x-amz-grant-full-control` naming the owner.
fn headers_allowed(h: &HeaderMap, owner: &str, private_ok: bool) -> bool {
    let canned = h
        .get_all("x-amz-acl")
        .iter()
        .all(|v| v.to_str().is_ok_and(|v| v == OWNER_FULL_CONTROL || (private_ok && v == ObjectCannedACL::PRIVATE)));
    let grants = h
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-amz-grant-"))
        .all(|(k, v)| k.as_str() == "x-amz-grant-full-control" && v.to_str().is_ok_and(|v| grants_only(v, owner)));
    canned && grants
}

fn has_acl_headers(h: &HeaderMap) -> bool {
    h.contains_key("x-amz-acl") || h.keys().any(|k| k.as_str().starts_with("x-amz-grant-"))
}

/// A policy body granting exactly the owner FULL_CONTROL (and naming no other owner).
fn policy_is_owner_only(p: &AccessControlPolicy, owner: &str) -> bool {
    let owner_ok = p.owner.as_ref().is_none_or(|o| o.id.as_deref().is_none_or(|id| id == owner));
    let grants = p.grants.as_deref().unwrap_or_default();
    owner_ok
        && !grants.is_empty()
        && grants.iter().all(|g| {
            g.permission.as_ref().is_some_and(|p| p.as_str() == Permission::FULL_CONTROL)
                && g.grantee.as_ref().is_some_and(|e| {
                    e.type_.as_str() == Type::CANONICAL_USER
                        && e.id.as_deref() == Some(owner)
                        && e.uri.is_none()
                        && e.email_address.is_none()
                })
        })
}

impl Gateway {
    /// The one ACL an object or bucket has: its bucket's owning account, FULL_CONTROL.
    async fn owner_acl(&self, bucket: &str) -> S3Result<(Owner, Grants)> {
        let owner = self.owner_of(bucket).await?;
        let grant = Grant {
            grantee: Some(Grantee {
                display_name: owner.display_name.clone(),
                email_address: None,
                id: owner.id.clone(),
                type_: Type::from_static(Type::CANONICAL_USER),
                uri: None,
            }),
            permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
        };
        Ok((owner, vec![grant]))
    }

    async fn owner_id(&self, bucket: &str) -> S3Result<String> {
        Ok(self.owner_of(bucket).await?.id.unwrap_or_default())
    }

    /// The ACL headers of PutObject, CreateMultipartUpload and CopyObject into `bucket`
    /// (which exists): bucket-owner full control or nothing.
    pub(crate) async fn check_object_acl_headers(&self, h: &HeaderMap, bucket: &str) -> S3Result<()> {
        if !has_acl_headers(h) || headers_allowed(h, &self.owner_id(bucket).await?, false) {
            return Ok(());
        }
        Err(acl_not_supported())
    }

    /// CreateBucket: `x-amz-object-ownership` and the bucket ACL headers, judged before the
    /// bucket is made. The new bucket's owner is the caller's account.
    pub(crate) fn check_create_bucket_acl(&self, h: &HeaderMap, account: &str) -> S3Result<()> {
        match h.get("x-amz-object-ownership").map(|v| v.to_str().unwrap_or_default()) {
            None | Some(ENFORCED) => {}
            Some(v @ (ObjectOwnership::OBJECT_WRITER | ObjectOwnership::BUCKET_OWNER_PREFERRED)) => {
                return Err(acls_not_implemented(&format!("ObjectOwnership {v}")));
            }
            Some(_) => return Err(s3_error!(InvalidArgument, "Invalid x-amz-object-ownership header")),
        }
        if !has_acl_headers(h) || headers_allowed(h, self.dir.canonical_id(account), true) {
            return Ok(());
        }
        Err(bucket_acl_refused())
    }

    pub(crate) async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.bucket(&req.input.bucket).await?;
        let (owner, grants) = self.owner_acl(&req.input.bucket).await?;
        Ok(S3Response::new(GetBucketAclOutput { grants: Some(grants), owner: Some(owner) }))
    }

    pub(crate) async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let owner = self.owner_id(&input.bucket).await?;
        let canned_ok = input.acl.as_ref().is_none_or(|a| a.as_str() == OWNER_FULL_CONTROL);
        let body_ok = input.access_control_policy.as_ref().is_none_or(|p| policy_is_owner_only(p, &owner));
        let asked = input.acl.is_some() || input.access_control_policy.is_some() || has_acl_headers(&req.headers);
        if asked && canned_ok && body_ok && headers_allowed(&req.headers, &owner, false) {
            return Ok(S3Response::new(PutBucketAclOutput {}));
        }
        Err(acl_not_supported())
    }

    pub(crate) async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        self.acl_target(&input.bucket, &input.key, input.version_id).await?;
        let (owner, grants) = self.owner_acl(&input.bucket).await?;
        Ok(S3Response::new(GetObjectAclOutput { grants: Some(grants), owner: Some(owner), request_charged: None }))
    }

    pub(crate) async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        self.acl_target(&input.bucket, &input.key, input.version_id).await?;
        let owner = self.owner_id(&input.bucket).await?;
        let canned_ok = input.acl.as_ref().is_none_or(|a| a.as_str() == OWNER_FULL_CONTROL);
        let body_ok = input.access_control_policy.as_ref().is_none_or(|p| policy_is_owner_only(p, &owner));
        let asked = input.acl.is_some() || input.access_control_policy.is_some() || has_acl_headers(&req.headers);
        if asked && canned_ok && body_ok && headers_allowed(&req.headers, &owner, false) {
            return Ok(S3Response::new(PutObjectAclOutput { request_charged: None }));
        }
        Err(acl_not_supported())
    }

    /// The version an object ACL request names must exist (404 NoSuchKey / NoSuchVersion;
    /// a delete marker as GetObject answers it).
    async fn acl_target(&self, bucket: &str, key: &str, version_id: Option<String>) -> S3Result<()> {
        if crate::ops::sosapi::is_system_key(key) && self.sosapi_enabled(bucket).await? {
            return Ok(());
        }
        let sel = version_selector(version_id).map_err(engine_error)?;
        self.engine
            .resolve_object(bucket, key, &sel)
            .await
            .map_err(|e| with_resource(engine_error(e), bucket, Some(key)))?;
        Ok(())
    }

    pub(crate) async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        self.bucket(&req.input.bucket).await?;
        let rule = OwnershipControlsRule { object_ownership: ObjectOwnership::from_static(ENFORCED) };
        Ok(S3Response::new(GetBucketOwnershipControlsOutput {
            ownership_controls: Some(OwnershipControls { rules: vec![rule] }),
        }))
    }

    pub(crate) async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let input = req.input;
        self.bucket(&input.bucket).await?;
        let rules = &input.ownership_controls.rules;
        let malformed = || {
            s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            )
        };
        let [rule] = rules.as_slice() else { return Err(malformed()) };
        match rule.object_ownership.as_str() {
            ENFORCED => Ok(S3Response::new(PutBucketOwnershipControlsOutput {})),
            v @ (ObjectOwnership::OBJECT_WRITER | ObjectOwnership::BUCKET_OWNER_PREFERRED) => {
                Err(acls_not_implemented(&format!("ObjectOwnership {v}")))
            }
            _ => Err(malformed()),
        }
    }

    /// 204 as AWS answers it, and nothing changes: Holdfast has no other setting to fall
    /// back to, so the bucket keeps behaving, and GetBucketOwnershipControls keeps
    /// answering, BucketOwnerEnforced (AWS would then answer 404
    /// OwnershipControlsNotFoundError and enable ACLs, as ObjectWriter).
    pub(crate) async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.bucket(&req.input.bucket).await?;
        Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_bucket_owner_full_control_passes() {
        let ok = |pairs: &[(&str, &str)], private_ok| headers_allowed(&headers(pairs), "abc", private_ok);
        assert!(ok(&[], false));
        assert!(ok(&[("x-amz-acl", "bucket-owner-full-control")], false));
        assert!(!ok(&[("x-amz-acl", "private")], false), "AWS refuses private on object writes");
        assert!(ok(&[("x-amz-acl", "private")], true), "CreateBucket takes private");
        assert!(!ok(&[("x-amz-acl", "public-read")], true));
        assert!(ok(&[("x-amz-grant-full-control", "id=\"abc\"")], false));
        assert!(ok(&[("x-amz-grant-full-control", "id=abc, ID=\"abc\"")], false));
        assert!(!ok(&[("x-amz-grant-full-control", "id=\"abc\", id=\"other\"")], false));
        assert!(!ok(&[("x-amz-grant-full-control", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")], false));
        assert!(!ok(&[("x-amz-grant-read", "id=\"abc\"")], false));
        assert!(!ok(&[("x-amz-grant-full-control", "emailAddress=\"a@b\"")], false));
    }

    #[test]
    fn policy_must_grant_the_owner_alone() {
        let grant = |id: &str, perm: &str| Grant {
            grantee: Some(Grantee {
                display_name: None,
                email_address: None,
                id: Some(id.into()),
                type_: Type::from_static(Type::CANONICAL_USER),
                uri: None,
            }),
            permission: Some(Permission::from(perm.to_owned())),
        };
        let policy = |grants| AccessControlPolicy { grants: Some(grants), owner: None };
        assert!(policy_is_owner_only(&policy(vec![grant("abc", "FULL_CONTROL")]), "abc"));
        assert!(!policy_is_owner_only(&policy(vec![grant("abc", "READ")]), "abc"));
        assert!(!policy_is_owner_only(&policy(vec![grant("abc", "FULL_CONTROL"), grant("x", "READ")]), "abc"));
        assert!(!policy_is_owner_only(&policy(vec![]), "abc"), "an empty ACL removes the owner's grant");
    }
}
