//! Which IAM actions AWS evaluates for each S3 operation, and on which resource.
//!
//! Sources: the AWS Service Authorization Reference, "Actions, resources, and condition keys for
//! Amazon S3" (docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html,
//! its "API operations defined by Amazon S3" table), and the S3 User Guide page "Required
//! permissions for Amazon S3 API operations" (AmazonS3/latest/userguide/using-with-s3-policy-
//! actions.html), plus the Object Lock extras of spec §7 P1. Operation names are those of s3s
//! (`s3s::ops`), which follow the S3 API reference.

use crate::glob::wildcard_match_ignore_case;

/// What the action is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// No resource type (`s3:ListAllMyBuckets`): evaluate against [`ACCOUNT_RESOURCE`].
    Account,
    /// `arn:aws:s3:::bucket` ([`bucket_arn`]).
    Bucket,
    /// `arn:aws:s3:::bucket/key` ([`object_arn`]) of the request's object.
    Object,
    /// The object ARN of the copy source (CopyObject, UploadPartCopy).
    CopySource,
}

/// Whether a denied check fails the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Denied → the request fails with AccessDenied.
    Required,
    /// Denied → the request goes on without the feature: lock headers are left out of a
    /// GET/HEAD response (spec G2), or a bypass header has no effect (spec P4).
    Optional,
}

/// One action the server must evaluate for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionCheck {
    pub action: &'static str,
    pub resource: ResourceKind,
    pub need: Need,
}

/// What about a request changes the actions AWS evaluates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestTraits {
    /// `versionId` names a version (the `...Version` actions).
    pub version_id: bool,
    /// The copy source names a version (`s3:GetObjectVersion` on the source).
    pub source_version_id: bool,
    /// `x-amz-object-lock-mode` + `x-amz-object-lock-retain-until-date` on a write.
    pub lock_retention: bool,
    /// `x-amz-object-lock-legal-hold` on a write.
    pub lock_legal_hold: bool,
    /// `x-amz-bypass-governance-retention: true`.
    pub bypass_governance: bool,
    /// `x-amz-bucket-object-lock-enabled: true` on CreateBucket.
    pub object_lock_enabled: bool,
    /// A canned ACL or `x-amz-grant-*` header on CreateBucket (`s3:PutBucketAcl`). On object
    /// writes these headers add no action, only condition keys.
    pub acl: bool,
    /// `x-amz-tagging` on a write.
    pub tagging: bool,
    /// A replication request from another Holdfast (a PutObject, or a request of a
    /// replication upload, carrying the source version id): authorised as AWS authorises a
    /// replication role on the destination.
    pub replication: bool,
    /// ...of a delete marker (`s3:ReplicateDelete`).
    pub replication_marker: bool,
}

/// The resource of actions without a resource type: matched by `"Resource": "*"` and by
/// `"arn:aws:s3:::*"` alike.
pub const ACCOUNT_RESOURCE: &str = "arn:aws:s3:::*";

pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

pub fn object_arn(bucket: &str, key: &str) -> String {
    format!("arn:aws:s3:::{bucket}/{key}")
}

