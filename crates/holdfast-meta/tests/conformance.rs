//! The store conformance suite: written once against the `MetaStore` and `IdentityStore`
//! traits, run against the embedded SQLite store and against PostgreSQL (a private
//! cluster that `holdfast_testkit::Postgres` starts; without PostgreSQL's binaries the
//! PostgreSQL half fails with a message saying what to install).
//!
//! Covers buckets, versions and their order, deletes and lock refusals, retention and
//! legal-hold transitions, default retention, conditional writes, listings (byte order,
//! delimiters, markers), multipart uploads, the collection queue, identity, the compliance
//! clock, the database WORM guard, and races between two store instances (two gateways).

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{Bypass, DefaultRetention, LegalHold, LockDenied, LockState, Mode, Period, Retention, UtcMillis};
use holdfast_meta::postgres::{PgMeta, PgOptions};
use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::{
    AccessKey, BucketConfigKind, IdentityStore, LifecycleAction, ListQuery, MetaError, MetaStore, NewVersion,
    ObjectData, ObjectHeaders, Part, Segment, TagSet, Upload, UploadListQuery, User, VersionSelector, Versioning,
    WriteConditions,
};
use holdfast_testkit::Postgres;
use std::sync::Arc;

trait Store: MetaStore + IdentityStore {}
impl<T: MetaStore + IdentityStore> Store for T {}

/// One backend under test; `twin` opens a second store instance on the same data, as a
/// second gateway would (the same instance for SQLite, which one process owns).
struct Fixture {
    store: Arc<dyn Store>,
    twin: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL database name, for direct SQL.
    pg_db: Option<String>,
    sqlite_path: Option<std::path::PathBuf>,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let store: Arc<dyn Store> = Arc::new(SqliteMeta::open(&path).unwrap());
    Fixture { twin: Arc::clone(&store), store, _dir: Some(dir), pg_db: None, sqlite_path: Some(path) }
}

async fn postgres() -> Fixture {
    let pg = Postgres::shared();
    let url = pg.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    let store: Arc<dyn Store> = Arc::new(PgMeta::open(PgOptions::new(url.clone())).await.unwrap());
    let twin: Arc<dyn Store> = Arc::new(PgMeta::open(PgOptions::new(url)).await.unwrap());
    Fixture { store, twin, _dir: None, pg_db: Some(db), sqlite_path: None }
}

fn now() -> UtcMillis {
    UtcMillis::now_system()
}

const DAY: i64 = 86_400_000;

fn obj(blob: &str, etag: &str) -> ObjectData {
    ObjectData {
        size: 3,
        etag: etag.into(),
        headers: ObjectHeaders::default(),
        checksum: None,
        segments: vec![Segment { blob: blob.into(), size: 3 }],
        parts: Vec::new(),
        inline: None,
    }
}

fn blob_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn new_version(bucket: &str, key: &str, lock: LockState) -> NewVersion {
    NewVersion {
        bucket: bucket.into(),
        key: key.into(),
        object: obj(&blob_id(), "e"),
        lock,
        origin: Default::default(),
    }
}

async fn put(s: &dyn Store, bucket: &str, key: &str) -> holdfast_meta::VersionRecord {
    s.put_version(new_version(bucket, key, LockState::default()), TagSet::new(), WriteConditions::default(), now())
        .await
        .unwrap()
}

async fn put_locked(s: &dyn Store, bucket: &str, key: &str, lock: LockState) -> holdfast_meta::VersionRecord {
    s.put_version(new_version(bucket, key, lock), TagSet::new(), WriteConditions::default(), now()).await.unwrap()
}

fn retention(mode: Mode, from_now_ms: i64) -> Option<Retention> {
    Some(Retention { mode, until: now().plus_millis(from_now_ms) })
}

fn id(v: &str) -> VersionSelector {
    VersionSelector::Id(v.into())
}

async fn versioned_bucket(s: &dyn Store, name: &str) {
    s.create_bucket(name, false, now()).await.unwrap();
    s.set_versioning(name, Versioning::Enabled).await.unwrap();
}

fn query(bucket: &str) -> ListQuery {
    ListQuery {
        bucket: bucket.into(),
        prefix: String::new(),
        delimiter: None,
        after: None,
        after_version: None,
        max_keys: 1000,
    }
}

macro_rules! assert_err {
    ($e:expr, $pat:pat) => {
        match $e {
            Err($pat) => {}
            other => panic!("expected {}, got {:?}", stringify!($pat), other.map(|_| ())),
        }
    };
}

// --- buckets ---------------------------------------------------------------------------

async fn buckets(f: Fixture) {
    let s = &*f.store;
    for name in ["b-2", "b.2", "b0", "a"] {
        s.create_bucket(name, false, now()).await.unwrap();
    }
    assert_err!(s.create_bucket("a", false, now()).await, MetaError::BucketAlreadyOwnedByYou);
    let names: Vec<String> = s.buckets().await.unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["a", "b-2", "b.2", "b0"], "byte order");
    let b = s.bucket("a").await.unwrap().unwrap();
    assert_eq!((b.versioning, b.lock_enabled, b.default_retention), (Versioning::Unversioned, false, None));
    assert!(s.bucket("nope").await.unwrap().is_none());
    assert_err!(s.set_versioning("nope", Versioning::Enabled).await, MetaError::NoSuchBucket);
    assert_err!(s.delete_bucket("nope").await, MetaError::NoSuchBucket);

    // Lock configuration needs versioning; a lock-enabled bucket cannot suspend it (B13).
    assert_err!(s.set_lock_configuration("a", None).await, MetaError::InvalidBucketState(_));
    s.create_bucket("locked", true, now()).await.unwrap();
    let l = s.bucket("locked").await.unwrap().unwrap();
    assert_eq!((l.versioning, l.lock_enabled), (Versioning::Enabled, true));
    assert_err!(s.set_versioning("locked", Versioning::Suspended).await, MetaError::InvalidBucketState(_));
    let default = DefaultRetention { mode: Mode::Governance, period: Period::Days(2) };
    s.set_lock_configuration("locked", Some(default)).await.unwrap();
    assert_eq!(s.bucket("locked").await.unwrap().unwrap().default_retention, Some(default));

    put(s, "a", "k").await;
    assert_err!(s.delete_bucket("a").await, MetaError::BucketNotEmpty);
    s.delete("a", "k", &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    s.delete_bucket("a").await.unwrap();
    assert!(s.bucket("a").await.unwrap().is_none());
    s.create_bucket("a", false, now()).await.unwrap();
}

// --- versions --------------------------------------------------------------------------

async fn versions_in_order(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "v").await;
    let v1 = put(s, "v", "k").await;
    let v2 = put(s, "v", "k").await;
    let v3 = put(s, "v", "k").await;
    assert!(v1.seq < v2.seq && v2.seq < v3.seq);
    assert_ne!(v1.version_id, v2.version_id);
    let latest = s.version("v", "k", &VersionSelector::Latest).await.unwrap();
    assert_eq!(latest.version_id, v3.version_id);
    assert!(latest.is_latest);
    let old = s.version("v", "k", &id(&v1.version_id)).await.unwrap();
    assert!(!old.is_latest);
    assert_eq!(old.object, v1.object);
    let listed: Vec<String> =
        s.list_versions(query("v")).await.unwrap().versions.into_iter().map(|v| v.version_id).collect();
    assert_eq!(listed, [v3.version_id.clone(), v2.version_id.clone(), v1.version_id.clone()]);
    assert_err!(s.version("v", "nokey", &VersionSelector::Latest).await, MetaError::NoSuchKey);
    assert_err!(s.version("v", "k", &id("0123456789abcdef0123456789abcdef")).await, MetaError::NoSuchVersion);
    assert_err!(s.version("nope", "k", &VersionSelector::Latest).await, MetaError::NoSuchBucket);
}

async fn null_versions(f: Fixture) {
    let s = &*f.store;
    s.create_bucket("u", false, now()).await.unwrap();
    let a = put(s, "u", "k").await;
    let b = put(s, "u", "k").await;
    assert_eq!((a.version_id.as_str(), b.version_id.as_str()), ("null", "null"));
    let all = s.list_versions(query("u")).await.unwrap().versions;
    assert_eq!(all.len(), 1, "an unversioned bucket keeps one version");
    assert_eq!(all[0].object, b.object);
    // Suspended: the null version is replaced, versioned ones stay.
    s.set_versioning("u", Versioning::Enabled).await.unwrap();
    let v = put(s, "u", "k").await;
    s.set_versioning("u", Versioning::Suspended).await.unwrap();
    let n = put(s, "u", "k").await;
    assert_eq!(n.version_id, "null");
    let ids: Vec<String> =
        s.list_versions(query("u")).await.unwrap().versions.into_iter().map(|v| v.version_id).collect();
    assert_eq!(ids, ["null".to_owned(), v.version_id]);
}

// --- deletes and lock refusals -----------------------------------------------------------

