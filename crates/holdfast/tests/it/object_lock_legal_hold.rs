//! PutObjectLegalHold / GetObjectLegalHold (spec §4, L-rules; B14 for these operations;
//! §14 scenarios 28, 32, 40, 47..49).
//! L8 (legal hold permissions of non-root users) belongs to the identity tests (identity_*.rs).

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::types::{
    ObjectLockLegalHold, ObjectLockLegalHoldStatus as Hold, ObjectLockMode as M,
};

fn hold_xml(status: &str) -> String {
    format!("<LegalHold xmlns=\"{NS}\"><Status>{status}</Status></LegalHold>")
}

/// The stored legal hold of a version ("ON"/"OFF"), or None (404 never set).
async fn stored_hold(s3: &Client, b: &str, k: &str, v: &str) -> Option<String> {
    match s3.get_object_legal_hold().bucket(b).key(k).version_id(v).send().await {
        Ok(out) => Some(out.legal_hold().unwrap().status().unwrap().as_str().to_owned()),
        Err(e) => {
            assert_err(
                &e,
                "NoSuchObjectLockConfiguration",
                404,
                Some("The specified object does not have a ObjectLock configuration"),
            );
            None
        }
    }
}

#[tokio::test]
async fn l1_put_legal_hold_answers_empty_200_and_targets_the_current_version() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "l1").await;
    let v1 = put(&s3, &b, "k", b"1").await;
    let v2 = put(&s3, &b, "k", b"2").await;
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k?legal-hold"), &[], hold_xml("ON").as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty(), "{}", r.text());
    assert_eq!(stored_hold(&s3, &b, "k", &v2).await.as_deref(), Some("ON"));
    assert_eq!(stored_hold(&s3, &b, "k", &v1).await, None);
    let cur = s3.get_object_legal_hold().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(cur.legal_hold().unwrap().status(), Some(&Hold::On));
    let r = raw(&srv, "GET", &format!("/{b}/k?legal-hold"), &[], b"").await;
    assert_eq!((r.status, r.xml("Status").as_deref()), (200, Some("ON")), "{}", r.text());
    assert!(r.text().contains(&format!("<LegalHold xmlns=\"{NS}\">")), "{}", r.text());
}

#[tokio::test]
async fn l2_legal_hold_on_plain_bucket_is_invalid_request() {
    // Also §14 scenario 28 (legal hold half).
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "l2").await;
    s3.put_object().bucket(&b).key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let msg = Some("Bucket is missing Object Lock Configuration");
    let err = s3
        .put_object_legal_hold()
        .bucket(&b)
        .key("k")
        .legal_hold(ObjectLockLegalHold::builder().status(Hold::On).build())
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "InvalidRequest", 400, msg);
    let err = s3.get_object_legal_hold().bucket(&b).key("k").send().await.unwrap_err();
    assert_err(&err, "InvalidRequest", 400, msg);
}

#[tokio::test]
async fn l3_invalid_legal_hold_bodies_are_malformed_xml() {
    // Also §14 scenario 49.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "l3").await;
    let v = put(&s3, &b, "k", b"x").await;
    for (what, body) in [
        ("Status abc", hold_xml("abc")),
        ("Status lowercase", hold_xml("on")),
        ("Status empty", hold_xml("")),
        ("no Status", format!("<LegalHold xmlns=\"{NS}\"/>")),
        ("empty body", String::new()),
        ("not well-formed", "<LegalHold><Status>ON</Status>".to_owned()),
    ] {
        let r = raw_md5(&srv, "PUT", &format!("/{b}/k?legal-hold&versionId={v}"), &[], body.as_bytes()).await;
        assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("MalformedXML")), "{what}: {}", r.text());
        assert_eq!(xml_text(&r, "Message").as_deref(), Some(MALFORMED), "{what}");
    }
    assert_eq!(stored_hold(&s3, &b, "k", &v).await, None);
    // A missing key is NoSuchKey, before the body is judged.
    let r = raw_md5(&srv, "PUT", &format!("/{b}/nope?legal-hold"), &[], hold_xml("abc").as_bytes()).await;
    assert_raw_err(&r, 404, "NoSuchKey", Some("The specified key does not exist."));
    assert_eq!(r.xml("Key").as_deref(), Some("nope"));
    let err = s3.get_object_legal_hold().bucket(&b).key("nope").send().await.unwrap_err();
    assert_err(&err, "NoSuchKey", 404, None);
}

#[tokio::test]
async fn b14_retention_and_legal_hold_need_an_integrity_header() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "b14-obj").await;
    let v = put(&s3, &b, "k", b"x").await;
    let hold = hold_xml("ON");
    let r = raw(&srv, "PUT", &format!("/{b}/k?legal-hold&versionId={v}"), &[], hold.as_bytes()).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidRequest")), "{}", r.text());
    assert!(
        xml_text(&r, "Message")
            .unwrap_or_default()
            .starts_with("Missing required header for this request: Content-MD5")
    );
    let ret = format!(
        "<Retention xmlns=\"{NS}\"><Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>"
    );
    let r = raw(&srv, "PUT", &format!("/{b}/k?retention&versionId={v}"), &[], ret.as_bytes()).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidRequest")), "{}", r.text());
    assert!(
        xml_text(&r, "Message")
            .unwrap_or_default()
            .starts_with("Missing required header for this request: Content-MD5")
    );
    // A Content-MD5 that does not match the body is refused as well.
    let wrong = md5_b64(b"other");
    for (sub, body) in [("legal-hold", &hold), ("retention", &ret)] {
        let r =
            raw(&srv, "PUT", &format!("/{b}/k?{sub}&versionId={v}"), &[("content-md5", &wrong)], body.as_bytes()).await;
        assert_eq!(r.status, 400, "{sub}: {}", r.text());
        assert!(matches!(r.xml("Code").as_deref(), Some("BadDigest" | "InvalidDigest")), "{sub}: {}", r.text());
    }
    assert_eq!(stored_hold(&s3, &b, "k", &v).await, None);
    assert_eq!(get_retention(&s3, &b, "k", &v).await, None);
}

