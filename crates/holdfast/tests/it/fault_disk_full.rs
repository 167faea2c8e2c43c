//! A full disk is a state, not a crash. The data dir sits on a 64 MiB tmpfs
//! (mounted here: the tests need root, as CI has).
//!
//! - Filled through the API with inline (48 KiB) and blob-backed (1 MiB) objects, the server
//!   refuses new data with 507 InsufficientStorage once less than `[limits] min_free_bytes`
//!   would be left, before writing a byte (no temporary file, no blob for a refused write),
//!   and says so on the health endpoint and in the metrics; reads, lock changes and bucket
//!   configuration go on. Filled to 100% from outside (a filler file), deletes of inline and
//!   blob objects still answer 204 (the ballast gives SQLite room); once space returns,
//!   writes are accepted again without a restart.
//! - Without a reserve, writes on a 100% full disk fail inside the server (ENOSPC on a blob,
//!   SQLITE_FULL on the metadata commit): those callers get 507, the writer goes on, and the
//!   next writes after space returns commit.
//! - In both, the audit trail (on the same volume) ends with exactly one record per
//!   acknowledged change, none of a stored object for a refused write, and `holdfast admin
//!   audit verify` passes, also while the disk is full.
//!
//! With `HOLDFAST_TEST_META=postgres` every object is a blob file (PostgreSQL keeps no bytes)
//! and no ballast is kept; the reserve, the refusals and the recovery are the same.

