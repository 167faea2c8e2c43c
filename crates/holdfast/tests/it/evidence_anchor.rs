//! Anchoring the audit trail: with `[audit] anchor_bucket`, the head of the trail
//! is written as an object under COMPLIANCE retention (periodically and at shutdown), and
//! `holdfast admin audit verify --config` reports a cut tail or a trail rewritten from
//! scratch against those anchors — which the hash chain alone cannot see.

use crate::evidence_support::*;
use crate::object_lock_support::{LOCKED, assert_err, lock_bucket, plain_bucket};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode};
use holdfast_testkit::{Server, ServerOptions, bucket_name};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PREFIX: &str = "holdfast-audit-anchors";

/// The chain the server writes: `main` embedded, `gw-1` for the first gateway on PostgreSQL.
fn chain(data_dir: &Path) -> String {
    let dir = trail_dir(data_dir);
    if dir.ends_with("audit") { "main".into() } else { dir.file_name().unwrap().to_string_lossy().into_owned() }
}

/// The anchors in the bucket, as (key, version id, content), in key order.
async fn anchors(s3: &Client, bucket: &str) -> Vec<(String, String, Value)> {
    let list = s3.list_object_versions().bucket(bucket).prefix(format!("{PREFIX}/")).send().await.unwrap();
    let mut out = Vec::new();
    for v in list.versions() {
        let (key, id) = (v.key().unwrap().to_owned(), v.version_id().unwrap().to_owned());
        let body = s3.get_object().bucket(bucket).key(&key).version_id(&id).send().await.unwrap();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        out.push((key, id, serde_json::from_slice(&bytes).unwrap()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// (seq, hash) of the trail's last record.
fn head(data_dir: &Path) -> (u64, String) {
    try_head(data_dir).expect("a record")
}

/// (seq, hash) of the trail's last record, if it has one yet.
fn try_head(data_dir: &Path) -> Option<(u64, String)> {
    let last = audit_records(data_dir).pop()?;
    Some((last["seq"].as_u64().unwrap(), last["hash"].as_str().unwrap().to_owned()))
}

fn verify(data_dir: &Path, config: Option<&Path>) -> (bool, String, String) {
    let mut args = vec!["admin", "audit", "verify", "--data-dir", data_dir.to_str().unwrap()];
    if let Some(c) = config {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    holdfast(&args)
}

/// The trail's files, to put them back after a test edit.
fn save_trail(data_dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    trail_files(data_dir).into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect()
}

fn restore_trail(data_dir: &Path, saved: &[(PathBuf, Vec<u8>)]) {
    for f in trail_files(data_dir) {
        std::fs::remove_file(f).unwrap();
    }
    for (f, bytes) in saved {
        std::fs::write(f, bytes).unwrap();
    }
}

/// Replaces the trail with a valid chain of `n` forged records (fresh hashes throughout).
fn forge_trail(data_dir: &Path, n: u64) {
    let dir = trail_dir(data_dir);
    for f in trail_files(data_dir) {
        std::fs::remove_file(f).unwrap();
    }
    let mut prev = holdfast_audit::GENESIS.to_owned();
    let mut text = String::new();
    for seq in 1..=n {
        let mut r = holdfast_audit::AuditRecord::new("PutObject", holdfast_lock::UtcMillis::now_system());
        r.principal = Some("root".into());
        r.bucket = Some("innocent".into());
        r.key = Some(format!("nothing-to-see-{seq}"));
        r.status = Some(200);
        let (line, hash) = holdfast_audit::seal_line(seq, &prev, &r);
        prev = hash;
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(dir.join("audit-000001.jsonl"), text).unwrap();
}

/// Cuts the last file of the trail to all but its last `drop` lines.
fn truncate_trail(data_dir: &Path, drop: usize) {
    let last = trail_files(data_dir).pop().unwrap();
    let text = std::fs::read_to_string(&last).unwrap();
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert!(lines.len() > drop, "the last file has {} lines", lines.len());
    let kept: String = lines[..lines.len() - drop].iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&last, kept).unwrap();
}

async fn some_changes(s3: &Client, n: usize) {
    let b = plain_bucket(s3, "anchw").await;
    for i in 0..n {
        s3.put_object().bucket(&b).key(format!("k{i}")).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
}

/// Waits until an anchor names the trail's current head; returns (key, version id, content).
async fn anchor_of_head(srv: &Server, s3: &Client, bucket: &str) -> (String, String, Value) {
    wait_for("an anchor of the trail's head", Duration::from_secs(20), async || {
        let (seq, hash) = try_head(&srv.data_dir)?;
        anchors(s3, bucket).await.into_iter().find(|(_, _, a)| a["seq"] == seq && a["hash"] == hash.as_str())
    })
    .await
}

#[tokio::test]
async fn anchors_are_locked_and_verify_catches_a_cut_tail_and_a_rewrite() {
    let anchor_bucket = bucket_name("anchors");
    let mut srv = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!("[audit]\nanchor_bucket = \"{anchor_bucket}\"\nanchor_interval_secs = 0.5\n"),
            ..Default::default()
        },
    );
    let config = srv.data_dir.with_extension("toml");
    let s3 = srv.client();
    // No anchor bucket yet: said at start, counted, and retried.
    wait_for("anchor failures counted", Duration::from_secs(10), async || {
        metric(&metrics_text(&srv.addr).await, "holdfast_audit_anchor_failures_total").filter(|n| *n >= 1.0)
    })
    .await;
    // A bucket without Object Lock takes no anchor either.
    s3.create_bucket().bucket(&anchor_bucket).send().await.unwrap();
    some_changes(&s3, 3).await;
    let before = metric(&metrics_text(&srv.addr).await, "holdfast_audit_anchor_failures_total").unwrap();
    wait_for("more anchor failures", Duration::from_secs(10), async || {
        metric(&metrics_text(&srv.addr).await, "holdfast_audit_anchor_failures_total").filter(|n| *n > before)
    })
    .await;
    assert!(anchors(&s3, &anchor_bucket).await.is_empty());
    // Object Lock enabled on it (B5): the next interval anchors.
    holdfast_testkit::enable_versioning(&s3, &anchor_bucket).await;
    s3.put_object_lock_configuration()
        .bucket(&anchor_bucket)
        .object_lock_configuration(
            ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled).build(),
        )
        .send()
        .await
        .unwrap();
    let (key, version, anchor) = anchor_of_head(&srv, &s3, &anchor_bucket).await;
    let ch = chain(&srv.data_dir);
    let (seq, hash) = (anchor["seq"].as_u64().unwrap(), anchor["hash"].as_str().unwrap().to_owned());
    assert_eq!(key, format!("{PREFIX}/{ch}/{seq:020}.json"));
    assert_eq!(audit_records(&srv.data_dir)[seq as usize - 1]["hash"], hash.as_str());
    assert_eq!(anchor["format"], "holdfast-audit-anchor/1");
    assert_eq!(anchor["chain"], ch.as_str());
    assert_eq!(anchor["hash"], hash.as_str());
    assert_eq!(anchor["reason"], "interval");
    assert!(anchor["file"].as_str().unwrap().starts_with("audit-"), "{anchor}");

    // COMPLIANCE, for about a year; no delete removes it, not even with the bypass.
    let r = s3.get_object_retention().bucket(&anchor_bucket).key(&key).version_id(&version).send().await.unwrap();
    let r = r.retention().unwrap();
    assert_eq!(r.mode(), Some(&ObjectLockRetentionMode::Compliance));
    let until = r.retain_until_date().unwrap().secs();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((until - now - 365 * 86_400).abs() < 3600, "retain until {until}, now {now}");
    let err = s3.delete_object().bucket(&anchor_bucket).key(&key).version_id(&version).send().await.unwrap_err();
    assert_err(&err, "AccessDenied", 403, Some(LOCKED));
    let err = s3
        .delete_object()
        .bucket(&anchor_bucket)
        .key(&key)
        .version_id(&version)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "AccessDenied", 403, Some(LOCKED));
    assert!(anchors(&s3, &anchor_bucket).await.iter().any(|(k, v, _)| *k == key && *v == version));

    // Verify beside the running server: the anchors come from the data dir's store.
    let (ok, out, err) = verify(&srv.data_dir, Some(&config));
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("chain {ch}: anchored, intact up to anchor {PREFIX}/{ch}/")), "{out}");

    // SIGTERM: the trail is flushed, then its head anchored once more.
    some_changes(&s3, 2).await;
    assert_eq!(srv.terminate().code(), Some(0));
    let data = srv.data_dir.clone();
    let (seq, _) = head(&data);
    let final_key = format!("{PREFIX}/{ch}/{seq:020}.json");
    let (ok, out, err) = verify(&data, Some(&config));
    assert!(ok, "an untouched trail verifies against its anchors: {out}{err}");
    assert!(out.contains(&format!("chain {ch}: anchored, intact up to anchor {final_key} (record {seq}, ")), "{out}");
    assert!(out.contains("; 0 later records not anchored yet"), "{out}");
    assert!(out.contains("every chain agrees with them"), "{out}");
    // Anchor writes are not in the trail themselves: each would move the head it records.
    let records = audit_records(&data);
    let anchor_writes =
        records.iter().filter(|r| r["op"] == "PutObject" && r["key"].as_str().unwrap_or_default().starts_with(PREFIX));
    assert_eq!(anchor_writes.count(), 0, "{records:#?}");
    // The denied deletes of an anchor are (as every denial).
    assert_eq!(records.iter().filter(|r| r["op"] == "DeleteObject" && r["key"] == key.as_str()).count(), 2);
    let saved = save_trail(&data);

    // The last two lines cut: a valid chain, so the chain check alone passes...
    truncate_trail(&data, 2);
    let (ok, out, err) = verify(&data, None);
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("audit trail intact: {} records", seq - 2)), "{out}");
    // ...and the anchors catch it.
    let (ok, out, err) = verify(&data, Some(&config));
    assert!(!ok, "verify passed on a cut trail: {out}");
    assert!(err.contains("audit trail TAMPERED"), "{err}");
    assert!(err.contains(&format!("TRUNCATED: the trail ends at record {}", seq - 2)), "{err}");
    assert!(err.contains(&format!("against anchor {PREFIX}/{ch}/")), "{err}");

    // Rewritten from scratch with fresh hashes, as long as the original.
    restore_trail(&data, &saved);
    forge_trail(&data, seq);
    let (ok, out, err) = verify(&data, None);
    assert!(ok, "the forged chain is a valid chain: {out}{err}");
    let (ok, out, err) = verify(&data, Some(&config));
    assert!(!ok, "verify passed on a forged trail: {out}");
    assert!(err.contains("REWRITTEN: record "), "{err}");
    assert!(err.contains(&format!("against anchor {PREFIX}/{ch}/")), "{err}");

    // Put back, it verifies again.
    restore_trail(&data, &saved);
    let (ok, out, err) = verify(&data, Some(&config));
    assert!(ok, "{out}{err}");
}