#[tokio::test]
async fn l4_hold_can_be_set_and_cleared_under_active_compliance() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "l4").await;
    let until = days(1);
    let v = put_locked(&s3, &b, "k", M::Compliance, &until).await;
    set_hold(&s3, &b, "k", Some(&v), Hold::On).await;
    assert_eq!(stored_hold(&s3, &b, "k", &v).await.as_deref(), Some("ON"));
    set_hold(&s3, &b, "k", Some(&v), Hold::Off).await;
    assert_eq!(stored_hold(&s3, &b, "k", &v).await.as_deref(), Some("OFF"));
    // Clearing the hold leaves the retention untouched, and the version still protected.
    assert_eq!(get_retention(&s3, &b, "k", &v).await, Some(("COMPLIANCE".into(), until)));
    let err = s3.delete_object().bucket(&b).key("k").version_id(&v).send().await.unwrap_err();
    assert_locked(&err);
}

#[tokio::test]
async fn l5_legal_hold_is_per_version() {
    // Also §14 scenario 48.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "l5").await;
    let v1 = put(&s3, &b, "k", b"1").await;
    let v2 = put(&s3, &b, "k", b"2").await;
    set_hold(&s3, &b, "k", Some(&v1), Hold::On).await;
    assert_eq!(stored_hold(&s3, &b, "k", &v2).await, None);
    s3.delete_object().bucket(&b).key("k").version_id(&v2).send().await.unwrap();
    let err = s3.delete_object().bucket(&b).key("k").version_id(&v1).send().await.unwrap_err();
    assert_locked(&err);
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v1.clone()]);
    // Both held, clear one: only that one becomes deletable.
    let v3 = put_held(&s3, &b, "k").await;
    set_hold(&s3, &b, "k", Some(&v1), Hold::Off).await;
    s3.delete_object().bucket(&b).key("k").version_id(&v1).send().await.unwrap();
    let err = s3.delete_object().bucket(&b).key("k").version_id(&v3).send().await.unwrap_err();
    assert_locked(&err);
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v3]);
}

#[tokio::test]
async fn l6_get_legal_hold_never_set_on_and_off() {
    // Also §14 scenarios 32 (legal hold half) and 47 (GET half; HEAD is g3).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "l6").await;
    let v = put(&s3, &b, "k", b"x").await;
    assert_eq!(stored_hold(&s3, &b, "k", &v).await, None);
    // Retention alone is not a legal hold.
    s3.put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v)
        .retention(retention(holdfast_testkit::aws_sdk_s3::types::ObjectLockRetentionMode::Governance, &days(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(stored_hold(&s3, &b, "k", &v).await, None);
    set_hold(&s3, &b, "k", Some(&v), Hold::On).await;
    assert_eq!(stored_hold(&s3, &b, "k", &v).await.as_deref(), Some("ON"));
    set_hold(&s3, &b, "k", Some(&v), Hold::Off).await;
    assert_eq!(stored_hold(&s3, &b, "k", &v).await.as_deref(), Some("OFF"));
    let r = raw(&srv, "GET", &format!("/{b}/k?legal-hold&versionId={v}"), &[], b"").await;
    assert_eq!((r.status, r.xml("Status").as_deref()), (200, Some("OFF")), "{}", r.text());
    // OFF written on a write is reported as OFF too.
    let out = s3
        .put_object()
        .bucket(&b)
        .key("w")
        .object_lock_legal_hold_status(Hold::Off)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(stored_hold(&s3, &b, "w", out.version_id().unwrap()).await.as_deref(), Some("OFF"));
}

#[tokio::test]
async fn l7_delete_marker_targets_are_method_not_allowed() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "l7").await;
    put(&s3, &b, "k", b"x").await;
    let dm = s3.delete_object().bucket(&b).key("k").send().await.unwrap().version_id().unwrap().to_owned();
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k?legal-hold&versionId={dm}"), &[], hold_xml("ON").as_bytes()).await;
    assert_raw_err(&r, 405, "MethodNotAllowed", Some("The specified method is not allowed against this resource."));
    assert_eq!((r.xml("Method").as_deref(), r.xml("ResourceType").as_deref()), (Some("PUT"), Some("DeleteMarker")));
    let r = raw(&srv, "GET", &format!("/{b}/k?legal-hold&versionId={dm}"), &[], b"").await;
    assert_raw_err(&r, 405, "MethodNotAllowed", None);
    assert_eq!((r.xml("Method").as_deref(), r.xml("ResourceType").as_deref()), (Some("GET"), Some("DeleteMarker")));
    // The marker can still be removed (D6): it got no lock state.
    s3.delete_object().bucket(&b).key("k").version_id(&dm).send().await.unwrap();
}

#[tokio::test]
async fn s14_40_legal_hold_blocks_delete_even_with_bypass_until_cleared() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "s14-40").await;
    let v = put_held(&s3, &b, "k").await;
    let err = s3.delete_object().bucket(&b).key("k").version_id(&v).send().await.unwrap_err();
    assert_locked(&err);
    let err = s3
        .delete_object()
        .bucket(&b)
        .key("k")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    assert_locked(&err);
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v.clone()]);
    set_hold(&s3, &b, "k", Some(&v), Hold::Off).await;
    let out = s3.delete_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert_eq!(out.version_id(), Some(v.as_str()));
    assert!(version_ids(&s3, &b, "k").await.is_empty());
}
