//! Integrity: Content-MD5 and every x-amz-checksum-* algorithm are verified
//! against the body, stored, and returned with x-amz-checksum-mode: ENABLED; multipart
//! composite and full-object checksums; trailing checksums as the SDK sends them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::config::RequestChecksumCalculation;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
};
use holdfast_testkit::{Server, ServerOptions, bucket_name, error_code};

fn crc(alg: crc_fast::CrcAlgorithm, width: usize, data: &[u8]) -> Vec<u8> {
    crc_fast::checksum(alg, data).to_be_bytes()[8 - width..].to_vec()
}

fn digest(alg: &ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    match alg {
        ChecksumAlgorithm::Crc32 => crc(crc_fast::CrcAlgorithm::Crc32IsoHdlc, 4, data),
        ChecksumAlgorithm::Crc32C => crc(crc_fast::CrcAlgorithm::Crc32Iscsi, 4, data),
        ChecksumAlgorithm::Crc64Nvme => crc(crc_fast::CrcAlgorithm::Crc64Nvme, 8, data),
        ChecksumAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        ChecksumAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
        other => panic!("{other:?}"),
    }
}

fn b64(alg: &ChecksumAlgorithm, data: &[u8]) -> String {
    B64.encode(digest(alg, data))
}

/// A client that only sends checksums when asked (the SDK default adds CRC32).
fn plain_client(s3: &Client) -> Client {
    Client::from_conf(
        s3.config().to_builder().request_checksum_calculation(RequestChecksumCalculation::WhenRequired).build(),
    )
}

const ALGORITHMS: [ChecksumAlgorithm; 5] = [
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Crc32C,
    ChecksumAlgorithm::Crc64Nvme,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Sha256,
];

macro_rules! returned {
    ($out:expr, $alg:expr) => {
        match $alg {
            ChecksumAlgorithm::Crc32 => $out.checksum_crc32(),
            ChecksumAlgorithm::Crc32C => $out.checksum_crc32_c(),
            ChecksumAlgorithm::Crc64Nvme => $out.checksum_crc64_nvme(),
            ChecksumAlgorithm::Sha1 => $out.checksum_sha1(),
            ChecksumAlgorithm::Sha256 => $out.checksum_sha256(),
            _ => None,
        }
    };
}

#[tokio::test]
async fn every_algorithm_is_verified_stored_and_returned() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let s3 = srv.client();
    let b = bucket_name("cks");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for alg in ALGORITHMS {
        let key = format!("obj-{}", alg.as_str());
        // The SDK computes the checksum and sends it (as an aws-chunked trailer on http).
        let put = s3
            .put_object()
            .bucket(&b)
            .key(&key)
            .checksum_algorithm(alg.clone())
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        let want = b64(&alg, &data);
        assert_eq!(returned!(put, &alg), Some(want.as_str()), "{alg:?} put");
        let get = s3.get_object().bucket(&b).key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(returned!(get, &alg), Some(want.as_str()), "{alg:?} get");
        assert_eq!(get.checksum_type(), Some(&ChecksumType::FullObject));
        let head = s3.head_object().bucket(&b).key(&key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(returned!(head, &alg), Some(want.as_str()), "{alg:?} head");
        let without = s3.head_object().bucket(&b).key(&key).send().await.unwrap();
        assert_eq!(returned!(without, &alg), None, "checksums only with checksum mode");
    }
}