#[tokio::test]
async fn anchors_on_a_remote_endpoint() {
    // The anchor store: another server, with its own lock bucket.
    let remote = Server::start(BIN);
    let rs3 = remote.client();
    let anchor_bucket = lock_bucket(&rs3, "ranchors").await;
    let mut srv = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!(
                "[audit]\nanchor_bucket = \"{anchor_bucket}\"\nanchor_prefix = \"site-a\"\nanchor_interval_secs = 0.5\n\
                 anchor_retention_days = 30\nanchor_endpoint = \"{}\"\nanchor_access_key = \"{}\"\n\
                 anchor_secret_key = \"{}\"\n",
                remote.endpoint,
                holdfast_testkit::ROOT_AK,
                holdfast_testkit::ROOT_SK
            ),
            ..Default::default()
        },
    );
    let config = srv.data_dir.with_extension("toml");
    some_changes(&srv.client(), 3).await;
    let ch = chain(&srv.data_dir);
    // The head is read again at every poll: a write's record may reach the file after its answer.
    let (seq, hash, key, version) = wait_for("the anchor on the remote", Duration::from_secs(20), async || {
        let (seq, hash) = try_head(&srv.data_dir)?;
        let key = format!("site-a/{ch}/{seq:020}.json");
        let list = rs3.list_object_versions().bucket(&anchor_bucket).prefix("site-a/").send().await.unwrap();
        let v = list.versions().iter().find(|v| v.key() == Some(key.as_str()))?.version_id()?.to_owned();
        Some((seq, hash, key, v))
    })
    .await;
    let body = rs3.get_object().bucket(&anchor_bucket).key(&key).version_id(&version).send().await.unwrap();
    let anchor: Value = serde_json::from_slice(&body.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!((anchor["seq"].as_u64(), anchor["hash"].as_str()), (Some(seq), Some(hash.as_str())));
    let r = rs3.get_object_retention().bucket(&anchor_bucket).key(&key).version_id(&version).send().await.unwrap();
    assert_eq!(r.retention().unwrap().mode(), Some(&ObjectLockRetentionMode::Compliance));
    let err = rs3.delete_object().bucket(&anchor_bucket).key(&key).version_id(&version).send().await.unwrap_err();
    assert_err(&err, "AccessDenied", 403, Some(LOCKED));

    // Stopped: verify reads the anchors from the remote endpoint.
    assert_eq!(srv.terminate().code(), Some(0));
    let data = srv.data_dir.clone();
    let (ok, out, err) = verify(&data, Some(&config));
    assert!(ok, "{out}{err}");
    assert!(out.contains(&format!("chain {ch}: anchored, intact up to anchor site-a/{ch}/")), "{out}");
    assert!(out.contains(&format!("at http://{}", remote.addr)), "{out}");
    truncate_trail(&data, 1);
    let (ok, out, err) = verify(&data, Some(&config));
    assert!(!ok, "verify passed on a cut trail: {out}");
    assert!(err.contains("TRUNCATED"), "{err}");
}

