//! Deletion of locked versions: DeleteObject, DeleteObjects, DeleteBucket (spec §5,
//! D-rules; P5; §12 DP1, DP3, DP9; §14 scenarios 39..44).
//! D10's non-root half (a caller without s3:BypassGovernanceRetention) belongs to the identity tests (identity_*.rs);
//! D11 (lifecycle) is not applicable: Holdfast has no lifecycle engine yet.

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::types::{
    Delete, ObjectIdentifier, ObjectLockLegalHoldStatus as Hold, ObjectLockMode as M, ObjectLockRetentionMode as RM,
};
use std::time::Duration;

const ONLY_LOCK_BUCKETS: &str = "x-amz-bypass-governance-retention is only applicable to Object Lock enabled buckets.";
const BYPASS: &str = "x-amz-bypass-governance-retention";

fn ident(k: &str, v: Option<&str>) -> ObjectIdentifier {
    ObjectIdentifier::builder().key(k).set_version_id(v.map(str::to_owned)).build().unwrap()
}

fn delete_of(objects: Vec<ObjectIdentifier>, quiet: bool) -> Delete {
    Delete::builder().set_objects(Some(objects)).quiet(quiet).build().unwrap()
}

/// Keys and version ids of every object version (not markers) in the bucket.
async fn all_versions(s3: &Client, b: &str) -> Vec<(String, String)> {
    let out = s3.list_object_versions().bucket(b).send().await.unwrap();
    let mut v: Vec<_> =
        out.versions().iter().map(|v| (v.key().unwrap().to_owned(), v.version_id().unwrap().to_owned())).collect();
    v.sort();
    v
}

#[tokio::test]
async fn d1_simple_delete_adds_a_marker_whatever_the_locks() {
    // Also §14 scenario 39.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d1").await;
    set_default(&s3, &b, Some((RM::Compliance, Some(1), None))).await;
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
    let r = raw(&srv, "DELETE", &format!("/{b}/k"), &[], b"").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    let marker = r.header("x-amz-version-id").expect("marker version id").to_owned();
    assert_ne!(marker, v);
    // Also through the SDK, and with the bypass header.
    let out = s3.delete_object().bucket(&b).key("k").bypass_governance_retention(true).send().await.unwrap();
    assert_eq!(out.delete_marker(), Some(true));
    let m2 = out.version_id().unwrap().to_owned();
    assert_eq!(version_ids(&s3, &b, "k").await, vec![m2, marker, v.clone()]);
    // The locked version is intact and readable by id.
    let h = s3.head_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert_eq!(h.object_lock_mode(), Some(&M::Compliance));
    let err = s3.head_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(holdfast_testkit::error_code(&err).1, Some(404));
}

#[tokio::test]
async fn d2_permanent_delete_of_a_protected_version_is_refused() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d2").await;
    let held = put_held(&s3, &b, "held").await;
    let gov = put_locked(&s3, &b, "gov", M::Governance, &days(1)).await;
    let comp = put_locked(&s3, &b, "comp", M::Compliance, &days(1)).await;
    for (k, v) in [("held", &held), ("gov", &gov), ("comp", &comp)] {
        let err = s3.delete_object().bucket(&b).key(k).version_id(v).send().await.unwrap_err();
        assert_locked(&err);
        let r = raw(&srv, "DELETE", &format!("/{b}/{k}?versionId={v}"), &[], b"").await;
        assert_raw_err(&r, 403, "AccessDenied", Some(LOCKED));
        assert_eq!(version_ids(&s3, &b, k).await, vec![v.clone()], "{k} must survive");
    }
    // COMPLIANCE: bypass is irrelevant (and P5: not even root).
    let err =
        s3.delete_object().bucket(&b).key("comp").version_id(&comp).bypass_governance_retention(true).send().await;
    assert_locked(&err.unwrap_err());
    assert_eq!(all_versions(&s3, &b).await.len(), 3);
}

