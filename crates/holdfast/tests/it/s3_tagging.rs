//! Object tags: PutObject / CreateMultipartUpload / CopyObject with
//! `x-amz-tagging`, Put/Get/DeleteObjectTagging by version, `x-amz-tagging-count`, AWS's
//! limits and error codes, the tagging condition keys, and tags on a locked version (allowed:
//! tags are metadata; the version itself stays undeletable).

use crate::object_lock_support::{
    assert_err, assert_locked, assert_raw_err, in_secs, lock_bucket, plain_bucket, put, put_locked, raw, raw_md5,
    server, set_versioning, strict_server,
};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, ObjectLockMode, Tag, Tagging, TaggingDirective,
};
use holdfast_testkit::{Server, bucket_name};

fn tagging(pairs: &[(&str, &str)]) -> Tagging {
    let tags = pairs.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap()).collect();
    Tagging::builder().set_tag_set(Some(tags)).build().unwrap()
}

async fn tags_of(s3: &Client, b: &str, k: &str, version: Option<&str>) -> Vec<(String, String)> {
    let out = s3.get_object_tagging().bucket(b).key(k).set_version_id(version.map(str::to_owned)).send().await.unwrap();
    out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

async fn versioned_bucket(s3: &Client, tag: &str) -> String {
    let b = plain_bucket(s3, tag).await;
    set_versioning(s3, &b, BucketVersioningStatus::Enabled).await;
    b
}

#[tokio::test]
async fn put_object_tagging_round_trip_by_version() {
    let srv = server();
    let s3 = srv.client();
    let b = versioned_bucket(&s3, "tgrt").await;
    // x-amz-tagging on PutObject: query-string syntax, a key without '=' has an empty value.
    let v1 = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .tagging("foo=bar&bar&sp%20ace=a%2Bb")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    // Returned in key order (as ceph/s3-tests expects).
    assert_eq!(tags_of(&s3, &b, "k", None).await, pairs(&[("bar", ""), ("foo", "bar"), ("sp ace", "a+b")]));
    let v2 = put(&s3, &b, "k", b"two").await;
    assert!(tags_of(&s3, &b, "k", None).await.is_empty(), "a new version starts without tags");

    // PutObjectTagging on the old version only; the answer names the version.
    let out = s3
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .tagging(tagging(&[("a", "1"), ("b", "2")]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.version_id(), Some(v1.as_str()));
    assert_eq!(tags_of(&s3, &b, "k", Some(&v1)).await, pairs(&[("a", "1"), ("b", "2")]));
    assert!(tags_of(&s3, &b, "k", Some(&v2)).await.is_empty());
    let got = s3.get_object_tagging().bucket(&b).key("k").version_id(&v1).send().await.unwrap();
    assert_eq!(got.version_id(), Some(v1.as_str()));

    // A new set replaces the old one.
    s3.put_object_tagging().bucket(&b).key("k").tagging(tagging(&[("c", "3")])).send().await.unwrap();
    assert_eq!(tags_of(&s3, &b, "k", None).await, pairs(&[("c", "3")]));

    // x-amz-tagging-count on GET and HEAD, per version; absent without tags.
    let r = raw(&srv, "HEAD", &format!("/{b}/k?versionId={v1}"), &[], b"").await;
    assert_eq!(r.header("x-amz-tagging-count"), Some("2"));
    let get = s3.get_object().bucket(&b).key("k").version_id(&v1).send().await.unwrap();
    assert_eq!(get.tag_count(), Some(2));
    let get = s3.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(get.tag_count(), Some(1));

    // DeleteObjectTagging: 204, one version only.
    let del = s3.delete_object_tagging().bucket(&b).key("k").version_id(&v1).send().await.unwrap();
    assert_eq!(del.version_id(), Some(v1.as_str()));
    assert!(tags_of(&s3, &b, "k", Some(&v1)).await.is_empty());
    assert_eq!(tags_of(&s3, &b, "k", Some(&v2)).await, pairs(&[("c", "3")]));
    let r = raw(&srv, "DELETE", &format!("/{b}/k?tagging&versionId={v2}"), &[], b"").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-amz-version-id"), Some(v2.as_str()));
    let r = raw(&srv, "GET", &format!("/{b}/k?versionId={v2}"), &[], b"").await;
    assert_eq!((r.status, r.header("x-amz-tagging-count")), (200, None));
    assert!(tags_of(&s3, &b, "k", None).await.is_empty());
}

#[tokio::test]
async fn tagging_errors_name_the_missing_thing() {
    let srv = server();
    let s3 = srv.client();
    let b = versioned_bucket(&s3, "tgerr").await;
    let t = tagging(&[("a", "1")]);
    let e = s3.get_object_tagging().bucket(&b).key("nope").send().await.unwrap_err();
    assert_err(&e, "NoSuchKey", 404, None);
    let e = s3.put_object_tagging().bucket(&b).key("nope").tagging(t.clone()).send().await.unwrap_err();
    assert_err(&e, "NoSuchKey", 404, None);
    let e = s3.get_object_tagging().bucket("no-such-bucket-tg").key("k").send().await.unwrap_err();
    assert_err(&e, "NoSuchBucket", 404, None);
    put(&s3, &b, "k", b"x").await;
    let missing = "0".repeat(32);
    let e = s3.get_object_tagging().bucket(&b).key("k").version_id(&missing).send().await.unwrap_err();
    assert_err(&e, "NoSuchVersion", 404, None);
    let e = s3.put_object_tagging().bucket(&b).key("k").version_id("bad").tagging(t.clone()).send().await.unwrap_err();
    assert_err(&e, "InvalidArgument", 400, None);
    // A delete marker has no tags: current → 404 NoSuchKey, named → 405 MethodNotAllowed.
    let marker = s3.delete_object().bucket(&b).key("k").send().await.unwrap().version_id().unwrap().to_owned();
    let e = s3.get_object_tagging().bucket(&b).key("k").send().await.unwrap_err();
    assert_err(&e, "NoSuchKey", 404, None);
    let e = s3.put_object_tagging().bucket(&b).key("k").version_id(&marker).tagging(t).send().await.unwrap_err();
    assert_err(&e, "MethodNotAllowed", 405, None);
    // A body that does not validate: MalformedXML.
    let body = b"<Tagging><TagSet><Tag><Key>a</Key></Tag></TagSet></Tagging>";
    put(&s3, &b, "m", b"x").await;
    let r = raw_md5(&srv, "PUT", &format!("/{b}/m?tagging"), &[], body).await;
    assert_raw_err(&r, 400, "MalformedXML", None);
    let r = raw_md5(&srv, "PUT", &format!("/{b}/m?tagging"), &[], b"<Tagging><TagSet>").await;
    assert_raw_err(&r, 400, "MalformedXML", None);
    assert!(tags_of(&s3, &b, "m", None).await.is_empty());
}

#[tokio::test]
async fn limits_are_aws_limits() {
    let srv = server();
    let s3 = srv.client();
    let b = versioned_bucket(&s3, "tglim").await;
    put(&s3, &b, "k", b"x").await;
    let set = |n: usize, klen: usize, vlen: usize| {
        let tags: Vec<Tag> = (0..n)
            .map(|i| {
                let key = format!("{i:0>klen$}");
                Tag::builder().key(&key[key.len() - klen..]).value("v".repeat(vlen)).build().unwrap()
            })
            .collect();
        Tagging::builder().set_tag_set(Some(tags)).build().unwrap()
    };
    // 10 tags, keys of 128 and values of 256: accepted.
    s3.put_object_tagging().bucket(&b).key("k").tagging(set(10, 128, 256)).send().await.unwrap();
    assert_eq!(tags_of(&s3, &b, "k", None).await.len(), 10);
    // Key and value lengths count UTF-16 code units: 64 emoji are 128 units, 65 are 130.
    let (e64, e65) = ("\u{1F600}".repeat(64), "\u{1F600}".repeat(65));
    s3.put_object_tagging().bucket(&b).key("k").tagging(tagging(&[(e64.as_str(), "")])).send().await.unwrap();
    let refused = [
        (set(1, 129, 1), "The TagKey you have provided is too long, max 128"),
        (set(1, 5, 257), "The TagValue you have provided is too long, max 256"),
        (tagging(&[(e65.as_str(), "")]), "The TagKey you have provided is too long, max 128"),
        (tagging(&[("a", "1"), ("a", "2")]), "Cannot provide multiple Tags with the same key"),
        (tagging(&[("aws:x", "1")]), "Your TagKey cannot be prefixed with aws:"),
        // s3-tests mode: 11 tags are InvalidTag (see the strict test for AWS's BadRequest).
        (set(11, 3, 1), "Object tags cannot be greater than 10"),
    ];
    for (t, message) in refused {
        let e = s3.put_object_tagging().bucket(&b).key("k").tagging(t).send().await.unwrap_err();
        assert_err(&e, "InvalidTag", 400, Some(message));
    }
    // Nothing refused changed the stored set.
    assert_eq!(tags_of(&s3, &b, "k", None).await, pairs(&[(e64.as_str(), "")]));

    // The same limits on x-amz-tagging; a header that is not query syntax is InvalidArgument.
    let e = s3.put_object().bucket(&b).key("h").tagging(format!("{}=v", "k".repeat(129))).send().await.unwrap_err();
    assert_err(&e, "InvalidTag", 400, None);
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}=v")).collect();
    let e = s3.put_object().bucket(&b).key("h").tagging(eleven.join("&")).send().await.unwrap_err();
    assert_err(&e, "InvalidTag", 400, Some("Object tags cannot be greater than 10"));
    let e = s3.put_object().bucket(&b).key("h").tagging("a=1&a=2").send().await.unwrap_err();
    assert_err(&e, "InvalidArgument", 400, None);
    let e = s3.head_object().bucket(&b).key("h").send().await.unwrap_err();
    assert_eq!(holdfast_testkit::error_code(&e).1, Some(404), "refused writes store nothing");
}

#[tokio::test]
async fn more_than_ten_tags_is_bad_request_on_aws() {
    let srv = strict_server();
    let s3 = srv.client();
    let b = versioned_bucket(&s3, "tgstrict").await;
    put(&s3, &b, "k", b"x").await;
    let tags: Vec<Tag> = (0..11).map(|i| Tag::builder().key(format!("t{i}")).value("v").build().unwrap()).collect();
    let e = s3
        .put_object_tagging()
        .bucket(&b)
        .key("k")
        .tagging(Tagging::builder().set_tag_set(Some(tags)).build().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_err(&e, "BadRequest", 400, Some("Object tags cannot be greater than 10"));
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}=v")).collect();
    let e = s3.put_object().bucket(&b).key("k").tagging(eleven.join("&")).send().await.unwrap_err();
    assert_err(&e, "BadRequest", 400, Some("Object tags cannot be greater than 10"));
    assert!(tags_of(&s3, &b, "k", None).await.is_empty());
}

#[tokio::test]
async fn copy_follows_the_tagging_directive() {
    let srv = server();
    let s3 = srv.client();
    let b = versioned_bucket(&s3, "tgcp").await;
    let v1 = s3
        .put_object()
        .bucket(&b)
        .key("src")
        .tagging("a=1&b=2")
        .body(ByteStream::from_static(b"src"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    // A newer source version with other tags: a copy by version id takes v1's tags.
    s3.put_object().bucket(&b).key("src").tagging("new=yes").body(ByteStream::from_static(b"s2")).send().await.unwrap();
    let src = |v: Option<&str>| match v {
        Some(v) => format!("{b}/src?versionId={v}"),
        None => format!("{b}/src"),
    };
    // Default (COPY): the source version's tags; x-amz-tagging is ignored without REPLACE.
    s3.copy_object().bucket(&b).key("c1").copy_source(src(Some(&v1))).tagging("x=y").send().await.unwrap();
    assert_eq!(tags_of(&s3, &b, "c1", None).await, pairs(&[("a", "1"), ("b", "2")]));
    s3.copy_object().bucket(&b).key("c2").copy_source(src(None)).send().await.unwrap();
    assert_eq!(tags_of(&s3, &b, "c2", None).await, pairs(&[("new", "yes")]));
    // REPLACE: the request's tags, or none.
    s3.copy_object()
        .bucket(&b)
        .key("c3")
        .copy_source(src(Some(&v1)))
        .tagging_directive(TaggingDirective::Replace)
        .tagging("r=1")
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&s3, &b, "c3", None).await, pairs(&[("r", "1")]));
    s3.copy_object()
        .bucket(&b)
        .key("c4")
        .copy_source(src(Some(&v1)))
        .tagging_directive(TaggingDirective::Replace)
        .send()
        .await
        .unwrap();
    assert!(tags_of(&s3, &b, "c4", None).await.is_empty());
    // REPLACE with too many tags, or an unknown directive: refused, nothing written.
    let eleven: Vec<String> = (0..11).map(|i| format!("t{i}=v")).collect();
    let e = s3
        .copy_object()
        .bucket(&b)
        .key("c5")
        .copy_source(src(None))
        .tagging_directive(TaggingDirective::Replace)
        .tagging(eleven.join("&"))
        .send()
        .await
        .unwrap_err();
    assert_err(&e, "InvalidTag", 400, None);
    let r = raw(
        &srv,
        "PUT",
        &format!("/{b}/c5"),
        &[("x-amz-copy-source", &src(None)), ("x-amz-tagging-directive", "MOVE")],
        b"",
    )
    .await;
    assert_raw_err(&r, 400, "InvalidArgument", Some("Unknown tagging directive."));
    let e = s3.head_object().bucket(&b).key("c5").send().await.unwrap_err();
    assert_eq!(holdfast_testkit::error_code(&e).1, Some(404));
    // The source keeps its own tags.
    assert_eq!(tags_of(&s3, &b, "src", Some(&v1)).await, pairs(&[("a", "1"), ("b", "2")]));
}

#[tokio::test]
async fn multipart_tags_apply_at_completion() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "tgmp").await;
    let up = s3.create_multipart_upload().bucket(&b).key("mp").tagging("Hello=World&foo=bar").send().await.unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let part = s3
        .upload_part()
        .bucket(&b)
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"only part"))
        .send()
        .await
        .unwrap();
    // Nothing to tag before completion.
    let e = s3.get_object_tagging().bucket(&b).key("mp").send().await.unwrap_err();
    assert_err(&e, "NoSuchKey", 404, None);
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("mp")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&s3, &b, "mp", None).await, pairs(&[("Hello", "World"), ("foo", "bar")]));
    let get = s3.get_object().bucket(&b).key("mp").send().await.unwrap();
    assert_eq!(get.tag_count(), Some(2));
    // A bad header refuses the upload itself.
    let e = s3.create_multipart_upload().bucket(&b).key("mp2").tagging("a=1&a=2").send().await.unwrap_err();
    assert_err(&e, "InvalidArgument", 400, None);
    let uploads = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
}

