//! The limits Amazon S3 has, on every path: keys of at most 1,024 bytes (put, copy
//! destination and source, multipart, delete markers; DeleteObjects per key is in
//! s3_strict_xml.rs) and user metadata of at most 2 KB (put, multipart, copy with REPLACE),
//! each refused with AWS's code and nothing stored.

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{BucketVersioningStatus, MetadataDirective};
use holdfast_testkit::{ROOT_AK, ROOT_SK, raw_http, signed_request};
use std::time::SystemTime;

const TOO_LONG: &str = "Your key is too long";
const META_TOO_LARGE: &str = "Your metadata headers exceed the maximum allowed metadata size.";

/// Every listed version and delete marker of the bucket, and every pending upload.
async fn stored(s3: &holdfast_testkit::aws_sdk_s3::Client, b: &str) -> (usize, usize, usize) {
    let v = s3.list_object_versions().bucket(b).send().await.unwrap();
    let u = s3.list_multipart_uploads().bucket(b).send().await.unwrap();
    (v.versions().len(), v.delete_markers().len(), u.uploads().len())
}

#[tokio::test]
async fn a_key_over_1024_bytes_is_refused_on_every_write_path() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "longkeys").await;
    set_versioning(&s3, &b, BucketVersioningStatus::Enabled).await;
    let long = "k".repeat(1025);
    // Multi-byte characters count in bytes: 342 × 3 = 1,026 bytes.
    let long_utf8 = "日".repeat(342);
    put(&s3, &b, "src", b"source").await;
    let before = stored(&s3, &b).await;
    for key in [&long, &long_utf8] {
        let e = s3.put_object().bucket(&b).key(key).body(ByteStream::from_static(b"x")).send().await.unwrap_err();
        assert_err(&e, "KeyTooLongError", 400, Some(TOO_LONG));
        let e = s3.copy_object().bucket(&b).key(key).copy_source(format!("{b}/src")).send().await.unwrap_err();
        assert_err(&e, "KeyTooLongError", 400, Some(TOO_LONG));
        let e = s3.create_multipart_upload().bucket(&b).key(key).send().await.unwrap_err();
        assert_err(&e, "KeyTooLongError", 400, Some(TOO_LONG));
        // In a versioned bucket a DELETE would store a delete marker under the key.
        let e = s3.delete_object().bucket(&b).key(key).send().await.unwrap_err();
        assert_err(&e, "KeyTooLongError", 400, Some(TOO_LONG));
        // A copy source naming such a key cannot exist; AWS refuses the name itself.
        let e = s3.copy_object().bucket(&b).key("dst").copy_source(format!("{b}/{key}")).send().await.unwrap_err();
        assert_err(&e, "KeyTooLongError", 400, Some(TOO_LONG));
    }
    assert_eq!(stored(&s3, &b).await, before, "nothing was stored");
    // 1,024 bytes is allowed everywhere.
    let max = "k".repeat(1024);
    s3.copy_object().bucket(&b).key(&max).copy_source(format!("{b}/src")).send().await.unwrap();
    s3.copy_object().bucket(&b).key("dst").copy_source(format!("{b}/{max}")).send().await.unwrap();
    s3.delete_object().bucket(&b).key(&max).send().await.unwrap();
}

#[tokio::test]
async fn user_metadata_over_2_kb_is_refused_on_every_path() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "bigmeta").await;
    s3.put_object().bucket(&b).key("src").body(ByteStream::from_static(b"source")).send().await.unwrap();
    let before = stored(&s3, &b).await;
    // Name and value bytes count: "k" + 2,048 = 2,049 bytes.
    let big = "v".repeat(2048);
    let e = s3.put_object().bucket(&b).key("o").metadata("k", &big).body(ByteStream::from_static(b"x")).send().await;
    assert_err(&e.unwrap_err(), "MetadataTooLarge", 400, Some(META_TOO_LARGE));
    let e = s3.create_multipart_upload().bucket(&b).key("o").metadata("k", &big).send().await;
    assert_err(&e.unwrap_err(), "MetadataTooLarge", 400, Some(META_TOO_LARGE));
    let e = s3
        .copy_object()
        .bucket(&b)
        .key("o")
        .copy_source(format!("{b}/src"))
        .metadata_directive(MetadataDirective::Replace)
        .metadata("k", &big)
        .send()
        .await;
    assert_err(&e.unwrap_err(), "MetadataTooLarge", 400, Some(META_TOO_LARGE));
    assert_eq!(stored(&s3, &b).await, before, "nothing was stored");
    // Exactly 2 KB is allowed.
    let fits = "v".repeat(2047);
    s3.put_object().bucket(&b).key("o").metadata("k", &fits).body(ByteStream::from_static(b"x")).send().await.unwrap();
}

/// Body caps per operation: a bucket policy over 20 KB is MalformedPolicy (AWS's 20 KB limit);
/// a body beyond what the operation can hold is refused before it is buffered whole
/// (8 MiB for every body read whole: XML in s3_strict_xml.rs, JSON here), 400 and nothing
/// stored, never 500.
#[tokio::test]
async fn bodies_over_each_operations_cap_are_refused_with_aws_codes() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "bodycaps").await;
    let statement =
        format!(r#"{{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/x"}}"#);
    let policy =
        |n: usize| format!(r#"{{"Version":"2012-10-17","Statement":[{}]}}"#, vec![statement.as_str(); n].join(","));
    let over_20_kb = policy(20 * 1024 / statement.len() + 1);
    assert!(over_20_kb.len() > 20 * 1024);
    let e = s3.put_bucket_policy().bucket(&b).policy(&over_20_kb).send().await.unwrap_err();
    assert_err(&e, "MalformedPolicy", 400, Some("Policies must be less than 20 KB"));
    // Over 8 MiB: refused on its declared length, before any of it is read (s3s answered 500
    // once it had read past its cap). Only the head is sent: the answer comes first.
    let huge = vec![b'x'; (8 << 20) + 1];
    let req =
        signed_request(&srv.addr, "PUT", &format!("/{b}?policy"), &[], &huge, ROOT_AK, ROOT_SK, SystemTime::now());
    let head_len = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let r = raw_http(&srv.addr, req[..head_len].to_vec()).await.unwrap();
    assert_raw_err(&r, 400, "MaxMessageLengthExceeded", Some("Your request was too big."));
    let e = s3.get_bucket_policy().bucket(&b).send().await.unwrap_err();
    assert_err(&e, "NoSuchBucketPolicy", 404, None);
}
