//! The `holdfast` command.

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("holdfast needs a metadata store: build it with the cargo feature `sqlite`, `postgres` or both");

mod admin;
mod allocator;
mod anchor;
#[cfg(feature = "sqlite")]
mod backup;
#[cfg(not(feature = "sqlite"))]
#[path = "backup_left_out.rs"]
mod backup;
mod config;
mod config_check;
mod connections;
mod credentials;
mod file_modes;
mod hotpaths;
mod lock_gauges;
mod lock_job_admin;
mod metrics_upkeep;
mod metrics_view;
mod replication_remote;
mod server;
mod start_cleanup;
mod tls;
mod trail_check;

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use std::path::PathBuf;

/// `holdfast --version`: the crate version, the commit it was built from (build.rs) and the
/// metadata schema versions this build creates and reads (of the stores it is built with).
fn version() -> String {
    let mut schemas: Vec<String> = Vec::new();
    #[cfg(feature = "sqlite")]
    schemas.push(format!("sqlite {}", holdfast_meta::sqlite::SCHEMA_VERSION));
    #[cfg(feature = "postgres")]
    schemas.push(format!("postgres {}", holdfast_meta::postgres::SCHEMA_VERSION));
    format!(
        "{} (commit {}, metadata schema: {})",
        env!("CARGO_PKG_VERSION"),
        env!("HOLDFAST_GIT_COMMIT"),
        schemas.join(", ")
    )
}

/// Environment variables that have no flag, shown under `serve --help` and `config check --help`.
const ENVIRONMENT_HELP: &str = "\
Environment (no flag):
  HOLDFAST_ROOT_ACCESS_KEY, HOLDFAST_ROOT_SECRET_KEY
        root credentials [default: generated at the first start and kept in
        <data-dir>/root-credentials]; other keys than those a data dir serves stop the
        start: `holdfast admin rotate-root` changes them
  HOLDFAST_LOG          log filter (tracing EnvFilter syntax) [default: info, or `log` in the file];
                        `info,s3s=off,holdfast::access=debug` adds one line per request
  HOLDFAST_LOG_FORMAT   `text` or `json` [default: text, or `log_format` in the file; text has
                        colours only when stderr is a terminal]
  HOLDFAST_META_URL     PostgreSQL URL, beats [meta] url [default: none: embedded SQLite]
  HOLDFAST_ACCEPT_TAMPER=1  start although the WORM guards were changed outside Holdfast

Precedence: command line > environment > configuration file > defaults.";

#[derive(Parser)]
#[command(name = "holdfast", version, about = "An S3-compatible object store built around Object Lock")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The settings `serve` and `config check` share.
#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// Address to listen on (IP:PORT).
    #[arg(long, env = "HOLDFAST_LISTEN", default_value = config::DEFAULT_LISTEN)]
    listen: Option<String>,
    #[command(flatten)]
    place: PlaceArgs,
    /// Region reported and expected in signatures.
    #[arg(long, env = "HOLDFAST_REGION", default_value = config::DEFAULT_REGION)]
    region: Option<String>,
    /// Base domain for virtual-hosted-style requests (bucket.<domain>) [default: none: path style only].
    #[arg(long, env = "HOLDFAST_BASE_DOMAIN")]
    base_domain: Option<String>,
    /// PEM certificate chain (server certificate first): serve HTTPS [default: none: plain HTTP].
    #[arg(long, env = "HOLDFAST_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate [default: none].
    #[arg(long, env = "HOLDFAST_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Serve the web console under /_holdfast/console/ (true/false) [default: on with the
    /// embedded store, off with PostgreSQL].
    #[arg(long, env = "HOLDFAST_CONSOLE")]
    console: Option<bool>,
}

/// Where a server's data and settings are: the same defaults for `serve` and `admin`.
#[derive(Args, Debug, Clone)]
struct PlaceArgs {
    /// Directory for metadata and object data.
    #[arg(long, env = "HOLDFAST_DATA_DIR", default_value = config::DEFAULT_DATA_DIR)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file [default: none].
    #[arg(long, env = "HOLDFAST_CONFIG")]
    config: Option<PathBuf>,
}

impl PlaceArgs {
    /// The data dir: the command line or environment, else the file's `data_dir`, else the default.
    fn resolve(&self) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
        let cfg = config::Config::load(config::Overrides {
            data_dir: self.data_dir.clone(),
            config: self.config.clone(),
            ..Default::default()
        })?;
        Ok((cfg.data_dir, self.config.clone()))
    }
}

