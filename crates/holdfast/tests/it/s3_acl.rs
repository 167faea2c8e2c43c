//! ACLs as Amazon S3 answers them with ACLs disabled (Object Ownership BucketOwnerEnforced,
//! issue #18): the owner with FULL_CONTROL on reads, bucket-owner full control or nothing on
//! writes, 400 AccessControlListNotSupported for anything else, with nothing stored.

use crate::object_lock_support::server;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, Permission, Type,
};
use holdfast_testkit::{bucket_name, error_code};

async fn owner_id(s3: &Client) -> String {
    s3.list_buckets().send().await.unwrap().owner().unwrap().id().unwrap().to_owned()
}

fn status<E, R: HasStatus>(e: &holdfast_testkit::aws_sdk_s3::error::SdkError<E, R>) -> u16 {
    e.raw_response().map_or(0, HasStatus::code)
}

trait HasStatus {
    fn code(&self) -> u16;
}

impl HasStatus for holdfast_testkit::aws_sdk_s3::config::http::HttpResponse {
    fn code(&self) -> u16 {
        self.status().as_u16()
    }
}

#[tokio::test]
async fn reads_answer_the_owner_with_full_control() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("acl");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let id = owner_id(&s3).await;
    for (owner, grants) in [
        {
            let a = s3.get_bucket_acl().bucket(&b).send().await.unwrap();
            (a.owner().cloned().unwrap(), a.grants().to_vec())
        },
        {
            let a = s3.get_object_acl().bucket(&b).key("k").send().await.unwrap();
            (a.owner().cloned().unwrap(), a.grants().to_vec())
        },
    ] {
        assert_eq!(owner.id(), Some(id.as_str()), "the owner ListBuckets shows");
        assert_eq!(owner.display_name(), Some("holdfast"));
        assert_eq!(grants.len(), 1, "{grants:?}");
        let g = &grants[0];
        assert_eq!(g.permission(), Some(&Permission::FullControl));
        let grantee = g.grantee().unwrap();
        assert_eq!(grantee.r#type(), &Type::CanonicalUser);
        assert_eq!(grantee.id(), Some(id.as_str()));
    }
    let e = s3.get_object_acl().bucket(&b).key("missing").send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("NoSuchKey"));
    let e = s3.get_bucket_acl().bucket("no-such-acl-bucket").send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("NoSuchBucket"));
    let oc = s3.get_bucket_ownership_controls().bucket(&b).send().await.unwrap();
    let rules = oc.ownership_controls().unwrap().rules();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].object_ownership(), &ObjectOwnership::BucketOwnerEnforced);
}

#[tokio::test]
async fn writes_take_bucket_owner_full_control_only() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("aclw");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let id = owner_id(&s3).await;
    // Accepted: no ACL, bucket-owner-full-control, a full-control grant to the owner.
    s3.put_object()
        .bucket(&b)
        .key("a")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(&b)
        .key("g")
        .grant_full_control(format!("id=\"{id}\""))
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("m")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .send()
        .await
        .unwrap();
    s3.abort_multipart_upload().bucket(&b).key("m").upload_id(up.upload_id().unwrap()).send().await.unwrap();
    s3.copy_object()
        .bucket(&b)
        .key("c")
        .copy_source(format!("{b}/a"))
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .send()
        .await
        .unwrap();
    // Refused, nothing stored: private (as AWS), public-read, a grant to anyone else.
    for (key, acl) in [("p1", ObjectCannedAcl::Private), ("p2", ObjectCannedAcl::PublicRead)] {
        let e = s3
            .put_object()
            .bucket(&b)
            .key(key)
            .acl(acl.clone())
            .body(ByteStream::from_static(b"1"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&e).0.as_deref(), Some("AccessControlListNotSupported"), "{acl:?}");
        assert_eq!(status(&e), 400);
        let e = s3.create_multipart_upload().bucket(&b).key(key).acl(acl.clone()).send().await.unwrap_err();
        assert_eq!(error_code(&e).0.as_deref(), Some("AccessControlListNotSupported"));
        let e = s3.copy_object().bucket(&b).key(key).copy_source(format!("{b}/a")).acl(acl).send().await.unwrap_err();
        assert_eq!(error_code(&e).0.as_deref(), Some("AccessControlListNotSupported"));
    }
    let e = s3
        .put_object()
        .bucket(&b)
        .key("p3")
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("AccessControlListNotSupported"));
    let listed = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["a", "c", "g"], "refused writes stored nothing");
    let uploads = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(uploads.uploads().is_empty());

    // PutBucketAcl / PutObjectAcl: bucket-owner full control is accepted and changes
    // nothing; private and anything else is refused.
    s3.put_object_acl().bucket(&b).key("a").acl(ObjectCannedAcl::BucketOwnerFullControl).send().await.unwrap();
    let owner_only = AccessControlPolicy::builder()
        .grants(
            Grant::builder()
                .grantee(Grantee::builder().r#type(Type::CanonicalUser).id(&id).build().unwrap())
                .permission(Permission::FullControl)
                .build(),
        )
        .owner(holdfast_testkit::aws_sdk_s3::types::Owner::builder().id(&id).build())
        .build();
    s3.put_bucket_acl().bucket(&b).access_control_policy(owner_only.clone()).send().await.unwrap();
    s3.put_object_acl().bucket(&b).key("a").access_control_policy(owner_only).send().await.unwrap();
    let e = s3.put_bucket_acl().bucket(&b).acl(BucketCannedAcl::Private).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("AccessControlListNotSupported"));
    let e = s3.put_object_acl().bucket(&b).key("a").acl(ObjectCannedAcl::Private).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("AccessControlListNotSupported"));
    let e = s3.put_object_acl().bucket(&b).key("a").grant_read(format!("id=\"{id}\"")).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("AccessControlListNotSupported"));
    let acl = s3.get_object_acl().bucket(&b).key("a").send().await.unwrap();
    assert_eq!(acl.grants().len(), 1, "nothing changed");

    // Ownership controls: only BucketOwnerEnforced.
    let rule = |o| {
        OwnershipControls::builder()
            .rules(OwnershipControlsRule::builder().object_ownership(o).build().unwrap())
            .build()
            .unwrap()
    };
    s3.put_bucket_ownership_controls()
        .bucket(&b)
        .ownership_controls(rule(ObjectOwnership::BucketOwnerEnforced))
        .send()
        .await
        .unwrap();
    let e = s3
        .put_bucket_ownership_controls()
        .bucket(&b)
        .ownership_controls(rule(ObjectOwnership::ObjectWriter))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("NotImplemented"));
    // Delete answers as AWS does and changes nothing: there is no other setting.
    s3.delete_bucket_ownership_controls().bucket(&b).send().await.unwrap();
    let oc = s3.get_bucket_ownership_controls().bucket(&b).send().await.unwrap();
    assert_eq!(oc.ownership_controls().unwrap().rules()[0].object_ownership(), &ObjectOwnership::BucketOwnerEnforced);

    // CreateBucket: private is the one bucket ACL compatible with the setting.
    let ok = bucket_name("aclp");
    s3.create_bucket().bucket(&ok).acl(BucketCannedAcl::Private).send().await.unwrap();
    let bad = bucket_name("aclr");
    let e = s3.create_bucket().bucket(&bad).acl(BucketCannedAcl::PublicRead).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("InvalidBucketAclWithObjectOwnership"));
    let e = s3.create_bucket().bucket(&bad).object_ownership(ObjectOwnership::ObjectWriter).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("NotImplemented"));
    assert!(s3.head_bucket().bucket(&bad).send().await.is_err(), "no bucket was made");
}

