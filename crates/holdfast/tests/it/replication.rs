//! Bucket replication to a bucket of the same server (issue #13; spec X2): the configuration
//! API and its refusals (nothing stored), locked versions copied with their bytes and lock
//! state under the source's version id and last-modified, lock changes and delete markers
//! following, version deletes not, FAILED and `holdfast admin replicate`, and a SIGKILL of
//! the source mid-replication.

use crate::evidence_support::{BIN, holdfast, metric, metrics_text, wait_for};
use crate::object_lock_support::{
    LOCKED, MALFORMED, assert_err, assert_locked, in_secs, lock_bucket, plain_bucket, put, put_held, put_locked,
    raw_md5, retention, set_hold, set_versioning,
};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::{ByteStream, DateTime};
use holdfast_testkit::aws_sdk_s3::types::{
    BucketVersioningStatus, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetentionMode, ReplicationConfiguration, ReplicationRule,
    ReplicationRuleFilter, ReplicationRuleStatus, ReplicationStatus, Tag, Tagging,
};
use holdfast_testkit::{Server, ServerOptions};
use std::time::Duration;

fn server() -> Server {
    Server::start_with(
        BIN,
        ServerOptions {
            config_toml: "[replication]\nretry_min_ms = 100\nretry_max_ms = 500\npoll_ms = 50\nlease_ms = 1000\n\
                          [replication.target.dr]\nendpoint = \"http://127.0.0.1:9\"\naccess_key = \"k\"\nsecret_key = \"s\"\n"
                .into(),
            ..Default::default()
        },
    )
}

pub(crate) fn rule(id: &str, priority: i32, prefix: &str, dest: &str, markers: bool) -> ReplicationRule {
    let status = if markers { DeleteMarkerReplicationStatus::Enabled } else { DeleteMarkerReplicationStatus::Disabled };
    ReplicationRule::builder()
        .id(id)
        .priority(priority)
        .status(ReplicationRuleStatus::Enabled)
        .filter(ReplicationRuleFilter::builder().prefix(prefix).build())
        .delete_marker_replication(DeleteMarkerReplication::builder().status(status).build())
        .destination(Destination::builder().bucket(dest).build().unwrap())
        .build()
        .unwrap()
}

pub(crate) fn config(rules: Vec<ReplicationRule>) -> ReplicationConfiguration {
    ReplicationConfiguration::builder()
        .role("arn:aws:iam::123456789012:role/replication")
        .set_rules(Some(rules))
        .build()
        .unwrap()
}

async fn replicate_to(s3: &Client, src: &str, dest: &str, markers: bool) {
    s3.put_bucket_replication()
        .bucket(src)
        .replication_configuration(config(vec![rule("all", 1, "", &format!("arn:aws:s3:::{dest}"), markers)]))
        .send()
        .await
        .unwrap();
}

pub(crate) async fn status(s3: &Client, b: &str, k: &str, v: &str) -> Option<ReplicationStatus> {
    s3.head_object().bucket(b).key(k).version_id(v).send().await.ok()?.replication_status().cloned()
}

pub(crate) async fn wait_status(s3: &Client, b: &str, k: &str, v: &str, want: ReplicationStatus) {
    wait_for(&format!("{k} {v} {want:?}"), Duration::from_secs(30), async || {
        (status(s3, b, k, v).await.as_ref() == Some(&want)).then_some(())
    })
    .await;
}

/// A pair of lock-enabled buckets, the first replicating everything to the second.
async fn locked_pair(s3: &Client, markers: bool) -> (String, String) {
    let src = lock_bucket(s3, "rsrc").await;
    let dst = lock_bucket(s3, "rdst").await;
    replicate_to(s3, &src, &dst, markers).await;
    (src, dst)
}

