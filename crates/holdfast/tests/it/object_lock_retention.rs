//! PutObjectRetention / GetObjectRetention (spec §3, R-rules; §12 DP5, DP7, DP8; §14
//! scenarios 28..36, 38, 51, 52).
//! R10 and R14 (bypass / retention permissions of non-root users) belong to the identity tests (identity_*.rs); the
//! root user used here holds s3:BypassGovernanceRetention (P5).

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::DateTime;
use holdfast_testkit::aws_sdk_s3::types::{
    ObjectLockLegalHoldStatus as Hold, ObjectLockMode as M, ObjectLockRetention, ObjectLockRetentionMode as RM,
};
use holdfast_testkit::bucket_name;
use std::time::Duration;

fn retention_xml(inner: &str) -> String {
    format!("<Retention xmlns=\"{NS}\">{inner}</Retention>")
}

/// PutObjectRetention on one version, with or without bypass.
async fn set(
    s3: &Client,
    b: &str,
    k: &str,
    v: &str,
    r: Option<(RM, DateTime)>,
    bypass: bool,
) -> Result<
    (),
    holdfast_testkit::aws_sdk_s3::error::SdkError<
        holdfast_testkit::aws_sdk_s3::operation::put_object_retention::PutObjectRetentionError,
    >,
> {
    let mut req = s3.put_object_retention().bucket(b).key(k).version_id(v);
    req = match r {
        Some((mode, until)) => req.retention(retention(mode, &until)),
        None => req.retention(ObjectLockRetention::builder().build()),
    };
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    req.send().await.map(|_| ())
}

async fn stored(s3: &Client, b: &str, k: &str, v: &str) -> Option<(String, DateTime)> {
    get_retention(s3, b, k, v).await
}

#[tokio::test]
async fn r1_put_retention_answers_empty_200_and_targets_the_current_version() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r1").await;
    let v1 = put(&s3, &b, "k", b"1").await;
    let v2 = put(&s3, &b, "k", b"2").await;
    let body = retention_xml("<Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>");
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k?retention"), &[], body.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty(), "{}", r.text());
    assert_eq!(stored(&s3, &b, "k", &v2).await, Some(("GOVERNANCE".into(), DateTime::from_secs(1_893_456_000))));
    assert_eq!(stored(&s3, &b, "k", &v1).await, None);
    // With versionId it targets that version.
    s3.put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v1)
        .retention(retention(RM::Compliance, &days(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(stored(&s3, &b, "k", &v1).await.map(|r| r.0).as_deref(), Some("COMPLIANCE"));
    // Without versionId, GET reads the current version.
    let cur = s3.get_object_retention().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(cur.retention().unwrap().mode(), Some(&RM::Governance));
}

#[tokio::test]
async fn r2_retention_on_plain_bucket_is_invalid_request() {
    // Also §14 scenario 28 (retention half; the legal hold half is l2).
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "r2").await;
    s3.put_object().bucket(&b).key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let msg = Some("Bucket is missing Object Lock Configuration");
    let err = s3.put_object_retention().bucket(&b).key("k").retention(retention(RM::Governance, &days(1))).send().await;
    assert_err(&err.unwrap_err(), "InvalidRequest", 400, msg);
    let err = s3.get_object_retention().bucket(&b).key("k").send().await.unwrap_err();
    assert_err(&err, "InvalidRequest", 400, msg);
}

#[tokio::test]
async fn r3_target_resolution() {
    // Also §14 scenario 29.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r3").await;
    put(&s3, &b, "k", b"x").await;
    let ret = retention(RM::Governance, &days(1));
    let missing = bucket_name("r3-missing");
    let err = s3.put_object_retention().bucket(&missing).key("k").retention(ret.clone()).send().await.unwrap_err();
    assert_err(&err, "NoSuchBucket", 404, None);
    let err = s3.put_object_retention().bucket(&b).key("nope").retention(ret.clone()).send().await.unwrap_err();
    assert_err(&err, "NoSuchKey", 404, Some("The specified key does not exist."));
    // A missing key is reported before the body is judged.
    let r =
        raw_md5(&srv, "PUT", &format!("/{b}/nope?retention"), &[], retention_xml("<Mode>bad</Mode>").as_bytes()).await;
    assert_raw_err(&r, 404, "NoSuchKey", None);
    assert_eq!(r.xml("Key").as_deref(), Some("nope"));
    let unknown = "0123456789abcdef0123456789abcdef";
    let err = s3
        .put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(unknown)
        .retention(ret.clone())
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "NoSuchVersion", 404, Some("The specified version does not exist."));
    let err = s3.get_object_retention().bucket(&b).key("k").version_id(unknown).send().await.unwrap_err();
    assert_err(&err, "NoSuchVersion", 404, None);
    let r = raw_md5(
        &srv,
        "PUT",
        &format!("/{b}/k?retention&versionId=not-a-version"),
        &[],
        retention_xml("<Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>").as_bytes(),
    )
    .await;
    assert_raw_err(&r, 400, "InvalidArgument", Some("Invalid version id specified"));
    assert_eq!(r.xml("ArgumentName").as_deref(), Some("versionId"));
    assert_eq!(r.xml("ArgumentValue").as_deref(), Some("not-a-version"));
}

