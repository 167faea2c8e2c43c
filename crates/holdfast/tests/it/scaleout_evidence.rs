//! Scale-out of the evidence features : three `holdfast serve`
//! processes on one PostgreSQL database and one data directory. Every wait is bounded.
//!
//! - Events written through different gateways reach a webhook receiver started here, each
//!   exactly once; when a gateway is SIGKILLed while it holds claimed deliveries, each of
//!   them is delivered by a survivor once its claim (lease) runs out, and the one event the
//!   dead gateway had already posted but never saw answered is the only one received twice
//!   (at-least-once: that duplicate is what the contract allows, nothing else is).
//! - Every gateway writes its own audit chain (`audit/gw-<n>`), a restarted gateway goes on
//!   with its chain, and `holdfast admin audit verify` passes with one record per
//!   state-changing or denied request, in the chain of the gateway that served it.
//! - Lifecycle with three gateways: one gateway at a time holds the lifecycle lease and runs
//!   the passes; each eligible noncurrent version is expired exactly once (one event, one
//!   audit record across all chains), a protected one never; after the holder is SIGKILLed
//!   a survivor takes the lease over and goes on.

use crate::evidence_support::{BIN, holdfast, metric, metrics_text, wait_for};
use crate::object_lock_support::{in_secs, lock_bucket, put, put_held, put_locked, version_ids};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::types::{
    BucketLifecycleConfiguration, Event, ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
    NoncurrentVersionExpiration, NotificationConfiguration, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode, QueueConfiguration,
};
use holdfast_testkit::{Postgres, Server, ServerOptions, bucket_name, error_code};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ARN: &str = "arn:holdfast:sqs::hook:webhook";

// --- A webhook receiver that knows which gateway posted ----------------------------------

/// One POST received: the path tells the gateway (each gateway's target has its own path),
/// `held` that it was never answered.
#[derive(Debug, Clone)]
struct Delivery {
    path: String,
    record: Value,
    held: bool,
    at: Instant,
}

impl Delivery {
    /// (eventName, versionId): what an event is about.
    fn event(&self) -> (String, String) {
        event_of(&self.record)
    }
}

