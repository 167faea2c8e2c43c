//! `--workload backup` (issue #18): what an image-based backup product does to an Object
//! Lock bucket, after Veeam's layout. A restore point is a generation prefix of fixed-size
//! blocks (`Veeam/Archive/hfbench/<run>/rp0000/blocks/000000.blk`), each block written once
//! with its own retention: Veeam sets it per object (COMPLIANCE) and wants no bucket default;
//! `--default-retention-days` writes under a bucket default instead. Five phases follow, each
//! measured as one row by the same [`Load`] as the single operations:
//!
//! 1. `bk-write`: every block of every restore point (PutObject with Content-MD5, W7);
//! 2. `bk-extend`: the immutability extension: PutObjectRetention of every block of the last
//!    `--extend-points` restore points to a later date (extending is allowed in both modes);
//! 3. `bk-cleanup`: the older restore points removed once their retention has passed:
//!    DeleteObjects of 1,000 versions a request, by version id (D-rules: a locked version
//!    would be refused, so the bench waits for the dates first);
//! 4. `bk-versions`: ListObjectVersions sweeps over the whole bucket, 1,000 a page;
//! 5. `bk-sosapi`: GETs of SOSAPI's `system.xml` and `capacity.xml` in turn.

use crate::client::{Call, S3};
use crate::report::{self, Row};
use crate::runner::{Job, Load, Phase};
use crate::workload::{LockMode, iso_ms, now_ms};
use crate::{Bench, payload, setup, xml};
use anyhow::{Context, anyhow, bail};
use http::Method;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// SOSAPI's objects, as Veeam reads them.
const SYSTEM_XML: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml";
const CAPACITY_XML: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/capacity.xml";
/// Keys of one DeleteObjects request (S3's maximum, and Veeam's default).
const DELETE_BATCH: usize = 1000;
/// Longest the bench waits for a retention date to pass (cleanup, and removing the bucket).
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Workloads made of several phases (`--workload`), instead of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadKind {
    /// Veeam-like restore points of locked blocks: write, extend, cleanup, version sweeps,
    /// SOSAPI polls (docs/backup-software.md).
    Backup,
}

#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Backup workload (--workload backup)")]
pub struct BackupArgs {
    /// Restore points written (generation prefixes).
    #[arg(long, default_value_t = 4)]
    pub restore_points: u64,
    /// Blocks (objects) of each restore point.
    #[arg(long, default_value_t = 500)]
    pub blocks: u64,
    /// Size of a block (Veeam: 1 MiB by default, 4 MiB or 8 MiB for large blocks).
    #[arg(long, default_value = "1MiB", value_parser = report::parse_size)]
    pub block_size: u64,
    /// The last restore points whose retention the extend phase prolongs; the older ones
    /// are cleaned up.
    #[arg(long, default_value_t = 2)]
    pub extend_points: u64,
    /// Seconds the extension adds beyond the retention period.
    #[arg(long, default_value_t = 5)]
    pub extend_secs: i64,
    /// Write the blocks without retention headers under a bucket default retention of this
    /// many days (`--lock-mode`). The cleanup then bypasses GOVERNANCE, or is skipped for
    /// COMPLIANCE. 0: per-object retention of `--retain-secs` (default 5), as Veeam does.
    #[arg(long, default_value_t = 0)]
    pub default_retention_days: u32,
    /// ListObjectVersions sweeps over the bucket.
    #[arg(long, default_value_t = 3)]
    pub sweeps: u64,
    /// SOSAPI GETs (system.xml and capacity.xml in turn).
    #[arg(long, default_value_t = 100)]
    pub sosapi_polls: u64,
    /// The server's data directory: the bench turns SOSAPI on for its bucket there, as
    /// `holdfast admin sosapi enable` does. Without it the server must serve SOSAPI for
    /// every bucket (`[sosapi] enabled = true`).
    #[arg(long)]
    pub server_data_dir: Option<std::path::PathBuf>,
    /// The server's configuration file (with `--server-data-dir`; the metadata store).
    #[arg(long)]
    pub server_config: Option<std::path::PathBuf>,
}

