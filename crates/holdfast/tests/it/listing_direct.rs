//! ListObjectsV2's answer is written directly (`holdfast-api` `ops::list_xml`), after s3s has
//! verified the signature and the access check has run: every refusal keeps its code, and a
//! page that is served carries its exact length and content type.

use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::{ROOT_AK, ROOT_SK, Server, bucket_name, error_code, raw_http, s3_client, signed_request};
use std::time::{Duration, SystemTime};

#[tokio::test]
async fn refused_listings_keep_their_codes_and_show_no_key() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let root = srv.client();
    let b = bucket_name("ldirect");
    root.create_bucket().bucket(&b).send().await.unwrap();
    root.put_object().bucket(&b).key("secret-key").body(ByteStream::from_static(b"x")).send().await.unwrap();

    let bad = s3_client(&srv.endpoint, ROOT_AK, "wrong-secret");
    let err = bad.list_objects_v2().bucket(&b).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("SignatureDoesNotMatch".into()), Some(403)));

    // Signed in the header (the SDK does not presign ListObjectsV2; presigned URLs go through
    // the same s3s check, s3_auth.rs).
    let list = |path: String, time: SystemTime| {
        let addr = srv.addr.clone();
        async move { raw_http(&addr, signed_request(&addr, "GET", &path, &[], b"", ROOT_AK, ROOT_SK, time)).await.unwrap() }
    };
    let path = format!("/{b}?list-type=2");
    let resp = list(path.clone(), SystemTime::now()).await;
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.text().contains("<Key>secret-key</Key>"), "{}", resp.text());

    let resp = list(path.clone(), SystemTime::now() - Duration::from_secs(3600)).await;
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (403, Some("RequestTimeTooSkewed")), "{}", resp.text());
    assert!(!resp.text().contains("secret-key"));

    // The query changed after signing (a prefix added).
    let signed = signed_request(&srv.addr, "GET", &path, &[], b"", ROOT_AK, ROOT_SK, SystemTime::now());
    let tampered = String::from_utf8(signed).unwrap().replacen("list-type=2", "list-type=2&prefix=s", 1).into_bytes();
    let resp = raw_http(&srv.addr, tampered).await.unwrap();
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (403, Some("SignatureDoesNotMatch")), "{}", resp.text());
    assert!(!resp.text().contains("secret-key"));

    // A bucket policy that denies listing to everyone, the account's root included.
    let deny = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::{b}"}}]}}"#
    );
    root.put_bucket_policy().bucket(&b).policy(deny).send().await.unwrap();
    let err = root.list_objects_v2().bucket(&b).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
    let resp = list(path.clone(), SystemTime::now()).await;
    assert_eq!((resp.status, resp.xml("Code").as_deref()), (403, Some("AccessDenied")), "{}", resp.text());
    assert!(!resp.text().contains("secret-key"));
    root.get_object().bucket(&b).key("secret-key").send().await.expect("reads are not denied");
    root.delete_bucket_policy().bucket(&b).send().await.unwrap();
    assert_eq!(root.list_objects_v2().bucket(&b).send().await.unwrap().key_count(), Some(1));

    // Errors of the operation itself stay s3s's answers.
    let err = root.list_objects_v2().bucket("no-such-bucket-ldirect").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("NoSuchBucket".into()), Some(404)));
    let err = root.list_objects_v2().bucket(&b).continuation_token("!!not base64!!").send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidArgument".into()), Some(400)));
}

#[tokio::test]
async fn a_served_page_has_its_length_and_type() {
    let srv = Server::start(env!("CARGO_BIN_EXE_holdfast"));
    let root = srv.client();
    let b = bucket_name("ldirect");
    root.create_bucket().bucket(&b).send().await.unwrap();
    for key in ["a&b", "c<d>", "e\"f'"] {
        root.put_object().bucket(&b).key(key).body(ByteStream::from_static(b"xy")).send().await.unwrap();
    }
    let addr = srv.addr.clone();
    let req = signed_request(
        &addr,
        "GET",
        &format!("/{b}?list-type=2&max-keys=2"),
        &[],
        b"",
        ROOT_AK,
        ROOT_SK,
        SystemTime::now(),
    );
    let resp = raw_http(&addr, req).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/xml"));
    assert_eq!(resp.header("content-length"), Some(resp.body.len().to_string().as_str()));
    let text = resp.text();
    assert!(
        text.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>"
        ),
        "{text}"
    );
    assert!(text.contains("<MaxKeys>2</MaxKeys><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"), "{text}");
    assert!(text.contains("<Key>a&amp;b</Key>") && text.contains("<Key>c&lt;d&gt;</Key>"), "{text}");
    assert!(!text.contains("e&quot;f"), "{text}");
    // The SDK reads the page and follows the token.
    let page = root.list_objects_v2().bucket(&b).max_keys(2).send().await.unwrap();
    let token = page.next_continuation_token().unwrap().to_owned();
    let rest = root.list_objects_v2().bucket(&b).continuation_token(token).send().await.unwrap();
    let keys: Vec<_> = rest.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["e\"f'"]);
    assert_eq!(rest.contents()[0].size(), Some(2));
}
