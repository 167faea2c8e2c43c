//! Model-based property test of Object Lock enforcement in the metadata store.
//!
//! Random sequences of writes (with and without lock state), retention changes (extend,
//! shorten, mode change, removal; with and without bypass), legal hold on/off, deletes
//! (with and without versionId and bypass), multi-deletes (concurrent, as the API runs them)
//! and clock advances are applied to the real [`SqliteMeta`] through the [`MetaStore`]
//! trait and to a deliberately simple model written from the spec (§0.3, R8, R9/DP5, D1..D6,
//! L4, W9) without using `holdfast_lock::check_*`. After every step the store must agree
//! with the model exactly, and independently of the model:
//! - no protected version is ever removed, and a refused request changes nothing;
//! - COMPLIANCE retention that was active is never shortened, downgraded or removed;
//! - everything the model allows succeeds.
//!
//! # The simulated clock and the WORM triggers
//!
//! `now` plays the compliance clock. In production that clock is the system clock guarded
//! never to move backwards, so it is never *behind* the system clock; the simulated clock
//! keeps that property: each case starts it at the real current time `T0`, it only moves
//! forward, and every reading is `max(T0 + advanced, system clock)`.
//!
//! The schema's WORM triggers (defence in depth) judge COMPLIANCE retention and legal holds
//! by the *system* clock. With the simulated clock never behind it they are never more
//! permissive than the rules, but they are stricter for COMPLIANCE retention that expired
//! in simulated time and not in real time. To keep that deterministic, every retain-until
//! date is `T0 + k × STEP` with `STEP` = 10 minutes: with `k ≤ 0` it is already in the real
//! past, with `k ≥ 1` it stays in the real future for the whole case (a case lasts well
//! under a second). The model therefore treats a COMPLIANCE retention with
//! `until > T0` as locked by the triggers even after the simulated clock passed it, and
//! expects such a change to be refused with `Locked` (as the store maps a trigger refusal).

#![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

use holdfast_lock::{Bypass, DefaultRetention, LegalHold, LockState, Mode, Period, Retention, UtcMillis};
use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::{
    ListQuery, MetaError, MetaStore, NewVersion, ObjectData, ObjectHeaders, Segment, TagSet, VersionSelector,
    WriteConditions,
};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const STEP: i64 = 600_000;
const DAY: i64 = 86_400_000;
const KEYS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone, Copy)]
struct Lock {
    mode: Mode,
    /// Retain-until as a multiple of STEP from T0.
    k: i64,
}

#[derive(Debug, Clone)]
enum Op {
    Put { key: usize, lock: Option<Lock>, hold: Option<bool> },
    SetRetention { target: usize, lock: Option<Lock>, bypass: bool },
    SetHold { target: usize, on: bool },
    Delete { key: usize, target: Option<usize>, bypass: bool },
    MultiDelete { entries: Vec<(usize, Option<usize>)>, bypass: bool },
    Advance { ms: i64 },
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Governance), Just(Mode::Compliance)]
}

fn lock() -> impl Strategy<Value = Lock> {
    (mode(), -2i64..8).prop_map(|(mode, k)| Lock { mode, k })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS.len(), proptest::option::of(lock()), proptest::option::of(any::<bool>()))
            .prop_map(|(key, lock, hold)| Op::Put { key, lock, hold }),
        4 => (any::<usize>(), proptest::option::weighted(0.8, lock()), any::<bool>())
            .prop_map(|(target, lock, bypass)| Op::SetRetention { target, lock, bypass }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(target, on)| Op::SetHold { target, on }),
        4 => (0..KEYS.len(), proptest::option::weighted(0.75, any::<usize>()), any::<bool>())
            .prop_map(|(key, target, bypass)| Op::Delete { key, target, bypass }),
        1 => (proptest::collection::vec((0..KEYS.len(), proptest::option::weighted(0.75, any::<usize>())), 1..5), any::<bool>())
            .prop_map(|(entries, bypass)| Op::MultiDelete { entries, bypass }),
        2 => prop_oneof![Just(1i64), Just(STEP - 1), Just(STEP), Just(STEP / 2), Just(3 * STEP), Just(DAY)]
            .prop_map(|ms| Op::Advance { ms }),
    ]
}

fn default_rule() -> impl Strategy<Value = Option<DefaultRetention>> {
    prop_oneof![
        2 => Just(None),
        1 => mode().prop_map(|mode| Some(DefaultRetention { mode, period: Period::Days(1) })),
    ]
}

