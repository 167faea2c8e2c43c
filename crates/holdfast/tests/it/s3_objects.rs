//! Object reads and writes over HTTP with the AWS SDK: round trips of bytes,
//! metadata and standard headers, conditional writes and reads, ranges, part numbers,
//! response overrides, versions and delete markers.

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::{ByteStream, DateTime};
use holdfast_testkit::aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use holdfast_testkit::{Server, bucket_name, error_code};

fn server() -> Server {
    Server::start(env!("CARGO_BIN_EXE_holdfast"))
}

async fn bucket(s3: &Client, tag: &str, versioned: bool) -> String {
    let b = bucket_name(tag);
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

async fn body(out: holdfast_testkit::aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

#[tokio::test]
async fn put_get_round_trips_bytes_metadata_and_headers() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "rt", false).await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let expires = DateTime::from_secs(1_900_000_000);
    let put = s3
        .put_object()
        .bucket(&b)
        .key("dir/obj.bin")
        .body(ByteStream::from(data.clone()))
        .content_type("application/x-test")
        .cache_control("max-age=60")
        .content_disposition("attachment; filename=\"obj.bin\"")
        .content_encoding("identity")
        .content_language("en")
        .expires(expires)
        .metadata("color", "blue")
        .metadata("Mixed-Case", "Value with spaces")
        .send()
        .await
        .unwrap();
    let etag = format!("\"{}\"", md5_hex(&data));
    assert_eq!(put.e_tag(), Some(etag.as_str()));
    assert_eq!(put.version_id(), None, "no version id in a bucket that never had versioning");

    let get = s3.get_object().bucket(&b).key("dir/obj.bin").send().await.unwrap();
    assert_eq!(get.e_tag(), Some(etag.as_str()));
    assert_eq!(get.content_length(), Some(data.len() as i64));
    assert_eq!(get.content_type(), Some("application/x-test"));
    assert_eq!(get.cache_control(), Some("max-age=60"));
    assert_eq!(get.content_disposition(), Some("attachment; filename=\"obj.bin\""));
    assert_eq!(get.content_encoding(), Some("identity"));
    assert_eq!(get.content_language(), Some("en"));
    assert_eq!(get.expires_string(), Some("Sun, 17 Mar 2030 17:46:40 GMT"));
    assert_eq!(get.accept_ranges(), Some("bytes"));
    let meta = get.metadata().unwrap();
    assert_eq!(meta.get("color").map(String::as_str), Some("blue"));
    assert_eq!(meta.get("mixed-case").map(String::as_str), Some("Value with spaces"));
    assert_eq!(get.version_id(), None);
    assert_eq!(body(get).await, data);

    let head = s3.head_object().bucket(&b).key("dir/obj.bin").send().await.unwrap();
    assert_eq!(head.content_length(), Some(data.len() as i64));
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.content_type(), Some("application/x-test"));
    assert_eq!(head.metadata().unwrap().len(), 2);
}

#[tokio::test]
async fn empty_objects_and_overwrite_in_unversioned_bucket() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "empty", false).await;
    s3.put_object().bucket(&b).key("e").body(ByteStream::from_static(b"")).send().await.unwrap();
    let get = s3.get_object().bucket(&b).key("e").send().await.unwrap();
    assert_eq!(get.e_tag(), Some("\"d41d8cd98f00b204e9800998ecf8427e\""));
    assert_eq!(body(get).await, b"");
    s3.put_object().bucket(&b).key("e").body(ByteStream::from_static(b"second")).send().await.unwrap();
    assert_eq!(body(s3.get_object().bucket(&b).key("e").send().await.unwrap()).await, b"second");
    let versions = s3.list_object_versions().bucket(&b).send().await.unwrap();
    assert_eq!(versions.versions().len(), 1, "an unversioned overwrite replaces the null version");
    assert_eq!(versions.versions()[0].version_id(), Some("null"));
}

