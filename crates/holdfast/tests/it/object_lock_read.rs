//! Lock state on reads: HEAD / GET headers and listings (spec §6, G-rules; §14 scenarios
//! 45, 47). G2 (headers hidden from callers without s3:GetObjectRetention /
//! s3:GetObjectLegalHold, §14 scenario 46) belongs to the identity tests (identity_*.rs).

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::types::{ObjectLockLegalHoldStatus as Hold, ObjectLockMode as M};

const MODE: &str = "x-amz-object-lock-mode";
const UNTIL: &str = "x-amz-object-lock-retain-until-date";
const HOLD: &str = "x-amz-object-lock-legal-hold";

fn is_iso8601_millis_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test]
async fn g1_head_and_get_return_all_three_lock_headers() {
    // Also §14 scenario 45.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "g1").await;
    let until = days(30);
    let v = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(M::Governance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(Hold::On)
        .body(b"locked".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    for path in [format!("/{b}/k"), format!("/{b}/k?versionId={v}")] {
        for method in ["HEAD", "GET"] {
            let r = raw(&srv, method, &path, &[], b"").await;
            assert_eq!(r.status, 200, "{method} {path}");
            assert_eq!(r.header(MODE), Some("GOVERNANCE"), "{method} {path}");
            assert_eq!(r.header(HOLD), Some("ON"), "{method} {path}");
            assert_eq!(r.header(UNTIL).map(str::to_owned), Some(iso_millis(&until)), "{method} {path}");
            assert_eq!(r.header("x-amz-version-id"), Some(v.as_str()));
        }
    }
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(
        (h.object_lock_mode(), h.object_lock_retain_until_date(), h.object_lock_legal_hold_status()),
        (Some(&M::Governance), Some(&until), Some(&Hold::On))
    );
    let g = s3.get_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert_eq!(
        (g.object_lock_mode(), g.object_lock_retain_until_date(), g.object_lock_legal_hold_status()),
        (Some(&M::Governance), Some(&until), Some(&Hold::On))
    );
    s3.put_object_legal_hold()
        .bucket(&b)
        .key("k")
        .legal_hold(holdfast_testkit::aws_sdk_s3::types::ObjectLockLegalHold::builder().status(Hold::Off).build())
        .send()
        .await
        .unwrap();
    s3.delete_object().bucket(&b).key("k").version_id(&v).bypass_governance_retention(true).send().await.unwrap();
}

#[tokio::test]
async fn g3_legal_hold_header_absent_until_set_then_reports_off() {
    // Also §14 scenario 47 (HEAD half).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "g3").await;
    let v = put(&s3, &b, "k", b"x").await;
    let r = raw(&srv, "HEAD", &format!("/{b}/k?versionId={v}"), &[], b"").await;
    assert_eq!(r.status, 200);
    assert!(r.headers.iter().all(|(k, _)| !k.starts_with("x-amz-object-lock")), "{:?}", r.headers);
    set_hold(&s3, &b, "k", Some(&v), Hold::On).await;
    let r = raw(&srv, "HEAD", &format!("/{b}/k?versionId={v}"), &[], b"").await;
    assert_eq!((r.header(HOLD), r.header(MODE), r.header(UNTIL)), (Some("ON"), None, None));
    set_hold(&s3, &b, "k", Some(&v), Hold::Off).await;
    let r = raw(&srv, "HEAD", &format!("/{b}/k?versionId={v}"), &[], b"").await;
    assert_eq!((r.header(HOLD), r.header(MODE), r.header(UNTIL)), (Some("OFF"), None, None));
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.object_lock_legal_hold_status(), Some(&Hold::Off));
}

#[tokio::test]
async fn g4_retain_until_header_is_iso8601_utc() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "g4").await;
    let v = put_locked(&s3, &b, "k", M::Compliance, &in_secs(3600)).await;
    for method in ["HEAD", "GET"] {
        let r = raw(&srv, method, &format!("/{b}/k?versionId={v}"), &[], b"").await;
        let date = r.header(UNTIL).expect("retain-until header");
        assert!(is_iso8601_millis_utc(date), "{method}: {date:?} is not YYYY-MM-DDTHH:MM:SS.sssZ");
    }
}

#[tokio::test]
async fn g5_delete_marker_version_is_405_without_body() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "g5").await;
    put_held(&s3, &b, "k").await;
    let m = s3.delete_object().bucket(&b).key("k").send().await.unwrap().version_id().unwrap().to_owned();
    let r = raw(&srv, "HEAD", &format!("/{b}/k?versionId={m}"), &[], b"").await;
    assert_eq!(r.status, 405);
    assert!(r.body.is_empty());
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    assert!(r.header("last-modified").is_some());
    assert!(r.headers.iter().all(|(k, _)| !k.starts_with("x-amz-object-lock")), "{:?}", r.headers);
    let err = s3.head_object().bucket(&b).key("k").version_id(&m).send().await.unwrap_err();
    assert_eq!(holdfast_testkit::error_code(&err).1, Some(405));
    let r = raw(&srv, "GET", &format!("/{b}/k?versionId={m}"), &[], b"").await;
    assert_raw_err(&r, 405, "MethodNotAllowed", None);
    assert_eq!((r.xml("Method").as_deref(), r.xml("ResourceType").as_deref()), (Some("GET"), Some("DeleteMarker")));
}

#[tokio::test]
async fn g6_listings_and_attributes_show_no_lock_state() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "g6").await;
    let v = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(M::Compliance)
        .object_lock_retain_until_date(days(1))
        .object_lock_legal_hold_status(Hold::On)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    for path in [
        format!("/{b}?versions"),
        format!("/{b}?list-type=2"),
        format!("/{b}"),
        format!("/{b}/k?attributes&versionId={v}"),
    ] {
        let headers: &[(&str, &str)] = if path.contains("attributes") {
            &[("x-amz-object-attributes", "ETag,ObjectSize,StorageClass,Checksum,ObjectParts")]
        } else {
            &[]
        };
        let r = raw(&srv, "GET", &path, headers, b"").await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let text = r.text();
        for word in ["ObjectLock", "Retain", "LegalHold", "COMPLIANCE"] {
            assert!(!text.contains(word), "{path} shows {word}: {text}");
        }
        assert!(r.headers.iter().all(|(k, _)| !k.starts_with("x-amz-object-lock")), "{path}: {:?}", r.headers);
    }
}
