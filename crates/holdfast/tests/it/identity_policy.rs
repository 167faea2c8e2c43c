//! Identity and bucket policies evaluated as AWS does: the seeds' two policies,
//! hidden lock headers (G2), a user confined to one bucket, anonymous access only through a
//! public bucket policy, and the bucket policy API.

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::{ByteStream, DateTime};
use holdfast_testkit::aws_sdk_s3::types::{
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
};
use holdfast_testkit::{Server, bucket_name, error_code, raw_http};
use std::time::{Duration, SystemTime};

/// Creates a user with one inline policy and returns its S3 client.
async fn user(srv: &Server, name: &str, policy: &str) -> Client {
    let iam = srv.iam();
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy().user_name(name).policy_name("p").policy_document(policy).send().await.unwrap();
    let key = iam.create_access_key().user_name(name).send().await.unwrap().access_key.unwrap();
    srv.client_as(key.access_key_id(), key.secret_access_key())
}

fn in_days(days: u64) -> DateTime {
    DateTime::from(SystemTime::now() + Duration::from_secs(days * 86_400))
}

async fn lock_bucket(s3: &Client) -> String {
    let b = bucket_name("pol");
    s3.create_bucket().bucket(&b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    b
}

#[tokio::test]
async fn seed_policy_deny_bypass_governance() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let b = lock_bucket(&srv.client()).await;
    // The seed's two documents: allow s3 on the bucket, deny bypassing governance anywhere.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"VisualEditor0","Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::{b}","arn:aws:s3:::{b}/*"]}},
            {{"Sid":"DenyBypass","Effect":"Deny","Action":"s3:BypassGovernanceRetention","Resource":"*"}}]}}"#
    );
    let writer = user(&srv, "writer", &policy).await;
    let put = writer
        .put_object()
        .bucket(&b)
        .key("object-key")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_days(2))
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
    let vid = put.version_id().unwrap().to_owned();
    let retention = |days| {
        ObjectLockRetention::builder()
            .mode(ObjectLockRetentionMode::Governance)
            .retain_until_date(in_days(days))
            .build()
    };
    // Extending needs no bypass: allowed.
    writer
        .put_object_retention()
        .bucket(&b)
        .key("object-key")
        .version_id(&vid)
        .retention(retention(5))
        .send()
        .await
        .unwrap();
    // Shortening or deleting with bypass: the explicit Deny wins (R10, P4).
    let err = writer
        .put_object_retention()
        .bucket(&b)
        .key("object-key")
        .version_id(&vid)
        .bypass_governance_retention(true)
        .retention(retention(1))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
    let err = writer
        .delete_object()
        .bucket(&b)
        .key("object-key")
        .version_id(&vid)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
    let err = writer.delete_object().bucket(&b).key("object-key").version_id(&vid).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)), "D2: still locked");
    // The version is untouched; the root user (who holds bypass) can remove it.
    let head = srv.client().head_object().bucket(&b).key("object-key").version_id(&vid).send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    srv.client()
        .delete_object()
        .bucket(&b)
        .key("object-key")
        .version_id(&vid)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn seed_bucket_policy_caps_retention_days() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let root = srv.client();
    let b = lock_bucket(&root).await;
    root.put_bucket_policy()
        .bucket(&b)
        .policy(format!(
            r#"{{"Version":"2012-10-17","Id":"SetRetentionLimits","Statement":[{{"Sid":"SetRetentionPeriod","Effect":"Deny","Principal":"*",
            "Action":["s3:PutObjectRetention"],"Resource":"arn:aws:s3:::{b}/*",
            "Condition":{{"NumericGreaterThan":{{"s3:object-lock-remaining-retention-days":"10"}}}}}}]}}"#
        ))
        .send()
        .await
        .unwrap();
    let s3 = user(
        &srv,
        "archiver",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
    )
    .await;
    let vid = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let retention = |days| {
        ObjectLockRetention::builder()
            .mode(ObjectLockRetentionMode::Governance)
            .retain_until_date(in_days(days))
            .build()
    };
    let err = s3
        .put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&vid)
        .retention(retention(30))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)), "30 days is over the cap");
    let err = srv
        .client()
        .put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&vid)
        .retention(retention(30))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)), "a bucket policy Deny binds the root too");
    s3.put_object_retention().bucket(&b).key("k").version_id(&vid).retention(retention(5)).send().await.unwrap();
    let got = srv.client().get_object_retention().bucket(&b).key("k").version_id(&vid).send().await.unwrap();
    assert_eq!(got.retention().unwrap().mode(), Some(&ObjectLockRetentionMode::Governance));
}

