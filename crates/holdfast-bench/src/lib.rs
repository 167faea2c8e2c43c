//! `holdfast bench`: a load generator for any S3 endpoint, signing SigV4 itself on hyper.
//!
//! It prepares its own buckets and data, measures one operation (`--op`) or the standard
//! performance matrix (`--matrix`, docs/performance.md), prints ops/s, MiB/s and latency percentiles (or JSON),
//! and removes what it wrote. Every run is bounded by `--count` and `--duration`, and every
//! request by a timeout. Payloads are unique per request. With `--probe-dir` it first
//! measures the disk's limits (parallel fdatasync rate, sequential fdatasync bandwidth).

mod backup;
mod client;
pub mod payload;
pub mod probe;
mod report;
mod rss;
mod runner;
mod setup;
pub use holdfast_identity::signer as sigv4;
mod workload;
mod xml;

pub use backup::{BackupArgs, EnableSosapi, Hooks, WorkloadKind};
pub use report::{Row, parse_size};
pub use workload::{LockMode, Op};

use anyhow::{Context, bail};
use client::{Endpoint, S3};
use runner::{Load, Phase};
use sigv4::Signer;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use workload::Workload;

fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.parse().map_err(|_| format!("not a duration: {s} (e.g. 10s, 500ms, 2m)"))?;
    Ok(Duration::from_secs_f64(v * mult))
}

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The S3 endpoint (path-style), or the static server for `--op static`.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub access_key: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// The operation to measure.
    #[arg(long, value_enum, default_value = "put")]
    pub op: Op,
    /// Object size (4KiB, 64MiB, ...).
    #[arg(long, default_value = "4KiB", value_parser = parse_size)]
    pub size: u64,
    /// Concurrent clients (one connection each).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Longest a measurement runs (10s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Most operations a measurement makes.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,
    /// Write with Object Lock retention headers (and Content-MD5), in a lock-enabled bucket.
    #[arg(long)]
    pub lock: bool,
    /// Retention mode of `--lock` and `--op retention`. COMPLIANCE objects cannot be
    /// removed before they expire: the bench leaves them behind.
    #[arg(long, value_enum, default_value = "governance")]
    pub lock_mode: LockMode,
    /// Retention period of locked writes, in seconds [default: 3600; 5 for the blocks of
    /// `--workload backup`].
    #[arg(long)]
    pub retain_secs: Option<i64>,
    /// Objects prepared for reads, lock changes and deletes (default: 1,000; 8 when larger
    /// than 16 MiB; `--list-objects` for listings).
    #[arg(long)]
    pub objects: Option<u64>,
    /// Versions in the bucket that listings page through.
    #[arg(long, default_value_t = 1_000_000)]
    pub list_objects: u64,
    /// The bucket listings page through: created and filled with `--list-objects` empty
    /// objects if it does not exist yet, and kept afterwards (so that a second run, or another
    /// server build on the same data, can list it without preparing a million objects
    /// again). Without it, both listing cells share one bucket of this run, removed after.
    #[arg(long)]
    pub list_bucket: Option<String>,
    /// Concurrent writers that prepare objects before a measurement.
    #[arg(long, default_value_t = 64)]
    pub fill_concurrency: usize,
    /// Part size of `--op multipart`.
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Run a workload of several phases instead of one operation (`backup`: see the
    /// options below).
    #[arg(long, value_enum, conflicts_with = "matrix")]
    pub workload: Option<WorkloadKind>,
    #[command(flatten)]
    pub backup: BackupArgs,
    /// Run the standard performance matrix instead of one operation.
    #[arg(long)]
    pub matrix: bool,
    /// Only the matrix cells whose label (e.g. `put-4KiB`, `get-64MiB`, `retention`)
    /// contains one of these comma-separated words.
    #[arg(long)]
    pub only: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Client worker threads (client and server share the machine: keep it small).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// The server's process id: report its resident memory (idle, and peak per cell).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Measure the disk under this directory first (fdatasync rate and bandwidth).
    #[arg(long)]
    pub probe_dir: Option<PathBuf>,
    /// A static HTTP server to compare GETs with (matrix), serving `--static-root`.
    #[arg(long)]
    pub static_endpoint: Option<String>,
    /// The directory the static server serves; the bench writes its files under
    /// `<root>/hfbench-static/` and removes them afterwards.
    #[arg(long)]
    pub static_root: Option<PathBuf>,
    /// Keep the buckets (and objects) the bench made.
    #[arg(long)]
    pub keep: bool,
    /// Instead of loading an endpoint, run `--count` requests of one hot path in process
    /// (for instruction counts under callgrind: `scripts/perf-guard.sh`).
    #[arg(long, value_enum, hide = true)]
    pub hotpath: Option<HotPath>,
    /// With `--hotpath`: prepare and sign the requests, but do not send them.
    #[arg(long, hide = true)]
    pub dry: bool,
}

