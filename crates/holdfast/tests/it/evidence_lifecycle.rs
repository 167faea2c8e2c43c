//! Lifecycle on short days (`[lifecycle] day_seconds` and `interval_seconds` are
//! test settings): spec D11, lifecycle never removes a protected version. An unprotected
//! noncurrent version is expired; versions under GOVERNANCE, COMPLIANCE or a legal hold are
//! skipped (counted) until their protection ends; expired delete markers are removed;
//! incomplete uploads are aborted; current-version expiration only hides a protected
//! version behind a delete marker.

use crate::evidence_support::*;
use crate::object_lock_support::{
    assert_err, get_retention, in_secs, lock_bucket, plain_bucket, put, put_held, put_locked, set_hold, sleep_past,
    version_ids,
};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectLockLegalHoldStatus, ObjectLockMode,
};
use holdfast_testkit::{Server, ServerOptions};
use std::time::{Duration, SystemTime};

/// One lifecycle "day" is one second; the worker runs four times a second.
fn server() -> Server {
    Server::start_with(
        BIN,
        ServerOptions {
            // Per-bucket metrics: the skip counter is read by bucket (hidden by default).
            config_toml: "[lifecycle]\nday_seconds = 1\ninterval_seconds = 0.25\n[metrics]\nper_bucket = true\n".into(),
            ..Default::default()
        },
    )
}

fn rule(id: &str, prefix: &str) -> holdfast_testkit::aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

async fn set_rules(s3: &Client, b: &str, rules: Vec<LifecycleRule>) {
    s3.put_bucket_lifecycle_configuration()
        .bucket(b)
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().unwrap())
        .send()
        .await
        .unwrap();
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test]
async fn d11_noncurrent_expiration_skips_protected_versions_until_protection_ends() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "lcnc").await;
    set_rules(
        &s3,
        &b,
        vec![
            rule("nc", "")
                .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
                .build()
                .unwrap(),
        ],
    )
    .await;
    let got = s3.get_bucket_lifecycle_configuration().bucket(&b).send().await.unwrap();
    assert_eq!(got.rules()[0].noncurrent_version_expiration().unwrap().noncurrent_days(), Some(1));

    let until = in_secs(10);
    let plain_v1 = put(&s3, &b, "plain", b"one").await;
    let gov_v1 = put_locked(&s3, &b, "gov", ObjectLockMode::Governance, &until).await;
    let comp_v1 = put_locked(&s3, &b, "comp", ObjectLockMode::Compliance, &until).await;
    let held_v1 = put_held(&s3, &b, "held").await;
    let mut current = Vec::new();
    for k in ["plain", "gov", "comp", "held"] {
        current.push(put(&s3, &b, k, b"two").await);
    }

    // The unprotected noncurrent version goes after one (short) day.
    wait_for("plain v1 expired", Duration::from_secs(15), async || {
        (version_ids(&s3, &b, "plain").await == [current[0].clone()]).then_some(())
    })
    .await;
    // The worker has seen and skipped the three protected ones (metric and audit trail)...
    let skipped = format!("holdfast_lifecycle_skipped_protected_total{{bucket=\"{b}\"}}");
    wait_for("three skips counted", Duration::from_secs(15), async || {
        metric(&metrics_text(&srv.addr).await, &skipped).filter(|n| *n >= 3.0)
    })
    .await;
    let checked_at = now_ms();
    assert!(
        checked_at < until.to_millis().unwrap(),
        "the protected versions must be checked while still protected (the test ran too slowly to show it)"
    );
    // ...and every protected version is still there, retention unchanged.
    assert_eq!(version_ids(&s3, &b, "gov").await, [current[1].clone(), gov_v1.clone()]);
    assert_eq!(version_ids(&s3, &b, "comp").await, [current[2].clone(), comp_v1.clone()]);
    assert_eq!(version_ids(&s3, &b, "held").await, [current[3].clone(), held_v1.clone()]);
    assert_eq!(get_retention(&s3, &b, "comp", &comp_v1).await.unwrap().0, "COMPLIANCE");
    let records = wait_for("lifecycle audit records", Duration::from_secs(5), async || {
        let r = audit_records(&srv.data_dir);
        // A pass that ran while the versions were still being written skipped fewer.
        r.iter()
            .any(|r| r["op"] == "LifecycleSkipProtected" && r["bucket"] == b.as_str() && r["detail"]["skipped"] == 3)
            .then_some(r)
    })
    .await;
    let expired: Vec<_> = records.iter().filter(|r| r["op"] == "LifecycleExpiration").collect();
    assert_eq!(expired.len(), 1, "only plain v1 so far");
    assert_eq!(
        (expired[0]["key"].as_str(), expired[0]["version_id"].as_str()),
        (Some("plain"), Some(plain_v1.as_str()))
    );
    assert_eq!(expired[0]["principal"], "holdfast:lifecycle");
    let skip = records.iter().find(|r| r["op"] == "LifecycleSkipProtected" && r["detail"]["skipped"] == 3).unwrap();
    assert_eq!(skip["detail"]["versions"].as_array().map(Vec::len), Some(3));

    // A legal hold protects until it is released; then the version goes on a later pass.
    set_hold(&s3, &b, "held", Some(&held_v1), ObjectLockLegalHoldStatus::Off).await;
    wait_for("held v1 expired after release", Duration::from_secs(15), async || {
        (version_ids(&s3, &b, "held").await == [current[3].clone()]).then_some(())
    })
    .await;
    // Retention protects until its date (D5); then both go.
    assert!(now_ms() < until.to_millis().unwrap(), "still before the retain-until date");
    assert_eq!(version_ids(&s3, &b, "gov").await.len(), 2);
    assert_eq!(version_ids(&s3, &b, "comp").await.len(), 2);
    sleep_past(&until, Duration::from_secs(15)).await;
    wait_for("gov and comp v1 expired after retention", Duration::from_secs(15), async || {
        let gov = version_ids(&s3, &b, "gov").await;
        let comp = version_ids(&s3, &b, "comp").await;
        (gov == [current[1].clone()] && comp == [current[2].clone()]).then_some(())
    })
    .await;
    // The current versions were never touched.
    for (k, v) in ["plain", "gov", "comp", "held"].iter().zip(&current) {
        let head = s3.head_object().bucket(&b).key(*k).send().await.unwrap();
        assert_eq!(head.version_id(), Some(v.as_str()));
    }
}