/// The actions AWS evaluates for the S3 operation `operation` (an s3s operation name), or `None`
/// for an operation this table does not know (refuse it rather than guess).
///
/// `DeleteObjects` is evaluated per key: call this once per entry with that entry's traits.
pub fn actions_for(operation: &str, t: &RequestTraits) -> Option<Vec<ActionCheck>> {
    use Need::{Optional, Required};
    use ResourceKind::{Account, Bucket, CopySource, Object};
    let v = t.version_id;
    let mut checks = vec![];
    let mut add = |action: &'static str, resource: ResourceKind, need: Need| {
        checks.push(ActionCheck { action, resource, need });
    };
    let by_version = |plain: &'static str, versioned: &'static str| if v { versioned } else { plain };

    match operation {
        // A replica written by another Holdfast: s3:ReplicateObject (its lock headers and, by
        // the condition keys, a destination policy capping retention apply to it), and
        // s3:ReplicateTags when it carries tags (AWS's replication permissions).
        "PutObject" if t.replication && t.replication_marker => add("s3:ReplicateDelete", Object, Required),
        // A large replica goes as a replication upload: each of its requests carries the
        // source version id and is authorised as the replication PUT is.
        "PutObject" | "CreateMultipartUpload" if t.replication => {
            add("s3:ReplicateObject", Object, Required);
            if t.tagging {
                add("s3:ReplicateTags", Object, Required);
            }
        }
        "UploadPart" | "CompleteMultipartUpload" | "AbortMultipartUpload" if t.replication => {
            add("s3:ReplicateObject", Object, Required);
        }
        // Writes of new object data. Lock headers need their own actions (spec §7 P1).
        "PutObject" | "PostObject" | "CreateMultipartUpload" | "CopyObject" => {
            add("s3:PutObject", Object, Required);
            if t.lock_retention {
                add("s3:PutObjectRetention", Object, Required);
            }
            if t.lock_legal_hold {
                add("s3:PutObjectLegalHold", Object, Required);
            }
            if t.tagging {
                add("s3:PutObjectTagging", Object, Required);
            }
            // ACL headers (x-amz-acl, x-amz-grant-*) need no s3:PutObjectAcl here: the bucket
            // owner governs them with the s3:x-amz-acl / s3:x-amz-grant-* condition keys on
            // s3:PutObject (S3 User Guide, "Policy examples for ACLs": a user granted only
            // s3:PutObject uploads with --grant-full-control or --acl).
            if operation == "CopyObject" {
                add(source_read(t), CopySource, Required);
            }
        }
        "UploadPart" | "CompleteMultipartUpload" => add("s3:PutObject", Object, Required),
        "UploadPartCopy" => {
            add("s3:PutObject", Object, Required);
            add(source_read(t), CopySource, Required);
        }
        "AbortMultipartUpload" => add("s3:AbortMultipartUpload", Object, Required),
        "ListParts" => add("s3:ListMultipartUploadParts", Object, Required),

        // Reads. Lock state in GET/HEAD responses is shown only to those allowed to read it.
        "GetObject" | "HeadObject" => {
            add(by_version("s3:GetObject", "s3:GetObjectVersion"), Object, Required);
            add("s3:GetObjectRetention", Object, Optional);
            add("s3:GetObjectLegalHold", Object, Optional);
            // Decides whether a missing key is 404 (allowed) or 403 (AWS GetObject/HeadObject).
            add("s3:ListBucket", Bucket, Optional);
            // x-amz-tagging-count is shown to those allowed to read the tags (AWS GetObject).
            add(by_version("s3:GetObjectTagging", "s3:GetObjectVersionTagging"), Object, Optional);
        }
        "GetObjectAttributes" => {
            add(by_version("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"), Object, Required)
        }
        "GetObjectAcl" => add(by_version("s3:GetObjectAcl", "s3:GetObjectVersionAcl"), Object, Required),
        "PutObjectAcl" => add(by_version("s3:PutObjectAcl", "s3:PutObjectVersionAcl"), Object, Required),
        "GetObjectTagging" => add(by_version("s3:GetObjectTagging", "s3:GetObjectVersionTagging"), Object, Required),
        "PutObjectTagging" => add(by_version("s3:PutObjectTagging", "s3:PutObjectVersionTagging"), Object, Required),
        "DeleteObjectTagging" => {
            add(by_version("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"), Object, Required);
        }
        "GetObjectTorrent" => add(by_version("s3:GetObjectTorrent", "s3:GetObjectVersionTorrent"), Object, Required),
        "SelectObjectContent" => add("s3:GetObject", Object, Required),
        "RestoreObject" => add("s3:RestoreObject", Object, Required),

        // Deletes: a version id makes it DeleteObjectVersion; bypass is its own permission.
        "DeleteObject" | "DeleteObjects" => {
            add(by_version("s3:DeleteObject", "s3:DeleteObjectVersion"), Object, Required);
            if t.bypass_governance {
                add("s3:BypassGovernanceRetention", Object, Optional);
            }
        }

        // Object Lock on objects and buckets.
        "PutObjectRetention" => {
            add("s3:PutObjectRetention", Object, Required);
            if t.bypass_governance {
                add("s3:BypassGovernanceRetention", Object, Optional);
            }
        }
        "GetObjectRetention" => add("s3:GetObjectRetention", Object, Required),
        "PutObjectLegalHold" => add("s3:PutObjectLegalHold", Object, Required),
        "GetObjectLegalHold" => add("s3:GetObjectLegalHold", Object, Required),
        "PutObjectLockConfiguration" => add("s3:PutBucketObjectLockConfiguration", Bucket, Required),
        "GetObjectLockConfiguration" => add("s3:GetBucketObjectLockConfiguration", Bucket, Required),

        // Buckets.
        "CreateBucket" => {
            add("s3:CreateBucket", Bucket, Required);
            if t.object_lock_enabled {
                add("s3:PutBucketObjectLockConfiguration", Bucket, Required);
                add("s3:PutBucketVersioning", Bucket, Required);
            }
            if t.acl {
                add("s3:PutBucketAcl", Bucket, Required);
            }
        }
        "ListBuckets" => add("s3:ListAllMyBuckets", Account, Required),
        // S3 Control's job API (lock jobs): account-wide actions.
        "CreateJob" => add("s3:CreateJob", Account, Required),
        "DescribeJob" => add("s3:DescribeJob", Account, Required),
        "ListJobs" => add("s3:ListJobs", Account, Required),
        "UpdateJobStatus" => add("s3:UpdateJobStatus", Account, Required),
        "UpdateJobPriority" => add("s3:UpdateJobPriority", Account, Required),
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => add("s3:ListBucket", Bucket, Required),
        "ListObjectVersions" => add("s3:ListBucketVersions", Bucket, Required),
        "ListMultipartUploads" => add("s3:ListBucketMultipartUploads", Bucket, Required),
        other => add(bucket_action(other)?, Bucket, Required),
    }
    Some(checks)
}

