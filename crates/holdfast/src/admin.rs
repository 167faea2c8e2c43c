//! `holdfast admin ...`: offline checks and reports on a data directory.

use crate::config::{Config, MetaBackend, Overrides};
use anyhow::{Context, bail};
use holdfast_lock::UtcMillis;
use holdfast_meta::{LockReport, MetaStore};
use std::path::{Path, PathBuf};

/// `holdfast admin audit verify`: checks every chain (an error names the first broken
/// line); when `[audit] anchor_bucket` is configured, every chain against its anchors (an
/// error names the anchor the trail contradicts: a cut tail or a rewrite); then the metadata
/// store against the protection the trail vouches for.
pub async fn audit_verify(data_dir: &Path, config: Option<PathBuf>) -> anyhow::Result<()> {
    let cfg =
        Config::load(Overrides { data_dir: Some(data_dir.to_owned()), config: config.clone(), ..Default::default() })?;
    // The anchors are read before the trail: beside a running server, an anchor written
    // after the trail was read would name records this reading does not hold yet, and look
    // like a cut tail. (An anchor only names records already in the files.)
    let anchors = match &cfg.anchor {
        Some(settings) => {
            let target = match settings.remote {
                Some(_) => crate::anchor::AnchorTarget::new(settings, None)?,
                None => crate::anchor::AnchorTarget::Local(open_engine(data_dir, &cfg).await?),
            };
            let anchors = crate::anchor::read_anchors(&target, settings)
                .await
                .with_context(|| format!("cannot read the anchors ({})", settings.location()))?;
            Some((settings, anchors))
        }
        None => None,
    };
    // The outbox's backlog is read before the files (trail_check::compare says why).
    let store = if config.is_none() && !data_dir.join("meta.db").is_file() {
        None
    } else {
        let meta = open_meta(data_dir, config).await?;
        let backlog = meta.audit_backlog().await.context("cannot read the audit outbox")?;
        Some((meta, backlog))
    };
    let trails = verify_chains(data_dir, anchors)?;
    let Some((meta, backlog)) = store else {
        println!("metadata store not checked: no meta.db here (pass --config for a PostgreSQL store)");
        return Ok(());
    };
    let check = crate::trail_check::compare(meta.as_ref(), &trails, &backlog).await?;
    if !check.findings.is_empty() {
        for f in &check.findings {
            eprintln!("TAMPERED: {f}");
        }
        bail!(
            "the metadata store does not match the audit trail: {} of {} protected versions lost protection outside the API",
            check.findings.len(),
            check.checked
        );
    }
    println!("metadata store matches the trail: {} protected versions checked", check.checked);
    Ok(())
}