async fn deletes_and_markers(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "d").await;
    let v1 = put(s, "d", "k").await;
    let out = s.delete("d", "k", &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    assert!(out.delete_marker);
    let marker = out.version_id.unwrap();
    let latest = s.version("d", "k", &VersionSelector::Latest).await.unwrap();
    assert!(latest.is_delete_marker() && latest.version_id == marker);
    assert!(s.list_objects(query("d")).await.unwrap().versions.is_empty(), "a marker hides the key");
    assert_err!(
        s.set_retention("d", "k", &VersionSelector::Latest, retention(Mode::Governance, DAY), Bypass::None, now())
            .await,
        MetaError::DeleteMarker { .. }
    );
    // Removing the marker makes the old version current again.
    let out = s.delete("d", "k", &id(&marker), Bypass::None, now()).await.unwrap();
    assert!(out.delete_marker);
    assert_eq!(s.version("d", "k", &VersionSelector::Latest).await.unwrap().version_id, v1.version_id);
    // D13: deleting a version that does not exist succeeds.
    let gone = "0123456789abcdef0123456789abcdef";
    assert!(!s.delete("d", "k", &id(gone), Bypass::None, now()).await.unwrap().delete_marker);
    s.delete("d", "k", &id(&v1.version_id), Bypass::None, now()).await.unwrap();
    assert_err!(s.version("d", "k", &VersionSelector::Latest).await, MetaError::NoSuchKey);
    // A marker on a key that never existed.
    assert!(s.delete("d", "never", &VersionSelector::Latest, Bypass::None, now()).await.unwrap().delete_marker);
    // Unversioned: the null version goes.
    s.create_bucket("du", false, now()).await.unwrap();
    put(s, "du", "k").await;
    let out = s.delete("du", "k", &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    assert!(!out.delete_marker);
    assert_err!(s.version("du", "k", &VersionSelector::Latest).await, MetaError::NoSuchKey);
    s.delete("du", "absent", &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
}

async fn lock_refusals(f: Fixture) {
    let s = &*f.store;
    s.create_bucket("l", true, now()).await.unwrap();
    let comp =
        put_locked(s, "l", "c", LockState { retention: retention(Mode::Compliance, DAY), legal_hold: None }).await;
    let gov =
        put_locked(s, "l", "g", LockState { retention: retention(Mode::Governance, DAY), legal_hold: None }).await;
    let held = put_locked(s, "l", "h", LockState { retention: None, legal_hold: Some(LegalHold::On) }).await;
    let expired =
        put_locked(s, "l", "x", LockState { retention: retention(Mode::Compliance, -1000), legal_hold: None }).await;
    for bypass in [Bypass::None, Bypass::Governance] {
        assert_err!(
            s.delete("l", "c", &id(&comp.version_id), bypass, now()).await,
            MetaError::Locked(LockDenied::Compliance)
        );
        assert_err!(
            s.delete("l", "h", &id(&held.version_id), bypass, now()).await,
            MetaError::Locked(LockDenied::LegalHold)
        );
    }
    assert_err!(
        s.delete("l", "g", &id(&gov.version_id), Bypass::None, now()).await,
        MetaError::Locked(LockDenied::Governance)
    );
    // A delete without a version id only adds a marker, protected or not (D1).
    assert!(s.delete("l", "c", &VersionSelector::Latest, Bypass::None, now()).await.unwrap().delete_marker);
    // Refusals changed nothing.
    assert_eq!(s.version("l", "c", &id(&comp.version_id)).await.unwrap().lock, comp.lock);
    s.delete("l", "g", &id(&gov.version_id), Bypass::Governance, now()).await.unwrap();
    s.delete("l", "x", &id(&expired.version_id), Bypass::None, now()).await.unwrap();
    s.set_legal_hold("l", "h", &id(&held.version_id), LegalHold::Off).await.unwrap();
    s.delete("l", "h", &id(&held.version_id), Bypass::None, now()).await.unwrap();
}

async fn retention_transitions(f: Fixture) {
    let s = &*f.store;
    s.create_bucket("r", true, now()).await.unwrap();
    let v = put(s, "r", "k").await;
    let k = id(&v.version_id);
    let set = |r: Option<Retention>, b: Bypass| s.set_retention("r", "k", &k, r, b, now());
    // Governance: extend freely; shorten, remove or raise to COMPLIANCE only with bypass (R8).
    set(retention(Mode::Governance, DAY), Bypass::None).await.unwrap();
    set(retention(Mode::Governance, 2 * DAY), Bypass::None).await.unwrap();
    assert_err!(set(retention(Mode::Governance, DAY), Bypass::None).await, MetaError::Locked(LockDenied::Governance));
    assert_err!(set(None, Bypass::None).await, MetaError::Locked(LockDenied::Governance));
    assert_err!(
        set(retention(Mode::Compliance, 3 * DAY), Bypass::None).await,
        MetaError::Locked(LockDenied::Governance)
    );
    let r = set(retention(Mode::Governance, DAY), Bypass::Governance).await.unwrap();
    assert_eq!(r.lock.retention.unwrap().mode, Mode::Governance);
    set(None, Bypass::Governance).await.unwrap();
    assert_eq!(s.version("r", "k", &k).await.unwrap().lock.retention, None);
    // Compliance: only ever extended.
    set(retention(Mode::Compliance, DAY), Bypass::None).await.unwrap();
    let longer = retention(Mode::Compliance, 2 * DAY);
    set(longer, Bypass::None).await.unwrap();
    for (r, b) in [
        (retention(Mode::Compliance, DAY), Bypass::Governance),
        (retention(Mode::Governance, 3 * DAY), Bypass::Governance),
        (None, Bypass::Governance),
    ] {
        assert_err!(set(r, b).await, MetaError::Locked(LockDenied::Compliance));
    }
    assert_eq!(s.version("r", "k", &k).await.unwrap().lock.retention, longer);
    // Legal hold is independent of retention (L4).
    let h = s.set_legal_hold("r", "k", &VersionSelector::Latest, LegalHold::On).await.unwrap();
    assert_eq!((h.lock.legal_hold, h.lock.retention), (Some(LegalHold::On), longer));
    s.set_legal_hold("r", "k", &k, LegalHold::Off).await.unwrap();
    assert_eq!(s.version("r", "k", &k).await.unwrap().lock.legal_hold, Some(LegalHold::Off));
    assert_err!(s.set_legal_hold("r", "nokey", &VersionSelector::Latest, LegalHold::On).await, MetaError::NoSuchKey);
}

async fn default_retention(f: Fixture) {
    let s = &*f.store;
    s.create_bucket("dr", true, now()).await.unwrap();
    s.set_lock_configuration("dr", Some(DefaultRetention { mode: Mode::Compliance, period: Period::Days(1) }))
        .await
        .unwrap();
    let t = now();
    let v = s
        .put_version(
            new_version("dr", "k", LockState { retention: None, legal_hold: Some(LegalHold::On) }),
            TagSet::new(),
            WriteConditions::default(),
            t,
        )
        .await
        .unwrap();
    assert_eq!(v.lock.retention, Some(Retention { mode: Mode::Compliance, until: t.plus_millis(DAY) }), "W9");
    assert_eq!(v.lock.legal_hold, Some(LegalHold::On));
    let explicit = retention(Mode::Governance, 5 * DAY);
    let w = put_locked(s, "dr", "k2", LockState { retention: explicit, legal_hold: None }).await;
    assert_eq!(w.lock.retention, explicit, "an explicit retention wins (W10)");
    assert_eq!(s.version("dr", "k", &VersionSelector::Latest).await.unwrap().lock, v.lock);
}

async fn conditional_writes(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "c").await;
    let none_match = WriteConditions { if_none_match: Some("*".into()), if_match: None };
    s.put_version(new_version("c", "k", LockState::default()), TagSet::new(), none_match.clone(), now()).await.unwrap();
    assert_err!(
        s.put_version(new_version("c", "k", LockState::default()), TagSet::new(), none_match.clone(), now()).await,
        MetaError::PreconditionFailed
    );
    let wrong = WriteConditions { if_none_match: None, if_match: Some("\"other\"".into()) };
    assert_err!(
        s.put_version(new_version("c", "k", LockState::default()), TagSet::new(), wrong.clone(), now()).await,
        MetaError::PreconditionFailed
    );
    assert_err!(
        s.put_version(new_version("c", "new", LockState::default()), TagSet::new(), wrong, now()).await,
        MetaError::NoSuchKey
    );
    let right = WriteConditions { if_none_match: None, if_match: Some("\"e\"".into()) };
    s.put_version(new_version("c", "k", LockState::default()), TagSet::new(), right, now()).await.unwrap();
    // Behind a delete marker the key has no current object: `*` succeeds again.
    s.delete("c", "k", &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    s.put_version(new_version("c", "k", LockState::default()), TagSet::new(), none_match, now()).await.unwrap();
}

// --- listings --------------------------------------------------------------------------

/// A ListObjects entry reads only what a listing shows (issue #17): the same size, ETag,
/// storage class, checksum, version id and date as the full record of the key's current
/// version, whatever else the version holds.
async fn listing_entries(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "le").await;
    let mut o = obj(&blob_id(), "etag-le");
    o.headers.storage_class = Some("STANDARD_IA".into());
    o.headers.content_type = Some("text/plain".into());
    o.headers.user.insert("k".into(), "v".into());
    o.checksum = Some(holdfast_meta::StoredChecksum {
        algorithm: holdfast_meta::ChecksumAlgorithm::Crc32c,
        value: "AAAAAA==".into(),
        kind: holdfast_meta::ChecksumKind::FullObject,
    });
    let nv = NewVersion {
        bucket: "le".into(),
        key: "k".into(),
        object: o,
        lock: LockState::default(),
        origin: Default::default(),
    };
    put(s, "le", "k").await;
    let rec = s.put_version(nv, TagSet::new(), WriteConditions::default(), now()).await.unwrap();
    put(s, "le", "plain").await;
    let page = s.list_objects(query("le")).await.unwrap();
    assert_eq!(page.versions.len(), 2);
    let e = &page.versions[0];
    let (got, want) = (e.object_data(), rec.object_data());
    assert_eq!(
        (e.key.as_str(), e.version_id.as_str(), e.last_modified, e.is_latest),
        ("k", rec.version_id.as_str(), rec.last_modified, true)
    );
    assert_eq!(
        (got.size, &got.etag, &got.headers.storage_class, &got.checksum),
        (want.size, &want.etag, &want.headers.storage_class, &want.checksum)
    );
    assert_eq!(page.versions[1].object_data().headers.storage_class, None);
    assert_eq!(page.versions[1].object_data().checksum, None);
}

/// Every change that moves a key's current version keeps what a listing shows of it (kept
/// beside the pointer since SQLite schema 7 / PostgreSQL migration 12) equal to what a HEAD
/// of the key reads from the version itself: PUT over a key, delete marker, removal of the
/// marker or of the newest version (an older one becomes current), multipart completion,
/// replicas (one arriving late stays non-current), lifecycle expiration, null versions.
async fn listed_columns_follow_every_change(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "lc").await;
    s.create_bucket("lu", false, now()).await.unwrap();
    let keys = ["a", "m", "r", "x"];
    async fn check(s: &dyn Store, bucket: &str, keys: &[&str], step: &str) {
        let page = s.list_objects(query(bucket)).await.unwrap();
        let mut want = Vec::new();
        for k in keys {
            match s.version(bucket, k, &VersionSelector::Latest).await {
                Ok(v) if !v.is_delete_marker() => want.push(v),
                Ok(_) | Err(MetaError::NoSuchKey) => {}
                Err(e) => panic!("{step}: HEAD {k}: {e:?}"),
            }
        }
        let shown = |v: &holdfast_meta::VersionRecord| {
            let o = v.object_data();
            (
                v.key.clone(),
                v.version_id.clone(),
                v.last_modified,
                v.is_latest,
                o.size,
                o.etag.clone(),
                o.headers.storage_class.clone(),
                o.checksum.clone(),
            )
        };
        let got: Vec<_> = page.versions.iter().map(shown).collect();
        let want: Vec<_> = want.iter().map(shown).collect();
        assert_eq!(got, want, "{step}");
    }
    let rich = |etag: &str, class: Option<&str>, alg: holdfast_meta::ChecksumAlgorithm| ObjectData {
        size: 7,
        headers: ObjectHeaders { storage_class: class.map(Into::into), ..ObjectHeaders::default() },
        checksum: Some(holdfast_meta::StoredChecksum {
            algorithm: alg,
            value: format!("{etag}=="),
            kind: holdfast_meta::ChecksumKind::Composite,
        }),
        ..obj(&blob_id(), etag)
    };
    let put_obj = |bucket: &str, key: &str, o: ObjectData| {
        let nv = NewVersion {
            bucket: bucket.into(),
            key: key.into(),
            object: o,
            lock: LockState::default(),
            origin: Default::default(),
        };
        s.put_version(nv, TagSet::new(), WriteConditions::default(), now())
    };
    let first =
        put_obj("lc", "a", rich("a1", Some("GLACIER"), holdfast_meta::ChecksumAlgorithm::Sha256)).await.unwrap();
    check(s, "lc", &keys, "put").await;
    let second = put_obj("lc", "a", obj(&blob_id(), "a2")).await.unwrap();
    check(s, "lc", &keys, "put over a key").await;
    let marker = s.delete("lc", "a", &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    check(s, "lc", &keys, "delete marker").await;
    let marker_id = marker.version_id.clone().unwrap();
    s.delete("lc", "a", &id(&marker_id), Bypass::None, now()).await.unwrap();
    check(s, "lc", &keys, "marker removed: the newest version current again").await;
    s.delete("lc", "a", &id(&second.version_id), Bypass::None, now()).await.unwrap();
    check(s, "lc", &keys, "newest removed: the older version current").await;
    assert_eq!(s.list_objects(query("lc")).await.unwrap().versions[0].version_id, first.version_id);

    let u = Upload {
        headers: ObjectHeaders { storage_class: Some("STANDARD_IA".into()), ..ObjectHeaders::default() },
        ..upload("lc", "m", "lcu")
    };
    s.create_upload(u.clone()).await.unwrap();
    let b = blob_id();
    s.put_part("lc", "m", "lcu", part(1, &b)).await.unwrap();
    let mut done = rich("m-1", Some("STANDARD_IA"), holdfast_meta::ChecksumAlgorithm::Crc32);
    done.size = 5;
    done.segments = vec![Segment { blob: b, size: 5 }];
    s.complete_upload(&u, done, WriteConditions::default(), now()).await.unwrap();
    check(s, "lc", &keys, "multipart completion").await;

    let replica = |version_id: String, last_modified: UtcMillis, etag: &str| holdfast_meta::ReplicaVersion {
        bucket: "lc".into(),
        key: "r".into(),
        version_id,
        last_modified,
        object: Some(rich(etag, None, holdfast_meta::ChecksumAlgorithm::Crc32c)),
        tags: TagSet::new(),
        lock: LockState::default(),
    };
    s.put_replica(replica(holdfast_meta::new_version_id(), now(), "r1"), now()).await.unwrap();
    check(s, "lc", &keys, "replica").await;
    let late = UtcMillis(now().millis() - 60_000);
    s.put_replica(replica(holdfast_meta::new_version_id(), late, "r0"), now()).await.unwrap();
    check(s, "lc", &keys, "a replica arriving late stays non-current").await;
    assert_eq!(s.list_objects(query("lc")).await.unwrap().versions[2].object_data().etag, "r1");

    put_obj("lc", "x", obj(&blob_id(), "x1")).await.unwrap();
    let x = s.version("lc", "x", &VersionSelector::Latest).await.unwrap();
    s.lifecycle_delete("lc", "x", &x.version_id, LifecycleAction::ExpireCurrent, now()).await.unwrap();
    check(s, "lc", &keys, "lifecycle expiration: a marker on top").await;
    let m = s.version("lc", "x", &VersionSelector::Latest).await.unwrap();
    s.delete("lc", "x", &id(&m.version_id), Bypass::None, now()).await.unwrap();
    check(s, "lc", &keys, "lifecycle marker removed").await;
    s.lifecycle_delete("lc", "x", &x.version_id, LifecycleAction::ExpireNoncurrent, now()).await.unwrap_err();
    s.delete("lc", "x", &id(&x.version_id), Bypass::None, now()).await.unwrap();
    check(s, "lc", &keys, "the only version removed").await;

    // Unversioned: each PUT replaces the null version.
    put_obj("lu", "a", rich("n1", Some("ONEZONE_IA"), holdfast_meta::ChecksumAlgorithm::Sha1)).await.unwrap();
    check(s, "lu", &keys, "null version").await;
    put_obj("lu", "a", obj(&blob_id(), "n2")).await.unwrap();
    check(s, "lu", &keys, "null version replaced").await;
    s.delete("lu", "a", &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    check(s, "lu", &keys, "null version deleted").await;
}

async fn listings(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "ls").await;
    let keys = ["a", "a/b", "a/c/d", "a/c/e", "a-b", "a.b", "b", "Z", "é", "~", "\u{7f}x", "a/\u{e9}"];
    for k in keys {
        put(s, "ls", k).await;
    }
    put(s, "ls", "b").await;
    s.delete("ls", "Z", &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    let mut want: Vec<&str> = keys.iter().copied().filter(|k| *k != "Z").collect();
    want.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let all: Vec<String> = s.list_objects(query("ls")).await.unwrap().versions.into_iter().map(|v| v.key).collect();
    assert_eq!(all, want, "UTF-8 byte order, delete markers hidden");

    // Pages of two, continuing after the last key.
    let mut q = query("ls");
    q.max_keys = 2;
    let mut paged = Vec::new();
    for _ in 0..20 {
        let page = s.list_objects(q.clone()).await.unwrap();
        paged.extend(page.versions.iter().map(|v| v.key.clone()));
        if !page.truncated {
            break;
        }
        q.after = page.next_marker;
    }
    assert_eq!(paged, want);

    // Delimiter roll-up and prefixes.
    let mut q = query("ls");
    q.delimiter = Some("/".into());
    let page = s.list_objects(q.clone()).await.unwrap();
    assert_eq!(page.common_prefixes, ["a/"]);
    assert!(page.versions.iter().all(|v| !v.key.contains('/')));
    q.prefix = "a/".into();
    let page = s.list_objects(q.clone()).await.unwrap();
    assert_eq!(page.common_prefixes, ["a/c/"]);
    let ks: Vec<String> = page.versions.into_iter().map(|v| v.key).collect();
    assert_eq!(ks, ["a/b", "a/\u{e9}"]);
    // A page that ends on a common prefix continues after everything under it.
    q.prefix = String::new();
    q.max_keys = 4; // "a", "a-b", "a.b", then "a/"
    let first = s.list_objects(q.clone()).await.unwrap();
    assert_eq!((first.versions.len(), first.common_prefixes.clone()), (3, vec!["a/".to_owned()]));
    assert!(first.truncated);
    q.after = first.next_marker.clone();
    let second = s.list_objects(q.clone()).await.unwrap();
    assert_eq!(second.versions[0].key, "b");

    // Versions: newest first within a key, markers included, version markers resume inside a key.
    let mut q = query("ls");
    q.prefix = "b".into();
    let vs = s.list_versions(q.clone()).await.unwrap().versions;
    assert_eq!(vs.len(), 2);
    assert!(vs[0].is_latest && !vs[1].is_latest && vs[0].seq > vs[1].seq);
    q.prefix = String::new();
    q.max_keys = 3;
    let mut seen = Vec::new();
    for _ in 0..30 {
        let page = s.list_versions(q.clone()).await.unwrap();
        seen.extend(page.versions.iter().map(|v| (v.key.clone(), v.version_id.clone())));
        if !page.truncated {
            break;
        }
        q.after = page.next_marker;
        q.after_version = page.next_version_marker;
    }
    assert_eq!(seen.len(), keys.len() + 2, "every version and the marker, once");
    let mut dedup = seen.clone();
    dedup.dedup();
    assert_eq!(dedup, seen);
}

// --- multipart -------------------------------------------------------------------------

fn upload(bucket: &str, key: &str, upload_id: &str) -> Upload {
    Upload {
        upload_id: upload_id.into(),
        bucket: bucket.into(),
        key: key.into(),
        initiated: now(),
        headers: ObjectHeaders::default(),
        checksum_algorithm: None,
        checksum_kind: None,
        lock: LockState::default(),
        replica: None,
    }
}

fn part(number: u32, blob: &str) -> Part {
    Part {
        number,
        size: 5,
        etag: format!("p{number}"),
        last_modified: now(),
        checksum: None,
        crc64nvme: String::new(),
        md5: String::new(),
        segment: Segment { blob: blob.into(), size: 5 },
    }
}

async fn multipart(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "mp").await;
    let u = upload("mp", "dir/k", "u1");
    s.create_upload(u.clone()).await.unwrap();
    s.create_upload(upload("mp", "dir/j", "u2")).await.unwrap();
    s.create_upload(upload("mp", "top", "u3")).await.unwrap();
    assert_eq!(s.upload("mp", "dir/k", "u1").await.unwrap(), u);
    assert_err!(s.upload("mp", "other", "u1").await, MetaError::NoSuchUpload);
    let blobs: Vec<String> = (0..4).map(|_| blob_id()).collect();
    for (n, b) in [(1, &blobs[0]), (2, &blobs[1]), (3, &blobs[2])] {
        s.put_part("mp", "dir/k", "u1", part(n, b)).await.unwrap();
    }
    // Replacing part 2 queues the old blob for collection.
    s.put_part("mp", "dir/k", "u1", part(2, &blobs[3])).await.unwrap();
    assert_eq!(s.unknown_blobs(vec![blobs[1].clone()]).await.unwrap(), Vec::<String>::new(), "queued, not unknown");
    let (first, more) = s.parts("u1", 0, 2).await.unwrap();
    assert_eq!((first.iter().map(|p| p.number).collect::<Vec<_>>(), more), (vec![1, 2], true));
    assert_eq!(first[1].segment.blob, blobs[3]);
    let (rest, more) = s.parts("u1", 2, 10).await.unwrap();
    assert_eq!((rest.len(), more), (1, false));

    let mut uq = UploadListQuery { bucket: "mp".into(), max_uploads: 100, ..Default::default() };
    let page = s.list_uploads(uq.clone()).await.unwrap();
    assert_eq!(page.uploads.iter().map(|u| u.key.as_str()).collect::<Vec<_>>(), ["dir/j", "dir/k", "top"]);
    uq.delimiter = Some("/".into());
    let page = s.list_uploads(uq.clone()).await.unwrap();
    assert_eq!((page.common_prefixes.clone(), page.uploads.len()), (vec!["dir/".to_owned()], 1));
    uq.delimiter = None;
    uq.key_marker = Some("dir/j".into());
    uq.max_uploads = 1;
    let page = s.list_uploads(uq).await.unwrap();
    assert_eq!((page.uploads[0].key.as_str(), page.truncated), ("dir/k", true));

    // A stale part list is refused; completion uses parts 1 and 2 and collects part 3.
    let stale = ObjectData { segments: vec![Segment { blob: blobs[1].clone(), size: 5 }], ..obj(&blobs[0], "x-1") };
    assert_err!(s.complete_upload(&u, stale, WriteConditions::default(), now()).await, MetaError::InvalidPart);
    let object = ObjectData {
        size: 10,
        segments: vec![Segment { blob: blobs[0].clone(), size: 5 }, Segment { blob: blobs[3].clone(), size: 5 }],
        ..obj(&blobs[0], "m-2")
    };
    let rec = s.complete_upload(&u, object.clone(), WriteConditions::default(), now()).await.unwrap();
    assert_eq!(rec.object.as_ref(), Some(&object));
    assert_eq!(s.version("mp", "dir/k", &VersionSelector::Latest).await.unwrap().version_id, rec.version_id);
    assert_err!(s.upload("mp", "dir/k", "u1").await, MetaError::NoSuchUpload);
    assert_eq!(s.completed_upload("mp", "dir/k", "u1").await.unwrap().map(|v| v.version_id), Some(rec.version_id));
    let queued = s.gc_candidates(now().plus_millis(1000), 100).await.unwrap();
    assert!(queued.contains(&blobs[1]) && queued.contains(&blobs[2]), "replaced and unused parts collected");
    assert!(!queued.contains(&blobs[0]) && !queued.contains(&blobs[3]));

    let b = blob_id();
    s.put_part("mp", "top", "u3", part(1, &b)).await.unwrap();
    s.abort_upload("mp", "top", "u3").await.unwrap();
    assert_err!(s.abort_upload("mp", "top", "u3").await, MetaError::NoSuchUpload);
    assert_err!(s.put_part("mp", "top", "u3", part(1, &b)).await, MetaError::NoSuchUpload);
    // Deleting the bucket drops the remaining upload (after its versions are gone).
    for v in s.list_versions(query("mp")).await.unwrap().versions {
        s.delete("mp", &v.key, &id(&v.version_id), Bypass::None, now()).await.unwrap();
    }
    s.delete_bucket("mp").await.unwrap();
}

/// A replication upload (#13) completes into the replica of its source version: the source's
/// id, last-modified, ETag, lock and tags, the unused parts collected, the upload
/// gone; a second upload of the same version leaves one version and collects all its parts.
async fn replica_uploads(f: Fixture) {
    let s = &*f.store;
    s.create_bucket("rmp", true, now()).await.unwrap();
    let source_id = holdfast_meta::new_version_id();
    let source_time = UtcMillis(now().millis() - 60_000);
    let lock = LockState { retention: retention(Mode::Compliance, 3_600_000), legal_hold: Some(LegalHold::On) };
    let replica_of = |upload_id: &str| Upload {
        lock,
        replica: Some(holdfast_meta::UploadReplica {
            version_id: source_id.clone(),
            last_modified: source_time,
            etag: "src-2".into(),
            checksum: None,
            tags: tagset(&[("k", "v")]),
        }),
        ..upload("rmp", "big", upload_id)
    };
    let write = |u: &Upload, segments: Vec<Segment>| holdfast_meta::ReplicaVersion {
        bucket: "rmp".into(),
        key: "big".into(),
        version_id: source_id.clone(),
        last_modified: source_time,
        object: Some(ObjectData { size: 10, segments, ..obj("unused", "src-2") }),
        tags: u.replica.as_ref().unwrap().tags.clone(),
        lock: u.lock,
    };
    let (u1, u2) = (replica_of("r1"), replica_of("r2"));
    s.create_upload(u1.clone()).await.unwrap();
    assert_eq!(s.upload("rmp", "big", "r1").await.unwrap(), u1, "the replica's source is kept with the upload");
    let blobs: Vec<String> = (0..5).map(|_| blob_id()).collect();
    for (n, b) in [(1, &blobs[0]), (2, &blobs[1]), (3, &blobs[2])] {
        s.put_part("rmp", "big", "r1", part(n, b)).await.unwrap();
    }
    // A segment that is not a part of the upload is refused, nothing recorded.
    let stray = write(&u1, vec![Segment { blob: blob_id(), size: 5 }]);
    assert_err!(s.complete_replica_upload(&u1, stray, now()).await, MetaError::InvalidPart);
    let used = vec![Segment { blob: blobs[0].clone(), size: 5 }, Segment { blob: blobs[1].clone(), size: 5 }];
    let made = s.complete_replica_upload(&u1, write(&u1, used.clone()), now()).await.unwrap();
    assert_eq!(made, holdfast_meta::ReplicaWrite::Created);
    let rec = s.version("rmp", "big", &id(&source_id)).await.unwrap();
    assert_eq!((rec.last_modified, rec.lock), (source_time, lock));
    assert_eq!(rec.object.as_ref().map(|o| (o.etag.as_str(), o.segments.clone())), Some(("src-2", used)));
    assert_eq!(s.version_tags("rmp", "big", &id(&source_id)).await.unwrap().1, tagset(&[("k", "v")]));
    assert_err!(s.upload("rmp", "big", "r1").await, MetaError::NoSuchUpload);
    assert_err!(s.complete_replica_upload(&u1, write(&u1, Vec::new()), now()).await, MetaError::NoSuchUpload);

    // The same version again (a repeated delivery): still one version, every part collected.
    s.create_upload(u2.clone()).await.unwrap();
    for (n, b) in [(1, &blobs[3]), (2, &blobs[4])] {
        s.put_part("rmp", "big", "r2", part(n, b)).await.unwrap();
    }
    let again = vec![Segment { blob: blobs[3].clone(), size: 5 }, Segment { blob: blobs[4].clone(), size: 5 }];
    let write_again = s.complete_replica_upload(&u2, write(&u2, again), now()).await.unwrap();
    assert_eq!(write_again, holdfast_meta::ReplicaWrite::Existing);
    assert_eq!(s.list_versions(query("rmp")).await.unwrap().versions.len(), 1);
    assert!(
        s.list_uploads(UploadListQuery { bucket: "rmp".into(), max_uploads: 10, ..Default::default() })
            .await
            .unwrap()
            .uploads
            .is_empty()
    );
    let queued = s.gc_candidates(now().plus_millis(1000), 100).await.unwrap();
    for b in [&blobs[2], &blobs[3], &blobs[4]] {
        assert!(queued.contains(b), "unused parts collected");
    }
    assert!(!queued.contains(&blobs[0]) && !queued.contains(&blobs[1]), "the replica's parts kept");
}

// --- collection queue ------------------------------------------------------------------

async fn gc_queue(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "g").await;
    let v = put(s, "g", "k").await;
    let blob = v.object.as_ref().unwrap().segments[0].blob.clone();
    let stranger = blob_id();
    assert_eq!(s.unknown_blobs(vec![blob.clone(), stranger.clone()]).await.unwrap(), std::slice::from_ref(&stranger));
    let before_delete = now().plus_millis(-1);
    s.delete("g", "k", &id(&v.version_id), Bypass::None, now()).await.unwrap();
    assert!(s.gc_candidates(before_delete, 10).await.unwrap().is_empty(), "queued after `before`");
    let due = s.gc_candidates(now().plus_millis(1000), 10).await.unwrap();
    assert_eq!(due, std::slice::from_ref(&blob));
    assert!(s.unknown_blobs(vec![blob.clone()]).await.unwrap().is_empty(), "still queued");
    s.gc_done(due).await.unwrap();
    assert_eq!(s.unknown_blobs(vec![blob.clone()]).await.unwrap(), [blob]);
    assert!(s.gc_candidates(now().plus_millis(1000), 10).await.unwrap().is_empty());
}

