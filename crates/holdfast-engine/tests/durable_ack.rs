//! A PUT is acknowledged only after the metadata commit that records it is durable.
//!
//! The metadata writer is held just before its `COMMIT` (a commit observer on the SQLite
//! store): while it is held the PUT is not answered and the object cannot be read; the
//! writer's connection commits with WAL and `synchronous=NORMAL` (the syncer thread
//! fdatasyncs the log afterwards); a blob-backed object's file is already in place; and the
//! answer comes only after the commit and its sync. Held between the commit and the sync,
//! the write is neither answered nor shown to a reader. A commit or a sync that fails
//! (fault injection) is never acknowledged, for inline and blob-backed objects alike, and
//! leaves nothing readable (#17).

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use bytes::Bytes;
use futures::StreamExt;
use holdfast_blob::LocalBlobStore;
use holdfast_engine::{BodyClaims, Engine, EngineConfig, EngineError, GetObject, PutObject, ReadConditions};
use holdfast_lock::LockState;
use holdfast_meta::sqlite::{CommitObserver, CommitStage, SqliteMeta};
use holdfast_meta::{
    Bucket, MetaError, MetaStore, ObjectHeaders, TagSet, VersionRecord, VersionSelector, WriteConditions,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// What the writer saw when it reached a held commit.
#[derive(Debug)]
struct AtCommit {
    jobs: usize,
    synchronous: i64,
    journal_mode: String,
}

/// Holds the writer before `COMMIT` while armed, and records the order of events.
struct Gate {
    armed: AtomicBool,
    /// Holds the syncer after its fdatasync, before the answers.
    armed_sync: AtomicBool,
    reached: Mutex<mpsc::Sender<AtCommit>>,
    release: Mutex<mpsc::Receiver<Result<(), String>>>,
    log: Mutex<Vec<&'static str>>,
}

impl Gate {
    fn push(&self, event: &'static str) {
        self.log.lock().unwrap().push(event);
    }

    fn take_log(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    /// The bucket every PUT goes to, read once as the api would.
    bucket: Bucket,
    gate: Arc<Gate>,
    reached: mpsc::Receiver<AtCommit>,
    release: mpsc::Sender<Result<(), String>>,
    blob_dir: std::path::PathBuf,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (reached_tx, reached) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let gate = Arc::new(Gate {
        armed: AtomicBool::new(false),
        armed_sync: AtomicBool::new(false),
        reached: Mutex::new(reached_tx),
        release: Mutex::new(release_rx),
        log: Mutex::new(Vec::new()),
    });
    let g = Arc::clone(&gate);
    let observer: CommitObserver = Arc::new(move |stage, conn| {
        if let CommitStage::Synced { jobs } = stage
            && g.armed_sync.load(Ordering::SeqCst)
        {
            g.reached.lock().unwrap().send(AtCommit { jobs, synchronous: -1, journal_mode: "synced".into() }).unwrap();
            let verdict = g.release.lock().unwrap().recv().unwrap();
            g.push(if verdict.is_ok() { "synced" } else { "sync failed" });
            return verdict;
        }
        if !g.armed.load(Ordering::SeqCst) {
            return Ok(());
        }
        match stage {
            CommitStage::BeforeCommit { jobs } => {
                let conn = conn.expect("the writer's stages come with its connection");
                let synchronous: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
                let journal_mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
                g.reached.lock().unwrap().send(AtCommit { jobs, synchronous, journal_mode }).unwrap();
                let verdict = g.release.lock().unwrap().recv().unwrap();
                g.push(if verdict.is_ok() { "commit" } else { "commit refused" });
                verdict
            }
            CommitStage::Committed { .. } => {
                g.push("committed");
                Ok(())
            }
            CommitStage::Synced { .. } => {
                g.push("synced");
                Ok(())
            }
        }
    });
    let meta: Arc<dyn MetaStore> =
        Arc::new(SqliteMeta::open_observed(&dir.path().join("meta.db"), Some(observer)).unwrap());
    let blobs = Arc::new(LocalBlobStore::open(dir.path()).unwrap());
    let engine = Arc::new(Engine::new(meta, blobs, EngineConfig::default()).await.unwrap());
    engine.create_bucket("b", false).await.unwrap();
    let bucket = engine.bucket("b").await.unwrap().unwrap();
    let blob_dir = dir.path().join("blobs");
    Fixture { _dir: dir, engine, bucket, gate, reached, release, blob_dir }
}

fn body_of(n: usize, seed: u8) -> Bytes {
    Bytes::from((0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>())
}

/// A PUT in its own task that logs "acked" when the engine answers.
fn spawn_put(f: &Fixture, key: &str, data: Bytes) -> tokio::task::JoinHandle<Result<VersionRecord, EngineError>> {
    let engine = Arc::clone(&f.engine);
    let gate = Arc::clone(&f.gate);
    let req = PutObject {
        key: key.into(),
        headers: ObjectHeaders::default(),
        claims: BodyClaims { content_length: Some(data.len() as u64), ..BodyClaims::none() },
        body: futures::stream::iter(vec![Ok(data)]).boxed(),
        lock: LockState::default(),
        conditions: WriteConditions::default(),
    };
    let bucket = f.bucket.clone();
    tokio::spawn(async move {
        let out = engine.put_object(&bucket, req, TagSet::new()).await;
        gate.push("acked");
        out
    })
}

async fn read(engine: &Engine, key: &str) -> Result<Vec<u8>, EngineError> {
    let req = GetObject {
        bucket: "b".into(),
        key: key.into(),
        version: VersionSelector::Latest,
        range: None,
        part_number: None,
        conditions: ReadConditions::default(),
        with_tags: false,
    };
    let got = engine.get_object(req, true).await?;
    let mut body = got.body.expect("a body");
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

fn blob_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count()).sum()
}

/// Waits until the writer is held before its commit (bounded).
fn reached(f: &Fixture) -> AtCommit {
    tokio::task::block_in_place(|| f.reached.recv_timeout(Duration::from_secs(60)))
        .expect("the writer reached the commit")
}

async fn held_put_is_answered_only_after_the_commit(size: usize) {
    let f = fixture().await;
    let data = body_of(size, 7);
    f.gate.armed.store(true, Ordering::SeqCst);
    let mut put = spawn_put(&f, "k", data.clone());
    let at = reached(&f);
    assert_eq!(at.jobs, 1);
    assert_eq!(at.synchronous, 1, "the writer commits with synchronous=NORMAL; the syncer syncs");
    assert_eq!(at.journal_mode, "wal");
    // Held before COMMIT: no answer, and nothing readable yet.
    assert!(tokio::time::timeout(Duration::from_millis(300), &mut put).await.is_err(), "answered before the commit");
    assert!(matches!(read(&f.engine, "k").await, Err(EngineError::Meta(MetaError::NoSuchKey))));
    let files = blob_files(&f.blob_dir);
    if size as u64 > holdfast_engine::DEFAULT_INLINE_MAX {
        assert_eq!(files, 1, "a blob-backed object's file is in place before its metadata commits");
    } else {
        assert_eq!(files, 0, "a small object is inline: its bytes commit with its metadata");
    }
    f.gate.push("released");
    f.release.send(Ok(())).unwrap();
    let rec = put.await.unwrap().expect("the PUT succeeds once committed");
    assert_eq!(f.gate.take_log(), ["released", "commit", "committed", "synced", "acked"]);
    assert_eq!(rec.object.as_ref().map(|o| o.size), Some(size as u64));
    f.gate.armed.store(false, Ordering::SeqCst);
    assert_eq!(read(&f.engine, "k").await.unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_put_is_acknowledged_only_after_its_commit() {
    held_put_is_answered_only_after_the_commit(4096).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_put_is_acknowledged_only_after_its_commit() {
    held_put_is_answered_only_after_the_commit(1 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_never_acknowledged() {
    let f = fixture().await;
    for (key, size) in [("small", 4096usize), ("large", 1 << 20)] {
        f.gate.armed.store(true, Ordering::SeqCst);
        let put = spawn_put(&f, key, body_of(size, 3));
        reached(&f);
        f.release.send(Err("injected fault".into())).unwrap();
        let out = put.await.unwrap();
        match out {
            Err(EngineError::Meta(MetaError::Internal(msg))) => assert!(msg.contains("injected fault"), "{msg}"),
            other => panic!("a PUT whose commit failed was answered {other:?}"),
        }
        assert_eq!(f.gate.take_log(), ["commit refused", "acked"], "{key}");
        f.gate.armed.store(false, Ordering::SeqCst);
        assert!(matches!(read(&f.engine, key).await, Err(EngineError::Meta(MetaError::NoSuchKey))), "{key}");
        assert_eq!(blob_files(&f.blob_dir), 0, "the blob of a refused write is removed");
    }
    // The writer goes on after a refused batch.
    let put = spawn_put(&f, "after", body_of(10, 1));
    put.await.unwrap().unwrap();
    assert_eq!(read(&f.engine, "after").await.unwrap(), body_of(10, 1));
}

/// Held after COMMIT and before its sync, a write is neither acknowledged nor shown to a
/// reader (the read waits for the sync); once synced, both see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_write_is_shown_only_once_synced() {
    let f = fixture().await;
    let data = body_of(4096, 5);
    f.gate.armed_sync.store(true, Ordering::SeqCst);
    let mut put = spawn_put(&f, "k", data.clone());
    let at = reached(&f);
    assert_eq!((at.jobs, at.journal_mode.as_str()), (1, "synced"));
    let engine = Arc::clone(&f.engine);
    let mut reader = tokio::spawn(async move { read(&engine, "k").await });
    assert!(tokio::time::timeout(Duration::from_millis(300), &mut put).await.is_err(), "answered before the sync");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut reader).await.is_err(),
        "a reader was shown a write not yet durable"
    );
    f.gate.armed_sync.store(false, Ordering::SeqCst);
    f.release.send(Ok(())).unwrap();
    put.await.unwrap().expect("acknowledged once synced");
    assert_eq!(reader.await.unwrap().expect("the reader sees it once durable"), data);
    assert_eq!(f.gate.take_log(), ["synced", "acked"]);
}

/// A failed sync of the metadata log: the write is not acknowledged, no reader is shown it,
/// and nothing later is acknowledged on top of it (until a restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_is_never_acknowledged_nor_shown() {
    let f = fixture().await;
    spawn_put(&f, "before", body_of(100, 2)).await.unwrap().unwrap();
    f.gate.armed_sync.store(true, Ordering::SeqCst);
    let put = spawn_put(&f, "k", body_of(4096, 9));
    reached(&f);
    f.gate.armed_sync.store(false, Ordering::SeqCst);
    f.release.send(Err("injected sync fault".into())).unwrap();
    match put.await.unwrap() {
        Err(EngineError::Meta(MetaError::Internal(msg))) => assert!(msg.contains("injected sync fault"), "{msg}"),
        other => panic!("a PUT whose sync failed was answered {other:?}"),
    }
    match read(&f.engine, "k").await {
        Err(EngineError::Meta(MetaError::Internal(msg))) => assert!(msg.contains("restart required"), "{msg}"),
        other => panic!("a write whose sync failed was read as {other:?}"),
    }
    // Every read could hold the unsynced batch: the store answers errors until restarted.
    assert!(matches!(read(&f.engine, "before").await, Err(EngineError::Meta(MetaError::Internal(_)))));
    let later = spawn_put(&f, "later", body_of(10, 1)).await.unwrap();
    assert!(matches!(later, Err(EngineError::Meta(MetaError::Internal(_)))), "{later:?}");
}