/// Every chain, then every chain against its anchors (when configured); returns the chains
/// as read, for the check of the store.
fn verify_chains(
    data_dir: &Path,
    anchors: Option<(&crate::anchor::AnchorSettings, Vec<holdfast_audit::Anchor>)>,
) -> anyhow::Result<Vec<holdfast_audit::TrailText>> {
    let base = data_dir.join(holdfast_audit::AUDIT_DIR);
    let mut total = 0;
    let mut read = Vec::new();
    for dir in crate::trail_check::trails(data_dir)? {
        let text = holdfast_audit::TrailText::read(&dir)
            .with_context(|| format!("cannot read the audit trail in {}", dir.display()))?;
        let report = holdfast_audit::verify_lines(text.lines())
            .map(|r| holdfast_audit::VerifyReport { unfinished_tail_bytes: text.unfinished_tail_bytes, ..r })
            .map_err(|e| anyhow::anyhow!("audit trail BROKEN: {e}"))?;
        if report.files > 0 {
            println!(
                "{}: intact, {} records in {} files, head {}",
                dir.display(),
                report.records,
                report.files,
                report.head
            );
        }
        total += report.records;
        read.push((holdfast_audit::chain_name(&base, &dir), report.records, text));
    }
    println!("audit trail intact: {total} records");
    let Some((settings, anchors)) = anchors else {
        println!(
            "anchors: none configured ([audit] anchor_bucket); a cut tail or a trail rewritten from scratch would not show"
        );
        return Ok(read.into_iter().map(|(_, _, text)| text).collect());
    };
    // Every chain that has records or anchors: a chain whose directory is gone is checked
    // as an empty trail against its anchors.
    let mut chains: std::collections::BTreeSet<String> =
        read.iter().filter(|(_, n, _)| *n > 0).map(|(c, _, _)| c.clone()).collect();
    chains.extend(anchors.iter().map(|a| a.chain.clone()));
    let mut tampered = Vec::new();
    for chain in &chains {
        let text = read.iter().find(|(c, _, _)| c == chain).map(|(_, _, t)| t);
        let lines = text.into_iter().flat_map(holdfast_audit::TrailText::lines);
        match holdfast_audit::check_anchors(chain, &anchors, lines) {
            Ok(c) => match &c.latest {
                Some(a) => println!(
                    "chain {chain}: anchored, intact up to anchor {} (record {}, written {}, {}); {} later records \
                     not anchored yet",
                    holdfast_audit::anchor_key(&settings.prefix, chain, a.seq),
                    a.seq,
                    a.time,
                    a.reason,
                    c.records - a.seq
                ),
                None => println!("chain {chain}: {} records, NOT anchored yet (no anchor found)", c.records),
            },
            Err(m) => {
                let key = match &m {
                    holdfast_audit::AnchorMismatch::Truncated { anchor, .. }
                    | holdfast_audit::AnchorMismatch::Rewritten { anchor, .. } => {
                        holdfast_audit::anchor_key(&settings.prefix, chain, anchor.seq)
                    }
                };
                eprintln!("against anchor {key}: {m}");
                tampered.push(format!("against anchor {key}: {m}"));
            }
        }
    }
    if let Some(first) = tampered.first() {
        bail!("audit trail TAMPERED ({} of {} chains) {first}", tampered.len(), chains.len());
    }
    println!("anchors: {} read from {}; every chain agrees with them", anchors.len(), settings.location());
    Ok(read.into_iter().map(|(_, _, text)| text).collect())
}

/// The data dir's store, read beside a running server or with none: the metadata (SQLite
/// in WAL mode, or the configured PostgreSQL) and the blob files. Nothing is written.
async fn open_engine(data_dir: &Path, cfg: &Config) -> anyhow::Result<std::sync::Arc<holdfast_engine::Engine>> {
    /// Temporaries younger than this are left alone (a running server may be writing them).
    const KEEP_TEMPORARIES_SECS: u64 = 10 * 365 * 86_400;
    let meta = open_meta_of(data_dir, cfg).await?;
    let blobs = holdfast_blob::LocalBlobStore::open_shared(data_dir, KEEP_TEMPORARIES_SECS)
        .with_context(|| format!("cannot open the blobs in {}", data_dir.display()))?;
    let engine =
        holdfast_engine::Engine::new(meta, std::sync::Arc::new(blobs), holdfast_engine::EngineConfig::default())
            .await
            .context("cannot open the store")?;
    Ok(std::sync::Arc::new(engine))
}

async fn open_meta(data_dir: &Path, config: Option<PathBuf>) -> anyhow::Result<std::sync::Arc<dyn MetaStore>> {
    let cfg = Config::load(Overrides { data_dir: Some(data_dir.to_owned()), config, ..Default::default() })?;
    open_meta_of(data_dir, &cfg).await
}

// Only the embedded store lives in the data dir.
#[cfg_attr(not(feature = "sqlite"), allow(unused_variables))]
async fn open_meta_of(data_dir: &Path, cfg: &Config) -> anyhow::Result<std::sync::Arc<dyn MetaStore>> {
    match &cfg.meta {
        #[cfg(feature = "sqlite")]
        MetaBackend::Sqlite => {
            let path = data_dir.join("meta.db");
            if !path.is_file() {
                bail!("no metadata database at {}", path.display());
            }
            // The server may be running: WAL lets this process read beside it. Read only:
            // an admin command changes nothing, and must report on a tampered file too.
            let meta = holdfast_meta::sqlite::SqliteMeta::open_read_only(&path)
                .context("cannot open the metadata database")?;
            Ok(std::sync::Arc::new(meta))
        }
        #[cfg(feature = "postgres")]
        MetaBackend::Postgres { url, ca_file, .. } => {
            let mut options = holdfast_meta::postgres::PgOptions::new(url.clone());
            options.ca_file.clone_from(ca_file);
            options.pool_size = 1;
            options.check_guards = false;
            let meta = holdfast_meta::postgres::PgMeta::open(options).await.context("cannot open PostgreSQL")?;
            Ok(std::sync::Arc::new(meta))
        }
        #[cfg(not(all(feature = "sqlite", feature = "postgres")))]
        left_out => Err(left_out.compiled_out()),
    }
}

