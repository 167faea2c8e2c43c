//! The audit trail: one hash-chained line per state change or denial; lock changes
//! and denials are on disk before the answer; `holdfast admin audit verify` passes on an
//! intact trail and names the first broken line after an edit, a removal or a swap.

use crate::evidence_support::*;
use crate::object_lock_support::{LOCKED, assert_err, days, iso_millis, lock_bucket, retention};
use holdfast_testkit::Server;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    Delete, ObjectIdentifier, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetentionMode,
};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn find<'a>(records: &'a [Value], op: &str, key: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["op"] == op && r["key"] == key).collect()
}

#[tokio::test]
async fn writes_lock_changes_and_denied_deletes_are_recorded() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = lock_bucket(&s3, "aud").await;
    let until = days(2);
    let put = s3
        .put_object()
        .bucket(&b)
        .key("doc")
        .body(ByteStream::from_static(b"evidence"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .unwrap();
    let v = put.version_id().unwrap().to_owned();
    s3.get_object().bucket(&b).key("doc").send().await.unwrap();

    // GOVERNANCE to COMPLIANCE, later: a lock change that needs the bypass (root holds it).
    let longer = days(3);
    s3.put_object_retention()
        .bucket(&b)
        .key("doc")
        .version_id(&v)
        .bypass_governance_retention(true)
        .retention(retention(ObjectLockRetentionMode::Compliance, &longer))
        .send()
        .await
        .unwrap();
    // Durable before the answer: the line is in the file as soon as the response is back.
    let records = audit_records(&srv.data_dir);
    let change = find(&records, "PutObjectRetention", "doc");
    assert_eq!(change.len(), 1, "{records:#?}");
    let c = change[0];
    assert_eq!(c["status"], 200);
    assert_eq!(c["bucket"], b.as_str());
    assert_eq!(c["version_id"], v.as_str());
    assert_eq!(c["lock_before"], serde_json::json!({ "mode": "GOVERNANCE", "retain_until": iso_millis(&until) }));
    assert_eq!(c["lock_after"], serde_json::json!({ "mode": "COMPLIANCE", "retain_until": iso_millis(&longer) }));
    assert!(c["principal"].as_str().unwrap().ends_with(":root"), "{c}");
    assert!(c["source"].as_str().unwrap().starts_with("127.0.0.1:"), "{c}");
    assert_eq!(c["access_key"], holdfast_testkit::ROOT_AK);
    assert_eq!(c["bypass"], true);

    s3.put_object_legal_hold()
        .bucket(&b)
        .key("doc")
        .version_id(&v)
        .legal_hold(ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::On).build())
        .send()
        .await
        .unwrap();
    let records = audit_records(&srv.data_dir);
    let hold = find(&records, "PutObjectLegalHold", "doc");
    assert_eq!(hold.len(), 1);
    assert_eq!(hold[0]["lock_before"]["legal_hold"], Value::Null);
    assert_eq!(hold[0]["lock_after"]["legal_hold"], "ON");

    // D2: permanent delete of a protected version → 403, recorded before the answer.
    let err = s3.delete_object().bucket(&b).key("doc").version_id(&v).send().await.unwrap_err();
    assert_err(&err, "AccessDenied", 403, Some(LOCKED));
    let records = audit_records(&srv.data_dir);
    let denied = find(&records, "DeleteObject", "doc");
    assert_eq!(denied.len(), 1);
    assert_eq!((denied[0]["status"].as_u64(), denied[0]["code"].as_str()), (Some(403), Some("AccessDenied")));
    assert_eq!(denied[0]["version_id"], v.as_str());

    // R-rules: shortening COMPLIANCE is refused (403), with the state that was kept.
    let err = s3
        .put_object_retention()
        .bucket(&b)
        .key("doc")
        .version_id(&v)
        .bypass_governance_retention(true)
        .retention(retention(ObjectLockRetentionMode::Compliance, &days(1)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    let records = audit_records(&srv.data_dir);
    let refused = find(&records, "PutObjectRetention", "doc");
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[1]["status"], 403);
    assert_eq!(refused[1]["lock_before"]["mode"], "COMPLIANCE");
    assert_eq!(refused[1]["lock_before"]["retain_until"], iso_millis(&longer).as_str());
    assert!(refused[1].get("lock_after").is_none());

    // D8: DeleteObjects answers 200 with a refused entry; the refusal is in the record.
    let del = s3
        .delete_objects()
        .bucket(&b)
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("doc").version_id(&v).build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(del.errors().len(), 1);
    let records = audit_records(&srv.data_dir);
    let multi: Vec<&Value> = records.iter().filter(|r| r["op"] == "DeleteObjects").collect();
    assert_eq!(multi.len(), 1);
    assert_eq!(
        multi[0]["detail"]["refused"],
        serde_json::json!([{ "key": "doc", "versionId": v, "code": "AccessDenied" }])
    );

    // A caller without any permission: AccessDenied by policy, recorded with its name.
    let iam = srv.iam();
    iam.create_user().user_name("nobody").send().await.unwrap();
    let key = iam.create_access_key().user_name("nobody").send().await.unwrap().access_key.unwrap();
    let nobody = srv.client_as(key.access_key_id(), key.secret_access_key());
    let err = nobody.delete_object().bucket(&b).key("doc").send().await.unwrap_err();
    assert_err(&err, "AccessDenied", 403, None);
    let records = audit_records(&srv.data_dir);
    let by_user: Vec<&Value> =
        records.iter().filter(|r| r["op"] == "DeleteObject" && r["access_key"] == key.access_key_id()).collect();
    assert_eq!(by_user.len(), 1, "{records:#?}");
    assert!(by_user[0]["principal"].as_str().unwrap().ends_with(":user/nobody"), "{}", by_user[0]);
    assert_eq!(by_user[0]["code"], "AccessDenied");
    // The IAM calls that created the user are state changes too.
    assert!(records.iter().any(|r| r["op"] == "iam:CreateUser" && r["status"] == 200));
    assert!(records.iter().any(|r| r["op"] == "iam:CreateAccessKey"));

    // The write is recorded (within the trail's sync interval); reads are not.
    let records = wait_for("the PutObject record", Duration::from_secs(5), async || {
        let r = audit_records(&srv.data_dir);
        r.iter().any(|r| r["op"] == "PutObject").then_some(r)
    })
    .await;
    let w = find(&records, "PutObject", "doc");
    assert_eq!(w.len(), 1);
    assert_eq!((w[0]["status"].as_u64(), w[0]["version_id"].as_str()), (Some(200), Some(v.as_str())));
    assert!(records.iter().all(|r| r["op"] != "GetObject"));
    assert!(records.iter().any(|r| r["op"] == "CreateBucket" && r["bucket"] == b.as_str()));
    // Chain fields: seq counts from 1, each line names the previous hash.
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], i as u64 + 1);
        if i > 0 {
            assert_eq!(r["prev"], records[i - 1]["hash"]);
        }
    }
}

