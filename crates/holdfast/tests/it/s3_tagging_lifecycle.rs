//! Lifecycle rules filtered by object tags on short days (`[lifecycle] day_seconds`
//! and `interval_seconds` are test settings): `Filter/Tag` and `Filter/And` (prefix + tags)
//! expire only versions carrying every tag of the filter, judged by the version's tags at the
//! time of the pass, and never a protected version before its protection ends (D11).

use crate::evidence_support::*;
use crate::object_lock_support::{assert_err, in_secs, lock_bucket, plain_bucket, put, sleep_past, version_ids};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectLockMode, Tag, Tagging,
};
use holdfast_testkit::{Server, ServerOptions};
use std::time::Duration;

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

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

fn config(rules: Vec<LifecycleRule>) -> BucketLifecycleConfiguration {
    BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build().unwrap()
}

async fn put_tagged(s3: &Client, b: &str, k: &str, tagging: &str) -> String {
    let out = s3
        .put_object()
        .bucket(b)
        .key(k)
        .tagging(tagging)
        .body(ByteStream::from_static(b"tagged"))
        .send()
        .await
        .unwrap();
    out.version_id().unwrap_or("null").to_owned()
}

#[tokio::test]
async fn tag_filter_expires_only_tagged_unprotected_noncurrent_versions() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "lctag").await;
    let rule = LifecycleRule::builder()
        .id("by-tag")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().tag(tag("expire", "yes")).build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(&b)
        .lifecycle_configuration(config(vec![rule]))
        .send()
        .await
        .unwrap();
    let got = s3.get_bucket_lifecycle_configuration().bucket(&b).send().await.unwrap();
    let f = got.rules()[0].filter().unwrap();
    assert_eq!((f.tag().map(|t| t.key()), f.tag().map(|t| t.value())), (Some("expire"), Some("yes")));

    let until = in_secs(8);
    // a: tagged; b: untagged; c: tagged but COMPLIANCE; d: the wrong value; e: tagged later.
    let a1 = put_tagged(&s3, &b, "a", "expire=yes&other=1").await;
    let b1 = put(&s3, &b, "b", b"plain").await;
    let c1 = s3
        .put_object()
        .bucket(&b)
        .key("c")
        .tagging("expire=yes")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .body(ByteStream::from_static(b"locked"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let d1 = put_tagged(&s3, &b, "d", "expire=no").await;
    let e1 = put(&s3, &b, "e", b"plain").await;
    let mut current = Vec::new();
    for k in ["a", "b", "c", "d", "e"] {
        current.push(put(&s3, &b, k, b"current").await);
    }
    // Tags set on a noncurrent version count from the next pass on; so does a retagged lock.
    s3.put_object_tagging()
        .bucket(&b)
        .key("e")
        .version_id(&e1)
        .tagging(Tagging::builder().tag_set(tag("expire", "yes")).build().unwrap())
        .send()
        .await
        .unwrap();

    wait_for("a and e v1 expired", Duration::from_secs(15), async || {
        let a = version_ids(&s3, &b, "a").await;
        let e = version_ids(&s3, &b, "e").await;
        (a == [current[0].clone()] && e == [current[4].clone()]).then_some(())
    })
    .await;
    let skipped = format!("holdfast_lifecycle_skipped_protected_total{{bucket=\"{b}\"}}");
    wait_for("the locked tagged version skipped", Duration::from_secs(15), async || {
        metric(&metrics_text(&srv.addr).await, &skipped).filter(|n| *n >= 1.0)
    })
    .await;
    // Several more passes: the untagged, wrongly tagged and protected versions stay.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!(now_ms < until.to_millis().unwrap(), "the test ran too slowly to see c protected");
    assert_eq!(version_ids(&s3, &b, "b").await, [current[1].clone(), b1]);
    assert_eq!(version_ids(&s3, &b, "c").await, [current[2].clone(), c1.clone()]);
    assert_eq!(version_ids(&s3, &b, "d").await, [current[3].clone(), d1]);
    let records = audit_records(&srv.data_dir);
    let expired: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r["op"] == "LifecycleExpiration")
        .map(|r| (r["key"].as_str().unwrap(), r["version_id"].as_str().unwrap()))
        .collect();
    assert_eq!(expired, [("a", a1.as_str()), ("e", e1.as_str())]);

    // Once its retention has ended, the locked tagged version goes too; nothing else does.
    sleep_past(&until, Duration::from_secs(15)).await;
    wait_for("c v1 expired after retention", Duration::from_secs(15), async || {
        (version_ids(&s3, &b, "c").await == [current[2].clone()]).then_some(())
    })
    .await;
    assert_eq!(version_ids(&s3, &b, "b").await.len(), 2);
    assert_eq!(version_ids(&s3, &b, "d").await.len(), 2);
}

