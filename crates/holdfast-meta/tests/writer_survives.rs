//! The embedded store's writer thread outlives any failed batch: the failed
//! batch's callers get an error, the next batch commits. Before, one failure could leave
//! every later write answering "metadata writer stopped" until restart.

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use bytes::Bytes;
use holdfast_lock::{LockState, UtcMillis};
use holdfast_meta::sqlite::{CommitObserver, CommitStage, SqliteMeta};
use holdfast_meta::{
    MetaError, MetaStore, NewVersion, ObjectData, ObjectHeaders, TagSet, VersionSelector, WriteConditions, WriteOrigin,
};
use holdfast_testkit::Tmpfs;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

fn inline_object(n: usize, seed: u8) -> ObjectData {
    let bytes: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(seed | 1).wrapping_add((i >> 8) as u8)).collect();
    ObjectData {
        size: n as u64,
        etag: "e".into(),
        headers: ObjectHeaders::default(),
        checksum: None,
        segments: Vec::new(),
        parts: Vec::new(),
        inline: Some(Bytes::from(bytes)),
    }
}

async fn put(s: &SqliteMeta, key: &str, n: usize) -> Result<(), MetaError> {
    let v = NewVersion {
        bucket: "b".into(),
        key: key.into(),
        object: inline_object(n, key.len() as u8),
        lock: LockState::default(),
        origin: WriteOrigin::Put,
    };
    s.put_version(v, TagSet::new(), WriteConditions::default(), UtcMillis::now_system()).await.map(|_| ())
}

async fn exists(s: &SqliteMeta, key: &str) -> bool {
    s.version("b", key, &VersionSelector::Latest).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_at_commit_fails_that_batch_only() {
    let dir = tempfile::tempdir().unwrap();
    let panics = Arc::new(AtomicU32::new(0));
    let p = Arc::clone(&panics);
    let observer: CommitObserver = Arc::new(move |stage, _| {
        if matches!(stage, CommitStage::BeforeCommit { .. }) && p.fetch_sub(1, Ordering::SeqCst) == 1 {
            panic!("injected panic before COMMIT");
        }
        Ok(())
    });
    let s = SqliteMeta::open_observed(&dir.path().join("meta.db"), Some(observer)).unwrap();
    s.create_bucket("b", false, UtcMillis::now_system()).await.unwrap();
    panics.store(1, Ordering::SeqCst);
    let err = put(&s, "lost", 100).await.expect_err("the batch that panicked is not acknowledged");
    assert!(matches!(err, MetaError::Internal(_)), "{err:?}");
    assert!(!exists(&s, "lost").await, "a failed batch leaves nothing");
    for i in 0..3 {
        put(&s, &format!("after-{i}"), 100).await.expect("the next batches commit");
        assert!(exists(&s, &format!("after-{i}")).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_fails_on_a_full_disk_does_not_stop_the_writer() {
    let fs = Tmpfs::mount("4m");
    let s = SqliteMeta::open(&fs.path().join("meta.db")).unwrap();
    s.create_bucket("b", false, UtcMillis::now_system()).await.unwrap();
    // A filler takes every free block, as another process on the volume would.
    let filler = fs.path().join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while std::io::Write::write_all(&mut f, &chunk).is_ok() {}
    drop(f);
    let mut failed = 0;
    for i in 0..40 {
        if put(&s, &format!("full-{i}"), 60_000).await.is_err() {
            failed += 1;
        }
    }
    assert!(failed > 0, "the disk is full: some commit must fail");
    let err = put(&s, "full-last", 60_000).await.expect_err("still full");
    assert!(!err.to_string().contains("writer stopped"), "{err}");
    std::fs::remove_file(&filler).unwrap();
    for i in 0..5 {
        put(&s, &format!("back-{i}"), 60_000).await.expect("space is back: the next batch commits");
        assert!(exists(&s, &format!("back-{i}")).await);
    }
    assert!(!exists(&s, "full-last").await, "a refused write left nothing");
}