#[tokio::test]
async fn expired_delete_markers_are_removed_and_incomplete_uploads_aborted() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "lcdm").await;
    holdfast_testkit::enable_versioning(&s3, &b).await;
    set_rules(
        &s3,
        &b,
        vec![
            rule("markers", "")
                .expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build())
                .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
                .build()
                .unwrap(),
            rule("uploads", "mp/")
                .abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    // A marker with nothing under it, and a marker over one version (which expires first).
    s3.delete_object().bucket(&b).key("ghost").send().await.unwrap();
    put(&s3, &b, "k", b"v1").await;
    s3.delete_object().bucket(&b).key("k").send().await.unwrap();
    let mp = s3.create_multipart_upload().bucket(&b).key("mp/x").send().await.unwrap();
    let mp_id = mp.upload_id().unwrap().to_owned();
    s3.upload_part()
        .bucket(&b)
        .key("mp/x")
        .upload_id(&mp_id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let keep = s3.create_multipart_upload().bucket(&b).key("keep/y").send().await.unwrap();
    let keep_id = keep.upload_id().unwrap().to_owned();

    wait_for("markers and noncurrent version removed", Duration::from_secs(15), async || {
        let out = s3.list_object_versions().bucket(&b).send().await.unwrap();
        (out.versions().is_empty() && out.delete_markers().is_empty()).then_some(())
    })
    .await;
    wait_for("mp/x aborted", Duration::from_secs(15), async || {
        let out = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
        let ids: Vec<&str> = out.uploads().iter().filter_map(|u| u.upload_id()).collect();
        (ids == [keep_id.as_str()]).then_some(())
    })
    .await;
    let err = s3
        .upload_part()
        .bucket(&b)
        .key("mp/x")
        .upload_id(&mp_id)
        .part_number(2)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "NoSuchUpload", 404, None);
    let records = wait_for("the abort in the audit trail", Duration::from_secs(5), async || {
        let r = audit_records(&srv.data_dir);
        r.iter().any(|r| r["op"] == "LifecycleAbortMultipartUpload").then_some(r)
    })
    .await;
    let abort = records.iter().find(|r| r["op"] == "LifecycleAbortMultipartUpload").unwrap();
    assert_eq!((abort["key"].as_str(), abort["detail"]["upload_id"].as_str()), (Some("mp/x"), Some(mp_id.as_str())));
    let markers: Vec<_> = records
        .iter()
        .filter(|r| r["op"] == "LifecycleExpiration" && r["detail"]["action"] == "expired_delete_marker")
        .map(|r| r["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(markers.len(), 2, "{markers:?}");
}

#[tokio::test]
async fn d11_current_expiration_hides_a_protected_version_behind_a_marker() {
    let srv = server();
    let s3 = srv.client();
    let locked = lock_bucket(&s3, "lccur").await;
    let plain = plain_bucket(&s3, "lccurp").await;
    for b in [&locked, &plain] {
        set_rules(
            &s3,
            b,
            vec![rule("exp", "exp/").expiration(LifecycleExpiration::builder().days(1).build()).build().unwrap()],
        )
        .await;
    }
    let until = in_secs(120);
    let v = put_locked(&s3, &locked, "exp/a", ObjectLockMode::Compliance, &until).await;
    for k in ["exp/c", "other/d"] {
        s3.put_object().bucket(&plain).key(k).body(ByteStream::from_static(b"plain")).send().await.unwrap();
    }

    // Unversioned bucket: the current version is removed.
    wait_for("exp/c removed", Duration::from_secs(15), async || {
        s3.head_object().bucket(&plain).key("exp/c").send().await.is_err().then_some(())
    })
    .await;
    s3.head_object().bucket(&plain).key("other/d").send().await.unwrap();
    // Versioned lock bucket: a delete marker on top, the COMPLIANCE version kept.
    let ids = wait_for("a marker over exp/a", Duration::from_secs(15), async || {
        let ids = version_ids(&s3, &locked, "exp/a").await;
        (ids.len() == 2).then_some(ids)
    })
    .await;
    assert_eq!(ids[1], v);
    let out = s3.list_object_versions().bucket(&locked).send().await.unwrap();
    assert_eq!(out.delete_markers().len(), 1);
    assert_eq!(out.delete_markers()[0].version_id(), Some(ids[0].as_str()));
    assert_eq!(out.delete_markers()[0].is_latest(), Some(true));
    assert_eq!(get_retention(&s3, &locked, "exp/a", &v).await.unwrap().0, "COMPLIANCE");
    let body = s3.get_object().bucket(&locked).key("exp/a").version_id(&v).send().await.unwrap();
    assert_eq!(body.body.collect().await.unwrap().into_bytes().as_ref(), b"locked");
}