#[tokio::test]
async fn wrong_checksums_and_digests_are_refused_and_store_nothing() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let s3 = plain_client(&srv.client());
    let b = bucket_name("ckbad");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let data = b"the body".to_vec();
    let other = b"another body".to_vec();
    // Correct explicit values are accepted.
    s3.put_object()
        .bucket(&b)
        .key("ok")
        .checksum_sha256(b64(&ChecksumAlgorithm::Sha256, &data))
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let md5 = {
        use md5::Digest;
        B64.encode(md5::Md5::digest(&data))
    };
    s3.put_object()
        .bucket(&b)
        .key("ok-md5")
        .content_md5(&md5)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();

    for alg in ALGORITHMS {
        let wrong = b64(&alg, &other);
        let req = s3.put_object().bucket(&b).key("bad").body(ByteStream::from(data.clone()));
        let req = match alg {
            ChecksumAlgorithm::Crc32 => req.checksum_crc32(wrong),
            ChecksumAlgorithm::Crc32C => req.checksum_crc32_c(wrong),
            ChecksumAlgorithm::Crc64Nvme => req.checksum_crc64_nvme(wrong),
            ChecksumAlgorithm::Sha1 => req.checksum_sha1(wrong),
            _ => req.checksum_sha256(wrong),
        };
        let err = req.send().await.unwrap_err();
        assert_eq!(error_code(&err), (Some("BadDigest".into()), Some(400)), "{alg:?}");
    }
    // A malformed value: BadDigest in the default mode, InvalidRequest with aws_strict
    // (tests/s3_compat_modes.rs).
    let err = s3
        .put_object()
        .bucket(&b)
        .key("bad")
        .checksum_crc32("not base64!")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("BadDigest".into()), Some(400)));
    let wrong_md5 = {
        use md5::Digest;
        B64.encode(md5::Md5::digest(&other))
    };
    let err = s3
        .put_object()
        .bucket(&b)
        .key("bad")
        .content_md5(wrong_md5)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("BadDigest".into()), Some(400)));
    let err = s3
        .put_object()
        .bucket(&b)
        .key("bad")
        .content_md5("AAAA")
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidDigest".into()), Some(400)));
    let err = s3.head_object().bucket(&b).key("bad").send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(404), "nothing was stored by the refused writes");
    let listed = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(2));
}

#[tokio::test]
async fn objects_without_a_checksum_get_a_full_object_crc64nvme() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let s3 = plain_client(&srv.client());
    let b = bucket_name("ckdefault");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let data = b"no checksum was sent".to_vec();
    s3.put_object().bucket(&b).key("k").body(ByteStream::from(data.clone())).send().await.unwrap();
    let head = s3.head_object().bucket(&b).key("k").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.checksum_crc64_nvme(), Some(b64(&ChecksumAlgorithm::Crc64Nvme, &data).as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
}

