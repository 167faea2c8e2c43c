//! Files and metrics: the data dir is private to the server's user (0700/0600,
//! created so and narrowed at start), the unauthenticated metrics name no bucket, the lock
//! gauges are not recomputed per scrape, and a start that fails leaves nothing behind.

use crate::evidence_support::{BIN, metric, wait_for};
use crate::object_lock_support::{days, lock_bucket, put_held, put_locked};
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectLockMode};
use holdfast_testkit::{Server, ServerOptions, meta_is_postgres, raw_http};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every path under `dir` (itself included) with its permission bits.
fn modes(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(p) = pending.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert!(!meta.file_type().is_symlink(), "no links in a data dir: {}", p.display());
        out.push((p.clone(), meta.is_dir(), meta.permissions().mode() & 0o7777));
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    out
}

/// Asserts 0700 for every directory and 0600 for every file under `dir`, and that `expected`
/// (paths relative to `dir`, or a directory that must hold at least one file) were seen.
fn assert_private(dir: &Path, expected: &[&str]) {
    let all = modes(dir);
    let wrong: Vec<String> = all
        .iter()
        .filter(|(_, is_dir, mode)| *mode != if *is_dir { 0o700 } else { 0o600 })
        .map(|(p, _, mode)| format!("{} {mode:o}", p.display()))
        .collect();
    assert!(wrong.is_empty(), "not private: {wrong:#?}");
    for e in expected {
        let seen = all.iter().any(|(p, is_dir, _)| !is_dir && p.starts_with(dir.join(e)));
        assert!(seen, "expected a file at or under {e} in {}", dir.display());
    }
}

/// Files the tests expect in a data dir after writes: SQLite's (embedded only), blobs, the
/// audit trail, the secret-sealing key and the record of the root the data dir serves.
fn expected_files() -> Vec<&'static str> {
    let mut files = vec!["blobs", "audit", "secrets.key", "holdfast.lock", "root-identity"];
    if !meta_is_postgres() {
        files.extend(["meta.db", "meta.db-wal", "meta.db-shm"]);
    }
    files
}

/// Inline and blob-backed objects, a multipart upload, a locked version and an IAM user
/// with an access key (a sealed secret).
async fn write_a_bit_of_everything(srv: &Server) {
    let s3 = srv.client();
    let b = lock_bucket(&s3, "files").await;
    s3.put_object().bucket(&b).key("inline").body(ByteStream::from(vec![1u8; 1000])).send().await.unwrap();
    s3.put_object().bucket(&b).key("blob").body(ByteStream::from(vec![2u8; 300 << 10])).send().await.unwrap();
    put_locked(&s3, &b, "locked", ObjectLockMode::Governance, &days(1)).await;
    let up = s3.create_multipart_upload().bucket(&b).key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, size) in [(1, 2048), (2, 100)] {
        let p = s3
            .upload_part()
            .bucket(&b)
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(vec![n as u8; size]))
            .send()
            .await
            .unwrap();
        parts.push(CompletedPart::builder().part_number(n).e_tag(p.e_tag().unwrap()).build());
    }
    s3.complete_multipart_upload()
        .bucket(&b)
        .key("mp")
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let iam = srv.iam();
    iam.create_user().user_name("files-user").send().await.unwrap();
    iam.create_access_key().user_name("files-user").send().await.unwrap();
    // A multipart upload left open keeps its parts on disk too.
    let open = s3.create_multipart_upload().bucket(&b).key("open").send().await.unwrap();
    s3.upload_part()
        .bucket(&b)
        .key("open")
        .upload_id(open.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from(vec![3u8; 200 << 10]))
        .send()
        .await
        .unwrap();
}

fn small_parts() -> ServerOptions {
    ServerOptions { config_toml: "[limits]\nmin_part_size = 1024\n".into(), ..Default::default() }
}

