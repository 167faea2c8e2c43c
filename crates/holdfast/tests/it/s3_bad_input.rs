//! Bad input: short bodies, malformed XML for DeleteObjects and
//! CompleteMultipartUpload, missing integrity headers, oversized batches — each gets the S3
//! error AWS returns, and nothing changes. Also DeleteObjects' per-key results.

use base64::Engine as _;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{Delete, ObjectIdentifier};
use holdfast_testkit::{ROOT_AK, ROOT_SK, Server, bucket_name, error_code, raw_http, signed_request};
use std::time::SystemTime;

async fn setup() -> (Server, String) {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let b = bucket_name("bad");
    srv.client().create_bucket().bucket(&b).send().await.unwrap();
    (srv, b)
}

fn md5_b64(data: &[u8]) -> String {
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

async fn signed(
    srv: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> holdfast_testkit::RawResponse {
    raw_http(&srv.addr, signed_request(&srv.addr, method, path, headers, body, ROOT_AK, ROOT_SK, SystemTime::now()))
        .await
        .unwrap()
}

#[tokio::test]
async fn body_shorter_than_content_length_is_incomplete_and_stores_nothing() {
    let (srv, b) = setup().await;
    // Unsigned payload: the server can only notice the missing bytes when the body ends.
    let resp = signed(
        &srv,
        "PUT",
        &format!("/{b}/short"),
        &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD"), ("content-length", "100")],
        &[b'x'; 50],
    )
    .await;
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("IncompleteBody")), "{}", resp.text());
    // Signed payload: the signature covers 100 bytes that never arrive.
    let full = [b'y'; 100];
    let mut req =
        signed_request(&srv.addr, "PUT", &format!("/{b}/short2"), &[], &full, ROOT_AK, ROOT_SK, SystemTime::now());
    req.truncate(req.len() - 40);
    let resp = raw_http(&srv.addr, req).await.unwrap();
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("IncompleteBody")), "{}", resp.text());
    for k in ["short", "short2"] {
        let err = srv.client().head_object().bucket(&b).key(k).send().await.unwrap_err();
        assert_eq!(error_code(&err).1, Some(404));
    }
    // No temporary file survives the refused uploads.
    let tmp = std::fs::read_dir(srv.data_dir.join("tmp")).unwrap().count();
    assert_eq!(tmp, 0);
}

#[tokio::test]
async fn delete_objects_malformed_xml_missing_md5_and_too_many_keys() {
    let (srv, b) = setup().await;
    let s3 = srv.client();
    s3.put_object().bucket(&b).key("keep").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let path = format!("/{b}?delete");
    for body in [
        &b"<Delete><Object><Key>keep</Key></Object>"[..],
        b"not xml at all",
        b"<Delete><Object><Key>keep</Key></Objec></Delete>",
    ] {
        let md5 = md5_b64(body);
        let resp = signed(&srv, "POST", &path, &[("content-md5", &md5)], body).await;
        assert_eq!(
            (resp.status, resp.xml("Code").as_deref()),
            (400, Some("MalformedXML")),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let good = b"<Delete><Object><Key>keep</Key></Object></Delete>";
    let resp = signed(&srv, "POST", &path, &[], good).await;
    assert_eq!(
        (resp.status, resp.xml("Code").as_deref()),
        (400, Some("InvalidRequest")),
        "D9/B14: an integrity header is required"
    );
    let mut many = String::from("<Delete>");
    for i in 0..1001 {
        many.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
    }
    many.push_str("</Delete>");
    let md5 = md5_b64(many.as_bytes());
    let resp = signed(&srv, "POST", &path, &[("content-md5", &md5)], many.as_bytes()).await;
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("MalformedXML")), "more than 1000 keys");
    s3.head_object().bucket(&b).key("keep").send().await.expect("nothing was deleted");
}

#[tokio::test]
async fn complete_multipart_upload_with_malformed_xml() {
    let (srv, b) = setup().await;
    let s3 = srv.client();
    let id = s3.create_multipart_upload().bucket(&b).key("k").send().await.unwrap().upload_id().unwrap().to_owned();
    s3.upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let path = format!("/{b}/k?uploadId={id}");
    for body in [&b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"[..], b"{json: true}"] {
        let resp = signed(&srv, "POST", &path, &[], body).await;
        assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("MalformedXML")), "{}", resp.text());
    }
    let resp = signed(&srv, "POST", &path, &[], b"<CompleteMultipartUpload></CompleteMultipartUpload>").await;
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("MalformedXML")), "no parts");
    let parts = s3.list_parts().bucket(&b).key("k").upload_id(&id).send().await.unwrap();
    assert_eq!(parts.parts().len(), 1, "the upload is untouched");
}

