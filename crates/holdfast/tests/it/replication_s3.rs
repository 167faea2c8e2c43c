//! Replication to a foreign S3 endpoint (issue #13, `kind = "s3"`): a second Holdfast
//! configured as a plain S3 target, reached with AWS's ordinary API only (PutObject with the
//! object-lock headers, PutObjectRetention / PutObjectLegalHold / PutObjectTagging on the
//! version the destination gave the replica, DELETE of the key for a marker). The replica has
//! the destination's own version id and the source's bytes, headers, tags and lock state.

use crate::evidence_support::{BIN, metrics_text, wait_for};
use crate::object_lock_support::{LOCKED, assert_err, in_secs, lock_bucket, retention, set_hold};
use crate::replication::{config, rule, status, wait_status};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    ChecksumAlgorithm, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetentionMode, ReplicationStatus, Tag,
    Tagging,
};
use holdfast_testkit::{Server, ServerOptions};
use std::time::Duration;

/// (source, destination, the destination's options to restart it where it was): the
/// source's target `plain` is the destination as `kind = "s3"`.
pub(crate) fn s3_pair(extra: &str) -> (Server, Server, ServerOptions) {
    let listen = format!("127.0.0.1:{}", holdfast_testkit::free_port());
    let dest_options = ServerOptions { listen: Some(listen), ..Default::default() };
    let dest = Server::start_with(BIN, dest_options.clone());
    let source = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!(
                "[replication]\nretry_min_ms = 100\nretry_max_ms = 500\npoll_ms = 50\nlease_ms = 1000\n{extra}\
                 [replication.target.plain]\nkind = \"s3\"\nendpoint = \"http://{}\"\naccess_key = \"{}\"\nsecret_key = \"{}\"\n\
                 [metrics]\nper_bucket = true\n",
                dest.addr,
                holdfast_testkit::ROOT_AK,
                holdfast_testkit::ROOT_SK
            ),
            ..Default::default()
        },
    );
    (source, dest, dest_options)
}

pub(crate) async fn replicate_plain(s3: &Client, src: &str, dest_bucket: &str) {
    s3.put_bucket_replication()
        .bucket(src)
        .replication_configuration(config(vec![rule(
            "all",
            1,
            "",
            &format!("arn:holdfast:s3:plain::{dest_bucket}"),
            true,
        )]))
        .send()
        .await
        .unwrap();
}

/// The destination's versions of `key`, newest first: (version id, is latest).
async fn dest_versions(d3: &Client, b: &str, key: &str) -> Vec<String> {
    let out = d3.list_object_versions().bucket(b).prefix(key).send().await.unwrap();
    out.versions().iter().filter(|v| v.key() == Some(key)).map(|v| v.version_id().unwrap().to_owned()).collect()
}

async fn tags_of(s3: &Client, b: &str, k: &str, v: &str) -> Vec<(String, String)> {
    let out = s3.get_object_tagging().bucket(b).key(k).version_id(v).send().await.unwrap();
    let mut t: Vec<_> = out.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    t.sort();
    t
}