#[tokio::test]
async fn r4_delete_marker_targets_are_method_not_allowed() {
    // Also §14 scenario 30.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r4").await;
    put(&s3, &b, "k", b"x").await;
    let dm = s3.delete_object().bucket(&b).key("k").send().await.unwrap();
    let dm = dm.version_id().unwrap().to_owned();
    let body = retention_xml("<Mode>GOVERNANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>");
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k?retention&versionId={dm}"), &[], body.as_bytes()).await;
    assert_raw_err(&r, 405, "MethodNotAllowed", Some("The specified method is not allowed against this resource."));
    assert_eq!((r.xml("Method").as_deref(), r.xml("ResourceType").as_deref()), (Some("PUT"), Some("DeleteMarker")));
    let r = raw(&srv, "GET", &format!("/{b}/k?retention&versionId={dm}"), &[], b"").await;
    assert_raw_err(&r, 405, "MethodNotAllowed", None);
    assert_eq!((r.xml("Method").as_deref(), r.xml("ResourceType").as_deref()), (Some("GET"), Some("DeleteMarker")));
    // Without versionId while the current version is a marker: PUT 405, GET 404 NoSuchKey.
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k?retention"), &[], body.as_bytes()).await;
    assert_raw_err(&r, 405, "MethodNotAllowed", None);
    assert_eq!(r.xml("Method").as_deref(), Some("PUT"));
    let err = s3.get_object_retention().bucket(&b).key("k").send().await.unwrap_err();
    assert_err(&err, "NoSuchKey", 404, None);
}

#[tokio::test]
async fn r5_invalid_retention_bodies_are_malformed_xml() {
    // Also §14 scenario 31 (body half).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r5").await;
    let v = put(&s3, &b, "k", b"x").await;
    for (what, body) in [
        ("Mode only", retention_xml("<Mode>GOVERNANCE</Mode>")),
        ("date only", retention_xml("<RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>")),
        (
            "lowercase mode",
            retention_xml("<Mode>governance</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>"),
        ),
        ("bad mode", retention_xml("<Mode>BAD-VALUE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>")),
        ("bad date", retention_xml("<Mode>GOVERNANCE</Mode><RetainUntilDate>tomorrow</RetainUntilDate>")),
        ("not well-formed", "<Retention><Mode>GOVERNANCE</Mode>".to_owned()),
        ("wrong root", "<LegalHold><Status>ON</Status></LegalHold>".to_owned()),
    ] {
        let r = raw_md5(&srv, "PUT", &format!("/{b}/k?retention&versionId={v}"), &[], body.as_bytes()).await;
        assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("MalformedXML")), "{what}: {}", r.text());
        assert_eq!(xml_text(&r, "Message").as_deref(), Some(MALFORMED), "{what}");
    }
    assert_eq!(stored(&s3, &b, "k", &v).await, None);
}

