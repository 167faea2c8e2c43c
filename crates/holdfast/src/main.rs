//! The `holdfast` command.

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("holdfast needs a metadata store: build it with the cargo feature `sqlite`, `postgres` or both");

mod admin;
mod anchor;
mod config;
mod connections;
mod credentials;
mod file_modes;
mod hotpaths;
mod lock_gauges;
mod metrics_view;
mod server;
mod start_cleanup;
mod trail_check;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "holdfast", version, about = "An S3-compatible object store built around Object Lock")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the S3 server.
    Serve {
        /// Address to listen on (IP:PORT).
        #[arg(long, env = "HOLDFAST_LISTEN")]
        listen: Option<String>,
        /// Directory for metadata and object data.
        #[arg(long, env = "HOLDFAST_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// TOML configuration file.
        #[arg(long, env = "HOLDFAST_CONFIG")]
        config: Option<PathBuf>,
        /// Region reported and expected in signatures.
        #[arg(long, env = "HOLDFAST_REGION")]
        region: Option<String>,
        /// Base domain for virtual-hosted-style requests (bucket.<domain>).
        #[arg(long, env = "HOLDFAST_BASE_DOMAIN")]
        base_domain: Option<String>,
    },
    /// Administration of a data directory.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Load-test an S3 endpoint (this server or any other) and measure the disk's limits.
    Bench(Box<holdfast_bench::BenchArgs>),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Per bucket: versions and bytes under GOVERNANCE, COMPLIANCE and legal hold, the latest
    /// retain-until date, and retention ending by month.
    Report {
        /// Only this bucket.
        bucket: Option<String>,
        #[arg(long, env = "HOLDFAST_DATA_DIR")]
        data_dir: PathBuf,
        /// The server's TOML configuration (for a PostgreSQL metadata store).
        #[arg(long, env = "HOLDFAST_CONFIG")]
        config: Option<PathBuf>,
        /// The same figures as JSON.
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
        #[arg(long, env = "HOLDFAST_DATA_DIR")]
        data_dir: PathBuf,
        /// The server's TOML configuration (anchors, PostgreSQL metadata store).
        #[arg(long, env = "HOLDFAST_CONFIG")]
        config: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // What a server or an admin command creates in a data dir is private.
    if !matches!(cli.command, Command::Bench(_)) {
        file_modes::restrict_umask();
    }
    let result = match cli.command {
        Command::Serve { listen, data_dir, config, region, base_domain } => {
            config::Config::load(config::Overrides { listen, data_dir, config, region, base_domain }).and_then(|cfg| {
                init_logging(&cfg.log);
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .map_err(anyhow::Error::from)
                    .and_then(|rt| rt.block_on(server::serve(cfg)))
            })
        }
        Command::Admin { command: AdminCommand::Audit { command: AuditCommand::Verify { data_dir, config } } } => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(admin::audit_verify(&data_dir, config)))
        }
        Command::Admin { command: AdminCommand::Report { bucket, data_dir, config, json } } => {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(admin::report(&data_dir, config, bucket, json)))
        }
        Command::Bench(args) => match args.hotpath {
            Some(path) => hotpaths::run(path, args.count, args.dry),
            None => holdfast_bench::run(*args),
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

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOLDFAST_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},{}", holdfast_api::QUIET_LOG_TARGETS))
    });
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
