//! `holdfast admin backup` of a live server under write load, `holdfast admin restore` into
//! a new data dir, and a server started on it (issue #15): every version acknowledged
//! before the backup began reads back byte-identical with the same lock state, a version
//! acknowledged during the backup is either absent or identical, and `holdfast admin audit
//! verify` passes on the restored dir (before and beside its server).
//!
//! The backup is of the embedded store: these servers run on SQLite even under
//! `HOLDFAST_TEST_META=postgres` (PostgreSQL is backed up with its own tools, and `admin
//! backup` refuses it: `backup_refuses_postgres`).

use crate::object_lock_support::{days, get_retention, lock_bucket};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
use holdfast_testkit::{Server, ServerOptions};
use sha2::Digest as _;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
const EMBEDDED: &str = "[meta]\nbackend = \"sqlite\"\n";

fn holdfast(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).env_remove("HOLDFAST_META_URL").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn body(i: usize) -> Vec<u8> {
    // Small ones are stored inline in the database, large ones as blob files.
    let len = if i.is_multiple_of(2) { 1000 + i } else { 150_000 + i };
    (0..len).map(|j| (j * 31 + i * 7) as u8).collect()
}

#[derive(Clone)]
struct Acked {
    key: String,
    version: String,
    sha: [u8; 32],
}

async fn get_sha(s3: &Client, bucket: &str, a: &Acked) -> Option<[u8; 32]> {
    let out = s3.get_object().bucket(bucket).key(&a.key).version_id(&a.version).send().await.ok()?;
    let bytes = out.body.collect().await.unwrap().into_bytes();
    Some(sha2::Sha256::digest(&bytes).into())
}