fn source_read(t: &RequestTraits) -> &'static str {
    if t.source_version_id { "s3:GetObjectVersion" } else { "s3:GetObject" }
}

/// Bucket subresource operations: one action on the bucket ARN. Deleting a configuration is
/// authorised by the action that writes it, except for the policy and the website.
fn bucket_action(operation: &str) -> Option<&'static str> {
    Some(match operation {
        "DeleteBucket" => "s3:DeleteBucket",
        "GetBucketLocation" => "s3:GetBucketLocation",
        "GetBucketPolicy" => "s3:GetBucketPolicy",
        "PutBucketPolicy" => "s3:PutBucketPolicy",
        "DeleteBucketPolicy" => "s3:DeleteBucketPolicy",
        "GetBucketPolicyStatus" => "s3:GetBucketPolicyStatus",
        "GetBucketVersioning" => "s3:GetBucketVersioning",
        "PutBucketVersioning" => "s3:PutBucketVersioning",
        "GetBucketAcl" => "s3:GetBucketAcl",
        "PutBucketAcl" => "s3:PutBucketAcl",
        "GetBucketCors" => "s3:GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "s3:PutBucketCORS",
        "GetBucketEncryption" => "s3:GetEncryptionConfiguration",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "s3:PutEncryptionConfiguration",
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "s3:PutLifecycleConfiguration",
        "GetBucketTagging" => "s3:GetBucketTagging",
        "PutBucketTagging" | "DeleteBucketTagging" => "s3:PutBucketTagging",
        "GetBucketWebsite" => "s3:GetBucketWebsite",
        "PutBucketWebsite" => "s3:PutBucketWebsite",
        "DeleteBucketWebsite" => "s3:DeleteBucketWebsite",
        "GetBucketReplication" => "s3:GetReplicationConfiguration",
        "PutBucketReplication" | "DeleteBucketReplication" => "s3:PutReplicationConfiguration",
        "GetBucketLogging" => "s3:GetBucketLogging",
        "PutBucketLogging" => "s3:PutBucketLogging",
        "GetBucketNotificationConfiguration" => "s3:GetBucketNotification",
        "PutBucketNotificationConfiguration" => "s3:PutBucketNotification",
        "GetBucketRequestPayment" => "s3:GetBucketRequestPayment",
        "PutBucketRequestPayment" => "s3:PutBucketRequestPayment",
        "GetBucketAccelerateConfiguration" => "s3:GetAccelerateConfiguration",
        "PutBucketAccelerateConfiguration" => "s3:PutAccelerateConfiguration",
        "GetBucketOwnershipControls" => "s3:GetBucketOwnershipControls",
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => "s3:PutBucketOwnershipControls",
        "GetPublicAccessBlock" => "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "s3:PutBucketPublicAccessBlock",
        "GetBucketAnalyticsConfiguration" | "ListBucketAnalyticsConfigurations" => "s3:GetAnalyticsConfiguration",
        "PutBucketAnalyticsConfiguration" | "DeleteBucketAnalyticsConfiguration" => "s3:PutAnalyticsConfiguration",
        "GetBucketInventoryConfiguration" | "ListBucketInventoryConfigurations" => "s3:GetInventoryConfiguration",
        "PutBucketInventoryConfiguration" | "DeleteBucketInventoryConfiguration" => "s3:PutInventoryConfiguration",
        "GetBucketMetricsConfiguration" | "ListBucketMetricsConfigurations" => "s3:GetMetricsConfiguration",
        "PutBucketMetricsConfiguration" | "DeleteBucketMetricsConfiguration" => "s3:PutMetricsConfiguration",
        "GetBucketIntelligentTieringConfiguration" | "ListBucketIntelligentTieringConfigurations" => {
            "s3:GetIntelligentTieringConfiguration"
        }
        "PutBucketIntelligentTieringConfiguration" | "DeleteBucketIntelligentTieringConfiguration" => {
            "s3:PutIntelligentTieringConfiguration"
        }
        "CreateBucketMetadataTableConfiguration" => "s3:CreateBucketMetadataTableConfiguration",
        "GetBucketMetadataTableConfiguration" => "s3:GetBucketMetadataTableConfiguration",
        "DeleteBucketMetadataTableConfiguration" => "s3:DeleteBucketMetadataTableConfiguration",
        _ => return None,
    })
}

