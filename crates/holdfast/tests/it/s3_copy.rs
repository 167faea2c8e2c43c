//! CopyObject: metadata directives, source versions, copy conditions.

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::{ByteStream, DateTime};
use holdfast_testkit::aws_sdk_s3::types::{BucketVersioningStatus, MetadataDirective, VersioningConfiguration};
use holdfast_testkit::{Server, bucket_name, error_code};

async fn setup(s3: &Client, versioned: bool) -> String {
    let b = bucket_name("copy");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    if versioned {
        s3.put_bucket_versioning()
            .bucket(&b)
            .versioning_configuration(
                VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
            )
            .send()
            .await
            .unwrap();
    }
    b
}

async fn read(s3: &Client, b: &str, k: &str) -> Vec<u8> {
    s3.get_object().bucket(b).key(k).send().await.unwrap().body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn copy_keeps_or_replaces_metadata() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let s3 = srv.client();
    let b = setup(&s3, false).await;
    let dst_bucket = bucket_name("copydst");
    s3.create_bucket().bucket(&dst_bucket).send().await.unwrap();
    let src = s3
        .put_object()
        .bucket(&b)
        .key("src")
        .content_type("text/x-src")
        .metadata("origin", "source")
        .body(ByteStream::from_static(b"copy me"))
        .send()
        .await
        .unwrap();
    let out = s3.copy_object().bucket(&dst_bucket).key("same").copy_source(format!("{b}/src")).send().await.unwrap();
    let result = out.copy_object_result().unwrap();
    assert_eq!(result.e_tag(), src.e_tag(), "same bytes, same MD5 ETag");
    assert!(result.last_modified().is_some());
    let head = s3.head_object().bucket(&dst_bucket).key("same").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/x-src"));
    assert_eq!(head.metadata().unwrap().get("origin").map(String::as_str), Some("source"));
    assert_eq!(read(&s3, &dst_bucket, "same").await, b"copy me");

    s3.copy_object()
        .bucket(&b)
        .key("replaced")
        .copy_source(format!("{b}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .content_type("text/x-new")
        .metadata("fresh", "yes")
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket(&b).key("replaced").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/x-new"));
    let meta = head.metadata().unwrap();
    assert_eq!((meta.get("fresh").map(String::as_str), meta.get("origin")), (Some("yes"), None));

    // Onto itself without a change is refused; with REPLACE it is a metadata update.
    let err = s3.copy_object().bucket(&b).key("src").copy_source(format!("{b}/src")).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidRequest".into()), Some(400)));
    s3.copy_object()
        .bucket(&b)
        .key("src")
        .copy_source(format!("{b}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("origin", "updated")
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket(&b).key("src").send().await.unwrap();
    assert_eq!(head.metadata().unwrap().get("origin").map(String::as_str), Some("updated"));

    let err = s3.copy_object().bucket(&b).key("x").copy_source(format!("{b}/missing")).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchKey".into()), Some(404)));
    let err = s3.copy_object().bucket(&b).key("x").copy_source("no-such-bucket-q/src").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchBucket".into()), Some(404)));
}

#[tokio::test]
async fn copy_from_a_source_version() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let s3 = srv.client();
    let b = setup(&s3, true).await;
    let v1 = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"first")).send().await.unwrap();
    s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"second")).send().await.unwrap();
    let id1 = v1.version_id().unwrap();
    // Restoring an older version by copying it onto the same key is allowed.
    let out = s3.copy_object().bucket(&b).key("k").copy_source(format!("{b}/k?versionId={id1}")).send().await.unwrap();
    assert_eq!(out.copy_source_version_id(), Some(id1));
    assert!(out.version_id().is_some_and(|v| v != id1));
    assert_eq!(read(&s3, &b, "k").await, b"first");
    assert_eq!(s3.list_object_versions().bucket(&b).send().await.unwrap().versions().len(), 3);
    let err = s3
        .copy_object()
        .bucket(&b)
        .key("x")
        .copy_source(format!("{b}/k?versionId=0123456789abcdef0123456789abcdef"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchVersion".into()), Some(404)));
}

#[tokio::test]
async fn copy_conditions() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let s3 = srv.client();
    let b = setup(&s3, false).await;
    let put = s3.put_object().bucket(&b).key("src").body(ByteStream::from_static(b"data")).send().await.unwrap();
    let etag = put.e_tag().unwrap();
    let lm = s3.head_object().bucket(&b).key("src").send().await.unwrap().last_modified().cloned().unwrap();
    let src = format!("{b}/src");
    s3.copy_object().bucket(&b).key("a").copy_source(&src).copy_source_if_match(etag).send().await.unwrap();
    let err =
        s3.copy_object().bucket(&b).key("b").copy_source(&src).copy_source_if_match("\"x\"").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("PreconditionFailed".into()), Some(412)));
    let err = s3
        .copy_object()
        .bucket(&b)
        .key("b")
        .copy_source(&src)
        .copy_source_if_none_match(etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err).1, Some(412), "a failed copy condition is 412, never 304");
    let err = s3
        .copy_object()
        .bucket(&b)
        .key("b")
        .copy_source(&src)
        .copy_source_if_unmodified_since(DateTime::from_secs(lm.secs() - 3600))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err).1, Some(412));
    s3.copy_object()
        .bucket(&b)
        .key("c")
        .copy_source(&src)
        .copy_source_if_modified_since(DateTime::from_secs(lm.secs() - 3600))
        .send()
        .await
        .unwrap();
    let err = s3.head_object().bucket(&b).key("b").send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(404), "refused copies wrote nothing");
}