#[tokio::test]
async fn r6_past_date_is_invalid_argument_with_pacific_time_value() {
    // Also §14 scenario 31 (date half).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r6").await;
    let v = put(&s3, &b, "k", b"x").await;
    for (date, value) in [
        ("2020-01-01T00:00:00Z", "Tue Dec 31 16:00:00 PST 2019"),
        ("2020-07-01T00:00:00.000Z", "Tue Jun 30 17:00:00 PDT 2020"),
        ("2021-03-14T10:30:05Z", "Sun Mar 14 03:30:05 PDT 2021"),
        ("2021-03-14T09:59:59Z", "Sun Mar 14 01:59:59 PST 2021"),
        ("2021-11-07T09:00:00Z", "Sun Nov 07 01:00:00 PST 2021"),
        ("2021-11-07T08:59:59Z", "Sun Nov 07 01:59:59 PDT 2021"),
    ] {
        let body = retention_xml(&format!("<Mode>GOVERNANCE</Mode><RetainUntilDate>{date}</RetainUntilDate>"));
        let r = raw_md5(&srv, "PUT", &format!("/{b}/k?retention&versionId={v}"), &[], body.as_bytes()).await;
        assert_raw_err(&r, 400, "InvalidArgument", Some("The retain until date must be in the future!"));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some("RetainUntilDate"));
        assert_eq!(r.xml("ArgumentValue").as_deref(), Some(value), "{date}");
    }
    let err = set(&s3, &b, "k", &v, Some((RM::Compliance, in_secs(-1))), false).await.unwrap_err();
    assert_err(&err, "InvalidArgument", 400, Some("The retain until date must be in the future!"));
    assert_eq!(stored(&s3, &b, "k", &v).await, None);
}

#[tokio::test]
async fn r7_explicit_dates_have_no_upper_bound() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r7").await;
    let v = put(&s3, &b, "k", b"x").await;
    let far = DateTime::from_secs(5_364_662_400); // 2140-01-01T00:00:00Z
    set(&s3, &b, "k", &v, Some((RM::Governance, far)), false).await.unwrap();
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("GOVERNANCE".into(), far)));
    s3.delete_object().bucket(&b).key("k").version_id(&v).bypass_governance_retention(true).send().await.unwrap();
}

#[tokio::test]
async fn r8_governance_extend_or_same_date_needs_no_bypass() {
    // Also §14 scenarios 33 (extend) and 38 (same date is idempotent).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r8-gext").await;
    let d0 = days(1);
    let v = put_locked(&s3, &b, "k", M::Governance, &d0).await;
    set(&s3, &b, "k", &v, Some((RM::Governance, d0)), false).await.unwrap();
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("GOVERNANCE".into(), d0)));
    let d1 = days(2);
    set(&s3, &b, "k", &v, Some((RM::Governance, d1)), false).await.unwrap();
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("GOVERNANCE".into(), d1)));
    set(&s3, &b, "k", &v, Some((RM::Governance, days(3))), true).await.unwrap();
}

#[tokio::test]
async fn r8_governance_shorten_needs_bypass() {
    // Also §14 scenario 33 (shorten).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r8-gshort").await;
    let d0 = days(2);
    let v = put_locked(&s3, &b, "k", M::Governance, &d0).await;
    let shorter = days(1);
    let err = set(&s3, &b, "k", &v, Some((RM::Governance, shorter)), false).await.unwrap_err();
    assert_locked(&err);
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("GOVERNANCE".into(), d0)));
    set(&s3, &b, "k", &v, Some((RM::Governance, shorter)), true).await.unwrap();
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("GOVERNANCE".into(), shorter)));
}

#[tokio::test]
async fn r8_governance_to_compliance_needs_bypass() {
    // Also §14 scenario 34.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r8-g2c").await;
    let d0 = days(1);
    let v = put_locked(&s3, &b, "k", M::Governance, &d0).await;
    let err = set(&s3, &b, "k", &v, Some((RM::Compliance, days(2))), false).await.unwrap_err();
    assert_locked(&err);
    let err = set(&s3, &b, "k", &v, Some((RM::Compliance, d0)), false).await.unwrap_err();
    assert_locked(&err);
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("GOVERNANCE".into(), d0)));
    set(&s3, &b, "k", &v, Some((RM::Compliance, days(2))), true).await.unwrap();
    assert_eq!(stored(&s3, &b, "k", &v).await.map(|r| r.0).as_deref(), Some("COMPLIANCE"));
    // Now it is COMPLIANCE for real: root cannot delete it even with bypass.
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
}