#[tokio::test]
async fn data_dir_files_are_created_private() {
    let srv = Server::start_with(BIN, small_parts());
    write_a_bit_of_everything(&srv).await;
    assert_private(&srv.data_dir, &expected_files());
}

#[tokio::test]
async fn a_wide_data_dir_is_narrowed_at_start() {
    let mut srv = Server::start_with(BIN, small_parts());
    write_a_bit_of_everything(&srv).await;
    assert!(srv.terminate().success());
    // As an older build, a restore or `cp -r` under umask 022 would have left it.
    for (p, is_dir, _) in modes(&srv.data_dir) {
        let wide = if is_dir { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(wide)).unwrap();
    }
    std::fs::write(srv.data_dir.join("operator-notes.txt"), b"left by an operator").unwrap();
    std::fs::set_permissions(srv.data_dir.join("operator-notes.txt"), std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::create_dir(srv.data_dir.join("restored")).unwrap();
    std::fs::set_permissions(srv.data_dir.join("restored"), std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(modes(&srv.data_dir).iter().all(|(_, _, m)| m & 0o044 != 0), "the test made everything readable");

    srv.start_again();
    let mut expected = expected_files();
    expected.push("operator-notes.txt");
    assert_private(&srv.data_dir, &expected);
    // And the data is still served.
    let s3 = srv.client();
    let buckets = s3.list_buckets().send().await.unwrap();
    let b = buckets.buckets()[0].name().unwrap();
    let got = s3.get_object().bucket(b).key("blob").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().len(), 300 << 10);
}

// --- metrics ---------------------------------------------------------------------------------

/// A scrape of `/_holdfast/metrics` with an optional `Authorization` header: (status, body).
async fn scrape(addr: &str, authorization: Option<&str>) -> (u16, String) {
    let auth = authorization.map(|a| format!("authorization: {a}\r\n")).unwrap_or_default();
    let req = format!("GET /_holdfast/metrics HTTP/1.1\r\nhost: {addr}\r\n{auth}connection: close\r\n\r\n");
    let r = raw_http(addr, req.into_bytes()).await.unwrap();
    (r.status, r.text())
}

const TOTAL_GOV: &str = "holdfast_lock_total_versions{kind=\"governance\"}";

/// A server with `[metrics]` settings (the lock gauges recomputed every 0.2 s) and two
/// buckets with distinctive names holding locked and held versions; returns once a lock
/// report computed after the writes is served. The names are returned for the checks.
async fn server_with_secret_buckets(metrics_toml: &str) -> (Server, [String; 2]) {
    let config_toml = format!("[metrics]\nlock_refresh_secs = 0.2\n{metrics_toml}");
    let srv = Server::start_with(BIN, ServerOptions { config_toml, ..Default::default() });
    let s3 = srv.client();
    let a = lock_bucket(&s3, "zsecretpayroll").await;
    let b = lock_bucket(&s3, "zsecretlawsuit").await;
    put_locked(&s3, &a, "k1", ObjectLockMode::Governance, &days(30)).await;
    put_locked(&s3, &a, "k2", ObjectLockMode::Governance, &days(30)).await;
    put_locked(&s3, &b, "k", ObjectLockMode::Compliance, &days(1)).await;
    put_held(&s3, &b, "held").await;
    // The last write seen means every write is (they were made one after another).
    let held = "holdfast_lock_total_versions{kind=\"legal_hold\"}";
    wait_for("a lock report with the writes", Duration::from_secs(10), async || {
        (metric(&scrape(&srv.addr, None).await.1, held) == Some(1.0)).then_some(())
    })
    .await;
    (srv, [a, b])
}

/// Installation-wide totals, exact for the content of [`server_with_secret_buckets`]
/// ("locked" is 6 bytes, "held" 4).
fn assert_totals(text: &str) {
    assert_eq!(metric(text, TOTAL_GOV), Some(2.0), "{text}");
    assert_eq!(metric(text, "holdfast_lock_total_bytes{kind=\"governance\"}"), Some(12.0), "{text}");
    assert_eq!(metric(text, "holdfast_lock_total_versions{kind=\"compliance\"}"), Some(1.0), "{text}");
    assert_eq!(metric(text, "holdfast_lock_total_bytes{kind=\"compliance\"}"), Some(6.0), "{text}");
    assert_eq!(metric(text, "holdfast_lock_total_versions{kind=\"legal_hold\"}"), Some(1.0), "{text}");
    assert_eq!(metric(text, "holdfast_lock_total_bytes{kind=\"legal_hold\"}"), Some(4.0), "{text}");
    assert!(metric(text, "holdfast_lock_report_age_seconds").is_some(), "{text}");
    // The rest of the exporter's metrics are still there.
    assert!(text.contains("holdfast_requests_total{op=\"PutObject\",status=\"200\"}"), "{text}");
}

fn assert_names_absent(text: &str, names: &[String]) {
    for n in names {
        assert!(!text.contains(n.as_str()), "{n} is named: {text}");
    }
    assert!(!text.contains("zsecret"), "{text}");
    assert!(!text.contains("bucket=\""), "no series is per bucket: {text}");
}

fn assert_names_present(text: &str, [a, b]: &[String; 2]) {
    assert_eq!(metric(text, &format!("holdfast_lock_versions{{bucket=\"{a}\",kind=\"governance\"}}")), Some(2.0));
    assert_eq!(metric(text, &format!("holdfast_lock_versions{{bucket=\"{b}\",kind=\"compliance\"}}")), Some(1.0));
    assert_eq!(metric(text, &format!("holdfast_lock_bytes{{bucket=\"{b}\",kind=\"legal_hold\"}}")), Some(4.0));
    assert!(text.contains(&format!("holdfast_lock_latest_retain_until_seconds{{bucket=\"{a}\"}}")), "{text}");
}

#[tokio::test]
async fn unauthenticated_metrics_name_no_bucket_by_default() {
    let (srv, names) = server_with_secret_buckets("").await;
    let (status, text) = scrape(&srv.addr, None).await;
    assert_eq!(status, 200);
    assert_totals(&text);
    assert_names_absent(&text, &names);
    // Without a configured token, a bearer header changes nothing.
    let (status, text) = scrape(&srv.addr, Some("Bearer guess-guess-guess-guess")).await;
    assert_eq!(status, 200);
    assert_names_absent(&text, &names);
}

#[tokio::test]
async fn per_bucket_true_names_buckets_to_everyone() {
    let (srv, names) = server_with_secret_buckets("per_bucket = true\n").await;
    let (status, text) = scrape(&srv.addr, None).await;
    assert_eq!(status, 200);
    assert_totals(&text);
    assert_names_present(&text, &names);
}

#[tokio::test]
async fn a_bearer_token_unlocks_per_bucket_metrics() {
    const TOKEN: &str = "scrape-me-7f3a9c2e51d04b68";
    let (srv, names) = server_with_secret_buckets(&format!("token = \"{TOKEN}\"\n")).await;
    let (status, text) = scrape(&srv.addr, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, 200);
    assert_totals(&text);
    assert_names_present(&text, &names);

    let (status, text) = scrape(&srv.addr, None).await;
    assert_eq!(status, 200, "no token: the totals");
    assert_totals(&text);
    assert_names_absent(&text, &names);

    for wrong in
        [format!("Bearer {TOKEN}x"), "Bearer scrape-me".into(), format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])]
    {
        let (status, text) = scrape(&srv.addr, Some(&wrong)).await;
        assert_eq!((status, text.as_str()), (401, "wrong metrics token\n"), "{wrong}");
    }
}