/// The S3 actions a bucket policy may name (Service Authorization Reference, "Actions defined
/// by Amazon S3"; the ones a general purpose bucket can meet). A bucket policy naming anything
/// else is refused with "Policy has invalid action", as AWS does.
pub const S3_ACTIONS: &[&str] = &[
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "CreateBucket",
    "CreateBucketMetadataTableConfiguration",
    "CreateJob",
    "DeleteBucket",
    "DeleteBucketMetadataTableConfiguration",
    "DeleteBucketPolicy",
    "DeleteBucketWebsite",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "GetAccelerateConfiguration",
    "GetAnalyticsConfiguration",
    "GetBucketAcl",
    "GetBucketCORS",
    "GetBucketLocation",
    "GetBucketLogging",
    "GetBucketMetadataTableConfiguration",
    "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketRequestPayment",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetBucketWebsite",
    "GetEncryptionConfiguration",
    "GetIntelligentTieringConfiguration",
    "GetInventoryConfiguration",
    "GetLifecycleConfiguration",
    "GetMetricsConfiguration",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectTorrent",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionAttributes",
    "GetObjectVersionForReplication",
    "GetObjectVersionTagging",
    "GetObjectVersionTorrent",
    "GetReplicationConfiguration",
    "InitiateReplication",
    "ListAllMyBuckets",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "ListMultipartUploadParts",
    "ObjectOwnerOverrideToBucketOwner",
    "PutAccelerateConfiguration",
    "PutAnalyticsConfiguration",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutBucketLogging",
    "PutBucketNotification",
    "PutBucketObjectLockConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketRequestPayment",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutEncryptionConfiguration",
    "PutIntelligentTieringConfiguration",
    "PutInventoryConfiguration",
    "PutLifecycleConfiguration",
    "PutMetricsConfiguration",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "PutReplicationConfiguration",
    "ReplicateDelete",
    "ReplicateObject",
    "ReplicateTags",
    "RestoreObject",
];

/// The actions of [`S3_ACTIONS`] whose resource is an object (the rest are bucket actions, but
/// for [`ACCOUNT_ACTIONS`]). Service Authorization Reference, "Resource types" column.
const OBJECT_ACTIONS: &[&str] = &[
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectTorrent",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionAttributes",
    "GetObjectVersionForReplication",
    "GetObjectVersionTagging",
    "GetObjectVersionTorrent",
    "InitiateReplication",
    "ListMultipartUploadParts",
    "ObjectOwnerOverrideToBucketOwner",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "ReplicateDelete",
    "ReplicateObject",
    "ReplicateTags",
    "RestoreObject",
];

