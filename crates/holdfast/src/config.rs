//! Settings, layered: command line > environment > TOML file > defaults.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `listen` when nothing sets it (shown by `--help`).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
/// `data_dir` when nothing sets it.
pub const DEFAULT_DATA_DIR: &str = "./holdfast-data";
/// `region` when nothing sets it.
pub const DEFAULT_REGION: &str = "us-east-1";

/// What the TOML file may contain. Every field is optional; absent means "not set here".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub base_domain: Option<String>,
    pub aws_strict: Option<bool>,
    pub log: Option<String>,
    /// `text` (default) or `json` (also `HOLDFAST_LOG_FORMAT`).
    pub log_format: Option<String>,
    pub limits: Option<LimitsConfig>,
    pub meta: Option<MetaFileConfig>,
    /// Other accounts on this installation, each with its own root keys and buckets.
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    /// Event targets (`[notify.webhook.<id>]`).
    pub notify: Option<EventTargetsConfig>,
    /// `[lifecycle]`: the worker's period and, for tests, the length of a lifecycle day.
    pub lifecycle: Option<LifecycleFileConfig>,
    /// `[inventory]`: for tests, the length of an inventory day and the rows in a data file.
    pub inventory: Option<InventoryFileConfig>,
    /// `[replication]`: remote targets and the delivery worker's retry timing.
    pub replication: Option<ReplicationFileConfig>,
    /// `[audit]`: where the trail's head is anchored.
    pub audit: Option<crate::anchor::AuditFileConfig>,
    /// `[metrics]`: what the unauthenticated metrics endpoint reveals.
    pub metrics: Option<MetricsFileConfig>,
    /// `[tls]`: HTTPS.
    pub tls: Option<TlsFileConfig>,
    /// `[sosapi]`: Veeam's Smart Object Storage API (docs/backup-software.md).
    pub sosapi: Option<SosapiFileConfig>,
    /// `[console]`: the web console (docs/console.md).
    pub console: Option<ConsoleFileConfig>,
}

/// `[console]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleFileConfig {
    /// Default: on with the embedded store, off with PostgreSQL (sessions live in one
    /// gateway's memory; behind a load balancer turn it on where requests stick).
    pub enabled: Option<bool>,
    /// A session unused this long ends (default 900).
    pub idle_secs: Option<f64>,
    /// Sessions alive at once (default 1000).
    pub max_sessions: Option<usize>,
}

/// `[console]` checked; `enabled` from the command line or environment wins.
fn console_settings(
    flag: Option<bool>,
    file: Option<ConsoleFileConfig>,
    meta: &MetaBackend,
) -> anyhow::Result<holdfast_console::ConsoleSettings> {
    let file = file.unwrap_or_default();
    let idle = file.idle_secs.unwrap_or(900.0);
    if !(idle.is_finite() && (0.1..=86_400.0 * 30.0).contains(&idle)) {
        bail!("[console] idle_secs must be a number of seconds between 0.1 and 2592000");
    }
    let max_sessions = file.max_sessions.unwrap_or(1000);
    if !(1..=1_000_000).contains(&max_sessions) {
        bail!("[console] max_sessions must be between 1 and 1000000");
    }
    let embedded = !matches!(meta, MetaBackend::Postgres { .. });
    Ok(holdfast_console::ConsoleSettings {
        enabled: flag.or(file.enabled).unwrap_or(embedded),
        idle: Duration::from_secs_f64(idle),
        max_sessions,
    })
}

/// `[sosapi]`. The recommendations become `system.xml`'s `SystemRecommendations` (left out
/// when none is set, as Veeam asks by default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SosapiFileConfig {
    /// Serve `system.xml` and `capacity.xml` in every bucket without a setting of its own
    /// (`holdfast admin sosapi enable|disable BUCKET`). Default false.
    pub enabled: Option<bool>,
    /// `ModelName` (default "Holdfast <version>").
    pub model_name: Option<String>,
    pub s3_concurrent_task_limit: Option<u64>,
    pub s3_multi_object_delete_limit: Option<u64>,
    pub storage_current_tasks_limit: Option<u64>,
    /// Veeam block size in KB: 256, 512, 1024, 4096 or 8192.
    pub kb_block_size: Option<u64>,
}