async fn hold(s3: &Client, bucket: &str, a: &Acked) -> Option<String> {
    let out = s3.get_object_legal_hold().bucket(bucket).key(&a.key).version_id(&a.version).send().await.ok()?;
    out.legal_hold().and_then(|h| h.status()).map(|s| s.as_str().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_under_write_load_restores_every_acknowledged_version() {
    let options = ServerOptions { config_toml: EMBEDDED.into(), ..Default::default() };
    let src = Server::start_with(BIN, options.clone());
    let s3 = src.client();
    let bucket = lock_bucket(&s3, "backup").await;

    // Before: versions under each kind of protection, some keys with two versions, a delete marker.
    let mut before = Vec::new();
    for i in 0..24 {
        let key = format!("before/{}", i % 16);
        let data = body(i);
        let mut put = s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(data.clone()));
        put = match i % 3 {
            0 => put.object_lock_mode(ObjectLockMode::Compliance).object_lock_retain_until_date(days(1)),
            1 => put.object_lock_mode(ObjectLockMode::Governance).object_lock_retain_until_date(days(2)),
            _ => put.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On),
        };
        let version = put.send().await.unwrap().version_id().unwrap().to_owned();
        before.push(Acked { key, version, sha: sha2::Sha256::digest(&data).into() });
    }
    s3.delete_object().bucket(&bucket).key("before/3").send().await.unwrap();

    // A writer PUTs (bounded) while the backup runs.
    let acked: Arc<Mutex<Vec<(Instant, Acked)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s3, bucket, acked, stop) = (s3.clone(), bucket.clone(), Arc::clone(&acked), Arc::clone(&stop));
        tokio::spawn(async move {
            for i in 0..2_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let key = format!("live/{}", i % 50);
                let data = body(i);
                let mut put = s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(data.clone()));
                if i.is_multiple_of(4) {
                    put = put.object_lock_mode(ObjectLockMode::Governance).object_lock_retain_until_date(days(1));
                }
                let version = put.send().await.unwrap().version_id().unwrap().to_owned();
                acked
                    .lock()
                    .unwrap()
                    .push((Instant::now(), Acked { key, version, sha: sha2::Sha256::digest(&data).into() }));
            }
        })
    };
    while acked.lock().unwrap().len() < 30 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("backup");
    let began = Instant::now();
    let (ok, out, err) = {
        let (data, dest) = (src.data_dir.clone(), dest.clone());
        let config = src.data_dir.with_extension("toml");
        tokio::task::spawn_blocking(move || {
            holdfast(&[
                "admin",
                "backup",
                "--data-dir",
                data.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
                "--to",
                dest.to_str().unwrap(),
            ])
        })
        .await
        .unwrap()
    };
    let ended = Instant::now();
    assert!(ok, "backup failed: {out}{err}");
    // The writer keeps going a little after the backup, then stops.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    writer.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let (acked_before, rest): (Vec<_>, Vec<_>) = acked.into_iter().partition(|(t, _)| *t < began);
    let during = rest.iter().filter(|(t, _)| *t <= ended).count();
    eprintln!(
        "backup took {:.2} s: {} versions acknowledged before it, {} during, {} after; {}",
        (ended - began).as_secs_f64(),
        before.len() + acked_before.len(),
        during,
        rest.len() - during,
        out.trim()
    );
    assert!(during > 0, "no PUT was acknowledged while the backup ran: not a backup under load");

    let restored = tmp.path().join("restored");
    let (ok, out, err) =
        holdfast(&["admin", "restore", "--from", dest.to_str().unwrap(), "--data-dir", restored.to_str().unwrap()]);
    assert!(ok, "restore failed: {out}{err}");
    eprintln!("{}", out.trim());
    let (ok, out, err) = holdfast(&["admin", "audit", "verify", "--data-dir", restored.to_str().unwrap()]);
    assert!(ok && out.contains("metadata store matches the trail"), "verify on the restored dir: {out}{err}");
    let (ok, out, err) =
        holdfast(&["admin", "restore", "--from", dest.to_str().unwrap(), "--data-dir", restored.to_str().unwrap()]);
    assert!(!ok && err.contains("not empty"), "a restore over a used data dir is refused: {out}{err}");

    let copy = Server::start_in(BIN, &restored, options);
    let r3 = copy.client();
    let mut checked = 0;
    for a in before.iter().chain(acked_before.iter().map(|(_, a)| a)) {
        assert_eq!(get_sha(&r3, &bucket, a).await, Some(a.sha), "{} {} after restore", a.key, a.version);
        assert_eq!(
            get_retention(&r3, &bucket, &a.key, &a.version).await,
            get_retention(&s3, &bucket, &a.key, &a.version).await,
            "retention of {} {}",
            a.key,
            a.version
        );
        assert_eq!(hold(&r3, &bucket, a).await, hold(&s3, &bucket, a).await, "legal hold of {} {}", a.key, a.version);
        checked += 1;
    }
    let mut present = 0;
    for (_, a) in &rest {
        if let Some(sha) = get_sha(&r3, &bucket, a).await {
            assert_eq!(
                sha, a.sha,
                "{} {} acknowledged during or after the backup: present, so identical",
                a.key, a.version
            );
            present += 1;
        }
    }
    eprintln!(
        "restored: {checked} versions byte-identical with equal lock state; {present} of {} later ones present",
        rest.len()
    );
    // The delete marker is there: the current version of before/3 is none.
    assert!(r3.get_object().bucket(&bucket).key("before/3").send().await.is_err());
    // The restored server writes on.
    r3.put_object().bucket(&bucket).key("after").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let (ok, out, err) = holdfast(&["admin", "audit", "verify", "--data-dir", restored.to_str().unwrap()]);
    assert!(ok && out.contains("metadata store matches the trail"), "verify beside the restored server: {out}{err}");
    drop(copy);
    drop(src);
}

#[test]
fn backup_refuses_postgres_and_unfinished_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("pg.toml");
    std::fs::write(&config, "[meta]\nbackend = \"postgres\"\nurl = \"postgres://holdfast@127.0.0.1:1/holdfast\"\n")
        .unwrap();
    let data = tmp.path().join("data");
    let to = tmp.path().join("b");
    let (ok, _, err) = holdfast(&[
        "admin",
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("pg_dump") && err.contains("docs/operations.md"), "{err}");
    std::fs::create_dir_all(&to).unwrap();
    let (ok, _, err) =
        holdfast(&["admin", "restore", "--from", to.to_str().unwrap(), "--data-dir", data.to_str().unwrap()]);
    assert!(!ok && err.contains("holdfast-backup.json"), "{err}");
    assert!(!Path::new(&data).exists(), "nothing restored");
}