#[tokio::test]
async fn missing_key_and_bucket_errors() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "missing", false).await;
    let err = s3.get_object().bucket(&b).key("nope").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchKey".into()), Some(404)));
    let err = s3.head_object().bucket(&b).key("nope").send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(404));
    let err = s3.get_object().bucket("no-such-bucket-x").key("k").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchBucket".into()), Some(404)));
    let err = s3
        .put_object()
        .bucket("no-such-bucket-x")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchBucket".into()), Some(404)));
    let err = s3.get_object().bucket(&b).key("k").version_id("not-a-version").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidArgument".into()), Some(400)));
    let err =
        s3.get_object().bucket(&b).key("k").version_id("0123456789abcdef0123456789abcdef").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchVersion".into()), Some(404)));
}

#[tokio::test]
async fn conditional_put_if_none_match_and_if_match() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "condput", false).await;
    let first = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    let err = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("PreconditionFailed".into()), Some(412)));
    let err = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .if_match("\"0000\"")
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("PreconditionFailed".into()), Some(412)));
    assert_eq!(
        body(s3.get_object().bucket(&b).key("k").send().await.unwrap()).await,
        b"one",
        "refused writes change nothing"
    );
    s3.put_object()
        .bucket(&b)
        .key("k")
        .if_match(first.e_tag().unwrap())
        .body(ByteStream::from_static(b"two"))
        .send()
        .await
        .unwrap();
    assert_eq!(body(s3.get_object().bucket(&b).key("k").send().await.unwrap()).await, b"two");
    let err = s3
        .put_object()
        .bucket(&b)
        .key("absent")
        .if_match("\"abc\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchKey".into()), Some(404)));
}

#[tokio::test]
async fn ranges_and_part_numbers() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "range", false).await;
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 256) as u8).collect();
    s3.put_object().bucket(&b).key("k").body(ByteStream::from(data.clone())).send().await.unwrap();
    for (range, want, content_range) in [
        ("bytes=0-9", &data[0..10], "bytes 0-9/1000"),
        ("bytes=990-", &data[990..], "bytes 990-999/1000"),
        ("bytes=-5", &data[995..], "bytes 995-999/1000"),
        ("bytes=500-5000", &data[500..], "bytes 500-999/1000"),
    ] {
        let out = s3.get_object().bucket(&b).key("k").range(range).send().await.unwrap();
        assert_eq!(out.content_range(), Some(content_range), "{range}");
        assert_eq!(out.content_length(), Some(want.len() as i64));
        assert_eq!(body(out).await, want, "{range}");
    }
    let err = s3.get_object().bucket(&b).key("k").range("bytes=1000-").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidRange".into()), Some(416)));
    let one = s3.get_object().bucket(&b).key("k").part_number(1).send().await.unwrap();
    assert_eq!(one.parts_count(), Some(1));
    assert_eq!(body(one).await, data);
    // Default mode answers as s3-tests expects; AWS's 416 is in tests/s3_compat_modes.rs.
    let err = s3.get_object().bucket(&b).key("k").part_number(2).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidPart".into()), Some(400)));
}

#[tokio::test]
async fn conditional_reads() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "condget", false).await;
    let put = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"data")).send().await.unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    let lm = s3.head_object().bucket(&b).key("k").send().await.unwrap().last_modified().cloned().unwrap();
    let past = DateTime::from_secs(lm.secs() - 3600);
    let future = DateTime::from_secs(lm.secs() + 3600);

    s3.get_object().bucket(&b).key("k").if_match(&etag).send().await.unwrap();
    let err = s3.get_object().bucket(&b).key("k").if_match("\"nope\"").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("PreconditionFailed".into()), Some(412)));
    let err = s3.get_object().bucket(&b).key("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(304));
    s3.get_object().bucket(&b).key("k").if_none_match("\"other\"").send().await.unwrap();
    let err = s3.get_object().bucket(&b).key("k").if_modified_since(future).send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(304));
    s3.get_object().bucket(&b).key("k").if_modified_since(past).send().await.unwrap();
    let err = s3.get_object().bucket(&b).key("k").if_unmodified_since(past).send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(412));
    s3.get_object().bucket(&b).key("k").if_unmodified_since(future).send().await.unwrap();
    // If-Match that holds wins over a failing If-Unmodified-Since (RFC 7232 §6).
    s3.get_object().bucket(&b).key("k").if_match(&etag).if_unmodified_since(past).send().await.unwrap();
    let err = s3.head_object().bucket(&b).key("k").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(304));
}

