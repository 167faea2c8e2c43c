//! The trail is part of the change: a record commits with its change in the
//! metadata transaction and the files follow. A full filesystem under the trail's files
//! costs no record and no answer; SIGKILL at random points under mixed load (PUT, DELETE,
//! retention, legal hold, lifecycle) leaves, after each restart, a trail that verifies and
//! holds exactly one record per acknowledged change and no record of a change that did not
//! commit.

use crate::evidence_support::*;
use crate::object_lock_support::{days, lock_bucket};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::operation::RequestId;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockRetention, ObjectLockRetentionMode,
};
use holdfast_testkit::{Server, ServerOptions, Tmpfs};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `holdfast admin audit verify` with the server's configuration: the chains, and the
/// metadata store against the trail (SQLite or PostgreSQL).
fn verify(data_dir: &Path) -> (bool, String) {
    let config = data_dir.with_extension("toml");
    let (ok, out, err) = holdfast(&[
        "admin",
        "audit",
        "verify",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    (ok, format!("{out}{err}"))
}

/// Records by the request id that caused them.
fn by_request(records: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in records {
        if let Some(id) = r["request_id"].as_str() {
            out.entry(id.to_owned()).or_default().push(r.clone());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_trail_filesystem_costs_no_record_and_no_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Room for a few dozen lines only: the trail's files fill up long before the load ends.
    let fs = Tmpfs::mount_at(&data.join("audit"), "64k");
    let srv = Server::start_in(BIN, &data, ServerOptions::default());
    let s3 = srv.client();
    let b = lock_bucket(&s3, "auditfull").await;
    let until = days(1);
    // Sequential changes: their commit order is their acknowledgment order.
    let mut acked: Vec<(String, &str, String)> = Vec::new();
    for i in 0..400 {
        let key = format!("k{}", i % 40);
        let put = s3
            .put_object()
            .bucket(&b)
            .key(&key)
            .body(ByteStream::from(format!("body {i}").into_bytes()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PUT {i} with the trail's disk full: {e:?}"));
        let v = put.version_id().unwrap().to_owned();
        acked.push((put.request_id().unwrap().to_owned(), "PutObject", v.clone()));
        if i % 3 == 0 {
            let r = s3
                .put_object_retention()
                .bucket(&b)
                .key(&key)
                .version_id(&v)
                .retention(
                    ObjectLockRetention::builder()
                        .mode(ObjectLockRetentionMode::Governance)
                        .retain_until_date(until)
                        .build(),
                )
                .send()
                .await
                .unwrap_or_else(|e| panic!("retention {i} with the trail's disk full: {e:?}"));
            acked.push((r.request_id().unwrap().to_owned(), "PutObjectRetention", v.clone()));
        } else if i % 5 == 1 {
            let d = s3.delete_object().bucket(&b).key(&key).version_id(&v).send().await.unwrap();
            acked.push((d.request_id().unwrap().to_owned(), "DeleteObject", v.clone()));
        }
        if i == 200 {
            // Mid-way, with the files full: verify reports no break (no torn line is left).
            let (ok, out) = verify(&data);
            assert!(ok, "verify while the trail's disk is full: {out}");
        }
    }
    let written = audit_records(&data).len();
    assert!(written < acked.len() / 2, "the trail's disk was meant to fill: {written} records in the files");
    let text = metrics_text(&srv.addr).await;
    assert!(metric(&text, "holdfast_audit_write_failures_total").unwrap_or(0.0) > 0.0, "{text}");

    // Space returns: the files catch up, in order, without a restart.
    fs.resize("32m");
    let records = wait_for("the trail to catch up", Duration::from_secs(30), async || {
        let r = audit_records(&data);
        let got = by_request(&r);
        acked.iter().all(|(id, _, _)| got.contains_key(id)).then_some(r)
    })
    .await;
    let got = by_request(&records);
    for (id, op, v) in &acked {
        let rs = &got[id];
        assert_eq!(rs.len(), 1, "one record for request {id}: {rs:#?}");
        assert_eq!((rs[0]["op"].as_str(), rs[0]["version_id"].as_str()), (Some(*op), Some(v.as_str())));
    }
    // In the order the changes were acknowledged.
    let order: Vec<&str> = records.iter().filter_map(|r| r["request_id"].as_str()).collect();
    let positions: Vec<usize> = acked.iter().map(|(id, _, _)| order.iter().position(|o| o == id).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "records out of acknowledgment order");
    let (ok, out) = verify(&data);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{} records", records.len())), "{out}");
    drop(srv);
}

/// What one worker saw acknowledged: request id → (op, version id, HTTP status).
type Acks = Arc<Mutex<BTreeMap<String, (String, String, u16)>>>;

async fn mixed_load(s3: Client, bucket: String, worker: usize, acks: Acks, until: Instant) {
    let retain = days(1);
    let mut mine: Vec<(String, String)> = Vec::new();
    let mut i = 0usize;
    while Instant::now() < until {
        i += 1;
        let key = format!("w{worker}/k{}", i % 7);
        let step = i % 6;
        let target = mine.get(i % mine.len().max(1)).cloned();
        let result: Result<(String, String, String, u16), bool> = match (step, target) {
            (0..=2, _) | (_, None) => s3
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(ByteStream::from(vec![worker as u8; 100 + i % 3000]))
                .send()
                .await
                .map(|o| {
                    let v = o.version_id().unwrap().to_owned();
                    mine.push((key.clone(), v.clone()));
                    (o.request_id().unwrap().to_owned(), "PutObject".to_owned(), v, 200)
                })
                .map_err(|e| e.raw_response().is_none()),
            (3, Some((k, v))) => s3
                .put_object_retention()
                .bucket(&bucket)
                .key(&k)
                .version_id(&v)
                .retention(
                    ObjectLockRetention::builder()
                        .mode(ObjectLockRetentionMode::Governance)
                        .retain_until_date(retain)
                        .build(),
                )
                .send()
                .await
                .map(|o| (o.request_id().unwrap().to_owned(), "PutObjectRetention".to_owned(), v.clone(), 200))
                .map_err(|e| e.raw_response().is_none()),
            (4, Some((k, v))) => {
                let status = if i % 12 == 4 { ObjectLockLegalHoldStatus::On } else { ObjectLockLegalHoldStatus::Off };
                s3.put_object_legal_hold()
                    .bucket(&bucket)
                    .key(&k)
                    .version_id(&v)
                    .legal_hold(ObjectLockLegalHold::builder().status(status).build())
                    .send()
                    .await
                    .map(|o| (o.request_id().unwrap().to_owned(), "PutObjectLegalHold".to_owned(), v.clone(), 200))
                    .map_err(|e| e.raw_response().is_none())
            }
            (_, Some((k, v))) => match s3.delete_object().bucket(&bucket).key(&k).version_id(&v).send().await {
                Ok(o) => Ok((o.request_id().unwrap().to_owned(), "DeleteObject".to_owned(), v.clone(), 204)),
                // Protected (retention or hold): a denial, recorded too.
                Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
                    Some(403) => {
                        let id = e.raw_response().unwrap().headers().get("x-amz-request-id").unwrap().to_owned();
                        Ok((id, "DeleteObject".to_owned(), v.clone(), 403))
                    }
                    _ => Err(e.raw_response().is_none()),
                },
            },
        };
        match result {
            Ok((id, op, v, status)) => {
                acks.lock().unwrap().insert(id, (op, v, status));
            }
            // The server was killed: nothing after this is acknowledged.
            Err(true) => return,
            // An answer that is not a change (the version expired meanwhile, say).
            Err(false) => {}
        }
    }
}

/// Checks the trail against the acknowledged changes and the store's visible state.
async fn check_trail(srv: &Server, bucket: &str, acks: &BTreeMap<String, (String, String, u16)>) -> usize {
    let data = &srv.data_dir;
    // Caught up: the outbox is empty (the gauge appears after the follower's first pass).
    wait_for("the trail to catch up after the restart", Duration::from_secs(30), async || {
        let text = metrics_text(&srv.addr).await;
        (metric(&text, "holdfast_audit_outbox_records") == Some(0.0)).then_some(())
    })
    .await;
    let records = audit_records(data);
    let got = by_request(&records);
    let missing: Vec<&String> = acks.keys().filter(|id| !got.contains_key(*id)).collect();
    assert!(missing.is_empty(), "acknowledged requests without a record: {missing:?}");
    for (id, (op, v, status)) in acks {
        let rs = &got[id];
        assert_eq!(rs.len(), 1, "exactly one record for acknowledged request {id}: {rs:#?}");
        let r = &rs[0];
        assert_eq!(
            (r["op"].as_str(), r["version_id"].as_str(), r["status"].as_u64()),
            (Some(op.as_str()), Some(v.as_str()), Some(u64::from(*status))),
            "{r}"
        );
    }
    // No record of a change that did not commit: every version a PutObject record names is
    // still there, or a removal of it is recorded.
    let s3 = srv.client();
    let mut listed = BTreeSet::new();
    let mut marker: (Option<String>, Option<String>) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .set_key_marker(marker.0.clone())
            .set_version_id_marker(marker.1.clone())
            .send()
            .await
            .unwrap();
        listed.extend(page.versions().iter().map(|v| v.version_id().unwrap().to_owned()));
        if !page.is_truncated().unwrap_or(false) {
            break;
        }
        marker = (page.next_key_marker().map(str::to_owned), page.next_version_id_marker().map(str::to_owned));
    }
    // The lifecycle keeps running: a version may be removed after the records above were
    // read. Its record commits with the removal, so it reaches the files shortly after.
    let written = |records: &[Value]| -> (BTreeSet<String>, BTreeSet<String>) {
        let mut put = BTreeSet::new();
        let mut removed = BTreeSet::new();
        for r in records {
            let Some(v) = r["version_id"].as_str() else { continue };
            if r["op"] == "PutObject" && r["status"] == 200 && r["bucket"] == bucket {
                put.insert(v.to_owned());
            }
            if (r["op"] == "DeleteObject" || r["op"] == "LifecycleExpiration") && r["status"] == 204 {
                removed.insert(v.to_owned());
            }
        }
        (put, removed)
    };
    let (put_before, _) = written(&records);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (put, removed) = written(&audit_records(data));
        let gone: Vec<&String> = put_before.iter().filter(|v| !listed.contains(*v) && !removed.contains(*v)).collect();
        // And no change without its record: every listed version was recorded as written.
        let unrecorded: Vec<&String> = listed.iter().filter(|v| !put.contains(*v)).collect();
        if gone.is_empty() && unrecorded.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "versions gone without a removal record: {gone:?}; present without a write record: {unrecorded:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let expirations: Vec<&str> =
        records.iter().filter(|r| r["op"] == "LifecycleExpiration").filter_map(|r| r["version_id"].as_str()).collect();
    let unique: BTreeSet<&&str> = expirations.iter().collect();
    assert_eq!(unique.len(), expirations.len(), "a version expired twice");
    let (ok, out) = verify(data);
    assert!(ok, "{out}");
    expirations.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_mixed_load_ten_times_leaves_a_complete_verifying_trail() {
    // Lifecycle every 300 ms with one-second "days": noncurrent versions expire during the load.
    let options = ServerOptions {
        config_toml: "[lifecycle]\ninterval_seconds = 0.3\nday_seconds = 1\n".into(),
        ..ServerOptions::default()
    };
    let mut srv = Server::start_with(BIN, options);
    let s3 = srv.client();
    let bucket = lock_bucket(&s3, "killaudit").await;
    let rule = LifecycleRule::builder()
        .id("noncurrent")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
    let acks: Acks = Arc::default();
    let mut expired = 0;
    for round in 0..10u64 {
        let s3 = srv.client();
        // A pseudo-random kill point between 0.3 and 1.5 s into the load.
        let run_for = Duration::from_millis(300 + (round * 7919 + 13) % 1200);
        let until = Instant::now() + Duration::from_secs(10);
        let workers: Vec<_> = (0..4)
            .map(|w| {
                tokio::spawn(mixed_load(s3.clone(), bucket.clone(), w + 4 * round as usize, Arc::clone(&acks), until))
            })
            .collect();
        tokio::time::sleep(run_for).await;
        srv.kill();
        for w in workers {
            w.await.unwrap();
        }
        srv.start_again();
        let snapshot = acks.lock().unwrap().clone();
        assert!(!snapshot.is_empty());
        expired = check_trail(&srv, &bucket, &snapshot).await;
    }
    let n = acks.lock().unwrap().len();
    eprintln!("{n} acknowledged changes and denials over 10 kills, {expired} lifecycle expirations, all recorded once");
    assert!(n > 200, "the load made too few changes to mean anything ({n})");
}
