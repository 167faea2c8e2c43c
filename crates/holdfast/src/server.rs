//! `holdfast serve`: open the data dir, wire the layers, accept connections, shut down
//! gracefully on SIGTERM/SIGINT.

use crate::config::{Config, MetaBackend};
use crate::connections::{AcceptBackoff, ActivityIo, Connections};
use crate::credentials;
use crate::start_cleanup::StartCleanup;
use anyhow::{Context, bail};
use holdfast_api::edge::{Edge, EdgeSettings};
use holdfast_api::{ApiConfig, Gateway};
use holdfast_blob::LocalBlobStore;
use holdfast_engine::{Engine, EngineConfig};
use holdfast_identity::{Account, Directory, Sealer};
#[cfg(feature = "postgres")]
use holdfast_meta::postgres::{PgMeta, PgOptions};
#[cfg(feature = "sqlite")]
use holdfast_meta::sqlite::SqliteMeta;
use holdfast_meta::{IdentityStore, MetaStore};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use sha2::Digest as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);
/// Gateways whose clocks differ by more than this are reported (log and metric).
const CLOCK_SKEW_WARN_MS: i64 = 2_000;
/// How often the data volume's free space is read in the background (gauges, ballast).
const SPACE_WATCH: Duration = Duration::from_secs(2);