#[tokio::test]
async fn the_shutdown_anchor_covers_the_last_records() {
    // An interval far longer than the test: the only anchor is the one written at SIGTERM.
    let anchor_bucket = bucket_name("sanchors");
    let mut srv = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!("[audit]\nanchor_bucket = \"{anchor_bucket}\"\nanchor_interval_secs = 3600\n"),
            ..Default::default()
        },
    );
    let config = srv.data_dir.with_extension("toml");
    let s3 = srv.client();
    // The check at start found no bucket (and then waits for the interval).
    wait_for("the failed check at start", Duration::from_secs(10), async || {
        metric(&metrics_text(&srv.addr).await, "holdfast_audit_anchor_failures_total").filter(|n| *n >= 1.0)
    })
    .await;
    let created = lock_bucket(&s3, "unused").await;
    assert_ne!(created, anchor_bucket);
    s3.create_bucket().bucket(&anchor_bucket).object_lock_enabled_for_bucket(true).send().await.unwrap();
    some_changes(&s3, 4).await;
    // Nothing yet: the interval has not come round.
    assert!(anchors(&s3, &anchor_bucket).await.is_empty());
    let (ok, out, err) = verify(&srv.data_dir, Some(&config));
    assert!(ok, "{out}{err}");
    let ch = chain(&srv.data_dir);
    assert!(out.contains(&format!("chain {ch}: ")) && out.contains("records, NOT anchored yet"), "{out}");
    if holdfast_testkit::meta_is_postgres() {
        assert_eq!(ch, "gw-1", "one chain per gateway on PostgreSQL");
    }

    assert_eq!(srv.terminate().code(), Some(0));
    let (seq, hash) = head(&srv.data_dir);
    let (ok, out, err) = verify(&srv.data_dir, Some(&config));
    assert!(ok, "{out}{err}");
    let key = format!("{PREFIX}/{ch}/{seq:020}.json");
    assert!(out.contains(&format!("intact up to anchor {key} (record {seq}, written ")), "{out}");
    assert!(out.contains(", shutdown); 0 later records not anchored yet"), "{out}");
    assert!(out.contains("anchors: 1 read from bucket "), "{out}");

    // The anchor is what the server wrote: read back through the API after a restart.
    srv.start_again();
    let all = anchors(&srv.client(), &anchor_bucket).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].0, key);
    assert_eq!((all[0].2["seq"].as_u64(), all[0].2["hash"].as_str()), (Some(seq), Some(hash.as_str())));
    assert_eq!(all[0].2["reason"], "shutdown");
}

