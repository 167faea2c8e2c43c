//! Multipart uploads: create, upload, upload-copy, list, complete, abort, and
//! the checks on part order, ETags and sizes.

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectAttributes};
use holdfast_testkit::{Server, ServerOptions, bucket_name, error_code};

const MIB: usize = 1 << 20;

/// Parts of 5 MiB (the AWS minimum) are real here; tests that only need many small parts
/// lower the limit.
fn server_with_min_part(min: usize) -> Server {
    Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        ServerOptions { config_toml: format!("[limits]\nmin_part_size = {min}\n"), ..Default::default() },
    )
}

fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

async fn upload_parts(s3: &Client, b: &str, key: &str, id: &str, parts: &[Vec<u8>]) -> Vec<CompletedPart> {
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(b)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(out.e_tag(), Some(format!("\"{}\"", hex::encode(md5(p))).as_str()));
        done.push(CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap()).build());
    }
    done
}

#[tokio::test]
async fn complete_upload_with_real_5mib_parts() {
    let srv = server_with_min_part(5 * MIB);
    let s3 = srv.client();
    let b = bucket_name("mpu");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let parts = vec![vec![1u8; 5 * MIB], vec![2u8; 5 * MIB], vec![3u8; 1000]];
    let create = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("big")
        .content_type("application/x-big")
        .metadata("m", "v")
        .send()
        .await
        .unwrap();
    let id = create.upload_id().unwrap().to_owned();
    let done = upload_parts(&s3, &b, "big", &id, &parts).await;

    let listed = s3.list_parts().bucket(&b).key("big").upload_id(&id).send().await.unwrap();
    let sizes: Vec<_> = listed.parts().iter().map(|p| (p.part_number().unwrap(), p.size().unwrap())).collect();
    assert_eq!(sizes, vec![(1, 5 * MIB as i64), (2, 5 * MIB as i64), (3, 1000)]);
    let uploads = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));

    let out = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("big")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    let mut cat = Vec::new();
    for p in &parts {
        cat.extend_from_slice(&md5(p));
    }
    let want_etag = format!("\"{}-3\"", hex::encode(md5(&cat)));
    assert_eq!(out.e_tag(), Some(want_etag.as_str()));

    let get = s3.get_object().bucket(&b).key("big").send().await.unwrap();
    assert_eq!(get.content_length(), Some((10 * MIB + 1000) as i64));
    assert_eq!(get.content_type(), Some("application/x-big"));
    assert_eq!(get.metadata().unwrap().get("m").map(String::as_str), Some("v"));
    let data = get.body.collect().await.unwrap().into_bytes();
    assert_eq!(&data[..5 * MIB], &parts[0][..]);
    assert_eq!(&data[5 * MIB..10 * MIB], &parts[1][..]);
    assert_eq!(&data[10 * MIB..], &parts[2][..]);
    // partNumber reads one part and reports the count.
    let p2 = s3.get_object().bucket(&b).key("big").part_number(2).send().await.unwrap();
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(p2.content_length(), Some(5 * MIB as i64));
    let head = s3.head_object().bucket(&b).key("big").part_number(3).send().await.unwrap();
    assert_eq!(head.content_length(), Some(1000));
    // A range across the part boundary.
    let r = s3
        .get_object()
        .bucket(&b)
        .key("big")
        .range(format!("bytes={}-{}", 5 * MIB - 2, 5 * MIB + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.body.collect().await.unwrap().into_bytes().to_vec(), vec![1, 1, 2, 2]);

    let attrs = s3
        .get_object_attributes()
        .bucket(&b)
        .key("big")
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::Etag)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size(), Some((10 * MIB + 1000) as i64));
    assert_eq!(attrs.e_tag().map(|e| e.trim_matches('"')), Some(want_etag.trim_matches('"')));
    assert_eq!(attrs.object_parts().unwrap().total_parts_count(), Some(3));
    assert!(
        s3.list_multipart_uploads().bucket(&b).send().await.unwrap().uploads().is_empty(),
        "completion ends the upload"
    );
    let err = s3.list_parts().bucket(&b).key("big").upload_id(&id).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchUpload".into()), Some(404)));
}

#[tokio::test]
async fn completion_checks_order_etags_and_sizes() {
    let srv = server_with_min_part(5 * MIB);
    let s3 = srv.client();
    let b = bucket_name("mpucheck");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let id = s3.create_multipart_upload().bucket(&b).key("k").send().await.unwrap().upload_id().unwrap().to_owned();
    let done = upload_parts(&s3, &b, "k", &id, &[vec![7u8; 100], vec![8u8; 100]]).await;
    let complete = |parts: Vec<CompletedPart>| {
        s3.complete_multipart_upload()
            .bucket(&b)
            .key("k")
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
    };
    let err = complete(vec![done[1].clone(), done[0].clone()]).await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidPartOrder".into()), Some(400)));
    let wrong = CompletedPart::builder().part_number(1).e_tag("\"00000000000000000000000000000000\"").build();
    let err = complete(vec![wrong]).await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidPart".into()), Some(400)));
    let missing = CompletedPart::builder().part_number(9).e_tag(done[0].e_tag().unwrap()).build();
    let err = complete(vec![missing]).await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidPart".into()), Some(400)));
    let err = complete(done.clone()).await.unwrap_err();
    assert_eq!(error_code(&err), (Some("EntityTooSmall".into()), Some(400)), "a 100-byte part that is not last");
    // A single small part is allowed (it is the last one).
    complete(vec![done[0].clone()]).await.unwrap();
    let got = s3.get_object().bucket(&b).key("k").send().await.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(got.to_vec(), vec![7u8; 100]);
    let err = s3
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id("nonexistentupload")
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchUpload".into()), Some(404)));
}

