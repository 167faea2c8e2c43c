//! Smaller divergences from Amazon S3 found by a hostile client, each answered
//! now as AWS answers it.

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::types::ObjectLockMode;
use holdfast_testkit::{ROOT_AK, ROOT_SK, Server, ServerOptions, raw_http, signed_request};
use std::time::SystemTime;

/// A signed request with its Content-Length line taken out (it is not signed).
fn without_content_length(request: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(request).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let head: Vec<&str> =
        head.split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("content-length:")).collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes()
}

/// An unsigned presigned-style GET of `/` with this credential-scope date and signature: what
/// the edge judges before any signature is checked.
async fn presigned_get(srv: &Server, scope_date: &str, signature: &str) -> holdfast_testkit::RawResponse {
    let request = format!(
        "GET /?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={ROOT_AK}%2F{scope_date}%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature={signature} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n",
        srv.addr
    );
    raw_http(&srv.addr, request.into_bytes()).await.unwrap()
}

#[tokio::test]
async fn a_put_without_any_length_is_411_and_stores_nothing() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "nolen").await;
    set_default(
        &s3,
        &b,
        Some((holdfast_testkit::aws_sdk_s3::types::ObjectLockRetentionMode::Compliance, Some(1), None)),
    )
    .await;
    let req = signed_request(&srv.addr, "PUT", &format!("/{b}/empty"), &[], b"", ROOT_AK, ROOT_SK, SystemTime::now());
    let r = raw_http(&srv.addr, without_content_length(req)).await.unwrap();
    assert_raw_err(&r, 411, "MissingContentLength", Some("You must provide the Content-Length HTTP header."));
    let head = s3.head_object().bucket(&b).key("empty").send().await;
    assert!(head.is_err(), "no (locked, empty) version was stored");
}

#[tokio::test]
async fn a_bad_percent_escape_is_invalid_uri_and_errors_carry_aws_messages() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "baduri").await;
    let req = format!("GET /{b}/a%G1b HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n", srv.addr);
    let r = raw_http(&srv.addr, req.into_bytes()).await.unwrap();
    assert_raw_err(&r, 400, "InvalidURI", Some("Couldn't parse the specified URI."));
    let r = raw(&srv, "GET", "/Not_A_Valid_Bucket", &[], b"").await;
    assert_raw_err(&r, 400, "InvalidBucketName", Some("The specified bucket is not valid."));
}

#[tokio::test]
async fn a_request_signed_for_another_region_names_the_expected_one() {
    // The testkit signs for us-east-1; this server is in eu-west-1.
    let srv = Server::start_with(
        crate::evidence_support::BIN,
        ServerOptions { config_toml: "region = \"eu-west-1\"\n".into(), ..Default::default() },
    );
    let r = raw(&srv, "GET", "/", &[], b"").await;
    assert_raw_err(
        &r,
        400,
        "AuthorizationHeaderMalformed",
        Some("The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'"),
    );
    assert_eq!(r.xml("Region").as_deref(), Some("eu-west-1"));
    let r = presigned_get(&srv, "20260101", &"0".repeat(64)).await;
    assert_raw_err(
        &r,
        400,
        "AuthorizationQueryParametersError",
        Some("Error parsing the X-Amz-Credential parameter; the region 'us-east-1' is wrong; expecting 'eu-west-1'"),
    );
}

#[tokio::test]
async fn a_presigned_signature_of_the_wrong_length_is_signature_does_not_match() {
    let srv = server();
    for signature in ["0".repeat(65), "0".repeat(63), "z".repeat(64)] {
        let r = presigned_get(&srv, "20260101", &signature).await;
        assert_raw_err(
            &r,
            403,
            "SignatureDoesNotMatch",
            Some(
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ),
        );
    }
}