// --- identity --------------------------------------------------------------------------

async fn identity(f: Fixture) {
    let s = &*f.store;
    let user = |name: &str| User { name: name.into(), id: format!("AIDA{name}"), path: "/".into(), created: now() };
    s.create_user(user("bob")).await.unwrap();
    s.create_user(user("alice")).await.unwrap();
    assert_err!(s.create_user(user("bob")).await, MetaError::EntityAlreadyExists(_));
    let names: Vec<String> = s.users().await.unwrap().into_iter().map(|u| u.name).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(s.user("bob").await.unwrap().unwrap().id, "AIDAbob");
    let key = |id: &str| AccessKey {
        access_key_id: id.into(),
        user: "bob".into(),
        sealed_secret: vec![1, 2, 3],
        active: true,
        created: now(),
    };
    s.create_access_key(key("K1")).await.unwrap();
    s.create_access_key(key("K2")).await.unwrap();
    assert_err!(s.create_access_key(key("K3")).await, MetaError::LimitExceeded(_));
    assert_err!(
        s.create_access_key(AccessKey { user: "nobody".into(), ..key("K4") }).await,
        MetaError::NoSuchEntity(_)
    );
    s.set_access_key_active("bob", "K1", false).await.unwrap();
    assert!(!s.access_key("K1").await.unwrap().unwrap().active);
    assert_eq!(s.access_key("K2").await.unwrap().unwrap().sealed_secret, vec![1, 2, 3]);
    assert_eq!(s.access_keys("bob").await.unwrap().len(), 2);
    assert_err!(s.set_access_key_active("alice", "K1", true).await, MetaError::NoSuchEntity(_));
    s.put_user_policy("bob", "p2", "{}").await.unwrap();
    s.put_user_policy("bob", "p1", "{\"a\":1}").await.unwrap();
    s.put_user_policy("bob", "p1", "{\"a\":2}").await.unwrap();
    assert_eq!(s.user_policy("bob", "p1").await.unwrap().as_deref(), Some("{\"a\":2}"));
    let names: Vec<String> = s.user_policies("bob").await.unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["p1", "p2"]);
    assert_err!(s.delete_user("bob").await, MetaError::DeleteConflict(_));
    for k in ["K1", "K2"] {
        s.delete_access_key("bob", k).await.unwrap();
    }
    assert_err!(s.delete_access_key("bob", "K1").await, MetaError::NoSuchEntity(_));
    for p in ["p1", "p2"] {
        s.delete_user_policy("bob", p).await.unwrap();
    }
    assert_err!(s.delete_user_policy("bob", "p1").await, MetaError::NoSuchEntity(_));
    s.delete_user("bob").await.unwrap();
    assert!(s.user("bob").await.unwrap().is_none());

    s.create_bucket("pb", false, now()).await.unwrap();
    assert_eq!(s.bucket_policy("pb").await.unwrap(), None);
    s.set_bucket_policy("pb", Some("{\"Version\":\"2012-10-17\"}")).await.unwrap();
    assert!(s.bucket_policy("pb").await.unwrap().is_some());
    s.set_bucket_policy("pb", None).await.unwrap();
    assert_eq!(s.bucket_policy("pb").await.unwrap(), None);
    assert_err!(s.set_bucket_policy("nope", Some("{}")).await, MetaError::NoSuchBucket);
}