#[tokio::test]
async fn x2_configuration_round_trip_and_refusals_store_nothing() {
    let srv = server();
    let s3 = srv.client();
    let src = lock_bucket(&s3, "rcfg").await;
    let dst = lock_bucket(&s3, "rcfgd").await;
    let e = s3.get_bucket_replication().bucket(&src).send().await.unwrap_err();
    assert_err(&e, "ReplicationConfigurationNotFoundError", 404, Some("The replication configuration was not found"));

    let mut tagged = rule("tagged", 2, "", &format!("arn:aws:s3:::{dst}"), false);
    tagged.filter =
        Some(ReplicationRuleFilter::builder().tag(Tag::builder().key("class").value("gold").build().unwrap()).build());
    let stored = config(vec![rule("docs", 1, "docs/", &format!("arn:aws:s3:::{dst}"), true), tagged]);
    s3.put_bucket_replication().bucket(&src).replication_configuration(stored.clone()).send().await.unwrap();
    let got = s3.get_bucket_replication().bucket(&src).send().await.unwrap();
    let got = got.replication_configuration().unwrap();
    assert_eq!(got.role(), "arn:aws:iam::123456789012:role/replication");
    assert_eq!(got.rules(), stored.rules());

    // Every refusal leaves the stored configuration as it was.
    let refuse = async |rules: Vec<ReplicationRule>, code: &str, message: Option<&str>| {
        let e = s3.put_bucket_replication().bucket(&src).replication_configuration(config(rules)).send().await;
        let e = e.unwrap_err();
        assert_err(&e, code, 400, message);
        let after = s3.get_bucket_replication().bucket(&src).send().await.unwrap();
        assert_eq!(after.replication_configuration().unwrap().rules(), stored.rules());
    };
    refuse(vec![rule("r", 1, "", "arn:holdfast:s3:nowhere::b", false)], "InvalidArgument", None).await;
    refuse(vec![rule("r", 1, "", "not-an-arn", false)], "InvalidArgument", Some("Invalid bucket ARN")).await;
    refuse(
        vec![rule("r", 1, "", "arn:aws:s3:::no-such-bucket-x", false)],
        "InvalidRequest",
        Some("Destination bucket must exist."),
    )
    .await;
    let unversioned = plain_bucket(&s3, "rplain").await;
    refuse(
        vec![rule("r", 1, "", &format!("arn:aws:s3:::{unversioned}"), false)],
        "InvalidRequest",
        Some("Destination bucket must have versioning enabled."),
    )
    .await;
    set_versioning(&s3, &unversioned, BucketVersioningStatus::Enabled).await;
    refuse(
        vec![rule("r", 1, "", &format!("arn:aws:s3:::{unversioned}"), false)],
        "InvalidRequest",
        Some("Destination bucket must have Object Lock enabled when the source bucket has Object Lock enabled."),
    )
    .await;
    refuse(
        vec![
            rule("a", 1, "", &format!("arn:aws:s3:::{dst}"), false),
            rule("b", 1, "x", &format!("arn:aws:s3:::{dst}"), false),
        ],
        "InvalidRequest",
        Some("Found duplicate priority 1."),
    )
    .await;
    // A known remote target that cannot be asked about its bucket (nothing listens there).
    refuse(vec![rule("r", 1, "", "arn:holdfast:s3:dr::b", false)], "InvalidRequest", None).await;

    // Strict XML (S1): a misspelled element is MalformedXML.
    let body = format!(
        "<ReplicationConfiguration><Role>r</Role><Rule><ID>x</ID><Priority>1</Priority><Status>Enabled</Status>\
         <Filter><prefix>a</prefix></Filter><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>\
         <Destination><Bucket>arn:aws:s3:::{dst}</Bucket></Destination></Rule></ReplicationConfiguration>"
    );
    let r = raw_md5(&srv, "PUT", &format!("/{src}?replication"), &[], body.as_bytes()).await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("MalformedXML")), "{}", r.text());
    assert_eq!(r.xml("Message").as_deref(), Some(MALFORMED));
    let after = s3.get_bucket_replication().bucket(&src).send().await.unwrap();
    assert_eq!(after.replication_configuration().unwrap().rules(), stored.rules());

    // The source must be versioned.
    let plain = plain_bucket(&s3, "rsrcplain").await;
    let e =
        refused_replication(&s3, &plain, config(vec![rule("r", 1, "", &format!("arn:aws:s3:::{dst}"), false)])).await;
    assert_err(
        &e,
        "InvalidRequest",
        400,
        Some("Versioning must be 'Enabled' on the bucket to apply a replication configuration"),
    );

    s3.delete_bucket_replication().bucket(&src).send().await.unwrap();
    let e = s3.get_bucket_replication().bucket(&src).send().await.unwrap_err();
    assert_err(&e, "ReplicationConfigurationNotFoundError", 404, None);
}