/// `[sosapi]` checked against the ranges Veeam's document gives.
fn sosapi_settings(file: Option<SosapiFileConfig>) -> anyhow::Result<holdfast_api::SosapiConfig> {
    let f = file.unwrap_or_default();
    if f.s3_concurrent_task_limit == Some(0) {
        bail!("[sosapi] s3_concurrent_task_limit must be at least 1");
    }
    if f.s3_multi_object_delete_limit.is_some_and(|n| !(1..=1000).contains(&n)) {
        bail!("[sosapi] s3_multi_object_delete_limit must be between 1 and 1000");
    }
    if f.kb_block_size.is_some_and(|n| ![256, 512, 1024, 4096, 8192].contains(&n)) {
        bail!("[sosapi] kb_block_size must be 256, 512, 1024, 4096 or 8192");
    }
    let model_name = f.model_name.unwrap_or_else(|| format!("Holdfast {}", env!("CARGO_PKG_VERSION")));
    if model_name.is_empty() || model_name.contains('"') || model_name.chars().any(char::is_control) {
        bail!("[sosapi] model_name must be non-empty text without quotes or control characters");
    }
    Ok(holdfast_api::SosapiConfig {
        enabled: f.enabled.unwrap_or(false),
        model_name,
        s3_concurrent_task_limit: f.s3_concurrent_task_limit,
        s3_multi_object_delete_limit: f.s3_multi_object_delete_limit,
        storage_current_tasks_limit: f.storage_current_tasks_limit,
        kb_block_size: f.kb_block_size,
    })
}

/// `[tls]`. HTTPS is on when `cert` and `key` are set (here, or `--tls-cert` / `--tls-key`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFileConfig {
    /// PEM certificate chain: the server's certificate first, then intermediates.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// Seconds between two checks of the files for a renewed certificate (default 10).
    pub reload_secs: Option<f64>,
}

/// `[metrics]`. By default `/_holdfast/metrics` names no bucket.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsFileConfig {
    /// Per-bucket series (bucket names, lock counts, retention dates) for every scraper.
    pub per_bucket: Option<bool>,
    /// Per-bucket series for scrapers sending `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Seconds between two computations of the lock gauges (default 30).
    pub lock_refresh_secs: Option<f64>,
}

/// `[notify]` (the file's key): the event targets bucket notification configurations may
/// name, and how failed deliveries are retried.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTargetsConfig {
    /// `[notify.webhook.<id>] endpoint = "http://..."`; ARN `arn:holdfast:sqs::<id>:webhook`.
    #[serde(default)]
    pub webhook: std::collections::BTreeMap<String, WebhookConfig>,
    /// First retry delay after a failed delivery, in milliseconds (default 1000); it doubles
    /// with every failure up to `retry_max_ms` (default 300000).
    pub retry_min_ms: Option<u64>,
    pub retry_max_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub endpoint: String,
}

/// `[replication]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationFileConfig {
    /// `[replication.target.<id>]`: a remote S3 endpoint, named in destination ARNs as
    /// `arn:holdfast:s3:<id>::<bucket>`.
    #[serde(default)]
    pub target: std::collections::BTreeMap<String, ReplicationTargetConfig>,
    /// First retry delay after a failed delivery, in milliseconds (default 1000); it doubles
    /// with every failure up to `retry_max_ms` (default 300000).
    pub retry_min_ms: Option<u64>,
    pub retry_max_ms: Option<u64>,
    /// How often an empty queue is polled, in milliseconds (default 250).
    pub poll_ms: Option<u64>,
    /// How long a claimed item is withheld from other workers, in milliseconds (default
    /// 60000): after a crash, what was being delivered is handed out again this much later.
    pub lease_ms: Option<u64>,
    /// A new version larger than this many bytes goes to a foreign S3 target (`kind = "s3"`)
    /// as a multipart upload (default 64 MiB)...
    pub multipart_threshold: Option<u64>,
    /// ...of parts of this many bytes (default 16 MiB, at least 5 MiB as S3 requires).
    pub multipart_part_size: Option<u64>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationTargetConfig {
    /// `holdfast` (the default): another Holdfast, which keeps version ids; `s3`: any S3
    /// endpoint (AWS, MinIO, Ceph, a Holdfast used as one), reached with AWS's plain API.
    pub kind: Option<String>,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: Option<String>,
    /// `https://` endpoints: the PEM file of the CA(s) their certificate is checked against
    /// (default: the system's CA bundle).
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for ReplicationTargetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicationTargetConfig")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret_key", &"********")
            .field("region", &self.region)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// `[lifecycle]`. Both values exist to make tests fast; production keeps the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleFileConfig {
    /// Length of a lifecycle "day" in seconds (default 86400). TEST SETTING.
    pub day_seconds: Option<f64>,
    /// Seconds between two lifecycle passes (default 3600). TEST SETTING when shortened.
    pub interval_seconds: Option<f64>,
}