/// AWS reads `x-amz-bypass-governance-retention` case-insensitively: `TRUE` (signed, as every
/// SDK signs x-amz-* headers) bypasses a GOVERNANCE retention like `true` (D8). s3s parses only
/// `true`/`True`; the edge rewrites the value and re-signs after checking the client's signature.
#[tokio::test]
async fn the_bypass_header_is_read_in_any_case() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "bypasscase").await;
    let mut versions = Vec::new();
    for _ in 0..3 {
        versions.push(put_locked(&s3, &b, "k", ObjectLockMode::Governance, &days(1)).await);
    }
    // Without bypass (or with FALSE in capitals) the retention holds: 403 AccessDenied.
    for value in [None, Some("FALSE")] {
        let headers: Vec<(&str, &str)> =
            value.map(|v| vec![("x-amz-bypass-governance-retention", v)]).unwrap_or_default();
        let r = raw(&srv, "DELETE", &format!("/{b}/k?versionId={}", versions[0]), &headers, b"").await;
        assert_raw_err(&r, 403, "AccessDenied", None);
    }
    for (v, value) in versions.iter().zip(["TRUE", "tRuE", "True"]) {
        let r =
            raw(&srv, "DELETE", &format!("/{b}/k?versionId={v}"), &[("x-amz-bypass-governance-retention", value)], b"")
                .await;
        assert_eq!(r.status, 204, "{value}: {}", r.text());
    }
    assert!(version_ids(&s3, &b, "k").await.is_empty(), "every version was removed with bypass");
    // A wrong signature is not repaired into a valid one: s3s refuses the request.
    let req = signed_request(
        &srv.addr,
        "DELETE",
        &format!("/{b}/k?versionId=whatever"),
        &[("x-amz-bypass-governance-retention", "TRUE")],
        b"",
        ROOT_AK,
        "not-the-secret",
        SystemTime::now(),
    );
    let r = raw_http(&srv.addr, req).await.unwrap();
    assert_raw_err(&r, 403, "SignatureDoesNotMatch", None);
    // CreateBucket's lock flag in capitals enables Object Lock.
    let r = raw(&srv, "PUT", "/caps-lock-bucket", &[("x-amz-bucket-object-lock-enabled", "TRUE")], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let conf = s3.get_object_lock_configuration().bucket("caps-lock-bucket").send().await.unwrap();
    assert_eq!(
        conf.object_lock_configuration().and_then(|c| c.object_lock_enabled()).map(|e| e.as_str()),
        Some("Enabled")
    );
}

/// A header section over 8 KiB: 400 RequestHeaderSectionTooLarge with MaxSizeAllowed 8192, as
/// AWS answers (hyper answered a bare 431); a request of many small headers under the limit
/// is served. Beyond 1,024 fields hyper answers 431 itself (`MAX_HEADER_FIELDS`: what it
/// parses costs an allocation of that size on every request).
#[tokio::test]
async fn an_oversized_header_section_gets_the_aws_error_with_a_body() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "bighead").await;
    let big = "v".repeat(9000);
    let r = raw(&srv, "GET", &format!("/{b}?versioning"), &[("x-custom", &big)], b"").await;
    assert_raw_err(
        &r,
        400,
        "RequestHeaderSectionTooLarge",
        Some("Your request header section exceeds the maximum allowed size."),
    );
    assert_eq!(xml_text(&r, "MaxSizeAllowed").as_deref(), Some("8192"));
    // 300 small headers (more than hyper's default 100), 3.6 KB in all: served.
    let names: Vec<String> = (0..300).map(|i| format!("x-n{i:03}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let r = raw(&srv, "GET", &format!("/{b}?versioning"), &many, b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    // 1,000 small headers (11 KB): the same XML error, not hyper's empty 431.
    let names: Vec<String> = (0..1000).map(|i| format!("x-n{i:04}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let r = raw(&srv, "GET", &format!("/{b}?versioning"), &many, b"").await;
    assert_raw_err(&r, 400, "RequestHeaderSectionTooLarge", None);
    // Over 1,024 fields (MAX_HEADER_FIELDS, what hyper parses): hyper's own 431, nothing served.
    let names: Vec<String> = (0..1100).map(|i| format!("x-n{i:04}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let r = raw(&srv, "GET", &format!("/{b}?versioning"), &many, b"").await;
    assert_eq!(r.status, 431, "{}", r.text());
}

/// Signing dates that are not digits: AWS's answers, before s3s's date parser sees them (it
/// panicked on a byte below '0' in a debug build: found by the sigv4_query fuzz target).
#[tokio::test]
async fn malformed_signing_dates_get_the_aws_errors() {
    let srv = server();
    let r = presigned_get(&srv, "%2{DAY}", &"0".repeat(64)).await;
    assert_raw_err(
        &r,
        400,
        "AuthorizationQueryParametersError",
        Some(
            "Error parsing the X-Amz-Credential parameter; incorrect date format \"%2{DAY}\". This date in the credential must be in the format \"yyyyMMdd\".",
        ),
    );
    let header = format!(
        "GET / HTTP/1.1\r\nhost: {}\r\nx-amz-date: 2026010!T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nauthorization: AWS4-HMAC-SHA256 Credential={ROOT_AK}/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature={}\r\nconnection: close\r\n\r\n",
        srv.addr,
        "0".repeat(64)
    );
    let r = raw_http(&srv.addr, header.into_bytes()).await.unwrap();
    assert_raw_err(&r, 403, "AccessDenied", Some("AWS authentication requires a valid Date or x-amz-date header"));
}