#[tokio::test]
async fn response_header_overrides() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "override", false).await;
    s3.put_object()
        .bucket(&b)
        .key("k")
        .content_type("text/plain")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let out = s3
        .get_object()
        .bucket(&b)
        .key("k")
        .response_content_type("application/json")
        .response_content_disposition("inline")
        .response_cache_control("no-cache")
        .response_content_language("fr")
        .response_content_encoding("gzip")
        .response_expires(DateTime::from_secs(2_000_000_000))
        .send()
        .await
        .unwrap();
    assert_eq!(out.content_type(), Some("application/json"));
    assert_eq!(out.content_disposition(), Some("inline"));
    assert_eq!(out.cache_control(), Some("no-cache"));
    assert_eq!(out.content_language(), Some("fr"));
    assert_eq!(out.content_encoding(), Some("gzip"));
    assert_eq!(out.expires_string(), Some("Wed, 18 May 2033 03:33:20 GMT"));
    let head = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(head.content_type(), Some("text/plain"), "overrides are not stored");
}

#[tokio::test]
async fn versions_delete_markers_and_version_ids() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "versions", true).await;
    let v1 = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"v1")).send().await.unwrap();
    let v2 = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"v2")).send().await.unwrap();
    let (id1, id2) = (v1.version_id().unwrap().to_owned(), v2.version_id().unwrap().to_owned());
    assert_ne!(id1, id2);
    assert_eq!(body(s3.get_object().bucket(&b).key("k").send().await.unwrap()).await, b"v2");
    let old = s3.get_object().bucket(&b).key("k").version_id(&id1).send().await.unwrap();
    assert_eq!(old.version_id(), Some(id1.as_str()));
    assert_eq!(body(old).await, b"v1");

    let del = s3.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = del.version_id().unwrap().to_owned();
    let err = s3.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchKey".into()), Some(404)));
    let raw = err.raw_response().unwrap();
    assert_eq!(raw.headers().get("x-amz-delete-marker"), Some("true"));
    assert_eq!(raw.headers().get("x-amz-version-id"), Some(marker.as_str()));
    let err = s3.head_object().bucket(&b).key("k").version_id(&marker).send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(405), "G5: HEAD of a delete marker version");
    let err = s3.get_object().bucket(&b).key("k").version_id(&marker).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("MethodNotAllowed".into()), Some(405)));

    let list = s3.list_object_versions().bucket(&b).send().await.unwrap();
    let ids: Vec<_> = list.versions().iter().map(|v| v.version_id().unwrap()).collect();
    assert_eq!(ids, vec![id2.as_str(), id1.as_str()], "newest first");
    assert_eq!(list.delete_markers().len(), 1);
    assert_eq!(list.delete_markers()[0].is_latest(), Some(true));

    // Removing the marker brings the object back; deleting a version removes it for good.
    let d = s3.delete_object().bucket(&b).key("k").version_id(&marker).send().await.unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    assert_eq!(d.version_id(), Some(marker.as_str()));
    assert_eq!(body(s3.get_object().bucket(&b).key("k").send().await.unwrap()).await, b"v2");
    s3.delete_object().bucket(&b).key("k").version_id(&id2).send().await.unwrap();
    assert_eq!(body(s3.get_object().bucket(&b).key("k").send().await.unwrap()).await, b"v1");
    let err = s3.get_object().bucket(&b).key("k").version_id(&id2).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchVersion".into()), Some(404)));
}