// --- compliance clock -----------------------------------------------------------------

async fn clock_high_water(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "t").await;
    let ahead = now().plus_millis(60_000);
    s.put_version(new_version("t", "k", LockState::default()), TagSet::new(), WriteConditions::default(), ahead)
        .await
        .unwrap();
    assert!(s.clock_high_water().await.unwrap() >= ahead);
    put(s, "t", "k").await;
    assert!(s.clock_high_water().await.unwrap() >= ahead, "never moves back");
    assert!(f.twin.clock_high_water().await.unwrap() >= ahead, "shared by every gateway");
}

// --- the database's own WORM guard ------------------------------------------------------

async fn worm_guard(f: Fixture) {
    let s = &*f.store;
    s.create_bucket("w", true, now()).await.unwrap();
    put_locked(s, "w", "c", LockState { retention: retention(Mode::Compliance, DAY), legal_hold: None }).await;
    put_locked(s, "w", "h", LockState { retention: None, legal_hold: Some(LegalHold::On) }).await;
    let attempts = [
        "DELETE FROM versions WHERE key = 'c'",
        "DELETE FROM versions WHERE key = 'h'",
        "UPDATE versions SET lock_until_ms = lock_until_ms - 1000 WHERE key = 'c'",
        "UPDATE versions SET lock_mode = 'GOVERNANCE' WHERE key = 'c'",
    ];
    if let Some(db) = &f.pg_db {
        let pg = Postgres::shared();
        for sql in attempts {
            let sql = sql.replace("'c'", "'\\x63'::bytea").replace("'h'", "'\\x68'::bytea");
            let err = pg.psql(db, &sql).expect_err(&sql);
            assert!(err.contains("WORM guard"), "{sql}: {err}");
        }
        let err = pg.psql(db, "TRUNCATE versions").unwrap_err();
        assert!(err.contains("WORM guard"), "{err}");
    } else if let Some(path) = &f.sqlite_path {
        let conn = rusqlite::Connection::open(path).unwrap();
        // Another program that defines holdfast_writer() (any program without it cannot
        // even compile an UPDATE of versions): the guards themselves still refuse.
        conn.create_scalar_function(
            "holdfast_writer",
            0,
            rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
            |_| Ok(0i64),
        )
        .unwrap();
        let release = "UPDATE versions SET legal_hold = 0 WHERE key = CAST('h' AS BLOB)";
        let err = conn.execute(release, []).expect_err(release);
        assert!(err.to_string().contains("legal hold is released only through Holdfast"), "{err}");
        for sql in attempts {
            let sql = sql.replace("'c'", "CAST('c' AS BLOB)").replace("'h'", "CAST('h' AS BLOB)");
            let err = conn.execute(&sql, []).expect_err(&sql);
            assert!(err.to_string().contains("WORM guard"), "{sql}: {err}");
        }
    }
    assert_eq!(s.list_versions(query("w")).await.unwrap().versions.len(), 2);
}