use crate::evidence_support::{audit_records, holdfast, wait_for};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::error::ProvideErrorMetadata;
use holdfast_testkit::aws_sdk_s3::operation::RequestId;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, ObjectLockLegalHold, ObjectLockLegalHoldStatus,
    VersioningConfiguration,
};
use holdfast_testkit::{
    ROOT_AK, ROOT_SK, Server, ServerOptions, Tmpfs, bucket_name, error_code, meta_is_postgres, raw_http, signed_request,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
const RESERVE: u64 = 8 << 20;
const INLINE: usize = 48 << 10;
const BLOB: usize = 1 << 20;
/// The embedded store's inline limit (the default).
const INLINE_MAX: usize = 64 << 10;

/// Deterministic content for a key.
fn content(key: &str, len: usize) -> Vec<u8> {
    let mut x = key.bytes().fold(0x9E37_79B9_7F4A_7C15u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn server_on(fs: &Tmpfs, config_toml: &str) -> Server {
    Server::start_in(
        BIN,
        &fs.path().join("data"),
        ServerOptions { config_toml: config_toml.into(), ..Default::default() },
    )
}

enum Put {
    Stored { request_id: String },
    Refused { message: String, request_id: String },
}

/// A PUT that either succeeds or is refused with exactly 507 InsufficientStorage.
async fn put(s3: &Client, bucket: &str, key: &str, body: Vec<u8>) -> Put {
    match s3.put_object().bucket(bucket).key(key).body(ByteStream::from(body)).send().await {
        Ok(out) => Put::Stored { request_id: out.request_id().unwrap_or_default().to_owned() },
        Err(e) => {
            let (code, status) = error_code(&e);
            assert_eq!(
                (code.as_deref(), status),
                (Some("InsufficientStorage"), Some(507)),
                "{key}: a write may only be refused for space: {e:?}"
            );
            let request_id = e.raw_response().and_then(|r| r.headers().get("x-amz-request-id")).unwrap_or_default();
            Put::Refused { message: e.message().unwrap_or_default().to_owned(), request_id: request_id.to_owned() }
        }
    }
}

async fn read(s3: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("GET {key}: {e:?}"));
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn blob_files(data: &Path) -> usize {
    std::fs::read_dir(data.join("blobs")).unwrap().map(|d| files_in(&d.unwrap().path())).sum()
}

async fn get_raw(addr: &str, path: &str) -> holdfast_testkit::RawResponse {
    raw_http(addr, format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").into_bytes())
        .await
        .unwrap()
}

fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// What the test saw acknowledged and refused, to hold the audit trail against.
#[derive(Default)]
struct Trail {
    /// Request id → (operation, status) of every acknowledged change.
    changes: BTreeMap<String, (&'static str, u64)>,
    /// Request ids of writes refused for space.
    refused: Vec<String>,
}

impl Trail {
    fn changed(&mut self, request_id: String, op: &'static str, status: u64) {
        assert!(!request_id.is_empty());
        self.changes.insert(request_id, (op, status));
    }
}

fn verify(data: &Path) {
    let (ok, out, err) = holdfast(&["admin", "audit", "verify", "--data-dir", data.to_str().unwrap()]);
    assert!(ok, "audit verify: {out}{err}");
}

/// The trail holds exactly one record per acknowledged change of `bucket`, no record of a
/// stored object for a refused write (at most its refusal, 507), and verifies.
async fn check_trail(data: &Path, bucket: &str, trail: &Trail) {
    let records = wait_for("the trail to catch up", Duration::from_secs(30), async || {
        let records = audit_records(data);
        let ids: BTreeSet<&str> = records.iter().filter_map(|r| r["request_id"].as_str()).collect();
        trail.changes.keys().all(|id| ids.contains(id.as_str())).then_some(records)
    })
    .await;
    let mut by_id: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for r in &records {
        if let Some(id) = r["request_id"].as_str() {
            by_id.entry(id).or_default().push(r);
        }
    }
    for (id, (op, status)) in &trail.changes {
        let rs = &by_id[id.as_str()];
        assert_eq!(rs.len(), 1, "exactly one record for acknowledged request {id}: {rs:#?}");
        assert_eq!((rs[0]["op"].as_str(), rs[0]["status"].as_u64()), (Some(*op), Some(*status)), "{}", rs[0]);
    }
    for id in &trail.refused {
        for r in by_id.get(id.as_str()).into_iter().flatten() {
            assert_eq!(r["status"].as_u64(), Some(507), "a refused write is recorded as refused only: {r}");
            assert!(r["version_id"].is_null(), "no version for a refused write: {r}");
        }
    }
    let stored = records.iter().filter(|r| r["op"] == "PutObject" && r["status"] == 200 && r["bucket"] == bucket);
    for r in stored {
        let id = r["request_id"].as_str().unwrap_or_default();
        assert!(trail.changes.contains_key(id), "a stored-object record no acknowledged PUT made: {r}");
    }
    verify(data);
}

/// Objects whose bytes are a blob file (both stores keep smaller ones inline).
fn is_blob(len: usize) -> bool {
    len > INLINE_MAX
}

/// UploadPart of `body` as part `number` of `upload_id`.
async fn upload_part(
    s3: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    number: i32,
    body: Vec<u8>,
) -> Result<
    holdfast_testkit::aws_sdk_s3::operation::upload_part::UploadPartOutput,
    holdfast_testkit::aws_sdk_s3::error::SdkError<
        holdfast_testkit::aws_sdk_s3::operation::upload_part::UploadPartError,
    >,
> {
    s3.upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(number)
        .body(ByteStream::from(body))
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_data_with_507_and_keeps_reads_deletes_and_lock_changes() {
    let fs = Tmpfs::mount("64m");
    // Taken before the fill and given back at the end: "space returns".
    let headroom = fs.occupy("headroom", 16 << 20);
    let srv = server_on(&fs, &format!("[limits]\nmin_free_bytes = {RESERVE}\n"));
    let data = srv.data_dir.clone();
    let s3 = srv.client();
    let bucket = bucket_name("full");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let locked = bucket_name("full-lock");
    s3.create_bucket().bucket(&locked).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let held = s3.put_object().bucket(&locked).key("held").body(ByteStream::from(b"evidence".to_vec())).send().await;
    let held_version = held.unwrap().version_id().unwrap().to_owned();
    let config_bucket = bucket_name("full-cfg");
    s3.create_bucket().bucket(&config_bucket).send().await.unwrap();

    // A multipart upload begun before the disk fills, with its first part.
    let upload = s3.create_multipart_upload().bucket(&bucket).key("mpu-early").send().await.unwrap();
    let upload_id = upload.upload_id().unwrap().to_owned();
    let part_body = content("mpu-early/1", 100 << 10);
    let part = upload_part(&s3, &bucket, "mpu-early", &upload_id, 1, part_body.clone()).await.unwrap();
    let completed = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
        .build();

    // Fill through the API, alternating inline and blob-backed objects, until even an inline
    // object is refused. Bounded in count and time.
    let mut acked: BTreeMap<String, usize> = BTreeMap::new();
    let mut trail = Trail::default();
    let mut refused = Vec::new();
    let started = Instant::now();
    for i in 0..400 {
        assert!(started.elapsed() < Duration::from_secs(120), "filling took too long");
        let len = if i % 2 == 0 { BLOB } else { INLINE + i };
        let key = format!("obj-{i:03}");
        match put(&s3, &bucket, &key, content(&key, len)).await {
            Put::Stored { request_id } => {
                trail.changed(request_id, "PutObject", 200);
                acked.insert(key, len);
            }
            Put::Refused { message, request_id } => {
                trail.refused.push(request_id);
                refused.push((len, message));
                // Done once an inline object is refused after a blob was. A blob may leave
                // less than an inline object above the reserve, refusing an inline one first:
                // then the next blob is refused too, and the inline one after it.
                if len < BLOB && refused.iter().any(|(l, _)| *l == BLOB) {
                    break;
                }
                if len == BLOB && meta_is_postgres() && !std::fs::exists(fs.path().join("rest")).unwrap() {
                    // Inline bytes live in PostgreSQL, not on this volume: the inline objects
                    // stopped filling it. Something else takes it down to 32 KiB above the
                    // reserve, so that the next object (48 KiB) is refused.
                    let st = rustix::fs::statvfs(fs.path()).unwrap();
                    let free = usize::try_from(st.f_bavail * st.f_frsize).unwrap();
                    let reserve = usize::try_from(RESERVE).unwrap();
                    fs.occupy("rest", free.saturating_sub(reserve + (32 << 10)));
                }
            }
        }
    }
    assert!(refused.iter().any(|(l, _)| *l == BLOB), "a 1 MiB object was refused: {refused:?}");
    assert!(refused.iter().any(|(l, _)| *l < BLOB), "the fill ended with an inline object refused: {refused:?}");
    assert!(acked.len() > 20, "the volume took {} objects before the reserve", acked.len());
    for (_, message) in &refused {
        assert!(message.contains("bytes") && message.contains("free"), "{message}");
        assert!(message.contains(&format!("{RESERVE} bytes")), "the message names the reserve: {message}");
    }
    // Refused before any byte was written: no temporary, no blob beyond the acknowledged ones.
    assert_eq!(files_in(&data.join("tmp")), 0, "a refused write left a temporary file");
    // Plus the upload's part.
    let blobs_acked = acked.values().filter(|l| is_blob(**l)).count() + 1;
    assert_eq!(blob_files(&data), blobs_acked, "one blob file per acknowledged blob object, none for refused writes");
    // The server's own writes stop within one object of the reserve (a 48 KiB object was
    // refused), so free space may still be just above it; another process takes 64 KiB more,
    // and the volume is below the reserve: "disk low".
    let _nibble = fs.occupy("nibble", 64 << 10);
    // The other new-data operations are refused too, even those that bring no bytes.
    let (first, _) = acked.first_key_value().unwrap();
    let copy = s3.copy_object().bucket(&bucket).key("copy").copy_source(format!("{bucket}/{first}")).send().await;
    assert_eq!(error_code(&copy.unwrap_err()), (Some("InsufficientStorage".into()), Some(507)));
    let mpu = s3.create_multipart_upload().bucket(&bucket).key("mpu").send().await;
    assert_eq!(error_code(&mpu.unwrap_err()), (Some("InsufficientStorage".into()), Some(507)));
    let part2 = upload_part(&s3, &bucket, "mpu-early", &upload_id, 2, content("part2", 10)).await;
    assert_eq!(error_code(&part2.unwrap_err()), (Some("InsufficientStorage".into()), Some(507)));
    let part3 = s3
        .upload_part_copy()
        .bucket(&bucket)
        .key("mpu-early")
        .upload_id(&upload_id)
        .part_number(3)
        .copy_source(format!("{bucket}/{first}"))
        .send()
        .await;
    assert_eq!(error_code(&part3.unwrap_err()), (Some("InsufficientStorage".into()), Some(507)));
    let complete = s3
        .complete_multipart_upload()
        .bucket(&bucket)
        .key("mpu-early")
        .upload_id(&upload_id)
        .multipart_upload(completed.clone())
        .send()
        .await;
    assert_eq!(error_code(&complete.unwrap_err()), (Some("InsufficientStorage".into()), Some(507)));
    assert_eq!(files_in(&data.join("tmp")), 0, "a refused part left a temporary file");

    // On the wire: 507 and the code, also for a client that announced its body with
    // `Expect: 100-continue` (the connection then closes after the answer, so a body sent
    // anyway is never taken for the next request).
    for expect in [&[][..], &[("expect", "100-continue")][..]] {
        let body = content("raw", 1000);
        let req = signed_request(
            &srv.addr,
            "PUT",
            &format!("/{bucket}/raw"),
            expect,
            &body,
            ROOT_AK,
            ROOT_SK,
            SystemTime::now(),
        );
        let raw = raw_http(&srv.addr, req).await.unwrap();
        if expect.is_empty() {
            assert_eq!((raw.status, raw.xml("Code").as_deref()), (507, Some("InsufficientStorage")), "{}", raw.text());
        } else {
            // The body was read (and dropped) after an interim 100 Continue; then the answer.
            let answer = raw.text();
            assert_eq!(raw.status, 100, "{answer}");
            assert!(answer.starts_with("HTTP/1.1 507 "), "{answer}");
            assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
            assert!(answer.contains("<Code>InsufficientStorage</Code>"), "{answer}");
        }
    }

    // Health stays 200 and says the disk is low; the gauges agree.
    let health = get_raw(&srv.addr, "/_holdfast/health").await;
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(health.header("x-holdfast-disk"), Some("low"));
    assert!(health.text().contains("disk low"), "{}", health.text());
    let metrics = get_raw(&srv.addr, "/_holdfast/metrics").await.text();
    assert_eq!(gauge(&metrics, "holdfast_disk_low"), Some(1.0), "{metrics}");
    assert_eq!(gauge(&metrics, "holdfast_disk_reserve_bytes"), Some(RESERVE as f64));
    assert!(gauge(&metrics, "holdfast_disk_free_bytes").is_some_and(|f| f < RESERVE as f64 + BLOB as f64));

    // Reads, lock changes and bucket configuration work from the reserve.
    for (key, len) in &acked {
        assert_eq!(read(&s3, &bucket, key).await, content(key, *len), "{key} reads back byte-identical");
    }
    for status in [ObjectLockLegalHoldStatus::On, ObjectLockLegalHoldStatus::Off] {
        s3.put_object_legal_hold()
            .bucket(&locked)
            .key("held")
            .version_id(&held_version)
            .legal_hold(ObjectLockLegalHold::builder().status(status).build())
            .send()
            .await
            .expect("a legal-hold change on a low disk");
    }
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning()
        .bucket(&config_bucket)
        .versioning_configuration(enabled)
        .send()
        .await
        .expect("bucket configuration on a low disk");

    // Filled to 100% from outside: deletes of inline and blob objects still commit.
    let filler = fs.fill("filler");
    match put(&s3, &bucket, "while-full", content("x", 10)).await {
        Put::Refused { request_id, .. } => trail.refused.push(request_id),
        Put::Stored { .. } => panic!("a PUT on a 100% full volume was stored"),
    }
    // Half of the objects, inline and blob-backed alike (keys alternate between the two).
    let doomed: Vec<(String, usize)> =
        acked.iter().enumerate().filter(|(n, _)| n % 4 < 2).map(|(_, (k, l))| (k.clone(), *l)).collect();
    assert!(doomed.len() > 10 && doomed.iter().any(|(_, l)| *l == BLOB) && doomed.iter().any(|(_, l)| *l < BLOB));
    for (key, len) in &doomed {
        let out = s3.delete_object().bucket(&bucket).key(key).send().await;
        let out = out.unwrap_or_else(|e| panic!("DELETE {key} ({len} bytes) on a full disk: {e:?}"));
        trail.changed(out.request_id().unwrap().to_owned(), "DeleteObject", 204);
        acked.remove(key);
    }
    for (key, _) in &doomed {
        let err = s3.head_object().bucket(&bucket).key(key).send().await.unwrap_err();
        assert_eq!(error_code(&err).1, Some(404), "{key} is gone");
    }
    // No false alarm from the trail while the disk is full.
    verify(&data);

    // Space returns: writes are accepted again, without a restart.
    std::fs::remove_file(&filler).unwrap();
    std::fs::remove_file(&headroom).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..6 {
        let key = format!("after-{i}");
        let len = if i % 2 == 0 { BLOB } else { INLINE };
        loop {
            match put(&s3, &bucket, &key, content(&key, len)).await {
                Put::Stored { request_id } => {
                    trail.changed(request_id, "PutObject", 200);
                    break;
                }
                // The ballast is made again first (every 2 s), then writes pass.
                Put::Refused { request_id, .. } if Instant::now() < deadline => {
                    trail.refused.push(request_id);
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Put::Refused { message, .. } => panic!("writes did not resume after space returned: {message}"),
            }
        }
        acked.insert(key, len);
    }
    for (key, len) in &acked {
        assert_eq!(read(&s3, &bucket, key).await, content(key, *len), "{key} reads back byte-identical");
    }
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("mpu-early")
        .upload_id(&upload_id)
        .multipart_upload(completed)
        .send()
        .await
        .expect("the upload refused while low completes once space is back");
    assert_eq!(read(&s3, &bucket, "mpu-early").await, part_body);
    let health = get_raw(&srv.addr, "/_holdfast/health").await;
    assert_eq!((health.status, health.header("x-holdfast-disk")), (200, Some("ok")), "{}", health.text());
    check_trail(&data, &bucket, &trail).await;
    if !meta_is_postgres() {
        let ballast = data.join("space-ballast");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ballast.exists() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(std::fs::metadata(&ballast).map(|m| m.len()).ok(), Some(RESERVE / 4), "the ballast is back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_that_fail_on_a_full_disk_do_not_stop_the_server() {
    let fs = Tmpfs::mount("64m");
    // No reserve: nothing stops a write before the volume itself refuses it.
    let srv = server_on(&fs, "[limits]\nmin_free_bytes = 0\n");
    let data = srv.data_dir.clone();
    let s3 = srv.client();
    let bucket = bucket_name("enospc");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let mut acked: BTreeMap<String, usize> = BTreeMap::new();
    let mut trail = Trail::default();
    for i in 0..4 {
        let key = format!("before-{i}");
        match put(&s3, &bucket, &key, content(&key, INLINE)).await {
            Put::Stored { request_id } => trail.changed(request_id, "PutObject", 200),
            Put::Refused { message, .. } => panic!("{key} refused on an empty volume: {message}"),
        }
        acked.insert(key, INLINE);
    }
    let filler = fs.fill("filler");
    // Concurrent writes (batched together by the metadata writer) on the full volume: each
    // is stored or refused with 507, and at least one is refused.
    let mut refused = 0;
    let mut failed_commits = 0;
    for round in 0..3 {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (s3, bucket) = (s3.clone(), bucket.clone());
                let key = format!("full-{round}-{i}");
                let len = if i % 4 == 0 { BLOB } else { INLINE + i };
                tokio::spawn(async move {
                    let outcome = put(&s3, &bucket, &key, content(&key, len)).await;
                    (key, len, outcome)
                })
            })
            .collect();
        for t in tasks {
            match t.await.unwrap() {
                (key, len, Put::Stored { request_id }) => {
                    trail.changed(request_id, "PutObject", 200);
                    acked.insert(key, len);
                }
                (_, len, Put::Refused { request_id, .. }) => {
                    trail.refused.push(request_id);
                    refused += 1;
                    if !is_blob(len) {
                        failed_commits += 1;
                    }
                }
            }
        }
    }
    assert!(refused > 0, "a write on a 100% full volume was refused");
    // An inline object touches the volume only in its metadata commit: each such refusal is
    // a batch whose COMMIT failed (SQLITE_FULL; the server logs "metadata commit failed").
    if !meta_is_postgres() {
        assert!(failed_commits > 0, "no metadata commit failed: the test did not test the writer");
    }
    assert_eq!(files_in(&data.join("tmp")), 0, "a write that failed for space left a temporary file");
    for (key, len) in &acked {
        assert_eq!(read(&s3, &bucket, key).await, content(key, *len), "{key}");
    }

    // Space returns: the next writes commit (the metadata writer did not stop).
    std::fs::remove_file(&filler).unwrap();
    for i in 0..6 {
        let key = format!("after-{i}");
        let len = if i % 3 == 0 { BLOB } else { INLINE };
        match put(&s3, &bucket, &key, content(&key, len)).await {
            Put::Stored { request_id } => {
                trail.changed(request_id, "PutObject", 200);
                acked.insert(key, len);
            }
            Put::Refused { message, .. } => panic!("{key} refused after space returned: {message}"),
        }
    }
    let del = s3.delete_object().bucket(&bucket).key("before-0").send().await;
    trail.changed(del.expect("a delete after the failures").request_id().unwrap().to_owned(), "DeleteObject", 204);
    acked.remove("before-0");
    for (key, len) in &acked {
        assert_eq!(read(&s3, &bucket, key).await, content(key, *len), "{key}");
    }
    // The trail (on the same full volume) caught up: one record per acknowledged change.
    check_trail(&data, &bucket, &trail).await;
}

/// The trail's anchors are the server's own evidence: like the trail they are written from
/// the reserve, on a disk where every client write is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_anchors_are_written_below_the_reserve() {
    let anchor_bucket = bucket_name("full-anchors");
    // A reserve larger than any volume: the disk is "low" from the start.
    let toml = format!(
        "[limits]\nmin_free_bytes = 1000000000000000000\n[audit]\nanchor_bucket = \"{anchor_bucket}\"\nanchor_interval_secs = 0.2\n"
    );
    let srv = Server::start_with(BIN, ServerOptions { config_toml: toml, ..Default::default() });
    let s3 = srv.client();
    s3.create_bucket().bucket(&anchor_bucket).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let bucket = bucket_name("full-anchored");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    assert!(matches!(put(&s3, &bucket, "refused", content("refused", 100)).await, Put::Refused { .. }));
    let anchors = wait_for("an anchor while the disk is low", Duration::from_secs(20), async || {
        let out = s3.list_object_versions().bucket(&anchor_bucket).send().await.unwrap();
        let n = out.versions().len();
        (n > 0).then_some(n)
    })
    .await;
    assert!(anchors > 0);
    let health = get_raw(&srv.addr, "/_holdfast/health").await;
    assert_eq!((health.status, health.header("x-holdfast-disk")), (200, Some("low")), "{}", health.text());
}

/// A large PUT and an UploadPart that run out of space midway: their bytes go through the
/// writer thread (#17: direct writes of whole chunks; tmpfs takes `O_DIRECT`), the volume
/// refuses a write there (ENOSPC after 24 MiB were written), and the caller gets the same
/// 507 as a write refused at once, with no temporary file, no blob, no version and no part
/// left. Space returns: the same writes succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_write_that_runs_out_of_space_midway_leaves_nothing() {
    const LARGE: usize = 40 << 20;
    let fs = Tmpfs::mount("96m");
    let srv = server_on(&fs, "[limits]\nmin_free_bytes = 0\n");
    let data = srv.data_dir.clone();
    let s3 = srv.client();
    let bucket = bucket_name("enospc-large");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let blobs_before = blob_files(&data);
    // Leave about 24 MiB free: the writes fail midway, past 16 MiB.
    let st = rustix::fs::statvfs(fs.path()).unwrap();
    let free = usize::try_from(st.f_bavail * st.f_frsize).unwrap();
    let occupier = fs.occupy("occupier", free - (24 << 20));
    let body = content("large", LARGE);
    match put(&s3, &bucket, "large", body.clone()).await {
        Put::Refused { .. } => {}
        Put::Stored { .. } => panic!("a 40 MiB PUT was stored on a volume with 24 MiB free"),
    }
    let up = s3.create_multipart_upload().bucket(&bucket).key("parts").send().await.unwrap();
    let upload_id = up.upload_id().unwrap().to_owned();
    let part = upload_part(&s3, &bucket, "parts", &upload_id, 1, body.clone()).await;
    let e = part.expect_err("a 40 MiB part was stored on a volume with 24 MiB free");
    assert_eq!(error_code(&e), (Some("InsufficientStorage".into()), Some(507)), "{e:?}");
    assert_eq!(files_in(&data.join("tmp")), 0, "a write that ran out of space left a temporary file");
    assert_eq!(blob_files(&data), blobs_before, "a write that ran out of space left a blob");
    let head = s3.head_object().bucket(&bucket).key("large").send().await;
    assert_eq!(head.expect_err("no version").raw_response().map(|r| r.status().as_u16()), Some(404));
    let parts = s3.list_parts().bucket(&bucket).key("parts").upload_id(&upload_id).send().await.unwrap();
    assert!(parts.parts().is_empty(), "no part recorded: {:?}", parts.parts());

    // Space returns: the same writes go through and read back.
    std::fs::remove_file(&occupier).unwrap();
    assert!(matches!(put(&s3, &bucket, "large", body.clone()).await, Put::Stored { .. }));
    assert!(read(&s3, &bucket, "large").await == body, "the large object reads back");
    let part = upload_part(&s3, &bucket, "parts", &upload_id, 1, body.clone())
        .await
        .expect("the part is stored once space returned");
    let done = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).set_e_tag(part.e_tag().map(str::to_owned)).build())
        .build();
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("parts")
        .upload_id(&upload_id)
        .multipart_upload(done)
        .send()
        .await
        .unwrap();
    assert!(read(&s3, &bucket, "parts").await == body, "the multipart object reads back");
    assert_eq!(files_in(&data.join("tmp")), 0);
}

/// Far above the reserve an admission may reuse a reading of the volume for 50 ms instead
/// of reading it again (#17): a volume then filled from outside, to 100%, still refuses the
/// next PUT once that time has passed, and takes writes again once space returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_filled_from_far_above_the_reserve_refuses_the_next_put() {
    // Far above: 160 MiB free against an 8 MiB reserve (reuse needs 64 MiB above it).
    let fs = Tmpfs::mount("160m");
    let srv = server_on(&fs, &format!("[limits]\nmin_free_bytes = {RESERVE}\n"));
    let s3 = srv.client();
    let bucket = bucket_name("full-far");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for i in 0..20 {
        let key = format!("small-{i}");
        if let Put::Refused { message, .. } = put(&s3, &bucket, &key, content(&key, 4096)).await {
            panic!("{key} refused far above the reserve: {message}");
        }
    }
    let filler = fs.fill("filler");
    // The reuse's bound (50 ms), twice over.
    tokio::time::sleep(Duration::from_millis(100)).await;
    for i in 0..3 {
        let key = format!("after-fill-{i}");
        match put(&s3, &bucket, &key, content(&key, 4096)).await {
            Put::Refused { message, .. } => {
                assert!(message.contains(&format!("{RESERVE} bytes")), "the message names the reserve: {message}")
            }
            Put::Stored { .. } => panic!("{key} was stored on a volume filled to 100%"),
        }
        let err = s3.head_object().bucket(&bucket).key(&key).send().await.unwrap_err();
        assert_eq!(error_code(&err).1, Some(404), "{key} refused: nothing stored");
    }
    std::fs::remove_file(&filler).unwrap();
    let key = "after-space-returned";
    match put(&s3, &bucket, key, content(key, 4096)).await {
        Put::Stored { .. } => assert_eq!(read(&s3, &bucket, key).await, content(key, 4096)),
        Put::Refused { message, .. } => panic!("refused after space returned: {message}"),
    }
}