/// `[inventory]`. The values exist to make tests fast; production keeps the defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryFileConfig {
    /// Length of an inventory "day" (the Daily period; Weekly is seven) in seconds
    /// (default 86400). TEST SETTING.
    pub day_seconds: Option<f64>,
    /// Rows in one data file of a report (default 100000). TEST SETTING: small values make
    /// many small files.
    pub rows_per_file: Option<usize>,
}

/// `[[accounts]]`: another account with its own root keys; it owns the buckets it creates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub name: String,
    pub access_key: String,
    pub secret_key: String,
}

/// `[meta]`: where metadata lives.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaFileConfig {
    /// `sqlite` (embedded, the default) or `postgres` (several gateways share it).
    pub backend: Option<String>,
    /// `postgres://user:password@host:port/database` (also `HOLDFAST_META_URL`).
    pub url: Option<String>,
    /// Connections each gateway keeps to PostgreSQL (default 16).
    pub pool_size: Option<usize>,
    /// With PostgreSQL, blob files and temporaries younger than this that no record names
    /// are left alone (another gateway may be writing them); default 3600 s.
    pub orphan_grace_secs: Option<u64>,
    /// PEM file of the CA that signed PostgreSQL's certificate, for `sslmode=verify-ca`,
    /// `verify-full` (and `require`, which then checks the chain) when the URL names no
    /// `sslrootcert`.
    pub ca_file: Option<PathBuf>,
}

/// The metadata store a server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaBackend {
    /// SQLite in the data dir; one process owns the data dir.
    Sqlite,
    /// PostgreSQL shared by several gateways, which also share the data dir's blobs.
    Postgres { url: String, pool_size: usize, orphan_grace_secs: u64, ca_file: Option<PathBuf> },
}

