//! Large versions to another Holdfast as a replication upload (issue #13; spec X2, W1, W7,
//! W14, P3): above `[replication] multipart_threshold` the source opens a multipart upload on
//! the destination whose every request carries the source version id (authorised by
//! `s3:ReplicateObject`, as the single replication PUT), streams parts, and completes it
//! into the replica under the source's version id, last-modified, ETag, checksum, tags and
//! lock state. The destination's single-PUT cap (`[limits] max_put_size`) is lowered so that
//! the version could not go as one PUT.

use crate::evidence_support::{BIN, audit_records, wait_for};
use crate::object_lock_support::{in_secs, lock_bucket};
use crate::replication::{config, rule, status, wait_status};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockLegalHoldStatus, ObjectLockMode,
    ReplicationStatus,
};
use holdfast_testkit::{Server, ServerOptions, raw_http, signed_request};
use std::time::{Duration, SystemTime};

const MIB: usize = 1 << 20;
/// Above 6 MiB a version goes in parts of 5 MiB.
const MULTIPART: &str = "multipart_threshold = 6291456\nmultipart_part_size = 5242880\n";

/// A key pair of the destination allowed `actions` on `bucket`'s objects (and the two bucket
/// reads PutBucketReplication asks).
async fn user(dst: &Server, name: &str, bucket: &str, actions: &str) -> (String, String) {
    let iam = dst.iam();
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"arn:aws:s3:::{bucket}/*"}},{{"Effect":"Allow","Action":["s3:GetBucketVersioning","s3:GetBucketObjectLockConfiguration"],"Resource":"arn:aws:s3:::{bucket}"}}]}}"#
    );
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy().user_name(name).policy_name("p").policy_document(policy).send().await.unwrap();
    let key = iam.create_access_key().user_name(name).send().await.unwrap().access_key.unwrap();
    (key.access_key_id().to_owned(), key.secret_access_key().to_owned())
}

/// A source whose targets are `(id, destination address, key pair)`, with a small multipart
/// threshold and `lease_ms`.
fn source(targets: &[(&str, &str, &(String, String))], lease_ms: u64) -> Server {
    let mut toml = format!(
        "[replication]\nretry_min_ms = 100\nretry_max_ms = 500\npoll_ms = 50\nlease_ms = {lease_ms}\n{MULTIPART}"
    );
    for (id, addr, (ak, sk)) in targets {
        toml.push_str(&format!(
            "[replication.target.{id}]\nendpoint = \"http://{addr}\"\naccess_key = \"{ak}\"\nsecret_key = \"{sk}\"\n"
        ));
    }
    Server::start_with(BIN, ServerOptions { config_toml: toml, ..Default::default() })
}

/// A destination whose largest single PUT (and part) is `max_put` bytes.
fn destination(max_put: usize) -> Server {
    Server::start_with(
        BIN,
        ServerOptions { config_toml: format!("[limits]\nmax_put_size = {max_put}\n"), ..Default::default() },
    )
}

async fn replicate(s3: &Client, src: &str, target: &str, dest_bucket: &str) {
    s3.put_bucket_replication()
        .bucket(src)
        .replication_configuration(config(vec![rule(
            "all",
            1,
            "",
            &format!("arn:holdfast:s3:{target}::{dest_bucket}"),
            true,
        )]))
        .send()
        .await
        .unwrap();
}

fn payload(size: usize, seed: u32) -> Vec<u8> {
    (0..size as u32).map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8).collect()
}