/// One row of the model: a version or delete marker ever created in this case.
#[derive(Debug, Clone, PartialEq)]
struct MVersion {
    key: String,
    id: String,
    marker: bool,
    lock: LockState,
    live: bool,
}

struct Model {
    t0: i64,
    versions: Vec<MVersion>,
}

impl Model {
    fn until(&self, k: i64) -> UtcMillis {
        UtcMillis(self.t0 + k * STEP)
    }

    /// Active retention by the rules (`now < until`, strict), or by the WORM trigger for
    /// COMPLIANCE (`until` still in the real future, i.e. after T0; see the module docs).
    fn active(&self, r: &Retention, now: UtcMillis) -> bool {
        now < r.until || (r.mode == Mode::Compliance && r.until.0 > self.t0)
    }

    fn may_delete(&self, v: &MVersion, now: UtcMillis, bypass: bool) -> bool {
        if v.lock.legal_hold == Some(LegalHold::On) {
            return false;
        }
        match v.lock.retention {
            Some(r) if self.active(&r, now) => r.mode == Mode::Governance && bypass,
            _ => true,
        }
    }

    fn may_change(&self, cur: Option<Retention>, req: Option<Retention>, now: UtcMillis, bypass: bool) -> bool {
        let Some(cur) = cur.filter(|r| self.active(r, now)) else {
            return true;
        };
        let keeps = matches!(req, Some(r) if r.until >= cur.until && r.mode == cur.mode);
        match cur.mode {
            // R8: COMPLIANCE may only be kept or extended, bypass or not.
            Mode::Compliance => keeps,
            // R8: GOVERNANCE may be kept or extended; anything else (shorten, remove, raise to
            // COMPLIANCE) needs bypass.
            Mode::Governance => keeps || bypass,
        }
    }
}

/// Protected by the rules alone (§0.3), judged by the simulated clock.
fn protected(lock: &LockState, now: UtcMillis) -> bool {
    lock.legal_hold == Some(LegalHold::On) || lock.retention.is_some_and(|r| now < r.until)
}

fn object(n: usize) -> ObjectData {
    ObjectData {
        size: 1,
        etag: format!("{n:032x}"),
        headers: ObjectHeaders::default(),
        checksum: None,
        segments: vec![Segment { blob: format!("blob-{n}-{}", holdfast_meta::new_version_id()), size: 1 }],
        parts: Vec::new(),
        inline: None,
    }
}

struct Harness {
    rt: tokio::runtime::Runtime,
    store: Arc<SqliteMeta>,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static H: std::sync::OnceLock<Harness> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteMeta::open(&dir.path().join("meta.db")).unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        Harness { rt, store, _dir: dir }
    })
}

/// The store's view of the bucket: (key, version id) → (marker, lock state).
async fn snapshot(store: &SqliteMeta, bucket: &str) -> BTreeMap<(String, String), (bool, LockState)> {
    let page = store
        .list_versions(ListQuery {
            bucket: bucket.to_owned(),
            prefix: String::new(),
            delimiter: None,
            after: None,
            after_version: None,
            max_keys: 10_000,
        })
        .await
        .unwrap();
    assert!(!page.truncated);
    page.versions.into_iter().map(|v| ((v.key.clone(), v.version_id.clone()), (v.is_delete_marker(), v.lock))).collect()
}

fn model_view(m: &Model) -> BTreeMap<(String, String), (bool, LockState)> {
    m.versions.iter().filter(|v| v.live).map(|v| ((v.key.clone(), v.id.clone()), (v.marker, v.lock))).collect()
}

fn bypass(b: bool) -> Bypass {
    if b { Bypass::Governance } else { Bypass::None }
}

#[track_caller]
fn expect_locked<T: std::fmt::Debug>(r: &Result<T, MetaError>, what: &str) {
    assert!(matches!(r, Err(MetaError::Locked(_))), "{what}: expected Locked, got {r:?}");
}