/// One group of cells: prepared once, measured at each concurrency, cleaned up once.
struct Group {
    op: Op,
    size: u64,
    lock: bool,
    concurrency: Vec<usize>,
}

impl Group {
    fn label(&self) -> String {
        let base = match self.op {
            Op::Retention
            | Op::Legalhold
            | Op::List
            | Op::Listversions
            | Op::Listdelim
            | Op::Listversionskey
            | Op::Delete => self.op.name().to_owned(),
            _ => format!("{}-{}", self.op.name(), report::human_size(self.size)),
        };
        if self.lock { format!("{base}+lock") } else { base }
    }
}

/// The cells that page through the one listing bucket of `--list-objects` keys.
fn shares_listing_bucket(op: Op) -> bool {
    matches!(op, Op::List | Op::Listversions | Op::Listdelim)
}

fn standard_matrix(with_static: bool) -> Vec<Group> {
    let g = |op, size, lock, c: &[usize]| Group { op, size, lock, concurrency: c.to_vec() };
    let mut m = vec![
        g(Op::Put, 4 << 10, false, &[1, 16, 64]),
        g(Op::Put, 4 << 10, true, &[1, 16, 64]),
        g(Op::Get, 4 << 10, false, &[1, 16, 64]),
        g(Op::Head, 4 << 10, false, &[1, 16, 64]),
        g(Op::Retention, 4 << 10, false, &[1, 16]),
        g(Op::Legalhold, 4 << 10, false, &[1, 16]),
        g(Op::Delete, 4 << 10, false, &[16]),
        g(Op::Put, 64 << 20, false, &[1, 4]),
        g(Op::Get, 64 << 20, false, &[1, 4]),
        g(Op::List, 0, false, &[1]),
        g(Op::Listversions, 0, false, &[1]),
        g(Op::Listdelim, 0, false, &[1]),
        g(Op::Listversionskey, 0, false, &[1]),
    ];
    if with_static {
        m.push(g(Op::Static, 4 << 10, false, &[1, 16, 64]));
        m.push(g(Op::Static, 64 << 20, false, &[1, 4]));
    }
    m
}

struct Bench {
    args: BenchArgs,
    s3_endpoint: Arc<Endpoint>,
    signer: Option<Arc<Signer>>,
    run: u64,
    rows: Vec<Row>,
}

impl Bench {
    fn objects_for(&self, op: Op, size: u64) -> u64 {
        match op {
            Op::List | Op::Listversions | Op::Listdelim => self.args.list_objects,
            Op::Listversionskey => self.args.objects.unwrap_or(10_000),
            _ => self.args.objects.unwrap_or(if size > 16 << 20 { 8 } else { 1000 }),
        }
    }

    fn admin(&self) -> S3 {
        S3::new(Arc::clone(&self.s3_endpoint), self.signer.clone())
    }

    /// The bucket of the listing cells, and whether this run made it (and removes it).
    fn listing_bucket(&self) -> (String, bool) {
        match &self.args.list_bucket {
            Some(b) => (b.clone(), false),
            None => (format!("hfbench-list-{:x}", self.run & 0xffff_ffff), true),
        }
    }