#[tokio::test]
async fn an_unreachable_remote_is_counted_and_the_server_serves_on() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut srv = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!(
                "[audit]\nanchor_bucket = \"far-away\"\nanchor_interval_secs = 0.2\n\
                 anchor_endpoint = \"http://127.0.0.1:{port}\"\nanchor_access_key = \"AK\"\nanchor_secret_key = \"SK\"\n"
            ),
            ..Default::default()
        },
    );
    let s3 = srv.client();
    some_changes(&s3, 2).await;
    let failures = wait_for("anchor failures counted", Duration::from_secs(10), async || {
        metric(&metrics_text(&srv.addr).await, "holdfast_audit_anchor_failures_total").filter(|n| *n >= 2.0)
    })
    .await;
    assert!(failures >= 2.0);
    assert_eq!(metric(&metrics_text(&srv.addr).await, "holdfast_audit_anchors_written_total"), None);
    // Requests are served as ever, and SIGTERM still ends the process cleanly.
    some_changes(&s3, 1).await;
    assert_eq!(srv.terminate().code(), Some(0));
    // verify cannot read the anchors: it says so and fails rather than pass unchecked.
    let config = srv.data_dir.with_extension("toml");
    let (ok, out, err) = verify(&srv.data_dir, Some(&config));
    assert!(!ok, "{out}");
    assert!(err.contains(&format!("cannot read the anchors (bucket far-away at http://127.0.0.1:{port}")), "{err}");
    assert!(err.contains("cannot connect to the anchor endpoint"), "{err}");
}