#[tokio::test]
async fn abort_removes_the_upload_and_parts_can_be_replaced() {
    let srv = server_with_min_part(1024);
    let s3 = srv.client();
    let b = bucket_name("mpuabort");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let id = s3.create_multipart_upload().bucket(&b).key("k").send().await.unwrap().upload_id().unwrap().to_owned();
    upload_parts(&s3, &b, "k", &id, &[vec![1u8; 2048]]).await;
    // Re-uploading part 1 replaces it.
    let again = s3
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(vec![9u8; 1500]))
        .send()
        .await
        .unwrap();
    let parts = s3.list_parts().bucket(&b).key("k").upload_id(&id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 1);
    assert_eq!(parts.parts()[0].size(), Some(1500));
    assert_eq!(parts.parts()[0].e_tag(), again.e_tag());
    let err = s3
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(10001)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidArgument".into()), Some(400)));
    s3.abort_multipart_upload().bucket(&b).key("k").upload_id(&id).send().await.unwrap();
    let err = s3.list_parts().bucket(&b).key("k").upload_id(&id).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchUpload".into()), Some(404)));
    let err = s3.abort_multipart_upload().bucket(&b).key("k").upload_id(&id).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchUpload".into()), Some(404)));
    let err = s3.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(error_code(&err).0.as_deref(), Some("NoSuchKey"), "an aborted upload leaves no object");
}

#[tokio::test]
async fn upload_part_copy_with_ranges() {
    let srv = server_with_min_part(1024);
    let s3 = srv.client();
    let b = bucket_name("mpucopy");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let src: Vec<u8> = (0..4096u32).map(|i| (i % 256) as u8).collect();
    s3.put_object().bucket(&b).key("src").body(ByteStream::from(src.clone())).send().await.unwrap();
    let id = s3.create_multipart_upload().bucket(&b).key("dst").send().await.unwrap().upload_id().unwrap().to_owned();
    let p1 = s3
        .upload_part_copy()
        .bucket(&b)
        .key("dst")
        .upload_id(&id)
        .part_number(1)
        .copy_source(format!("{b}/src"))
        .copy_source_range("bytes=0-2047")
        .send()
        .await
        .unwrap();
    let p2 = s3
        .upload_part_copy()
        .bucket(&b)
        .key("dst")
        .upload_id(&id)
        .part_number(2)
        .copy_source(format!("{b}/src"))
        .send()
        .await
        .unwrap();
    let err = s3
        .upload_part_copy()
        .bucket(&b)
        .key("dst")
        .upload_id(&id)
        .part_number(3)
        .copy_source(format!("{b}/src"))
        .copy_source_range("bytes=0-999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidArgument".into()), Some(400)), "range beyond the source");
    let parts = vec![
        CompletedPart::builder().part_number(1).e_tag(p1.copy_part_result().unwrap().e_tag().unwrap()).build(),
        CompletedPart::builder().part_number(2).e_tag(p2.copy_part_result().unwrap().e_tag().unwrap()).build(),
    ];
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("dst")
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let got =
        s3.get_object().bucket(&b).key("dst").send().await.unwrap().body.collect().await.unwrap().into_bytes().to_vec();
    let mut want = src[..2048].to_vec();
    want.extend_from_slice(&src);
    assert_eq!(got, want);
}

#[tokio::test]
async fn list_multipart_uploads_with_prefix_and_delimiter() {
    let srv = server_with_min_part(1024);
    let s3 = srv.client();
    let b = bucket_name("mpulist");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    for k in ["x/1", "x/2", "y", "z/q/1"] {
        s3.create_multipart_upload().bucket(&b).key(k).send().await.unwrap();
    }
    let all = s3.list_multipart_uploads().bucket(&b).delimiter("/").send().await.unwrap();
    let keys: Vec<_> = all.uploads().iter().map(|u| u.key().unwrap()).collect();
    let cps: Vec<_> = all.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(keys, vec!["y"]);
    assert_eq!(cps, vec!["x/", "z/"]);
    let x = s3.list_multipart_uploads().bucket(&b).prefix("x/").send().await.unwrap();
    assert_eq!(x.uploads().len(), 2);
    let page = s3.list_multipart_uploads().bucket(&b).max_uploads(1).send().await.unwrap();
    assert_eq!(page.is_truncated(), Some(true));
    assert_eq!(page.next_key_marker(), Some("x/1"));
}
