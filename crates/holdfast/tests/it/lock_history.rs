//! A version's lock history and the refusal explanation (issue #16), read back through
//! `holdfast admin lock-history` (the engine's `lock_timeline` and `explain_delete`) beside the
//! running server: every lock change made over S3 (PUT with lock headers or the bucket's
//! default, PutObjectRetention extension and bypass shortening, legal hold on and off, by root
//! and by IAM users) is one entry naming its principal, operation and before/after, agreeing
//! with the hash-chained trail; refused changes leave none. Rule IDs: docs/spec/object-lock.md.

use crate::evidence_support::{BIN, audit_records, holdfast, wait_for};
use crate::object_lock_support::{
    LOCKED, assert_err, days, iso_millis, lock_bucket, put, put_locked, retention, set_default,
};
use holdfast_testkit::Server;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::error::SdkError;
use holdfast_testkit::aws_sdk_s3::primitives::DateTime;
use holdfast_testkit::aws_sdk_s3::types::{
    ObjectLockLegalHold, ObjectLockLegalHoldStatus as Hold, ObjectLockMode, ObjectLockRetentionMode as RMode,
};
use serde_json::{Value, json};
use std::time::Duration;

async fn user(srv: &Server, name: &str, bucket: &str, actions: &[&str]) -> Client {
    let iam = srv.iam();
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": actions, "Resource": [format!("arn:aws:s3:::{bucket}/*")],
    }]});
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy().user_name(name).policy_name("p").policy_document(policy.to_string()).send().await.unwrap();
    let key = iam.create_access_key().user_name(name).send().await.unwrap().access_key.unwrap();
    srv.client_as(key.access_key_id(), key.secret_access_key())
}

type HoldError = SdkError<holdfast_testkit::aws_sdk_s3::operation::put_object_legal_hold::PutObjectLegalHoldError>;

async fn hold(s3: &Client, b: &str, k: &str, v: &str, status: Hold) -> Result<(), HoldError> {
    let hold = ObjectLockLegalHold::builder().status(status).build();
    s3.put_object_legal_hold().bucket(b).key(k).version_id(v).legal_hold(hold).send().await.map(drop)
}

/// `holdfast admin lock-history --json` beside the running server.
fn history(srv: &Server, b: &str, k: &str, v: Option<&str>, extra: &[&str]) -> Value {
    let data = srv.data_dir.to_str().unwrap().to_owned();
    let config = srv.data_dir.with_extension("toml");
    let mut args = vec!["admin", "lock-history", "--data-dir", &data, "--config", config.to_str().unwrap(), "--json"];
    if let Some(v) = v {
        args.extend(["--version-id", v]);
    }
    args.extend(extra);
    args.extend([b, k]);
    let (ok, out, err) = holdfast(&args);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn gov(until: &DateTime) -> Value {
    json!({ "mode": "GOVERNANCE", "retain_until": iso_millis(until) })
}

/// The (principal, op, actions, bypass, before, after) of each change, without times and ids.
fn changes(h: &Value) -> Vec<Value> {
    h["timeline"].as_array().unwrap()[1..]
        .iter()
        .map(|e| json!([e["principal"], e["op"], e["actions"], e["bypass"], e["before"], e["after"]]))
        .collect()
}

#[tokio::test]
async fn each_lock_change_is_one_entry_with_its_actor_and_refusals_leave_none() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = lock_bucket(&s3, "hist").await;
    let (d10, d20, d15) = (days(10), days(20), days(15));
    // Root writes a GOVERNANCE version (W2) and extends it (R8, no bypass needed).
    let v = put_locked(&s3, &b, "k", ObjectLockMode::Governance, &d10).await;
    s3.put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v)
        .retention(retention(RMode::Governance, &d20))
        .send()
        .await
        .unwrap();
    // Refused, recording nothing: a user without s3:PutObjectLegalHold (P1, L8); a shortening
    // without bypass (R8); bypass without s3:BypassGovernanceRetention (R10).
    let clerk = user(&srv, "clerk", &b, &["s3:PutObjectRetention"]).await;
    assert_err(&hold(&clerk, &b, "k", &v, Hold::On).await.unwrap_err(), "AccessDenied", 403, Some("Access Denied"));
    let shorten = || clerk.put_object_retention().bucket(&b).key("k").version_id(&v);
    let e = shorten().retention(retention(RMode::Governance, &d15)).send().await.unwrap_err();
    assert_err(&e, "AccessDenied", 403, Some(LOCKED));
    let e = shorten().retention(retention(RMode::Governance, &d15)).bypass_governance_retention(true).send().await;
    assert_err(&e.unwrap_err(), "AccessDenied", 403, Some("Access Denied"));
    // An IAM user places the hold.
    let legal = user(&srv, "legal", &b, &["s3:PutObjectLegalHold"]).await;
    hold(&legal, &b, "k", &v, Hold::On).await.unwrap();

    let h = history(&srv, &b, "k", Some(&v), &[]);
    let root = h["timeline"][0]["principal"].as_str().unwrap().to_owned();
    let account = root.strip_prefix("arn:aws:iam::").and_then(|r| r.strip_suffix(":root")).unwrap();
    assert!(account.len() == 12 && account.bytes().all(|c| c.is_ascii_digit()), "{root}");
    let legal_arn = format!("arn:aws:iam::{account}:user/legal");
    let first = &h["timeline"][0];
    assert_eq!((&first["event"], &first["op"], &first["lock"]), (&json!("written"), &json!("PutObject"), &gov(&d10)));
    let held = json!({ "mode": "GOVERNANCE", "retain_until": iso_millis(&d20), "legal_hold": "ON" });
    assert_eq!(
        changes(&h),
        [
            json!([root, "PutObjectRetention", ["retention-extended"], false, gov(&d10), gov(&d20)]),
            json!([legal_arn, "PutObjectLegalHold", ["legal-hold-on"], false, gov(&d20), held]),
        ]
    );
    // "Why can't I delete this?" (D2, D4): the hold, placed by that user; no date frees it.
    let d = &h["delete"];
    assert_eq!(
        (&d["allowed"], &d["refusal"], &d["rules"]),
        (&json!(false), &json!("LegalHold"), &json!(["D2", "D4", "L4"]))
    );
    assert_eq!((&d["status"], &d["code"], &d["message"]), (&json!(403), &json!("AccessDenied"), &json!(LOCKED)));
    assert_eq!((&d["allowed_from"], &d["hold_placed_by"]), (&Value::Null, &json!(legal_arn)));
    assert_eq!(d["bypass_allows_now"], false);
    // The wire says the same.
    let e = s3.delete_object().bucket(&b).key("k").version_id(&v).bypass_governance_retention(true).send().await;
    assert_err(&e.unwrap_err(), "AccessDenied", 403, Some(LOCKED));

    // Root lifts the hold and shortens with bypass (R8 with bypass, D3).
    hold(&s3, &b, "k", &v, Hold::Off).await.unwrap();
    s3.put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v)
        .bypass_governance_retention(true)
        .retention(retention(RMode::Governance, &d15))
        .send()
        .await
        .unwrap();
    let h = history(&srv, &b, "k", None, &[]);
    let off = json!({ "mode": "GOVERNANCE", "retain_until": iso_millis(&d20), "legal_hold": "OFF" });
    let short = json!({ "mode": "GOVERNANCE", "retain_until": iso_millis(&d15), "legal_hold": "OFF" });
    assert_eq!(
        changes(&h)[2..],
        [
            json!([root, "PutObjectLegalHold", ["legal-hold-off"], false, held, off]),
            json!([root, "PutObjectRetention", ["retention-shortened"], true, off, short]),
        ]
    );
    let d = &h["delete"];
    assert_eq!(
        (&d["refusal"], &d["code"], &d["message"]),
        (&json!("GovernanceWithoutBypass"), &json!("AccessDenied"), &json!(LOCKED))
    );
    assert_eq!((&d["allowed_from"], &d["bypass_allows_now"]), (&json!(iso_millis(&d15)), &json!(true)));
    // Newest first, one a page.
    let newest = history(&srv, &b, "k", Some(&v), &["--newest-first", "--limit", "1"]);
    let events = newest["timeline"].as_array().unwrap();
    assert_eq!((events.len(), &events[0]["actions"]), (1, &json!(["retention-shortened"])));
    assert!(newest["next"].is_i64(), "{newest}");
    let all = history(&srv, &b, "k", Some(&v), &["--newest-first"]);
    let events = all["timeline"].as_array().unwrap();
    assert_eq!((events.len(), &events[4]["event"], &all["next"]), (5, &json!("written"), &Value::Null), "{all}");
    assert_eq!(events[0]["actions"], json!(["retention-shortened"]));

    // Each entry agrees with its record in the hash-chained trail (its outbox id is the rid).
    let entries: Vec<Value> = h["timeline"].as_array().unwrap()[1..].to_vec();
    let records = wait_for("the trail's records", Duration::from_secs(10), async || {
        let r = audit_records(&srv.data_dir);
        entries.iter().all(|e| r.iter().any(|x| x["rid"] == e["audit_id"])).then_some(r)
    })
    .await;
    for e in &entries {
        let r = records.iter().find(|x| x["rid"] == e["audit_id"]).unwrap();
        assert_eq!((&r["op"], &r["principal"], &r["version_id"]), (&e["op"], &e["principal"], &json!(v)));
        assert_eq!((&r["lock_before"], &r["lock_after"], &r["time"]), (&e["before"], &e["after"], &e["time"]));
    }
}

#[tokio::test]
async fn default_retention_and_compliance_explain_when_they_allow() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = lock_bucket(&s3, "histc").await;
    // W9: a plain PUT into a bucket with a default rule is written with it.
    set_default(&s3, &b, Some((RMode::Governance, Some(1), None))).await;
    let v = put(&s3, &b, "d", b"defaulted").await;
    let h = history(&srv, &b, "d", Some(&v), &[]);
    let events = h["timeline"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{h}");
    assert_eq!((&events[0]["event"], &events[0]["op"]), (&json!("written"), &json!("PutObject")));
    assert_eq!(events[0]["lock"]["mode"], "GOVERNANCE");
    assert_eq!(events[0]["lock"], h["lock"], "written with the default, unchanged since");

    // COMPLIANCE (D2, P5): nobody before the date, bypass or not.
    let d5 = days(5);
    let c = put_locked(&s3, &b, "c", ObjectLockMode::Compliance, &d5).await;
    let d = &history(&srv, &b, "c", Some(&c), &[])["delete"];
    assert_eq!((&d["refusal"], &d["rules"]), (&json!("Compliance"), &json!(["D2", "P5", "DP9"])));
    assert_eq!((&d["allowed_from"], &d["bypass_allows_now"]), (&json!(iso_millis(&d5)), &json!(false)));
    let e = s3.delete_object().bucket(&b).key("c").version_id(&c).bypass_governance_retention(true).send().await;
    assert_err(&e.unwrap_err(), "AccessDenied", 403, Some(LOCKED));

    // The text form names the rule and the date.
    let data = srv.data_dir.to_str().unwrap().to_owned();
    let config = srv.data_dir.with_extension("toml");
    let (ok, text, err) =
        holdfast(&["admin", "lock-history", "--data-dir", &data, "--config", config.to_str().unwrap(), &b, "c"]);
    assert!(ok, "{err}");
    assert!(text.contains(&format!("written with COMPLIANCE retention until {}", iso_millis(&d5))), "{text}");
    assert!(text.contains(&format!("refused, 403 AccessDenied \"{LOCKED}\"")), "{text}");
    assert!(text.contains("nobody, root included, can remove this version before then (D2, P5, DP9)"), "{text}");
    let (ok, _, err) =
        holdfast(&["admin", "lock-history", "--data-dir", &data, "--config", config.to_str().unwrap(), &b, "nokey"]);
    assert!(!ok && err.contains("no such key"), "{err}");
}