/// Opens (creating) a file that exists only to be locked.
fn open_lock_file(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .mode(0o600)
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Holds the data directory's lock file for the life of the process. An embedded server
/// owns its dir (exclusive lock); gateways on PostgreSQL share theirs (shared lock), so an
/// embedded server and gateways never mix on one dir, as far as the filesystem's locks see.
fn lock_data_dir(dir: &std::path::Path, shared: bool) -> anyhow::Result<std::fs::File> {
    let path = dir.join("holdfast.lock");
    let f = open_lock_file(&path)?;
    let locked = if shared { f.try_lock_shared() } else { f.try_lock() };
    match locked {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) if shared => {
            bail!("data dir {} is in use by an embedded holdfast process", dir.display())
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("data dir {} is in use by another holdfast process", dir.display())
        }
        // A shared filesystem without locks: the gateways' rules do not depend on it.
        Err(std::fs::TryLockError::Error(e)) if shared => {
            tracing::warn!(error = %e, "cannot lock {} (shared filesystem without locks?)", path.display());
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    Ok(f)
}

/// Where this process writes its audit trail. Embedded: `<data>/audit`. Gateways sharing a
/// data dir each need a chain of their own (one writer per chain): the first of
/// `<data>/audit/gw-1`, `gw-2`, ... whose lock file is free, so a restarted gateway continues
/// a chain and two running gateways never share one.
fn audit_dir(data_dir: &std::path::Path, shared: bool) -> anyhow::Result<(std::path::PathBuf, Option<std::fs::File>)> {
    let base = data_dir.join(holdfast_audit::AUDIT_DIR);
    if !shared {
        return Ok((base, None));
    }
    for n in 1..=1024 {
        let dir = base.join(format!("gw-{n}"));
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("writer.lock");
        let f = open_lock_file(&path)?;
        match f.try_lock() {
            Ok(()) => return Ok((dir, Some(f))),
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
    bail!("no free audit trail directory under {}", base.display())
}

/// The free-space reserve of the data volume. The ballast, which gives SQLite
/// room to delete on a volume filled from outside, is for the embedded store only: gateways
/// on PostgreSQL share their data dir and keep no metadata in it.
fn open_space(config: &Config, embedded: bool) -> anyhow::Result<Arc<holdfast_engine::space::DiskSpace>> {
    use holdfast_engine::space;
    let (free, total) = space::volume(&config.data_dir)
        .with_context(|| format!("cannot read the free space of {}", config.data_dir.display()))?;
    let reserve = config.min_free_bytes.unwrap_or_else(|| space::default_reserve(total));
    let ballast = if embedded { space::ballast_for(reserve) } else { 0 };
    let disk = space::DiskSpace::open(&config.data_dir, reserve, ballast).context("cannot set up the space ballast")?;
    tracing::info!(free, total, reserve, ballast, "free-space reserve: new data is refused below `reserve` bytes free");
    Ok(Arc::new(disk))
}

/// The metadata store the configuration names, as the two boundaries the layers use.
async fn open_meta(config: &Config) -> anyhow::Result<(Arc<dyn MetaStore>, Arc<dyn IdentityStore>)> {
    fn both<T: MetaStore + IdentityStore>(m: Arc<T>) -> (Arc<dyn MetaStore>, Arc<dyn IdentityStore>) {
        (Arc::clone(&m) as Arc<dyn MetaStore>, m as Arc<dyn IdentityStore>)
    }
    match &config.meta {
        #[cfg(feature = "sqlite")]
        MetaBackend::Sqlite => {
            // WORM guards changed outside Holdfast stop the start unless the
            // operator accepts it explicitly (the guards are then restored and it is recorded).
            let accept_tamper = std::env::var("HOLDFAST_ACCEPT_TAMPER").is_ok_and(|v| v == "1");
            let meta = SqliteMeta::open_with(&config.data_dir.join("meta.db"), None, accept_tamper)
                .context("cannot open the metadata database")?;
            Ok(both(Arc::new(meta)))
        }
        #[cfg(feature = "postgres")]
        MetaBackend::Postgres { url, pool_size, ca_file, .. } => {
            let mut options = PgOptions::new(url.clone());
            options.ca_file.clone_from(ca_file);
            options.pool_size = *pool_size;
            options.accept_tamper = std::env::var("HOLDFAST_ACCEPT_TAMPER").is_ok_and(|v| v == "1");
            let meta = PgMeta::open(options).await.context("cannot open the PostgreSQL metadata store")?;
            tracing::info!(gateway = meta.gateway(), db = %holdfast_meta::postgres::redact_url(url), "metadata on PostgreSQL");
            Ok(both(Arc::new(meta)))
        }
        #[cfg(not(all(feature = "sqlite", feature = "postgres")))]
        left_out => Err(left_out.compiled_out()),
    }
}

fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    std::fs::read_dir(dir).with_context(|| format!("cannot read data dir {}", dir.display()))?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"").with_context(|| format!("data dir {} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).ok();
    Ok(())
}

/// What the first stage holds for the rest of the start: the bound listener, the clean-up of
/// a failed start, and the data dir's lock (released when the server ends).
struct Claimed {
    listener: TcpListener,
    /// Declared before `cleanup`: fields drop in order, and the clean-up of a failed start
    /// must find the lock released (a held lock reads as another server using the dir).
    _lock: std::fs::File,
    cleanup: StartCleanup,
    nofile: u64,
    /// `Some(grace)` when gateways share the data dir (PostgreSQL): blobs younger than the
    /// grace period may be another gateway's write in flight.
    shared_grace: Option<u64>,
}

/// The store, open and swept: the engine requests go through, and the metadata store the
/// binary keeps for its own wiring (startup notices, the trail check, event delivery).
struct Store {
    engine: Arc<Engine>,
    meta: Arc<dyn MetaStore>,
    identity: Arc<dyn IdentityStore>,
}

/// The evidence side, started: the audit trail (checked against the store) and its anchors.
struct Evidence {
    audit: Arc<holdfast_audit::AuditLog>,
    anchorer: Option<Arc<crate::anchor::Anchorer>>,
    event_targets: std::collections::BTreeSet<String>,
    _audit_lock: Option<std::fs::File>,
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    // A bad certificate or key fails the start before the data dir is touched.
    let tls = config.tls.as_ref().map(crate::tls::Tls::new).transpose()?.map(Arc::new);
    let claimed = claim(&config).await?;
    let root = credentials::load_or_create(&config.data_dir)?;
    if root.generated {
        println!("Generated root credentials (stored in {}):", config.data_dir.join("root-credentials").display());
        println!("  access key: {}", root.creds.access_key);
        println!("  secret key: {}", root.creds.secret_key);
    }
    let exporter = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("holdfast_request_duration_seconds".into()),
            &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        )?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    crate::metrics_upkeep::spawn(exporter.clone(), crate::metrics_upkeep::UPKEEP_EVERY);
    crate::allocator::spawn_gauges();
    let connections = bound_connections(&config, claimed.nofile);
    let store = open_store(&config, claimed.shared_grace).await?;
    let evidence = start_evidence(&config, &store, claimed.shared_grace.is_some()).await?;
    let (edge, dir) = build_edge(&config, &store, &evidence, root, exporter)?;
    let console = build_console(&config, &store, &evidence, &edge, dir);

    let addr = claimed.listener.local_addr()?;
    if let Some(a) = &evidence.anchorer {
        a.spawn();
    }
    claimed.cleanup.disarm();
    edge.set_ready(true);
    let shutdown = shutdown_signal();
    if let Some(tls) = &tls {
        tls.spawn_reload()?;
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("holdfast listening on {scheme}://{addr} (data dir {})", config.data_dir.display());
    tracing::info!(%addr, scheme, data_dir = %config.data_dir.display(), "ready");

    let graceful =
        accept_until_shutdown(claimed.listener, tls, Arc::clone(&edge), console, connections, shutdown).await;
    edge.set_ready(false);
    tracing::info!("shutting down: finishing in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(DRAIN) => tracing::warn!("gave up waiting for connections after {DRAIN:?}"),
    }
    if let Err(e) = evidence.audit.flush().await {
        tracing::error!(error = %e, "cannot flush the audit trail");
    }
    if let Some(a) = &evidence.anchorer {
        a.at_shutdown().await;
    }
    Ok(())
}

/// Stage 1: descriptors, file modes, the port, the data dir and its lock. A taken port fails
/// the start before the data dir exists; any later failure removes what this start created.
async fn claim(config: &Config) -> anyhow::Result<Claimed> {
    // Connections need descriptors: take every one the hard limit allows.
    let nofile = crate::connections::raise_nofile_limit();
    // Before anything is created: every file 0600, every directory 0700.
    crate::file_modes::restrict_umask();
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    let cleanup = StartCleanup::before_creating(&config.data_dir);
    prepare_data_dir(&config.data_dir)?;
    let narrowed = crate::file_modes::narrow_modes(&config.data_dir)
        .with_context(|| format!("cannot restrict the modes in data dir {}", config.data_dir.display()))?;
    if narrowed.files + narrowed.dirs > 0 {
        tracing::warn!(
            files = narrowed.files,
            dirs = narrowed.dirs,
            "data dir {} was readable by other users: narrowed {} files to 0600 and {} directories to 0700",
            config.data_dir.display(),
            narrowed.files,
            narrowed.dirs
        );
    }
    // With PostgreSQL several gateways share the data dir's blobs; each only sweeps what is
    // older than the grace period. Embedded, this process alone writes there.
    let shared_grace = match &config.meta {
        MetaBackend::Sqlite => None,
        MetaBackend::Postgres { orphan_grace_secs, .. } => Some(*orphan_grace_secs),
    };
    let lock = lock_data_dir(&config.data_dir, shared_grace.is_some())?;
    Ok(Claimed { listener, cleanup, _lock: lock, nofile, shared_grace })
}

/// The connection cap the descriptors allow (or the configured one, with a warning when the
/// descriptors cannot carry it).
fn bound_connections(config: &Config, nofile: u64) -> Arc<Connections> {
    let connections = Connections::new(config.connections.clone(), nofile);
    println!("open files limit {nofile}: at most {} connections", connections.max());
    tracing::info!(nofile, max_connections = connections.max(), "open files limit raised to the hard limit");
    let fits = crate::connections::default_max_connections(nofile);
    if connections.max() > fits {
        tracing::warn!(
            max_connections = connections.max(),
            fits,
            nofile,
            "[limits] max_connections is more than the open-files limit leaves room for: accept may fail with EMFILE"
        );
    }
    connections
}

/// Stage 2: metadata, blobs and the engine over them, swept of orphans, with its background
/// work (space watch, collection, and on PostgreSQL the hourly sweep and the clock report).
async fn open_store(config: &Config, shared_grace: Option<u64>) -> anyhow::Result<Store> {
    let (meta, identity) = open_meta(config).await?;
    let blobs = match shared_grace {
        None => LocalBlobStore::open(&config.data_dir),
        Some(grace) => LocalBlobStore::open_shared(&config.data_dir, grace),
    }
    .context("cannot open the blob store")?;
    let engine = Engine::new(
        Arc::clone(&meta),
        Arc::new(blobs),
        EngineConfig {
            max_put_size: config.max_put_size,
            min_part_size: config.min_part_size,
            inline_max_size: config.inline_max_size,
            ..EngineConfig::default()
        },
    )
    .await
    .context("cannot start the engine")?;
    let engine = Arc::new(engine);
    engine.set_space(open_space(config, shared_grace.is_none())?);
    engine.spawn_space_watch(SPACE_WATCH);
    match shared_grace {
        // One process owns the data dir, so no write is in flight: any unknown blob is an orphan.
        None => {
            engine.sweep_orphans(0).await.context("orphan sweep failed")?;
        }
        // Other gateways may be mid-write: only old unknown blobs are orphans, swept again hourly.
        Some(grace) => {
            engine.sweep_orphans(grace).await.context("orphan sweep failed")?;
            engine.spawn_orphan_sweep(Duration::from_secs(3600), grace);
            engine.report_clock(CLOCK_SKEW_WARN_MS).await.context("cannot report the clock to the database")?;
            engine.spawn_clock_report(Duration::from_secs(10), CLOCK_SKEW_WARN_MS);
        }
    }
    engine.spawn_gc(Duration::from_secs(10));
    Ok(Store { engine, meta, identity })
}

/// Stage 3: the audit trail (and the store checked against it), its anchors, event delivery
/// and the lifecycle worker.
async fn start_evidence(config: &Config, store: &Store, shared: bool) -> anyhow::Result<Evidence> {
    let (audit_dir, audit_lock) = audit_dir(&config.data_dir, shared)?;
    // One name per chain for the outbox and the anchors: `main` embedded, `gw-<n>` on PostgreSQL.
    let chain = holdfast_audit::chain_name(&config.data_dir.join(holdfast_audit::AUDIT_DIR), &audit_dir);
    let audit = store
        .engine
        .open_audit(&audit_dir, &chain, holdfast_audit::AuditOptions::default())
        .with_context(|| format!("cannot open the audit trail in {}", audit_dir.display()))?;
    for notice in store.meta.startup_notices() {
        audit.append(notice);
    }
    // Protection lost outside the API (guards dropped, rows edited, guards put back) stops
    // the start, as changed guards do.
    let accept_tamper = std::env::var("HOLDFAST_ACCEPT_TAMPER").is_ok_and(|v| v == "1");
    crate::trail_check::at_start(store.meta.as_ref(), &config.data_dir, &audit, shared, accept_tamper).await?;
    // The trail's head, anchored where it cannot be rewritten.
    let anchorer = match &config.anchor {
        Some(settings) => {
            let target = crate::anchor::AnchorTarget::new(settings, Some(Arc::clone(&store.engine)))?;
            Some(Arc::new(crate::anchor::Anchorer::new(settings.clone(), target, Arc::clone(&audit), chain)))
        }
        None => None,
    };
    let targets = holdfast_events::Targets::new(&config.webhooks).map_err(anyhow::Error::msg)?;
    let event_targets = targets.arns().map(str::to_owned).collect();
    let dispatcher = holdfast_events::Dispatcher::new(
        Arc::clone(&store.meta),
        targets,
        holdfast_events::EventSettings {
            region: config.region.clone(),
            retry_min: config.event_retry_min,
            retry_max: config.event_retry_max,
            ..Default::default()
        },
    );
    Arc::new(dispatcher).spawn();
    store.engine.spawn_lifecycle(holdfast_engine::lifecycle::LifecycleSettings {
        day_ms: config.lifecycle_day_ms,
        interval: config.lifecycle_interval,
    });
    store.engine.spawn_inventory(holdfast_engine::inventory::InventorySettings {
        day_ms: config.inventory_day_ms,
        rows_per_file: config.inventory_rows_per_file,
    });
    store.engine.spawn_lock_jobs(holdfast_engine::lock_jobs::LockJobSettings::default());
    let remote =
        crate::replication_remote::RemoteTargets::new(&config.replication_targets, config.replication_multipart)?;
    store.engine.set_replica_transport(Arc::new(remote));
    store.engine.spawn_replication(config.replication.clone());
    Ok(Evidence { audit, anchorer, event_targets, _audit_lock: audit_lock })
}

/// Stage 4: identity (root, accounts, sealed IAM secrets) and the S3 edge over the engine.
fn build_edge(
    config: &Config,
    store: &Store,
    evidence: &Evidence,
    root: credentials::Root,
    exporter: metrics_exporter_prometheus::PrometheusHandle,
) -> anyhow::Result<(Arc<Edge>, Arc<Directory>)> {
    // The account's ids derive from its first root key: a rotated root keeps the account.
    let owner_id = canonical_id(&root.account_key);
    let api = ApiConfig {
        region: config.region.clone(),
        base_domain: config.base_domain.clone(),
        aws_strict: config.aws_strict,
        event_targets: evidence.event_targets.clone(),
        replication_targets: config.replication_targets.keys().cloned().collect(),
        sosapi: config.sosapi.clone(),
    };
    let sealer = Sealer::load_or_create(&config.data_dir).context("cannot load the secret-sealing key")?;
    let accounts = config
        .accounts
        .iter()
        .map(|a| Account {
            name: a.name.clone(),
            account_id: account_id(&canonical_id(&a.access_key)),
            canonical_id: canonical_id(&a.access_key),
            access_key: a.access_key.clone(),
            secret_key: a.secret_key.clone(),
        })
        .collect();
    let dir = Directory::new(Arc::clone(&store.identity), sealer, root.creds, account_id(&owner_id), owner_id.clone())
        .with_accounts(accounts);
    let metrics = crate::metrics_view::MetricsEndpoint {
        exporter,
        access: config.metrics_access.clone(),
        lock_gauges: Some(crate::lock_gauges::LockGauges::spawn(Arc::clone(&store.engine), config.lock_gauges_refresh)),
    };
    let settings = EdgeSettings {
        max_chunk: config.max_chunk_size,
        max_put: config.max_put_size,
        audit: Some(Arc::clone(&evidence.audit)),
        space: store.engine.space().map(Arc::clone),
        body_idle: config.connections.body_idle,
        metrics: Arc::new(metrics),
    };
    let dir = Arc::new(dir);
    Ok((Arc::new(Edge::new(Gateway::new(Arc::clone(&store.engine), Arc::clone(&dir), api), settings)), dir))
}

/// The web console beside the edge (docs/console.md), when `[console] enabled`.
fn build_console(
    config: &Config,
    store: &Store,
    evidence: &Evidence,
    edge: &Arc<Edge>,
    dir: Arc<Directory>,
) -> Option<Arc<holdfast_console::Console>> {
    if !config.console.enabled {
        return None;
    }
    let anchors = config.anchor.as_ref().filter(|a| a.remote.is_none()).map(|a| (a.bucket.clone(), a.prefix.clone()));
    let backends = holdfast_console::Backends {
        edge: Arc::clone(edge),
        dir,
        engine: Arc::clone(&store.engine),
        audit: Some(Arc::clone(&evidence.audit)),
        region: config.region.clone(),
        base_domain: config.base_domain.clone(),
        tls: config.tls.is_some(),
        anchors,
    };
    Some(Arc::new(holdfast_console::Console::new(config.console.clone(), backends)))
}

/// Stage 5: accepts connections under the cap until `shutdown` (SIGTERM/SIGINT, its handlers
/// installed by [`shutdown_signal`] before "listening" was printed); returns what drains the
/// connections still open.
async fn accept_until_shutdown(
    listener: TcpListener,
    tls: Option<Arc<crate::tls::Tls>>,
    edge: Arc<Edge>,
    console: Option<Arc<holdfast_console::Console>>,
    connections: Arc<Connections>,
    shutdown: impl std::future::Future<Output = ()>,
) -> hyper_util::server::graceful::GracefulShutdown {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut backoff = AcceptBackoff::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tokio::time::sleep(backoff.failed(&e, &connections)).await;
                        continue;
                    }
                };
                backoff.succeeded();
                // Over the cap with every connection busy: closed at once.
                let Some(admission) = connections.admit() else { continue };
                // Small responses must not wait for Nagle (design.md: a peer answered 44 ms late).
                let _ = stream.set_nodelay(true);
                let edge = Arc::clone(&edge);
                let console = console.clone();
                let watcher = graceful.watcher();
                let connections = Arc::clone(&connections);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let conn = Arc::clone(&admission.conn);
                    connections.supervise(admission, async move {
                        let Some(tls) = tls else {
                            let io = ActivityIo::new(stream, Arc::clone(&conn));
                            return serve_http(io, edge, console, conn, peer, watcher).await;
                        };
                        match crate::tls::first_bytes(&stream).await {
                            crate::tls::FirstBytes::Closed => {}
                            crate::tls::FirstBytes::Plain => refuse_plain_http(stream).await,
                            // The handshake runs under the same idle and header timeouts as a
                            // request head: its bytes count as activity on the connection.
                            crate::tls::FirstBytes::Tls => {
                                match tls.acceptor.accept(ActivityIo::new(stream, Arc::clone(&conn))).await {
                                    Ok(io) => serve_http(io, edge, console, conn, peer, watcher).await,
                                    Err(e) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                }
                            }
                        }
                    }).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    graceful
}

/// Serves HTTP over `io` (plain TCP or TLS) until the connection ends.
async fn serve_http<I>(
    io: I,
    edge: Arc<Edge>,
    console: Option<Arc<holdfast_console::Console>>,
    conn: Arc<crate::connections::Conn>,
    peer: std::net::SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let edge = Arc::clone(&edge);
        let console = console.clone();
        let in_flight = conn.request();
        async move {
            let resp = match console {
                // Boxed: the future of every S3 request is as large as the largest branch.
                Some(console) if console.claims(&req) => Box::pin(console_call(&console, req, peer)).await,
                _ => edge.handle(req, peer).await,
            };
            drop(in_flight);
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Half-close lets a client that shut its sending side still read our answer
    // (a body shorter than Content-Length gets 400 IncompleteBody, not silence).
    // The idle and header timeouts are `supervise`'s, not hyper's.
    builder
        .http1()
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_headers(holdfast_api::edge::MAX_HEADER_FIELDS);
    let connection = watcher.watch(builder.serve_connection(TokioIo::new(io), service).into_owned());
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// A console request: its form body read whole (bounded), the answer as the edge's body type.
async fn console_call(
    console: &holdfast_console::Console,
    req: http::Request<hyper::body::Incoming>,
    peer: std::net::SocketAddr,
) -> http::Response<holdfast_api::edge::EdgeBody> {
    use http_body_util::BodyExt as _;
    let (parts, body) = req.into_parts();
    let resp = match http_body_util::Limited::new(body, holdfast_console::MAX_FORM).collect().await {
        Ok(b) => console.handle(parts, b.to_bytes(), peer).await,
        Err(_) => {
            let mut r = http::Response::new(bytes::Bytes::from_static(b"request body too large or incomplete\n"));
            *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            r
        }
    };
    resp.map(holdfast_api::edge::EdgeBody::full)
}

/// Plain HTTP sent to the HTTPS port gets a 400 that says so, then the connection closes.
async fn refuse_plain_http(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt as _;
    metrics::counter!("holdfast_tls_plain_http_refused_total").increment(1);
    let _ = stream.write_all(crate::tls::PLAIN_HTTP_REFUSAL).await;
    let _ = stream.shutdown().await;
}

/// The canonical user id S3 shows for an account, derived from its root access key.
fn canonical_id(access_key: &str) -> String {
    hex::encode(sha2::Sha256::digest(format!("holdfast-owner:{access_key}")))
}

/// The twelve-digit account id of this installation, derived from the owner id so that it
/// is stable across restarts (it appears in IAM ARNs and policies).
fn account_id(owner_id: &str) -> String {
    let n = u64::from_str_radix(&owner_id[..15], 16).unwrap_or(0);
    format!("{:012}", n % 1_000_000_000_000)
}

/// Installs the SIGTERM/SIGINT handlers at once (before "listening" is printed: a signal sent
/// right after it must shut down gracefully, not kill the process) and returns the wait.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    }
}
