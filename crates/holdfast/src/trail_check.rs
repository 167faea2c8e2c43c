//! The metadata store against the protection the audit trail vouches for, for
//! `holdfast admin audit verify` and for every start. The WORM guards stop edits to
//! protected rows and the start check finds guards that were dropped or changed; this check
//! finds what guards cannot: guards dropped, rows edited, guards put back exactly. Every
//! protection the trail records (a version written locked, a retention or hold set) must
//! still be in the store unless a later record explains its end; a protected version
//! deleted, shortened, downgraded or released without one is a finding, named by version.

use anyhow::{Context, bail};
use holdfast_audit::{AuditLog, AuditRecord, LockSnapshot, TrailFiles, TrailText, VersionRef};
use holdfast_lock::UtcMillis;
use holdfast_meta::MetaStore;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A version that lost protection without a record that explains it.
pub struct Finding {
    pub version: VersionRef,
    pub vouched: LockSnapshot,
    /// What the store holds; `None` when the version is gone.
    pub found: Option<LockSnapshot>,
    pub why: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (bucket, key, version) = &self.version;
        write!(f, "{bucket}/{key}?versionId={version}: {}", self.why)
    }
}

/// The result of one comparison.
pub struct StoreCheck {
    /// Versions the trail vouches are protected now.
    pub checked: usize,
    pub findings: Vec<Finding>,
}

/// The trails under `<data>/audit`: the embedded server's, and one per gateway slot
/// (`gw-<n>`) when gateways share the data dir.
pub fn trails(data_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let base = data_dir.join(holdfast_audit::AUDIT_DIR);
    if !base.is_dir() {
        bail!("no audit trail in {} (not a holdfast data dir, or never started)", data_dir.display());
    }
    let mut dirs = vec![base.clone()];
    let mut gateways: Vec<PathBuf> = std::fs::read_dir(&base)
        .with_context(|| format!("cannot read {}", base.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("gw-")))
        .collect();
    gateways.sort();
    dirs.extend(gateways);
    Ok(dirs)
}

/// Compares the store with the trails as read and the outbox's backlog. The backlog must be
/// read before the trails: a record the follower moves from the outbox to the files in
/// between is then seen in the files rather than missed.
pub async fn compare(meta: &dyn MetaStore, trails: &[TrailText], backlog: &[String]) -> anyhow::Result<StoreCheck> {
    let now = UtcMillis::now_system();
    let vouched = holdfast_audit::protected_now(now, |each| {
        trails.iter().flat_map(|t| t.lines().map(|(_, _, line)| line)).for_each(&mut *each);
        backlog.iter().for_each(|l| each(l));
        Ok::<_, std::convert::Infallible>(())
    })
    .unwrap_or_else(|never| match never {});
    check_each(meta, vouched, now).await
}

/// [`compare`] reading the trail files line by line (the start on a trail of millions of
/// records holds only the versions it vouches are protected, not the records: #17).
async fn compare_files(meta: &dyn MetaStore, files: TrailFiles, backlog: Vec<String>) -> anyhow::Result<StoreCheck> {
    let now = UtcMillis::now_system();
    let vouched = tokio::task::spawn_blocking(move || {
        holdfast_audit::protected_now(now, |each| {
            files.for_each_line(&mut *each)?;
            backlog.iter().for_each(|l| each(l));
            Ok::<_, std::io::Error>(())
        })
    })
    .await
    .context("the audit trail reader failed")?
    .context("cannot read the audit trail")?;
    check_each(meta, vouched, now).await
}

async fn check_each(
    meta: &dyn MetaStore,
    vouched: std::collections::BTreeMap<VersionRef, LockSnapshot>,
    now: UtcMillis,
) -> anyhow::Result<StoreCheck> {
    let mut checked = 0;
    let mut findings = Vec::new();
    for (version, lock) in vouched {
        checked += 1;
        let found = found_lock(meta, &version).await?;
        if let Some(why) = holdfast_audit::shortfall(&lock, found.as_ref(), now) {
            findings.push(Finding { version, vouched: lock, found, why });
        }
    }
    Ok(StoreCheck { checked, findings })
}

async fn found_lock(meta: &dyn MetaStore, (bucket, key, version): &VersionRef) -> anyhow::Result<Option<LockSnapshot>> {
    let sel = holdfast_meta::VersionSelector::Id(version.clone());
    match meta.version(bucket, key, &sel).await {
        Ok(rec) => Ok(Some(LockSnapshot::from(&rec.lock))),
        Err(
            holdfast_meta::MetaError::NoSuchVersion
            | holdfast_meta::MetaError::NoSuchKey
            | holdfast_meta::MetaError::NoSuchBucket,
        ) => Ok(None),
        Err(e) => Err(e).context("cannot read the metadata store"),
    }
}

/// Reads the backlog, then every trail of the data dir, and compares.
async fn read_and_compare(meta: &dyn MetaStore, data_dir: &Path) -> anyhow::Result<StoreCheck> {
    let backlog = meta.audit_backlog().await.context("cannot read the audit outbox")?;
    let files = TrailFiles::snapshot(&trails(data_dir)?).context("cannot read the audit trail")?;
    compare_files(meta, files, backlog).await
}

/// The check at start, before the server serves. A finding stops the start with one line,
/// unless the operator accepts it (`accept`): then each is recorded in the trail and the
/// server starts. Beside other gateways (PostgreSQL) a change committed between reading the
/// trail and reading the store would look like a finding; a finding counts only when a second
/// reading still shows it.
pub async fn at_start(
    meta: &dyn MetaStore,
    data_dir: &Path,
    audit: &AuditLog,
    shared: bool,
    accept: bool,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut check = read_and_compare(meta, data_dir).await?;
    if shared && !check.findings.is_empty() {
        let again = read_and_compare(meta, data_dir).await?;
        check.findings.retain(|f| again.findings.iter().any(|g| g.version == f.version));
    }
    let ms = started.elapsed().as_millis();
    tracing::info!(
        checked = check.checked,
        findings = check.findings.len(),
        ms,
        "metadata store checked against the audit trail"
    );
    let Some(first) = check.findings.first() else { return Ok(()) };
    if !accept {
        bail!(
            "the metadata store does not match the audit trail: {} of {} protected versions lost protection outside \
             the API (first: {first}); refusing to start. `holdfast admin audit verify` lists them; to start anyway \
             and record the discrepancy in the trail, start once with HOLDFAST_ACCEPT_TAMPER=1",
            check.findings.len(),
            check.checked
        );
    }
    for f in &check.findings {
        tracing::error!(finding = %f, "protected version changed outside the API; accepted (HOLDFAST_ACCEPT_TAMPER=1)");
        audit
            .append_durable(accepted_record(f), Duration::from_secs(5))
            .await
            .context("cannot record the accepted discrepancy in the audit trail")?;
    }
    Ok(())
}

fn accepted_record(f: &Finding) -> AuditRecord {
    let (bucket, key, version) = &f.version;
    let mut r = AuditRecord::new(holdfast_audit::TAMPER_ACCEPTED_OP, UtcMillis::now_system());
    r.principal = Some("holdfast:start".into());
    r.bucket = Some(bucket.clone());
    r.key = Some(key.clone());
    r.version_id = Some(version.clone());
    r.lock_before = Some(f.vouched.clone());
    r.lock_after = f.found.clone();
    r.detail = Some(serde_json::json!({ "finding": f.why, "version_gone": f.found.is_none() }));
    r
}