/// Turns SOSAPI on for a bucket (the binary supplies it: the bench itself only speaks S3).
pub type EnableSosapi = Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>> + Send + Sync>;

/// What the `holdfast` binary lends the bench beyond S3.
#[derive(Default, Clone)]
pub struct Hooks {
    pub enable_sosapi: Option<EnableSosapi>,
}

/// The restore points of one run and what was done to them.
struct Plan {
    bucket: String,
    run: u64,
    mode: LockMode,
    block_size: u64,
    blocks: u64,
    /// Per-object retention (from the write), or `None` under the bucket default.
    retain_ms: Option<i64>,
    /// How long a block stays locked after its write.
    lock_ms: i64,
    /// The version id of every block written (`point * blocks + block`).
    versions: Vec<OnceLock<String>>,
    /// The latest retain-until date set so far.
    max_until_ms: AtomicI64,
    /// Keys (versions extended, deleted or listed) of the phase running.
    items: AtomicU64,
}

impl Plan {
    fn key(&self, n: u64) -> String {
        format!("Veeam/Archive/hfbench/{:016x}/rp{:04}/blocks/{:06}.blk", self.run, n / self.blocks, n % self.blocks)
    }

    fn version(&self, n: u64) -> anyhow::Result<&str> {
        let v = self.versions.get(usize::try_from(n)?).and_then(OnceLock::get);
        v.map(String::as_str).ok_or_else(|| anyhow!("block {n} was not written"))
    }

    fn written(&self) -> Vec<u64> {
        (0..self.versions.len() as u64).filter(|&n| self.versions[n as usize].get().is_some()).collect()
    }
}

enum Step {
    Write,
    /// PutObjectRetention of these blocks to `extend_ms` past the end of a fresh retention
    /// period (a date taken at each request: a burst can outlast a short period).
    Extend {
        blocks: Vec<u64>,
        extend_ms: i64,
    },
    /// DeleteObjects bodies of up to 1,000 versions each.
    Cleanup {
        batches: Vec<(String, u64)>,
        bypass: bool,
    },
    /// Full sweeps that must list this many versions.
    Sweep {
        expected: u64,
    },
    Sosapi,
}

struct BackupPhase {
    plan: Arc<Plan>,
    step: Step,
}

impl Job for BackupPhase {
    async fn fill_one(&self, _: &mut S3, _: u64) -> anyhow::Result<u64> {
        bail!("the backup workload prepares nothing")
    }