    async fn group(&mut self, g: &Group, last_listing: bool) -> anyhow::Result<()> {
        let objects = self.objects_for(g.op, g.size);
        let lock = (g.lock || self.args.lock).then_some(self.args.lock_mode);
        let listing = shares_listing_bucket(g.op);
        let bucket = if listing {
            self.listing_bucket().0
        } else {
            format!("hfbench-{}-{:x}-{}", g.op.name(), self.run & 0xffff_ffff, self.rows.len())
        };
        let mut work = Workload::new(g.op, g.size, bucket.clone(), lock, objects, self.run);
        work.part_size = self.args.part_size;
        work.retain_secs = self.args.retain_secs.unwrap_or(3600);
        let work = Arc::new(work);
        let is_static = matches!(g.op, Op::Static | Op::Statichead);
        let (endpoint, signer) = if is_static {
            let url = self.args.static_endpoint.as_deref().unwrap_or(&self.args.endpoint);
            (Arc::new(Endpoint::parse(url)?), None)
        } else {
            (Arc::clone(&self.s3_endpoint), self.signer.clone())
        };
        // Prepare.
        if is_static {
            self.write_static_files(g.size, objects)?;
        } else if listing
            && setup::bucket_holds(&mut self.admin(), &bucket, &workload::listing_key(objects - 1, objects)).await?
        {
            if !self.args.json {
                eprintln!("listing {bucket}, prepared before");
            }
        } else {
            let mut admin = self.admin();
            setup::create_bucket(&mut admin, &bucket, work.needs_lock_bucket(), work.needs_versioning())
                .await
                .with_context(|| format!("cannot create bucket {bucket}"))?;
            let n = work.prepared_objects();
            if n > 0 {
                if !self.args.json {
                    eprintln!("preparing {n} objects in {bucket} ...");
                }
                let fill = Load {
                    endpoint: Arc::clone(&endpoint),
                    signer: signer.clone(),
                    concurrency: self.args.fill_concurrency.max(1),
                    count: n,
                    duration: Duration::from_secs(3600),
                };
                let t = fill.run(Arc::clone(&work), Phase::Fill).await;
                if t.errors > 0 || t.ok < n {
                    bail!("preparing {bucket} failed ({} of {n} written): {:?}", t.ok, t.first_error);
                }
            }
        }
        // Measure.
        let mut result = Ok(());
        for &c in &g.concurrency {
            let load = Load {
                endpoint: Arc::clone(&endpoint),
                signer: signer.clone(),
                concurrency: c,
                count: self.args.count,
                duration: self.args.duration,
            };
            let sampler = self.args.server_pid.map(rss::Sampler::start);
            let tally = load.run(Arc::clone(&work), Phase::Measure).await;
            let mut row = Row::new(g.op.name(), g.size, c, lock.is_some(), tally);
            if let Some(s) = sampler {
                row.server_rss_mib = Some(s.finish().await);
            }
            if !self.args.json {
                println!("{}", report::line(&row));
            }
            self.rows.push(row);
        }
        // Clean up.
        if is_static {
            self.remove_static_files(g.size, objects);
        } else if self.args.keep {
            eprintln!("kept bucket {bucket}");
        } else if listing && (!self.listing_bucket().1 || !last_listing) {
            // Kept: named by --list-bucket, or the next listing cell pages through it too.
        } else if lock == Some(LockMode::Compliance) {
            eprintln!("bucket {bucket} holds COMPLIANCE-locked objects and stays until they expire");
        } else {
            let mut admin = self.admin();
            if let Err(e) = setup::remove_bucket(&mut admin, &bucket, g.op == Op::Legalhold).await {
                result = Err(e.context(format!("cleaning up {bucket}")));
            }
        }
        result
    }

    fn static_dir(&self) -> anyhow::Result<PathBuf> {
        let root = self.args.static_root.as_ref().context("--op static needs --static-root")?;
        Ok(root.join("hfbench-static"))
    }

    fn write_static_files(&self, size: u64, objects: u64) -> anyhow::Result<()> {
        let dir = self.static_dir()?;
        std::fs::create_dir_all(&dir)?;
        for i in 0..objects {
            let path = dir.join(workload::static_file(size, i));
            let mut f = std::fs::File::create(&path)?;
            let mut left = size;
            let mut n = 0u64;
            while left > 0 {
                let len = left.min(1 << 20);
                let bytes = payload::bytes(payload::seed(self.run ^ i, n), usize::try_from(len)?);
                std::io::Write::write_all(&mut f, &bytes)?;
                left -= len;
                n += 1;
            }
        }
        Ok(())
    }