// --- races between two gateways -----------------------------------------------------------

async fn races(f: Fixture) {
    let (a, b) = (Arc::clone(&f.store), Arc::clone(&f.twin));
    versioned_bucket(&*a, "race").await;
    // Conditional creates of one key: exactly one wins.
    for round in 0..5 {
        let key = format!("once-{round}");
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let s = if i % 2 == 0 { Arc::clone(&a) } else { Arc::clone(&b) };
                let key = key.clone();
                tokio::spawn(async move {
                    let cond = WriteConditions { if_none_match: Some("*".into()), if_match: None };
                    s.put_version(new_version("race", &key, LockState::default()), TagSet::new(), cond, now()).await
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => won += 1,
                Err(MetaError::PreconditionFailed | MetaError::ConditionalConflict) => {}
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
        assert_eq!(a.list_versions(query("race")).await.unwrap().versions.iter().filter(|v| v.key == key).count(), 1);
    }
    // Concurrent writes to one key: every acknowledged version is there, in one order that
    // both gateways see, and the latest is the newest.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = if i % 2 == 0 { Arc::clone(&a) } else { Arc::clone(&b) };
            tokio::spawn(async move { put(&*s, "race", "hot").await.version_id })
        })
        .collect();
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    let mut q = query("race");
    q.prefix = "hot".into();
    let seen_a: Vec<(String, i64)> =
        a.list_versions(q.clone()).await.unwrap().versions.into_iter().map(|v| (v.version_id, v.seq)).collect();
    let seen_b: Vec<(String, i64)> =
        b.list_versions(q).await.unwrap().versions.into_iter().map(|v| (v.version_id, v.seq)).collect();
    assert_eq!(seen_a, seen_b);
    assert_eq!(seen_a.len(), 16);
    assert!(seen_a.windows(2).all(|w| w[0].1 > w[1].1));
    assert!(acked.iter().all(|v| seen_a.iter().any(|(s, _)| s == v)));
    assert_eq!(a.version("race", "hot", &VersionSelector::Latest).await.unwrap().version_id, seen_a[0].0);

    // Retention changes against deletes with bypass: the version is either removed while
    // its retention allowed it, or it survives with a retention that forbids its removal.
    a.set_lock_configuration("race", None).await.unwrap();
    for round in 0..6 {
        let key = format!("guard-{round}");
        let v =
            put_locked(&*a, "race", &key, LockState { retention: retention(Mode::Governance, DAY), legal_hold: None })
                .await;
        let vid = v.version_id.clone();
        let (k1, k2, v1, v2) = (key.clone(), key.clone(), vid.clone(), vid.clone());
        let (sa, sb) = (Arc::clone(&a), Arc::clone(&b));
        let to_compliance = round % 3 == 0;
        let change = tokio::spawn(async move {
            let r = match round % 3 {
                0 => retention(Mode::Compliance, DAY),
                1 => retention(Mode::Governance, 2 * DAY),
                _ => retention(Mode::Governance, 3_600_000), // shortened, with bypass
            };
            sa.set_retention("race", &k1, &id(&v1), r, Bypass::Governance, now()).await
        });
        let delete = tokio::spawn(async move { sb.delete("race", &k2, &id(&v2), Bypass::Governance, now()).await });
        let (changed, deleted) = (change.await.unwrap(), delete.await.unwrap());
        let left = a.version("race", &key, &id(&vid)).await;
        match (&deleted, &left) {
            (Ok(_), Err(MetaError::NoSuchVersion)) => {}
            (Err(MetaError::Locked(LockDenied::Compliance)), Ok(rec)) => {
                assert!(changed.is_ok() && to_compliance);
                assert_eq!(rec.lock.retention.unwrap().mode, Mode::Compliance);
            }
            other => panic!(
                "round {round}: delete {deleted:?}, change {changed:?}, left {:?}",
                other.1.as_ref().map(|r| &r.lock)
            ),
        }
    }
}

// --- evidence: bucket documents, owners, event queue, lifecycle, lock report ----

