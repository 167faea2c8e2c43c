//! Read-after-write under the read cache (#17): a GET or HEAD never returns a version older
//! than one already acknowledged to any client before the read started, with concurrent
//! writers and readers on one key; and HEAD sees at once a delete marker, an overwrite in an
//! unversioned or suspended bucket, a lock or legal-hold change (G1), new tags, and a bucket
//! deleted and created again under the same name.

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{
    BucketVersioningStatus, ObjectLockLegalHoldStatus as Hold, ObjectLockMode as M, ObjectLockRetentionMode as RM, Tag,
    Tagging,
};
use holdfast_testkit::error_code;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const WRITERS: usize = 4;
/// PUTs per writer; fewer on PostgreSQL, where every read and write is a round trip to the
/// database (the race is the same, the test shorter).
fn puts_each() -> usize {
    if holdfast_testkit::meta_is_postgres() { 100 } else { 200 }
}
const READERS: usize = 4;
/// Bounds each reader whatever the writers do.
const MAX_READS_EACH: usize = 4_000;

/// One acknowledged PUT: its label (also in the body and in `x-amz-meta-label`), its ETag,
/// and when it was sent and acknowledged.
#[derive(Clone)]
struct Write {
    label: String,
    version_id: Option<String>,
    sent: Instant,
    acked: Instant,
}

/// One read: the label it returned and when it was sent.
struct Read {
    label: String,
    sent: Instant,
    head: bool,
}

async fn writer(s3: Client, b: String, w: usize) -> Vec<Write> {
    let mut out = Vec::with_capacity(puts_each());
    for n in 0..puts_each() {
        let label = format!("w{w}-{n:04}");
        let sent = Instant::now();
        let put = s3
            .put_object()
            .bucket(&b)
            .key("k")
            .metadata("label", &label)
            .body(ByteStream::from(format!("{label}:{}", "x".repeat(200)).into_bytes()))
            .send()
            .await
            .unwrap();
        out.push(Write { label, version_id: put.version_id().map(str::to_owned), sent, acked: Instant::now() });
    }
    out
}

async fn reader(s3: Client, b: String, done: Arc<AtomicBool>) -> Vec<Read> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while !done.load(Ordering::Acquire) && out.len() < MAX_READS_EACH {
        i += 1;
        let sent = Instant::now();
        let head = i.is_multiple_of(2);
        let label = if head {
            match s3.head_object().bucket(&b).key("k").send().await {
                Ok(h) => h.metadata().and_then(|m| m.get("label")).cloned().unwrap(),
                Err(e) => {
                    assert_eq!(error_code(&e).1, Some(404), "{e:?}");
                    continue;
                }
            }
        } else {
            match s3.get_object().bucket(&b).key("k").send().await {
                Ok(g) => {
                    let meta = g.metadata().and_then(|m| m.get("label")).cloned().unwrap();
                    let body = g.body.collect().await.unwrap().into_bytes();
                    let text = String::from_utf8(body.to_vec()).unwrap();
                    let in_body = text.split(':').next().unwrap().to_owned();
                    assert_eq!(in_body, meta, "body and metadata of one GET name the same PUT");
                    meta
                }
                Err(e) => {
                    assert_eq!(error_code(&e).0.as_deref(), Some("NoSuchKey"), "{e:?}");
                    continue;
                }
            }
        };
        out.push(Read { label, sent, head });
    }
    out
}

/// Runs 4 writers and 4 readers on one key of `b`; returns what each side saw.
async fn race(s3: &Client, b: &str) -> (Vec<Write>, Vec<Read>) {
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> =
        (0..READERS).map(|_| tokio::spawn(reader(s3.clone(), b.to_owned(), Arc::clone(&done)))).collect();
    let writers: Vec<_> = (0..WRITERS).map(|w| tokio::spawn(writer(s3.clone(), b.to_owned(), w))).collect();
    let mut writes = Vec::new();
    for w in writers {
        writes.extend(tokio::time::timeout(Duration::from_secs(120), w).await.unwrap().unwrap());
    }
    done.store(true, Ordering::Release);
    let mut reads = Vec::new();
    for r in readers {
        reads.extend(r.await.unwrap());
    }
    (writes, reads)
}