async fn body(s3: &Client, b: &str, k: &str, v: &str) -> Vec<u8> {
    let out = s3.get_object().bucket(b).key(k).version_id(v).send().await.unwrap();
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn uploads(s3: &Client, b: &str) -> Vec<String> {
    let out = s3.list_multipart_uploads().bucket(b).send().await.unwrap();
    out.uploads().iter().map(|u| u.upload_id().unwrap().to_owned()).collect()
}

/// The destination's audit records of `op` on `key`.
fn records(dst: &Server, op: &str, key: &str) -> Vec<serde_json::Value> {
    audit_records(&dst.data_dir).into_iter().filter(|r| r["op"] == op && r["key"] == key).collect()
}

/// A 17 MiB version (above the threshold, and above the destination's 8 MiB single-PUT cap)
/// and a 7 MiB source multipart version reach another Holdfast as replication uploads: bytes,
/// version id, last-modified, ETag (the source's, `-N` kept), checksum, lock state, tags,
/// metadata equal; COMPLETED / REPLICA; the destination's audit trail shows the upload's
/// requests (CreateMultipartUpload, one UploadPart per 5 MiB, CompleteMultipartUpload) made
/// by a key allowed only s3:ReplicateObject / ReplicateTags / ReplicateDelete; no upload is left.
#[tokio::test]
async fn x2_large_version_reaches_another_holdfast_as_a_replication_upload_above_its_put_cap() {
    let dst_srv = destination(8 * MIB);
    let d3 = dst_srv.client();
    let dst = lock_bucket(&d3, "rmpdst").await;
    let replicator =
        user(&dst_srv, "replicator", &dst, r#"["s3:ReplicateObject","s3:ReplicateTags","s3:ReplicateDelete"]"#).await;
    let src_srv = source(&[("dr", &dst_srv.addr.to_string(), &replicator)], 30_000);
    let s3 = src_srv.client();
    let src = lock_bucket(&s3, "rmpsrc").await;
    replicate(&s3, &src, "dr", &dst).await;

    // The cap is real: one PUT of these bytes is refused by the destination.
    let data = payload(17 * MIB + 3, 7);
    let addr = dst_srv.addr.to_string();
    let length = data.len().to_string();
    let headers = [("content-length", length.as_str()), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")];
    let (ak, sk) = (holdfast_testkit::ROOT_AK, holdfast_testkit::ROOT_SK);
    let put = signed_request(&addr, "PUT", &format!("/{dst}/direct"), &headers, &[], ak, sk, SystemTime::now());
    let refused = raw_http(&addr, put).await.unwrap();
    assert_eq!((refused.status, refused.xml("Code").as_deref()), (400, Some("EntityTooLarge")));

    let until = in_secs(3600);
    let out = s3
        .put_object()
        .bucket(&src)
        .key("big")
        .body(ByteStream::from(data.clone()))
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .content_type("application/x-ledger")
        .metadata("origin", "ledger")
        .tagging("class=gold&tier=1")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let v = out.version_id().unwrap().to_owned();

    // A version the source made of parts: 5 MiB + 2 MiB, composite CRC32C, ETag `…-2`.
    let parts = [payload(5 * MIB, 11), payload(2 * MIB, 13)];
    let up = s3
        .create_multipart_upload()
        .bucket(&src)
        .key("parts")
        .checksum_algorithm(ChecksumAlgorithm::Crc32C)
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let part = s3
            .upload_part()
            .bucket(&src)
            .key("parts")
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(part.e_tag().unwrap())
                .checksum_crc32_c(part.checksum_crc32_c().unwrap())
                .build(),
        );
    }
    let completed = s3
        .complete_multipart_upload()
        .bucket(&src)
        .key("parts")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
    let w = completed.version_id().unwrap().to_owned();

    for (key, version, bytes) in [("big", &v, data.clone()), ("parts", &w, parts.concat())] {
        wait_status(&s3, &src, key, version, ReplicationStatus::Completed).await;
        let head = async |c: &Client, b: &str| {
            c.head_object().bucket(b).key(key).version_id(version).checksum_mode("ENABLED".into()).send().await.unwrap()
        };
        let (a, b) = (head(&s3, &src).await, head(&d3, &dst).await);
        assert_eq!(b.replication_status(), Some(&ReplicationStatus::Replica), "{key}");
        assert_eq!(
            (a.e_tag(), a.last_modified(), a.content_length(), a.checksum_crc32(), a.checksum_crc32_c()),
            (b.e_tag(), b.last_modified(), b.content_length(), b.checksum_crc32(), b.checksum_crc32_c()),
            "{key}"
        );
        assert_eq!(
            (
                a.checksum_type(),
                a.object_lock_mode(),
                a.object_lock_retain_until_date(),
                a.object_lock_legal_hold_status()
            ),
            (
                b.checksum_type(),
                b.object_lock_mode(),
                b.object_lock_retain_until_date(),
                b.object_lock_legal_hold_status()
            ),
            "{key}"
        );
        assert_eq!((a.content_type(), a.metadata()), (b.content_type(), b.metadata()), "{key}");
        assert!(body(&d3, &dst, key, version).await == bytes, "{key}: bytes differ");
        // Sent as an upload, not one PUT: its requests are in the destination's trail, made
        // by the replicator's key.
        let complete = records(&dst_srv, "CompleteMultipartUpload", key);
        assert_eq!(complete.len(), 1, "{key}: {complete:?}");
        assert_eq!(complete[0]["version_id"], version.as_str());
        assert_eq!(complete[0]["access_key"], replicator.0.as_str());
        let expected_parts = bytes.len().div_ceil(5 * MIB);
        assert_eq!(records(&dst_srv, "UploadPart", key).len(), expected_parts, "{key}");
        assert_eq!(records(&dst_srv, "CreateMultipartUpload", key).len(), 1, "{key}");
        // The one PUT is the lock-and-tags update sent first, answered "no such version".
        let puts = records(&dst_srv, "PutObject", key);
        assert_eq!(puts.len(), 1, "{key}: {puts:?}");
        assert_eq!((&puts[0]["status"], &puts[0]["code"]), (&404.into(), &"NoSuchVersion".into()), "{key}");
    }
    let head = d3.head_object().bucket(&dst).key("parts").version_id(&w).send().await.unwrap();
    assert!(head.e_tag().unwrap().ends_with("-2\""), "the source's ETag: {:?}", head.e_tag());
    let tags = d3.get_object_tagging().bucket(&dst).key("big").version_id(&v).send().await.unwrap();
    let mut tags: Vec<_> = tags.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    tags.sort();
    assert_eq!(tags, [("class".to_owned(), "gold".to_owned()), ("tier".to_owned(), "1".to_owned())]);
    assert!(uploads(&d3, &dst).await.is_empty(), "no upload left behind");
    // The replica is as locked as the source (COMPLIANCE and a hold: nobody deletes it).
    let e = d3.delete_object().bucket(&dst).key("big").version_id(&v).send().await.unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    // A lock change after the copy goes as the small update, not a second upload.
    s3.put_object_legal_hold()
        .bucket(&src)
        .key("big")
        .version_id(&v)
        .legal_hold(
            holdfast_testkit::aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_for("the hold lifted on the replica", Duration::from_secs(30), async || {
        let h = d3.get_object_legal_hold().bucket(&dst).key("big").version_id(&v).send().await.ok()?;
        (h.legal_hold()?.status() == Some(&ObjectLockLegalHoldStatus::Off)).then_some(())
    })
    .await;
    assert_eq!(records(&dst_srv, "CreateMultipartUpload", "big").len(), 1, "one upload, ever");
    let versions = d3.list_object_versions().bucket(&dst).send().await.unwrap();
    assert_eq!(versions.versions().len(), 2, "one replica per version");
}

/// Refusals are FAILED at once and leave no upload on the destination: a key without
/// s3:ReplicateObject (AccessDenied at the first request, nothing stored), a destination
/// bucket without Object Lock (W6 at CreateMultipartUpload), and parts the destination
/// refuses (EntityTooLarge: the upload it had opened is aborted).
#[tokio::test]
async fn x2_refused_replication_upload_fails_and_leaves_no_upload_behind() {
    // Parts of 5 MiB are above this destination's 4 MiB cap.
    let dst_srv = destination(4 * MIB);
    let d3 = dst_srv.client();
    let denied = lock_bucket(&d3, "rmpdeny").await;
    let unlocked = lock_bucket(&d3, "rmpnolock").await;
    let capped = lock_bucket(&d3, "rmpcap").await;
    let putter =
        user(&dst_srv, "putter", &denied, r#"["s3:PutObject","s3:PutObjectRetention","s3:AbortMultipartUpload"]"#)
            .await;
    let addr = dst_srv.addr.to_string();
    let root = (holdfast_testkit::ROOT_AK.to_owned(), holdfast_testkit::ROOT_SK.to_owned());
    let src_srv = source(&[("dr", &addr, &root), ("put", &addr, &putter)], 30_000);
    let s3 = src_srv.client();
    let mut written = Vec::new();
    for (tag, target, dest) in [("rmpsa", "put", &denied), ("rmpsb", "dr", &unlocked), ("rmpsc", "dr", &capped)] {
        let src = lock_bucket(&s3, tag).await;
        replicate(&s3, &src, target, dest).await;
        written.push((src, dest.clone()));
    }
    // The destination loses its Object Lock after the rule was stored: deleted, made again
    // without it (AWS's DstBucketObjectLockConfigMissing).
    d3.delete_bucket().bucket(&unlocked).send().await.unwrap();
    d3.create_bucket().bucket(&unlocked).send().await.unwrap();
    holdfast_testkit::enable_versioning(&d3, &unlocked).await;

    let data = payload(11 * MIB, 5);
    for (src, dst) in &written {
        let out = s3
            .put_object()
            .bucket(src)
            .key("big")
            .body(ByteStream::from(data.clone()))
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(in_secs(3600))
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .send()
            .await
            .unwrap();
        let v = out.version_id().unwrap().to_owned();
        wait_status(&s3, src, "big", &v, ReplicationStatus::Failed).await;
        assert!(uploads(&d3, dst).await.is_empty(), "{dst}: no upload left");
        let listed = d3.list_object_versions().bucket(dst).send().await.unwrap();
        assert!(listed.versions().is_empty(), "{dst}: nothing stored");
    }
    // What each refusal was: the first request of the denied key (its lock-and-tags update);
    // no upload opened where Object Lock is missing; an upload opened, refused part, aborted.
    let denial = audit_records(&dst_srv.data_dir)
        .into_iter()
        .find(|r| r["bucket"] == denied.as_str() && r["access_key"] == putter.0.as_str())
        .expect("the denial's record");
    assert_eq!(denial["op"], "PutObject", "{denial:?}");
    let of_bucket = |b: &str, op: &str| {
        audit_records(&dst_srv.data_dir).into_iter().filter(|r| r["bucket"] == b && r["op"] == op).count()
    };
    assert_eq!(of_bucket(&denied, "CreateMultipartUpload"), 0);
    assert_eq!(of_bucket(&unlocked, "UploadPart"), 0);
    assert!(of_bucket(&capped, "CreateMultipartUpload") >= 1);
    assert_eq!(of_bucket(&capped, "CreateMultipartUpload"), of_bucket(&capped, "AbortMultipartUpload"));
}

/// The source killed (SIGKILL) while parts are on their way: after its restart the version
/// arrives exactly once (one replica, bytes equal); the upload the kill cut short is an
/// ordinary upload the destination's AbortMultipartUpload removes, the replica untouched.
#[tokio::test]
async fn x2_sigkill_of_the_source_mid_replication_upload_delivers_the_version_once() {
    let dst_srv = destination(8 * MIB);
    let d3 = dst_srv.client();
    let dst = lock_bucket(&d3, "rmpkdst").await;
    let root = (holdfast_testkit::ROOT_AK.to_owned(), holdfast_testkit::ROOT_SK.to_owned());
    let mut src_srv = source(&[("dr", &dst_srv.addr.to_string(), &root)], 3_000);
    let s3 = src_srv.client();
    let src = lock_bucket(&s3, "rmpksrc").await;
    replicate(&s3, &src, "dr", &dst).await;
    let data = payload(64 * MIB + 9, 3);
    let out = s3
        .put_object()
        .bucket(&src)
        .key("big")
        .body(ByteStream::from(data.clone()))
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_secs(3600))
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    let v = out.version_id().unwrap().to_owned();
    // Wait until the destination holds a part of the upload, then kill the source.
    wait_for("a part on the destination", Duration::from_secs(60), async || {
        let id = uploads(&d3, &dst).await.into_iter().next()?;
        let parts = d3.list_parts().bucket(&dst).key("big").upload_id(&id).send().await.ok()?;
        (!parts.parts().is_empty()).then_some(())
    })
    .await;
    src_srv.kill();
    let cut = uploads(&d3, &dst).await;
    assert_eq!(cut.len(), 1, "the kill cut an upload short");
    src_srv.start_again();
    let s3 = src_srv.client();
    wait_for("COMPLETED after the restart", Duration::from_secs(120), async || {
        (status(&s3, &src, "big", &v).await == Some(ReplicationStatus::Completed)).then_some(())
    })
    .await;
    let versions = d3.list_object_versions().bucket(&dst).send().await.unwrap();
    let ids: Vec<_> = versions.versions().iter().map(|x| x.version_id().unwrap().to_owned()).collect();
    assert_eq!(ids, std::slice::from_ref(&v), "one replica, under the source's id");
    // What the kill left: the upload it cut short, which a plain abort removes.
    let left = uploads(&d3, &dst).await;
    assert_eq!(left, cut, "only the upload the kill cut short");
    for id in &left {
        d3.abort_multipart_upload().bucket(&dst).key("big").upload_id(id).send().await.unwrap();
    }
    assert!(uploads(&d3, &dst).await.is_empty());
    assert!(body(&d3, &dst, "big", &v).await == data, "bytes differ");
    let a = s3.head_object().bucket(&src).key("big").version_id(&v).checksum_mode("ENABLED".into()).send().await;
    let b = d3.head_object().bucket(&dst).key("big").version_id(&v).checksum_mode("ENABLED".into()).send().await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.e_tag(), a.checksum_crc32()), (b.e_tag(), b.checksum_crc32()));
    assert_eq!(b.object_lock_mode(), Some(&ObjectLockMode::Compliance));
}

