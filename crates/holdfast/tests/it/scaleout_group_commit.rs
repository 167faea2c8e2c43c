//! Group commit of PUTs on PostgreSQL (issue #17): many PUTs in one transaction, each in
//! its own subtransaction. Every loop is bounded in count and time.
//!
//! - Concurrent PUTs where some are refused (If-None-Match on a current version, If-Match
//!   on another ETag or on a missing key): each gets exactly its own answer, the others
//!   are stored with their own bytes and ETags.
//! - SIGKILL of the gateway with groups in flight: every acknowledged PUT reads back after
//!   a restart.
//! - PostgreSQL stopped (crash, `-m immediate`) with groups in flight: every waiting client
//!   gets an answer (an error), and once it is back nothing acknowledged is lost.

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::{Postgres, Server, ServerOptions, bucket_name, error_code};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

fn options(url: &str) -> ServerOptions {
    ServerOptions {
        config_toml: format!("[meta]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 8\n"),
        ..Default::default()
    }
}

fn md5_hex(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(<md5::Md5 as md5::Digest>::digest(body)))
}

/// What each PUT of a round sends and expects.
enum Put {
    New,
    /// `If-None-Match: *` on a key with a current version: 412.
    NoneMatchTaken,
    /// `If-Match` with another ETag: 412.
    MatchOther,
    /// `If-Match` on a key that has no version: 404 NoSuchKey.
    MatchMissing,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_puts_with_refusals_each_get_their_own_answer() {
    let url = Postgres::shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(BIN, &dir.path().join("data"), options(&url));
    let s3 = server.client();
    let bucket = bucket_name("group");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object().bucket(&bucket).key("taken").body(ByteStream::from_static(b"first")).send().await.unwrap();
    for round in 0..4 {
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (s3, bucket, barrier) = (s3.clone(), bucket.clone(), Arc::clone(&barrier));
                tokio::spawn(async move {
                    let kind = match i {
                        3 => Put::NoneMatchTaken,
                        9 => Put::MatchOther,
                        15 => Put::MatchMissing,
                        _ => Put::New,
                    };
                    let key = match kind {
                        Put::NoneMatchTaken | Put::MatchOther => "taken".to_owned(),
                        Put::MatchMissing => format!("missing-{round}-{i}"),
                        Put::New => format!("k-{round}-{i}"),
                    };
                    let body = format!("round {round} writer {i} {}", "x".repeat(i * 37)).into_bytes();
                    let mut req = s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(body.clone()));
                    req = match kind {
                        Put::NoneMatchTaken => req.if_none_match("*"),
                        Put::MatchOther => req.if_match("\"0123456789abcdef0123456789abcdef\""),
                        Put::MatchMissing => req.if_match("*"),
                        Put::New => req,
                    };
                    barrier.wait().await;
                    (kind, key, body, req.send().await)
                })
            })
            .collect();
        for t in tasks {
            let (kind, key, body, result) = t.await.unwrap();
            match kind {
                Put::New => {
                    let out = result.unwrap_or_else(|e| panic!("{key}: {e:?}"));
                    assert_eq!(out.e_tag(), Some(md5_hex(&body).as_str()), "{key} answered another PUT's ETag");
                    let got = s3.get_object().bucket(&bucket).key(&key).send().await.unwrap();
                    assert_eq!(got.e_tag(), Some(md5_hex(&body).as_str()));
                    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice(), "{key}");
                }
                Put::NoneMatchTaken | Put::MatchOther => {
                    let err = result.expect_err("a refused conditional PUT");
                    assert_eq!(error_code(&err), (Some("PreconditionFailed".into()), Some(412)), "{key}");
                }
                Put::MatchMissing => {
                    let err = result.expect_err("If-Match on a missing key");
                    assert_eq!(error_code(&err), (Some("NoSuchKey".into()), Some(404)), "{key}");
                    let head = s3.head_object().bucket(&bucket).key(&key).send().await;
                    assert!(head.is_err(), "{key} was stored although refused");
                }
            }
        }
        // The refused PUTs left the key they addressed as it was.
        let got = s3.get_object().bucket(&bucket).key("taken").send().await.unwrap();
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"first");
    }
    let listed = s3.list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(1 + 4 * 17), "exactly the accepted PUTs are stored");
}