#[tokio::test]
async fn d3_p5_governance_bypass_by_root_deletes() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d3").await;
    let v = put_locked(&s3, &b, "k", M::Governance, &days(365)).await;
    let r = raw(&srv, "DELETE", &format!("/{b}/k?versionId={v}"), &[(BYPASS, "true")], b"").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-amz-version-id"), Some(v.as_str()));
    assert_eq!(r.header("x-amz-delete-marker"), None);
    assert!(version_ids(&s3, &b, "k").await.is_empty());
    // `false` is not a bypass.
    let v = put_locked(&s3, &b, "k", M::Governance, &days(1)).await;
    let r = raw(&srv, "DELETE", &format!("/{b}/k?versionId={v}"), &[(BYPASS, "false")], b"").await;
    assert_raw_err(&r, 403, "AccessDenied", Some(LOCKED));
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v]);
}

#[tokio::test]
async fn d4_bypass_never_beats_a_legal_hold() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d4").await;
    let v = put_locked(&s3, &b, "k", M::Governance, &days(1)).await;
    set_hold(&s3, &b, "k", Some(&v), Hold::On).await;
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
    s3.delete_object().bucket(&b).key("k").version_id(&v).bypass_governance_retention(true).send().await.unwrap();
}

#[tokio::test]
async fn d5_expiry_unlocks() {
    // Also §14 scenario 41. One short real retention, waited out once.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d5").await;
    let until = in_secs(3);
    let comp = put_locked(&s3, &b, "comp", M::Compliance, &until).await;
    let gov = put_locked(&s3, &b, "gov", M::Governance, &until).await;
    let held = put_locked(&s3, &b, "held", M::Governance, &until).await;
    set_hold(&s3, &b, "held", Some(&held), Hold::On).await;
    let err =
        s3.delete_object().bucket(&b).key("comp").version_id(&comp).bypass_governance_retention(true).send().await;
    assert_locked(&err.unwrap_err());
    sleep_past(&until, Duration::from_secs(6)).await;
    let out = s3.delete_object().bucket(&b).key("comp").version_id(&comp).send().await.unwrap();
    assert_eq!(out.version_id(), Some(comp.as_str()));
    s3.delete_object().bucket(&b).key("gov").version_id(&gov).send().await.unwrap();
    // A hold outlives the retention.
    let err = s3.delete_object().bucket(&b).key("held").version_id(&held).send().await.unwrap_err();
    assert_locked(&err);
    assert_eq!(all_versions(&s3, &b).await, vec![("held".to_owned(), held)]);
}

#[tokio::test]
async fn d6_delete_markers_are_never_protected() {
    // Also §14 scenario 42.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d6").await;
    set_default(&s3, &b, Some((RM::Compliance, Some(1), None))).await;
    let v = put_held(&s3, &b, "k").await;
    let m = s3.delete_object().bucket(&b).key("k").send().await.unwrap().version_id().unwrap().to_owned();
    // The marker got no lock state of its own, not even the bucket default.
    let r = raw(&srv, "HEAD", &format!("/{b}/k?versionId={m}"), &[], b"").await;
    assert_eq!(r.status, 405);
    assert!(r.headers.iter().all(|(k, _)| !k.starts_with("x-amz-object-lock")), "{:?}", r.headers);
    let r = raw(&srv, "DELETE", &format!("/{b}/k?versionId={m}"), &[], b"").await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(r.header("x-amz-version-id"), Some(m.as_str()));
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v.clone()]);
    // The object is visible again.
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.version_id(), Some(v.as_str()));
}

#[tokio::test]
async fn d7_dp1_bypass_header_on_plain_bucket_is_ignored_in_compat_mode() {
    // §14 scenario 43, compatibility answer (aws_strict off): s3-tests' teardown sends it.
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "d7").await;
    for value in ["true", "false"] {
        let r = raw(&srv, "PUT", &format!("/{b}/k"), &[], b"x").await;
        assert_eq!(r.status, 200);
        let r = raw(&srv, "DELETE", &format!("/{b}/k"), &[(BYPASS, value)], b"").await;
        assert_eq!(r.status, 204, "{value}: {}", r.text());
    }
    s3.put_object().bucket(&b).key("k").body(b"x".to_vec().into()).send().await.unwrap();
    let out = s3
        .delete_objects()
        .bucket(&b)
        .bypass_governance_retention(true)
        .delete(delete_of(vec![ident("k", None)], false))
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert_eq!(out.deleted().len(), 1);
    assert!(s3.list_objects_v2().bucket(&b).send().await.unwrap().contents().is_empty());
}

