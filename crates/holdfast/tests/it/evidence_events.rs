//! Event notifications: a webhook receiver started here gets AWS-format records
//! with the version's lock state; deliveries queued while it is down arrive once it is back,
//! also across a server restart; a notification configuration naming an unknown target is
//! refused as AWS refuses it. Lock-change event names are MinIO's (spec X1: AWS has none).

use crate::evidence_support::*;
use crate::object_lock_support::{assert_err, days, iso_millis, lock_bucket, plain_bucket, retention};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Event, FilterRule, FilterRuleName, NotificationConfiguration,
    NotificationConfigurationFilter, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode,
    ObjectLockRetentionMode, QueueConfiguration, S3KeyFilter, TopicConfiguration,
};
use holdfast_testkit::{Server, ServerOptions};
use serde_json::Value;
use std::time::Duration;

const ARN: &str = "arn:holdfast:sqs::hook:webhook";
const TOPIC_ARN: &str = "arn:holdfast:sns::hook:webhook";

fn config_toml(endpoint: &str) -> String {
    format!("[notify]\nretry_min_ms = 100\nretry_max_ms = 400\n[notify.webhook.hook]\nendpoint = \"{endpoint}\"\n")
}

fn server_for(receiver: &Receiver) -> Server {
    Server::start_with(BIN, ServerOptions { config_toml: config_toml(&receiver.endpoint()), ..Default::default() })
}

fn queue(id: &str, arn: &str, events: &[&str], prefix: Option<&str>) -> QueueConfiguration {
    let filter = prefix.map(|p| {
        NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(p).build())
                    .build(),
            )
            .build()
    });
    QueueConfiguration::builder()
        .id(id)
        .queue_arn(arn)
        .set_events(Some(events.iter().map(|e| Event::from(*e)).collect()))
        .set_filter(filter)
        .build()
        .unwrap()
}

async fn put_notification_configuration(s3: &Client, b: &str) {
    let config = NotificationConfiguration::builder()
        .queue_configurations(queue("all", ARN, &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], None))
        .build();
    s3.put_bucket_notification_configuration().bucket(b).notification_configuration(config).send().await.unwrap();
}