fn copy_trail(from: &Path, to: &Path, edit: impl FnOnce(&mut Vec<String>)) {
    let files = trail_files(from);
    assert_eq!(files.len(), 1, "one trail file");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    edit(&mut lines);
    std::fs::create_dir_all(to.join("audit")).unwrap();
    std::fs::write(to.join("audit").join(files[0].file_name().unwrap()), lines.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn verify_passes_on_an_intact_trail_and_names_the_first_broken_line() {
    let mut srv = Server::start(BIN);
    let s3 = srv.client();
    let b = lock_bucket(&s3, "audv").await;
    for i in 0..6 {
        s3.put_object().bucket(&b).key(format!("k{i}")).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    assert_eq!(srv.terminate().code(), Some(0));
    let data = srv.data_dir.clone();
    let n = audit_records(&data).len();
    assert_eq!(n, 7, "CreateBucket and six PutObject");
    let (ok, out, err) = holdfast(&["admin", "audit", "verify", "--data-dir", data.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("audit trail intact: {n} records")), "{out}");

    let tmp = tempfile::tempdir().unwrap();
    let check = |name: &str, edit: &dyn Fn(&mut Vec<String>)| {
        let dir = tmp.path().join(name);
        copy_trail(&data, &dir, edit);
        let (ok, out, err) = holdfast(&["admin", "audit", "verify", "--data-dir", dir.to_str().unwrap()]);
        assert!(!ok, "{name}: verify passed on a tampered trail: {out}");
        assert!(err.contains("audit-000001.jsonl line 4:"), "{name}: {err}");
        err
    };
    // One byte changed in line 4 (a digit of its timestamp).
    let err = check("edited", &|lines| {
        let l = &mut lines[3];
        let at = l.find("\"time\":\"").unwrap() + 8;
        let digit = l.as_bytes()[at];
        let other = if digit == b'1' { "2" } else { "1" };
        l.replace_range(at..=at, other);
    });
    assert!(err.contains("does not match its hash"), "{err}");
    // Line 4 removed: line 4 is now record 5, which does not follow record 3.
    let err = check("removed", &|lines| {
        lines.remove(3);
    });
    assert!(err.contains("expected record 4"), "{err}");
    // Lines 4 and 5 swapped.
    let err = check("swapped", &|lines| lines.swap(3, 4));
    assert!(err.contains("expected record 4"), "{err}");
    // The untouched copy still verifies (the checks above are about the edits).
    let dir = tmp.path().join("intact");
    copy_trail(&data, &dir, |_| {});
    assert!(holdfast(&["admin", "audit", "verify", "--data-dir", dir.to_str().unwrap()]).0);
}

#[tokio::test]
async fn a_compliance_clock_alarm_is_in_the_trail() {
    // The embedded store's clock mark is moved forward by hand; PostgreSQL keeps it elsewhere.
    if holdfast_testkit::meta_is_postgres() {
        return;
    }
    let mut srv = Server::start(BIN);
    let s3 = srv.client();
    let b = crate::object_lock_support::plain_bucket(&s3, "audclk").await;
    s3.put_bucket_versioning()
        .bucket(&b)
        .versioning_configuration(
            holdfast_testkit::aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(holdfast_testkit::aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v = crate::object_lock_support::put(&s3, &b, "k", b"x").await;
    assert_eq!(srv.terminate().code(), Some(0));
    // A delete judged one hour ahead persists that hour as the clock's high-water mark, as
    // if the system clock had run ahead and was then set back.
    let ahead = holdfast_lock::UtcMillis::now_system().plus_millis(3_600_000);
    {
        use holdfast_meta::MetaStore as _;
        let meta = holdfast_meta::sqlite::SqliteMeta::open(&srv.data_dir.join("meta.db")).unwrap();
        let sel = holdfast_meta::VersionSelector::Id(v);
        meta.delete(&b, "k", &sel, holdfast_lock::Bypass::None, ahead).await.unwrap();
        assert_eq!(meta.clock_high_water().await.unwrap(), ahead);
    }
    srv.start_again();
    let records = wait_for("the clock alarm", Duration::from_secs(5), async || {
        let r = audit_records(&srv.data_dir);
        r.iter().any(|r| r["op"] == "ClockBehindHighWater").then_some(r)
    })
    .await;
    let alarm: Vec<&Value> = records.iter().filter(|r| r["op"] == "ClockBehindHighWater").collect();
    assert_eq!(alarm.len(), 1, "{records:#?}");
    assert_eq!(alarm[0]["principal"], "holdfast:clock");
    assert_eq!(alarm[0]["detail"]["high_water"], ahead.to_iso8601());
    // Still one chain.
    let (ok, out, err) = holdfast(&["admin", "audit", "verify", "--data-dir", srv.data_dir.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
}
