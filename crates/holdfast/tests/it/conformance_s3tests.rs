//! Behaviours found by running ceph/s3-tests against Holdfast: each test
//! pins what AWS does where Holdfast used to differ.

use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
    ObjectAttributes, VersioningConfiguration,
};
use holdfast_testkit::{
    ROOT_AK, ROOT_SK, RawResponse, Server, ServerOptions, bucket_name, error_code, raw_http, signed_request,
};
use sha2::Digest as _;
use std::time::SystemTime;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

/// A server whose non-last parts may be as small as 1 KiB.
fn small_parts_server() -> Server {
    Server::start_with(
        BIN,
        ServerOptions { config_toml: "[limits]\nmin_part_size = 1024\n".into(), ..Default::default() },
    )
}

async fn signed(srv: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    raw_http(&srv.addr, signed_request(&srv.addr, method, path, headers, body, ROOT_AK, ROOT_SK, SystemTime::now()))
        .await
        .unwrap()
}

async fn set_versioning(srv: &Server, b: &str, status: BucketVersioningStatus) {
    srv.client()
        .put_bucket_versioning()
        .bucket(b)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

fn md5_hex(data: &[u8]) -> String {
    hex::encode(<md5::Md5 as md5::Digest>::digest(data))
}

/// DP2 (aws_strict=false): a non-positive default period is 400 InvalidRetentionPeriod, not
/// a 500 (s3-tests test_object_lock_put_obj_lock_invalid_days / _invalid_years).
#[tokio::test]
async fn non_positive_default_retention_is_400_invalid_retention_period() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = bucket_name("dp2");
    s3.create_bucket().bucket(&b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    for (unit, n) in [("Days", 0), ("Years", -1)] {
        let body = format!(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><{unit}>{n}</{unit}></DefaultRetention></Rule></ObjectLockConfiguration>"
        );
        let md5 = base64_md5(body.as_bytes());
        let r = signed(&srv, "PUT", &format!("/{b}?object-lock"), &[("content-md5", &md5)], body.as_bytes()).await;
        assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidRetentionPeriod")), "{}", r.text());
    }
    let cfg = s3.get_object_lock_configuration().bucket(&b).send().await.unwrap();
    assert!(cfg.object_lock_configuration().unwrap().rule().is_none(), "nothing was stored");
}

fn base64_md5(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(<md5::Md5 as md5::Digest>::digest(data))
}

/// The SDKs send `x-amz-object-attributes` as one comma-separated header; every attribute
/// in it is answered, and the ETag is unquoted there (and only there), as on AWS.
#[tokio::test]
async fn get_object_attributes_answers_every_listed_attribute_with_an_unquoted_etag() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = bucket_name("attrs");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    s3.put_object().bucket(&b).key("obj").body(ByteStream::from_static(b"foo")).send().await.unwrap();
    let out = s3
        .get_object_attributes()
        .bucket(&b)
        .key("obj")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::Checksum)
        .object_attributes(ObjectAttributes::ObjectParts)
        .object_attributes(ObjectAttributes::StorageClass)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(out.object_size(), Some(3));
    assert_eq!(out.e_tag(), Some(md5_hex(b"foo").as_str()));
    assert_eq!(out.storage_class().map(|s| s.as_str()), Some("STANDARD"));
    assert!(out.object_parts().is_none());
    assert!(out.version_id().is_none(), "unversioned bucket");
    let r =
        signed(&srv, "GET", &format!("/{b}/obj?attributes"), &[("x-amz-object-attributes", "ETag,ObjectSize")], b"")
            .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.xml("ETag"), Some(md5_hex(b"foo")), "{}", r.text());
    assert_eq!(r.xml("ObjectSize").as_deref(), Some("3"));
    // Everywhere else the ETag keeps its quotes.
    let head = signed(&srv, "HEAD", &format!("/{b}/obj"), &[], b"").await;
    assert_eq!(head.header("etag"), Some(format!("\"{}\"", md5_hex(b"foo")).as_str()));
}