#[tokio::test]
async fn g2_lock_headers_hidden_without_read_permissions() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let root = srv.client();
    let b = lock_bucket(&root).await;
    root.put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_days(1))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let reader = user(
        &srv,
        "reader",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    )
    .await;
    let head = reader.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(
        (head.object_lock_mode(), head.object_lock_retain_until_date(), head.object_lock_legal_hold_status()),
        (None, None, None)
    );
    let get = reader.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(get.object_lock_mode(), None);
    assert_eq!(get.body.collect().await.unwrap().into_bytes().as_ref(), b"x", "the read itself succeeds");
    let hold_reader = user(
        &srv,
        "holdreader",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectLegalHold"],"Resource":"*"}]}"#,
    )
    .await;
    let head = hold_reader.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.object_lock_legal_hold_status(), Some(&ObjectLockLegalHoldStatus::On));
    assert_eq!(head.object_lock_mode(), None, "retention needs s3:GetObjectRetention");
    let head = root.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Governance));
    // Lock headers on a write need their own permissions (W8); a default rule needs none.
    let err = reader.put_object().bucket(&b).key("w").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
}

#[tokio::test]
async fn a_user_confined_to_one_bucket() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let root = srv.client();
    let (mine, other) = (bucket_name("mine"), bucket_name("other"));
    root.create_bucket().bucket(&mine).send().await.unwrap();
    root.create_bucket().bucket(&other).send().await.unwrap();
    root.put_object().bucket(&other).key("secret").body(ByteStream::from_static(b"s")).send().await.unwrap();
    let s3 = user(
        &srv,
        "confined",
        &format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::{mine}","arn:aws:s3:::{mine}/*"]}}]}}"#),
    )
    .await;
    s3.put_object().bucket(&mine).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    assert_eq!(s3.list_objects_v2().bucket(&mine).send().await.unwrap().key_count(), Some(1));
    for err in [
        error_code(&s3.get_object().bucket(&other).key("secret").send().await.unwrap_err()),
        error_code(
            &s3.put_object().bucket(&other).key("x").body(ByteStream::from_static(b"x")).send().await.unwrap_err(),
        ),
        error_code(&s3.list_objects_v2().bucket(&other).send().await.unwrap_err()),
        error_code(&s3.delete_object().bucket(&other).key("secret").send().await.unwrap_err()),
        error_code(&s3.list_buckets().send().await.unwrap_err()),
        error_code(&s3.create_bucket().bucket("brand-new-bucket-x").send().await.unwrap_err()),
    ] {
        assert_eq!(err, (Some("AccessDenied".into()), Some(403)));
    }
    root.head_object().bucket(&other).key("secret").send().await.expect("untouched");
}

#[tokio::test]
async fn anonymous_access_only_through_a_public_bucket_policy() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let root = srv.client();
    let (public, private) = (bucket_name("public"), bucket_name("private"));
    for b in [&public, &private] {
        root.create_bucket().bucket(b).send().await.unwrap();
        root.put_object().bucket(b).key("page.html").body(ByteStream::from_static(b"<html/>")).send().await.unwrap();
    }
    let anon = |method: &str, path: String| {
        let addr = srv.addr.clone();
        let req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        async move { raw_http(&addr, req.into_bytes()).await.unwrap() }
    };
    assert_eq!(anon("GET", format!("/{public}/page.html")).await.status, 403);
    let err = root.get_bucket_policy().bucket(&public).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchBucketPolicy".into()), Some(404)));
    let err = root
        .put_bucket_policy()
        .bucket(&public)
        .policy(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("MalformedPolicy".into()), Some(400)));
    let err = root
        .put_bucket_policy()
        .bucket(&public)
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::another-bucket/*"}]}"#)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("MalformedPolicy".into()), Some(400)), "resources must be in this bucket");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{public}/*"}}]}}"#
    );
    root.put_bucket_policy().bucket(&public).policy(&policy).send().await.unwrap();
    assert_eq!(root.get_bucket_policy().bucket(&public).send().await.unwrap().policy(), Some(policy.as_str()));
    let status = root.get_bucket_policy_status().bucket(&public).send().await.unwrap();
    assert_eq!(status.policy_status().unwrap().is_public(), Some(true));

    let ok = anon("GET", format!("/{public}/page.html")).await;
    assert_eq!((ok.status, ok.body.as_slice()), (200, b"<html/>".as_slice()));
    assert_eq!(anon("PUT", format!("/{public}/page.html")).await.status, 403, "read-only");
    assert_eq!(anon("GET", format!("/{public}")).await.status, 403, "listing was not granted");
    assert_eq!(anon("GET", format!("/{private}/page.html")).await.status, 403);

    // The root user can always manage the bucket policy, even one that denies everyone.
    let deny_all = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::{public}","arn:aws:s3:::{public}/*"]}}]}}"#
    );
    root.put_bucket_policy().bucket(&public).policy(&deny_all).send().await.unwrap();
    let err = root.get_object().bucket(&public).key("page.html").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
    root.delete_bucket_policy().bucket(&public).send().await.unwrap();
    root.get_object().bucket(&public).key("page.html").send().await.unwrap();
    assert_eq!(anon("GET", format!("/{public}/page.html")).await.status, 403, "public access ended with the policy");
}

const ALT_AK: &str = "HFALTPOLICYKEY000001";
const ALT_SK: &str = "alt-policy-secret-key-00000000000000000000";

/// A server with a second account ("alt", as ceph/s3-tests has), `aws_strict` as given.
fn with_alt_account(aws_strict: bool) -> Server {
    holdfast_testkit::Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        holdfast_testkit::ServerOptions {
            config_toml: format!(
                "aws_strict = {aws_strict}\n[[accounts]]\nname = \"alt\"\naccess_key = \"{ALT_AK}\"\nsecret_key = \"{ALT_SK}\"\n"
            ),
            ..Default::default()
        },
    )
}

fn everyone_may(action: &str, resource: &str, condition: &str) -> String {
    let condition = if condition.is_empty() { String::new() } else { format!(r#","Condition":{condition}"#) };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"{action}","Resource":"{resource}"{condition}}}]}}"#
    )
}

/// s3-tests `test_bucket_policy_multipart`: a statement whose action cannot act on its resource
/// (`s3:PutObject` on the bucket ARN) is stored in s3-tests mode and grants nothing; with
/// `aws_strict` it is refused as AWS refuses it.
#[tokio::test]
async fn inapplicable_statement_is_stored_in_s3tests_mode_and_grants_nothing() {
    for aws_strict in [false, true] {
        let srv = with_alt_account(aws_strict);
        let (main, alt) = (srv.client(), srv.client_as(ALT_AK, ALT_SK));
        let b = bucket_name("mpol");
        main.create_bucket().bucket(&b).send().await.unwrap();
        let err = alt.create_multipart_upload().bucket(&b).key("mpobj").send().await.unwrap_err();
        assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));

        let on_bucket = everyone_may("s3:PutObject", &format!("arn:aws:s3:::{b}"), "");
        let stored = main.put_bucket_policy().bucket(&b).policy(&on_bucket).send().await;
        if aws_strict {
            let err = stored.unwrap_err();
            assert_eq!(error_code(&err), (Some("MalformedPolicy".into()), Some(400)));
            assert_eq!(
                err.into_service_error().meta().message(),
                Some("Action does not apply to any resource(s) in statement")
            );
        } else {
            stored.unwrap();
            assert_eq!(main.get_bucket_policy().bucket(&b).send().await.unwrap().policy(), Some(on_bucket.as_str()));
            let err = alt.create_multipart_upload().bucket(&b).key("mpobj").send().await.unwrap_err();
            assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)), "the statement never applies");
        }

        let on_object = everyone_may("s3:PutObject", &format!("arn:aws:s3:::{b}/mpobj"), "");
        main.put_bucket_policy().bucket(&b).policy(&on_object).send().await.unwrap();
        let upload = alt.create_multipart_upload().bucket(&b).key("mpobj").send().await.unwrap();
        assert!(upload.upload_id().is_some());
        let err = alt.create_multipart_upload().bucket(&b).key("other").send().await.unwrap_err();
        assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
    }
}

/// s3-tests `test_get_bucket_policy_status`, `test_get_publicpolicy_acl_bucket_policy_status`,
/// `test_get_nonpublicpolicy_acl_bucket_policy_status`: without a policy the status is "not
/// public" in s3-tests mode, 404 NoSuchBucketPolicy with `aws_strict` (as AWS answers).
#[tokio::test]
async fn policy_status_without_policy_follows_aws_strict() {
    for aws_strict in [false, true] {
        let srv = with_alt_account(aws_strict);
        let main = srv.client();
        let b = bucket_name("pstat");
        main.create_bucket().bucket(&b).send().await.unwrap();
        let status = main.get_bucket_policy_status().bucket(&b).send().await;
        if aws_strict {
            assert_eq!(error_code(&status.unwrap_err()), (Some("NoSuchBucketPolicy".into()), Some(404)));
        } else {
            assert_eq!(status.unwrap().policy_status().unwrap().is_public(), Some(false));
        }
        let resources = format!(r#"["arn:aws:s3:::{b}","arn:aws:s3:::{b}/*"]"#);
        let list = |condition: &str| {
            let condition = if condition.is_empty() { String::new() } else { format!(r#","Condition":{condition}"#) };
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"s3:ListBucket","Resource":{resources}{condition}}}]}}"#
            )
        };
        for (policy, public) in [(list(""), true), (list(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/32"}}"#), false)] {
            main.put_bucket_policy().bucket(&b).policy(policy).send().await.unwrap();
            let status = main.get_bucket_policy_status().bucket(&b).send().await.unwrap();
            assert_eq!(status.policy_status().unwrap().is_public(), Some(public));
        }
        main.delete_bucket_policy().bucket(&b).send().await.unwrap();
        let status = main.get_bucket_policy_status().bucket(&b).send().await;
        assert_eq!(status.is_ok(), !aws_strict);
    }
}

/// s3-tests `test_bucket_policy_put_obj_copy_source` / `_copy_source_meta`: the condition keys
/// `s3:x-amz-copy-source` (`bucket/key`) and `s3:x-amz-metadata-directive` on s3:PutObject.
#[tokio::test]
async fn copy_source_and_metadata_directive_condition_keys() {
    use holdfast_testkit::aws_sdk_s3::types::MetadataDirective;
    let srv = with_alt_account(false);
    let (main, alt) = (srv.client(), srv.client_as(ALT_AK, ALT_SK));
    let (src, dst, meta) = (bucket_name("csrc"), bucket_name("cdst"), bucket_name("cmeta"));
    for b in [&src, &dst, &meta] {
        main.create_bucket().bucket(b).send().await.unwrap();
    }
    for key in ["public/foo", "public/bar", "private/foo"] {
        main.put_object().bucket(&src).key(key).body(ByteStream::from(key.as_bytes().to_vec())).send().await.unwrap();
    }
    main.put_bucket_policy()
        .bucket(&src)
        .policy(everyone_may("s3:GetObject", &format!("arn:aws:s3:::{src}/*"), ""))
        .send()
        .await
        .unwrap();
    let copy_source = format!(r#"{{"StringLike":{{"s3:x-amz-copy-source":"{src}/public/*"}}}}"#);
    main.put_bucket_policy()
        .bucket(&dst)
        .policy(everyone_may("s3:PutObject", &format!("arn:aws:s3:::{dst}/*"), &copy_source))
        .send()
        .await
        .unwrap();
    let directive = r#"{"StringEquals":{"s3:x-amz-metadata-directive":"COPY"}}"#;
    main.put_bucket_policy()
        .bucket(&meta)
        .policy(everyone_may("s3:PutObject", &format!("arn:aws:s3:::{meta}/*"), directive))
        .send()
        .await
        .unwrap();

    alt.copy_object().bucket(&dst).key("new_foo").copy_source(format!("{src}/public/foo")).send().await.unwrap();
    alt.copy_object().bucket(&dst).key("new_foo2").copy_source(format!("/{src}/public/bar")).send().await.unwrap();
    let got = main.get_object().bucket(&dst).key("new_foo2").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"public/bar");
    let err = alt
        .copy_object()
        .bucket(&dst)
        .key("new_foo3")
        .copy_source(format!("{src}/private/foo"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
    let err = alt.put_object().bucket(&dst).key("plain").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)), "an upload has no copy source");

    let copy = || alt.copy_object().bucket(&meta).copy_source(format!("{src}/public/foo"));
    copy().key("a").metadata_directive(MetadataDirective::Copy).send().await.unwrap();
    let err = copy().key("b").metadata("foo", "bar").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)), "no x-amz-metadata-directive");
    let err = copy().key("c").metadata_directive(MetadataDirective::Replace).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
}

/// s3-tests `test_bucket_policy_put_obj_grant` and the S3 User Guide's "Policy examples for
/// ACLs": s3:PutObject alone lets another account upload with `x-amz-grant-full-control` /
/// `x-amz-acl` (no s3:PutObjectAcl), and the policy can require those headers' values. Holdfast
/// keeps no ACLs: every object is under the bucket owner's full control, which is what these
/// headers ask for.
#[tokio::test]
async fn acl_header_condition_keys_on_put_object() {
    use holdfast_testkit::aws_sdk_s3::types::ObjectCannedAcl;
    let srv = with_alt_account(false);
    let (main, alt) = (srv.client(), srv.client_as(ALT_AK, ALT_SK));
    let owner = main.list_buckets().send().await.unwrap().owner().unwrap().id().unwrap().to_owned();
    let (grant, plain) = (bucket_name("grant"), bucket_name("plain"));
    for b in [&grant, &plain] {
        main.create_bucket().bucket(b).send().await.unwrap();
    }
    let full_control = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"s3:PutObject","Resource":"arn:aws:s3:::{grant}/*",
              "Condition":{{"StringEquals":{{"s3:x-amz-grant-full-control":"id={owner}"}}}}}},
            {{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"s3:PutObject","Resource":"arn:aws:s3:::{grant}/*",
              "Condition":{{"StringEquals":{{"s3:x-amz-acl":"bucket-owner-full-control"}}}}}}]}}"#
    );
    main.put_bucket_policy().bucket(&grant).policy(full_control).send().await.unwrap();
    main.put_bucket_policy()
        .bucket(&plain)
        .policy(everyone_may("s3:PutObject", &format!("arn:aws:s3:::{plain}/*"), ""))
        .send()
        .await
        .unwrap();
    let put = |b: &str, key: &str| alt.put_object().bucket(b).key(key).body(ByteStream::from_static(b"data"));

    put(&grant, "key1").grant_full_control(format!("id={owner}")).send().await.unwrap();
    put(&grant, "key2").acl(ObjectCannedAcl::BucketOwnerFullControl).send().await.unwrap();
    for err in [
        put(&grant, "key3").send().await.unwrap_err(),
        put(&grant, "key4").grant_full_control("id=someone-else").send().await.unwrap_err(),
        put(&grant, "key5").acl(ObjectCannedAcl::PublicRead).send().await.unwrap_err(),
    ] {
        assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
    }
    put(&plain, "key2").send().await.unwrap();
    put(&plain, "key3").grant_full_control(format!("id={owner}")).send().await.unwrap();
    assert_eq!(main.head_object().bucket(&grant).key("key1").send().await.unwrap().content_length(), Some(4));
}

/// s3-tests `test_bucket_policy_set_condition_operator_end_with_IfExists`, with the global key
/// `aws:Referer`: a present Referer must match, an absent one passes. The bucket owner's root
/// is not bound by an Allow it does not need (AWS: only an explicit Deny refuses it), which is
/// why that s3-tests test, run as the owner, expects a 403 that AWS does not give.
#[tokio::test]
async fn referer_condition_if_exists() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let root = srv.client();
    let b = bucket_name("referer");
    root.create_bucket().bucket(&b).send().await.unwrap();
    root.put_object().bucket(&b).key("foo").body(ByteStream::from_static(b"foo")).send().await.unwrap();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Allow Public Access to All Objects","Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Condition":{{"StringLikeIfExists":{{"aws:Referer":"http://www.example.com/*"}}}},"Resource":"arn:aws:s3:::{b}/*"}}]}}"#
    );
    root.put_bucket_policy().bucket(&b).policy(policy).send().await.unwrap();
    let anon = |referer: Option<&str>| {
        let addr = srv.addr.clone();
        let referer = referer.map(|r| format!("referer: {r}\r\n")).unwrap_or_default();
        let req = format!("GET /{b}/foo HTTP/1.1\r\nhost: {addr}\r\n{referer}connection: close\r\n\r\n");
        async move { raw_http(&addr, req.into_bytes()).await.unwrap().status }
    };
    assert_eq!(anon(Some("http://www.example.com/")).await, 200);
    assert_eq!(anon(Some("http://www.example.com/index.html")).await, 200);
    assert_eq!(anon(Some("http://example.com")).await, 403);
    assert_eq!(anon(None).await, 200, "IfExists: no Referer, no test");
    root.get_object()
        .bucket(&b)
        .key("foo")
        .customize()
        .mutate_request(|r| {
            r.headers_mut().insert("referer", "http://example.com");
        })
        .send()
        .await
        .expect("the owner's root needs no Allow");
}

/// AWS GetObject/HeadObject: a missing key is 404 NoSuchKey only for a caller allowed
/// s3:ListBucket on the bucket; a caller who may only read objects gets 403 AccessDenied, so
/// that it cannot probe which keys exist. An existing key reads the same either way.
#[tokio::test]
async fn missing_key_is_403_without_list_bucket_and_404_with_it() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let root = srv.client();
    let b = bucket_name("probe");
    root.create_bucket().bucket(&b).send().await.unwrap();
    root.put_object().bucket(&b).key("present").body(ByteStream::from_static(b"p")).send().await.unwrap();
    let read_only = user(
        &srv,
        "reader",
        &format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#),
    )
    .await;
    let lister = user(
        &srv,
        "lister",
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}},
            {{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::{b}"}}]}}"#
        ),
    )
    .await;
    for s3 in [&read_only, &lister] {
        let got = s3.get_object().bucket(&b).key("present").send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"p");
    }
    let err = read_only.get_object().bucket(&b).key("absent").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
    let err = read_only.head_object().bucket(&b).key("absent").send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(403));
    let err = lister.get_object().bucket(&b).key("absent").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchKey".into()), Some(404)));
    let err = lister.head_object().bucket(&b).key("absent").send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(404));
    // The account root holds s3:ListBucket.
    let err = root.get_object().bucket(&b).key("absent").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchKey".into()), Some(404)));
}