async fn run_case(default: Option<DefaultRetention>, ops: Vec<Op>) {
    static N: AtomicU32 = AtomicU32::new(0);
    let store = &harness().store;
    let bucket = format!("model-{}", N.fetch_add(1, Ordering::Relaxed));
    let t0 = UtcMillis::now_system().0;
    let mut advanced = 0i64;
    // Never behind the system clock, only forward (see the module docs).
    let clock = |advanced: i64| UtcMillis((t0 + advanced).max(UtcMillis::now_system().0));
    store.create_bucket(&bucket, true, clock(advanced)).await.unwrap();
    store.set_lock_configuration(&bucket, default).await.unwrap();
    let mut m = Model { t0, versions: Vec::new() };
    for (step, op) in ops.into_iter().enumerate() {
        let now = clock(advanced);
        let before: Vec<MVersion> = m.versions.clone();
        let what = format!("step {step}: {op:?}");
        let op_bypass = match &op {
            Op::SetRetention { bypass, .. } | Op::Delete { bypass, .. } | Op::MultiDelete { bypass, .. } => *bypass,
            _ => false,
        };
        match op {
            Op::Advance { ms } => advanced += ms,
            Op::Put { key, lock, hold } => {
                let lock = LockState {
                    retention: lock.map(|l| Retention { mode: l.mode, until: m.until(l.k) }),
                    legal_hold: hold.map(|h| if h { LegalHold::On } else { LegalHold::Off }),
                };
                let v = NewVersion {
                    bucket: bucket.clone(),
                    key: KEYS[key].to_owned(),
                    object: object(step),
                    lock,
                    origin: Default::default(),
                };
                let rec = store.put_version(v, TagSet::new(), WriteConditions::default(), now).await.unwrap();
                // W9: the default fills in retention when none was given, from "now".
                let mut want = lock;
                if want.retention.is_none()
                    && let Some(d) = default
                {
                    want.retention = Some(Retention { mode: d.mode, until: UtcMillis(now.0 + DAY) });
                }
                assert_eq!(rec.lock, want, "{what}");
                m.versions.push(MVersion {
                    key: KEYS[key].to_owned(),
                    id: rec.version_id,
                    marker: false,
                    lock: want,
                    live: true,
                });
            }
            Op::SetRetention { target, lock, bypass: b } => {
                let Some(i) = (!m.versions.is_empty()).then(|| target % m.versions.len()) else {
                    continue;
                };
                let v = m.versions[i].clone();
                let req = lock.map(|l| Retention { mode: l.mode, until: m.until(l.k) });
                let got =
                    store.set_retention(&bucket, &v.key, &VersionSelector::Id(v.id.clone()), req, bypass(b), now).await;
                if !v.live {
                    assert!(matches!(got, Err(MetaError::NoSuchVersion)), "{what}: {got:?}");
                } else if v.marker {
                    assert!(matches!(got, Err(MetaError::DeleteMarker { .. })), "{what}: {got:?}");
                } else if m.may_change(v.lock.retention, req, now, b) {
                    let rec = got.unwrap_or_else(|e| panic!("{what}: the model allows it, the store said {e:?}"));
                    assert_eq!(rec.lock.retention, req, "{what}");
                    m.versions[i].lock.retention = req;
                } else {
                    expect_locked(&got, &what);
                }
            }
            Op::SetHold { target, on } => {
                let Some(i) = (!m.versions.is_empty()).then(|| target % m.versions.len()) else {
                    continue;
                };
                let v = m.versions[i].clone();
                let hold = if on { LegalHold::On } else { LegalHold::Off };
                let got = store.set_legal_hold(&bucket, &v.key, &VersionSelector::Id(v.id.clone()), hold).await;
                if !v.live {
                    assert!(matches!(got, Err(MetaError::NoSuchVersion)), "{what}: {got:?}");
                } else if v.marker {
                    assert!(matches!(got, Err(MetaError::DeleteMarker { .. })), "{what}: {got:?}");
                } else {
                    // L4: always allowed, under any retention.
                    got.unwrap_or_else(|e| panic!("{what}: {e:?}"));
                    m.versions[i].lock.legal_hold = Some(hold);
                }
            }
            Op::Delete { key, target, bypass: b } => {
                delete_one(store, &bucket, &mut m, key, target, b, now, &what).await;
            }
            Op::MultiDelete { entries, bypass: b } => {
                // Distinct targets, run concurrently (they share group commits, as DeleteObjects does).
                let mut seen = std::collections::HashSet::new();
                let mut jobs = Vec::new();
                for (key, target) in entries {
                    let target = target.filter(|_| !m.versions.is_empty()).map(|t| t % m.versions.len());
                    let (key_name, sel) = match target {
                        Some(i) => (m.versions[i].key.clone(), VersionSelector::Id(m.versions[i].id.clone())),
                        None => (KEYS[key].to_owned(), VersionSelector::Latest),
                    };
                    if seen.insert((key_name.clone(), format!("{sel:?}"))) {
                        jobs.push((key_name, target, sel));
                    }
                }
                let mut set = tokio::task::JoinSet::new();
                for (n, (key_name, _, sel)) in jobs.iter().cloned().enumerate() {
                    let store = Arc::clone(store);
                    let bucket = bucket.clone();
                    set.spawn(async move { (n, store.delete(&bucket, &key_name, &sel, bypass(b), now).await) });
                }
                let mut results: Vec<_> = set.join_all().await;
                results.sort_by_key(|(n, _)| *n);
                for ((key_name, target, _), (_, got)) in jobs.into_iter().zip(results) {
                    check_delete_result(&mut m, &key_name, target, b, now, got, &what);
                }
            }
        }
        // Whatever happened, the store and the model agree exactly ...
        assert_eq!(snapshot(store, &bucket).await, model_view(&m), "{what}");
        // ... and, independently of the model's rules: no version that was protected
        // (by the simulated clock) before the step is gone unless it was GOVERNANCE-only
        // and the request bypassed; active COMPLIANCE was neither shortened nor downgraded
        // nor removed; active GOVERNANCE was not weakened without bypass.
        for (old, new) in before.iter().zip(&m.versions) {
            if !old.live || old.marker {
                continue;
            }
            let governance_only = old.lock.legal_hold != Some(LegalHold::On)
                && old.lock.retention.is_some_and(|r| r.mode == Mode::Governance);
            if protected(&old.lock, now) && !(governance_only && op_bypass) {
                assert!(new.live, "{what}: protected version {} removed", old.id);
            }
            if let Some(r) = old.lock.retention
                && r.mode == Mode::Governance
                && now < r.until
                && !op_bypass
            {
                let kept = new.lock.retention.is_some_and(|n| n.mode == Mode::Governance && n.until >= r.until);
                assert!(kept, "{what}: GOVERNANCE weakened without bypass: {:?} -> {:?}", old.lock, new.lock);
            }
            if let Some(r) = old.lock.retention
                && r.mode == Mode::Compliance
                && now < r.until
            {
                let kept = new.lock.retention.is_some_and(|n| n.mode == Mode::Compliance && n.until >= r.until);
                assert!(new.live && kept, "{what}: COMPLIANCE weakened: {:?} -> {:?}", old.lock, new.lock);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn delete_one(
    store: &SqliteMeta,
    bucket: &str,
    m: &mut Model,
    key: usize,
    target: Option<usize>,
    b: bool,
    now: UtcMillis,
    what: &str,
) {
    let target = target.filter(|_| !m.versions.is_empty()).map(|t| t % m.versions.len());
    let (key_name, sel) = match target {
        Some(i) => (m.versions[i].key.clone(), VersionSelector::Id(m.versions[i].id.clone())),
        None => (KEYS[key].to_owned(), VersionSelector::Latest),
    };
    let got = store.delete(bucket, &key_name, &sel, bypass(b), now).await;
    check_delete_result(m, &key_name, target, b, now, got, what);
}

fn check_delete_result(
    m: &mut Model,
    key: &str,
    target: Option<usize>,
    b: bool,
    now: UtcMillis,
    got: Result<holdfast_meta::DeleteOutcome, MetaError>,
    what: &str,
) {
    match target {
        // D1: without versionId a delete only ever adds a marker.
        None => {
            let out = got.unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert!(out.delete_marker, "{what}");
            let id = out.version_id.expect("marker id");
            m.versions.push(MVersion { key: key.to_owned(), id, marker: true, lock: LockState::default(), live: true });
        }
        Some(i) => {
            let v = m.versions[i].clone();
            if !v.live {
                // D13: deleting a version that is gone succeeds and changes nothing.
                let out = got.unwrap_or_else(|e| panic!("{what}: {e:?}"));
                assert!(!out.delete_marker, "{what}");
            } else if v.marker || m.may_delete(&v, now, b) {
                // D6: markers are never protected.
                let out = got.unwrap_or_else(|e| panic!("{what}: the model allows it, the store said {e:?}"));
                assert_eq!(out.delete_marker, v.marker, "{what}");
                m.versions[i].live = false;
            } else {
                expect_locked(&got, what);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_request_sequence_breaks_object_lock(
        default in default_rule(),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        harness().rt.block_on(run_case(default, ops));
    }
}