/// A replication upload and a client's upload stay apart: a client's UploadPart or
/// CompleteMultipartUpload on a replication upload is refused (400 InvalidRequest), a
/// replication request on a client's upload is denied (403), and a client's plain
/// AbortMultipartUpload removes a replication upload (the cleanup after a source's crash).
#[tokio::test]
async fn x2_replication_uploads_and_client_uploads_stay_apart() {
    let srv = destination(8 * MIB);
    let s3 = srv.client();
    let b = lock_bucket(&s3, "rmpsep").await;
    let addr = srv.addr.to_string();
    let (ak, sk) = (holdfast_testkit::ROOT_AK, holdfast_testkit::ROOT_SK);
    let source_version = "01a24e6bccbb70b28b2093ea57dea902";
    let replication = [
        ("x-holdfast-replication-source-version-id", source_version),
        ("x-holdfast-replication-last-modified", "1796612368849"),
        ("x-holdfast-replication-etag", "0123456789abcdef0123456789abcdef-2"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    let create =
        signed_request(&addr, "POST", &format!("/{b}/k?uploads="), &replication, &[], ak, sk, SystemTime::now());
    let created = raw_http(&addr, create).await.unwrap();
    assert_eq!(created.status, 200, "{}", created.text());
    let replica_upload = created.xml("UploadId").unwrap();
    let code = |e: &dyn holdfast_testkit::aws_sdk_s3::error::ProvideErrorMetadata| e.code().map(str::to_owned);
    let e = s3
        .upload_part()
        .bucket(&b)
        .key("k")
        .upload_id(&replica_upload)
        .part_number(1)
        .content_md5("9Mk4XxkC9zNLALm07NFk3g==")
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.raw_response().map(|r| r.status().as_u16()), code(&e)), (Some(400), Some("InvalidRequest".into())));
    let part = CompletedPart::builder().part_number(1).e_tag("\"x\"").build();
    let e = s3
        .complete_multipart_upload()
        .bucket(&b)
        .key("k")
        .upload_id(&replica_upload)
        .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!((e.raw_response().map(|r| r.status().as_u16()), code(&e)), (Some(400), Some("InvalidRequest".into())));

    let client_upload = s3.create_multipart_upload().bucket(&b).key("k").send().await.unwrap();
    let client_upload = client_upload.upload_id().unwrap();
    let mut headers = replication.to_vec();
    headers.push(("content-md5", "9Mk4XxkC9zNLALm07NFk3g=="));
    let path = format!("/{b}/k?partNumber=1&uploadId={client_upload}");
    let part = signed_request(&addr, "PUT", &path, &headers, b"part", ak, sk, SystemTime::now());
    let denied = raw_http(&addr, part).await.unwrap();
    assert_eq!((denied.status, denied.xml("Code").as_deref()), (403, Some("AccessDenied")));
    let parts = s3.list_parts().bucket(&b).key("k").upload_id(client_upload).send().await.unwrap();
    assert!(parts.parts().is_empty(), "nothing stored");

    s3.abort_multipart_upload().bucket(&b).key("k").upload_id(&replica_upload).send().await.unwrap();
    assert_eq!(uploads(&s3, &b).await, [client_upload.to_owned()]);
    assert!(s3.list_object_versions().bucket(&b).send().await.unwrap().versions().is_empty());
}