/// The same answers through boto3, as backup tools written in Python see them.
#[tokio::test]
async fn boto3_sees_the_same_acl_answers() {
    if std::process::Command::new("python3").args(["-c", "import boto3"]).status().map(|s| !s.success()).unwrap_or(true)
    {
        panic!("python3 with boto3 is needed for this test");
    }
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("aclpy");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let id = owner_id(&s3).await;
    let script = r#"
import boto3, sys
from botocore.exceptions import ClientError
c = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2], aws_secret_access_key=sys.argv[3], region_name="us-east-1")
b, owner = sys.argv[4], sys.argv[5]
c.put_object(Bucket=b, Key="k", Body=b"x", ACL="bucket-owner-full-control")
a = c.get_object_acl(Bucket=b, Key="k")
assert a["Owner"]["ID"] == owner, a
assert [(g["Grantee"]["Type"], g["Grantee"]["ID"], g["Permission"]) for g in a["Grants"]] == [("CanonicalUser", owner, "FULL_CONTROL")], a
a = c.get_bucket_acl(Bucket=b)
assert a["Owner"]["ID"] == owner and len(a["Grants"]) == 1, a
assert c.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
for call in (lambda: c.put_object(Bucket=b, Key="p", Body=b"x", ACL="private"),
             lambda: c.put_bucket_acl(Bucket=b, ACL="public-read"),
             lambda: c.put_object_acl(Bucket=b, Key="k", ACL="public-read")):
    try:
        call()
        raise SystemExit("accepted")
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
        assert e.response["Error"]["Code"] == "AccessControlListNotSupported", e.response
        assert e.response["Error"]["Message"] == "The bucket does not allow ACLs", e.response
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script, &srv.endpoint, holdfast_testkit::ROOT_AK, holdfast_testkit::ROOT_SK, &b, &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// The ACL operations are authorized with their own actions (s3:GetBucketAcl,
/// s3:GetObjectAcl, s3:PutBucketOwnershipControls ...) by the policy engine.
#[tokio::test]
async fn acl_operations_need_their_own_actions() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket_name("aclz");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let iam = srv.iam();
    iam.create_user().user_name("acl-reader").send().await.unwrap();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["s3:GetBucketAcl","s3:GetObject"],
            "Resource":["arn:aws:s3:::{b}","arn:aws:s3:::{b}/*"]}}]}}"#
    );
    iam.put_user_policy().user_name("acl-reader").policy_name("p").policy_document(policy).send().await.unwrap();
    let key = iam.create_access_key().user_name("acl-reader").send().await.unwrap().access_key.unwrap();
    let user = srv.client_as(key.access_key_id(), key.secret_access_key());
    user.get_bucket_acl().bucket(&b).send().await.unwrap();
    let e = user.get_object_acl().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(error_code(&e), (Some("AccessDenied".into()), Some(403)), "s3:GetObjectAcl is not s3:GetObject");
    let e = user.get_bucket_ownership_controls().bucket(&b).send().await.unwrap_err();
    assert_eq!(error_code(&e), (Some("AccessDenied".into()), Some(403)));
    let e = user.delete_bucket_ownership_controls().bucket(&b).send().await.unwrap_err();
    assert_eq!(error_code(&e), (Some("AccessDenied".into()), Some(403)), "s3:PutBucketOwnershipControls");
}