/// Checks every read against writes known to be newer than what it returned: `newer(a, b)`
/// says the store ordered write `b` after write `a` for certain.
fn assert_never_stale(writes: &[Write], reads: &[Read], newer: impl Fn(&Write, &Write) -> bool) {
    let by_label: std::collections::HashMap<&str, &Write> = writes.iter().map(|w| (w.label.as_str(), w)).collect();
    let mut checked = 0;
    for r in reads {
        let got = by_label.get(r.label.as_str()).unwrap_or_else(|| panic!("read an unknown PUT {}", r.label));
        for w in writes.iter().filter(|w| w.acked < r.sent) {
            assert!(
                !newer(got, w),
                "a {} sent after {} was acknowledged returned the older {}",
                if r.head { "HEAD" } else { "GET" },
                w.label,
                got.label
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no read started after an acknowledged PUT: the test proved nothing");
}

#[tokio::test]
async fn concurrent_writers_and_readers_never_read_an_older_version_versioned() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "rawv").await;
    set_versioning(&s3, &b, BucketVersioningStatus::Enabled).await;
    let (writes, reads) = race(&s3, &b).await;
    assert_eq!(writes.len(), WRITERS * puts_each());
    // The store's own order of the versions: newest first in the listing (its order, not
    // LastModified's: a version's time is taken before it queues for its commit).
    let listed = s3.list_object_versions().bucket(&b).prefix("k").send().await.unwrap();
    let ids: Vec<String> = listed.versions().iter().map(|v| v.version_id().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), writes.len());
    let rank: std::collections::HashMap<&str, usize> =
        ids.iter().enumerate().map(|(i, id)| (id.as_str(), ids.len() - i)).collect();
    let rank_of = |w: &Write| rank[w.version_id.as_deref().unwrap()];
    assert_never_stale(&writes, &reads, |got, w| rank_of(w) > rank_of(got));
    // The last acknowledged state is what a read shows now.
    let newest = writes.iter().max_by_key(|w| rank_of(w)).unwrap();
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.version_id(), newest.version_id.as_deref());
}

#[tokio::test]
async fn concurrent_writers_and_readers_never_read_an_older_version_unversioned() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "rawu").await;
    let (writes, reads) = race(&s3, &b).await;
    // Overwrites leave no history to rank: a PUT acknowledged before another was sent is
    // certainly older than it (the store applies writes in an order that respects time).
    assert_never_stale(&writes, &reads, |got, w| got.acked < w.sent);
    let last = writes.iter().max_by_key(|w| w.acked).unwrap();
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    let shown = h.metadata().and_then(|m| m.get("label")).cloned().unwrap();
    let overlapping = writes.iter().filter(|w| w.acked > last.sent).map(|w| w.label.clone()).collect::<Vec<_>>();
    assert!(overlapping.contains(&shown), "HEAD after the run shows {shown}, not one of the last PUTs");
}

async fn head_raw(srv: &holdfast_testkit::Server, b: &str, k: &str) -> holdfast_testkit::RawResponse {
    raw(srv, "HEAD", &format!("/{b}/{k}"), &[], b"").await
}