#[tokio::test]
async fn and_filter_needs_prefix_and_every_tag() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "lcand").await;
    let and = LifecycleRuleAndOperator::builder().prefix("logs/").tags(tag("t", "1")).tags(tag("u", "")).build();
    let rule = LifecycleRule::builder()
        .id("and")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().and(and).build())
        .expiration(LifecycleExpiration::builder().days(1).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(&b)
        .lifecycle_configuration(config(vec![rule]))
        .send()
        .await
        .unwrap();
    let got = s3.get_bucket_lifecycle_configuration().bucket(&b).send().await.unwrap();
    let and = got.rules()[0].filter().unwrap().and().unwrap();
    assert_eq!(and.prefix(), Some("logs/"));
    let tags: Vec<(&str, &str)> = and.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("t", "1"), ("u", "")]);

    put_tagged(&s3, &b, "logs/a", "t=1&u&extra=x").await; // every tag (and one more): expires
    put_tagged(&s3, &b, "logs/b", "t=1").await; // u missing: stays
    put_tagged(&s3, &b, "logs/c", "t=1&u=x").await; // u must be empty: stays
    put_tagged(&s3, &b, "other/d", "t=1&u").await; // outside the prefix: stays
    let exists = async |k: &str| s3.head_object().bucket(&b).key(k).send().await.is_ok();
    wait_for("logs/a expired", Duration::from_secs(15), async || (!exists("logs/a").await).then_some(())).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for k in ["logs/b", "logs/c", "other/d"] {
        assert!(exists(k).await, "{k} must stay");
    }
}

#[tokio::test]
async fn tag_filters_refused_where_aws_refuses_them() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "lcbad").await;
    let put_rule = async |rule: LifecycleRule| {
        s3.put_bucket_lifecycle_configuration().bucket(&b).lifecycle_configuration(config(vec![rule])).send().await
    };
    let by_tag = || {
        LifecycleRule::builder()
            .id("r")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().tag(tag("k", "v")).build())
    };
    // Delete markers and uploads carry no tags.
    let e = put_rule(
        by_tag().expiration(LifecycleExpiration::builder().expired_object_delete_marker(true).build()).build().unwrap(),
    )
    .await
    .unwrap_err();
    assert_err(&e, "InvalidArgument", 400, None);
    let e = put_rule(
        by_tag()
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder().days_after_initiation(1).build(),
            )
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert_err(&e, "InvalidRequest", 400, Some("AbortIncompleteMultipartUpload cannot be specified with Tags."));
    // One key once.
    let and = LifecycleRuleAndOperator::builder().tags(tag("k", "1")).tags(tag("k", "2")).build();
    let e = put_rule(
        LifecycleRule::builder()
            .id("dup")
            .status(ExpirationStatus::Enabled)
            .filter(LifecycleRuleFilter::builder().and(and).build())
            .expiration(LifecycleExpiration::builder().days(1).build())
            .build()
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert_err(&e, "InvalidRequest", 400, Some("Duplicate Tag Keys are not allowed."));
    let e = s3.get_bucket_lifecycle_configuration().bucket(&b).send().await.unwrap_err();
    assert_err(&e, "NoSuchLifecycleConfiguration", 404, None);
}

/// Size filters: `ObjectSizeGreaterThan` / `ObjectSizeLessThan` (bytes, both exclusive, as AWS)
/// in `Filter/And`, with a prefix: only noncurrent versions strictly between the bounds under
/// the prefix expire.
#[tokio::test]
async fn size_filter_expires_only_versions_strictly_within_the_bounds() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "lcsize").await;
    let rule = LifecycleRule::builder()
        .id("by-size")
        .status(ExpirationStatus::Enabled)
        .filter(
            LifecycleRuleFilter::builder()
                .and(
                    LifecycleRuleAndOperator::builder()
                        .prefix("logs/")
                        .object_size_greater_than(10)
                        .object_size_less_than(100)
                        .build(),
                )
                .build(),
        )
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket(&b)
        .lifecycle_configuration(config(vec![rule]))
        .send()
        .await
        .unwrap();
    let got = s3.get_bucket_lifecycle_configuration().bucket(&b).send().await.unwrap();
    let and = got.rules()[0].filter().unwrap().and().unwrap();
    assert_eq!(
        (and.prefix(), and.object_size_greater_than(), and.object_size_less_than()),
        (Some("logs/"), Some(10), Some(100))
    );
    // Noncurrent sizes: 10 (at the lower bound), 50 (inside), 100 (at the upper bound), and 50
    // outside the prefix.
    let keys = [("logs/at-10", 10usize), ("logs/inside", 50), ("logs/at-100", 100), ("other/inside", 50)];
    let mut first = Vec::new();
    let mut current = Vec::new();
    for (k, size) in keys {
        first.push(put(&s3, &b, k, &vec![b'x'; size]).await);
        current.push(put(&s3, &b, k, b"now").await);
    }
    wait_for("the 50-byte noncurrent version under logs/ expired", Duration::from_secs(15), async || {
        (version_ids(&s3, &b, "logs/inside").await == [current[1].clone()]).then_some(())
    })
    .await;
    // Several more passes: the others stay.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in [0, 2, 3] {
        assert_eq!(version_ids(&s3, &b, keys[i].0).await, [current[i].clone(), first[i].clone()], "{}", keys[i].0);
    }
}
