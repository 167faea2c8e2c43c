//! The lifecycle worker (spec D11): applies each bucket's lifecycle rules.
//!
//! It decides *which* version a rule expires; the removal itself is
//! [`MetaStore::lifecycle_delete`](holdfast_meta::MetaStore::lifecycle_delete), which runs the
//! same delete and the same lock check as DeleteObject inside the metadata transaction. A
//! protected version is skipped (counted in `holdfast_lifecycle_skipped_protected_total` and
//! in the audit trail) and expired on a later pass, once its protection has ended.
//!
//! Gateways sharing a metadata store take turns through a lease in the store
//! ([`LIFECYCLE_LEASE`]): only its holder runs passes, renews it while it lives (during a
//! pass too), and stops a pass between two versions if it ever loses it. Another gateway
//! takes over once a dead holder's lease has run out. The lease saves work and keeps the
//! evidence of a pass in one audit chain; that a version is removed at most once rests on
//! the store, which re-checks each version inside the transaction that removes it.

use crate::{Engine, EngineResult};
use holdfast_audit::{Actor, ActorCell, AuditRecord};
use holdfast_lock::{Bypass, UtcMillis, check_delete};
use holdfast_meta::{
    Bucket, BucketConfigKind, CurrentExpiration, LifecycleAction, LifecycleConfig, LifecycleRule, ListQuery, MetaError,
    TagSet, UploadListQuery, VersionRecord, Versioning,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The name of the lifecycle worker's lease in the metadata store.
pub const LIFECYCLE_LEASE: &str = "lifecycle";

/// How long the lifecycle lease lasts unless renewed: ten worker periods, at least 10 s and
/// at most 2 min. The holder renews it every third of that, so another gateway takes over
/// at most this long after the holder died.
pub fn lease_ttl(interval: Duration) -> Duration {
    interval.saturating_mul(10).clamp(Duration::from_secs(10), Duration::from_secs(120))
}

/// How long a lifecycle "day" is and how often the worker runs. Shorter values than the
/// defaults exist for tests only.
#[derive(Debug, Clone)]
pub struct LifecycleSettings {
    pub day_ms: i64,
    pub interval: Duration,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self { day_ms: 86_400_000, interval: Duration::from_secs(3600) }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassStats {
    pub expired_current: u64,
    pub expired_noncurrent: u64,
    pub markers_removed: u64,
    pub uploads_aborted: u64,
    pub skipped_protected: u64,
}

/// Most versions or uploads asked for per listing page.
const PAGE: usize = 1000;
/// Skipped versions named in one audit record.
const SKIPS_NAMED: usize = 20;

fn expired_current(rule: &LifecycleRule, written: UtcMillis, now: UtcMillis, day_ms: i64) -> bool {
    match &rule.expiration {
        Some(CurrentExpiration::Days(d)) => written.plus_millis(i64::from(*d).saturating_mul(day_ms)) <= now,
        Some(CurrentExpiration::Date(at)) => *at <= now,
        None => false,
    }
}

fn common_prefix<'a>(rules: &[&'a LifecycleRule]) -> &'a str {
    let Some(first) = rules.first() else { return "" };
    let mut p: &str = &first.filter.prefix;
    for r in &rules[1..] {
        let n = p.bytes().zip(r.filter.prefix.bytes()).take_while(|(a, b)| a == b).count();
        p = &p[..n];
        while !p.is_char_boundary(p.len()) {
            p = &p[..p.len() - 1];
        }
    }
    p
}

/// One bucket's pass state.
struct BucketPass<'e> {
    engine: &'e Engine,
    bucket: &'e Bucket,
    rules: Vec<&'e LifecycleRule>,
    day_ms: i64,
    stats: PassStats,
    skipped: Vec<String>,
    /// Set when this gateway lost the lease: no further action is taken.
    stop: &'e AtomicBool,
}