fn event_of(r: &Value) -> (String, String) {
    (
        r["eventName"].as_str().unwrap_or_default().to_owned(),
        r["s3"]["object"]["versionId"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Answers 200 to every POST, one thread per connection, except on the `hold` path: those
/// POSTs are recorded and never answered (the gateway waits, as for a slow target).
struct Receiver {
    port: u16,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    hold: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
}

/// The request path and body of one HTTP/1.1 request.
fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let path = head.split_whitespace().nth(1)?.to_owned();
    let lower = head.to_ascii_lowercase();
    let len: usize =
        lower.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((path, buf[head_end..head_end + len].to_vec()))
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let r = Self { port, deliveries: Arc::default(), hold: Arc::default(), stop: Arc::default() };
        let (deliveries, hold, stop) = (Arc::clone(&r.deliveries), Arc::clone(&r.hold), Arc::clone(&r.stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let (deliveries, hold, stop) = (Arc::clone(&deliveries), Arc::clone(&hold), Arc::clone(&stop));
                        std::thread::spawn(move || {
                            stream.set_nonblocking(false).unwrap();
                            let Some((path, body)) = read_request(&mut stream) else { return };
                            let json: Value = serde_json::from_slice(&body).expect("a JSON event body");
                            let held = hold.lock().unwrap().as_deref() == Some(path.as_str());
                            for record in json["Records"].as_array().cloned().unwrap_or_default() {
                                let d = Delivery { path: path.clone(), record, held, at: Instant::now() };
                                deliveries.lock().unwrap().push(d);
                            }
                            if held {
                                // Never answered: dropped once the hold is lifted.
                                while hold.lock().unwrap().as_deref() == Some(path.as_str())
                                    && !stop.load(Ordering::Acquire)
                                {
                                    std::thread::sleep(Duration::from_millis(20));
                                }
                                return;
                            }
                            let _ =
                                stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("webhook receiver accept: {e}"),
                }
            }
        });
        r
    }

    /// Gateway `i`'s endpoint for the same target id.
    fn endpoint(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}/gw{i}", self.port)
    }

    fn hold(&self, path: Option<&str>) {
        *self.hold.lock().unwrap() = path.map(str::to_owned);
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

// --- Three gateways --------------------------------------------------------------------

struct Cluster {
    gateways: Vec<Server>,
    data: PathBuf,
    db: String,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Three gateways on a fresh database and one data dir; `extra(i)` is appended to
    /// gateway `i`'s configuration. Started one after the other, gateway `i` takes the
    /// audit chain `gw-<i+1>` (the first free one).
    fn start(extra: impl Fn(usize) -> String) -> Self {
        let url = Postgres::shared().fresh_database();
        let db = url.rsplit('/').next().unwrap().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let gateways = (0..3)
            .map(|i| {
                let config_toml =
                    format!("[meta]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 8\n{}", extra(i));
                Server::start_in(BIN, &data, ServerOptions { config_toml, ..Default::default() })
            })
            .collect();
        Self { gateways, data, db, _dir: dir }
    }

    fn clients(&self) -> Vec<Client> {
        self.gateways.iter().map(Server::client).collect()
    }

    fn psql(&self, sql: &str) -> String {
        Postgres::shared().psql(&self.db, sql).unwrap().trim().to_owned()
    }
}

/// Every audit record of every gateway chain, with its chain's name (`gw-<n>`).
fn chain_records(data: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let base = data.join("audit");
    let mut chains: Vec<PathBuf> = std::fs::read_dir(&base)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default();
    chains.sort();
    for chain in chains {
        let name = chain.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&chain)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("audit-"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for line in text.split_terminator('\n') {
                let record = serde_json::from_str(line).unwrap_or_else(|e| panic!("audit line {line:?}: {e}"));
                out.push((name.clone(), record));
            }
        }
    }
    out
}

/// `holdfast admin audit verify`: asserts exit 0 and returns each chain's record count
/// (by chain name) and the printed total.
fn verify(data: &Path) -> (BTreeMap<String, u64>, u64) {
    let (ok, out, err) = holdfast(&["admin", "audit", "verify", "--data-dir", data.to_str().unwrap()]);
    assert!(ok, "verify failed: {out}{err}");
    let mut chains = BTreeMap::new();
    let mut total = None;
    for line in out.lines() {
        if let Some(n) = line.strip_prefix("audit trail intact: ").and_then(|r| r.strip_suffix(" records")) {
            total = Some(n.parse().unwrap());
        } else if let Some((dir, rest)) = line.split_once(": intact, ") {
            let name = Path::new(dir).file_name().unwrap().to_string_lossy().into_owned();
            let n: u64 = rest.split_whitespace().next().unwrap().parse().unwrap();
            chains.insert(name, n);
        }
    }
    (chains, total.unwrap_or_else(|| panic!("no total in {out}")))
}

async fn versioned_bucket(s3: &Client) -> String {
    let b = bucket_name("sev");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    holdfast_testkit::enable_versioning(s3, &b).await;
    b
}

async fn put_notification(s3: &Client, b: &str, events: &[&str]) {
    let q = QueueConfiguration::builder()
        .id("all")
        .queue_arn(ARN)
        .set_events(Some(events.iter().map(|e| Event::from(*e)).collect()))
        .build()
        .unwrap();
    let config = NotificationConfiguration::builder().queue_configurations(q).build();
    s3.put_bucket_notification_configuration().bucket(b).notification_configuration(config).send().await.unwrap();
}

/// Counts of each event's answered (not held) deliveries.
fn answered(deliveries: &[Delivery]) -> BTreeMap<(String, String), usize> {
    let mut n = BTreeMap::new();
    for d in deliveries.iter().filter(|d| !d.held) {
        *n.entry(d.event()).or_default() += 1;
    }
    n
}

fn put_event(version: String) -> (String, String) {
    ("ObjectCreated:Put".to_owned(), version)
}

// --- (a) events --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_through_three_gateways_arrive_once_and_a_killed_gateways_claims_are_redelivered() {
    let rx = Receiver::start();
    let mut c = Cluster::start(|i| {
        format!(
            "[notify]\nretry_min_ms = 100\nretry_max_ms = 400\n[notify.webhook.hook]\nendpoint = \"{}\"\n",
            rx.endpoint(i)
        )
    });
    let s3 = c.clients();
    let b = versioned_bucket(&s3[0]).await;
    put_notification(&s3[1], &b, &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]).await;

    // Phase 1, all gateways up: writes and deletes through each gateway.
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let (s3, b) = (s3[n % 3].clone(), b.clone());
            tokio::spawn(async move { put(&s3, &b, &format!("a/{n}"), format!("body {n}").as_bytes()).await })
        })
        .collect();
    for t in tasks {
        expected.insert(put_event(t.await.unwrap()));
    }
    for n in 0..6 {
        let out = s3[(n + 1) % 3].delete_object().bucket(&b).key(format!("a/{n}")).send().await.unwrap();
        assert_eq!(out.delete_marker(), Some(true));
        expected.insert(("ObjectRemoved:DeleteMarkerCreated".to_owned(), out.version_id().unwrap().to_owned()));
    }
    wait_for("every phase-1 event delivered", Duration::from_secs(30), async || {
        let got = answered(&rx.deliveries());
        expected.iter().all(|e| got.contains_key(e)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // room for a duplicate to show
    let first = rx.deliveries();
    let counts = answered(&first);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "delivered more than once with every gateway up: {twice:?}");
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected, "exactly the events of the writes");
    let sequencers: BTreeSet<&str> =
        first.iter().map(|d| d.record["s3"]["object"]["sequencer"].as_str().unwrap()).collect();
    assert_eq!(sequencers.len(), first.len(), "one sequencer per event");
    let by_gateway: BTreeMap<&str, usize> = first.iter().fold(BTreeMap::new(), |mut m, d| {
        *m.entry(d.path.as_str()).or_default() += 1;
        m
    });
    eprintln!("phase 1: {} events, delivered by {by_gateway:?}", first.len());

    // Phase 2: gateway 1's deliveries are received but never answered. Write until it has
    // posted one (then it is stuck on it, holding its other claims), and SIGKILL it.
    rx.hold(Some("/gw1"));
    let started = Instant::now();
    let mut n = 100;
    while !rx.deliveries().iter().any(|d| d.held) {
        assert!(started.elapsed() < Duration::from_secs(30), "gateway 1 never claimed a delivery");
        for g in &s3 {
            expected.insert(put_event(put(g, &b, &format!("b/{n}"), b"phase two").await));
            n += 1;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    c.gateways[1].kill();
    let killed_at = Instant::now();
    rx.hold(None);
    for g in [0, 2, 0, 2, 0, 2] {
        expected.insert(put_event(put(&s3[g], &b, &format!("c/{n}"), b"after the kill").await));
        n += 1;
    }
    // The dead gateway's claims run out (20 s: twice the delivery timeout); survivors
    // deliver them.
    wait_for("every event delivered after the kill", Duration::from_secs(60), async || {
        let got = answered(&rx.deliveries());
        expected.iter().all(|e| got.contains_key(e)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = rx.deliveries();
    let held: Vec<&Delivery> = all.iter().filter(|d| d.held).collect();
    assert_eq!(held.len(), 1, "the killed gateway posts one delivery at a time: {held:?}");
    assert_eq!(held[0].path, "/gw1");
    assert!(held[0].at < killed_at);
    let counts = answered(&all);
    assert_eq!(counts.keys().cloned().collect::<BTreeSet<_>>(), expected, "exactly the events of the writes");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "an event was answered twice: {twice:?}");
    // The one duplicate the contract allows: the event the dead gateway had posted,
    // delivered again by a survivor after the kill. Nothing else arrived twice.
    let again: Vec<&Delivery> = all.iter().filter(|d| !d.held && d.event() == held[0].event()).collect();
    assert_eq!(again.len(), 1);
    assert!(again[0].path == "/gw0" || again[0].path == "/gw2", "{:?}", again[0].path);
    assert!(again[0].at > killed_at, "redelivered only after the kill");
    assert_eq!(all.len(), expected.len() + 1, "one receipt per event, plus the one the dead gateway posted");
    assert_eq!(c.psql("SELECT count(*) FROM event_queue"), "0", "nothing left queued");
    eprintln!(
        "phase 2: {} events in all; the held one redelivered {:.1} s after the kill",
        expected.len(),
        (again[0].at - killed_at).as_secs_f64()
    );
}

// --- (b) audit chains ---------------------------------------------------------------------

/// Through one gateway: `puts` PutObjects (and as many GetObjects, which are not recorded),
/// a GOVERNANCE retention (durable), a refused DeleteObject of that version (a denial) and a
/// DeleteObject that writes a marker. Returns the records this makes: puts + 3.
async fn workload(s3: &Client, b: &str, g: usize, puts: usize) -> u64 {
    let mut versions = Vec::new();
    for j in 0..puts {
        let key = format!("g{g}/k{j}");
        versions.push(put(s3, b, &key, key.as_bytes()).await);
        s3.get_object().bucket(b).key(&key).send().await.unwrap();
    }
    s3.put_object_retention()
        .bucket(b)
        .key(format!("g{g}/k0"))
        .version_id(&versions[0])
        .retention(
            ObjectLockRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .retain_until_date(in_secs(3600))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let denied = s3.delete_object().bucket(b).key(format!("g{g}/k0")).version_id(&versions[0]).send().await;
    assert_eq!(error_code(&denied.unwrap_err()), (Some("AccessDenied".into()), Some(403)));
    s3.delete_object().bucket(b).key(format!("g{g}/k1")).send().await.unwrap();
    puts as u64 + 3
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_gateway_chain_verifies_and_counts_its_own_requests() {
    let mut c = Cluster::start(|_| String::new());
    let s3 = c.clients();
    let b = lock_bucket(&s3[0], "sau").await; // one record, gateway 0
    let mut made = [1u64, 0, 0];
    let work: Vec<_> = (0..3)
        .map(|g| {
            let (s3, b) = (s3[g].clone(), b.clone());
            tokio::spawn(async move { workload(&s3, &b, g, 3 * (g + 1)).await })
        })
        .collect();
    for (g, t) in work.into_iter().enumerate() {
        made[g] += t.await.unwrap();
    }
    // Gateway 1 is SIGKILLed once its records are on disk, and restarted: it takes its
    // chain back (the only free one) and continues it.
    wait_for("gateway 1's records written", Duration::from_secs(10), async || {
        let n = chain_records(&c.data).iter().filter(|(chain, _)| chain == "gw-2").count() as u64;
        (n == made[1]).then_some(())
    })
    .await;
    c.gateways[1].kill();
    c.gateways[1].start_again();
    let back = c.gateways[1].client();
    for j in 0..2 {
        put(&back, &b, &format!("g1/after-{j}"), b"after the restart").await;
    }
    made[1] += 2;
    for g in &mut c.gateways {
        assert!(g.terminate().success(), "a clean stop flushes the trail");
    }

    let (chains, total) = verify(&c.data);
    let want: BTreeMap<String, u64> = (0..3).map(|g| (format!("gw-{}", g + 1), made[g])).collect();
    assert_eq!(chains, want, "one chain per gateway, one record per state-changing or denied request");
    assert_eq!(total, made.iter().sum::<u64>());
    // Each record is in the chain of the gateway that served it, and the restart left no
    // recovery record (no torn line: a batch is one write).
    let records = chain_records(&c.data);
    for (chain, r) in &records {
        assert_ne!(r["op"], "AuditRecovered", "{chain}");
        if let Some(key) = r["key"].as_str() {
            let g: usize = key[1..2].parse().unwrap();
            assert_eq!(chain, &format!("gw-{}", g + 1), "{r}");
        }
    }
    let denials = records.iter().filter(|(_, r)| r["status"] == 403 && r["op"] == "DeleteObject").count();
    assert_eq!(denials, 3, "one denied delete per gateway");
    let seqs: Vec<u64> =
        records.iter().filter(|(chain, _)| chain == "gw-2").map(|(_, r)| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=made[1]).collect::<Vec<_>>(), "the restarted gateway went on with its chain");
}

// --- (c) lifecycle -------------------------------------------------------------------------

/// The gateway whose `holdfast_lifecycle_lease_held` gauge is 1 (asserting exactly one of
/// the running ones).
async fn lease_gauges(c: &Cluster, running: &[usize]) -> Vec<usize> {
    let mut holders = Vec::new();
    for &g in running {
        let text = metrics_text(&c.gateways[g].addr).await;
        if metric(&text, "holdfast_lifecycle_lease_held") == Some(1.0) {
            holders.push(g);
        }
    }
    holders
}

/// LifecycleExpiration records by version id: the chains they are in.
fn expirations(data: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (chain, r) in chain_records(data) {
        if r["op"] == "LifecycleExpiration" {
            out.entry(r["version_id"].as_str().unwrap().to_owned()).or_default().push(chain);
        }
    }
    out
}

fn lifecycle_chains(data: &Path) -> BTreeSet<String> {
    chain_records(data)
        .into_iter()
        .filter(|(_, r)| r["principal"] == "holdfast:lifecycle")
        .map(|(chain, _)| chain)
        .collect()
}

async fn two_versions(s3: &Client, b: &str, key: &str) -> String {
    let old = put(s3, b, key, b"one").await;
    put(s3, b, key, b"two").await;
    old
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifecycle_on_three_gateways_expires_each_version_once_from_the_lease_holder() {
    let rx = Receiver::start();
    // A lifecycle day is one second; each gateway wakes twice a second. The lease lasts
    // 10 s (its minimum).
    let mut c = Cluster::start(|i| {
        format!(
            "[lifecycle]\nday_seconds = 1\ninterval_seconds = 0.5\n[notify.webhook.hook]\nendpoint = \"{}\"\n",
            rx.endpoint(i)
        )
    });
    let s3 = c.clients();
    let b = lock_bucket(&s3[0], "slc").await;
    put_notification(&s3[0], &b, &["s3:ObjectRemoved:*", "s3:LifecycleExpiration:*"]).await;
    let until = in_secs(3600);
    let protected = [
        ("gov", put_locked(&s3[0], &b, "gov", ObjectLockMode::Governance, &until).await),
        ("comp", put_locked(&s3[1], &b, "comp", ObjectLockMode::Compliance, &until).await),
        ("held", put_held(&s3[2], &b, "held").await),
    ];
    for (k, _) in &protected {
        put(&s3[0], &b, k, b"current").await;
    }
    let mut eligible = BTreeMap::new();
    for i in 0..8 {
        let key = format!("p/{i}");
        eligible.insert(two_versions(&s3[i % 3], &b, &key).await, key);
    }
    let rule = LifecycleRule::builder()
        .id("nc")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("").build())
        .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
        .build()
        .unwrap();
    s3[1]
        .put_bucket_lifecycle_configuration()
        .bucket(&b)
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();

    wait_for("every eligible version expired", Duration::from_secs(30), async || {
        for key in eligible.values() {
            if version_ids(&s3[0], &b, key).await.len() != 1 {
                return None;
            }
        }
        Some(())
    })
    .await;
    wait_for("a pass skipped the protected versions", Duration::from_secs(10), async || {
        chain_records(&c.data).iter().any(|(_, r)| r["op"] == "LifecycleSkipProtected").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // four more wake-ups of every gateway

    // One holder: its gauge, the lease row, and every lifecycle record are its.
    let ran = lifecycle_chains(&c.data);
    assert_eq!(ran.len(), 1, "one gateway ran every pass: lifecycle records in {ran:?}");
    let chain = c.psql("SELECT holder FROM leases WHERE name = 'lifecycle'");
    assert_eq!(ran, BTreeSet::from([chain.clone()]), "the lease holder's chain");
    let holders = lease_gauges(&c, &[0, 1, 2]).await;
    assert_eq!(holders.len(), 1, "exactly one gateway says it holds the lifecycle lease: {holders:?}");
    let h = holders[0];
    assert_eq!(chain, format!("gw-{}", h + 1), "the gateway whose gauge says so");
    let exp = expirations(&c.data);
    let want: BTreeMap<String, Vec<String>> = eligible.keys().map(|v| (v.clone(), vec![chain.clone()])).collect();
    assert_eq!(exp, want, "one audit record per expired version, none for a protected one");
    let events = rx.deliveries();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for d in &events {
        *counts.entry(d.event()).or_default() += 1;
    }
    let want: BTreeMap<(String, String), usize> =
        eligible.keys().map(|v| (("LifecycleExpiration:Delete".to_owned(), v.clone()), 1)).collect();
    assert_eq!(counts, want, "one event per expired version, none for a protected one");

    // The holder dies (SIGKILL, whatever it was doing). Within the lease's 10 s a survivor
    // takes it over and expires what becomes eligible after the kill.
    c.gateways[h].kill();
    let killed_at = Instant::now();
    let survivors: Vec<usize> = (0..3).filter(|g| *g != h).collect();
    let mut late = BTreeMap::new();
    for (n, g) in survivors.iter().cycle().take(4).enumerate() {
        let key = format!("late/{n}");
        late.insert(two_versions(&s3[*g], &b, &key).await, key);
    }
    wait_for("the late versions expired by a survivor", Duration::from_secs(45), async || {
        for key in late.values() {
            if version_ids(&s3[survivors[0]], &b, key).await.len() != 1 {
                return None;
            }
        }
        Some(())
    })
    .await;
    let took_over = killed_at.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let holders = lease_gauges(&c, &survivors).await;
    assert_eq!(holders.len(), 1, "exactly one survivor holds the lease: {holders:?}");
    let next = format!("gw-{}", holders[0] + 1);
    assert_eq!(c.psql("SELECT holder FROM leases WHERE name = 'lifecycle'"), next);
    let exp = expirations(&c.data);
    for v in late.keys() {
        assert_eq!(exp.get(v), Some(&vec![next.clone()]), "late version {v}: once, by the new holder");
    }
    assert_eq!(exp.len(), eligible.len() + late.len(), "no other version was expired");
    let events = rx.deliveries();
    for v in late.keys() {
        let n = events.iter().filter(|d| d.event() == ("LifecycleExpiration:Delete".to_owned(), v.clone())).count();
        assert_eq!(n, 1, "late version {v}: one event");
    }
    assert_eq!(events.len(), eligible.len() + late.len(), "no event for anything else");
    // Never a protected version, on any pass of any holder.
    for (k, v) in &protected {
        let ids = version_ids(&s3[survivors[0]], &b, k).await;
        assert_eq!(ids.len(), 2, "{k}");
        assert_eq!(&ids[1], v, "{k}: the protected version is still there");
    }
    verify(&c.data);
    eprintln!(
        "lifecycle: lease {chain} -> {next}; the late versions went {:.1} s after the kill",
        took_over.as_secs_f64()
    );
}
