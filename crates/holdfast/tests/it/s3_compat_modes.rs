//! The places where AWS and ceph/s3-tests disagree, answered both ways: the default mode
//! follows s3-tests, `aws_strict = true` follows AWS (spec §12 DP1/DP2 and
//! docs/compatibility.md). Also If-None-Match with ETags on writes, which Holdfast honours
//! in both modes (AWS accepts only `*`).

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::config::RequestChecksumCalculation;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::{Server, ServerOptions, bucket_name, error_code};

async fn setup(strict: bool) -> (Server, Client, String) {
    let config = if strict { "aws_strict = true\n" } else { "" };
    let srv = Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        ServerOptions { config_toml: config.into(), ..Default::default() },
    );
    let s3 = srv.client();
    let s3 = Client::from_conf(
        s3.config().to_builder().request_checksum_calculation(RequestChecksumCalculation::WhenRequired).build(),
    );
    let b = bucket_name("compat");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"data")).send().await.unwrap();
    (srv, s3, b)
}

#[tokio::test]
async fn part_number_out_of_range() {
    for (strict, want) in [(false, ("InvalidPart", 400)), (true, ("InvalidPartNumber", 416))] {
        let (_srv, s3, b) = setup(strict).await;
        let err = s3.get_object().bucket(&b).key("k").part_number(2).send().await.unwrap_err();
        assert_eq!(error_code(&err), (Some(want.0.into()), Some(want.1)), "aws_strict={strict}");
    }
}

#[tokio::test]
async fn malformed_checksum_value() {
    for (strict, want) in [(false, "BadDigest"), (true, "InvalidRequest")] {
        let (_srv, s3, b) = setup(strict).await;
        let err = s3
            .put_object()
            .bucket(&b)
            .key("x")
            .checksum_sha256("bad")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(error_code(&err), (Some(want.into()), Some(400)), "aws_strict={strict}");
        let err = s3.head_object().bucket(&b).key("x").send().await.unwrap_err();
        assert_eq!(error_code(&err).1, Some(404), "nothing stored");
    }
}

#[tokio::test]
async fn if_none_match_with_etags_on_put() {
    let (_srv, s3, b) = setup(false).await;
    let etag = s3.head_object().bucket(&b).key("k").send().await.unwrap().e_tag().unwrap().to_owned();
    let err = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .if_none_match(&etag)
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("PreconditionFailed".into()), Some(412)), "the current ETag is listed");
    s3.put_object()
        .bucket(&b)
        .key("k")
        .if_none_match("\"0123\"")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap();
    let got = s3.get_object().bucket(&b).key("k").send().await.unwrap().body.collect().await.unwrap().into_bytes();
    assert_eq!(got.as_ref(), b"new");
    // With no current object, any If-None-Match holds.
    s3.put_object()
        .bucket(&b)
        .key("fresh")
        .if_none_match(&etag)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn presigned_url_valid_for_more_than_seven_days() {
    use holdfast_testkit::aws_sdk_s3::presigning::PresigningConfig;
    for (strict, want) in [(false, (403, "AccessDenied")), (true, (400, "AuthorizationQueryParametersError"))] {
        let (srv, s3, b) = setup(strict).await;
        let week = 7 * 24 * 3600;
        let url = s3
            .get_object()
            .bucket(&b)
            .key("k")
            .presigned(PresigningConfig::expires_in(std::time::Duration::from_secs(week)).unwrap())
            .await
            .unwrap();
        let path = url
            .uri()
            .strip_prefix(&srv.endpoint)
            .unwrap()
            .replace(&format!("X-Amz-Expires={week}"), &format!("X-Amz-Expires={}", week + 1));
        let resp = holdfast_testkit::raw_http(
            &srv.addr,
            format!("GET {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n", srv.addr).into_bytes(),
        )
        .await
        .unwrap();
        assert_eq!((resp.status, resp.xml("Code").as_deref()), (want.0, Some(want.1)), "aws_strict={strict}");
    }
}
