//! Scale-out: three `holdfast serve` processes on one PostgreSQL database and one
//! blob directory, raced against each other through the AWS SDK. Every loop is bounded.
//!
//! - PutObjectRetention (shorten with bypass, extend, raise to COMPLIANCE) on one gateway
//!   against DeleteObject with bypass on another: a version is never removed once COMPLIANCE
//!   held it, and every gateway agrees on the outcome.
//! - `If-None-Match: *` PUTs of one key on all gateways: exactly one wins.
//! - Concurrent writes of one key: every gateway lists the same versions in the same order.
//! - SIGKILL of one gateway mid-load: no acknowledged write is lost, the others keep serving,
//!   and the restarted gateway's orphan sweep leaves the others' fresh blobs alone.
//! - Start-up refusals: an unreachable database, a schema newer than the build.

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::{ByteStream, DateTime};
use holdfast_testkit::aws_sdk_s3::types::{
    BucketVersioningStatus, ObjectLockRetention, ObjectLockRetentionMode, VersioningConfiguration,
};
use holdfast_testkit::{Postgres, Server, ServerOptions, bucket_name, error_code};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

/// Gateways sharing a fresh database and one data (blob) directory.
struct Cluster {
    gateways: Vec<Server>,
    data: PathBuf,
    url: String,
    _dir: tempfile::TempDir,
}

fn options(url: &str) -> ServerOptions {
    ServerOptions {
        config_toml: format!("[meta]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 8\n"),
        ..Default::default()
    }
}

impl Cluster {
    fn start(n: usize) -> Self {
        let url = Postgres::shared().fresh_database();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let gateways = (0..n).map(|_| Server::start_in(BIN, &data, options(&url))).collect();
        Self { gateways, data, url, _dir: dir }
    }

    fn clients(&self) -> Vec<Client> {
        self.gateways.iter().map(Server::client).collect()
    }
}

async fn versioned_bucket(s3: &Client, lock: bool) -> String {
    let bucket = bucket_name("scale");
    s3.create_bucket().bucket(&bucket).object_lock_enabled_for_bucket(lock).send().await.unwrap();
    if !lock {
        s3.put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(
                VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build(),
            )
            .send()
            .await
            .unwrap();
    }
    bucket
}

fn in_ms(ms: i64) -> DateTime {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    DateTime::from_millis(now + ms)
}