    fn remove_static_files(&self, size: u64, objects: u64) {
        if let Ok(dir) = self.static_dir() {
            for i in 0..objects {
                let _ = std::fs::remove_file(dir.join(workload::static_file(size, i)));
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn probes(dir: &std::path::Path, json: bool) -> anyhow::Result<Vec<probe::ProbeResult>> {
    let mut out = Vec::new();
    for threads in [1, 8] {
        out.push(probe::fsync_rate(dir, threads, Duration::from_secs(5))?);
    }
    for mode in [probe::WriteMode::Direct, probe::WriteMode::Buffered] {
        match probe::sync_bandwidth(dir, mode, 4 << 30, Duration::from_secs(10)) {
            Ok(r) => out.push(r),
            // A file system without O_DIRECT (tmpfs): only the buffered figure.
            Err(e) if mode == probe::WriteMode::Direct && e.kind() == std::io::ErrorKind::InvalidInput => {
                eprintln!("probe: no direct writes under {}: {e}", dir.display());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !json {
        for p in &out {
            println!("{}", probe::line(p));
        }
    }
    Ok(out)
}

/// The in-process hot paths `--hotpath` measures (run by the server binary, which owns the
/// layers they go through: `crates/holdfast/src/hotpaths.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HotPath {
    /// HeadBucket: SigV4 verification, routing, access check, one bucket lookup.
    Sigv4,
    /// PutObject of 4 KiB (inline in the metadata database, one commit).
    Put4k,
    /// GetObject of 4 KiB, body read to the end.
    Get4k,
    /// HeadObject of a 4 KiB object.
    Head,
    /// ListObjectsV2, one page of 1,000 keys (of 2,000), body read to the end.
    List,
}

/// Runs the bench as the command line asks (`--hotpath` is the binary's).
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    run_with(args, Hooks::default())
}

/// [`run`], with what the binary lends beyond S3 (turning SOSAPI on for the backup workload).
pub fn run_with(args: BenchArgs, hooks: Hooks) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads.max(1)).enable_all().build()?;
    rt.block_on(run_async(args, hooks))
}

async fn run_async(args: BenchArgs, hooks: Hooks) -> anyhow::Result<()> {
    let s3_endpoint = Arc::new(Endpoint::parse(&args.endpoint)?);
    let needs_keys = args.matrix || !matches!(args.op, Op::Static | Op::Statichead);
    let signer = match (&args.access_key, &args.secret_key) {
        (Some(a), Some(s)) => Some(Arc::new(Signer::new(a, s, &args.region))),
        _ if needs_keys => {
            bail!("--access-key and --secret-key (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) are required")
        }
        _ => None,
    };
    let run = rand::random::<u64>();
    let json = args.json;
    let probe_results = match &args.probe_dir {
        Some(dir) => {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || probes(&dir, json)).await??
        }
        None => Vec::new(),
    };
    let idle_rss = args.server_pid.and_then(rss::rss_kib).map(|k| k as f64 / 1024.0);
    if let (Some(rss), false) = (idle_rss, json) {
        println!("server resident memory before the run: {rss:.1} MiB");
    }
    let groups = if args.workload.is_some() {
        Vec::new()
    } else if args.matrix {
        let with_static = args.static_endpoint.is_some() && args.static_root.is_some();
        let mut m = standard_matrix(with_static);
        if let Some(only) = &args.only {
            let words: Vec<&str> = only.split(',').map(str::trim).filter(|w| !w.is_empty()).collect();
            m.retain(|g| words.iter().any(|w| g.label().contains(w)));
        }
        m
    } else {
        vec![Group { op: args.op, size: args.size, lock: args.lock, concurrency: vec![args.concurrency] }]
    };
    let mut bench = Bench { args, s3_endpoint, signer, run, rows: Vec::new() };
    if !json {
        println!("{}", report::HEADER);
    }
    let mut failures = Vec::new();
    if bench.args.workload == Some(WorkloadKind::Backup)
        && let Err(e) = bench.backup(&hooks, &mut failures).await
    {
        eprintln!("backup: {e:#}");
        failures.push(format!("backup: {e:#}"));
    }
    let last_listing = groups.iter().rposition(|g| shares_listing_bucket(g.op));
    for (i, g) in groups.iter().enumerate() {
        if let Err(e) = bench.group(g, last_listing == Some(i)).await {
            eprintln!("{}: {e:#}", g.label());
            failures.push(format!("{}: {e:#}", g.label()));
        }
    }
    if json {
        let out = serde_json::json!({
            "probes": probe_results,
            "server_idle_rss_mib": idle_rss,
            "rows": bench.rows,
            "failures": failures,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    if failures.is_empty() { Ok(()) } else { bail!("{} group(s) or phase(s) failed", failures.len()) }
}