async fn evidence(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "ev").await;
    assert_eq!(s.bucket_config("ev", BucketConfigKind::Lifecycle).await.unwrap(), None);
    s.put_bucket_config("ev", BucketConfigKind::Lifecycle, Some("{\"rules\":[]}".into())).await.unwrap();
    assert!(s.bucket_config("ev", BucketConfigKind::Lifecycle).await.unwrap().is_some());
    assert_err!(s.put_bucket_config("nope", BucketConfigKind::Lifecycle, None).await, MetaError::NoSuchBucket);
    s.set_bucket_owner("ev", "111122223333").await.unwrap();
    assert_eq!(s.bucket_owner("ev").await.unwrap().as_deref(), Some("111122223333"));
    assert_eq!(s.bucket_owners().await.unwrap(), [("ev".to_owned(), "111122223333".to_owned())]);

    // Lifecycle deletes re-check the state they were decided on.
    let old = put(s, "ev", "k").await;
    let cur = put(s, "ev", "k").await;
    assert_err!(
        s.lifecycle_delete("ev", "k", &old.version_id, LifecycleAction::ExpireCurrent, now()).await,
        MetaError::PreconditionFailed
    );
    s.lifecycle_delete("ev", "k", &old.version_id, LifecycleAction::ExpireNoncurrent, now()).await.unwrap();
    let out = s.lifecycle_delete("ev", "k", &cur.version_id, LifecycleAction::ExpireCurrent, now()).await.unwrap();
    assert!(out.delete_marker);

    // Lock report counts what is protected now.
    s.set_lock_configuration("ev", None).await.unwrap();
    put_locked(s, "ev", "g", LockState { retention: retention(Mode::Governance, DAY), legal_hold: None }).await;
    put_locked(
        s,
        "ev",
        "c",
        LockState { retention: retention(Mode::Compliance, DAY), legal_hold: Some(LegalHold::On) },
    )
    .await;
    let report = s.lock_report(Some("ev"), now()).await.unwrap();
    assert_eq!(report.len(), 1);
    let r = &report[0];
    assert_eq!((r.governance.versions, r.compliance.versions, r.legal_hold.versions), (1, 1, 1));
    assert_eq!((r.governance.bytes, r.compliance.bytes), (3, 3));
    assert_eq!(r.expiries_by_month.iter().map(|m| m.versions).sum::<u64>(), 2);

    // With no notification configuration nothing is queued; claims are leased.
    assert!(s.claim_events(now(), 60_000, 10).await.unwrap().is_empty());
    s.settle_events(Vec::new()).await.unwrap();
    assert!(s.event_backlog().await.unwrap().is_empty());

    // The backlog counts what waits per target, and what failed before (the console's page).
    let rule = holdfast_meta::NotificationRule {
        id: "r".into(),
        kind: holdfast_meta::NotificationKind::Queue,
        target: "arn:holdfast:sqs::t:webhook".into(),
        events: vec!["s3:ObjectCreated:*".into()],
        prefix: "n/".into(),
        suffix: String::new(),
    };
    let doc = serde_json::to_string(&holdfast_meta::NotificationConfig { rules: vec![rule] }).unwrap();
    s.put_bucket_config("ev", holdfast_meta::BucketConfigKind::Notification, Some(doc)).await.unwrap();
    for k in ["n/1", "n/2"] {
        put_locked(s, "ev", k, LockState::default()).await;
    }
    let claimed = s.claim_events(now(), 60_000, 1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let retry = holdfast_meta::Settlement::RetryAt(now().plus_millis(60_000));
    s.settle_events(vec![(claimed[0].id, retry)]).await.unwrap();
    let backlog = s.event_backlog().await.unwrap();
    assert_eq!(
        backlog,
        [holdfast_meta::EventBacklog {
            target: "arn:holdfast:sqs::t:webhook".into(),
            queued: 2,
            retrying: 1,
            most_attempts: 1
        }]
    );
    s.put_bucket_config("ev", holdfast_meta::BucketConfigKind::Notification, None).await.unwrap();
    for k in ["n/1", "n/2"] {
        s.delete("ev", k, &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    }
    s.delete("ev", "g", &VersionSelector::Latest, Bypass::None, now()).await.unwrap();
    for v in s.list_versions(query("ev")).await.unwrap().versions {
        if v.key == "k" {
            s.delete("ev", &v.key, &id(&v.version_id), Bypass::None, now()).await.unwrap();
        }
    }
    let report = s.lock_report(None, now()).await.unwrap();
    assert_eq!(report.iter().map(|r| r.bucket.as_str()).collect::<Vec<_>>(), ["ev"]);
}

// --- object tags ------------------------------------------------------------

fn tagset(pairs: &[(&str, &str)]) -> TagSet {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Rows left in a tag table, read with SQL (tags of removed versions or uploads must go).
fn tag_rows(f: &Fixture, table: &str) -> usize {
    let sql = format!("SELECT count(*) FROM {table}");
    if let Some(db) = &f.pg_db {
        Postgres::shared().psql(db, &sql).unwrap().trim().parse().unwrap()
    } else {
        let conn = rusqlite::Connection::open(f.sqlite_path.as_ref().unwrap()).unwrap();
        conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).unwrap() as usize
    }
}

async fn tags(f: Fixture) {
    let s = &*f.store;
    let latest = VersionSelector::Latest;
    versioned_bucket(s, "tg").await;
    let plain = put(s, "tg", "k").await;
    assert_eq!(s.version_tags("tg", "k", &latest).await.unwrap().1, TagSet::new(), "written without tags");

    // A tagged write keeps its tags with the new version only.
    let t1 = tagset(&[("b", ""), ("a", "1")]);
    let v1 = s
        .put_version(new_version("tg", "k", LockState::default()), t1.clone(), WriteConditions::default(), now())
        .await
        .unwrap();
    let (rec, got) = s.version_tags("tg", "k", &latest).await.unwrap();
    assert_eq!((rec.version_id.as_str(), &got), (v1.version_id.as_str(), &t1));
    assert_eq!(got.keys().map(String::as_str).collect::<Vec<_>>(), ["a", "b"], "key order");
    assert!(s.version_tags("tg", "k", &id(&plain.version_id)).await.unwrap().1.is_empty());

    // Changing one version's tags, by id, leaves the others alone; a new set replaces the old.
    let t2 = tagset(&[("c", "3")]);
    let changed = s.set_version_tags("tg", "k", &id(&plain.version_id), t2.clone()).await.unwrap();
    assert_eq!(changed.version_id, plain.version_id);
    assert_eq!(s.version_tags("tg", "k", &id(&plain.version_id)).await.unwrap().1, t2);
    assert_eq!(s.version_tags("tg", "k", &latest).await.unwrap().1, t1);
    s.set_version_tags("tg", "k", &latest, tagset(&[("z", "9")])).await.unwrap();
    assert_eq!(s.version_tags("tg", "k", &latest).await.unwrap().1, tagset(&[("z", "9")]));
    assert_eq!(
        s.key_tags("tg", "k").await.unwrap(),
        vec![(v1.version_id.clone(), tagset(&[("z", "9")])), (plain.version_id.clone(), t2.clone())],
        "newest first"
    );
    // The empty set removes them (no row left).
    s.set_version_tags("tg", "k", &latest, TagSet::new()).await.unwrap();
    assert!(s.version_tags("tg", "k", &latest).await.unwrap().1.is_empty());
    assert_eq!(s.key_tags("tg", "k").await.unwrap(), vec![(plain.version_id.clone(), t2.clone())]);
    assert_eq!(tag_rows(&f, "version_tags"), 1);

    // What cannot carry tags.
    assert_err!(s.version_tags("tg", "missing", &latest).await, MetaError::NoSuchKey);
    assert_err!(s.set_version_tags("tg", "missing", &latest, t1.clone()).await, MetaError::NoSuchKey);
    assert_err!(s.set_version_tags("tg", "k", &id(&"0".repeat(32)), t1.clone()).await, MetaError::NoSuchVersion);
    assert_err!(s.version_tags("nobucket", "k", &latest).await, MetaError::NoSuchBucket);
    let marker = s.delete("tg", "k", &latest, Bypass::None, now()).await.unwrap();
    assert!(marker.delete_marker);
    let marker_id = marker.version_id.unwrap();
    assert_err!(s.version_tags("tg", "k", &latest).await, MetaError::DeleteMarker { .. });
    assert_err!(s.set_version_tags("tg", "k", &id(&marker_id), t1.clone()).await, MetaError::DeleteMarker { .. });
    // Older versions stay reachable by id.
    assert_eq!(s.version_tags("tg", "k", &id(&plain.version_id)).await.unwrap().1, t2);

    // Removing a version removes its tags.
    s.delete("tg", "k", &id(&plain.version_id), Bypass::None, now()).await.unwrap();
    assert!(s.key_tags("tg", "k").await.unwrap().is_empty());
    assert_eq!(tag_rows(&f, "version_tags"), 0);

    // Tags are not protected data: a COMPLIANCE version's tags change; the version stays.
    s.create_bucket("tl", true, now()).await.unwrap();
    let locked =
        put_locked(s, "tl", "c", LockState { retention: retention(Mode::Compliance, DAY), legal_hold: None }).await;
    s.set_version_tags("tl", "c", &id(&locked.version_id), t1.clone()).await.unwrap();
    s.set_version_tags("tl", "c", &id(&locked.version_id), t2.clone()).await.unwrap();
    assert_eq!(s.version_tags("tl", "c", &id(&locked.version_id)).await.unwrap().1, t2);
    assert_err!(
        s.delete("tl", "c", &id(&locked.version_id), Bypass::None, now()).await,
        MetaError::Locked(LockDenied::Compliance)
    );
    let after = s.version("tl", "c", &id(&locked.version_id)).await.unwrap();
    assert_eq!((after.lock, after.object), (locked.lock, locked.object));

    // An unversioned bucket's new `null` version replaces the old one and its tags.
    s.create_bucket("tn", false, now()).await.unwrap();
    s.put_version(new_version("tn", "n", LockState::default()), t1.clone(), WriteConditions::default(), now())
        .await
        .unwrap();
    assert_eq!(s.version_tags("tn", "n", &latest).await.unwrap().1, t1);
    put(s, "tn", "n").await;
    assert!(s.version_tags("tn", "n", &latest).await.unwrap().1.is_empty());
    assert_eq!(tag_rows(&f, "version_tags"), 1, "only the locked version's tags remain");

    // Multipart: tags set on the upload go to the version at completion; abort drops them.
    let u = upload("tg", "mp", "tu1");
    s.create_upload(u.clone()).await.unwrap();
    s.set_upload_tags("tg", "mp", "tu1", t1.clone()).await.unwrap();
    assert_err!(s.set_upload_tags("tg", "other", "tu1", t1.clone()).await, MetaError::NoSuchUpload);
    let b = blob_id();
    s.put_part("tg", "mp", "tu1", part(1, &b)).await.unwrap();
    let object = ObjectData { size: 5, segments: vec![Segment { blob: b.clone(), size: 5 }], ..obj(&b, "m-1") };
    let done = s.complete_upload(&u, object, WriteConditions::default(), now()).await.unwrap();
    assert_eq!(s.version_tags("tg", "mp", &latest).await.unwrap(), (done.clone(), t1.clone()));
    assert_eq!(tag_rows(&f, "upload_tags"), 0, "completion consumed the upload's tags");
    s.create_upload(upload("tg", "mp2", "tu2")).await.unwrap();
    s.set_upload_tags("tg", "mp2", "tu2", t2.clone()).await.unwrap();
    assert_eq!(tag_rows(&f, "upload_tags"), 1);
    s.abort_upload("tg", "mp2", "tu2").await.unwrap();
    assert_eq!(tag_rows(&f, "upload_tags"), 0, "abort dropped the upload's tags");
}

/// Leases for singleton background jobs: one holder at a time on a shared store,
/// renewals keep it, expiry hands it over, and racers get exactly one grant. A store that
/// one process owns grants every request.
async fn leases(f: Fixture) {
    let (s, twin) = (f.store.as_ref(), f.twin.as_ref());
    assert!(s.acquire_lease("job", "a", 60_000).await.unwrap());
    assert!(s.acquire_lease("job", "a", 60_000).await.unwrap(), "the holder renews");
    if !s.shared() {
        assert!(twin.acquire_lease("job", "b", 60_000).await.unwrap(), "one process: every request is granted");
        return;
    }
    assert!(!twin.acquire_lease("job", "b", 60_000).await.unwrap(), "held by a, for another minute");
    assert!(twin.acquire_lease("other-job", "b", 60_000).await.unwrap(), "leases are per job");
    let db = f.pg_db.as_deref().unwrap();
    let pg = Postgres::shared();
    assert_eq!(pg.psql(db, "SELECT holder FROM leases WHERE name = 'job'").unwrap().trim(), "a");
    // Expiry is judged by the database clock: a short lease runs out, and then b takes it
    // and a (still believing itself the holder) is refused.
    assert!(s.acquire_lease("job", "a", 200).await.unwrap());
    assert!(!twin.acquire_lease("job", "b", 60_000).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(twin.acquire_lease("job", "b", 60_000).await.unwrap(), "an expired lease is taken over");
    assert!(!s.acquire_lease("job", "a", 60_000).await.unwrap(), "the old holder cannot renew after a takeover");
    assert_eq!(pg.psql(db, "SELECT holder FROM leases WHERE name = 'job'").unwrap().trim(), "b");
    // Sixteen racers from two store instances on a fresh job: exactly one grant.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { Arc::clone(&f.store) } else { Arc::clone(&f.twin) };
            tokio::spawn(async move { store.acquire_lease("race", &format!("r{i}"), 60_000).await.unwrap() })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += usize::from(t.await.unwrap());
    }
    assert_eq!(granted, 1, "exactly one of the racers holds the lease");
}

// --- compare-and-swap of a bucket document (inventory configurations, issue #14) ----

async fn config_swaps(f: Fixture) {
    let s = &*f.store;
    versioned_bucket(s, "cas").await;
    let kind = BucketConfigKind::Inventory;
    // Absent -> a: only from absent.
    assert!(!s.swap_bucket_config("cas", kind, Some("x".into()), Some("a".into())).await.unwrap());
    assert!(s.swap_bucket_config("cas", kind, None, Some("a".into())).await.unwrap());
    assert!(!s.swap_bucket_config("cas", kind, None, Some("b".into())).await.unwrap());
    assert_eq!(s.bucket_config("cas", kind).await.unwrap().as_deref(), Some("a"));
    // a -> b, then removed only from b.
    assert!(s.swap_bucket_config("cas", kind, Some("a".into()), Some("b".into())).await.unwrap());
    assert!(!s.swap_bucket_config("cas", kind, Some("a".into()), None).await.unwrap());
    assert!(s.swap_bucket_config("cas", kind, Some("b".into()), None).await.unwrap());
    assert_eq!(s.bucket_config("cas", kind).await.unwrap(), None);
    assert_err!(s.swap_bucket_config("nope", kind, None, Some("a".into())).await, MetaError::NoSuchBucket);
    // Racers from the same state: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            store.swap_bucket_config("cas", kind, None, Some(format!("r{i}"))).await.unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1, "exactly one racer swaps");
}

// --- lock jobs (issue #14) --------------------------------------------------------------

fn words(e: &MetaError) -> holdfast_meta::TaskResult {
    let code = match e {
        MetaError::Locked(_) => "AccessDenied",
        MetaError::NoSuchKey => "NoSuchKey",
        MetaError::InvalidRequest(_) => "InvalidRequest",
        _ => "Other",
    };
    holdfast_meta::TaskResult { succeeded: false, error_code: code.into(), http_status: 403, message: e.to_string() }
}

fn batch_task(
    seq: i64,
    bucket: &str,
    key: &str,
    v: Option<&str>,
    action: holdfast_meta::TaskAction,
) -> holdfast_meta::BatchTask {
    holdfast_meta::BatchTask {
        seq,
        bucket: bucket.into(),
        key: key.into(),
        version_id: v.map(str::to_owned),
        action,
        actor: holdfast_audit::Actor {
            principal: Some("creator".into()),
            op: Some("PutObjectRetention".into()),
            ..Default::default()
        },
    }
}

/// `S3ReplicateObject` tasks (issues #14, #13): a version the rule applies to is queued (the
/// `admin replicate` step) in the batch's transaction with its result and the cursor; one no
/// rule applies to fails `InvalidRequest` and queues nothing; the same batch again (another
/// gateway) is refused whole, so nothing is queued twice.
async fn lock_job_replicate_batches(f: Fixture) {
    use holdfast_meta::{
        LockJob, LockJobBatch, LockJobChange, LockJobTask, ReplicationConfig, ReplicationDestination,
        ReplicationFilter, ReplicationRule, TaskAction,
    };
    let s = &*f.store;
    versioned_bucket(s, "rjsrc").await;
    versioned_bucket(s, "rjdst").await;
    let docs = put(s, "rjsrc", "docs/a").await;
    let other = put(s, "rjsrc", "other/b").await;
    let config = ReplicationConfig {
        role: "arn:aws:iam::123456789012:role/r".into(),
        rules: vec![ReplicationRule {
            id: "docs".into(),
            priority: Some(1),
            enabled: true,
            filter: ReplicationFilter { prefix: "docs/".into(), ..Default::default() },
            delete_markers: Some(false),
            destination: ReplicationDestination { arn: "arn:aws:s3:::rjdst".into(), storage_class: None },
        }],
    };
    let doc = serde_json::to_string(&config).unwrap();
    s.put_bucket_config("rjsrc", BucketConfigKind::Replication, Some(doc)).await.unwrap();
    assert!(s.replication_backlog(Some("rjsrc")).await.unwrap().is_empty(), "written before the rule");
    let job = LockJob::new("rjob".into(), "{}".into(), 5, now(), "rt".into());
    s.put_lock_job(job).await.unwrap();
    let task = |seq: i64, key: &str, v: &str| LockJobTask {
        seq,
        bucket: "rjsrc".into(),
        key: key.into(),
        version_id: Some(v.into()),
        result: None,
    };
    s.add_lock_job_tasks("rjob", vec![task(1, "docs/a", &docs.version_id), task(2, "other/b", &other.version_id)])
        .await
        .unwrap();
    let active = LockJobChange::Status {
        from: vec!["New".into()],
        to: "Active".into(),
        reason: None,
        total: Some(2),
        terminated: None,
    };
    s.update_lock_job("rjob", active).await.unwrap();
    let batch = || LockJobBatch {
        job: "rjob".into(),
        from: 0,
        to: 2,
        tasks: vec![
            batch_task(1, "rjsrc", "docs/a", Some(&docs.version_id), TaskAction::Replicate),
            batch_task(2, "rjsrc", "other/b", Some(&other.version_id), TaskAction::Replicate),
        ],
        words,
        now: now(),
    };
    let results = s.run_lock_job_batch(batch()).await.unwrap().unwrap();
    assert_eq!(
        results.iter().map(|(_, r)| (r.succeeded, r.error_code.as_str())).collect::<Vec<_>>(),
        [(true, ""), (false, "InvalidRequest")]
    );
    assert!(f.twin.run_lock_job_batch(batch()).await.unwrap().is_none());
    let backlog = s.replication_backlog(Some("rjsrc")).await.unwrap();
    assert_eq!(backlog.len(), 1, "{backlog:?}");
    assert_eq!((backlog[0].rule_id.as_str(), backlog[0].pending, backlog[0].failed), ("docs", 1, 0));
    let claimed = s.claim_replications(now(), 60_000, 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|q| (q.key.as_str(), q.version_id.as_str())).collect::<Vec<_>>(),
        [("docs/a", docs.version_id.as_str())]
    );
    let job = s.lock_jobs(Some("rjob")).await.unwrap().pop().unwrap();
    assert_eq!((job.cursor, job.succeeded, job.failed), (2, 1, 1));
    assert_eq!(job.failures.get("InvalidRequest"), Some(&1));
}