    async fn one(&self, s3: &mut S3, n: u64) -> anyhow::Result<u64> {
        let p = &*self.plan;
        match &self.step {
            Step::Write => {
                let key = p.key(n);
                let body = payload::bytes(payload::seed(p.run, n), usize::try_from(p.block_size)?);
                let mut call = Call::new(Method::PUT, &p.bucket, Some(&key));
                if let Some(retain) = p.retain_ms {
                    call = call
                        .header("x-amz-object-lock-mode", p.mode.as_str())
                        .header("x-amz-object-lock-retain-until-date", iso_ms(now_ms() + retain));
                }
                let until = now_ms() + p.lock_ms;
                let r = s3.send(call.body_md5(body), false).await?.ok()?;
                let version = r.headers.get("x-amz-version-id").and_then(|v| v.to_str().ok());
                let version = version.context("a PUT to the lock bucket returned no version id")?;
                p.versions[usize::try_from(n)?].get_or_init(|| version.to_owned());
                p.max_until_ms.fetch_max(until, Ordering::Relaxed);
                Ok(p.block_size)
            }
            Step::Extend { blocks, extend_ms } => {
                let b = blocks[usize::try_from(n)?];
                let (key, version) = (p.key(b), p.version(b)?);
                let until_ms = now_ms() + p.lock_ms + extend_ms;
                let until = iso_ms(until_ms);
                let xml = format!(
                    "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode>\
                     <RetainUntilDate>{until}</RetainUntilDate></Retention>",
                    p.mode.as_str()
                );
                let call = Call::new(Method::PUT, &p.bucket, Some(&key))
                    .query("retention", "")
                    .query("versionId", version)
                    .body_md5(xml);
                s3.send(call, false).await?.ok()?;
                p.max_until_ms.fetch_max(until_ms, Ordering::Relaxed);
                p.items.fetch_add(1, Ordering::Relaxed);
                Ok(0)
            }
            Step::Cleanup { batches, bypass } => {
                let (body, keys) = &batches[usize::try_from(n)?];
                let mut call = Call::new(Method::POST, &p.bucket, None).query("delete", "");
                if *bypass {
                    call = call.header("x-amz-bypass-governance-retention", "true");
                }
                let r = s3.send(call.body_md5(body.clone()), true).await?.ok()?;
                let text = r.text();
                let errors = xml::all(&text, "Error");
                p.items.fetch_add(keys - errors.len() as u64, Ordering::Relaxed);
                if let Some(e) = errors.first() {
                    bail!(
                        "DeleteObjects refused {} of {keys} versions (first: {} {})",
                        errors.len(),
                        xml::first(e, "Code").unwrap_or("?"),
                        xml::first(e, "Key").unwrap_or("?")
                    );
                }
                Ok(0)
            }
            Step::Sweep { expected } => {
                let (listed, bytes) = sweep(s3, &p.bucket).await?;
                p.items.fetch_add(listed, Ordering::Relaxed);
                if listed != *expected {
                    bail!("a sweep listed {listed} versions, expected {expected}");
                }
                Ok(bytes)
            }
            Step::Sosapi => {
                let (key, root) =
                    if n.is_multiple_of(2) { (SYSTEM_XML, "<SystemInfo>") } else { (CAPACITY_XML, "<CapacityInfo>") };
                let r = s3.send(Call::new(Method::GET, &p.bucket, Some(key)), true).await?.ok()?;
                if !r.text().contains(root) {
                    bail!("{key} is not SOSAPI's document: {}", r.text());
                }
                Ok(r.received)
            }
        }
    }
}

/// One ListObjectVersions sweep of the whole bucket: the versions and delete markers
/// listed, and the bytes received.
async fn sweep(s3: &mut S3, bucket: &str) -> anyhow::Result<(u64, u64)> {
    let (mut key_marker, mut version_marker) = (String::new(), String::new());
    let (mut listed, mut bytes) = (0u64, 0u64);
    // Bounded: 100,000 pages of 1,000.
    for _ in 0..100_000 {
        let mut call = Call::new(Method::GET, bucket, None).query("versions", "").query("max-keys", "1000");
        if !key_marker.is_empty() {
            call = call.query("key-marker", &key_marker).query("version-id-marker", &version_marker);
        }
        let r = s3.send(call, true).await?.ok()?;
        bytes += r.received;
        let text = r.text();
        listed += (xml::all(&text, "Version").len() + xml::all(&text, "DeleteMarker").len()) as u64;
        if xml::first(&text, "IsTruncated") != Some("true") {
            return Ok((listed, bytes));
        }
        key_marker = xml::first(&text, "NextKeyMarker").map(xml::unescape).unwrap_or_default();
        version_marker = xml::first(&text, "NextVersionIdMarker").unwrap_or_default().to_owned();
    }
    bail!("bucket {bucket} has too many versions to sweep")
}

/// Waits until `until_ms` (plus a second for the server's clock) has passed, if that is
/// within [`MAX_WAIT`]; returns whether it has.
async fn wait_past(until_ms: i64) -> bool {
    let left = until_ms + 1000 - now_ms();
    if left <= 0 {
        return true;
    }
    let left = Duration::from_millis(u64::try_from(left).unwrap_or(u64::MAX));
    if left > MAX_WAIT {
        return false;
    }
    tokio::time::sleep(left).await;
    true
}