/// Writes to a versioning-suspended bucket make the `null` version, and AWS sends no
/// x-amz-version-id on PutObject, CopyObject or CompleteMultipartUpload then; reads still
/// name the version `null`.
#[tokio::test]
async fn writes_to_a_suspended_bucket_show_no_version_id() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = bucket_name("suspended");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    set_versioning(&srv, &b, BucketVersioningStatus::Enabled).await;
    let enabled = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"v1")).send().await.unwrap();
    assert!(enabled.version_id().is_some_and(|v| v != "null"));
    set_versioning(&srv, &b, BucketVersioningStatus::Suspended).await;

    let put = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"v2")).send().await.unwrap();
    assert_eq!(put.version_id(), None);
    let copy = s3.copy_object().bucket(&b).key("copy").copy_source(format!("{b}/k")).send().await.unwrap();
    assert_eq!(copy.version_id(), None);
    let up = s3.create_multipart_upload().bucket(&b).key("mp").send().await.unwrap();
    let part = s3
        .upload_part()
        .bucket(&b)
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let done = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.version_id(), None);
    for key in ["k", "copy", "mp"] {
        let head = s3.head_object().bucket(&b).key(key).send().await.unwrap();
        assert_eq!(head.version_id(), Some("null"), "{key}");
    }
    let versions = s3.list_object_versions().bucket(&b).prefix("k").send().await.unwrap();
    let ids: Vec<_> = versions.versions().iter().filter_map(|v| v.version_id()).collect();
    assert_eq!(ids, vec!["null", enabled.version_id().unwrap()]);
}

/// AWS CreateBucket in us-east-1: re-creating a bucket you own is 200 (legacy behaviour),
/// and leaves the bucket as it was. Asking for Object Lock on an existing bucket without it
/// is still refused.
#[tokio::test]
async fn recreating_an_owned_bucket_in_us_east_1_is_200_and_changes_nothing() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = bucket_name("again");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    set_versioning(&srv, &b, BucketVersioningStatus::Enabled).await;
    s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let again = s3.create_bucket().bucket(&b).send().await.unwrap();
    assert_eq!(again.location(), Some(format!("/{b}").as_str()));
    assert_eq!(
        s3.get_bucket_versioning().bucket(&b).send().await.unwrap().status(),
        Some(&BucketVersioningStatus::Enabled)
    );
    assert_eq!(s3.list_objects_v2().bucket(&b).send().await.unwrap().key_count(), Some(1));
    let err = s3.create_bucket().bucket(&b).object_lock_enabled_for_bucket(true).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("BucketAlreadyOwnedByYou".into()), Some(409)));
    let err = s3.get_object_lock_configuration().bucket(&b).send().await.unwrap_err();
    assert_eq!(error_code(&err).0.as_deref(), Some("ObjectLockConfigurationNotFoundError"));
}

/// An empty Content-MD5 header is an invalid digest, not an absent one.
#[tokio::test]
async fn empty_content_md5_is_invalid_digest() {
    let srv = Server::start(BIN);
    let b = bucket_name("md5");
    srv.client().create_bucket().bucket(&b).send().await.unwrap();
    let r = signed(&srv, "PUT", &format!("/{b}/k"), &[("content-md5", "")], b"bar").await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidDigest")), "{}", r.text());
    let err = srv.client().head_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(404), "nothing stored");
}

