//! `holdfast serve`: open the data dir, wire the layers, accept connections, shut down
//! gracefully on SIGTERM/SIGINT.

use crate::config::Config;
use crate::credentials;
use crate::edge::Edge;
use anyhow::{Context, bail};
use holdfast_api::{ApiConfig, Gateway};
use holdfast_blob::LocalBlobStore;
use holdfast_engine::{Engine, EngineConfig};
use holdfast_identity::{Directory, Sealer};
use holdfast_meta::sqlite::SqliteMeta;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use sha2::Digest as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);
/// Longest wait for a request's headers on a connection.
const HEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// Holds the data directory's lock file for the life of the process: one server per dir.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("holdfast.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if f.try_lock().is_err() {
        bail!("data dir {} is in use by another holdfast process", dir.display());
    }
    Ok(f)
}

fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create data dir {}", dir.display()))?;
    std::fs::read_dir(dir).with_context(|| format!("cannot read data dir {}", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"").with_context(|| format!("data dir {} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    prepare_data_dir(&config.data_dir)?;
    let _lock = lock_data_dir(&config.data_dir)?;
    let (root, generated) = credentials::load_or_create(&config.data_dir)?;
    if generated {
        println!("Generated root credentials (stored in {}):", config.data_dir.join("root-credentials").display());
        println!("  access key: {}", root.access_key);
        println!("  secret key: {}", root.secret_key);
    }
    let metrics = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("holdfast_request_duration_seconds".into()),
            &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        )?
        .install_recorder()
        .context("cannot install the metrics recorder")?;

    let meta =
        Arc::new(SqliteMeta::open(&config.data_dir.join("meta.db")).context("cannot open the metadata database")?);
    let blobs = LocalBlobStore::open(&config.data_dir).context("cannot open the blob store")?;
    let engine = Engine::new(
        Arc::clone(&meta) as Arc<dyn holdfast_meta::MetaStore>,
        Arc::new(blobs),
        EngineConfig {
            max_put_size: config.max_put_size,
            min_part_size: config.min_part_size,
            ..EngineConfig::default()
        },
    )
    .await
    .context("cannot start the engine")?;
    let engine = Arc::new(engine);
    // One process owns the data dir, so no write is in flight: any unknown blob is an orphan.
    engine.sweep_orphans(0).await.context("orphan sweep failed")?;
    engine.spawn_gc(Duration::from_secs(10));

    let owner_id = hex::encode(sha2::Sha256::digest(format!("holdfast-owner:{}", root.access_key)));
    let api = ApiConfig {
        region: config.region.clone(),
        base_domain: config.base_domain.clone(),
        aws_strict: config.aws_strict,
    };
    let sealer = Sealer::load_or_create(&config.data_dir).context("cannot load the secret-sealing key")?;
    let dir =
        Arc::new(Directory::new(meta as Arc<dyn holdfast_meta::IdentityStore>, sealer, root, account_id(&owner_id)));
    let s3 = holdfast_api::service(Gateway::new(Arc::clone(&engine), Arc::clone(&dir), api, owner_id));
    let mut edge = Edge::new(s3, dir, metrics, config.max_chunk_size, config.max_put_size);
    edge.aws_strict = config.aws_strict;
    let edge = Arc::new(edge);

    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    edge.ready.store(true, Ordering::Release);
    println!("holdfast listening on http://{addr} (data dir {})", config.data_dir.display());
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "ready");

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Small responses must not wait for Nagle (design.md: a peer answered 44 ms late).
                let _ = stream.set_nodelay(true);
                let edge = Arc::clone(&edge);
                let service = hyper::service::service_fn(move |req| {
                    let edge = Arc::clone(&edge);
                    async move { Ok::<_, std::convert::Infallible>(edge.handle(req, peer).await) }
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                // Half-close lets a client that shut its sending side still read our answer
                // (a body shorter than Content-Length gets 400 IncompleteBody, not silence);
                // the header timeout bounds idle and slow-loris connections.
                builder.http1().half_close(true).timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    edge.ready.store(false, Ordering::Release);
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(DRAIN) => tracing::warn!("gave up waiting for connections after {DRAIN:?}"),
    }
    Ok(())
}

/// The twelve-digit account id of this installation, derived from the owner id so that it
/// is stable across restarts (it appears in IAM ARNs and policies).
fn account_id(owner_id: &str) -> String {
    let n = u64::from_str_radix(&owner_id[..15], 16).unwrap_or(0);
    format!("{:012}", n % 1_000_000_000_000)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}