/// A batch runs its tasks through the single request's lock check (R8: COMPLIANCE is not
/// shortened), records one audit record per change, its results and the cursor, in one
/// transaction; the same batch again (another gateway, a restart) changes nothing.
async fn lock_job_batches(f: Fixture) {
    use holdfast_meta::{LockJob, LockJobBatch, LockJobChange, LockJobTask, TaskAction};
    let s = &*f.store;
    s.create_bucket("lj", true, now()).await.unwrap();
    let comp =
        put_locked(s, "lj", "comp", LockState { retention: retention(Mode::Compliance, 2 * DAY), legal_hold: None })
            .await;
    let plain = put(s, "lj", "plain").await;
    let held = put(s, "lj", "held").await;
    let job = LockJob::new("job-1".into(), "{}".into(), 5, now(), "t".into());
    assert_eq!(s.put_lock_job(job.clone()).await.unwrap().id, "job-1");
    // The same client token: the first job.
    assert_eq!(s.put_lock_job(LockJob { id: "job-2".into(), ..job }).await.unwrap().id, "job-1");
    let tasks = vec![
        LockJobTask {
            seq: 1,
            bucket: "lj".into(),
            key: "comp".into(),
            version_id: Some(comp.version_id.clone()),
            result: None,
        },
        LockJobTask {
            seq: 2,
            bucket: "lj".into(),
            key: "plain".into(),
            version_id: Some(plain.version_id.clone()),
            result: None,
        },
        LockJobTask { seq: 3, bucket: "lj".into(), key: "held".into(), version_id: None, result: None },
        LockJobTask { seq: 4, bucket: "lj".into(), key: "missing".into(), version_id: None, result: None },
    ];
    s.add_lock_job_tasks("job-1", tasks.clone()).await.unwrap();
    s.add_lock_job_tasks("job-1", tasks).await.unwrap(); // again after a restart: nothing twice
    assert_eq!(s.lock_job_tasks("job-1", 0, 10).await.unwrap().len(), 4);
    let active = |from: &str| LockJobChange::Status {
        from: vec![from.into()],
        to: "Active".into(),
        reason: None,
        total: Some(4),
        terminated: None,
    };
    assert_err!(s.update_lock_job("job-1", active("Ready")).await, MetaError::PreconditionFailed);
    assert!(s.update_lock_job("nope", active("New")).await.unwrap().is_none());
    assert_eq!(s.update_lock_job("job-1", active("New")).await.unwrap().unwrap().total, 4);

    let shorter = TaskAction::Retention { retention: retention(Mode::Governance, DAY), bypass: Bypass::None };
    let first = || LockJobBatch {
        job: "job-1".into(),
        from: 0,
        to: 2,
        tasks: vec![
            batch_task(1, "lj", "comp", Some(&comp.version_id), shorter.clone()),
            batch_task(2, "lj", "plain", Some(&plain.version_id), shorter.clone()),
        ],
        words,
        now: now(),
    };
    let results = s.run_lock_job_batch(first()).await.unwrap().unwrap();
    assert_eq!(
        results.iter().map(|(_, r)| (r.succeeded, r.error_code.as_str())).collect::<Vec<_>>(),
        [(false, "AccessDenied"), (true, "")]
    );
    // COMPLIANCE untouched; the unlocked version took the retention.
    assert_eq!(s.version("lj", "comp", &id(&comp.version_id)).await.unwrap().lock.retention, comp.lock.retention);
    assert_eq!(
        s.version("lj", "plain", &id(&plain.version_id)).await.unwrap().lock.retention.unwrap().mode,
        Mode::Governance
    );
    // The same batch again (another gateway): refused as a whole, nothing changes.
    assert!(f.twin.run_lock_job_batch(first()).await.unwrap().is_none());
    let second = LockJobBatch {
        job: "job-1".into(),
        from: 2,
        to: 4,
        tasks: vec![
            batch_task(3, "lj", "held", None, TaskAction::LegalHold(LegalHold::On)),
            batch_task(4, "lj", "missing", None, TaskAction::LegalHold(LegalHold::On)),
        ],
        words,
        now: now(),
    };
    let results = s.run_lock_job_batch(second).await.unwrap().unwrap();
    assert_eq!(results[1].1.error_code, "NoSuchKey");
    assert_eq!(s.version("lj", "held", &id(&held.version_id)).await.unwrap().lock.legal_hold, Some(LegalHold::On));
    let job = s.lock_jobs(Some("job-1")).await.unwrap().pop().unwrap();
    assert_eq!((job.cursor, job.succeeded, job.failed), (4, 2, 2));
    assert_eq!(job.failures.get("AccessDenied"), Some(&1));
    assert_eq!(job.failures.get("NoSuchKey"), Some(&1));
    let stored = s.lock_job_tasks("job-1", 0, 10).await.unwrap();
    assert!(stored.iter().all(|t| t.result.is_some()));
    // One audit record per change (two changes), none for a refusal.
    let records = s.audit_backlog().await.unwrap();
    let creator: Vec<_> = records.iter().filter(|r| r.contains("\"creator\"")).collect();
    assert_eq!(creator.len(), 2, "{records:?}");
    // ... and one history entry per change, by the job's creator (#16); the refused task none.
    use holdfast_meta::{LockAction, LockHistoryQuery};
    let entries = |k: &'static str, v: String| async move {
        let h = s.lock_history("lj", k, &id(&v), LockHistoryQuery::default()).await.unwrap();
        h.entries.iter().map(|e| (e.principal.clone().unwrap(), e.actions.clone())).collect::<Vec<_>>()
    };
    let by_creator = |a: LockAction| vec![("creator".to_owned(), vec![a])];
    assert_eq!(entries("plain", plain.version_id.clone()).await, by_creator(LockAction::RetentionSet));
    assert_eq!(entries("held", held.version_id.clone()).await, by_creator(LockAction::LegalHoldOn));
    assert_eq!(entries("comp", comp.version_id.clone()).await, []);
}