#[tokio::test]
async fn suspended_versioning_uses_the_null_version() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "suspended", true).await;
    let kept = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"kept")).send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket(&b)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build())
        .send()
        .await
        .unwrap();
    let n1 = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"n1")).send().await.unwrap();
    // AWS sends no x-amz-version-id on a write to a suspended bucket (PutObject API example
    // "versioning suspended"; s3-tests test_versioning_bucket_atomic_upload_return_version_id).
    assert_eq!(n1.version_id(), None);
    s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"n2")).send().await.unwrap();
    let list = s3.list_object_versions().bucket(&b).send().await.unwrap();
    let ids: Vec<_> = list.versions().iter().map(|v| v.version_id().unwrap().to_owned()).collect();
    assert_eq!(
        ids,
        vec!["null".to_owned(), kept.version_id().unwrap().to_owned()],
        "the null version was replaced, not added"
    );
    let got = s3.get_object().bucket(&b).key("k").version_id("null").send().await.unwrap();
    assert_eq!(got.version_id(), Some("null"));
    assert_eq!(body(got).await, b"n2");
    let del = s3.delete_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!((del.delete_marker(), del.version_id()), (Some(true), Some("null")));
    let list = s3.list_object_versions().bucket(&b).send().await.unwrap();
    assert_eq!(list.versions().len(), 1, "the null version gave way to a null delete marker");
    assert_eq!(list.delete_markers()[0].version_id(), Some("null"));
}

#[tokio::test]
async fn delete_of_absent_keys_and_versions_succeeds() {
    let srv = server();
    let s3 = srv.client();
    let plain = bucket(&s3, "absent", false).await;
    let d = s3.delete_object().bucket(&plain).key("never").send().await.unwrap();
    assert_eq!((d.delete_marker(), d.version_id()), (None, None));
    let versioned = bucket(&s3, "absentv", true).await;
    let d = s3
        .delete_object()
        .bucket(&versioned)
        .key("k")
        .version_id("0123456789abcdef0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker(), None, "D13: an absent version is simply gone");
    let err = s3.delete_object().bucket(&versioned).key("k").version_id("bad").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidArgument".into()), Some(400)));
}

#[tokio::test]
async fn hostile_keys_stay_inside_the_data_dir_and_round_trip() {
    let srv = server();
    let s3 = srv.client();
    let b = bucket(&s3, "keys", false).await;
    let keys = [
        "../../../etc/passwd",
        "..",
        "a//b///c",
        "/leading-slash",
        "trailing/",
        "spaces and +plus%percent",
        "unicode-été-日本語-🦀",
        "ctrl-\u{1}-\u{7f}-tab\t",
        "question?mark#hash&amp=eq",
        &"k".repeat(1024),
    ];
    for (i, k) in keys.iter().enumerate() {
        s3.put_object()
            .bucket(&b)
            .key(*k)
            .body(ByteStream::from(vec![i as u8; 3]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{k:?}: {e:?}"));
    }
    for (i, k) in keys.iter().enumerate() {
        let got = s3.get_object().bucket(&b).key(*k).send().await.unwrap_or_else(|e| panic!("{k:?}: {e:?}"));
        assert_eq!(body(got).await, vec![i as u8; 3], "{k:?}");
    }
    let err =
        s3.put_object().bucket(&b).key("k".repeat(1025)).body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("KeyTooLongError".into()), Some(400)));
    // Nothing was written outside the data directory's own layout.
    let mut names: Vec<String> = std::fs::read_dir(&srv.data_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let allowed = [
        "audit",
        "blobs",
        "holdfast.lock",
        "meta.db",
        "meta.db-shm",
        "meta.db-wal",
        "root-identity",
        "secrets.key",
        "space-ballast",
        "tmp",
    ];
    assert!(names.iter().all(|n| allowed.contains(&n.as_str())), "{names:?}");
    // Listing returns UTF-8 byte order. Control characters cannot appear in XML 1.0, so
    // (as AWS advises) the listing asks for url-encoded keys.
    let listed: Vec<String> = s3
        .list_objects_v2()
        .bucket(&b)
        .encoding_type(holdfast_testkit::aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| percent_decode(o.key().unwrap()))
        .collect();
    let mut want: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    want.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(listed, want);
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