/// Actions without a resource type: only `"Resource": "*"` covers them.
const ACCOUNT_ACTIONS: &[&str] = &["CreateJob", "ListAllMyBuckets"];

/// The resource an S3 action (name after `s3:`, exact) is about.
pub(crate) fn resource_kind_of(action: &str) -> ResourceKind {
    if OBJECT_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(action)) {
        ResourceKind::Object
    } else if ACCOUNT_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(action)) {
        ResourceKind::Account
    } else {
        ResourceKind::Bucket
    }
}

/// The known S3 actions an action name pattern (after `s3:`, wildcards allowed) names.
pub(crate) fn known_actions_named(pattern: &str) -> impl Iterator<Item = &'static str> + '_ {
    S3_ACTIONS.iter().copied().filter(move |a| wildcard_match_ignore_case(pattern, a))
}

/// Whether an action name pattern (after `s3:`, wildcards allowed) names at least one S3 action.
pub(crate) fn names_known_action(pattern: &str) -> bool {
    known_actions_named(pattern).next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(op: &str, t: RequestTraits) -> Vec<&'static str> {
        actions_for(op, &t).unwrap_or_else(|| panic!("{op} unknown")).iter().map(|c| c.action).collect()
    }

    fn versioned() -> RequestTraits {
        RequestTraits { version_id: true, ..Default::default() }
    }

    #[test]
    fn p1_version_ids_select_version_actions() {
        assert_eq!(names("DeleteObject", RequestTraits::default()), ["s3:DeleteObject"]);
        assert_eq!(names("DeleteObject", versioned()), ["s3:DeleteObjectVersion"]);
        assert_eq!(names("DeleteObjects", versioned()), ["s3:DeleteObjectVersion"]);
        assert_eq!(names("GetObject", versioned())[0], "s3:GetObjectVersion");
        assert_eq!(names("HeadObject", RequestTraits::default())[0], "s3:GetObject");
        assert_eq!(names("PutObjectTagging", versioned()), ["s3:PutObjectVersionTagging"]);
    }

    #[test]
    fn p1_lock_headers_and_bypass_add_actions() {
        let t = RequestTraits { lock_retention: true, lock_legal_hold: true, ..Default::default() };
        assert_eq!(names("PutObject", t), ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold"]);
        assert_eq!(
            names("CreateMultipartUpload", t),
            ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold"]
        );
        let bypass = RequestTraits { version_id: true, bypass_governance: true, ..Default::default() };
        let checks = actions_for("DeleteObject", &bypass).unwrap();
        assert_eq!(
            checks[1],
            ActionCheck {
                action: "s3:BypassGovernanceRetention",
                resource: ResourceKind::Object,
                need: Need::Optional
            }
        );
        assert_eq!(names("PutObjectRetention", bypass), ["s3:PutObjectRetention", "s3:BypassGovernanceRetention"]);
        let lock = RequestTraits { object_lock_enabled: true, ..Default::default() };
        assert_eq!(
            names("CreateBucket", lock),
            ["s3:CreateBucket", "s3:PutBucketObjectLockConfiguration", "s3:PutBucketVersioning"]
        );
    }

    #[test]
    fn acl_headers_on_object_writes_need_only_put_object() {
        let acl = RequestTraits { acl: true, ..Default::default() };
        for op in ["PutObject", "CreateMultipartUpload", "PostObject"] {
            assert_eq!(names(op, acl), ["s3:PutObject"], "{op}");
        }
        assert_eq!(names("CopyObject", acl), ["s3:PutObject", "s3:GetObject"]);
        assert_eq!(names("CreateBucket", acl), ["s3:CreateBucket", "s3:PutBucketAcl"]);
        let tagged = RequestTraits { tagging: true, ..Default::default() };
        assert_eq!(names("PutObject", tagged), ["s3:PutObject", "s3:PutObjectTagging"]);
    }

    #[test]
    fn p1_get_head_gate_lock_headers_optionally() {
        let checks = actions_for("GetObject", &RequestTraits::default()).unwrap();
        assert_eq!(checks[0].need, Need::Required);
        assert!(checks[1..].iter().all(|c| c.need == Need::Optional));
        assert_eq!(checks[1].action, "s3:GetObjectRetention");
        assert_eq!(checks[2].action, "s3:GetObjectLegalHold");
        assert_eq!((checks[3].action, checks[3].resource), ("s3:ListBucket", ResourceKind::Bucket));
        assert_eq!((checks[4].action, checks[4].resource), ("s3:GetObjectTagging", ResourceKind::Object));
    }

    #[test]
    fn copies_read_the_source() {
        let checks =
            actions_for("CopyObject", &RequestTraits { source_version_id: true, ..Default::default() }).unwrap();
        assert_eq!(checks[0].action, "s3:PutObject");
        assert_eq!((checks[1].action, checks[1].resource), ("s3:GetObjectVersion", ResourceKind::CopySource));
        assert_eq!(names("UploadPartCopy", RequestTraits::default()), ["s3:PutObject", "s3:GetObject"]);
    }

    #[test]
    fn listings_and_bucket_operations() {
        let d = RequestTraits::default();
        assert_eq!(names("ListObjectsV2", d), ["s3:ListBucket"]);
        assert_eq!(names("ListObjects", d), ["s3:ListBucket"]);
        assert_eq!(names("HeadBucket", d), ["s3:ListBucket"]);
        assert_eq!(names("ListObjectVersions", d), ["s3:ListBucketVersions"]);
        assert_eq!(names("ListMultipartUploads", d), ["s3:ListBucketMultipartUploads"]);
        assert_eq!(names("ListParts", d), ["s3:ListMultipartUploadParts"]);
        assert_eq!(names("PutBucketPolicy", d), ["s3:PutBucketPolicy"]);
        assert_eq!(names("DeleteBucketLifecycle", d), ["s3:PutLifecycleConfiguration"]);
        assert_eq!(names("GetObjectLockConfiguration", d), ["s3:GetBucketObjectLockConfiguration"]);
        assert_eq!(actions_for("ListBuckets", &d).unwrap()[0].resource, ResourceKind::Account);
        assert_eq!(actions_for("ListObjectsV2", &d).unwrap()[0].resource, ResourceKind::Bucket);
        assert_eq!(actions_for("PutObject", &d).unwrap()[0].resource, ResourceKind::Object);
        assert_eq!(actions_for("NoSuchOperation", &d), None);
    }

    #[test]
    fn resource_kinds_of_actions() {
        assert_eq!(resource_kind_of("GetObject"), ResourceKind::Object);
        assert_eq!(resource_kind_of("putobjectretention"), ResourceKind::Object);
        assert_eq!(resource_kind_of("PutBucketObjectLockConfiguration"), ResourceKind::Bucket);
        assert_eq!(resource_kind_of("ListBucket"), ResourceKind::Bucket);
        assert_eq!(resource_kind_of("ListAllMyBuckets"), ResourceKind::Account);
        for a in OBJECT_ACTIONS.iter().chain(ACCOUNT_ACTIONS) {
            assert!(S3_ACTIONS.contains(a), "{a}");
        }
        // The operation table agrees with the kinds.
        for op in OPERATIONS {
            for check in actions_for(op, &RequestTraits::default()).unwrap() {
                let kind = resource_kind_of(check.action.strip_prefix("s3:").unwrap());
                let expected =
                    if check.resource == ResourceKind::CopySource { ResourceKind::Object } else { check.resource };
                assert_eq!(kind, expected, "{op} → {}", check.action);
            }
        }
    }

    /// Every request of a replication upload is authorised as the replication PUT is (#13).
    #[test]
    fn a_replication_upload_needs_replicate_object_not_put_object() {
        let t = RequestTraits { replication: true, ..Default::default() };
        for op in ["CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"] {
            let got: Vec<_> = actions_for(op, &t).unwrap().iter().map(|c| c.action).collect();
            assert_eq!(got, ["s3:ReplicateObject"], "{op}");
        }
        let t = RequestTraits { replication: true, tagging: true, lock_retention: true, ..Default::default() };
        let got: Vec<_> = actions_for("CreateMultipartUpload", &t).unwrap().iter().map(|c| c.action).collect();
        assert_eq!(got, ["s3:ReplicateObject", "s3:ReplicateTags"]);
    }

    #[test]
    fn every_mapped_action_is_a_known_action() {
        let all = RequestTraits {
            version_id: true,
            source_version_id: true,
            lock_retention: true,
            lock_legal_hold: true,
            bypass_governance: true,
            object_lock_enabled: true,
            acl: true,
            tagging: true,
            replication: false,
            replication_marker: true,
        };
        let replica = RequestTraits { replication: true, ..all };
        for op in OPERATIONS {
            for t in [RequestTraits::default(), all, replica] {
                for check in actions_for(op, &t).unwrap_or_else(|| panic!("{op}")) {
                    let name = check.action.strip_prefix("s3:").unwrap();
                    assert!(S3_ACTIONS.contains(&name), "{op} → {}", check.action);
                }
            }
        }
    }

    /// The s3s 0.14 operations that an S3 bucket on this server can receive.
    const OPERATIONS: &[&str] = &[
        "AbortMultipartUpload",
        "CompleteMultipartUpload",
        "CopyObject",
        "CreateBucket",
        "CreateBucketMetadataTableConfiguration",
        "CreateMultipartUpload",
        "DeleteBucket",
        "DeleteBucketAnalyticsConfiguration",
        "DeleteBucketCors",
        "DeleteBucketEncryption",
        "DeleteBucketIntelligentTieringConfiguration",
        "DeleteBucketInventoryConfiguration",
        "DeleteBucketLifecycle",
        "DeleteBucketMetadataTableConfiguration",
        "DeleteBucketMetricsConfiguration",
        "DeleteBucketOwnershipControls",
        "DeleteBucketPolicy",
        "DeleteBucketReplication",
        "DeleteBucketTagging",
        "DeleteBucketWebsite",
        "DeleteObject",
        "DeleteObjectTagging",
        "DeleteObjects",
        "DeletePublicAccessBlock",
        "GetBucketAccelerateConfiguration",
        "GetBucketAcl",
        "GetBucketAnalyticsConfiguration",
        "GetBucketCors",
        "GetBucketEncryption",
        "GetBucketIntelligentTieringConfiguration",
        "GetBucketInventoryConfiguration",
        "GetBucketLifecycleConfiguration",
        "GetBucketLocation",
        "GetBucketLogging",
        "GetBucketMetadataTableConfiguration",
        "GetBucketMetricsConfiguration",
        "GetBucketNotificationConfiguration",
        "GetBucketOwnershipControls",
        "GetBucketPolicy",
        "GetBucketPolicyStatus",
        "GetBucketReplication",
        "GetBucketRequestPayment",
        "GetBucketTagging",
        "GetBucketVersioning",
        "GetBucketWebsite",
        "GetObject",
        "GetObjectAcl",
        "GetObjectAttributes",
        "GetObjectLegalHold",
        "GetObjectLockConfiguration",
        "GetObjectRetention",
        "GetObjectTagging",
        "GetObjectTorrent",
        "GetPublicAccessBlock",
        "HeadBucket",
        "HeadObject",
        "ListBucketAnalyticsConfigurations",
        "ListBucketIntelligentTieringConfigurations",
        "ListBucketInventoryConfigurations",
        "ListBucketMetricsConfigurations",
        "ListBuckets",
        "ListMultipartUploads",
        "ListObjectVersions",
        "ListObjects",
        "ListObjectsV2",
        "ListParts",
        "PostObject",
        "PutBucketAccelerateConfiguration",
        "PutBucketAcl",
        "PutBucketAnalyticsConfiguration",
        "PutBucketCors",
        "PutBucketEncryption",
        "PutBucketIntelligentTieringConfiguration",
        "PutBucketInventoryConfiguration",
        "PutBucketLifecycleConfiguration",
        "PutBucketLogging",
        "PutBucketMetricsConfiguration",
        "PutBucketNotificationConfiguration",
        "PutBucketOwnershipControls",
        "PutBucketPolicy",
        "PutBucketReplication",
        "PutBucketRequestPayment",
        "PutBucketTagging",
        "PutBucketVersioning",
        "PutBucketWebsite",
        "PutObject",
        "PutObjectAcl",
        "PutObjectLegalHold",
        "PutObjectLockConfiguration",
        "PutObjectRetention",
        "PutObjectTagging",
        "PutPublicAccessBlock",
        "RestoreObject",
        "SelectObjectContent",
        "UploadPart",
        "UploadPartCopy",
    ];
}