#[tokio::test]
async fn a_locked_compliance_version_can_be_retagged_but_not_deleted() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "tglock").await;
    let until = in_secs(3600);
    let v = put_locked(&s3, &b, "k", ObjectLockMode::Compliance, &until).await;
    s3.put_object_tagging()
        .bucket(&b)
        .key("k")
        .version_id(&v)
        .tagging(tagging(&[("state", "archived")]))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&s3, &b, "k", Some(&v)).await, pairs(&[("state", "archived")]));
    s3.delete_object_tagging().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert!(tags_of(&s3, &b, "k", Some(&v)).await.is_empty());
    // The version itself is still protected, unchanged.
    let e = s3.delete_object().bucket(&b).key("k").version_id(&v).send().await.unwrap_err();
    assert_locked(&e);
    let head = s3.head_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(head.version_id(), Some(v.as_str()));
    let versions = s3.list_object_versions().bucket(&b).send().await.unwrap();
    assert_eq!(versions.versions().len(), 1, "retagging made no new version");
}

/// A user whose only policy is `policy`.
async fn user(srv: &Server, name: &str, policy: &str) -> Client {
    let iam = srv.iam();
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy().user_name(name).policy_name("p").policy_document(policy).send().await.unwrap();
    let key = iam.create_access_key().user_name(name).send().await.unwrap().access_key.unwrap();
    srv.client_as(key.access_key_id(), key.secret_access_key())
}