#[tokio::test]
async fn r8_governance_removal_needs_bypass() {
    // Also §14 scenario 36 (GOVERNANCE half).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r8-grm").await;
    let d0 = days(1);
    let v = put_locked(&s3, &b, "k", M::Governance, &d0).await;
    let empty = retention_xml("");
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k?retention&versionId={v}"), &[], empty.as_bytes()).await;
    assert_raw_err(&r, 403, "AccessDenied", Some(LOCKED));
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("GOVERNANCE".into(), d0)));
    // The empty self-closing form with bypass clears it (spec §10).
    let empty = format!("<Retention xmlns=\"{NS}\"/>");
    let r = raw_md5(
        &srv,
        "PUT",
        &format!("/{b}/k?retention&versionId={v}"),
        &[("x-amz-bypass-governance-retention", "true")],
        empty.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(stored(&s3, &b, "k", &v).await, None);
    let h = s3.head_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert_eq!((h.object_lock_mode(), h.object_lock_retain_until_date()), (None, None));
    // Unprotected now: deletable without bypass.
    s3.delete_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
}

#[tokio::test]
async fn r8_compliance_extend_or_same_date_is_allowed() {
    // Also §14 scenarios 35 (extend) and 38.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r8-cext").await;
    let d0 = in_secs(3600);
    let v = put_locked(&s3, &b, "k", M::Compliance, &d0).await;
    set(&s3, &b, "k", &v, Some((RM::Compliance, d0)), false).await.unwrap();
    let d1 = in_secs(7200);
    set(&s3, &b, "k", &v, Some((RM::Compliance, d1)), false).await.unwrap();
    let d2 = in_secs(10800);
    set(&s3, &b, "k", &v, Some((RM::Compliance, d2)), true).await.unwrap();
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("COMPLIANCE".into(), d2)));
}

#[tokio::test]
async fn r8_compliance_cannot_be_shortened_downgraded_or_removed() {
    // Also §14 scenarios 35 and 36 (COMPLIANCE half).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r8-cdeny").await;
    let d0 = days(2);
    let v = put_locked(&s3, &b, "k", M::Compliance, &d0).await;
    for bypass in [false, true] {
        let err = set(&s3, &b, "k", &v, Some((RM::Compliance, days(1))), bypass).await.unwrap_err();
        assert_locked(&err);
        let err = set(&s3, &b, "k", &v, Some((RM::Governance, days(3))), bypass).await.unwrap_err();
        assert_locked(&err);
        let err = set(&s3, &b, "k", &v, None, bypass).await.unwrap_err();
        assert_locked(&err);
        let bypass_header: &[(&str, &str)] =
            if bypass { &[("x-amz-bypass-governance-retention", "true")] } else { &[] };
        let r = raw_md5(
            &srv,
            "PUT",
            &format!("/{b}/k?retention&versionId={v}"),
            bypass_header,
            retention_xml("").as_bytes(),
        )
        .await;
        assert_raw_err(&r, 403, "AccessDenied", Some(LOCKED));
    }
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("COMPLIANCE".into(), d0)));
}

#[tokio::test]
async fn r9_version_without_retention_accepts_any_retention_without_bypass() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r9").await;
    let v = put(&s3, &b, "k", b"x").await;
    set(&s3, &b, "k", &v, Some((RM::Governance, days(3))), false).await.unwrap();
    set(&s3, &b, "k", &v, None, true).await.unwrap();
    // Removed: anything valid goes again, even a shorter COMPLIANCE.
    set(&s3, &b, "k", &v, Some((RM::Compliance, days(1))), false).await.unwrap();
    assert_eq!(stored(&s3, &b, "k", &v).await.map(|r| r.0).as_deref(), Some("COMPLIANCE"));
}