impl MetaBackend {
    /// Why a store this build left out cannot be opened, naming the cargo feature that
    /// builds it in (both are on by default).
    #[cfg(not(all(feature = "sqlite", feature = "postgres")))]
    pub fn compiled_out(&self) -> anyhow::Error {
        let feature = match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        };
        anyhow::anyhow!(
            "the metadata backend `{feature}` is not built into this holdfast: build it with the cargo feature \
             `{feature}` (it is on by default; `cargo build --features {feature}`)"
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest single PUT or part body in bytes (default 5 GiB).
    pub max_put_size: Option<u64>,
    /// Smallest multipart part other than the last, in bytes (default 5 MiB).
    pub min_part_size: Option<u64>,
    /// Largest aws-chunked chunk accepted, in bytes (default 16 MiB).
    pub max_chunk_size: Option<u64>,
    /// Largest object kept inline in the embedded metadata database, in bytes (default
    /// 64 KiB, at most 1 MiB; 0 keeps every object in a blob file). Ignored on PostgreSQL.
    pub inline_max_size: Option<u64>,
    /// Free space kept on the data volume, in bytes: below it new data is refused with 507
    /// InsufficientStorage (default 5% of the volume, at most 1 GiB, at least 16 MiB; 0: no
    /// reserve).
    pub min_free_bytes: Option<u64>,
    /// Seconds a connection may stay without a request in flight and without a byte read or
    /// written, counted from accept (default 60).
    pub idle_secs: Option<u64>,
    /// Seconds a client may take to send a request's headers, from their first byte (default 30).
    pub header_secs: Option<u64>,
    /// Seconds a request body may go without a byte before 400 RequestTimeout (default 20).
    pub body_idle_secs: Option<u64>,
    /// Open connections at most (default derived from the open-files limit).
    pub max_connections: Option<usize>,
}

/// The effective settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub base_domain: Option<String>,
    pub aws_strict: bool,
    pub log: String,
    pub log_format: LogFormat,
    pub max_put_size: u64,
    pub min_part_size: u64,
    pub max_chunk_size: u64,
    pub inline_max_size: u64,
    /// `[limits] min_free_bytes`; `None`: the default for the data volume, read at start.
    pub min_free_bytes: Option<u64>,
    /// Connection timeouts and the connection cap.
    pub connections: crate::connections::ConnectionSettings,
    pub meta: MetaBackend,
    pub accounts: Vec<AccountConfig>,
    /// Webhook targets, in id order.
    pub webhooks: Vec<holdfast_events::WebhookTarget>,
    pub event_retry_min: Duration,
    pub event_retry_max: Duration,
    /// A lifecycle day in milliseconds.
    pub lifecycle_day_ms: i64,
    pub lifecycle_interval: Duration,
    /// An inventory day in milliseconds.
    pub inventory_day_ms: i64,
    /// Rows in one data file of an inventory report.
    pub inventory_rows_per_file: usize,
    /// Where the audit trail's head is anchored; `None` when not configured.
    pub anchor: Option<crate::anchor::AnchorSettings>,
    /// Who may see per-bucket metrics.
    pub metrics_access: crate::metrics_view::MetricsAccess,
    /// How often the lock gauges are recomputed.
    pub lock_gauges_refresh: Duration,
    /// The remote replication targets (`[replication.target.<id>]`).
    pub replication_targets: std::collections::BTreeMap<String, ReplicationTargetConfig>,
    /// The replication worker's timing.
    pub replication: holdfast_engine::replication::ReplicationSettings,
    /// When a replica goes to a foreign S3 target as a multipart upload.
    pub replication_multipart: crate::replication_remote::Multipart,
    /// HTTPS; `None`: plain HTTP.
    pub tls: Option<crate::tls::TlsSettings>,
    /// `[sosapi]`.
    pub sosapi: holdfast_api::SosapiConfig,
    /// `[console]`.
    pub console: holdfast_console::ConsoleSettings,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines; colours only when stderr is a terminal.
    Text,
    /// One JSON object per line, every field at the top level.
    Json,
}

fn log_format(env: Option<String>, file: Option<String>) -> anyhow::Result<LogFormat> {
    let (value, from) = match (env.filter(|v| !v.is_empty()), file) {
        (Some(v), _) => (v, "HOLDFAST_LOG_FORMAT"),
        (None, Some(v)) => (v, "log_format"),
        (None, None) => return Ok(LogFormat::Text),
    };
    match value.to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => bail!("{from} = {value:?}: expected \"text\" or \"json\""),
    }
}

/// Values from the command line or environment (clap resolves that precedence).
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub region: Option<String>,
    pub base_domain: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `--console` / `HOLDFAST_CONSOLE`.
    pub console: Option<bool>,
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

fn meta_backend(file: Option<MetaFileConfig>, env_url: Option<String>) -> anyhow::Result<MetaBackend> {
    let file = file.unwrap_or_default();
    let url = env_url.filter(|u| !u.is_empty()).or(file.url);
    let backend = match file.backend.as_deref() {
        Some(b) => b.to_ascii_lowercase(),
        None if url.is_some() => "postgres".into(),
        None => "sqlite".into(),
    };
    match backend.as_str() {
        "sqlite" if url.is_some() || file.ca_file.is_some() => {
            bail!("[meta] backend = \"sqlite\" takes no url nor ca_file (HOLDFAST_META_URL is for PostgreSQL)")
        }
        "sqlite" => Ok(MetaBackend::Sqlite),
        "postgres" | "postgresql" => {
            let Some(url) = url else {
                bail!("[meta] backend = \"postgres\" needs url = \"postgres://...\" (or HOLDFAST_META_URL)")
            };
            Ok(MetaBackend::Postgres {
                url,
                pool_size: file.pool_size.unwrap_or(16).max(1),
                orphan_grace_secs: file.orphan_grace_secs.unwrap_or(3600),
                ca_file: file.ca_file,
            })
        }
        other => bail!("unknown [meta] backend {other:?} (expected \"sqlite\" or \"postgres\")"),
    }
}

