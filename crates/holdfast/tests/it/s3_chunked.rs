//! aws-chunked uploads: signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD),
//! unsigned chunks with a trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER), and the
//! guards s3s 0.14 lacks: a cap on one chunk's declared size and on the decoded length.

use base64::Engine as _;
use holdfast_testkit::aws_sdk_s3::types::ChecksumMode;
use holdfast_testkit::{
    Chunked, ROOT_AK, ROOT_SK, Server, ServerOptions, aws_chunked_request, bucket_name, error_code, raw_http,
};
use std::time::SystemTime;

fn crc32_b64(data: &[u8]) -> String {
    let v = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, data) as u32;
    base64::engine::general_purpose::STANDARD.encode(v.to_be_bytes())
}

async fn setup(config: &str) -> (Server, String) {
    let srv = Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        ServerOptions { config_toml: config.into(), ..Default::default() },
    );
    let b = bucket_name("chunked");
    srv.client().create_bucket().bucket(&b).send().await.unwrap();
    (srv, b)
}

async fn read(srv: &Server, b: &str, k: &str) -> Option<Vec<u8>> {
    match srv.client().get_object().bucket(b).key(k).send().await {
        Ok(o) => Some(o.body.collect().await.unwrap().into_bytes().to_vec()),
        Err(e) => {
            assert_eq!(error_code(&e).0.as_deref(), Some("NoSuchKey"));
            None
        }
    }
}

#[tokio::test]
async fn signed_chunks_are_verified() {
    let (srv, b) = setup("").await;
    let (c1, c2, c3) = (vec![1u8; 65536], vec![2u8; 65536], b"tail".to_vec());
    let req = aws_chunked_request(
        &srv.addr,
        &format!("/{b}/signed"),
        &[&c1, &c2, &c3],
        Chunked::Signed,
        ROOT_AK,
        ROOT_SK,
        SystemTime::now(),
    );
    let resp = raw_http(&srv.addr, req.clone()).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(read(&srv, &b, "signed").await.unwrap(), [c1.clone(), c2.clone(), c3.clone()].concat());

    // One flipped byte in the second chunk breaks its signature: nothing is stored.
    let mut tampered = aws_chunked_request(
        &srv.addr,
        &format!("/{b}/tampered"),
        &[&c1, &c2, &c3],
        Chunked::Signed,
        ROOT_AK,
        ROOT_SK,
        SystemTime::now(),
    );
    let at = tampered.len() - 200;
    tampered[at] ^= 0xFF;
    let resp = raw_http(&srv.addr, tampered).await.unwrap();
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (403, Some("SignatureDoesNotMatch")), "{}", resp.text());
    assert_eq!(read(&srv, &b, "tampered").await, None);
}

#[tokio::test]
async fn unsigned_chunks_with_trailing_checksum() {
    let (srv, b) = setup("").await;
    let data = b"streamed with a trailer".to_vec();
    let good = crc32_b64(&data);
    let req = aws_chunked_request(
        &srv.addr,
        &format!("/{b}/trailer"),
        &[&data],
        Chunked::UnsignedTrailer("x-amz-checksum-crc32", &good),
        ROOT_AK,
        ROOT_SK,
        SystemTime::now(),
    );
    let resp = raw_http(&srv.addr, req).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    let head =
        srv.client().head_object().bucket(&b).key("trailer").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(head.checksum_crc32(), Some(good.as_str()), "the trailing checksum is stored");

    let wrong = crc32_b64(b"something else");
    let req = aws_chunked_request(
        &srv.addr,
        &format!("/{b}/bad-trailer"),
        &[&data],
        Chunked::UnsignedTrailer("x-amz-checksum-crc32", &wrong),
        ROOT_AK,
        ROOT_SK,
        SystemTime::now(),
    );
    let resp = raw_http(&srv.addr, req).await.unwrap();
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("BadDigest")), "{}", resp.text());
    assert_eq!(read(&srv, &b, "bad-trailer").await, None);
}

#[tokio::test]
async fn oversized_chunks_and_decoded_lengths_are_refused_before_buffering() {
    let (srv, b) = setup("[limits]\nmax_chunk_size = 1048576\nmax_put_size = 4194304\n").await;
    // A chunk header declaring 16 MiB: refused as soon as the header is read.
    let small = vec![7u8; 10];
    let req = aws_chunked_request(
        &srv.addr,
        &format!("/{b}/huge-chunk"),
        &[&small],
        Chunked::Signed,
        ROOT_AK,
        ROOT_SK,
        SystemTime::now(),
    );
    let text = String::from_utf8_lossy(&req).into_owned();
    let forged = text.replacen("\r\na;chunk-signature=", "\r\n1000000;chunk-signature=", 1).into_bytes();
    assert_ne!(forged, req, "the chunk header was rewritten");
    let resp = raw_http(&srv.addr, forged).await.unwrap();
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("EntityTooLarge")), "{}", resp.text());
    // A decoded length over max_put_size is refused from the headers alone.
    let req = aws_chunked_request(
        &srv.addr,
        &format!("/{b}/too-long"),
        &[&small],
        Chunked::Signed,
        ROOT_AK,
        ROOT_SK,
        SystemTime::now(),
    );
    let forged = String::from_utf8_lossy(&req)
        .replacen("x-amz-decoded-content-length: 10", "x-amz-decoded-content-length: 5000000", 1)
        .into_bytes();
    let resp = raw_http(&srv.addr, forged).await.unwrap();
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("EntityTooLarge")), "{}", resp.text());
    assert_eq!(read(&srv, &b, "huge-chunk").await, None);
    assert_eq!(read(&srv, &b, "too-long").await, None);
}