type Acked = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// PUTs distinct keys until `deadline` or `max` PUTs; acknowledged ones go to `acked`.
/// Returns (acknowledged, errors); every answer comes within the client's timeout.
async fn writer(s3: Client, bucket: String, id: usize, acked: Acked, deadline: Instant, max: usize) -> (usize, usize) {
    let (mut ok, mut failed) = (0, 0);
    for n in 0..max {
        if Instant::now() >= deadline {
            break;
        }
        let key = format!("w{id}-{n}");
        let body = format!("{key} {}", "y".repeat(n % 200)).into_bytes();
        let put = s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(body.clone())).send();
        match tokio::time::timeout(Duration::from_secs(40), put).await {
            Ok(Ok(out)) => {
                assert_eq!(out.e_tag(), Some(md5_hex(&body).as_str()), "{key}");
                acked.lock().unwrap().insert(key, body);
                ok += 1;
            }
            Ok(Err(e)) => {
                let (_, status) = error_code(&e);
                // The database gone: 500/503 as for a PUT on its own; the gateway gone: no response.
                assert!(matches!(status, None | Some(500) | Some(503)), "{key}: {e:?}");
                failed += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(_) => panic!("{key}: no answer within 40 s"),
        }
    }
    (ok, failed)
}

async fn check_acked(s3: &Client, bucket: &str, acked: &Acked) {
    let acked = acked.lock().unwrap().clone();
    for (key, body) in &acked {
        let got = s3.get_object().bucket(bucket).key(key).send().await;
        let got = got.unwrap_or_else(|e| panic!("acknowledged {key} is gone: {e:?}"));
        assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), body.as_slice(), "{key}");
    }
}

/// Sixteen [`writer`]s for 3 s (at most 400 PUTs each), and a second for them to get going:
/// the fault is injected while groups are in flight.
async fn spawn_writers(s3: &Client, bucket: &str, acked: &Acked) -> Vec<tokio::task::JoinHandle<(usize, usize)>> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let tasks = (0..16)
        .map(|i| tokio::spawn(writer(s3.clone(), bucket.to_owned(), i, Arc::clone(acked), deadline, 400)))
        .collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_with_groups_in_flight_loses_no_acknowledged_put() {
    let url = Postgres::shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_in(BIN, &dir.path().join("data"), options(&url));
    let s3 = server.client();
    let bucket = bucket_name("groupkill");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let acked: Acked = Arc::default();
    let tasks = spawn_writers(&s3, &bucket, &acked).await;
    let before = acked.lock().unwrap().len();
    server.kill();
    for t in tasks {
        t.await.unwrap();
    }
    let total = acked.lock().unwrap().len();
    assert!(before > 0, "PUTs were acknowledged before the kill");
    server.start_again();
    let s3 = server.client();
    check_acked(&s3, &bucket, &acked).await;
    eprintln!("group commit sigkill: {total} acknowledged PUTs ({before} before the kill), all intact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_down_with_groups_in_flight_answers_every_client_and_loses_nothing() {
    // Durable (fsync, synchronous commit): an acknowledged commit must survive the crash.
    let pg = Postgres::start_with(true);
    let url = pg.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_in(BIN, &dir.path().join("data"), options(&url));
    let s3 = server.client();
    let bucket = bucket_name("groupdown");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let acked: Acked = Arc::default();
    let tasks = spawn_writers(&s3, &bucket, &acked).await;
    let before = acked.lock().unwrap().len();
    pg.halt();
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await.unwrap();
        ok += o;
        failed += f;
    }
    assert!(before > 0, "PUTs were acknowledged before the database went down");
    assert!(failed > 0, "the writers saw the database go down ({ok} acknowledged)");
    pg.resume();
    // The gateway reconnects on its own; its first PUT may still meet a dead connection.
    let mut back = false;
    for _ in 0..50 {
        let put = s3.put_object().bucket(&bucket).key("after").body(ByteStream::from_static(b"after")).send().await;
        if put.is_ok() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(back, "PUTs work again once the database is back");
    check_acked(&s3, &bucket, &acked).await;
    eprintln!("group commit database down: {ok} acknowledged ({before} before), {failed} refused, all intact");
}