impl BucketPass<'_> {
    fn skip(&mut self, v: &VersionRecord) {
        self.stats.skipped_protected += 1;
        if self.skipped.len() < SKIPS_NAMED {
            self.skipped.push(format!("{}?versionId={}", v.key, v.version_id));
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    async fn act(&mut self, v: &VersionRecord, action: LifecycleAction, rule: &str) {
        if self.stopped() {
            return;
        }
        let now = self.engine.clock.now();
        // The removal and its audit record commit together.
        let name = match action {
            LifecycleAction::ExpireCurrent => "current",
            LifecycleAction::ExpireNoncurrent => "noncurrent",
            LifecycleAction::RemoveExpiredMarker => "expired_delete_marker",
        };
        let actor = ActorCell::new(Actor {
            principal: Some("holdfast:lifecycle".into()),
            op: Some("LifecycleExpiration".into()),
            bucket: Some(self.bucket.name.clone()),
            key: Some(v.key.clone()),
            version_id: Some(v.version_id.clone()),
            detail: Some(serde_json::json!({ "rule": rule, "action": name, "delete_marker_version_id": null })),
            ..Actor::default()
        });
        let removal = self.engine.meta.lifecycle_delete(&self.bucket.name, &v.key, &v.version_id, action, now);
        match actor.clone().scope(removal).await {
            Ok(_) => {
                match action {
                    LifecycleAction::ExpireCurrent => self.stats.expired_current += 1,
                    LifecycleAction::ExpireNoncurrent => self.stats.expired_noncurrent += 1,
                    LifecycleAction::RemoveExpiredMarker => self.stats.markers_removed += 1,
                }
                metrics::counter!("holdfast_lifecycle_expired_total", "action" => name).increment(1);
                if let Some(log) = self.engine.audit() {
                    log.nudge();
                }
            }
            // The store's lock check refused it (it became protected since it was listed).
            Err(MetaError::Locked(_)) => self.skip(v),
            // Changed since it was listed (or its bucket is gone): next pass decides again.
            Err(MetaError::PreconditionFailed | MetaError::NoSuchBucket) => {}
            Err(e) => {
                tracing::warn!(bucket = %self.bucket.name, key = %v.key, error = %e, "lifecycle expiration failed")
            }
        }
    }

    /// The tags of a key's versions, by version id: read only when a rule filters by tag.
    async fn key_tags(&self, rules: &[&LifecycleRule], key: &str) -> Option<HashMap<String, TagSet>> {
        if rules.iter().all(|r| r.filter.tags.is_empty()) {
            return Some(HashMap::new());
        }
        match self.engine.meta.key_tags(&self.bucket.name, key).await {
            Ok(tags) => Some(tags.into_iter().collect()),
            Err(e) => {
                tracing::warn!(bucket = %self.bucket.name, %key, error = %e, "lifecycle could not read object tags");
                None
            }
        }
    }

    /// One key's history, newest first.
    async fn key(&mut self, history: &[VersionRecord]) {
        let now = self.engine.clock.now();
        let rules = self.rules.clone();
        let Some(current) = history.first() else { return };
        // Without the tags no rule can be judged: leave the key to the next pass.
        let Some(key_tags) = self.key_tags(&rules, &current.key).await else { return };
        let none = TagSet::new();
        let tags_of = |v: &VersionRecord| key_tags.get(&v.version_id).unwrap_or(&none);
        if current.is_latest {
            if current.is_delete_marker() {
                if history.len() == 1
                    && let Some(rule) = rules
                        .iter()
                        .find(|r| r.expired_object_delete_marker && r.filter.applies(&current.key, None, &none))
                {
                    self.act(current, LifecycleAction::RemoveExpiredMarker, &rule.id).await;
                }
            } else {
                let size = current.object.as_ref().map(|o| o.size);
                if let Some(rule) = rules.iter().find(|r| {
                    r.filter.applies(&current.key, size, tags_of(current))
                        && expired_current(r, current.last_modified, now, self.day_ms)
                }) {
                    // In a versioned bucket expiration only adds a delete marker, which D11
                    // allows over a protected version; otherwise it removes the version.
                    let removes = self.bucket.versioning != Versioning::Enabled;
                    if removes && check_delete(&current.lock, now, Bypass::None).is_err() {
                        self.skip(current);
                    } else {
                        self.act(current, LifecycleAction::ExpireCurrent, &rule.id).await;
                    }
                }
            }
        }
        let first_noncurrent = usize::from(current.is_latest);
        for i in first_noncurrent..history.len() {
            let v = &history[i];
            // A version became noncurrent when the next newer one was written.
            let Some(since) = i.checked_sub(1).map(|j| history[j].last_modified) else { continue };
            let newer_noncurrent = (i - first_noncurrent) as u64;
            let size = v.object.as_ref().map(|o| o.size);
            let Some(rule) = rules.iter().find(|r| {
                r.noncurrent_days.is_some_and(|d| since.plus_millis(i64::from(d).saturating_mul(self.day_ms)) <= now)
                    && newer_noncurrent >= u64::from(r.newer_noncurrent_versions.unwrap_or(0))
                    && r.filter.applies(&v.key, size, tags_of(v))
            }) else {
                continue;
            };
            // The store checks again inside its transaction; this only saves a write.
            if check_delete(&v.lock, now, Bypass::None).is_err() {
                self.skip(v);
                continue;
            }
            self.act(v, LifecycleAction::ExpireNoncurrent, &rule.id).await;
        }
    }

    async fn versions(&mut self) -> EngineResult<()> {
        let version_rules: Vec<&LifecycleRule> = self
            .rules
            .iter()
            .copied()
            .filter(|r| r.expiration.is_some() || r.expired_object_delete_marker || r.noncurrent_days.is_some())
            .collect();
        if version_rules.is_empty() {
            return Ok(());
        }
        let prefix = common_prefix(&version_rules).to_owned();
        let (mut after, mut after_version) = (None, None);
        let mut history: Vec<VersionRecord> = Vec::new();
        loop {
            let page = self
                .engine
                .meta
                .list_versions(ListQuery {
                    bucket: self.bucket.name.clone(),
                    prefix: prefix.clone(),
                    delimiter: None,
                    after,
                    after_version,
                    max_keys: PAGE,
                })
                .await?;
            if self.stopped() {
                return Ok(());
            }
            for v in page.versions {
                if history.first().is_some_and(|h| h.key != v.key) {
                    self.key(&history).await;
                    history.clear();
                }
                history.push(v);
            }
            if !page.truncated {
                break;
            }
            after = page.next_marker;
            after_version = page.next_version_marker;
            if after.is_none() {
                break;
            }
        }
        self.key(&history).await;
        Ok(())
    }

    async fn uploads(&mut self) -> EngineResult<()> {
        let rules: Vec<&LifecycleRule> =
            self.rules.iter().copied().filter(|r| r.abort_incomplete_days.is_some()).collect();
        if rules.is_empty() {
            return Ok(());
        }
        let (mut key_marker, mut upload_id_marker) = (None, None);
        loop {
            let page = self
                .engine
                .meta
                .list_uploads(UploadListQuery {
                    bucket: self.bucket.name.clone(),
                    prefix: common_prefix(&rules).to_owned(),
                    delimiter: None,
                    key_marker: key_marker.clone(),
                    upload_id_marker: upload_id_marker.clone(),
                    max_uploads: PAGE,
                })
                .await?;
            let now = self.engine.clock.now();
            for u in &page.uploads {
                if self.stopped() {
                    return Ok(());
                }
                let Some(rule) = rules.iter().find(|r| {
                    u.key.starts_with(&r.filter.prefix)
                        && r.abort_incomplete_days
                            .is_some_and(|d| u.initiated.plus_millis(i64::from(d).saturating_mul(self.day_ms)) <= now)
                }) else {
                    continue;
                };
                let actor = ActorCell::new(Actor {
                    principal: Some("holdfast:lifecycle".into()),
                    op: Some("LifecycleAbortMultipartUpload".into()),
                    bucket: Some(self.bucket.name.clone()),
                    key: Some(u.key.clone()),
                    detail: Some(serde_json::json!({ "rule": rule.id, "upload_id": u.upload_id })),
                    ..Actor::default()
                });
                let abort = self.engine.meta.abort_upload(&self.bucket.name, &u.key, &u.upload_id);
                match actor.scope(abort).await {
                    Ok(()) => {
                        self.stats.uploads_aborted += 1;
                        metrics::counter!("holdfast_lifecycle_uploads_aborted_total").increment(1);
                    }
                    Err(MetaError::NoSuchUpload) => {}
                    Err(e) => tracing::warn!(bucket = %self.bucket.name, error = %e, "lifecycle abort failed"),
                }
            }
            if !page.truncated {
                return Ok(());
            }
            let Some(last) = page.uploads.last() else { return Ok(()) };
            key_marker = Some(last.key.clone());
            upload_id_marker = Some(last.upload_id.clone());
        }
    }
}

impl Engine {
    pub async fn lifecycle_config(&self, bucket: &str) -> EngineResult<Option<LifecycleConfig>> {
        let doc = self.meta.bucket_config(bucket, BucketConfigKind::Lifecycle).await?;
        Ok(doc.map(|d| serde_json::from_str(&d)).transpose().map_err(|e| MetaError::Internal(e.to_string()))?)
    }

    pub async fn set_lifecycle_config(&self, bucket: &str, config: Option<&LifecycleConfig>) -> EngineResult<()> {
        let doc = config.map(|c| serde_json::to_string(c).expect("lifecycle configurations serialize"));
        Ok(self.meta.put_bucket_config(bucket, BucketConfigKind::Lifecycle, doc).await?)
    }

    /// One pass over every bucket with a lifecycle configuration.
    pub async fn lifecycle_pass(&self, day_ms: i64) -> EngineResult<PassStats> {
        self.lifecycle_pass_until(day_ms, &AtomicBool::new(false)).await
    }

    /// A pass that takes no further action once `stop` is set.
    async fn lifecycle_pass_until(&self, day_ms: i64, stop: &AtomicBool) -> EngineResult<PassStats> {
        let mut total = PassStats::default();
        for bucket in self.meta.buckets().await? {
            if stop.load(Ordering::Acquire) {
                break;
            }
            let Some(config) = self.lifecycle_config(&bucket.name).await? else { continue };
            let rules: Vec<&LifecycleRule> = config.rules.iter().filter(|r| r.enabled).collect();
            if rules.is_empty() {
                continue;
            }
            let mut pass = BucketPass {
                engine: self,
                bucket: &bucket,
                rules,
                day_ms,
                stats: PassStats::default(),
                skipped: Vec::new(),
                stop,
            };
            pass.versions().await?;
            pass.uploads().await?;
            let s = pass.stats;
            if s.skipped_protected > 0 {
                metrics::counter!("holdfast_lifecycle_skipped_protected_total", "bucket" => bucket.name.clone())
                    .increment(s.skipped_protected);
                if let Some(log) = self.audit() {
                    let mut r = AuditRecord::new("LifecycleSkipProtected", self.clock.now());
                    r.principal = Some("holdfast:lifecycle".into());
                    r.bucket = Some(bucket.name.clone());
                    r.detail = Some(serde_json::json!({ "skipped": s.skipped_protected, "versions": pass.skipped }));
                    log.append(r);
                }
            }
            total.expired_current += s.expired_current;
            total.expired_noncurrent += s.expired_noncurrent;
            total.markers_removed += s.markers_removed;
            total.uploads_aborted += s.uploads_aborted;
            total.skipped_protected += s.skipped_protected;
        }
        Ok(total)
    }

    /// This process's name as a lease holder: its audit chain (`gw-<n>`). Gateways sharing a
    /// data dir hold their chains exclusively (a file lock), so the name is unique among live
    /// gateways, and a gateway restarted on its old chain takes its old lease back at once
    /// instead of waiting for it to run out.
    pub fn lease_holder(&self) -> String {
        self.audit()
            .and_then(|a| a.dir().file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "holdfast".into())
    }

    /// Takes or renews the lifecycle lease; false when another gateway holds it or the
    /// store cannot be asked (then this gateway must not act as the holder).
    async fn lifecycle_lease(&self, holder: &str, ttl: Duration) -> bool {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        match self.meta.acquire_lease(LIFECYCLE_LEASE, holder, ttl_ms).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take or renew the lifecycle lease");
                false
            }
        }
    }

    /// One pass while holding the lease: renews it every third of `ttl` and stops the pass
    /// (between two versions) as soon as a renewal fails.
    async fn leased_pass(&self, holder: &str, day_ms: i64, ttl: Duration) -> EngineResult<PassStats> {
        let stop = AtomicBool::new(false);
        let (done, mut finished) = tokio::sync::oneshot::channel::<()>();
        let pass = async {
            let stats = self.lifecycle_pass_until(day_ms, &stop).await;
            let _ = done.send(());
            stats
        };
        let keeper = async {
            loop {
                tokio::select! {
                    _ = &mut finished => return,
                    () = tokio::time::sleep(ttl / 3) => {
                        if !self.lifecycle_lease(holder, ttl).await {
                            tracing::warn!(holder, "lost the lifecycle lease mid-pass; stopping the pass");
                            stop.store(true, Ordering::Release);
                            return;
                        }
                    }
                }
            }
        };
        let (stats, ()) = tokio::join!(pass, keeper);
        stats
    }

    /// Runs a pass every `settings.interval` until the process ends, whenever this process
    /// holds the lifecycle lease (always, on a store that one process owns).
    pub fn spawn_lifecycle(self: &Arc<Self>, settings: LifecycleSettings) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        let holder = engine.lease_holder();
        tokio::spawn(async move {
            let ttl = lease_ttl(settings.interval);
            let wake = settings.interval.min(ttl / 3);
            let mut held = false;
            let mut last_pass: Option<std::time::Instant> = None;
            loop {
                let now_held = engine.lifecycle_lease(&holder, ttl).await;
                if now_held != held && engine.meta.shared() {
                    if now_held {
                        tracing::info!(holder, "this gateway holds the lifecycle lease and runs the passes");
                    } else {
                        tracing::info!(holder, "another gateway holds the lifecycle lease");
                    }
                }
                held = now_held;
                metrics::gauge!("holdfast_lifecycle_lease_held").set(if held { 1.0 } else { 0.0 });
                if held && last_pass.is_none_or(|t| t.elapsed() >= settings.interval) {
                    last_pass = Some(std::time::Instant::now());
                    match engine.leased_pass(&holder, settings.day_ms, ttl).await {
                        Ok(s) if s != PassStats::default() => tracing::info!(?s, "lifecycle pass"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "lifecycle pass failed"),
                    }
                }
                tokio::time::sleep(wake).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_meta::LifecycleFilter;

    fn rule(prefix: &str) -> LifecycleRule {
        LifecycleRule { filter: LifecycleFilter { prefix: prefix.into(), ..Default::default() }, ..Default::default() }
    }

    #[test]
    fn common_prefix_of_rules() {
        let (a, b, c) = (rule("logs/2024"), rule("logs/2025"), rule(""));
        assert_eq!(common_prefix(&[&a, &b]), "logs/202");
        assert_eq!(common_prefix(&[&a, &b, &c]), "");
        assert_eq!(common_prefix(&[]), "");
    }

    #[test]
    fn current_expiry_by_days_and_date() {
        let mut r = rule("");
        r.expiration = Some(CurrentExpiration::Days(2));
        assert!(!expired_current(&r, UtcMillis(0), UtcMillis(1999), 1000));
        assert!(expired_current(&r, UtcMillis(0), UtcMillis(2000), 1000));
        r.expiration = Some(CurrentExpiration::Date(UtcMillis(5000)));
        assert!(!expired_current(&r, UtcMillis(0), UtcMillis(4999), 1000));
        assert!(expired_current(&r, UtcMillis(0), UtcMillis(5000), 1000));
    }
}