/// GET/HEAD `?partNumber=N` with checksum mode shows that part's checksum (with the object's
/// checksum type); the whole object shows the object's; a byte range shows none.
#[tokio::test]
async fn part_reads_show_the_part_checksum() {
    let srv = small_parts_server();
    let s3 = srv.client();
    let b = bucket_name("partck");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let bodies = [vec![b'A'; 2048], vec![b'B'; 100]];
    let mut parts = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let n = i32::try_from(i + 1).unwrap();
        let out = s3
            .upload_part()
            .bucket(&b)
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .checksum_sha256(out.checksum_sha256().unwrap())
                .build(),
        );
    }
    let done = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let whole = done.checksum_sha256().unwrap().to_owned();
    assert!(whole.ends_with("-2"), "composite: {whole}");
    for (i, body) in bodies.iter().enumerate() {
        use base64::Engine as _;
        let want = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
        let n = i32::try_from(i + 1).unwrap();
        let get = s3
            .get_object()
            .bucket(&b)
            .key("mp")
            .part_number(n)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(get.checksum_sha256(), Some(want.as_str()), "GET part {n}");
        assert_eq!(get.checksum_type(), Some(&ChecksumType::Composite));
        assert_eq!(get.parts_count(), Some(2));
        let data = get.body.collect().await.unwrap().into_bytes();
        assert_eq!(&data[..], &body[..]);
        let head = s3
            .head_object()
            .bucket(&b)
            .key("mp")
            .part_number(n)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(head.checksum_sha256(), Some(want.as_str()), "HEAD part {n}");
    }
    let get = s3.get_object().bucket(&b).key("mp").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    assert_eq!(get.checksum_sha256(), Some(whole.as_str()));
    let ranged = s3
        .get_object()
        .bucket(&b)
        .key("mp")
        .range("bytes=0-9")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.checksum_sha256(), None);
    assert_eq!(ranged.checksum_type(), None);
    // (The SDK asks for checksums on every GET; a raw request does not.)
    let plain = signed(&srv, "GET", &format!("/{b}/mp?partNumber=1"), &[], b"").await;
    assert_eq!(plain.status, 206, "{}", plain.text());
    assert_eq!(plain.header("x-amz-checksum-sha256"), None, "no checksum without checksum mode");
    let asked = signed(&srv, "GET", &format!("/{b}/mp?partNumber=2"), &[("x-amz-checksum-mode", "ENABLED")], b"").await;
    let want = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bodies[1]))
    };
    assert_eq!(asked.header("x-amz-checksum-sha256"), Some(want.as_str()));
    assert_eq!(asked.header("x-amz-checksum-type"), Some("COMPOSITE"));
}

/// A repeated CompleteMultipartUpload (a client retry) is answered with the object the
/// first one made; a different part list, or a completion after that version is gone, is
/// NoSuchUpload.
#[tokio::test]
async fn repeated_complete_multipart_upload_returns_the_same_object() {
    let srv = small_parts_server();
    let s3 = srv.client();
    let b = bucket_name("recomplete");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    set_versioning(&srv, &b, BucketVersioningStatus::Enabled).await;
    let up = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let out = s3
            .upload_part()
            .bucket(&b)
            .key("mp")
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(vec![b'x'; 1024]))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(out.e_tag().unwrap())
                .checksum_sha256(out.checksum_sha256().unwrap())
                .build(),
        );
    }
    let complete = |parts: Vec<CompletedPart>| {
        s3.complete_multipart_upload()
            .bucket(&b)
            .key("mp")
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
    };
    let first = complete(parts.clone()).await.unwrap();
    let second = complete(parts.clone()).await.unwrap();
    assert_eq!(second.e_tag(), first.e_tag());
    assert_eq!(second.version_id(), first.version_id());
    assert_eq!(second.checksum_sha256(), first.checksum_sha256());
    assert!(second.e_tag().unwrap().ends_with("-2\""), "{:?}", second.e_tag());
    let versions = s3.list_object_versions().bucket(&b).send().await.unwrap();
    assert_eq!(versions.versions().len(), 1, "the retry made no second version");
    let err = complete(parts[..1].to_vec()).await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchUpload".into()), Some(404)));
    s3.delete_object().bucket(&b).key("mp").version_id(first.version_id().unwrap()).send().await.unwrap();
    let err = complete(parts).await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchUpload".into()), Some(404)));
}