#[tokio::test]
async fn d7_dp1_bypass_header_on_plain_bucket_is_invalid_argument_in_aws_strict_mode() {
    // §14 scenario 43, AWS answer (aws_strict on).
    let srv = strict_server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "d7-strict").await;
    s3.put_object().bucket(&b).key("k").body(b"x".to_vec().into()).send().await.unwrap();
    for value in ["true", "false"] {
        let r = raw(&srv, "DELETE", &format!("/{b}/k"), &[(BYPASS, value)], b"").await;
        assert_raw_err(&r, 400, "InvalidArgument", Some(ONLY_LOCK_BUCKETS));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some(BYPASS));
        let body = format!("<Delete xmlns=\"{NS}\"><Object><Key>k</Key></Object></Delete>");
        let r = raw_md5(&srv, "POST", &format!("/{b}?delete"), &[(BYPASS, value)], body.as_bytes()).await;
        assert_raw_err(&r, 400, "InvalidArgument", Some(ONLY_LOCK_BUCKETS));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some(BYPASS));
    }
    let err = s3.delete_object().bucket(&b).key("k").bypass_governance_retention(false).send().await.unwrap_err();
    assert_err(&err, "InvalidArgument", 400, Some(ONLY_LOCK_BUCKETS));
    // Nothing was deleted; without the header the delete works.
    assert_eq!(s3.list_objects_v2().bucket(&b).send().await.unwrap().contents().len(), 1);
    s3.delete_object().bucket(&b).key("k").send().await.unwrap();
    // On a lock bucket the header stays meaningful in strict mode.
    let lb = lock_bucket(&s3, "d7-strict-lock").await;
    let v = put_locked(&s3, &lb, "k", M::Governance, &days(1)).await;
    s3.delete_object().bucket(&lb).key("k").version_id(&v).bypass_governance_retention(true).send().await.unwrap();
}

#[tokio::test]
async fn d8_multi_delete_reports_each_locked_entry() {
    // Also §14 scenario 44.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d8").await;
    let free = put(&s3, &b, "free", b"x").await;
    let gov = put_locked(&s3, &b, "gov", M::Governance, &days(1)).await;
    let comp = put_locked(&s3, &b, "comp", M::Compliance, &days(1)).await;
    let held = put_held(&s3, &b, "held").await;
    let objects = vec![
        ident("free", Some(&free)),
        ident("gov", Some(&gov)),
        ident("comp", Some(&comp)),
        ident("held", Some(&held)),
        ident("marker-me", None),
    ];
    let out = s3.delete_objects().bucket(&b).delete(delete_of(objects.clone(), false)).send().await.unwrap();
    let mut errors: Vec<_> = out
        .errors()
        .iter()
        .map(|e| {
            (
                e.key().unwrap().to_owned(),
                e.version_id().unwrap().to_owned(),
                e.code().unwrap().to_owned(),
                e.message().unwrap().to_owned(),
            )
        })
        .collect();
    errors.sort();
    let locked = |k: &str, v: &str| (k.to_owned(), v.to_owned(), "AccessDenied".to_owned(), LOCKED.to_owned());
    assert_eq!(errors, vec![locked("comp", &comp), locked("gov", &gov), locked("held", &held)]);
    let deleted: Vec<_> = out.deleted().iter().map(|d| (d.key().unwrap(), d.version_id(), d.delete_marker())).collect();
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert!(deleted.contains(&("free", Some(free.as_str()), None)), "{deleted:?}");
    let marker = out.deleted().iter().find(|d| d.key() == Some("marker-me")).unwrap();
    assert_eq!(marker.delete_marker(), Some(true));
    assert!(marker.delete_marker_version_id().is_some());
    assert_eq!(
        all_versions(&s3, &b).await,
        vec![("comp".into(), comp.clone()), ("gov".into(), gov.clone()), ("held".into(), held.clone())]
    );
    // Quiet suppresses successes only.
    let out = s3.delete_objects().bucket(&b).delete(delete_of(objects.clone(), true)).send().await.unwrap();
    assert!(out.deleted().is_empty(), "{:?}", out.deleted());
    assert_eq!(out.errors().len(), 3);
    // With bypass, GOVERNANCE goes; COMPLIANCE and the held version stay.
    let out = s3
        .delete_objects()
        .bucket(&b)
        .bypass_governance_retention(true)
        .delete(delete_of(objects, false))
        .send()
        .await
        .unwrap();
    let mut failed: Vec<_> = out.errors().iter().map(|e| e.key().unwrap().to_owned()).collect();
    failed.sort();
    assert_eq!(failed, vec!["comp", "held"]);
    assert_eq!(all_versions(&s3, &b).await, vec![("comp".into(), comp), ("held".into(), held)]);
}