fn report_json(reports: &[LockReport], now: UtcMillis) -> serde_json::Value {
    let tally = |t: holdfast_meta::Tally| serde_json::json!({ "versions": t.versions, "bytes": t.bytes });
    serde_json::json!({
        "generated_at": now.to_iso8601(),
        "buckets": reports.iter().map(|r| serde_json::json!({
            "bucket": r.bucket,
            "governance": tally(r.governance),
            "compliance": tally(r.compliance),
            "legal_hold": tally(r.legal_hold),
            "latest_retain_until": r.latest_retain_until.map(UtcMillis::to_iso8601),
            "expiries_by_month": r.expiries_by_month.iter().map(|m| serde_json::json!({
                "month": m.month, "versions": m.versions, "bytes": m.bytes,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn report_text(reports: &[LockReport], now: UtcMillis) -> String {
    use std::fmt::Write as _;
    let mut out = format!("Object Lock report at {}\n", now.to_iso8601());
    for r in reports {
        let _ = writeln!(out, "\nbucket {}", r.bucket);
        for (name, t) in [("GOVERNANCE", r.governance), ("COMPLIANCE", r.compliance), ("legal hold", r.legal_hold)] {
            let _ = writeln!(out, "  {name:<11} {:>10} versions {:>16} bytes", t.versions, t.bytes);
        }
        let _ = writeln!(out, "  can be emptied {}", r.emptiable().describe());
        if let Some(t) = r.latest_retain_until {
            let _ = writeln!(out, "  latest retain-until {}", t.to_iso8601());
        }
        if !r.expiries_by_month.is_empty() {
            let _ = writeln!(out, "  retention ending by month:");
            for m in &r.expiries_by_month {
                let _ = writeln!(out, "    {} {:>10} versions {:>16} bytes", m.month, m.versions, m.bytes);
            }
        }
    }
    out
}

/// `holdfast admin report`: what is protected, per bucket.
pub async fn report(
    data_dir: &Path,
    config: Option<PathBuf>,
    bucket: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let meta = open_meta(data_dir, config).await?;
    let now = UtcMillis::now_system().max(meta.clock_high_water().await?);
    let reports = meta.lock_report(bucket.as_deref(), now).await.map_err(|e| match e {
        holdfast_meta::MetaError::NoSuchBucket => anyhow::anyhow!("no bucket {:?}", bucket.unwrap_or_default()),
        e => anyhow::Error::from(e),
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report_json(&reports, now))?);
    } else {
        print!("{}", report_text(&reports, now));
    }
    Ok(())
}

/// `holdfast admin replication status BUCKET`: the bucket's rules and, per rule, what waits
/// (count, bytes, age of the oldest) and what failed.
pub async fn replication_status(
    data_dir: &Path,
    config: Option<PathBuf>,
    bucket: String,
    json: bool,
) -> anyhow::Result<()> {
    let cfg = Config::load(Overrides { data_dir: Some(data_dir.to_owned()), config, ..Default::default() })?;
    let engine = open_engine(data_dir, &cfg).await?;
    let rules = engine.replication_config(&bucket).await.map_err(|e| anyhow::anyhow!("bucket {bucket:?}: {e}"))?;
    let backlog = engine.replication_backlog(Some(&bucket)).await?;
    let now = UtcMillis::now_system();
    let rules = rules.map(|c| c.rules).unwrap_or_default();
    let row = |id: &str, dest: &str| {
        backlog.iter().find(|b| b.rule_id == id && b.destination == dest).cloned().unwrap_or_default()
    };
    let age = |b: &holdfast_meta::ReplicationBacklog| {
        b.oldest_pending.map(|t| (now.millis() - t.millis()).max(0) as f64 / 1000.0)
    };
    if json {
        let out = serde_json::json!({
            "bucket": bucket,
            "generated_at": now.to_iso8601(),
            "rules": rules.iter().map(|r| {
                let b = row(&r.id, &r.destination.arn);
                serde_json::json!({
                    "id": r.id, "enabled": r.enabled, "destination": r.destination.arn,
                    "pending": b.pending, "pending_bytes": b.pending_bytes,
                    "failed": b.failed, "failed_bytes": b.failed_bytes,
                    "oldest_pending_seconds": age(&b),
                })
            }).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if rules.is_empty() {
        println!("bucket {bucket}: no replication configuration");
    }
    for r in &rules {
        let b = row(&r.id, &r.destination.arn);
        println!(
            "rule {} ({}) -> {}\n  pending {:>8} versions {:>14} bytes{}\n  failed  {:>8} versions {:>14} bytes",
            r.id,
            if r.enabled { "enabled" } else { "disabled" },
            r.destination.arn,
            b.pending,
            b.pending_bytes,
            age(&b).map(|s| format!("  oldest {s:.1} s")).unwrap_or_default(),
            b.failed,
            b.failed_bytes,
        );
    }
    Ok(())
}

/// `holdfast admin replicate --bucket B [--prefix P]`: queues the versions that predate the
/// replication configuration and those that FAILED (AWS's Batch Replication), a page at a
/// time, printing progress. The server's workers deliver them.
pub async fn replicate(data_dir: &Path, config: Option<PathBuf>, bucket: String, prefix: String) -> anyhow::Result<()> {
    const PAGE: usize = 1000;
    let meta = open_meta_writable(data_dir, config).await?;
    let now = UtcMillis::now_system().max(meta.clock_high_water().await?);
    let (mut after, mut queued, mut pages) = (0i64, 0u64, 0u64);
    loop {
        let (n, last) = meta.requeue_replication(&bucket, &prefix, after, PAGE, now).await.map_err(|e| match e {
            holdfast_meta::MetaError::NoSuchBucket => anyhow::anyhow!("no bucket {bucket:?}"),
            e => anyhow::Error::from(e),
        })?;
        let Some(last) = last else { break };
        queued += n;
        pages += 1;
        after = last;
        eprintln!("page {pages} (versions up to seq {after}): {queued} queued so far");
    }
    let_a_running_server_see_it().await;
    println!("queued {queued} versions of {bucket} for replication");
    Ok(())
}

/// A server running on the same SQLite database caches what it read (bucket documents,
/// latest versions) and forgets what another process committed within
/// `EXTERNAL_CHANGE_WINDOW`: a command that wrote beside it reports success only after that.
pub(crate) async fn let_a_running_server_see_it() {
    #[cfg(feature = "sqlite")]
    tokio::time::sleep(2 * holdfast_meta::sqlite::EXTERNAL_CHANGE_WINDOW).await;
}

/// The metadata store opened for writing, beside a running server or none: SQLite lets a
/// second writer take turns (WAL, busy timeout); PostgreSQL is shared anyway.
pub(crate) async fn open_meta_writable(
    data_dir: &Path,
    config: Option<PathBuf>,
) -> anyhow::Result<std::sync::Arc<dyn MetaStore>> {
    let cfg = Config::load(Overrides { data_dir: Some(data_dir.to_owned()), config, ..Default::default() })?;
    match &cfg.meta {
        #[cfg(not(feature = "sqlite"))]
        left_out @ MetaBackend::Sqlite => Err(left_out.compiled_out()),
        #[cfg(feature = "sqlite")]
        MetaBackend::Sqlite => {
            let path = data_dir.join("meta.db");
            if !path.is_file() {
                bail!("no metadata database at {}", path.display());
            }
            Ok(std::sync::Arc::new(
                holdfast_meta::sqlite::SqliteMeta::open(&path).context("cannot open the metadata database")?,
            ))
        }
        MetaBackend::Postgres { .. } => open_meta_of(data_dir, &cfg).await,
    }
}

fn no_bucket(bucket: &str) -> impl FnOnce(holdfast_meta::MetaError) -> anyhow::Error + '_ {
    move |e| match e {
        holdfast_meta::MetaError::NoSuchBucket => anyhow::anyhow!("no bucket {bucket:?}"),
        e => anyhow::Error::from(e),
    }
}

/// Sets a bucket document with the store's compare-and-swap, retried while another writer
/// changes it in between.
async fn swap_doc(
    meta: &dyn MetaStore,
    bucket: &str,
    kind: holdfast_meta::BucketConfigKind,
    doc: Option<String>,
) -> anyhow::Result<()> {
    for _ in 0..10 {
        let before = meta.bucket_config(bucket, kind).await.map_err(no_bucket(bucket))?;
        if meta.swap_bucket_config(bucket, kind, before, doc.clone()).await.map_err(no_bucket(bucket))? {
            let_a_running_server_see_it().await;
            return Ok(());
        }
    }
    bail!("the {} setting of {bucket:?} kept changing; try again", kind.as_str())
}

/// `holdfast admin sosapi enable|disable BUCKET`.
pub async fn sosapi(data_dir: &Path, config: Option<PathBuf>, bucket: String, enable: bool) -> anyhow::Result<()> {
    set_sosapi(data_dir, config, &bucket, enable).await?;
    println!("SOSAPI {} for {bucket}", if enable { "enabled" } else { "disabled" });
    Ok(())
}

/// Turns SOSAPI on or off for one bucket (the admin command, and `holdfast bench --workload
/// backup --server-data-dir` for its bucket).
pub async fn set_sosapi(data_dir: &Path, config: Option<PathBuf>, bucket: &str, enable: bool) -> anyhow::Result<()> {
    let meta = open_meta_writable(data_dir, config).await?;
    let doc = serde_json::to_string(&holdfast_meta::SosapiSetting { enabled: enable })?;
    swap_doc(meta.as_ref(), bucket, holdfast_meta::BucketConfigKind::Sosapi, Some(doc)).await
}

/// `holdfast admin bucket quota BUCKET [--bytes N | --clear]`.
pub async fn quota(
    data_dir: &Path,
    config: Option<PathBuf>,
    bucket: String,
    bytes: Option<u64>,
    clear: bool,
) -> anyhow::Result<()> {
    let meta = open_meta_writable(data_dir, config).await?;
    let kind = holdfast_meta::BucketConfigKind::Quota;
    if clear || bytes.is_some() {
        let doc = bytes.map(|b| serde_json::to_string(&holdfast_meta::BucketQuota { bytes: b })).transpose()?;
        swap_doc(meta.as_ref(), &bucket, kind, doc).await?;
    }
    let used = meta.bucket_usage(&bucket).await.map_err(no_bucket(&bucket))?;
    let quota = meta.bucket_config(&bucket, kind).await.map_err(no_bucket(&bucket))?;
    let quota: Option<holdfast_meta::BucketQuota> = quota.map(|d| serde_json::from_str(&d)).transpose()?;
    match quota {
        Some(q) => {
            println!("{bucket}: quota {} bytes, {} bytes stored in {} versions", q.bytes, used.bytes, used.versions)
        }
        None => println!("{bucket}: no quota, {} bytes stored in {} versions", used.bytes, used.versions),
    }
    Ok(())
}

/// What `holdfast admin lock-history` was asked.
pub struct HistoryArgs {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub newest_first: bool,
    pub limit: usize,
    pub json: bool,
}

/// `holdfast admin lock-history BUCKET KEY [--version-id V]`: the version's lock timeline
/// (`Engine::lock_timeline`) and whether a versioned DELETE without bypass is refused now, why
/// and until when (`Engine::explain_delete`). Reads beside a running server; changes nothing.
pub async fn lock_history(data_dir: &Path, config: Option<PathBuf>, a: HistoryArgs) -> anyhow::Result<()> {
    use holdfast_engine::lock_insight::TimelineEvent;
    use holdfast_engine::model::{HistoryOrder, LockHistoryQuery};
    let cfg = Config::load(Overrides { data_dir: Some(data_dir.to_owned()), config, ..Default::default() })?;
    let engine = open_engine(data_dir, &cfg).await?;
    let sel = holdfast_meta::VersionSelector::from_option(a.version_id.clone());
    let order = if a.newest_first { HistoryOrder::NewestFirst } else { HistoryOrder::OldestFirst };
    let q = LockHistoryQuery { order, after: None, limit: a.limit };
    let not_found = |e: holdfast_engine::EngineError| match e {
        holdfast_engine::EngineError::Meta(
            m @ (holdfast_meta::MetaError::NoSuchBucket
            | holdfast_meta::MetaError::NoSuchKey
            | holdfast_meta::MetaError::NoSuchVersion),
        ) => {
            anyhow::anyhow!(
                "{}/{}{}: {m}",
                a.bucket,
                a.key,
                a.version_id.as_ref().map(|v| format!(" version {v}")).unwrap_or_default()
            )
        }
        e => anyhow::Error::from(e),
    };
    let timeline = engine.lock_timeline(&a.bucket, &a.key, &sel, q).await.map_err(not_found)?;
    let v = &timeline.version;
    let by_id = holdfast_meta::VersionSelector::Id(v.version_id.clone());
    let verdict = engine.explain_delete(&a.bucket, &a.key, &by_id, false, false).await.map_err(not_found)?;
    let snap = |l: &holdfast_lock::LockState| holdfast_audit::LockSnapshot::from(l);
    if a.json {
        let events: Vec<serde_json::Value> = timeline
            .events
            .iter()
            .map(|e| match e {
                TimelineEvent::Created { time, lock, by, op } => serde_json::json!({
                    "time": time.to_iso8601(), "event": "written", "principal": by, "op": op,
                    "lock": snap(lock), "text": e.describe(),
                }),
                TimelineEvent::Change(c) => serde_json::json!({
                    "time": c.time.to_iso8601(), "event": "change", "principal": c.principal, "op": c.op,
                    "actions": c.actions.iter().map(|x| x.as_str()).collect::<Vec<_>>(), "bypass": c.bypass,
                    "before": snap(&c.before), "after": snap(&c.after), "request_id": c.request_id,
                    "audit_id": c.audit_id, "text": e.describe(),
                }),
            })
            .collect();
        let delete = match &verdict.refused {
            None => serde_json::json!({ "allowed": true }),
            Some(x) => serde_json::json!({
                "allowed": false,
                "refusal": format!("{:?}", x.refusal),
                "rules": x.refusal.rules(),
                "status": x.s3.status, "code": x.s3.code, "message": x.s3.message,
                "allowed_from": x.allowed_from.map(UtcMillis::to_iso8601),
                "bypass_allows_now": x.bypass_allows_now,
                "hold_placed_by": verdict.hold_placed.as_ref().and_then(|h| h.principal.clone()),
                "hold_placed_at": verdict.hold_placed.as_ref().map(|h| h.time.to_iso8601()),
                "text": x.sentence(),
            }),
        };
        let out = serde_json::json!({
            "bucket": a.bucket, "key": a.key, "version_id": v.version_id, "is_latest": v.is_latest,
            "delete_marker": v.is_delete_marker(), "lock": snap(&v.lock), "now": verdict.now.to_iso8601(),
            "timeline": events, "next": timeline.next, "delete": delete,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let kind = match (v.is_delete_marker(), v.is_latest) {
        (true, _) => "delete marker",
        (false, true) => "current version",
        (false, false) => "noncurrent version",
    };
    println!("{}/{} version {} ({kind})", a.bucket, a.key, v.version_id);
    for e in &timeline.events {
        println!("  {}", e.describe());
    }
    if let Some(next) = timeline.next {
        println!("  ... more changes (ask with a larger --limit; next cursor {next})");
    }
    match &verdict.refused {
        None => println!("delete of this version now: allowed"),
        Some(x) => {
            println!(
                "delete of this version now: refused, {} {} \"{}\"\n  {}",
                x.s3.status,
                x.s3.code,
                x.s3.message,
                x.sentence()
            );
            if let Some(h) = &verdict.hold_placed {
                println!(
                    "  the hold was placed {} by {} ({})",
                    h.time.to_iso8601(),
                    h.principal.as_deref().unwrap_or("an unnamed principal"),
                    h.op
                );
            }
            if x.bypass_allows_now {
                println!("  a caller allowed s3:BypassGovernanceRetention may delete it now with the bypass header");
            }
        }
    }
    Ok(())
}