impl Bench {
    /// Runs the backup workload: its bucket, the five phases, and the cleanup.
    pub(crate) async fn backup(&mut self, hooks: &Hooks, failures: &mut Vec<String>) -> anyhow::Result<()> {
        let a = self.args.backup.clone();
        if a.blocks == 0 || a.restore_points == 0 {
            bail!("--blocks and --restore-points must be at least 1");
        }
        let bucket = format!("hfbench-backup-{:x}", self.run & 0xffff_ffff);
        let mode = self.args.lock_mode;
        let retain_ms = (a.default_retention_days == 0).then(|| self.args.retain_secs.unwrap_or(5) * 1000);
        let lock_ms = retain_ms.unwrap_or(i64::from(a.default_retention_days) * 86_400_000);
        let total = a.restore_points.checked_mul(a.blocks).context("too many blocks")?;
        let mut admin = self.admin();
        setup::create_bucket(&mut admin, &bucket, true, true)
            .await
            .with_context(|| format!("cannot create {bucket}"))?;
        if a.default_retention_days > 0 {
            let xml = format!(
                "<ObjectLockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>{}</Mode>\
                 <Days>{}</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
                mode.as_str(),
                a.default_retention_days
            );
            let call = Call::new(Method::PUT, &bucket, None).query("object-lock", "").body_md5(xml);
            admin.send(call, true).await?.ok()?;
        }
        if !self.args.json {
            let lock = match retain_ms {
                Some(ms) => format!("{} {} s per object", mode.as_str(), ms / 1000),
                None => format!("bucket default {} {} days", mode.as_str(), a.default_retention_days),
            };
            eprintln!(
                "backup workload in {bucket}: {} restore points of {} blocks of {}, {lock}; the last {} extended by {} s",
                a.restore_points,
                a.blocks,
                report::human_size(a.block_size),
                a.extend_points,
                a.extend_secs
            );
        }
        let plan = Arc::new(Plan {
            bucket: bucket.clone(),
            run: self.run,
            mode,
            block_size: a.block_size,
            blocks: a.blocks,
            retain_ms,
            lock_ms,
            versions: (0..total).map(|_| OnceLock::new()).collect(),
            max_until_ms: AtomicI64::new(0),
            items: AtomicU64::new(0),
        });
        let result = self.backup_phases(&plan, &a, hooks, failures).await;
        let cleaned = self.backup_remove(&plan).await;
        result.and(cleaned)
    }

    async fn backup_phases(
        &mut self,
        plan: &Arc<Plan>,
        a: &BackupArgs,
        hooks: &Hooks,
        failures: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        let c = self.args.concurrency.max(1);
        let total = plan.versions.len() as u64;
        self.backup_phase(plan, "bk-write", a.block_size, c, total, Step::Write, failures).await;
        let written = plan.written();
        if written.is_empty() {
            bail!("no block was written");
        }
        if (written.len() as u64) < total && !self.args.json {
            eprintln!("{} of {total} blocks written (bounded by --count / --duration)", written.len());
        }
        // The last restore points written are extended; the ones before are cleaned up.
        let last_point = written.last().copied().unwrap_or(0) / a.blocks;
        let first_kept = (last_point + 1).saturating_sub(a.extend_points);
        let (old, kept): (Vec<u64>, Vec<u64>) = written.iter().partition(|&&n| n / a.blocks < first_kept);
        let written_until = plan.max_until_ms.load(Ordering::Relaxed);
        let extend = Step::Extend { blocks: kept.clone(), extend_ms: a.extend_secs * 1000 };
        self.backup_phase(plan, "bk-extend", 0, c, kept.len() as u64, extend, failures).await;
        // Cleanup once the old restore points' retention has passed (the wait is not timed).
        let bypass = if old.is_empty() {
            eprintln!("bk-cleanup: skipped: no restore point older than the {} extended", a.extend_points);
            None
        } else if wait_past(written_until).await {
            Some(false)
        } else if plan.mode == LockMode::Governance {
            eprintln!("bk-cleanup: the retention ends in more than {MAX_WAIT:?}: GOVERNANCE is bypassed");
            Some(true)
        } else {
            eprintln!("bk-cleanup: skipped: the COMPLIANCE retention ends in more than {MAX_WAIT:?}");
            None
        };
        let mut deleted = 0;
        if let Some(bypass) = bypass {
            let mut batches = Vec::new();
            for chunk in old.chunks(DELETE_BATCH) {
                let mut body = String::from("<Delete><Quiet>true</Quiet>");
                for &n in chunk {
                    let v = plan.version(n)?;
                    body.push_str(&format!("<Object><Key>{}</Key><VersionId>{v}</VersionId></Object>", plan.key(n)));
                }
                body.push_str("</Delete>");
                batches.push((body, chunk.len() as u64));
            }
            let n = batches.len();
            let cleanup = Step::Cleanup { batches, bypass };
            deleted = self.backup_phase(plan, "bk-cleanup", 0, c.min(n), n as u64, cleanup, failures).await;
        }
        let expected = written.len() as u64 - deleted;
        self.backup_phase(plan, "bk-versions", 0, 1, a.sweeps, Step::Sweep { expected }, failures).await;
        self.sosapi_on(&plan.bucket, hooks).await?;
        self.backup_phase(plan, "bk-sosapi", 0, c, a.sosapi_polls, Step::Sosapi, failures).await;
        Ok(())
    }