impl ServeArgs {
    fn overrides(self) -> config::Overrides {
        config::Overrides {
            listen: self.listen,
            data_dir: self.place.data_dir,
            config: self.place.config,
            region: self.region,
            base_domain: self.base_domain,
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            console: self.console,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the S3 server.
    #[command(after_help = ENVIRONMENT_HELP)]
    Serve(ServeArgs),
    /// The configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Administration of a data directory.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load-test an S3 endpoint (this server or any other) and measure the disk's limits.
    Bench(Box<holdfast_bench::BenchArgs>),
}

/// What the bench may do beside S3: turn SOSAPI on for the backup workload's bucket in the
/// server's data dir (`--server-data-dir`), as `holdfast admin sosapi enable` does.
fn bench_hooks(args: &holdfast_bench::BenchArgs) -> holdfast_bench::Hooks {
    let enable_sosapi = args.backup.server_data_dir.clone().map(|dir| {
        let config = args.backup.server_config.clone();
        let hook: holdfast_bench::EnableSosapi = std::sync::Arc::new(move |bucket: String| {
            let (dir, config) = (dir.clone(), config.clone());
            Box::pin(async move { admin::set_sosapi(&dir, config, &bucket, true).await })
        });
        hook
    });
    holdfast_bench::Hooks { enable_sosapi }
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Checks the settings `serve` would run with (file, environment and these flags) and
    /// prints them, secrets masked; exits non-zero naming what is wrong.
    #[command(after_help = ENVIRONMENT_HELP)]
    Check(ServeArgs),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// One version's lock timeline: when it was written and with what lock, then every lock
    /// change (retention set, extended, shortened, removed; legal hold placed, lifted), by whom,
    /// from the history kept with the audit trail; and whether a delete is refused now, why, and
    /// until when.
    LockHistory {
        bucket: String,
        key: String,
        /// The version (default: the current one).
        #[arg(long)]
        version_id: Option<String>,
        /// Newest change first.
        #[arg(long)]
        newest_first: bool,
        /// At most this many changes (1..=1000).
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        place: PlaceArgs,
        /// The same as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Per bucket: versions and bytes under GOVERNANCE, COMPLIANCE and legal hold, the latest
    /// retain-until date, and retention ending by month.
    Report {
        /// Only this bucket.
        bucket: Option<String>,
        #[command(flatten)]
        place: PlaceArgs,
        /// The same figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replaces the root user's keys: with HOLDFAST_ROOT_ACCESS_KEY / HOLDFAST_ROOT_SECRET_KEY
    /// when set, else with new generated keys (printed once, kept in <data-dir>/root-credentials).
    /// The server must be stopped; the account id, and so bucket ownership, IAM users and
    /// policies naming the account, stay.
    RotateRoot {
        #[command(flatten)]
        place: PlaceArgs,
    },
    /// Online backup of an embedded data dir, beside a running server or none: a snapshot
    /// of the metadata (SQLite's backup API), the blob files it refers to, the audit trail up
    /// to the snapshot, the keys. PostgreSQL: see docs/operations.md#postgresql.
    Backup {
        #[command(flatten)]
        place: PlaceArgs,
        /// The backup directory: new, or empty.
        #[arg(long)]
        to: PathBuf,
    },
    /// Checks a backup made by `admin backup` and copies it into a new (absent or empty)
    /// data dir; `holdfast serve --data-dir` then starts on it.
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        place: PlaceArgs,
    },
    /// Bucket replication.
    Replication {
        #[command(subcommand)]
        command: ReplicationCommand,
    },
    /// Queues for replication the versions of a bucket that predate its replication
    /// configuration, and those whose replication FAILED (AWS's Batch Replication).
    Replicate {
        #[arg(long)]
        bucket: String,
        /// Only keys that start with this.
        #[arg(long, default_value = "")]
        prefix: String,
        #[command(flatten)]
        place: PlaceArgs,
    },
    /// Lock jobs (S3 Batch Operations' legal hold and retention over a manifest).
    LockJob {
        #[command(subcommand)]
        command: lock_job_admin::LockJobCommand,
        #[command(flatten)]
        place: PlaceArgs,
    },
    /// Veeam's Smart Object Storage API (system.xml, capacity.xml) for one bucket,
    /// whatever `[sosapi] enabled` says.
    Sosapi {
        #[command(subcommand)]
        command: SosapiCommand,
    },
    /// Bucket settings kept outside S3.
    Bucket {
        #[command(subcommand)]
        command: BucketCommand,
    },
}

#[derive(Subcommand)]
enum SosapiCommand {
    /// Serve the SOSAPI objects in BUCKET.
    Enable {
        bucket: String,
        #[command(flatten)]
        place: PlaceArgs,
    },
    /// Do not serve them in BUCKET (it stays plain S3).
    Disable {
        bucket: String,
        #[command(flatten)]
        place: PlaceArgs,
    },
}

#[derive(Subcommand)]
enum BucketCommand {
    /// Sets (`--bytes N`) or removes (`--clear`) the most bytes BUCKET's versions may hold;
    /// without either, prints the quota and the bytes stored. Writes over it: 507
    /// InsufficientStorage.
    Quota {
        bucket: String,
        #[arg(long, conflicts_with = "clear")]
        bytes: Option<u64>,
        #[arg(long)]
        clear: bool,
        #[command(flatten)]
        place: PlaceArgs,
    },
}

#[derive(Subcommand)]
enum ReplicationCommand {
    /// Per rule of the bucket: the destination, what waits (versions, bytes, age of the
    /// oldest) and what failed.
    Status {
        bucket: String,
        #[command(flatten)]
        place: PlaceArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Checks the whole hash chain (exits non-zero naming the first broken line), the trail
    /// against its anchors when the config sets `[audit] anchor_bucket` (exits non-zero naming
    /// the anchor the trail contradicts), then the metadata store against the protection the
    /// trail vouches for (exits non-zero naming every version that lost protection outside
    /// the API).
    Verify {
        #[command(flatten)]
        place: PlaceArgs,
    },
}

/// Parses the command line; a value that is only clap's default counts as not given, so that
/// the configuration file still beats it (clap shows the default in `--help`).
fn parse() -> Cli {
    // clap takes a 'static version text; this one is made once per process.
    let version: &'static str = Box::leak(version().into_boxed_str());
    let matches = Cli::command().version(version).get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let Some((name, sub)) = matches.subcommand() else { return cli };
    let sub = match name {
        "config" => sub.subcommand().map(|(_, m)| m),
        "admin" => match sub.subcommand() {
            Some(("audit" | "replication" | "sosapi" | "bucket", m)) => m.subcommand().map(|(_, m)| m),
            other => other.map(|(_, m)| m),
        },
        _ => Some(sub),
    };
    let Some(m) = sub else { return cli };
    let given = |id: &str| {
        m.try_get_raw(id).ok().flatten().is_some()
            && m.value_source(id) != Some(clap::parser::ValueSource::DefaultValue)
    };
    let forget = |args: &mut ServeArgs| {
        if !given("listen") {
            args.listen = None;
        }
        if !given("region") {
            args.region = None;
        }
    };
    match &mut cli.command {
        Command::Serve(args) | Command::Config { command: ConfigCommand::Check(args) } => {
            forget(args);
            if !given("data_dir") {
                args.place.data_dir = None;
            }
        }
        Command::Admin {
            command:
                AdminCommand::Report { place, .. }
                | AdminCommand::LockHistory { place, .. }
                | AdminCommand::RotateRoot { place }
                | AdminCommand::Backup { place, .. }
                | AdminCommand::Restore { place, .. }
                | AdminCommand::Replicate { place, .. }
                | AdminCommand::LockJob { place, .. }
                | AdminCommand::Replication { command: ReplicationCommand::Status { place, .. } }
                | AdminCommand::Sosapi { command: SosapiCommand::Enable { place, .. } | SosapiCommand::Disable { place, .. } }
                | AdminCommand::Bucket { command: BucketCommand::Quota { place, .. } }
                | AdminCommand::Audit { command: AuditCommand::Verify { place } },
        } => {
            if !given("data_dir") {
                place.data_dir = None;
            }
        }
        Command::Bench(_) => {}
    }
    cli
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(anyhow::Error::from)
}

/// How long an idle blocking-pool thread lives (tokio's default: 10 s). The event and
/// replication pollers (every 250 ms) wake one idle thread at a time, so with 10 s the dozens of
/// threads a burst of load started each got woken often enough never to exit, and kept their
/// stacks and allocator caches (~45 MiB idle after load, issue #17). Under load the threads stay
/// busy and are reused; a pause of a second lets the pool shrink.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);

fn main() -> std::process::ExitCode {
    let cli = parse();
    // What a server or an admin command creates in a data dir is private.
    if !matches!(cli.command, Command::Bench(_)) {
        file_modes::restrict_umask();
    }
    let result = match cli.command {
        Command::Serve(args) => config::Config::load(args.overrides()).and_then(|cfg| {
            init_logging(&cfg.log, cfg.log_format);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_keep_alive(BLOCKING_KEEP_ALIVE)
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(server::serve(cfg)))
        }),
        Command::Config { command: ConfigCommand::Check(args) } => config_check::run(args.overrides()),
        Command::Admin { command: AdminCommand::Audit { command: AuditCommand::Verify { place } } } => {
            place.resolve().and_then(|(data_dir, config)| runtime()?.block_on(admin::audit_verify(&data_dir, config)))
        }
        Command::Admin { command: AdminCommand::Report { bucket, place, json } } => place
            .resolve()
            .and_then(|(data_dir, config)| runtime()?.block_on(admin::report(&data_dir, config, bucket, json))),
        Command::Admin {
            command: AdminCommand::LockHistory { bucket, key, version_id, newest_first, limit, place, json },
        } => place.resolve().and_then(|(data_dir, config)| {
            let q = admin::HistoryArgs { bucket, key, version_id, newest_first, limit, json };
            runtime()?.block_on(admin::lock_history(&data_dir, config, q))
        }),
        Command::Admin { command: AdminCommand::RotateRoot { place } } => {
            place.resolve().and_then(|(data_dir, _)| credentials::rotate_root(&data_dir))
        }
        Command::Admin { command: AdminCommand::Backup { place, to } } => {
            place.resolve().and_then(|(data_dir, config)| {
                let cfg = config::Config::load(config::Overrides {
                    data_dir: Some(data_dir.clone()),
                    config,
                    ..Default::default()
                })?;
                backup::backup(&data_dir, &cfg, &to)
            })
        }
        Command::Admin { command: AdminCommand::Restore { from, place } } => {
            place.resolve().and_then(|(data_dir, _)| backup::restore(&from, &data_dir))
        }
        Command::Admin {
            command: AdminCommand::Replication { command: ReplicationCommand::Status { bucket, place, json } },
        } => place.resolve().and_then(|(data_dir, config)| {
            runtime()?.block_on(admin::replication_status(&data_dir, config, bucket, json))
        }),
        Command::Admin { command: AdminCommand::Replicate { bucket, prefix, place } } => place
            .resolve()
            .and_then(|(data_dir, config)| runtime()?.block_on(admin::replicate(&data_dir, config, bucket, prefix))),
        Command::Admin { command: AdminCommand::LockJob { command, place } } => place
            .resolve()
            .and_then(|(data_dir, config)| runtime()?.block_on(lock_job_admin::run(&data_dir, config, command))),
        Command::Admin { command: AdminCommand::Sosapi { command } } => {
            let (enable, bucket, place) = match command {
                SosapiCommand::Enable { bucket, place } => (true, bucket, place),
                SosapiCommand::Disable { bucket, place } => (false, bucket, place),
            };
            place
                .resolve()
                .and_then(|(data_dir, config)| runtime()?.block_on(admin::sosapi(&data_dir, config, bucket, enable)))
        }
        Command::Admin {
            command: AdminCommand::Bucket { command: BucketCommand::Quota { bucket, bytes, clear, place } },
        } => place
            .resolve()
            .and_then(|(data_dir, config)| runtime()?.block_on(admin::quota(&data_dir, config, bucket, bytes, clear))),
        Command::Bench(args) => match args.hotpath {
            Some(path) => hotpaths::run(path, args.count, args.dry),
            None => {
                let hooks = bench_hooks(&args);
                holdfast_bench::run_with(*args, hooks)
            }
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("holdfast: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(default: &str, format: config::LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOLDFAST_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},{}", holdfast_api::QUIET_LOG_TARGETS))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        // Colour codes only for a person at a terminal: a file or the journal gets plain text.
        config::LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        config::LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).init(),
    }
}
