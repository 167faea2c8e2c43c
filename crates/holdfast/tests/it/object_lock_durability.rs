//! Lock state survives a clean restart (SIGTERM) and a crash (SIGKILL): bucket lock
//! configuration, per-version retention and legal hold, and the refusals that follow from
//! them. Every change here was acknowledged before the process went away, so it must be
//! there afterwards (design.md: nothing is acknowledged before it is durable).

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::DateTime;
use holdfast_testkit::aws_sdk_s3::types::{
    BucketVersioningStatus, ObjectLockLegalHoldStatus as Hold, ObjectLockMode as M, ObjectLockRetentionMode as RM,
    VersioningConfiguration,
};
use holdfast_testkit::{Server, ServerOptions};

struct Fixture {
    b: String,
    comp: String,
    gov: String,
    held: String,
    released: String,
    marker: String,
    comp_until: DateTime,
    gov_until: DateTime,
}

async fn populate(s3: &Client) -> Fixture {
    let b = lock_bucket(s3, "durable").await;
    set_default(s3, &b, Some((RM::Governance, None, Some(1)))).await;
    let comp_until = days(2);
    let comp = put_locked(s3, &b, "comp", M::Compliance, &comp_until).await;
    let gov = put(s3, &b, "gov", b"default retention").await;
    let gov_until = get_retention(s3, &b, "gov", &gov).await.expect("default applied").1;
    let held = put_held(s3, &b, "held").await;
    let released = put_held(s3, &b, "released").await;
    set_hold(s3, &b, "released", Some(&released), Hold::Off).await;
    s3.put_object_retention()
        .bucket(&b)
        .key("released")
        .version_id(&released)
        .bypass_governance_retention(true)
        .retention(holdfast_testkit::aws_sdk_s3::types::ObjectLockRetention::builder().build())
        .send()
        .await
        .unwrap();
    let marker = s3.delete_object().bucket(&b).key("comp").send().await.unwrap().version_id().unwrap().to_owned();
    Fixture { b, comp, gov, held, released, marker, comp_until, gov_until }
}

/// Everything `populate` set up (plus `comp_until` as extended since) is still in force.
async fn verify(s3: &Client, f: &Fixture) {
    let b = &f.b;
    let cfg = s3.get_object_lock_configuration().bucket(b).send().await.unwrap();
    let rule = cfg.object_lock_configuration().unwrap().rule().unwrap().default_retention().unwrap();
    assert_eq!((rule.mode(), rule.days(), rule.years()), (Some(&RM::Governance), None, Some(1)));
    let v = s3.get_bucket_versioning().bucket(b).send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));
    let err = s3
        .put_bucket_versioning()
        .bucket(b)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Suspended).build())
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "InvalidBucketState", 409, None);
    assert_eq!(get_retention(s3, b, "comp", &f.comp).await, Some(("COMPLIANCE".into(), f.comp_until)));
    assert_eq!(get_retention(s3, b, "gov", &f.gov).await, Some(("GOVERNANCE".into(), f.gov_until)));
    let h = s3.head_object().bucket(b).key("held").version_id(&f.held).send().await.unwrap();
    assert_eq!(h.object_lock_legal_hold_status(), Some(&Hold::On));
    let h = s3.head_object().bucket(b).key("released").version_id(&f.released).send().await.unwrap();
    assert_eq!((h.object_lock_legal_hold_status(), h.object_lock_mode()), (Some(&Hold::Off), None));
    assert_eq!(version_ids(s3, b, "comp").await, vec![f.marker.clone(), f.comp.clone()]);
    // The refusals still hold.
    for (k, v) in [("comp", &f.comp), ("gov", &f.gov), ("held", &f.held)] {
        let err = s3.delete_object().bucket(b).key(k).version_id(v).send().await.unwrap_err();
        assert_locked(&err);
    }
    let err =
        s3.delete_object().bucket(b).key("comp").version_id(&f.comp).bypass_governance_retention(true).send().await;
    assert_locked(&err.unwrap_err());
    let err = s3
        .put_object_retention()
        .bucket(b)
        .key("comp")
        .version_id(&f.comp)
        .bypass_governance_retention(true)
        .retention(retention(RM::Governance, &days(30)))
        .send()
        .await
        .unwrap_err();
    assert_locked(&err);
}

#[tokio::test]
async fn lock_state_survives_clean_restart_and_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_holdfast");
    let mut srv = Server::start_in(bin, &dir.path().join("data"), ServerOptions::default());
    let mut f = populate(&srv.client()).await;
    verify(&srv.client(), &f).await;

    // Clean restart: SIGTERM, wait for exit, start again on the same data.
    let status = srv.terminate();
    assert!(status.success(), "clean shutdown: {status:?}");
    srv.restart();
    verify(&srv.client(), &f).await;

    // Crash: an extension acknowledged just before SIGKILL must survive it.
    let s3 = srv.client();
    f.comp_until = days(3);
    s3.put_object_retention()
        .bucket(&f.b)
        .key("comp")
        .version_id(&f.comp)
        .retention(retention(RM::Compliance, &f.comp_until))
        .send()
        .await
        .unwrap();
    srv.kill();
    srv.restart();
    verify(&srv.client(), &f).await;

    // And once more without any request in between.
    srv.kill();
    srv.restart();
    verify(&srv.client(), &f).await;
}