#[tokio::test]
async fn x2_locked_versions_replicate_with_bytes_and_lock_state() {
    let srv = server();
    let s3 = srv.client();
    let (src, dst) = locked_pair(&s3, false).await;
    let until = in_secs(3600);
    let gov = put_locked(&s3, &src, "gov", ObjectLockMode::Governance, &until).await;
    let comp = put_locked(&s3, &src, "comp", ObjectLockMode::Compliance, &until).await;
    let held = put_held(&s3, &src, "held").await;
    // A blob-stored object with headers, metadata and tags.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let plain = s3
        .put_object()
        .bucket(&src)
        .key("big")
        .body(ByteStream::from(big.clone()))
        .content_type("application/x-test")
        .metadata("owner", "ops")
        .tagging("class=gold")
        .checksum_algorithm(holdfast_testkit::aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let big_v = plain.version_id().unwrap().to_owned();
    for (k, v) in [("gov", &gov), ("comp", &comp), ("held", &held), ("big", &big_v)] {
        wait_status(&s3, &src, k, v, ReplicationStatus::Completed).await;
        let a =
            s3.head_object().bucket(&src).key(k).version_id(v).checksum_mode("ENABLED".into()).send().await.unwrap();
        let b =
            s3.head_object().bucket(&dst).key(k).version_id(v).checksum_mode("ENABLED".into()).send().await.unwrap();
        assert_eq!(b.replication_status(), Some(&ReplicationStatus::Replica), "{k}");
        assert_eq!(a.e_tag(), b.e_tag(), "{k}");
        assert_eq!(a.last_modified(), b.last_modified(), "{k}");
        assert_eq!(a.content_length(), b.content_length(), "{k}");
        assert_eq!(a.content_type(), b.content_type(), "{k}");
        assert_eq!(a.metadata(), b.metadata(), "{k}");
        assert_eq!(a.checksum_sha256(), b.checksum_sha256(), "{k}");
        assert_eq!(a.checksum_crc64_nvme(), b.checksum_crc64_nvme(), "{k}");
        assert_eq!(a.object_lock_mode(), b.object_lock_mode(), "{k}");
        assert_eq!(a.object_lock_retain_until_date(), b.object_lock_retain_until_date(), "{k}");
        assert_eq!(a.object_lock_legal_hold_status(), b.object_lock_legal_hold_status(), "{k}");
        let body = s3.get_object().bucket(&dst).key(k).version_id(v).send().await.unwrap();
        let src_body = s3.get_object().bucket(&src).key(k).version_id(v).send().await.unwrap();
        assert_eq!(
            body.body.collect().await.unwrap().into_bytes(),
            src_body.body.collect().await.unwrap().into_bytes()
        );
    }
    let tags = s3.get_object_tagging().bucket(&dst).key("big").version_id(&big_v).send().await.unwrap();
    assert_eq!(tags.tag_set(), [Tag::builder().key("class").value("gold").build().unwrap()]);
    // The replica refuses deletion exactly as the source does.
    for (k, v) in [("gov", &gov), ("comp", &comp), ("held", &held)] {
        for b in [&src, &dst] {
            let e = s3.delete_object().bucket(b).key(k).version_id(v).send().await.unwrap_err();
            assert_locked(&e);
            assert_err(&e, "AccessDenied", 403, Some(LOCKED));
        }
    }
    // Completed: the queue is empty and the counter says so.
    let text = metrics_text(&srv.addr).await;
    assert!(text.contains("holdfast_replication_completed_total"), "{text}");
}

#[tokio::test]
async fn x2_lock_changes_and_markers_follow_version_deletes_do_not() {
    let srv = server();
    let s3 = srv.client();
    let (src, dst) = locked_pair(&s3, true).await;
    let until = in_secs(600);
    let v = put_locked(&s3, &src, "doc", ObjectLockMode::Governance, &until).await;
    wait_status(&s3, &src, "doc", &v, ReplicationStatus::Completed).await;
    // Retention extended, hold placed: both reach the replica.
    let later = extend_and_hold_until_replicated((&s3, &src), (&s3, &dst), "doc", &v).await;
    // The hold lifted reaches it too.
    set_hold(&s3, &src, "doc", Some(&v), ObjectLockLegalHoldStatus::Off).await;
    wait_for("the lifted hold on the replica", Duration::from_secs(30), async || {
        let h = s3.head_object().bucket(&dst).key("doc").version_id(&v).send().await.unwrap();
        (h.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::Off)).then_some(())
    })
    .await;
    // A shortening with bypass on the source does not weaken the replica.
    s3.put_object_retention()
        .bucket(&src)
        .key("doc")
        .version_id(&v)
        .bypass_governance_retention(true)
        .retention(retention(ObjectLockRetentionMode::Governance, &until))
        .send()
        .await
        .unwrap();
    wait_status(&s3, &src, "doc", &v, ReplicationStatus::Completed).await;
    let h = s3.head_object().bucket(&dst).key("doc").version_id(&v).send().await.unwrap();
    assert_eq!(h.object_lock_retain_until_date(), Some(&later));

    // A delete of a specific version is not replicated; a delete marker is.
    let free = put(&s3, &src, "free", b"unlocked").await;
    wait_status(&s3, &src, "free", &free, ReplicationStatus::Completed).await;
    s3.delete_object().bucket(&src).key("free").version_id(&free).send().await.unwrap();
    let marker = s3.delete_object().bucket(&src).key("doc").send().await.unwrap();
    let marker = marker.version_id().unwrap().to_owned();
    wait_for("the delete marker on the replica", Duration::from_secs(30), async || {
        let out = s3.list_object_versions().bucket(&dst).prefix("doc").send().await.unwrap();
        out.delete_markers()
            .iter()
            .any(|m| m.version_id() == Some(&marker) && m.is_latest() == Some(true))
            .then_some(())
    })
    .await;
    let still = s3.head_object().bucket(&dst).key("free").version_id(&free).send().await.unwrap();
    assert_eq!(still.replication_status(), Some(&ReplicationStatus::Replica));
    // Markers are not replicated when the rule says Disabled.
    replicate_to(&s3, &src, &dst, false).await;
    let v2 = put(&s3, &src, "m2", b"x").await;
    wait_status(&s3, &src, "m2", &v2, ReplicationStatus::Completed).await;
    s3.delete_object().bucket(&src).key("m2").send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let out = s3.list_object_versions().bucket(&dst).prefix("m2").send().await.unwrap();
    assert!(out.delete_markers().is_empty());
    // Tags changed on the source reach the replica.
    s3.put_object_tagging()
        .bucket(&src)
        .key("m2")
        .version_id(&v2)
        .tagging(Tagging::builder().tag_set(Tag::builder().key("t").value("1").build().unwrap()).build().unwrap())
        .send()
        .await
        .unwrap();
    wait_for("the tags on the replica", Duration::from_secs(30), async || {
        let t = s3.get_object_tagging().bucket(&dst).key("m2").version_id(&v2).send().await.unwrap();
        (t.tag_set().len() == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn x2_failed_then_admin_replicate_queues_failed_and_older_versions() {
    let srv = server();
    let s3 = srv.client();
    let src = lock_bucket(&s3, "rfail").await;
    let old = put(&s3, &src, "old", b"before the rule").await;
    let dst = lock_bucket(&s3, "rfaild").await;
    replicate_to(&s3, &src, &dst, false).await;
    // The destination goes away: the version FAILED, writes go on.
    s3.delete_bucket().bucket(&dst).send().await.unwrap();
    let v = put(&s3, &src, "new", b"after").await;
    wait_status(&s3, &src, "new", &v, ReplicationStatus::Failed).await;
    assert_eq!(status(&s3, &src, "old", &old).await, None, "a version older than the rule is not queued");
    let data = srv.data_dir.to_str().unwrap().to_owned();
    let cfg = srv.data_dir.with_extension("toml");
    let cfg = cfg.to_str().unwrap();
    let (ok, out, err) =
        holdfast(&["admin", "replication", "status", &src, "--data-dir", &data, "--config", cfg, "--json"]);
    assert!(ok, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["rules"][0]["failed"], 1, "{out}");
    // The destination is back: batch replication queues the failed and the older version.
    s3.create_bucket().bucket(&dst).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let (ok, out, err) = holdfast(&["admin", "replicate", "--bucket", &src, "--data-dir", &data, "--config", cfg]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("queued 2 versions"), "{out}{err}");
    wait_status(&s3, &src, "new", &v, ReplicationStatus::Completed).await;
    wait_status(&s3, &src, "old", &old, ReplicationStatus::Completed).await;
    assert_eq!(status(&s3, &dst, "old", &old).await, Some(ReplicationStatus::Replica));
    let text = metrics_text(&srv.addr).await;
    // Per-bucket series are hidden by default: the rule label stays.
    assert!(metric(&text, "holdfast_replication_failed_total{rule=\"all\"}").is_some(), "{text}");
}

#[tokio::test]
async fn x2_sigkill_mid_replication_loses_and_duplicates_nothing() {
    let mut srv = server();
    let s3 = srv.client();
    let (src, dst) = locked_pair(&s3, false).await;
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    let mut written = Vec::new();
    for i in 0..40 {
        let k = format!("k{}", i % 8);
        let out = s3.put_object().bucket(&src).key(&k).body(ByteStream::from(body.clone())).send().await.unwrap();
        written.push((k, out.version_id().unwrap().to_owned()));
    }
    srv.kill();
    srv.start_again();
    let s3 = srv.client();
    for (k, v) in &written {
        wait_status(&s3, &src, k, v, ReplicationStatus::Completed).await;
    }
    // Exactly the source's versions, each once, in the same order per key.
    for i in 0..8 {
        let k = format!("k{i}");
        let ids = |b: &str| {
            let s3 = s3.clone();
            let b = b.to_owned();
            let k = k.clone();
            async move {
                let out = s3.list_object_versions().bucket(&b).prefix(&k).send().await.unwrap();
                out.versions().iter().map(|v| v.version_id().unwrap().to_owned()).collect::<Vec<_>>()
            }
        };
        assert_eq!(ids(&src).await, ids(&dst).await, "{k}");
        assert_eq!(ids(&dst).await.len(), 5);
    }
}

/// A destination server on a port of its own (it comes back there after going down) and a
/// source server whose target `dr` is that destination.
fn remote_pair() -> (Server, Server, ServerOptions) {
    let listen = format!("127.0.0.1:{}", holdfast_testkit::free_port());
    let dest_options = ServerOptions { listen: Some(listen.clone()), ..Default::default() };
    let dest = Server::start_with(BIN, dest_options.clone());
    let source = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!(
                "[replication]\nretry_min_ms = 100\nretry_max_ms = 500\npoll_ms = 50\nlease_ms = 1000\n\
                 [replication.target.dr]\nendpoint = \"http://{listen}\"\naccess_key = \"{}\"\nsecret_key = \"{}\"\n",
                holdfast_testkit::ROOT_AK,
                holdfast_testkit::ROOT_SK
            ),
            ..Default::default()
        },
    );
    (source, dest, dest_options)
}

async fn replicate_remote(s3: &Client, src: &str, dest_bucket: &str) {
    s3.put_bucket_replication()
        .bucket(src)
        .replication_configuration(config(vec![rule(
            "all",
            1,
            "",
            &format!("arn:holdfast:s3:dr::{dest_bucket}"),
            true,
        )]))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn x2_remote_holdfast_keeps_version_lock_and_catches_up_after_destination_down() {
    let (src_srv, mut dst_srv, dst_options) = remote_pair();
    let s3 = src_srv.client();
    let d3 = dst_srv.client();
    let src = lock_bucket(&s3, "rrsrc").await;
    // The remote destination's state is asked at PUT: unversioned, then without Object Lock.
    let plain = plain_bucket(&d3, "rrplain").await;
    let e =
        refused_replication(&s3, &src, config(vec![rule("all", 1, "", &format!("arn:holdfast:s3:dr::{plain}"), true)]))
            .await;
    assert_err(&e, "InvalidRequest", 400, Some("Destination bucket must have versioning enabled."));
    set_versioning(&d3, &plain, BucketVersioningStatus::Enabled).await;
    let e =
        refused_replication(&s3, &src, config(vec![rule("all", 1, "", &format!("arn:holdfast:s3:dr::{plain}"), true)]))
            .await;
    assert_err(
        &e,
        "InvalidRequest",
        400,
        Some("Destination bucket must have Object Lock enabled when the source bucket has Object Lock enabled."),
    );
    assert!(s3.get_bucket_replication().bucket(&src).send().await.is_err(), "nothing stored");

    let dst = lock_bucket(&d3, "rrdst").await;
    replicate_remote(&s3, &src, &dst).await;
    let until = in_secs(3600);
    let gov = put_locked(&s3, &src, "gov", ObjectLockMode::Governance, &until).await;
    let comp = put_locked(&s3, &src, "comp", ObjectLockMode::Compliance, &until).await;
    let held = put_held(&s3, &src, "held").await;
    // A multipart object: its ETag and composite checksum travel as they are.
    let part: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    let up = s3
        .create_multipart_upload()
        .bucket(&src)
        .key("mp")
        .checksum_algorithm(holdfast_testkit::aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    let upload_id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let p = s3
            .upload_part()
            .bucket(&src)
            .key("mp")
            .upload_id(upload_id)
            .part_number(n)
            .checksum_algorithm(holdfast_testkit::aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        parts.push(
            holdfast_testkit::aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .checksum_crc32(p.checksum_crc32().unwrap())
                .build(),
        );
    }
    let done = s3
        .complete_multipart_upload()
        .bucket(&src)
        .key("mp")
        .upload_id(upload_id)
        .multipart_upload(
            holdfast_testkit::aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build(),
        )
        .send()
        .await
        .unwrap();
    let mp = done.version_id().unwrap().to_owned();
    for (k, v) in [("gov", &gov), ("comp", &comp), ("held", &held), ("mp", &mp)] {
        wait_status(&s3, &src, k, v, ReplicationStatus::Completed).await;
        let a =
            s3.head_object().bucket(&src).key(k).version_id(v).checksum_mode("ENABLED".into()).send().await.unwrap();
        let b =
            d3.head_object().bucket(&dst).key(k).version_id(v).checksum_mode("ENABLED".into()).send().await.unwrap();
        assert_eq!(b.replication_status(), Some(&ReplicationStatus::Replica), "{k}");
        assert_eq!(
            (a.e_tag(), a.last_modified(), a.content_length()),
            (b.e_tag(), b.last_modified(), b.content_length()),
            "{k}"
        );
        assert_eq!(a.checksum_crc32(), b.checksum_crc32(), "{k}");
        assert_eq!(a.object_lock_mode(), b.object_lock_mode(), "{k}");
        assert_eq!(a.object_lock_retain_until_date(), b.object_lock_retain_until_date(), "{k}");
        assert_eq!(a.object_lock_legal_hold_status(), b.object_lock_legal_hold_status(), "{k}");
        let x = s3.get_object().bucket(&src).key(k).version_id(v).send().await.unwrap().body.collect().await.unwrap();
        let y = d3.get_object().bucket(&dst).key(k).version_id(v).send().await.unwrap().body.collect().await.unwrap();
        assert!(x.into_bytes() == y.into_bytes(), "{k}: bytes differ");
    }
    for (k, v) in [("gov", &gov), ("comp", &comp), ("held", &held)] {
        let e = d3.delete_object().bucket(&dst).key(k).version_id(v).send().await.unwrap_err();
        assert_err(&e, "AccessDenied", 403, Some(LOCKED));
    }
    // Retention extended and a hold placed on the source reach the remote replica.
    extend_and_hold_until_replicated((&s3, &src), (&d3, &dst), "gov", &gov).await;

    // The destination goes down: writes go on, versions wait PENDING, the backlog shows.
    dst_srv.kill();
    let mut pending = Vec::new();
    for i in 0..6 {
        let k = format!("down/{}", i % 2);
        let out =
            s3.put_object().bucket(&src).key(&k).body(ByteStream::from(vec![i as u8; 1000])).send().await.unwrap();
        pending.push((k, out.version_id().unwrap().to_owned()));
    }
    let marker = s3.delete_object().bucket(&src).key("down/0").send().await.unwrap().version_id().unwrap().to_owned();
    for (k, v) in &pending {
        assert_eq!(status(&s3, &src, k, v).await, Some(ReplicationStatus::Pending), "{k}");
    }
    let backlog = wait_for("the backlog gauge", Duration::from_secs(10), async || {
        metric(&metrics_text(&src_srv.addr).await, "holdfast_replication_backlog_versions").filter(|n| *n >= 7.0)
    })
    .await;
    assert!(backlog >= 7.0);
    // Back: everything arrives, in order per key, each version once.
    let mut dst_srv = Server::start_in(BIN, &dst_srv.data_dir.clone(), dst_options);
    let d3 = dst_srv.client();
    for (k, v) in &pending {
        wait_status(&s3, &src, k, v, ReplicationStatus::Completed).await;
    }
    for k in ["down/0", "down/1"] {
        let a = s3.list_object_versions().bucket(&src).prefix(k).send().await.unwrap();
        let b = d3.list_object_versions().bucket(&dst).prefix(k).send().await.unwrap();
        let ids = |o: &holdfast_testkit::aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput| {
            o.versions().iter().map(|v| v.version_id().unwrap().to_owned()).collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b), "{k}");
        assert_eq!(ids(&b).len(), 3, "{k}");
    }
    wait_for("the delete marker on the remote replica", Duration::from_secs(30), async || {
        let out = d3.list_object_versions().bucket(&dst).prefix("down/0").send().await.unwrap();
        out.delete_markers()
            .iter()
            .any(|m| m.version_id() == Some(marker.as_str()) && m.is_latest() == Some(true))
            .then_some(())
    })
    .await;
    dst_srv.kill();
}

#[tokio::test]
async fn x2_remote_destination_policy_capping_retention_applies_to_replicas() {
    let (src_srv, dst_srv, _) = remote_pair();
    let s3 = src_srv.client();
    let d3 = dst_srv.client();
    let src = lock_bucket(&s3, "rpsrc").await;
    let dst = lock_bucket(&d3, "rpdst").await;
    // The destination caps retention at 30 days, for replicas too (s3:ReplicateObject).
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":["s3:PutObject","s3:ReplicateObject"],"Resource":"arn:aws:s3:::{dst}/*","Condition":{{"NumericGreaterThan":{{"s3:object-lock-remaining-retention-days":"30"}}}}}}]}}"#
    );
    d3.put_bucket_policy().bucket(&dst).policy(policy).send().await.unwrap();
    replicate_remote(&s3, &src, &dst).await;
    let short = put_locked(&s3, &src, "short", ObjectLockMode::Governance, &in_secs(10 * 86_400)).await;
    let long = put_locked(&s3, &src, "long", ObjectLockMode::Governance, &in_secs(60 * 86_400)).await;
    wait_status(&s3, &src, "short", &short, ReplicationStatus::Completed).await;
    wait_status(&s3, &src, "long", &long, ReplicationStatus::Failed).await;
    let e = d3.head_object().bucket(&dst).key("long").version_id(&long).send().await.unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
}

#[tokio::test]
async fn x2_local_destination_policy_capping_retention_applies_to_replicas() {
    let srv = server();
    let s3 = srv.client();
    let src = lock_bucket(&s3, "rlpsrc").await;
    let dst = lock_bucket(&s3, "rlpdst").await;
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":["s3:PutObject","s3:ReplicateObject"],"Resource":"arn:aws:s3:::{dst}/*","Condition":{{"NumericGreaterThan":{{"s3:object-lock-remaining-retention-days":"30"}}}}}}]}}"#
    );
    s3.put_bucket_policy().bucket(&dst).policy(policy).send().await.unwrap();
    replicate_to(&s3, &src, &dst, false).await;
    let short = put_locked(&s3, &src, "short", ObjectLockMode::Governance, &in_secs(10 * 86_400)).await;
    let long = put_locked(&s3, &src, "long", ObjectLockMode::Compliance, &in_secs(60 * 86_400)).await;
    wait_status(&s3, &src, "short", &short, ReplicationStatus::Completed).await;
    wait_status(&s3, &src, "long", &long, ReplicationStatus::Failed).await;
    let e = s3.head_object().bucket(&dst).key("long").version_id(&long).send().await.unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
}

/// 1 GiB to another Holdfast, the source killed (SIGKILL) while the bytes are on the wire:
/// after its restart the version arrives once, whole, and the destination keeps no partial file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x2_sigkill_of_the_source_mid_copy_of_1_gib_loses_and_duplicates_nothing() {
    use std::io::Write as _;
    const SIZE: u64 = 1 << 30;
    let (mut src_srv, dst_srv, _) = remote_pair();
    let s3 = src_srv.client();
    let d3 = dst_srv.client();
    let src = lock_bucket(&s3, "rksrc").await;
    let dst = lock_bucket(&d3, "rkdst").await;
    replicate_remote(&s3, &src, &dst).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one-gib");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let block: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
        for _ in 0..(SIZE >> 20) {
            f.write_all(&block).unwrap();
        }
        f.flush().unwrap();
    }
    let put = s3
        .put_object()
        .bucket(&src)
        .key("big")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_secs(3600))
        .checksum_algorithm(holdfast_testkit::aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .unwrap();
    drop(dir);
    let v = put.version_id().unwrap().to_owned();
    // Wait until the destination is receiving the body, then kill the source.
    let tmp = dst_srv.data_dir.join("tmp");
    let partial = |min: u64| {
        std::fs::read_dir(&tmp).map(|d| d.flatten().any(|e| e.metadata().is_ok_and(|m| m.len() > min))).unwrap_or(false)
    };
    wait_for("the replica's bytes arriving", Duration::from_secs(120), async || partial(1 << 20).then_some(())).await;
    src_srv.kill();
    src_srv.start_again();
    let s3 = src_srv.client();
    wait_for("COMPLETED after the restart", Duration::from_secs(300), async || {
        (status(&s3, &src, "big", &v).await == Some(ReplicationStatus::Completed)).then_some(())
    })
    .await;
    let a =
        s3.head_object().bucket(&src).key("big").version_id(&v).checksum_mode("ENABLED".into()).send().await.unwrap();
    let b =
        d3.head_object().bucket(&dst).key("big").version_id(&v).checksum_mode("ENABLED".into()).send().await.unwrap();
    assert_eq!(
        (a.e_tag(), a.content_length(), a.checksum_crc32()),
        (b.e_tag(), b.content_length(), b.checksum_crc32())
    );
    assert_eq!(b.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    let versions = d3.list_object_versions().bucket(&dst).send().await.unwrap();
    assert_eq!(versions.versions().len(), 1, "one replica, not two");
    // The cut-off upload left no temporary file behind.
    wait_for("no partial file on the destination", Duration::from_secs(30), async || (!partial(0)).then_some(())).await;
}

/// Three gateways on one PostgreSQL database replicating one bucket: every item is claimed
/// and delivered by exactly one of them (the completed counters add up to the writes).
#[tokio::test]
async fn x2_gateways_sharing_postgresql_deliver_each_item_once() {
    let url = holdfast_testkit::Postgres::shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = ServerOptions {
        config_toml: format!(
            "[meta]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 8\n\
             [replication]\npoll_ms = 20\nretry_min_ms = 100\nlease_ms = 30000\n"
        ),
        ..Default::default()
    };
    let gateways: Vec<Server> = (0..3).map(|_| Server::start_in(BIN, &data, options.clone())).collect();
    let clients: Vec<Client> = gateways.iter().map(Server::client).collect();
    let (src, dst) = locked_pair(&clients[0], false).await;
    let mut written = Vec::new();
    for i in 0..60 {
        let s3 = &clients[i % 3];
        let k = format!("g/{i:03}");
        let out = s3.put_object().bucket(&src).key(&k).body(ByteStream::from(vec![i as u8; 100])).send().await.unwrap();
        written.push((k, out.version_id().unwrap().to_owned()));
    }
    for (k, v) in &written {
        wait_status(&clients[1], &src, k, v, ReplicationStatus::Completed).await;
    }
    let mut delivered = 0.0;
    for g in &gateways {
        let text = metrics_text(&g.addr).await;
        delivered += metric(&text, "holdfast_replication_completed_total{rule=\"all\"}").unwrap_or(0.0);
    }
    assert_eq!(delivered, 60.0, "each item delivered by exactly one gateway");
    let listed = clients[2].list_object_versions().bucket(&dst).send().await.unwrap();
    assert_eq!(listed.versions().len(), 60);
}

/// The destination authorises replicas by AWS's replication permissions, nothing else: a user
/// allowed only s3:ReplicateObject / ReplicateTags / ReplicateDelete (and the two bucket reads
/// PutBucketReplication asks) replicates, and cannot write, read or delete otherwise; a user
/// allowed s3:PutObject but not s3:ReplicateObject cannot replicate (FAILED).
#[tokio::test]
async fn x2_remote_replication_needs_replicate_object_on_the_destination() {
    let listen = format!("127.0.0.1:{}", holdfast_testkit::free_port());
    let dst_srv = Server::start_with(BIN, ServerOptions { listen: Some(listen.clone()), ..Default::default() });
    let d3 = dst_srv.client();
    let dst = lock_bucket(&d3, "rpermdst").await;
    let iam = dst_srv.iam();
    let mut keys = Vec::new();
    for (name, actions) in [
        ("replicator", r#"["s3:ReplicateObject","s3:ReplicateTags","s3:ReplicateDelete"]"#),
        ("putter", r#"["s3:PutObject","s3:PutObjectRetention","s3:PutObjectLegalHold"]"#),
    ] {
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"arn:aws:s3:::{dst}/*"}},{{"Effect":"Allow","Action":["s3:GetBucketVersioning","s3:GetBucketObjectLockConfiguration"],"Resource":"arn:aws:s3:::{dst}"}}]}}"#
        );
        iam.create_user().user_name(name).send().await.unwrap();
        iam.put_user_policy().user_name(name).policy_name("p").policy_document(policy).send().await.unwrap();
        let key = iam.create_access_key().user_name(name).send().await.unwrap().access_key.unwrap();
        keys.push((key.access_key_id().to_owned(), key.secret_access_key().to_owned()));
    }
    let toml = format!(
        "[replication]\nretry_min_ms = 100\nretry_max_ms = 500\npoll_ms = 50\nlease_ms = 1000\n\
         [replication.target.dr]\nendpoint = \"http://{listen}\"\naccess_key = \"{}\"\nsecret_key = \"{}\"\n\
         [replication.target.put]\nendpoint = \"http://{listen}\"\naccess_key = \"{}\"\nsecret_key = \"{}\"\n",
        keys[0].0, keys[0].1, keys[1].0, keys[1].1
    );
    let src_srv = Server::start_with(BIN, ServerOptions { config_toml: toml, ..Default::default() });
    let s3 = src_srv.client();
    let src = lock_bucket(&s3, "rpermsrc").await;
    let src2 = lock_bucket(&s3, "rpermsrc2").await;
    replicate_remote(&s3, &src, &dst).await;
    s3.put_bucket_replication()
        .bucket(&src2)
        .replication_configuration(config(vec![rule("all", 1, "", &format!("arn:holdfast:s3:put::{dst}"), true)]))
        .send()
        .await
        .unwrap();
    let v = put_locked(&s3, &src, "ok", ObjectLockMode::Compliance, &in_secs(3600)).await;
    s3.put_object_tagging()
        .bucket(&src)
        .key("ok")
        .version_id(&v)
        .tagging(Tagging::builder().tag_set(Tag::builder().key("t").value("1").build().unwrap()).build().unwrap())
        .send()
        .await
        .unwrap();
    let marker = s3.delete_object().bucket(&src).key("ok").send().await.unwrap().version_id().unwrap().to_owned();
    wait_status(&s3, &src, "ok", &v, ReplicationStatus::Completed).await;
    wait_for("the marker and the tags on the replica", Duration::from_secs(30), async || {
        let l = d3.list_object_versions().bucket(&dst).send().await.unwrap();
        let t = d3.get_object_tagging().bucket(&dst).key("ok").version_id(&v).send().await.unwrap();
        (l.delete_markers().iter().any(|m| m.version_id() == Some(marker.as_str())) && t.tag_set().len() == 1)
            .then_some(())
    })
    .await;
    let h = d3.head_object().bucket(&dst).key("ok").version_id(&v).send().await.unwrap();
    assert_eq!(h.replication_status(), Some(&ReplicationStatus::Replica));
    // The replicator's key does nothing else on the destination.
    let replicator = dst_srv.client_as(&keys[0].0, &keys[0].1);
    let e = replicator.put_object().bucket(&dst).key("x").body(ByteStream::from_static(b"x")).send().await.unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);
    let e = replicator.get_object().bucket(&dst).key("ok").version_id(&v).send().await.unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);
    let e = replicator.delete_object().bucket(&dst).key("ok").version_id(&v).send().await.unwrap_err();
    assert_err(&e, "AccessDenied", 403, None);
    // s3:PutObject is not s3:ReplicateObject.
    let w = put(&s3, &src2, "no", b"no").await;
    wait_status(&s3, &src2, "no", &w, ReplicationStatus::Failed).await;
}

/// The status reaches the events and the audit trail (#13): when a version's replication
/// becomes COMPLETED or FAILED, the settle's transaction queues the event
/// `s3:Replication:OperationCompletedReplication` / `...FailedReplication` (with
/// `s3.object.replicationStatus`) and writes an audit record `ReplicationCompleted` /
/// `ReplicationFailed` by `holdfast:replication` carrying the status and the destination.
#[tokio::test]
async fn x2_status_transitions_reach_the_events_and_the_audit_trail() {
    use crate::evidence_support::{Receiver, audit_records};
    use holdfast_testkit::aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let receiver = Receiver::start();
    let srv = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!(
                "[notify]\nretry_min_ms = 100\nretry_max_ms = 400\n[notify.webhook.hook]\nendpoint = \"{}\"\n\
                 [replication]\nretry_min_ms = 100\nretry_max_ms = 500\npoll_ms = 50\nlease_ms = 1000\n",
                receiver.endpoint()
            ),
            ..Default::default()
        },
    );
    let s3 = srv.client();
    let src = lock_bucket(&s3, "revsrc").await;
    let dst = lock_bucket(&s3, "revdst").await;
    // The destination refuses replicas retained more than 30 days: one COMPLETED, one FAILED.
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":["s3:PutObject","s3:ReplicateObject"],"Resource":"arn:aws:s3:::{dst}/*","Condition":{{"NumericGreaterThan":{{"s3:object-lock-remaining-retention-days":"30"}}}}}}]}}"#
    );
    s3.put_bucket_policy().bucket(&dst).policy(policy).send().await.unwrap();
    let config = NotificationConfiguration::builder()
        .queue_configurations(
            QueueConfiguration::builder()
                .id("repl")
                .queue_arn("arn:holdfast:sqs::hook:webhook")
                .events(Event::from("s3:Replication:*"))
                .build()
                .unwrap(),
        )
        .build();
    s3.put_bucket_notification_configuration().bucket(&src).notification_configuration(config).send().await.unwrap();
    replicate_to(&s3, &src, &dst, false).await;
    let short = put_locked(&s3, &src, "short", ObjectLockMode::Governance, &in_secs(10 * 86_400)).await;
    let long = put_locked(&s3, &src, "long", ObjectLockMode::Compliance, &in_secs(60 * 86_400)).await;
    wait_status(&s3, &src, "short", &short, ReplicationStatus::Completed).await;
    wait_status(&s3, &src, "long", &long, ReplicationStatus::Failed).await;

    let records = wait_for("both replication events", Duration::from_secs(30), async || {
        let r = receiver.records();
        (r.len() >= 2).then_some(r)
    })
    .await;
    let seen: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["eventName"].as_str().unwrap_or_default().to_owned(),
                r["s3"]["object"]["versionId"].as_str().unwrap_or_default().to_owned(),
                r["s3"]["object"]["replicationStatus"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("Replication:OperationCompletedReplication".into(), short.clone(), "COMPLETED".into()))
            || seen.contains(&(
                "s3:Replication:OperationCompletedReplication".into(),
                short.clone(),
                "COMPLETED".into()
            )),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("Replication:OperationFailedReplication".into(), long.clone(), "FAILED".into()))
            || seen.contains(&("s3:Replication:OperationFailedReplication".into(), long.clone(), "FAILED".into())),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 2, "one event per transition: {seen:?}");

    let trail = wait_for("both replication audit records", Duration::from_secs(30), async || {
        let r: Vec<_> = audit_records(&srv.data_dir)
            .into_iter()
            .filter(|r| r["op"] == "ReplicationCompleted" || r["op"] == "ReplicationFailed")
            .collect();
        (r.len() >= 2).then_some(r)
    })
    .await;
    let find = |op: &str, v: &str| trail.iter().find(|r| r["op"] == op && r["version_id"] == v).cloned();
    let done = find("ReplicationCompleted", &short).expect("the COMPLETED record");
    assert_eq!(done["key"], "short");
    assert_eq!(done["detail"]["replicationStatus"], "COMPLETED");
    assert_eq!(done["detail"]["destination"], format!("arn:aws:s3:::{dst}"));
    let failed = find("ReplicationFailed", &long).expect("the FAILED record");
    assert_eq!(failed["detail"]["replicationStatus"], "FAILED");
    assert_eq!(failed["principal"], "holdfast:replication");
    assert_eq!(trail.len(), 2, "one record per transition");
}

/// Extends a GOVERNANCE version's retention by two hours and places a legal hold on the source,
/// then waits until the replica (same version id) shows both; returns the new retain-until.
async fn extend_and_hold_until_replicated(
    (s3, src): (&Client, &str),
    (replica, dst): (&Client, &str),
    key: &str,
    v: &str,
) -> DateTime {
    let later = in_secs(7200);
    s3.put_object_retention()
        .bucket(src)
        .key(key)
        .version_id(v)
        .retention(retention(ObjectLockRetentionMode::Governance, &later))
        .send()
        .await
        .unwrap();
    set_hold(s3, src, key, Some(v), ObjectLockLegalHoldStatus::On).await;
    wait_for("the extension and the hold on the replica", Duration::from_secs(30), async || {
        let h = replica.head_object().bucket(dst).key(key).version_id(v).send().await.unwrap();
        (h.object_lock_retain_until_date() == Some(&later)
            && h.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::On))
        .then_some(())
    })
    .await;
    later
}

/// PutBucketReplication that the test expects refused; the error, for `assert_err`.
async fn refused_replication(
    s3: &Client,
    bucket: &str,
    configuration: ReplicationConfiguration,
) -> holdfast_testkit::aws_sdk_s3::error::SdkError<
    holdfast_testkit::aws_sdk_s3::operation::put_bucket_replication::PutBucketReplicationError,
> {
    s3.put_bucket_replication().bucket(bucket).replication_configuration(configuration).send().await.unwrap_err()
}