// --- lock histories (issue #16) ------------------------------------------------------------

/// Rows of `lock_history`, read with SQL beside the store.
fn history_rows(f: &Fixture) -> i64 {
    if let Some(db) = &f.pg_db {
        Postgres::shared().psql(db, "SELECT count(*) FROM lock_history").unwrap().trim().parse().unwrap()
    } else {
        let conn = rusqlite::Connection::open(f.sqlite_path.as_ref().unwrap()).unwrap();
        conn.query_row("SELECT count(*) FROM lock_history", [], |r| r.get(0)).unwrap()
    }
}

/// Every lock change made by an actor leaves one entry, written from its audit record in its
/// transaction (same principal, op, before/after, and the record's outbox id); a refused
/// change and an unrecorded one leave none; pages run both ways; the entries go with the version.
async fn lock_histories(f: Fixture) {
    use holdfast_audit::{Actor, ActorCell};
    use holdfast_meta::{HistoryOrder, LockAction as A, LockHistoryQuery};
    let s = &*f.store;
    let acting = |principal: &str, op: &str| {
        ActorCell::new(Actor { principal: Some(principal.into()), op: Some(op.into()), ..Actor::default() })
    };
    s.create_bucket("lh", true, now()).await.unwrap();
    let gov = LockState { retention: retention(Mode::Governance, DAY), legal_hold: None };
    let v = acting("alice", "PutObject").scope(put_locked(s, "lh", "k", gov)).await;
    let plain = acting("alice", "PutObject").scope(put(s, "lh", "plain")).await;
    let sel = id(&v.version_id);
    let longer = retention(Mode::Governance, 2 * DAY);
    acting("bob", "PutObjectRetention")
        .scope(s.set_retention("lh", "k", &sel, longer, Bypass::None, now()))
        .await
        .unwrap();
    // R8: shortening without bypass is refused, and records nothing.
    let refused = acting("bob", "PutObjectRetention")
        .scope(s.set_retention("lh", "k", &sel, retention(Mode::Governance, DAY / 2), Bypass::None, now()))
        .await;
    assert_err!(refused, MetaError::Locked(LockDenied::Governance));
    acting("carol", "PutObjectLegalHold").scope(s.set_legal_hold("lh", "k", &sel, LegalHold::On)).await.unwrap();
    acting("carol", "PutObjectLegalHold").scope(s.set_legal_hold("lh", "k", &sel, LegalHold::Off)).await.unwrap();

    let h = s.lock_history("lh", "k", &VersionSelector::Latest, LockHistoryQuery::default()).await.unwrap();
    assert_eq!(h.version.version_id, v.version_id);
    assert_eq!(h.next, None);
    let seen: Vec<(&str, &str, Vec<A>)> =
        h.entries.iter().map(|e| (e.principal.as_deref().unwrap(), e.op.as_str(), e.actions.clone())).collect();
    assert_eq!(
        seen,
        [
            ("alice", "PutObject", vec![A::Written]),
            ("bob", "PutObjectRetention", vec![A::RetentionExtended]),
            ("carol", "PutObjectLegalHold", vec![A::LegalHoldOn]),
            ("carol", "PutObjectLegalHold", vec![A::LegalHoldOff]),
        ]
    );
    let extended = LockState { retention: longer, legal_hold: None };
    assert_eq!((h.entries[0].before, h.entries[0].after), (LockState::default(), gov));
    assert_eq!((h.entries[1].before, h.entries[1].after), (gov, extended));
    let on = LockState { legal_hold: Some(LegalHold::On), ..extended };
    assert_eq!((h.entries[2].before, h.entries[2].after), (extended, on));
    assert_eq!(h.entries[3].after, LockState { legal_hold: Some(LegalHold::Off), ..extended });
    // Each entry is its audit record's projection.
    let outbox = s.audit_pending(100).await.unwrap();
    for e in &h.entries {
        let (_, text) = outbox.iter().find(|(id, _)| *id == e.audit_id).expect("the entry's record");
        let r: holdfast_audit::AuditRecord = serde_json::from_str(text).unwrap();
        assert_eq!((r.principal.as_ref(), &r.op), (e.principal.as_ref(), &e.op));
        assert_eq!(r.lock_after, Some(holdfast_audit::LockSnapshot::from(&e.after)));
        assert_eq!(r.time, e.time.to_iso8601());
    }
    // A change without an actor (no record) leaves no entry either; nor does a version
    // written without a lock.
    s.set_legal_hold("lh", "k", &sel, LegalHold::Off).await.unwrap();
    assert_eq!(s.lock_history("lh", "k", &sel, LockHistoryQuery::default()).await.unwrap().entries.len(), 4);
    let q = LockHistoryQuery::default();
    assert!(s.lock_history("lh", "plain", &id(&plain.version_id), q).await.unwrap().entries.is_empty());

    // X2: a replica is written with its source's lock; a later delivery only grows it.
    let replica = |lock| holdfast_meta::ReplicaVersion {
        bucket: "lh".into(),
        key: "r".into(),
        version_id: "0123456789abcdef0123456789abcdef".into(),
        last_modified: now(),
        object: Some(obj(&blob_id(), "re")),
        tags: TagSet::new(),
        lock,
    };
    let replicating = || acting("arn:aws:iam::123456789012:role/r", "ReplicateObject");
    replicating().scope(s.put_replica(replica(gov), now())).await.unwrap();
    replicating().scope(s.put_replica(replica(extended), now())).await.unwrap();
    let r = s.lock_history("lh", "r", &id("0123456789abcdef0123456789abcdef"), q).await.unwrap();
    let seen: Vec<_> = r.entries.iter().map(|e| (e.op.as_str(), e.actions.clone(), e.after)).collect();
    assert_eq!(
        seen,
        [("ReplicateObject", vec![A::Written], gov), ("ReplicateObject", vec![A::RetentionExtended], extended)]
    );

    // Pages, newest first, then oldest first from a cursor.
    let q = LockHistoryQuery { order: HistoryOrder::NewestFirst, after: None, limit: 3 };
    let p1 = s.lock_history("lh", "k", &sel, q).await.unwrap();
    assert_eq!(
        p1.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        [h.entries[3].id, h.entries[2].id, h.entries[1].id]
    );
    let p2 = s.lock_history("lh", "k", &sel, LockHistoryQuery { after: p1.next, ..q }).await.unwrap();
    assert_eq!((p2.entries.len(), p2.entries[0].id, p2.next), (1, h.entries[0].id, None));
    let q = LockHistoryQuery { order: HistoryOrder::OldestFirst, after: Some(h.entries[1].id), limit: 1 };
    let p = s.lock_history("lh", "k", &sel, q).await.unwrap();
    assert_eq!((p.entries[0].id, p.next), (h.entries[2].id, Some(h.entries[2].id)));

    // The history goes with its version (D3: GOVERNANCE removed with bypass).
    assert_eq!(history_rows(&f), 6);
    acting("root", "DeleteObject").scope(s.delete("lh", "k", &sel, Bypass::Governance, now())).await.unwrap();
    assert_err!(s.lock_history("lh", "k", &sel, LockHistoryQuery::default()).await, MetaError::NoSuchVersion);
    assert_eq!(history_rows(&f), 2, "the replica's two entries stay with it");
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::sqlite().await).await;
                }
            )*
        }
        mod postgres_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::postgres().await).await;
                }
            )*
        }
    };
}

conformance!(
    buckets,
    versions_in_order,
    null_versions,
    deletes_and_markers,
    lock_refusals,
    retention_transitions,
    default_retention,
    conditional_writes,
    listings,
    listing_entries,
    listed_columns_follow_every_change,
    multipart,
    replica_uploads,
    gc_queue,
    identity,
    clock_high_water,
    worm_guard,
    races,
    evidence,
    tags,
    leases,
    config_swaps,
    lock_job_batches,
    lock_job_replicate_batches,
    lock_histories,
);