#[tokio::test]
async fn lock_figures_are_not_recomputed_per_scrape() {
    // Refreshed once an hour: the report computed at start is what every scrape serves.
    let config_toml = "[metrics]\nlock_refresh_secs = 3600\n".into();
    let srv = Server::start_with(BIN, ServerOptions { config_toml, ..Default::default() });
    let first = wait_for("the first lock report", Duration::from_secs(10), async || {
        metric(&scrape(&srv.addr, None).await.1, "holdfast_lock_report_age_seconds")
    })
    .await;
    let s3 = srv.client();
    let b = lock_bucket(&s3, "cached").await;
    put_locked(&s3, &b, "k", ObjectLockMode::Governance, &days(1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, text) = scrape(&srv.addr, None).await;
    assert_eq!(metric(&text, TOTAL_GOV), Some(0.0), "the scrape served the cached report: {text}");
    let age = metric(&text, "holdfast_lock_report_age_seconds").unwrap();
    assert!(age >= first + 0.3, "the report ages: {first} then {age}");
}

// --- a failed start ----------------------------------------------------------------------------

/// Runs `holdfast serve` (no root keys in the environment, so a start that got far enough
/// would generate and store credentials), bounded to 60 s: (success, stderr).
fn serve_once(args: &[&str]) -> (bool, String) {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .env_remove("HOLDFAST_ROOT_ACCESS_KEY")
        .env_remove("HOLDFAST_ROOT_SECRET_KEY")
        .env_remove("HOLDFAST_DATA_DIR")
        .env_remove("HOLDFAST_CONFIG")
        .env_remove("HOLDFAST_LISTEN")
        .env_remove("HOLDFAST_META_URL")
        .env("HOLDFAST_LOG", "info,s3s=off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holdfast");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status.success(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("holdfast serve {args:?} neither started nor failed within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_failed_start_creates_nothing() {
    // The failures come before (or, for the unreachable database, instead of) any use of
    // the metadata store, so they are the same with SQLite and PostgreSQL.
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("never");
    let data = parent.join("data");
    let data_arg = data.to_str().unwrap();
    let config = tmp.path().join("c.toml");
    let config_arg = config.to_str().unwrap();

    // The port is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let (ok, err) = serve_once(&["--listen", &listen, "--data-dir", data_arg]);
    assert!(!ok);
    assert!(err.contains(&format!("cannot listen on {listen}")) && err.contains("in use"), "{err}");
    assert!(!parent.exists(), "a taken port left {}", parent.display());

    // A config file that does not parse, and one with a value out of range.
    for bad in ["listen = 5\n", "[metrics]\ntoken = \"short\"\n", "[limits]\ninline_max_size = 99999999\n"] {
        std::fs::write(&config, bad).unwrap();
        let (ok, err) = serve_once(&["--listen", "127.0.0.1:0", "--data-dir", data_arg, "--config", config_arg]);
        assert!(!ok);
        assert!(err.contains("config file") || err.contains("[metrics]") || err.contains("[limits]"), "{bad}: {err}");
        assert!(!parent.exists(), "config {bad:?} left {}", parent.display());
    }

    // A database that cannot be reached is only found out after the data dir was made:
    // what this start created is removed again.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(
        &config,
        format!("[meta]\nbackend = \"postgres\"\nurl = \"postgres://holdfast@127.0.0.1:{closed}/nowhere\"\n"),
    )
    .unwrap();
    let (ok, err) = serve_once(&["--listen", "127.0.0.1:0", "--data-dir", data_arg, "--config", config_arg]);
    assert!(!ok);
    assert!(err.contains("cannot open the PostgreSQL metadata store"), "{err}");
    assert!(!parent.exists(), "an unreachable database left {}", parent.display());

    // An empty data dir made by the operator stays, and stays empty.
    std::fs::create_dir_all(&data).unwrap();
    let (ok, _) = serve_once(&["--listen", "127.0.0.1:0", "--data-dir", data_arg, "--config", config_arg]);
    assert!(!ok);
    assert!(data.is_dir());
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "the failed start emptied what it filled");
}