async fn multipart(
    s3: &Client,
    b: &str,
    key: &str,
    alg: Option<ChecksumAlgorithm>,
    kind: Option<ChecksumType>,
    parts: &[Vec<u8>],
) -> String {
    let create = s3
        .create_multipart_upload()
        .bucket(b)
        .key(key)
        .set_checksum_algorithm(alg.clone())
        .set_checksum_type(kind)
        .send()
        .await
        .unwrap();
    let id = create.upload_id().unwrap().to_owned();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(b)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .set_checksum_algorithm(alg.clone())
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        let mut cp = CompletedPart::builder().part_number(n).e_tag(out.e_tag().unwrap());
        if let Some(a) = &alg {
            let v = returned!(out, a).unwrap().to_owned();
            assert_eq!(v, b64(a, p), "part {n} checksum");
            cp = match a {
                ChecksumAlgorithm::Crc32 => cp.checksum_crc32(v),
                ChecksumAlgorithm::Crc32C => cp.checksum_crc32_c(v),
                ChecksumAlgorithm::Crc64Nvme => cp.checksum_crc64_nvme(v),
                ChecksumAlgorithm::Sha1 => cp.checksum_sha1(v),
                _ => cp.checksum_sha256(v),
            };
        }
        done.push(cp.build());
    }
    s3.complete_multipart_upload()
        .bucket(b)
        .key(key)
        .upload_id(&id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn multipart_composite_and_full_object_checksums() {
    let srv = Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        ServerOptions { config_toml: "[limits]\nmin_part_size = 1024\n".into(), ..Default::default() },
    );
    let s3 = plain_client(&srv.client());
    let b = bucket_name("ckmpu");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let parts = vec![vec![1u8; 4000], vec![2u8; 3000], vec![3u8; 10]];
    let whole: Vec<u8> = parts.concat();

    multipart(&s3, &b, "composite", Some(ChecksumAlgorithm::Crc32C), None, &parts).await;
    let head = s3.head_object().bucket(&b).key("composite").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    let raw: Vec<u8> = parts.iter().flat_map(|p| digest(&ChecksumAlgorithm::Crc32C, p)).collect();
    let want = format!("{}-3", b64(&ChecksumAlgorithm::Crc32C, &raw));
    assert_eq!(head.checksum_crc32_c(), Some(want.as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::Composite));

    multipart(&s3, &b, "sha-composite", Some(ChecksumAlgorithm::Sha256), None, &parts).await;
    let head =
        s3.head_object().bucket(&b).key("sha-composite").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    let raw: Vec<u8> = parts.iter().flat_map(|p| digest(&ChecksumAlgorithm::Sha256, p)).collect();
    assert_eq!(head.checksum_sha256(), Some(format!("{}-3", b64(&ChecksumAlgorithm::Sha256, &raw)).as_str()));

    multipart(&s3, &b, "full", Some(ChecksumAlgorithm::Crc32), Some(ChecksumType::FullObject), &parts).await;
    let head = s3.head_object().bucket(&b).key("full").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.checksum_crc32(), Some(b64(&ChecksumAlgorithm::Crc32, &whole).as_str()));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));

    multipart(&s3, &b, "default", None, None, &parts).await;
    let head = s3.head_object().bucket(&b).key("default").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.checksum_crc64_nvme(), Some(b64(&ChecksumAlgorithm::Crc64Nvme, &whole).as_str()));

    // A part that declares another algorithm than its upload is refused.
    let id = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mismatch")
        .checksum_algorithm(ChecksumAlgorithm::Sha1)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let err = s3
        .upload_part()
        .bucket(&b)
        .key("mismatch")
        .upload_id(&id)
        .part_number(1)
        .checksum_crc32(b64(&ChecksumAlgorithm::Crc32, b"x"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidRequest".into()), Some(400)));
}

/// Bodies of several 1 MiB chunks are hashed on the server's hashing threads (MD5 through
/// libcrypto on one, CRC64NVME and the requested checksum on the other, #17): the SDK's
/// trailing CRC32 and an explicit SHA-256 are verified, the ETag is the body's MD5, the
/// stored bytes are exact; a wrong checksum, Content-MD5 or trailer is refused with S3's
/// error and message, and nothing is stored.
#[tokio::test]
async fn large_bodies_hashed_on_threads_are_verified_and_refused_exactly() {
    use holdfast_testkit::aws_sdk_s3::error::ProvideErrorMetadata as _;
    use md5::Digest as _;
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let s3 = srv.client();
    let plain = plain_client(&s3);
    let b = bucket_name("ckbig");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let data: Vec<u8> = (0..(3u32 << 20) + 12_345).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect();
    let etag = format!("\"{}\"", hex::encode(md5::Md5::digest(&data)));

    // The SDK's trailing CRC32 (aws-chunked), then an explicit SHA-256 with Content-MD5.
    let put = s3
        .put_object()
        .bucket(&b)
        .key("trailer")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.checksum_crc32(), Some(b64(&ChecksumAlgorithm::Crc32, &data).as_str()));
    assert_eq!(put.e_tag(), Some(etag.as_str()));
    let put = plain
        .put_object()
        .bucket(&b)
        .key("explicit")
        .checksum_sha256(b64(&ChecksumAlgorithm::Sha256, &data))
        .content_md5(B64.encode(md5::Md5::digest(&data)))
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some(etag.as_str()));
    for key in ["trailer", "explicit"] {
        let get = s3.get_object().bucket(&b).key(key).checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
        assert_eq!(get.e_tag(), Some(etag.as_str()));
        let got = get.body.collect().await.unwrap().into_bytes();
        assert!(got[..] == data[..], "{key}: the stored body differs");
    }

    let mut other = data.clone();
    other[(2 << 20) + 5] ^= 0x40;
    let refused = [
        (
            plain.put_object().checksum_crc32(b64(&ChecksumAlgorithm::Crc32, &other)),
            "The CRC32 you specified did not match the calculated checksum.",
        ),
        (
            plain.put_object().checksum_sha256(b64(&ChecksumAlgorithm::Sha256, &other)),
            "The SHA256 you specified did not match the calculated checksum.",
        ),
        (
            plain.put_object().content_md5(B64.encode(md5::Md5::digest(&other))),
            "The Content-MD5 you specified did not match what we received.",
        ),
    ];
    for (req, message) in refused {
        let err = req.bucket(&b).key("bad").body(ByteStream::from(data.clone())).send().await.unwrap_err();
        assert_eq!(error_code(&err), (Some("BadDigest".into()), Some(400)), "{message}");
        assert_eq!(err.message(), Some(message));
    }
    let err = s3.head_object().bucket(&b).key("bad").send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(404), "nothing was stored by the refused writes");
}