#[tokio::test]
async fn x2_plain_s3_target_gets_bytes_headers_tags_and_lock_state_under_its_own_version_ids() {
    let (src_srv, dst_srv, _) = s3_pair("");
    let s3 = src_srv.client();
    let d3 = dst_srv.client();
    let src = lock_bucket(&s3, "fsrc").await;
    let dst = lock_bucket(&d3, "fdst").await;
    replicate_plain(&s3, &src, &dst).await;

    let until = in_secs(3600);
    let mut written = Vec::new();
    for (k, mode) in
        [("gov", Some(ObjectLockMode::Governance)), ("comp", Some(ObjectLockMode::Compliance)), ("held", None)]
    {
        let out = s3
            .put_object()
            .bucket(&src)
            .key(k)
            .body(ByteStream::from(format!("body of {k}").into_bytes()))
            .content_type("text/x-ledger")
            .content_disposition("attachment")
            .cache_control("no-cache")
            .metadata("origin", "ledger-été")
            .tagging("class=gold&team=ops")
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .set_object_lock_mode(mode.clone())
            .set_object_lock_retain_until_date(mode.as_ref().map(|_| until))
            .set_object_lock_legal_hold_status((k == "held").then_some(ObjectLockLegalHoldStatus::On))
            .send()
            .await
            .unwrap();
        written.push((k, out.version_id().unwrap().to_owned()));
    }
    let mut remote = std::collections::BTreeMap::new();
    for (k, v) in &written {
        wait_status(&s3, &src, k, v, ReplicationStatus::Completed).await;
        let ids = dest_versions(&d3, &dst, k).await;
        assert_eq!(ids.len(), 1, "{k}: one replica");
        assert_ne!(&ids[0], v, "{k}: a plain S3 target gives its own version id");
        let rv = ids[0].clone();
        let a =
            s3.head_object().bucket(&src).key(*k).version_id(v).checksum_mode("ENABLED".into()).send().await.unwrap();
        let b =
            d3.head_object().bucket(&dst).key(*k).version_id(&rv).checksum_mode("ENABLED".into()).send().await.unwrap();
        assert_eq!(b.replication_status(), None, "{k}: an ordinary write there");
        assert_eq!((a.e_tag(), a.content_length()), (b.e_tag(), b.content_length()), "{k}");
        assert_eq!(a.checksum_crc32(), b.checksum_crc32(), "{k}");
        assert_eq!((a.content_type(), b.content_type()), (Some("text/x-ledger"), Some("text/x-ledger")), "{k}");
        assert_eq!(a.content_disposition(), b.content_disposition(), "{k}");
        assert_eq!(a.cache_control(), b.cache_control(), "{k}");
        assert_eq!(a.metadata(), b.metadata(), "{k}");
        assert_eq!(a.object_lock_mode(), b.object_lock_mode(), "{k}");
        assert_eq!(a.object_lock_retain_until_date(), b.object_lock_retain_until_date(), "{k}");
        assert_eq!(a.object_lock_legal_hold_status(), b.object_lock_legal_hold_status(), "{k}");
        assert_eq!(tags_of(&d3, &dst, k, &rv).await, tags_of(&s3, &src, k, v).await, "{k}");
        let y = d3.get_object().bucket(&dst).key(*k).version_id(&rv).send().await.unwrap().body.collect().await;
        assert_eq!(y.unwrap().into_bytes().as_ref(), format!("body of {k}").as_bytes(), "{k}");
        // The replica refuses deletion as the source does.
        let e = d3.delete_object().bucket(&dst).key(*k).version_id(&rv).send().await.unwrap_err();
        assert_err(&e, "AccessDenied", 403, Some(LOCKED));
        remote.insert(*k, rv);
    }
    let gov = &written[0].1;

    // A newer version of "gov" arrives; then the first version's lock and tags change: the
    // change reaches the replica of that version (the recorded mapping), not the newest one.
    let second = s3.put_object().bucket(&src).key("gov").body(ByteStream::from_static(b"v2")).send().await.unwrap();
    let second = second.version_id().unwrap().to_owned();
    wait_status(&s3, &src, "gov", &second, ReplicationStatus::Completed).await;
    let later = in_secs(7200);
    s3.put_object_retention()
        .bucket(&src)
        .key("gov")
        .version_id(gov)
        .retention(retention(ObjectLockRetentionMode::Compliance, &later))
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    set_hold(&s3, &src, "gov", Some(gov), ObjectLockLegalHoldStatus::On).await;
    set_hold(&s3, &src, "held", Some(&written[2].1), ObjectLockLegalHoldStatus::Off).await;
    s3.put_object_tagging()
        .bucket(&src)
        .key("gov")
        .version_id(gov)
        .tagging(
            Tagging::builder().tag_set(Tag::builder().key("class").value("platinum").build().unwrap()).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    let rgov = &remote["gov"];
    wait_for("the lock and tag changes on the replica of the first version", Duration::from_secs(30), async || {
        let h = d3.head_object().bucket(&dst).key("gov").version_id(rgov).send().await.unwrap();
        let held = d3.head_object().bucket(&dst).key("held").version_id(&remote["held"]).send().await.unwrap();
        (h.object_lock_mode() == Some(&ObjectLockMode::Compliance)
            && h.object_lock_retain_until_date() == Some(&later)
            && h.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::On)
            && held.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::Off)
            && tags_of(&d3, &dst, "gov", rgov).await == vec![("class".to_owned(), "platinum".to_owned())])
        .then_some(())
    })
    .await;
    let ids = dest_versions(&d3, &dst, "gov").await;
    assert_eq!(ids.len(), 2, "no version made by the metadata changes: {ids:?}");
    let newest = d3.head_object().bucket(&dst).key("gov").version_id(&ids[0]).send().await.unwrap();
    assert_eq!(newest.object_lock_mode(), None, "the newest replica was left alone");
    assert_eq!(newest.object_lock_legal_hold_status(), None);
    for (k, v) in &written {
        wait_status(&s3, &src, k, v, ReplicationStatus::Completed).await;
    }

    // A version delete does not reach the destination; a delete marker does, as a DELETE.
    s3.delete_object().bucket(&src).key("gov").version_id(&second).send().await.unwrap();
    let marker = s3.delete_object().bucket(&src).key("comp").send().await.unwrap();
    assert!(marker.delete_marker().unwrap_or(false));
    wait_for("the delete marker on the destination", Duration::from_secs(30), async || {
        let out = d3.list_object_versions().bucket(&dst).prefix("comp").send().await.unwrap();
        out.delete_markers().iter().any(|m| m.is_latest() == Some(true)).then_some(())
    })
    .await;
    assert_eq!(dest_versions(&d3, &dst, "gov").await.len(), 2, "the version delete stayed on the source");
    assert_eq!(status(&s3, &src, "comp", &written[1].1).await, Some(ReplicationStatus::Completed));
}