/// A CORS preflight on a bucket without CORS: 400 without Origin, 403 with one.
#[tokio::test]
async fn options_preflight_without_cors() {
    let srv = Server::start(BIN);
    let b = bucket_name("cors");
    srv.client().create_bucket().bucket(&b).send().await.unwrap();
    let req = format!("OPTIONS /{b}/foo HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n", srv.addr);
    let r = raw_http(&srv.addr, req.into_bytes()).await.unwrap();
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("BadRequest")), "{}", r.text());
    assert_eq!(r.xml("Message").as_deref(), Some("Insufficient information. Origin request header needed."));
    let req = format!(
        "OPTIONS /{b}/foo HTTP/1.1\r\nhost: {}\r\norigin: https://example.com\r\naccess-control-request-method: GET\r\nconnection: close\r\n\r\n",
        srv.addr
    );
    let r = raw_http(&srv.addr, req.into_bytes()).await.unwrap();
    assert_eq!((r.status, r.xml("Code").as_deref()), (403, Some("AccessForbidden")), "{}", r.text());
    assert!(r.header("access-control-allow-origin").is_none());
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).chain(msg.iter().copied()).collect();
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(sha2::Sha256::digest(&inner)).collect();
    sha2::Sha256::digest(&outer).to_vec()
}

/// A SigV4 PUT whose time is in `Date` (signed) rather than `x-amz-date`, as botocore sends
/// when a Date header is set.
fn sigv4_put_with_date_header(addr: &str, path: &str, body: &[u8], date: &str, amz_time: &str) -> Vec<u8> {
    let day = &amz_time[..8];
    let payload = hex::encode(sha2::Sha256::digest(body));
    let canonical = format!(
        "PUT\n{path}\n\ndate:{date}\nhost:{addr}\nx-amz-content-sha256:{payload}\n\ndate;host;x-amz-content-sha256\n{payload}"
    );
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_time}\n{scope}\n{}", hex::encode(sha2::Sha256::digest(canonical.as_bytes())));
    let mut key = hmac(format!("AWS4{ROOT_SK}").as_bytes(), day.as_bytes());
    for part in ["us-east-1", "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let sig = hex::encode(hmac(&key, to_sign.as_bytes()));
    let mut req = format!(
        "PUT {path} HTTP/1.1\r\nhost: {addr}\r\ndate: {date}\r\nx-amz-content-sha256: {payload}\r\nauthorization: AWS4-HMAC-SHA256 Credential={ROOT_AK}/{scope}, SignedHeaders=date;host;x-amz-content-sha256, Signature={sig}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn http_date(t: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from(t).format(format).unwrap()
}

/// `YYYYMMDDTHHMMSSZ`
fn amz_time(t: SystemTime) -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from(t).format(format).unwrap()
}

/// SigV4 accepts the request time in the `Date` header (RFC 1123, `GMT` or `-0000`) when
/// there is no `x-amz-date`.
#[tokio::test]
async fn sigv4_with_the_time_in_the_date_header() {
    let srv = Server::start(BIN);
    let b = bucket_name("datehdr");
    srv.client().create_bucket().bucket(&b).send().await.unwrap();
    let now = SystemTime::now();
    let (date, time) = (http_date(now), amz_time(now));
    let numeric_zone = date.replace(" GMT", " -0000");
    for (key, date) in [("gmt", date.as_str()), ("numeric", numeric_zone.as_str())] {
        let req = sigv4_put_with_date_header(&srv.addr, &format!("/{b}/{key}"), b"bar", date, &time);
        let r = raw_http(&srv.addr, req).await.unwrap();
        assert_eq!(r.status, 200, "{date}: {}", r.text());
        let got = srv.client().get_object().bucket(&b).key(key).send().await.unwrap();
        assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], b"bar");
    }
    // The signature still covers the time: a Date an hour off no longer matches.
    let hour_ago = amz_time(now - std::time::Duration::from_secs(3600));
    let req = sigv4_put_with_date_header(&srv.addr, &format!("/{b}/bad"), b"bar", &date, &hour_ago);
    let r = raw_http(&srv.addr, req).await.unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
}