    /// Measures one phase as a row; returns the keys it handled.
    #[allow(clippy::too_many_arguments)]
    async fn backup_phase(
        &mut self,
        plan: &Arc<Plan>,
        name: &str,
        size: u64,
        concurrency: usize,
        count: u64,
        step: Step,
        failures: &mut Vec<String>,
    ) -> u64 {
        plan.items.store(0, Ordering::Relaxed);
        let load = Load {
            endpoint: Arc::clone(&self.s3_endpoint),
            signer: self.signer.clone(),
            concurrency,
            count: count.min(self.args.count),
            duration: self.args.duration,
        };
        let counts_keys = !matches!(step, Step::Write | Step::Sosapi);
        let job = Arc::new(BackupPhase { plan: Arc::clone(plan), step });
        let tally = load.run(job, Phase::Measure).await;
        let items = plan.items.load(Ordering::Relaxed);
        let mut row = Row::new(name, size, concurrency, false, tally);
        if counts_keys {
            row.keys_per_sec = Some(items as f64 / row.seconds);
        }
        if row.errors > 0 {
            failures.push(format!("{name}: {} errors ({})", row.errors, row.first_error.as_deref().unwrap_or("")));
        }
        if !self.args.json {
            println!("{}", report::line(&row));
        }
        self.rows.push(row);
        items
    }

    /// Makes sure the bucket serves SOSAPI: on already (`[sosapi] enabled`), or turned on
    /// through the binary's hook.
    async fn sosapi_on(&mut self, bucket: &str, hooks: &Hooks) -> anyhow::Result<()> {
        let mut admin = self.admin();
        let served = async |s3: &mut S3| -> anyhow::Result<bool> {
            let r = s3.send(Call::new(Method::HEAD, bucket, Some(SYSTEM_XML)), false).await?;
            Ok(r.status.is_success())
        };
        if served(&mut admin).await? {
            return Ok(());
        }
        let Some(enable) = &hooks.enable_sosapi else {
            bail!(
                "{bucket} does not serve SOSAPI: pass --server-data-dir (and --server-config) or set \
                 [sosapi] enabled = true on the server"
            );
        };
        enable(bucket.to_owned()).await.context("cannot enable SOSAPI")?;
        if !served(&mut admin).await? {
            bail!("{bucket} does not serve SOSAPI after it was enabled (another server's data dir?)");
        }
        Ok(())
    }

    /// Removes the bucket, once every retention has passed (COMPLIANCE) or by bypassing
    /// GOVERNANCE; leaves it when told to or when COMPLIANCE dates are too far.
    async fn backup_remove(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let bucket = &plan.bucket;
        if self.args.keep {
            eprintln!("kept bucket {bucket}");
            return Ok(());
        }
        if plan.mode == LockMode::Compliance && !wait_past(plan.max_until_ms.load(Ordering::Relaxed)).await {
            eprintln!("bucket {bucket} holds COMPLIANCE-locked blocks and stays until they expire");
            return Ok(());
        }
        let mut admin = self.admin();
        setup::remove_bucket(&mut admin, bucket, false).await.with_context(|| format!("cleaning up {bucket}"))
    }
}