/// The records received, in sequencer order, as (eventName, key, versionId).
fn names(records: &[Value]) -> Vec<(String, String, String)> {
    records
        .iter()
        .map(|r| {
            (
                r["eventName"].as_str().unwrap().to_owned(),
                r["s3"]["object"]["key"].as_str().unwrap().to_owned(),
                r["s3"]["object"]["versionId"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn webhook_gets_aws_records_with_lock_state() {
    let receiver = Receiver::start();
    let srv = server_for(&receiver);
    let s3 = srv.client();
    let b = lock_bucket(&s3, "ev").await;
    // Created events only under "in/", removals everywhere; "out/" writes are not delivered.
    let config = NotificationConfiguration::builder()
        .queue_configurations(queue("created", ARN, &["s3:ObjectCreated:*"], Some("in/")))
        .topic_configurations(
            TopicConfiguration::builder()
                .id("removed")
                .topic_arn(TOPIC_ARN)
                .events(Event::from("s3:ObjectRemoved:*"))
                .build()
                .unwrap(),
        )
        .build();
    s3.put_bucket_notification_configuration().bucket(&b).notification_configuration(config).send().await.unwrap();
    let got = s3.get_bucket_notification_configuration().bucket(&b).send().await.unwrap();
    let q = &got.queue_configurations()[0];
    assert_eq!((q.id(), q.queue_arn(), q.events()), (Some("created"), ARN, &[Event::from("s3:ObjectCreated:*")][..]));
    let rule = &q.filter().unwrap().key().unwrap().filter_rules()[0];
    assert_eq!((rule.name().unwrap().as_str(), rule.value()), ("prefix", Some("in/")));
    assert_eq!(got.topic_configurations()[0].topic_arn(), TOPIC_ARN);

    s3.put_object().bucket(&b).key("out/ignored").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let until = days(3);
    let put = s3
        .put_object()
        .bucket(&b)
        .key("in/locked file.txt")
        .body(ByteStream::from_static(b"locked body"))
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let v_locked = put.version_id().unwrap().to_owned();
    let etag = put.e_tag().unwrap().trim_matches('"').to_owned();
    let v_plain = s3
        .put_object()
        .bucket(&b)
        .key("in/plain")
        .body(ByteStream::from_static(b"0123456789"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let copy = s3.copy_object().bucket(&b).key("in/copy").copy_source(format!("{b}/in/plain")).send().await.unwrap();
    let v_copy = copy.version_id().unwrap().to_owned();
    let up = s3.create_multipart_upload().bucket(&b).key("in/mpu").send().await.unwrap();
    let upload_id = up.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket(&b)
        .key("in/mpu")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from_static(b"part one"))
        .send()
        .await
        .unwrap();
    let done = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("in/mpu")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v_mpu = done.version_id().unwrap().to_owned();
    // Lock changes (MinIO's names): a longer COMPLIANCE retention, then the hold released.
    let longer = days(4);
    s3.put_object_retention()
        .bucket(&b)
        .key("in/locked file.txt")
        .version_id(&v_locked)
        .retention(retention(ObjectLockRetentionMode::Compliance, &longer))
        .send()
        .await
        .unwrap();
    s3.put_object_legal_hold()
        .bucket(&b)
        .key("in/locked file.txt")
        .version_id(&v_locked)
        .legal_hold(ObjectLockLegalHold::builder().status(ObjectLockLegalHoldStatus::Off).build())
        .send()
        .await
        .unwrap();
    // Removals: a delete marker, then a permanent delete of an unprotected version.
    let marker = s3.delete_object().bucket(&b).key("in/plain").send().await.unwrap();
    let v_marker = marker.version_id().unwrap().to_owned();
    s3.delete_object().bucket(&b).key("in/copy").version_id(&v_copy).send().await.unwrap();

    let expected = [
        ("ObjectCreated:Put", "in/locked+file.txt", v_locked.as_str()),
        ("ObjectCreated:Put", "in/plain", v_plain.as_str()),
        ("ObjectCreated:Copy", "in/copy", v_copy.as_str()),
        ("ObjectCreated:CompleteMultipartUpload", "in/mpu", v_mpu.as_str()),
        ("ObjectCreated:PutRetention", "in/locked+file.txt", v_locked.as_str()),
        ("ObjectCreated:PutLegalHold", "in/locked+file.txt", v_locked.as_str()),
        ("ObjectRemoved:DeleteMarkerCreated", "in/plain", v_marker.as_str()),
        ("ObjectRemoved:Delete", "in/copy", v_copy.as_str()),
    ];
    let records = wait_for("8 event records", Duration::from_secs(20), async || {
        let r = receiver.records();
        (r.len() >= expected.len()).then_some(r)
    })
    .await;
    let mut records = records;
    records.sort_by_key(|r| r["s3"]["object"]["sequencer"].as_str().unwrap().to_owned());
    let got: Vec<(String, String, String)> = names(&records);
    let want: Vec<(String, String, String)> =
        expected.iter().map(|(n, k, v)| ((*n).to_owned(), (*k).to_owned(), (*v).to_owned())).collect();
    assert_eq!(got, want, "every event once, in order, and none for out/ignored");

    // The AWS shape, with the lock state after the change.
    let first = &records[0];
    assert_eq!(first["eventVersion"], "2.1");
    assert_eq!(first["eventSource"], "aws:s3");
    assert_eq!(first["awsRegion"], "us-east-1");
    assert_eq!(first["s3"]["bucket"]["name"], b.as_str());
    assert_eq!(first["s3"]["bucket"]["arn"], format!("arn:aws:s3:::{b}"));
    assert_eq!(first["s3"]["configurationId"], "created");
    assert_eq!(first["s3"]["object"]["size"], 11);
    assert_eq!(first["s3"]["object"]["eTag"], etag.as_str());
    assert_eq!(
        first["s3"]["object"]["objectLock"],
        serde_json::json!({ "mode": "COMPLIANCE", "retainUntilDate": iso_millis(&until), "legalHoldStatus": "ON" })
    );
    assert!(records[1]["s3"]["object"].get("objectLock").is_none(), "no lock state on an unlocked version");
    assert_eq!(records[3]["s3"]["object"]["size"], 8);
    assert_eq!(records[4]["s3"]["object"]["objectLock"]["retainUntilDate"], iso_millis(&longer).as_str());
    assert_eq!(records[4]["s3"]["object"]["objectLock"]["legalHoldStatus"], "ON");
    assert_eq!(records[5]["s3"]["object"]["objectLock"]["legalHoldStatus"], "OFF");
    assert_eq!(records[5]["s3"]["object"]["objectLock"]["mode"], "COMPLIANCE");
    assert_eq!(records[6]["s3"]["configurationId"], "removed");
    assert!(records[7]["s3"]["object"].get("size").is_none(), "a removal has no size");
    let seqs: Vec<&str> = records.iter().map(|r| r["s3"]["object"]["sequencer"].as_str().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequencers increase: {seqs:?}");
}

#[tokio::test]
async fn unknown_target_arn_is_refused_at_put_time() {
    let receiver = Receiver::start();
    let srv = server_for(&receiver);
    let s3 = srv.client();
    let b = plain_bucket(&s3, "evarn").await;
    let config = NotificationConfiguration::builder()
        .queue_configurations(queue("ok", ARN, &["s3:ObjectCreated:*"], None))
        .queue_configurations(queue("bad", "arn:holdfast:sqs::nope:webhook", &["s3:ObjectCreated:*"], None))
        .build();
    let err = s3
        .put_bucket_notification_configuration()
        .bucket(&b)
        .notification_configuration(config)
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "InvalidArgument", 400, Some("Unable to validate the following destination configurations"));
    let body = String::from_utf8_lossy(err.raw_response().unwrap().body().bytes().unwrap()).into_owned();
    assert!(body.contains("<ArgumentName1>arn:holdfast:sqs::nope:webhook</ArgumentName1>"), "{body}");
    assert!(body.contains("<ArgumentValue1>The destination queue does not exist</ArgumentValue1>"), "{body}");
    // Nothing was stored: the bucket still has no configuration, and writes queue nothing.
    let got = s3.get_bucket_notification_configuration().bucket(&b).send().await.unwrap();
    assert!(got.queue_configurations().is_empty() && got.topic_configurations().is_empty());
    // A server without that target refuses the ARN that another server knows.
    let other = Server::start(BIN);
    let s3b = other.client();
    let b2 = plain_bucket(&s3b, "evarn2").await;
    let err = s3b
        .put_bucket_notification_configuration()
        .bucket(&b2)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue("x", ARN, &["s3:ObjectCreated:Put"], None))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "InvalidArgument", 400, Some("Unable to validate the following destination configurations"));
}

#[tokio::test]
async fn events_queued_while_the_receiver_is_down_arrive_after_it_returns_and_after_a_restart() {
    let mut receiver = Receiver::start();
    let mut srv = server_for(&receiver);
    let s3 = srv.client();
    let b = plain_bucket(&s3, "evdown").await;
    put_notification_configuration(&s3, &b).await;
    receiver.pause();
    for k in ["a", "b", "c"] {
        s3.put_object().bucket(&b).key(k).body(ByteStream::from_static(b"queued")).send().await.unwrap();
    }
    // Let the dispatcher fail a few times against the closed port.
    wait_for("failed deliveries", Duration::from_secs(20), async || {
        let m = metrics_text(&srv.addr).await;
        metric(&m, &format!("holdfast_events_failed_total{{target=\"{ARN}\"}}")).filter(|n| *n >= 2.0)
    })
    .await;
    assert!(receiver.records().is_empty());
    // SIGKILL: the queue must survive in the data dir.
    srv.kill();
    srv.start_again();
    let s3 = srv.client();
    s3.put_object().bucket(&b).key("d").body(ByteStream::from_static(b"after restart")).send().await.unwrap();
    receiver.resume();
    let records = wait_for("4 events after the receiver came back", Duration::from_secs(30), async || {
        let r = receiver.records();
        let mut keys: Vec<String> = r.iter().map(|r| r["s3"]["object"]["key"].as_str().unwrap().to_owned()).collect();
        keys.sort();
        keys.dedup();
        (keys.len() == 4).then_some(r)
    })
    .await;
    let mut keys: Vec<&str> = records.iter().map(|r| r["s3"]["object"]["key"].as_str().unwrap()).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys, ["a", "b", "c", "d"]);
    assert!(records.iter().all(|r| r["eventName"] == "ObjectCreated:Put"));
}