/// Passing failures of every bucket and rule.
fn retries(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("holdfast_replication_retries_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The file of `data_dir` that holds a blob of exactly `size` bytes.
fn blob_file(dir: &std::path::Path, size: u64) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let meta = entry.metadata().ok()?;
        if meta.is_dir() {
            if let Some(found) = blob_file(&path, size) {
                return Some(found);
            }
        } else if meta.len() == size {
            return Some(path);
        }
    }
    None
}

#[tokio::test]
async fn x2_plain_s3_target_gets_a_large_version_as_a_multipart_upload_aborted_on_failure() {
    // Threshold 6 MiB, parts of 5 MiB: a 12 MiB + 1 version goes as 3 parts.
    let (src_srv, mut dst_srv, dst_options) = s3_pair("multipart_threshold = 6291456\nmultipart_part_size = 5242880\n");
    let s3 = src_srv.client();
    let d3 = dst_srv.client();
    let src = lock_bucket(&s3, "fmsrc").await;
    let dst = lock_bucket(&d3, "fmdst").await;
    replicate_plain(&s3, &src, &dst).await;
    let size = 12 * 1024 * 1024 + 1;
    let data: Vec<u8> = (0..size as u32).map(|i| (i % 251) as u8).collect();
    let until = in_secs(3600);
    let out = s3
        .put_object()
        .bucket(&src)
        .key("big")
        .body(ByteStream::from(data.clone()))
        .tagging("class=gold")
        .metadata("origin", "ledger")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .unwrap();
    let v = out.version_id().unwrap().to_owned();
    wait_status(&s3, &src, "big", &v, ReplicationStatus::Completed).await;
    let ids = dest_versions(&d3, &dst, "big").await;
    assert_eq!(ids.len(), 1);
    let b = d3.head_object().bucket(&dst).key("big").version_id(&ids[0]).send().await.unwrap();
    assert!(b.e_tag().unwrap().ends_with("-3\""), "three parts: {:?}", b.e_tag());
    assert_eq!(b.content_length(), Some(size as i64));
    assert_eq!(b.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(b.object_lock_retain_until_date(), Some(&until));
    assert_eq!(b.metadata().and_then(|m| m.get("origin")).map(String::as_str), Some("ledger"));
    assert_eq!(tags_of(&d3, &dst, "big", &ids[0]).await, vec![("class".to_owned(), "gold".to_owned())]);
    let y = d3.get_object().bucket(&dst).key("big").version_id(&ids[0]).send().await.unwrap().body.collect().await;
    assert!(y.unwrap().into_bytes().as_ref() == data.as_slice(), "bytes differ");
    let uploads = d3.list_multipart_uploads().bucket(&dst).send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "no upload left behind");

    // A failure mid-upload (the source's blob cut short while the destination is down)
    // aborts the upload: the destination keeps no upload, the version stays PENDING.
    dst_srv.kill();
    let odd: Vec<u8> = (0..size as u32 + 7).map(|i| (i % 241) as u8).collect();
    let out = s3.put_object().bucket(&src).key("cut").body(ByteStream::from(odd)).send().await.unwrap();
    let cut = out.version_id().unwrap().to_owned();
    let file = blob_file(&src_srv.data_dir, size + 7).expect("the blob file of the version");
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    f.set_len(7 * 1024 * 1024).unwrap();
    drop(f);
    let dst_srv = Server::start_in(BIN, &dst_srv.data_dir.clone(), dst_options);
    let d3 = dst_srv.client();
    let retries_before = retries(&metrics_text(&src_srv.addr).await);
    wait_for("several failed attempts", Duration::from_secs(30), async || {
        let n = retries(&metrics_text(&src_srv.addr).await);
        (n >= retries_before + 3.0).then_some(())
    })
    .await;
    wait_for("no upload left on the destination", Duration::from_secs(10), async || {
        let uploads = d3.list_multipart_uploads().bucket(&dst).send().await.unwrap();
        uploads.uploads().is_empty().then_some(())
    })
    .await;
    assert_eq!(status(&s3, &src, "cut", &cut).await, Some(ReplicationStatus::Pending));
    assert!(dest_versions(&d3, &dst, "cut").await.is_empty());
}