#[tokio::test]
async fn r9_dp5_r12_expired_retention_is_reported_but_counts_as_absent() {
    // §14 scenario 51 (R12) and DP5. One short real retention, waited out once.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r9-expired").await;
    let until = in_secs(3);
    let c = put_locked(&s3, &b, "c", M::Compliance, &until).await;
    let g = put_locked(&s3, &b, "g", M::Governance, &until).await;
    let c2 = put_locked(&s3, &b, "c2", M::Compliance, &until).await;
    sleep_past(&until, Duration::from_secs(6)).await;
    // R12: nothing is auto-cleared.
    for (k, v, mode) in [("c", &c, M::Compliance), ("g", &g, M::Governance)] {
        let h = s3.head_object().bucket(&b).key(k).version_id(v).send().await.unwrap();
        assert_eq!((h.object_lock_mode(), h.object_lock_retain_until_date()), (Some(&mode), Some(&until)), "{k}");
        assert_eq!(stored(&s3, &b, k, v).await, Some((mode.as_str().to_owned(), until)), "{k}");
    }
    // DP5: an expired COMPLIANCE retention may become GOVERNANCE without bypass ...
    let later = days(1);
    set(&s3, &b, "c", &c, Some((RM::Governance, later)), false).await.unwrap();
    assert_eq!(stored(&s3, &b, "c", &c).await, Some(("GOVERNANCE".into(), later)));
    // ... an expired GOVERNANCE retention may be removed without bypass ...
    set(&s3, &b, "g", &g, None, false).await.unwrap();
    assert_eq!(stored(&s3, &b, "g", &g).await, None);
    // ... and an expired COMPLIANCE retention may be removed too.
    set(&s3, &b, "c2", &c2, None, false).await.unwrap();
    assert_eq!(stored(&s3, &b, "c2", &c2).await, None);
}

#[tokio::test]
async fn r11_get_retention_and_never_set_is_not_found() {
    // Also §14 scenario 32 (retention half).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r11").await;
    let v = put(&s3, &b, "k", b"x").await;
    let err = s3.get_object_retention().bucket(&b).key("k").version_id(&v).send().await.unwrap_err();
    assert_err(
        &err,
        "NoSuchObjectLockConfiguration",
        404,
        Some("The specified object does not have a ObjectLock configuration"),
    );
    // A legal hold alone is not a retention.
    set_hold(&s3, &b, "k", Some(&v), Hold::On).await;
    assert_eq!(stored(&s3, &b, "k", &v).await, None);
    let until = days(1);
    set(&s3, &b, "k", &v, Some((RM::Governance, until)), false).await.unwrap();
    let r = raw(&srv, "GET", &format!("/{b}/k?retention&versionId={v}"), &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&format!("<Retention xmlns=\"{NS}\">")), "{}", r.text());
    assert_eq!(r.xml("Mode").as_deref(), Some("GOVERNANCE"));
    assert_eq!(r.xml("RetainUntilDate"), Some(iso_millis(&until)));
    set_hold(&s3, &b, "k", Some(&v), Hold::Off).await;
    s3.delete_object().bucket(&b).key("k").version_id(&v).bypass_governance_retention(true).send().await.unwrap();
}

#[tokio::test]
async fn r13_retention_and_legal_hold_changes_are_metadata_only() {
    // Also §14 scenario 52.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r13").await;
    let v = put(&s3, &b, "k", b"x").await;
    let before = s3.head_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    let listed_before = s3.list_object_versions().bucket(&b).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await; // Last-Modified has second precision
    set(&s3, &b, "k", &v, Some((RM::Governance, days(1))), false).await.unwrap();
    set(&s3, &b, "k", &v, Some((RM::Governance, days(2))), false).await.unwrap();
    set_hold(&s3, &b, "k", Some(&v), Hold::On).await;
    set_hold(&s3, &b, "k", Some(&v), Hold::Off).await;
    let after = s3.head_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert_eq!(after.last_modified(), before.last_modified());
    assert_eq!(after.e_tag(), before.e_tag());
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v.clone()]);
    let listed = s3.list_object_versions().bucket(&b).send().await.unwrap();
    assert_eq!(listed.versions()[0].last_modified(), listed_before.versions()[0].last_modified());
    assert_eq!(listed.versions()[0].e_tag(), listed_before.versions()[0].e_tag());
}