#[tokio::test]
async fn tagging_actions_and_condition_keys() {
    let srv = server();
    let root = srv.client();
    let b = bucket_name("tgpol");
    root.create_bucket().bucket(&b).send().await.unwrap();
    set_versioning(&root, &b, BucketVersioningStatus::Enabled).await;
    for (k, t) in [("public", "security=public"), ("private", "security=private")] {
        root.put_object().bucket(&b).key(k).tagging(t).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    let v_public = root.head_object().bucket(&b).key("public").send().await.unwrap().version_id().unwrap().to_owned();
    // Reads only of objects tagged security=public; tagging only with keys "project" / "security",
    // and never project=secret; no versioned tagging actions.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectTagging"],"Resource":"arn:aws:s3:::{b}/*",
          "Condition":{{"StringEquals":{{"s3:ExistingObjectTag/security":"public"}}}}}},
        {{"Effect":"Allow","Action":["s3:PutObject","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::{b}/*",
          "Condition":{{"ForAllValues:StringEquals":{{"s3:RequestObjectTagKeys":["project","security"]}}}}}},
        {{"Effect":"Deny","Action":["s3:PutObject","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::{b}/*",
          "Condition":{{"StringEquals":{{"s3:RequestObjectTag/project":"secret"}}}}}}]}}"#
    );
    let alice = user(&srv, "alice", &policy).await;

    // s3:ExistingObjectTag on GetObject and GetObjectTagging.
    alice.get_object().bucket(&b).key("public").send().await.unwrap();
    assert_eq!(tags_of(&alice, &b, "public", None).await, pairs(&[("security", "public")]));
    let e = alice.get_object().bucket(&b).key("private").send().await.unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);
    let e = alice.get_object_tagging().bucket(&b).key("private").send().await.unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);
    // A versionId makes it s3:GetObjectVersionTagging, which alice lacks.
    let e = alice.get_object_tagging().bucket(&b).key("public").version_id(&v_public).send().await.unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);

    // s3:RequestObjectTagKeys / s3:RequestObjectTag on PutObjectTagging and PutObject.
    alice
        .put_object_tagging()
        .bucket(&b)
        .key("public")
        .tagging(tagging(&[("security", "public"), ("project", "x")]))
        .send()
        .await
        .unwrap();
    let e = alice
        .put_object_tagging()
        .bucket(&b)
        .key("public")
        .tagging(tagging(&[("security", "public"), ("owner", "me")]))
        .send()
        .await
        .unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);
    let e = alice
        .put_object_tagging()
        .bucket(&b)
        .key("public")
        .tagging(tagging(&[("project", "secret")]))
        .send()
        .await
        .unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);
    assert_eq!(tags_of(&root, &b, "public", None).await, pairs(&[("project", "x"), ("security", "public")]));
    alice
        .put_object()
        .bucket(&b)
        .key("new")
        .tagging("project=y")
        .body(ByteStream::from_static(b"n"))
        .send()
        .await
        .unwrap();
    let e = alice
        .put_object()
        .bucket(&b)
        .key("new2")
        .tagging("project=secret")
        .body(ByteStream::from_static(b"n"))
        .send()
        .await
        .unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);
    // DeleteObjectTagging needs its own action.
    let e = alice.delete_object_tagging().bucket(&b).key("public").send().await.unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);

    // x-amz-tagging-count only for callers allowed to read the tags.
    let reader = user(
        &srv,
        "reader",
        &format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#),
    )
    .await;
    let get = reader.get_object().bucket(&b).key("public").send().await.unwrap();
    assert_eq!(get.tag_count(), None);
    let get = alice.get_object().bucket(&b).key("public").send().await.unwrap();
    assert_eq!(get.tag_count(), Some(2));
}

#[tokio::test]
async fn tagging_requests_are_in_the_audit_trail() {
    let srv = server();
    let s3 = srv.client();
    let b = versioned_bucket(&s3, "tgaud").await;
    put(&s3, &b, "k", b"x").await;
    s3.put_object_tagging().bucket(&b).key("k").tagging(tagging(&[("a", "1")])).send().await.unwrap();
    s3.delete_object_tagging().bucket(&b).key("k").send().await.unwrap();
    let records = crate::evidence_support::wait_for("tagging records", std::time::Duration::from_secs(5), async || {
        let r = crate::evidence_support::audit_records(&srv.data_dir);
        let ops: Vec<String> =
            r.iter().filter(|r| r["key"] == "k").filter_map(|r| r["op"].as_str().map(str::to_owned)).collect();
        ops.iter().any(|o| o == "DeleteObjectTagging").then_some(ops)
    })
    .await;
    assert_eq!(records, ["PutObject", "PutObjectTagging", "DeleteObjectTagging"]);
}