/// verify reads the anchors before the trail: an anchor written while it reads names only
/// records already in the files. (The race it avoids is narrow; this checks the outcome.)
#[tokio::test]
async fn verify_beside_a_busy_server_raises_no_false_alarm() {
    let anchor_bucket = bucket_name("banchors");
    let srv = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: format!("[audit]\nanchor_bucket = \"{anchor_bucket}\"\nanchor_interval_secs = 0.1\n"),
            ..Default::default()
        },
    );
    let config = srv.data_dir.with_extension("toml");
    let s3 = srv.client();
    s3.create_bucket().bucket(&anchor_bucket).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let b = plain_bucket(&s3, "busy").await;
    anchor_of_head(&srv, &s3, &anchor_bucket).await;
    // Writes (and so new records and new anchors) keep coming while verify reads.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (s3, b, stop) = (s3.clone(), b.clone(), std::sync::Arc::clone(&stop));
            tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Acquire) && n < 5_000 {
                    let key = format!("w{w}-{n}");
                    s3.put_object().bucket(&b).key(key).body(ByteStream::from_static(b"x")).send().await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    for _ in 0..10 {
        let data = srv.data_dir.clone();
        let config = config.clone();
        let (ok, out, err) = tokio::task::spawn_blocking(move || verify(&data, Some(&config))).await.unwrap();
        assert!(ok, "a false alarm beside a running server: {out}{err}");
        assert!(out.contains("every chain agrees with them"), "{out}");
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    for w in writers {
        assert!(w.await.unwrap() > 0);
    }
}