/// HTTPS from the command line / environment over `[tls]`; a certificate without a key (or
/// the reverse) is refused rather than served as plain HTTP.
fn tls_settings(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    file: Option<TlsFileConfig>,
) -> anyhow::Result<Option<crate::tls::TlsSettings>> {
    let file = file.unwrap_or_default();
    let cert = cert.or(file.cert).filter(|p| !p.as_os_str().is_empty());
    let key = key.or(file.key).filter(|p| !p.as_os_str().is_empty());
    let reload = file.reload_secs.unwrap_or(10.0);
    if !(reload.is_finite() && reload >= 0.1) {
        bail!("[tls] reload_secs must be a number of seconds, at least 0.1");
    }
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            Ok(Some(crate::tls::TlsSettings { cert, key, reload_every: Duration::from_secs_f64(reload) }))
        }
        (Some(_), None) => bail!("a TLS certificate is set but no key (--tls-key, HOLDFAST_TLS_KEY or [tls] key)"),
        (None, Some(_)) => bail!("a TLS key is set but no certificate (--tls-cert, HOLDFAST_TLS_CERT or [tls] cert)"),
    }
}

/// `[limits]`' connection settings; a timeout of 0 s would close every connection at once.
fn connection_settings(limits: &LimitsConfig) -> anyhow::Result<crate::connections::ConnectionSettings> {
    let secs = |name: &str, v: Option<u64>, default: u64| -> anyhow::Result<Duration> {
        match v.unwrap_or(default) {
            0 => bail!("[limits] {name} must be at least 1 second"),
            n => Ok(Duration::from_secs(n)),
        }
    };
    if limits.max_connections == Some(0) {
        bail!("[limits] max_connections must be at least 1");
    }
    Ok(crate::connections::ConnectionSettings {
        idle: secs("idle_secs", limits.idle_secs, 60)?,
        header: secs("header_secs", limits.header_secs, 30)?,
        body_idle: secs("body_idle_secs", limits.body_idle_secs, 20)?,
        max_connections: limits.max_connections,
    })
}