fn retention(mode: ObjectLockRetentionMode, ms: i64) -> ObjectLockRetention {
    ObjectLockRetention::builder().mode(mode).retain_until_date(in_ms(ms)).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_changes_race_bypass_deletes_across_gateways() {
    let c = Cluster::start(3);
    let s3 = c.clients();
    let bucket = versioned_bucket(&s3[0], true).await;
    let (mut removed, mut kept) = (0, 0);
    for round in 0..24usize {
        let key = format!("k{round}");
        let put = s3[round % 3]
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .object_lock_mode(ObjectLockRetentionMode::Governance.as_str().into())
            .object_lock_retain_until_date(in_ms(3_600_000))
            .body(ByteStream::from_static(b"guarded"))
            .send()
            .await
            .unwrap();
        let vid = put.version_id().unwrap().to_owned();
        // Shorten with bypass, extend, or raise to COMPLIANCE — on one gateway — while
        // another deletes the version with bypass.
        let (mode, ms) = match round % 3 {
            0 => (ObjectLockRetentionMode::Governance, 60_000),
            1 => (ObjectLockRetentionMode::Governance, 7_200_000),
            _ => (ObjectLockRetentionMode::Compliance, 3_600_000),
        };
        let change = {
            let (s3, bucket, key, vid) = (s3[(round + 1) % 3].clone(), bucket.clone(), key.clone(), vid.clone());
            tokio::spawn(async move {
                s3.put_object_retention()
                    .bucket(bucket)
                    .key(key)
                    .version_id(vid)
                    .bypass_governance_retention(true)
                    .retention(retention(mode, ms))
                    .send()
                    .await
            })
        };
        let delete = {
            let (s3, bucket, key, vid) = (s3[(round + 2) % 3].clone(), bucket.clone(), key.clone(), vid.clone());
            tokio::spawn(async move {
                s3.delete_object()
                    .bucket(bucket)
                    .key(key)
                    .version_id(vid)
                    .bypass_governance_retention(true)
                    .send()
                    .await
            })
        };
        let (changed, deleted) = (change.await.unwrap(), delete.await.unwrap());
        let compliance = round % 3 == 2;
        match &deleted {
            Ok(_) => {
                removed += 1;
                // The change either ran before (and allowed it: not COMPLIANCE) or found nothing.
                if changed.is_ok() {
                    assert!(!compliance, "round {round}: a COMPLIANCE version was deleted after the change");
                }
            }
            Err(e) => {
                kept += 1;
                assert_eq!(error_code(e), (Some("AccessDenied".into()), Some(403)), "round {round}");
                assert!(compliance && changed.is_ok(), "round {round}: only COMPLIANCE refuses a bypass delete");
            }
        }
        // Every gateway sees the same outcome.
        for g in &s3 {
            let head = g.head_object().bucket(&bucket).key(&key).version_id(&vid).send().await;
            match (&deleted, head) {
                (Ok(_), Err(e)) => assert_eq!(error_code(&e).1, Some(404), "round {round}"),
                (Err(_), Ok(h)) => assert_eq!(h.object_lock_mode().map(|m| m.as_str()), Some("COMPLIANCE")),
                (d, h) => panic!("round {round}: delete {:?}, head {:?}", d.is_ok(), h.is_ok()),
            }
        }
    }
    eprintln!("retention/delete races: {removed} removed, {kept} kept under COMPLIANCE");
    assert!(kept > 0 || removed == 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_none_match_puts_of_one_key_have_exactly_one_winner() {
    let c = Cluster::start(3);
    let s3 = c.clients();
    let bucket = versioned_bucket(&s3[0], false).await;
    for round in 0..6 {
        let key = format!("once-{round}");
        let tasks: Vec<_> = (0..9)
            .map(|i| {
                let (s3, bucket, key) = (s3[i % 3].clone(), bucket.clone(), key.clone());
                tokio::spawn(async move {
                    let body = format!("writer {i}");
                    let r = s3
                        .put_object()
                        .bucket(bucket)
                        .key(key)
                        .if_none_match("*")
                        .body(ByteStream::from(body.clone().into_bytes()))
                        .send()
                        .await;
                    (body, r)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            let (body, r) = t.await.unwrap();
            match r {
                Ok(_) => winners.push(body),
                Err(e) => {
                    let (code, status) = error_code(&e);
                    assert!(matches!(status, Some(412 | 409)), "round {round}: loser answered {code:?} {status:?}");
                }
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: exactly one conditional create wins: {winners:?}");
        for g in &s3 {
            let got = g.get_object().bucket(&bucket).key(&key).send().await.unwrap();
            assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), winners[0].as_bytes());
            let versions = g.list_object_versions().bucket(&bucket).prefix(&key).send().await.unwrap();
            assert_eq!(versions.versions().len(), 1, "round {round}: losers left no version");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_of_one_key_are_ordered_the_same_on_every_gateway() {
    let c = Cluster::start(3);
    let s3 = c.clients();
    let bucket = versioned_bucket(&s3[0], false).await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (s3, bucket) = (s3[i % 3].clone(), bucket.clone());
            tokio::spawn(async move {
                let r = s3
                    .put_object()
                    .bucket(bucket)
                    .key("hot")
                    .body(ByteStream::from(format!("v{i}").into_bytes()))
                    .send()
                    .await
                    .unwrap();
                r.version_id().unwrap().to_owned()
            })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    let mut orders = Vec::new();
    for g in &s3 {
        let page = g.list_object_versions().bucket(&bucket).prefix("hot").send().await.unwrap();
        let ids: Vec<String> = page.versions().iter().map(|v| v.version_id().unwrap().to_owned()).collect();
        assert_eq!(page.versions().iter().filter(|v| v.is_latest() == Some(true)).count(), 1);
        assert_eq!(page.versions()[0].is_latest(), Some(true));
        let latest = g.get_object().bucket(&bucket).key("hot").send().await.unwrap();
        assert_eq!(latest.version_id(), Some(ids[0].as_str()), "GET returns the newest listed version");
        orders.push(ids);
    }
    assert_eq!(orders[0].len(), 30);
    assert!(acked.iter().all(|v| orders[0].contains(v)), "every acknowledged version is listed");
    assert_eq!(orders[0], orders[1]);
    assert_eq!(orders[1], orders[2]);
}

type Acked = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// Writes unique keys through one gateway until `deadline`; records what was acknowledged.
async fn writer(s3: Client, bucket: String, id: usize, acked: Acked, deadline: Instant) -> (usize, usize) {
    let (mut ok, mut failed) = (0, 0);
    let mut n = 0;
    while Instant::now() < deadline && n < 2000 {
        n += 1;
        let key = format!("w{id}/{n}");
        let body = format!("{key} {}", "x".repeat(n % 300)).into_bytes();
        match s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(body.clone())).send().await {
            Ok(_) => {
                ok += 1;
                acked.lock().unwrap().insert(key, body);
            }
            Err(_) => {
                failed += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_of_one_gateway_mid_load_loses_no_acknowledged_write() {
    let mut c = Cluster::start(3);
    let s3 = c.clients();
    let bucket = versioned_bucket(&s3[0], false).await;
    let acked: Acked = Arc::default();
    let deadline = Instant::now() + Duration::from_millis(3500);
    let tasks: Vec<_> = (0..6)
        .map(|i| tokio::spawn(writer(s3[i % 3].clone(), bucket.clone(), i, Arc::clone(&acked), deadline)))
        .collect();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before_kill = acked.lock().unwrap().len();
    c.gateways[0].kill();
    let mut survivors_ok = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (ok, failed) = t.await.unwrap();
        if i % 3 == 0 {
            assert!(failed > 0 || ok > 0);
        } else {
            assert_eq!(failed, 0, "writer {i} on a surviving gateway saw errors");
            survivors_ok += ok;
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(before_kill > 0 && acked.len() > before_kill, "load before and after the kill");
    assert!(survivors_ok > 0);
    // Every acknowledged write reads back, whole, from both survivors.
    for g in &s3[1..] {
        for (key, body) in &acked {
            let got = g.get_object().bucket(&bucket).key(key).send().await;
            let got = got.unwrap_or_else(|e| panic!("acknowledged {key} is gone: {e:?}"));
            assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice(), "{key}");
        }
    }
    // A fresh blob file that no record names yet (as another gateway's write in flight would
    // leave) survives the restarted gateway's start-up sweep: the grace period.
    let fake = "00000000000000000000000000000001";
    let fake_path = c.data.join("blobs").join(&fake[..2]).join(fake);
    std::fs::write(&fake_path, b"in flight").unwrap();
    c.gateways[0].start_again();
    assert!(fake_path.exists(), "the orphan sweep removed a fresh blob another gateway could be writing");
    let back = c.gateways[0].client();
    let listed = back.list_objects_v2().bucket(&bucket).max_keys(1000).send().await.unwrap();
    assert!(listed.key_count().unwrap_or_default() > 0);
    let (key, body) = acked.iter().next().unwrap();
    let got = back.get_object().bucket(&bucket).key(key).send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice());
    eprintln!("sigkill: {} acknowledged writes ({before_kill} before the kill), all intact", acked.len());
}

fn serve_once(url: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("HOLDFAST_META_URL", url)
        .env("HOLDFAST_ROOT_ACCESS_KEY", holdfast_testkit::ROOT_AK)
        .env("HOLDFAST_ROOT_SECRET_KEY", holdfast_testkit::ROOT_SK)
        .env("HOLDFAST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn unreachable_database_and_newer_schema_are_clear_errors() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (code, err) = serve_once(&format!("postgres://holdfast:secret@127.0.0.1:{port}/nowhere"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach the metadata database at postgres://holdfast:***@127.0.0.1"), "{err}");
    assert!(!err.contains("secret"), "the password is never printed: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let pg = Postgres::shared();
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap();
    pg.psql(db, "CREATE TABLE holdfast_schema (id integer PRIMARY KEY, version integer NOT NULL); INSERT INTO holdfast_schema VALUES (1, 999)")
        .unwrap();
    let (code, err) = serve_once(&url);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("schema version 999, newer than this build supports"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_report_their_clocks_and_share_the_high_water_mark() {
    let c = Cluster::start(2);
    // Reports are written at start; the shared tables name both gateways.
    let db = c.url.rsplit('/').next().unwrap().to_owned();
    let pg = Postgres::shared();
    let gateways = pg.psql(&db, "SELECT count(*) FROM gateways").unwrap();
    assert_eq!(gateways.trim(), "2");
    let s3 = c.clients();
    let bucket = versioned_bucket(&s3[0], false).await;
    s3[1].put_object().bucket(&bucket).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let mark: i64 = pg.psql(&db, "SELECT max(high_water_ms) FROM clock_marks").unwrap().trim().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!((now - mark).abs() < 60_000, "the write raised the shared mark: {mark} vs {now}");
    let metrics = holdfast_testkit::raw_http(
        // The second gateway saw the first one in its start-up report.
        &c.gateways[1].addr,
        b"GET /_holdfast/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("holdfast_clock_skew_ms") && text.contains("holdfast_clock_db_offset_ms"), "{text}");
}