#[tokio::test]
async fn malformed_versioning_configuration() {
    let (srv, b) = setup().await;
    let resp = signed(
        &srv,
        "PUT",
        &format!("/{b}?versioning"),
        &[],
        b"<VersioningConfiguration><Status>Maybe</Status></VersioningConfiguration>",
    )
    .await;
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("MalformedXML")));
    let resp = signed(&srv, "PUT", &format!("/{b}?versioning"), &[], b"<Versioning").await;
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (400, Some("MalformedXML")));
    assert_eq!(srv.client().get_bucket_versioning().bucket(&b).send().await.unwrap().status(), None);
}

#[tokio::test]
async fn delete_objects_reports_per_key_and_honours_quiet() {
    let (srv, b) = setup().await;
    let s3 = srv.client();
    holdfast_testkit::enable_versioning(&s3, &b).await;
    let v = s3.put_object().bucket(&b).key("a").body(ByteStream::from_static(b"x")).send().await.unwrap();
    s3.put_object().bucket(&b).key("b").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let ids = vec![
        ObjectIdentifier::builder().key("a").version_id(v.version_id().unwrap()).build().unwrap(),
        ObjectIdentifier::builder().key("b").build().unwrap(),
        ObjectIdentifier::builder().key("c").version_id("malformed-version").build().unwrap(),
    ];
    let out = s3
        .delete_objects()
        .bucket(&b)
        .delete(Delete::builder().set_objects(Some(ids.clone())).build().unwrap())
        .send()
        .await
        .unwrap();
    let deleted: Vec<_> = out.deleted().iter().map(|d| (d.key().unwrap(), d.version_id(), d.delete_marker())).collect();
    assert_eq!(deleted.len(), 2);
    assert_eq!(deleted[0], ("a", v.version_id(), None));
    assert_eq!((deleted[1].0, deleted[1].2), ("b", Some(true)));
    assert!(out.deleted()[1].delete_marker_version_id().is_some());
    assert_eq!(out.errors().len(), 1);
    assert_eq!((out.errors()[0].key(), out.errors()[0].code()), (Some("c"), Some("InvalidArgument")));
    assert_eq!(out.errors()[0].version_id(), Some("malformed-version"));

    let quiet = s3
        .delete_objects()
        .bucket(&b)
        .delete(Delete::builder().set_objects(Some(ids)).quiet(true).build().unwrap())
        .send()
        .await
        .unwrap();
    assert!(quiet.deleted().is_empty(), "quiet suppresses successes");
    assert_eq!(quiet.errors().len(), 1, "quiet still reports failures");
    let versions = s3.list_object_versions().bucket(&b).send().await.unwrap();
    assert_eq!(versions.versions().len(), 1, "only b's version remains");
    assert_eq!(versions.delete_markers().len(), 2, "two markers on b");
}

/// Amazon S3 answers a body sent with `Transfer-Encoding: chunked` with 501 NotImplemented
/// naming the header (uploads of unknown length use aws-chunked content encoding instead);
/// nothing is stored.
#[tokio::test]
async fn transfer_encoding_on_upload_is_not_implemented_and_stores_nothing() {
    let (srv, b) = setup().await;
    let signed = signed_request(
        &srv.addr,
        "PUT",
        &format!("/{b}/te"),
        &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
        b"",
        ROOT_AK,
        ROOT_SK,
        SystemTime::now(),
    );
    let text = String::from_utf8(signed).unwrap().replace("content-length: 0\r\n", "transfer-encoding: chunked\r\n");
    let mut req = text.into_bytes();
    req.extend_from_slice(b"3\r\nbar\r\n0\r\n\r\n");
    let resp = raw_http(&srv.addr, req).await.unwrap();
    assert_eq!(
        (resp.status, resp.xml("Code").as_deref(), resp.xml("Header").as_deref()),
        (501, Some("NotImplemented"), Some("Transfer-Encoding")),
        "{}",
        resp.text()
    );
    let err = srv.client().head_object().bucket(&b).key("te").send().await.unwrap_err();
    assert_eq!(error_code(&err).1, Some(404));
}