#[tokio::test]
async fn d9_multi_delete_needs_an_integrity_header() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d9").await;
    let v = put(&s3, &b, "k", b"x").await;
    let body = format!("<Delete xmlns=\"{NS}\"><Object><Key>k</Key><VersionId>{v}</VersionId></Object></Delete>");
    let r = raw(&srv, "POST", &format!("/{b}?delete"), &[], body.as_bytes()).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidRequest")), "{}", r.text());
    assert!(
        xml_text(&r, "Message")
            .unwrap_or_default()
            .starts_with("Missing required header for this request: Content-MD5")
    );
    let wrong = md5_b64(b"other");
    let r = raw(&srv, "POST", &format!("/{b}?delete"), &[("content-md5", &wrong)], body.as_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(matches!(r.xml("Code").as_deref(), Some("BadDigest" | "InvalidDigest")), "{}", r.text());
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v.clone()]);
    let r = raw_md5(&srv, "POST", &format!("/{b}?delete"), &[], body.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(version_ids(&s3, &b, "k").await.is_empty());
}

#[tokio::test]
async fn d10_dp3_bypass_header_on_unprotected_versions_is_harmless_for_root() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d10").await;
    let v = put(&s3, &b, "k", b"x").await;
    s3.delete_object().bucket(&b).key("k").version_id(&v).bypass_governance_retention(true).send().await.unwrap();
    assert!(version_ids(&s3, &b, "k").await.is_empty());
}

#[tokio::test]
async fn d12_dp9_bucket_with_protected_versions_cannot_be_deleted() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d12").await;
    let v = put_locked(&s3, &b, "k", M::Compliance, &days(1)).await;
    s3.delete_object().bucket(&b).key("k").send().await.unwrap();
    let err = s3.delete_bucket().bucket(&b).send().await.unwrap_err();
    assert_err(&err, "BucketNotEmpty", 409, None);
    // The marker can go, the version cannot; the bucket stays.
    let m = version_ids(&s3, &b, "k").await[0].clone();
    s3.delete_object().bucket(&b).key("k").version_id(&m).send().await.unwrap();
    let err = s3.delete_bucket().bucket(&b).send().await.unwrap_err();
    assert_err(&err, "BucketNotEmpty", 409, None);
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v]);
    s3.head_bucket().bucket(&b).send().await.unwrap();
}

#[tokio::test]
async fn d13_delete_of_unknown_version_id_follows_versioning_rules() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "d13").await;
    let v = put_locked(&s3, &b, "k", M::Compliance, &days(1)).await;
    let unknown = "0123456789abcdef0123456789abcdef";
    let out = s3.delete_object().bucket(&b).key("k").version_id(unknown).send().await.unwrap();
    assert_eq!(out.version_id(), Some(unknown));
    let out = s3.delete_object().bucket(&b).key("nothing").version_id(unknown).send().await.unwrap();
    assert_eq!(out.delete_marker(), None);
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v]);
}