impl Config {
    pub fn load(o: Overrides) -> anyhow::Result<Self> {
        let file = match &o.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        let limits = file.limits.unwrap_or_default();
        let meta = meta_backend(file.meta, std::env::var("HOLDFAST_META_URL").ok())?;
        let listen = o.listen.or(file.listen).unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr =
            listen.parse().with_context(|| format!("invalid listen address {listen:?} (expected IP:PORT)"))?;
        let event_targets = file.notify.unwrap_or_default();
        let webhooks: Vec<holdfast_events::WebhookTarget> = event_targets
            .webhook
            .into_iter()
            .map(|(id, w)| holdfast_events::WebhookTarget { id, endpoint: w.endpoint })
            .collect();
        // Refuse a bad endpoint or id at start, not at the first delivery.
        holdfast_events::Targets::new(&webhooks).map_err(|e| anyhow::anyhow!("[notify.webhook]: {e}"))?;
        let retry_min = Duration::from_millis(event_targets.retry_min_ms.unwrap_or(1000).max(1));
        let retry_max = Duration::from_millis(event_targets.retry_max_ms.unwrap_or(300_000)).max(retry_min);
        let lifecycle = file.lifecycle.unwrap_or_default();
        let seconds = |name: &str, v: Option<f64>, default: f64| -> anyhow::Result<f64> {
            let v = v.unwrap_or(default);
            if !(v.is_finite() && v >= 0.001) {
                bail!("[lifecycle] {name} must be a positive number of seconds");
            }
            Ok(v)
        };
        let day = seconds("day_seconds", lifecycle.day_seconds, 86_400.0)?;
        let interval = seconds("interval_seconds", lifecycle.interval_seconds, 3600.0)?;
        let inventory = file.inventory.unwrap_or_default();
        let inventory_day = inventory.day_seconds.unwrap_or(86_400.0);
        if !(inventory_day.is_finite() && inventory_day >= 0.001) {
            bail!("[inventory] day_seconds must be a positive number of seconds");
        }
        let inventory_rows_per_file = inventory.rows_per_file.unwrap_or(holdfast_engine::inventory::ROWS_PER_FILE);
        if inventory_rows_per_file == 0 {
            bail!("[inventory] rows_per_file must be at least 1");
        }
        let metrics = file.metrics.unwrap_or_default();
        let metrics_access = crate::metrics_view::MetricsAccess {
            per_bucket: metrics.per_bucket.unwrap_or(false),
            token: metrics.token.map(crate::metrics_view::MetricsToken::new).transpose().map_err(anyhow::Error::msg)?,
        };
        let lock_refresh = metrics.lock_refresh_secs.unwrap_or(30.0);
        if !(lock_refresh.is_finite() && lock_refresh >= 0.05) {
            bail!("[metrics] lock_refresh_secs must be a number of seconds, at least 0.05");
        }
        let replication = file.replication.unwrap_or_default();
        for (id, t) in &replication.target {
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                bail!("[replication.target.{id}]: use letters, digits, '-' and '_' in a target id");
            }
            crate::replication_remote::foreign_kind(t.kind.as_deref())
                .with_context(|| format!("[replication.target.{id}]"))?;
            let (_, https) = crate::replication_remote::authority(&t.endpoint)
                .with_context(|| format!("[replication.target.{id}]"))?;
            if t.ca_file.is_some() && !https {
                bail!("[replication.target.{id}] ca_file is for https:// endpoints");
            }
            if t.access_key.is_empty() || t.secret_key.is_empty() || t.region.as_ref().is_some_and(String::is_empty) {
                bail!(
                    "[replication.target.{id}] needs access_key and secret_key (and a region, when given, that is not empty)"
                );
            }
        }
        let defaults = crate::replication_remote::Multipart::default();
        let replication_multipart = crate::replication_remote::Multipart {
            threshold: replication.multipart_threshold.unwrap_or(defaults.threshold),
            part_size: replication.multipart_part_size.unwrap_or(defaults.part_size),
        };
        if !(5 << 20..=5 << 30).contains(&replication_multipart.part_size) {
            bail!("[replication] multipart_part_size must be between 5 MiB and 5 GiB (S3's part sizes)");
        }
        if replication_multipart.threshold > 5 << 30 {
            bail!("[replication] multipart_threshold must be at most 5 GiB (S3's largest PUT)");
        }
        let repl_min = Duration::from_millis(replication.retry_min_ms.unwrap_or(1000).max(1));
        let repl_settings = holdfast_engine::replication::ReplicationSettings {
            retry_min: repl_min,
            retry_max: Duration::from_millis(replication.retry_max_ms.unwrap_or(300_000)).max(repl_min),
            poll: Duration::from_millis(replication.poll_ms.unwrap_or(250).max(1)),
            lease: Duration::from_millis(replication.lease_ms.unwrap_or(60_000).max(100)),
            ..Default::default()
        };
        let region = o.region.or(file.region).unwrap_or_else(|| DEFAULT_REGION.into());
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            bail!("invalid region {region:?}");
        }
        let console = console_settings(o.console, file.console, &meta)?;
        Ok(Self {
            listen,
            data_dir: o.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            region,
            base_domain: o.base_domain.or(file.base_domain).filter(|d| !d.is_empty()),
            aws_strict: file.aws_strict.unwrap_or(false),
            log: file.log.unwrap_or_else(|| "info".into()),
            log_format: log_format(std::env::var("HOLDFAST_LOG_FORMAT").ok(), file.log_format)?,
            max_put_size: limits.max_put_size.unwrap_or(5 << 30),
            min_part_size: limits.min_part_size.unwrap_or(5 << 20),
            max_chunk_size: limits.max_chunk_size.unwrap_or(16 << 20),
            inline_max_size: match limits.inline_max_size {
                Some(n) if n > 1 << 20 => bail!("[limits] inline_max_size is at most 1048576 (1 MiB), not {n}"),
                Some(n) => n,
                None => holdfast_engine::DEFAULT_INLINE_MAX,
            },
            min_free_bytes: limits.min_free_bytes,
            connections: connection_settings(&limits)?,
            accounts: file.accounts,
            meta,
            webhooks,
            event_retry_min: retry_min,
            event_retry_max: retry_max,
            lifecycle_day_ms: (day * 1000.0).round() as i64,
            lifecycle_interval: Duration::from_secs_f64(interval),
            inventory_day_ms: (inventory_day * 1000.0).round() as i64,
            inventory_rows_per_file,
            sosapi: sosapi_settings(file.sosapi)?,
            console,
            anchor: crate::anchor::AnchorSettings::from_file(file.audit.unwrap_or_default())?,
            metrics_access,
            lock_gauges_refresh: Duration::from_secs_f64(lock_refresh),
            replication_targets: replication.target,
            replication: repl_settings,
            replication_multipart,
            tls: tls_settings(o.tls_cert, o.tls_key, file.tls)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_beats_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("holdfast-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:7000\"\nregion = \"eu-west-1\"\n[limits]\nmin_part_size = 1024\n")
            .unwrap();
        let c = Config::load(Overrides {
            listen: Some("127.0.0.1:7001".into()),
            config: Some(file.clone()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.listen.port(), 7001);
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.min_part_size, 1024);
        assert_eq!(c.data_dir, PathBuf::from("./holdfast-data"));
        assert_eq!(c.connections.body_idle, Duration::from_secs(20));
        assert_eq!((c.connections.idle, c.connections.header), (Duration::from_secs(60), Duration::from_secs(30)));
        assert_eq!(c.connections.max_connections, None, "derived from the open-files limit at start");
        std::fs::write(&file, "[limits]\nidle_secs = 2\nheader_secs = 3\nbody_idle_secs = 4\nmax_connections = 5\n")
            .unwrap();
        let c = Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).unwrap();
        assert_eq!(c.connections.idle, Duration::from_secs(2));
        assert_eq!(c.connections.header, Duration::from_secs(3));
        assert_eq!(c.connections.body_idle, Duration::from_secs(4));
        assert_eq!(c.connections.max_connections, Some(5));
        std::fs::write(&file, "[limits]\nbody_idle_secs = 0\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).is_err());
        std::fs::write(&file, "listen = 5\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).is_err());
        std::fs::write(&file, "unknown_key = 1\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file), ..Default::default() }).is_err());
        assert!(Config::load(Overrides { listen: Some("nonsense".into()), ..Default::default() }).is_err());
    }

    #[test]
    fn notify_and_lifecycle_sections() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[notify.webhook.ops]\nendpoint = \"http://127.0.0.1:8080/hook\"\n[lifecycle]\nday_seconds = 2\ninterval_seconds = 0.5\n",
        )
        .unwrap();
        let c = Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).unwrap();
        assert_eq!(c.webhooks.len(), 1);
        assert_eq!(c.webhooks[0].id, "ops");
        assert_eq!(c.lifecycle_day_ms, 2000);
        assert_eq!(c.lifecycle_interval, Duration::from_millis(500));
        let d = Config::load(Overrides::default()).unwrap();
        assert_eq!((d.lifecycle_day_ms, d.lifecycle_interval), (86_400_000, Duration::from_secs(3600)));
        std::fs::write(&file, "[notify.webhook.ops]\nendpoint = \"https://x/\"\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).is_err());
        std::fs::write(&file, "[lifecycle]\nday_seconds = 0\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).is_err());
        assert_eq!(d.inventory_day_ms, 86_400_000);
        std::fs::write(&file, "[inventory]\nday_seconds = 1.5\n").unwrap();
        let c = Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).unwrap();
        assert_eq!(c.inventory_day_ms, 1500);
        std::fs::write(&file, "[inventory]\nday_seconds = -1\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).is_err());
        assert_eq!(d.inventory_rows_per_file, 100_000);
        std::fs::write(&file, "[inventory]\nrows_per_file = 4\n").unwrap();
        let c = Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).unwrap();
        assert_eq!(c.inventory_rows_per_file, 4);
        std::fs::write(&file, "[inventory]\nrows_per_file = 0\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file), ..Default::default() }).is_err());
    }

    #[test]
    fn min_free_bytes_from_limits() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[limits]\nmin_free_bytes = 8388608\n").unwrap();
        let c = Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).unwrap();
        assert_eq!(c.min_free_bytes, Some(8 << 20));
        let d = Config::load(Overrides::default()).unwrap();
        assert_eq!(d.min_free_bytes, None, "unset: the default for the data volume, read at start");
    }

    #[test]
    fn metrics_section() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load(Overrides { config: Some(file.clone()), ..Default::default() })
        };
        let d = Config::load(Overrides::default()).unwrap();
        assert!(!d.metrics_access.per_bucket && d.metrics_access.token.is_none(), "no bucket names by default");
        assert_eq!(d.lock_gauges_refresh, Duration::from_secs(30));
        let c = load("[metrics]\nper_bucket = true\ntoken = \"0123456789abcdef\"\nlock_refresh_secs = 0.5\n").unwrap();
        assert!(c.metrics_access.per_bucket && c.metrics_access.token.is_some());
        assert_eq!(c.lock_gauges_refresh, Duration::from_millis(500));
        assert!(!format!("{c:?}").contains("0123456789abcdef"), "the token is never printed");
        assert!(load("[metrics]\ntoken = \"short\"\n").is_err());
        assert!(load("[metrics]\nlock_refresh_secs = 0\n").is_err());
        assert!(load("[metrics]\nper_bucket = 1\n").is_err());
    }

    #[test]
    fn tls_from_command_line_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[tls]\ncert = \"/f/cert.pem\"\nkey = \"/f/key.pem\"\nreload_secs = 2\n").unwrap();
        let c = Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).unwrap();
        let tls = c.tls.unwrap();
        assert_eq!((tls.cert, tls.key), (PathBuf::from("/f/cert.pem"), PathBuf::from("/f/key.pem")));
        assert_eq!(tls.reload_every, Duration::from_secs(2));
        let c = Config::load(Overrides {
            config: Some(file.clone()),
            tls_cert: Some("/cli/cert.pem".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.tls.unwrap().cert, PathBuf::from("/cli/cert.pem"), "the command line beats the file");
        assert!(Config::load(Overrides::default()).unwrap().tls.is_none(), "plain HTTP by default");
        let err = Config::load(Overrides { tls_cert: Some("/c.pem".into()), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("no key"), "{err}");
        std::fs::write(&file, "[tls]\nkey = \"/k.pem\"\n").unwrap();
        let err = Config::load(Overrides { config: Some(file.clone()), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
        std::fs::write(&file, "[tls]\ncert = \"/c\"\nkey = \"/k\"\nreload_secs = 0\n").unwrap();
        assert!(Config::load(Overrides { config: Some(file), ..Default::default() }).is_err());
    }

    #[test]
    fn meta_backend_from_file_or_environment() {
        let toml = |s: &str| -> MetaFileConfig { toml::from_str(s).unwrap() };
        assert_eq!(meta_backend(None, None).unwrap(), MetaBackend::Sqlite);
        let pg = MetaBackend::Postgres {
            url: "postgres://h/db".into(),
            pool_size: 16,
            orphan_grace_secs: 3600,
            ca_file: None,
        };
        assert_eq!(meta_backend(Some(toml("backend = \"postgres\"\nurl = \"postgres://h/db\"")), None).unwrap(), pg);
        assert_eq!(meta_backend(None, Some("postgres://h/db".into())).unwrap(), pg, "the URL implies PostgreSQL");
        let over =
            meta_backend(Some(toml("url = \"postgres://file/db\"\npool_size = 4")), Some("postgres://h/db".into()));
        assert_eq!(
            over.unwrap(),
            MetaBackend::Postgres {
                url: "postgres://h/db".into(),
                pool_size: 4,
                orphan_grace_secs: 3600,
                ca_file: None
            },
            "environment beats file"
        );
        assert!(meta_backend(Some(toml("backend = \"postgres\"")), None).is_err(), "no URL");
        assert!(meta_backend(Some(toml("backend = \"sqlite\"")), Some("postgres://h/db".into())).is_err());
        assert!(meta_backend(Some(toml("backend = \"mysql\"")), None).is_err());
    }
}