/// Presigned URLs: a negative X-Amz-Expires (or one over seven days) is refused with AWS's
/// message: 400 AuthorizationQueryParametersError with aws_strict, 403 AccessDenied (as
/// s3-tests expects) by default.
#[tokio::test]
async fn presigned_negative_expiry_is_an_authorization_query_error() {
    let srv = Server::start_with(
        BIN,
        holdfast_testkit::ServerOptions { config_toml: "aws_strict = true\n".into(), ..Default::default() },
    );
    let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
    for (expires, message) in [
        ("-7", "X-Amz-Expires must be non-negative"),
        ("609901", "X-Amz-Expires must be less than a week (in seconds) that is; 604800"),
    ] {
        let req =
            format!("GET /b/k?{q}&X-Amz-Expires={expires} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n", srv.addr);
        let r = raw_http(&srv.addr, req.into_bytes()).await.unwrap();
        assert_eq!(
            (r.status, r.xml("Code").as_deref()),
            (400, Some("AuthorizationQueryParametersError")),
            "{}",
            r.text()
        );
        assert_eq!(r.xml("Message").as_deref(), Some(message));
    }
}

/// UploadPartCopy with a well-formed range past the end of the source: 400 InvalidArgument
/// naming the source size, as AWS answers.
#[tokio::test]
async fn upload_part_copy_range_past_the_source_names_its_size() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = bucket_name("copyrange");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    s3.put_object().bucket(&b).key("src").body(ByteStream::from_static(b"12345")).send().await.unwrap();
    let up = s3.create_multipart_upload().bucket(&b).key("dest").send().await.unwrap();
    let err = s3
        .upload_part_copy()
        .bucket(&b)
        .key("dest")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .copy_source(format!("{b}/src"))
        .copy_source_range("bytes=0-21")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidArgument".into()), Some(400)));
    use holdfast_testkit::aws_sdk_s3::error::ProvideErrorMetadata as _;
    assert_eq!(err.message(), Some("Range specified is not valid for source object of size: 5"));
    let parts = s3.list_parts().bucket(&b).key("dest").upload_id(up.upload_id().unwrap()).send().await.unwrap();
    assert!(parts.parts().is_empty());
}

/// CompleteMultipartUpload with `x-amz-checksum-<alg>`: the value must be the checksum the
/// parts make (composite, with or without its `-N`), else 400 BadDigest and the upload stays.
#[tokio::test]
async fn complete_multipart_upload_checks_the_stated_checksum() {
    use base64::Engine as _;
    let srv = small_parts_server();
    let s3 = srv.client();
    let b = bucket_name("statedck");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    let up = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("mp")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let out = s3
        .upload_part()
        .bucket(&b)
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(vec![b'A'; 1024]))
        .send()
        .await
        .unwrap();
    let part_sum = out.checksum_sha256().unwrap().to_owned();
    let raw = base64::engine::general_purpose::STANDARD.decode(&part_sum).unwrap();
    let composite = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&raw));
    let part = CompletedPart::builder().part_number(1).e_tag(out.e_tag().unwrap()).checksum_sha256(&part_sum).build();
    let complete = |stated: &str| {
        s3.complete_multipart_upload()
            .bucket(&b)
            .key("mp")
            .upload_id(&id)
            .checksum_sha256(stated)
            .multipart_upload(CompletedMultipartUpload::builder().parts(part.clone()).build())
            .send()
    };
    let wrong = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"other"));
    for stated in [format!("{wrong}-1"), "bad".to_owned()] {
        let err = complete(&stated).await.unwrap_err();
        assert_eq!(error_code(&err), (Some("BadDigest".into()), Some(400)), "{stated}");
    }
    assert_eq!(
        s3.list_parts().bucket(&b).key("mp").upload_id(&id).send().await.unwrap().parts().len(),
        1,
        "still open"
    );
    let done = complete(&format!("{composite}-1")).await.unwrap();
    assert_eq!(done.checksum_sha256(), Some(format!("{composite}-1").as_str()));
    // The retry may state it without the part count.
    let again = complete(&composite).await.unwrap();
    assert_eq!(again.e_tag(), done.e_tag());
}