#[tokio::test]
async fn r15_dp7_dates_are_normalised_to_utc_with_milliseconds() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "r15").await;
    let v = put(&s3, &b, "k", b"x").await;
    for (sent, emitted) in [
        ("2030-01-01T01:00:00+01:00", "2030-01-01T00:00:00.000Z"),
        ("2030-01-01T00:00:00.123Z", "2030-01-01T00:00:00.123Z"),
        ("2030-01-01T00:00:01Z", "2030-01-01T00:00:01.000Z"),
    ] {
        // Without the namespace on the request (optional, §0.4).
        let body = format!("<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>{sent}</RetainUntilDate></Retention>");
        let r = raw_md5(&srv, "PUT", &format!("/{b}/k?retention&versionId={v}"), &[], body.as_bytes()).await;
        assert_eq!(r.status, 200, "{sent}: {}", r.text());
        let r = raw(&srv, "GET", &format!("/{b}/k?retention&versionId={v}"), &[], b"").await;
        assert_eq!(r.xml("RetainUntilDate").as_deref(), Some(emitted), "{sent}");
        let h = raw(&srv, "HEAD", &format!("/{b}/k?versionId={v}"), &[], b"").await;
        assert_eq!(h.header("x-amz-object-lock-retain-until-date"), Some(emitted), "{sent}");
    }
}

#[tokio::test]
async fn dp7_retain_until_is_compared_to_the_millisecond() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "dp7").await;
    let v = put(&s3, &b, "k", b"x").await;
    let d0 = DateTime::from_millis(1_893_456_000_500); // 2030-01-01T00:00:00.500Z
    set(&s3, &b, "k", &v, Some((RM::Governance, d0)), false).await.unwrap();
    assert_eq!(stored(&s3, &b, "k", &v).await, Some(("GOVERNANCE".into(), d0)));
    let err = set(&s3, &b, "k", &v, Some((RM::Governance, DateTime::from_millis(1_893_456_000_499))), false)
        .await
        .unwrap_err();
    assert_locked(&err);
    set(&s3, &b, "k", &v, Some((RM::Governance, DateTime::from_millis(1_893_456_000_501))), false).await.unwrap();
    s3.delete_object().bucket(&b).key("k").version_id(&v).bypass_governance_retention(true).send().await.unwrap();
}

#[tokio::test]
async fn dp8_retention_change_and_delete_of_one_version_are_atomic() {
    // A GOVERNANCE version receives, at the same moment, "make it COMPLIANCE" and "delete
    // it with bypass". Whichever commits first wins; both succeeding would mean a
    // COMPLIANCE version was deleted (or a deleted one got retention).
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "dp8").await;
    for round in 0..10 {
        let k = format!("k{round}");
        let v = put_locked(&s3, &b, &k, M::Governance, &days(1)).await;
        let compliance = set(&s3, &b, &k, &v, Some((RM::Compliance, days(2))), true);
        let delete = s3.delete_object().bucket(&b).key(&k).version_id(&v).bypass_governance_retention(true).send();
        let (c, d) = tokio::join!(compliance, delete);
        match (&c, &d) {
            (Ok(()), Err(e)) => {
                assert_locked(e);
                assert_eq!(version_ids(&s3, &b, &k).await, vec![v.clone()]);
                assert_eq!(stored(&s3, &b, &k, &v).await.map(|r| r.0).as_deref(), Some("COMPLIANCE"));
            }
            (Err(e), Ok(_)) => {
                assert_err(e, "NoSuchVersion", 404, None);
                assert!(version_ids(&s3, &b, &k).await.is_empty());
            }
            _ => panic!("round {round}: retention {c:?}, delete {d:?}"),
        }
    }
}