#[tokio::test]
async fn head_sees_a_delete_marker_and_overwrites_at_once() {
    let srv = server();
    let s3 = srv.client();
    // Versioned: HEAD (cached), DeleteObject → the delete marker at once.
    let b = plain_bucket(&s3, "rawdm").await;
    set_versioning(&s3, &b, BucketVersioningStatus::Enabled).await;
    put(&s3, &b, "k", b"one").await;
    assert_eq!(head_raw(&srv, &b, "k").await.status, 200);
    assert_eq!(head_raw(&srv, &b, "k").await.status, 200);
    let marker = s3.delete_object().bucket(&b).key("k").send().await.unwrap().version_id().unwrap().to_owned();
    let r = head_raw(&srv, &b, "k").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(r.header("x-amz-version-id"), Some(marker.as_str()));
    // Removing the marker brings the version back at once.
    s3.delete_object().bucket(&b).key("k").version_id(&marker).send().await.unwrap();
    assert_eq!(head_raw(&srv, &b, "k").await.status, 200);

    // Unversioned and suspended: an overwrite of the same (null) version shows at once.
    for status in [None, Some(BucketVersioningStatus::Suspended)] {
        let b = plain_bucket(&s3, "rawow").await;
        if let Some(s) = &status {
            set_versioning(&s3, &b, s.clone()).await;
        }
        let e1 = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"one")).send().await.unwrap();
        let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
        assert_eq!(h.e_tag(), e1.e_tag());
        let e2 = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"two!")).send().await.unwrap();
        let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
        assert_eq!((h.e_tag(), h.content_length()), (e2.e_tag(), Some(4)));
        let g = s3.get_object().bucket(&b).key("k").send().await.unwrap();
        assert_eq!(&g.body.collect().await.unwrap().into_bytes()[..], b"two!");
        // DeleteObject removes the null version (unversioned) or replaces it by a marker.
        s3.delete_object().bucket(&b).key("k").send().await.unwrap();
        let r = head_raw(&srv, &b, "k").await;
        assert_eq!(r.status, 404);
        assert_eq!(r.header("x-amz-delete-marker"), status.as_ref().map(|_| "true"));
    }
}

#[tokio::test]
async fn head_shows_a_lock_hold_or_tag_change_at_once() {
    // G1: HEAD returns the version's lock state as it is now.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "rawlk").await;
    let first = in_secs(3_600);
    let v = put_locked(&s3, &b, "k", M::Governance, &first).await;
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.object_lock_retain_until_date(), Some(&first));
    let later = in_secs(7_200);
    s3.put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id(&v)
        .retention(retention(RM::Governance, &later))
        .send()
        .await
        .unwrap();
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.object_lock_retain_until_date(), Some(&later));
    assert_eq!(h.object_lock_legal_hold_status(), None);
    set_hold(&s3, &b, "k", Some(&v), Hold::On).await;
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.object_lock_legal_hold_status(), Some(&Hold::On));
    set_hold(&s3, &b, "k", Some(&v), Hold::Off).await;
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.object_lock_legal_hold_status(), Some(&Hold::Off));

    // Tags: x-amz-tagging-count follows PutObjectTagging and DeleteObjectTagging.
    let g = s3.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(g.tag_count(), None);
    let tags = Tagging::builder().tag_set(Tag::builder().key("a").value("1").build().unwrap()).build().unwrap();
    s3.put_object_tagging().bucket(&b).key("k").tagging(tags).send().await.unwrap();
    let g = s3.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(g.tag_count(), Some(1));
    s3.delete_object_tagging().bucket(&b).key("k").send().await.unwrap();
    let g = s3.get_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(g.tag_count(), None);
}

#[tokio::test]
async fn a_bucket_deleted_and_created_again_reads_fresh() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "rawbk").await;
    let e1 = s3.put_object().bucket(&b).key("k").body(ByteStream::from_static(b"one")).send().await.unwrap();
    let h = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(h.e_tag(), e1.e_tag());
    // A missing key read (and perhaps remembered) before the bucket goes.
    assert_eq!(head_raw(&srv, &b, "gone").await.status, 404);
    s3.delete_object().bucket(&b).key("k").send().await.unwrap();
    s3.delete_bucket().bucket(&b).send().await.unwrap();
    let e = s3.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("NoSuchBucket"));
    assert_eq!(head_raw(&srv, &b, "k").await.status, 404);

    s3.create_bucket().bucket(&b).send().await.unwrap();
    let e = s3.get_object().bucket(&b).key("k").send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("NoSuchKey"));
    let e2 = s3.put_object().bucket(&b).key("gone").body(ByteStream::from_static(b"two!")).send().await.unwrap();
    let h = s3.head_object().bucket(&b).key("gone").send().await.unwrap();
    assert_eq!((h.e_tag(), h.content_length()), (e2.e_tag(), Some(4)));
}
