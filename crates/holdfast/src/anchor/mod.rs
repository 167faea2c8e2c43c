//! Anchoring the audit trail: the head of this process's trail — the last
//! record's number and hash — is written as an object under COMPLIANCE retention, every
//! `anchor_interval_secs` when it changed and once more at shutdown, into `[audit]
//! anchor_bucket` on this server ([`local`]) or on a remote S3 endpoint ([`remote`]).
//! `holdfast admin audit verify` reads them back ([`read_anchors`]) and compares them with
//! the trail (`holdfast_audit::check_anchors`).

mod local;
pub(crate) mod remote;

use anyhow::{Context, bail};
use holdfast_audit::{Anchor, AuditLog, anchor_key, read_head};
use holdfast_engine::Engine;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Default key prefix of the anchors.
pub const DEFAULT_PREFIX: &str = "holdfast-audit-anchors";
/// Default time between two anchors (when the trail changed).
pub const DEFAULT_INTERVAL_SECS: f64 = 300.0;
/// Default COMPLIANCE retention of an anchor.
pub const DEFAULT_RETENTION_DAYS: i64 = 365;
/// Longest the shutdown anchor may delay the exit.
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(20);

/// A remote S3 endpoint for the anchors.
#[derive(Clone)]
pub struct RemoteSettings {
    /// `host:port`.
    pub authority: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

impl std::fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSettings")
            .field("authority", &self.authority)
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// `[audit]` of the configuration file, as written: the anchor keys. Anchoring is on when
/// `anchor_bucket` is set; [`AnchorSettings::from_file`] checks them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditFileConfig {
    /// A bucket with Object Lock enabled that receives the anchors.
    pub anchor_bucket: Option<String>,
    /// Key prefix of the anchors in that bucket (default `holdfast-audit-anchors`).
    pub anchor_prefix: Option<String>,
    /// Seconds between two anchors when the trail changed (default 300).
    pub anchor_interval_secs: Option<f64>,
    /// COMPLIANCE retention of each anchor, in days (default 365).
    pub anchor_retention_days: Option<i64>,
    /// A remote S3 endpoint (`http://host:port`); absent: the bucket is on this server.
    pub anchor_endpoint: Option<String>,
    pub anchor_access_key: Option<String>,
    pub anchor_secret_key: Option<String>,
    /// Region the remote endpoint expects in signatures (default `us-east-1`).
    pub anchor_region: Option<String>,
}

/// `[audit] anchor_*`, checked.
#[derive(Debug, Clone)]
pub struct AnchorSettings {
    pub bucket: String,
    pub prefix: String,
    pub interval: Duration,
    pub retention_days: i64,
    /// `None`: the bucket is on this server.
    pub remote: Option<RemoteSettings>,
}

impl AnchorSettings {
    /// `None` when `anchor_bucket` is not set (and no other anchor key is).
    pub fn from_file(f: AuditFileConfig) -> anyhow::Result<Option<Self>> {
        let Some(bucket) = f.anchor_bucket.filter(|b| !b.is_empty()) else {
            if f.anchor_endpoint.is_some() || f.anchor_prefix.is_some() || f.anchor_access_key.is_some() {
                bail!("[audit] anchor_* settings need anchor_bucket");
            }
            return Ok(None);
        };
        if !(3..=63).contains(&bucket.len())
            || !bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            bail!("[audit] anchor_bucket {bucket:?} is not a valid bucket name");
        }
        let interval = f.anchor_interval_secs.unwrap_or(DEFAULT_INTERVAL_SECS);
        if !(interval.is_finite() && interval >= 0.1) {
            bail!("[audit] anchor_interval_secs must be at least 0.1 seconds");
        }
        let retention_days = f.anchor_retention_days.unwrap_or(DEFAULT_RETENTION_DAYS);
        if !(1..=36_500).contains(&retention_days) {
            bail!("[audit] anchor_retention_days must be between 1 and 36500");
        }
        let remote = match (f.anchor_endpoint, f.anchor_access_key, f.anchor_secret_key) {
            (None, None, None) => None,
            (Some(endpoint), Some(access_key), Some(secret_key)) => Some(RemoteSettings {
                authority: remote::parse_endpoint(&endpoint)?,
                access_key,
                secret_key,
                region: f.anchor_region.unwrap_or_else(|| "us-east-1".into()),
            }),
            (None, _, _) => bail!("[audit] anchor_access_key and anchor_secret_key are for anchor_endpoint"),
            (Some(_), _, _) => bail!("[audit] anchor_endpoint needs anchor_access_key and anchor_secret_key"),
        };
        let prefix = f.anchor_prefix.unwrap_or_else(|| DEFAULT_PREFIX.into()).trim_matches('/').to_owned();
        Ok(Some(Self { bucket, prefix, interval: Duration::from_secs_f64(interval), retention_days, remote }))
    }

    /// Where the anchors are, for messages.
    pub fn location(&self) -> String {
        match &self.remote {
            None => format!("bucket {} on this server, prefix {}/", self.bucket, self.prefix),
            Some(r) => format!("bucket {} at http://{}, prefix {}/", self.bucket, r.authority, self.prefix),
        }
    }
}

/// Where anchors are written and read.
pub enum AnchorTarget {
    Local(Arc<Engine>),
    Remote(remote::RemoteS3),
}

impl AnchorTarget {
    pub fn new(settings: &AnchorSettings, engine: Option<Arc<Engine>>) -> anyhow::Result<Self> {
        match (&settings.remote, engine) {
            (Some(r), _) => {
                Ok(Self::Remote(remote::RemoteS3::new(&r.authority, &r.access_key, &r.secret_key, &r.region)))
            }
            (None, Some(engine)) => Ok(Self::Local(engine)),
            (None, None) => bail!("the anchors are on this server, but its store is not open"),
        }
    }

    async fn check_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        match self {
            Self::Local(engine) => local::check_bucket(engine, bucket).await.map(drop),
            Self::Remote(s3) => s3.check_bucket(bucket).await,
        }
    }

    async fn put(&self, settings: &AnchorSettings, key: &str, body: Vec<u8>) -> anyhow::Result<Option<String>> {
        match self {
            Self::Local(engine) => {
                local::put(engine, &settings.bucket, key, body, settings.retention_days).await.map(Some)
            }
            Self::Remote(s3) => {
                let until = holdfast_lock::UtcMillis::now_system()
                    .plus_millis(settings.retention_days.saturating_mul(86_400_000))
                    .to_iso8601();
                s3.put(&settings.bucket, key, body, &until).await
            }
        }
    }

    /// The current version of `key`, if it can be read (any failure reads as absent).
    async fn get_latest(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        match self {
            Self::Local(engine) => local::get_latest(engine, bucket, key).await.ok(),
            Self::Remote(s3) => s3.get_latest(bucket, key).await.ok(),
        }
    }

    async fn list(&self, bucket: &str, prefix: &str) -> anyhow::Result<Vec<(String, String)>> {
        match self {
            Self::Local(engine) => local::list(engine, bucket, prefix).await,
            Self::Remote(s3) => s3.list(bucket, prefix).await,
        }
    }

    async fn get(&self, bucket: &str, key: &str, version: &str) -> anyhow::Result<Vec<u8>> {
        match self {
            Self::Local(engine) => local::get(engine, bucket, key, version).await,
            Self::Remote(s3) => s3.get(bucket, key, version).await,
        }
    }
}

/// Every anchor under the prefix, every version of every key (a key written twice — the
/// same record number anchored with two hashes — keeps both, and both are checked).
pub async fn read_anchors(target: &AnchorTarget, settings: &AnchorSettings) -> anyhow::Result<Vec<Anchor>> {
    let prefix = format!("{}/", settings.prefix);
    let mut out = Vec::new();
    for (key, version_id) in target.list(&settings.bucket, &prefix).await? {
        let bytes = target.get(&settings.bucket, &key, &version_id).await?;
        let anchor: Anchor = serde_json::from_slice(&bytes)
            .with_context(|| format!("{key} (version {version_id}) in the anchor bucket is not an anchor"))?;
        out.push(anchor);
    }
    Ok(out)
}

/// Writes this process's anchors: periodically and at shutdown.
pub struct Anchorer {
    settings: AnchorSettings,
    target: AnchorTarget,
    audit: Arc<AuditLog>,
    chain: String,
    /// (seq, hash) of the last head anchored by this process; also serialises anchoring.
    last: tokio::sync::Mutex<Option<(u64, String)>>,
}

impl Anchorer {
    pub fn new(settings: AnchorSettings, target: AnchorTarget, audit: Arc<AuditLog>, chain: String) -> Self {
        Self { settings, target, audit, chain, last: tokio::sync::Mutex::new(None) }
    }

    /// Anchors the trail's head if it changed since the last anchor; returns the anchor
    /// written, if any.
    pub async fn anchor(&self, reason: &str) -> anyhow::Result<Option<Anchor>> {
        let mut last = self.last.lock().await;
        // Only durable records are anchored: an anchor naming a record a crash could
        // still take away would later read as a truncation.
        self.audit.flush().await.context("cannot flush the audit trail")?;
        let Some(head) = read_head(self.audit.dir()).context("cannot read the audit trail's head")? else {
            return Ok(None);
        };
        if last.as_ref().is_some_and(|(seq, hash)| *seq == head.seq && *hash == head.hash) {
            return Ok(None);
        }
        // Lines appended after the first flush may be in the head just read.
        self.audit.flush().await.context("cannot flush the audit trail")?;
        let anchor =
            holdfast_audit::Anchor::of_head(&self.chain, &head, holdfast_lock::UtcMillis::now_system(), reason);
        let key = anchor_key(&self.settings.prefix, &self.chain, head.seq);
        // This head may be anchored already (by this server before a restart): keep one
        // locked object per head, not one per start.
        if let Some(bytes) = self.target.get_latest(&self.settings.bucket, &key).await
            && serde_json::from_slice::<Anchor>(&bytes).is_ok_and(|a| a.chain == self.chain && a.hash == head.hash)
        {
            *last = Some((head.seq, head.hash));
            return Ok(None);
        }
        let body = serde_json::to_vec_pretty(&anchor)?;
        let version = self.target.put(&self.settings, &key, body).await?;
        tracing::info!(
            chain = %self.chain, seq = head.seq, key = %key, version = version.as_deref().unwrap_or("-"), reason,
            "audit trail anchored"
        );
        metrics::counter!("holdfast_audit_anchors_written_total").increment(1);
        metrics::gauge!("holdfast_audit_anchored_seq").set(head.seq as f64);
        *last = Some((head.seq, head.hash));
        Ok(Some(anchor))
    }

    fn failed(&self, what: &str, e: &anyhow::Error) {
        metrics::counter!("holdfast_audit_anchor_failures_total").increment(1);
        tracing::error!(error = %format!("{e:#}"), chain = %self.chain, location = %self.settings.location(),
            "{what}; the audit trail is NOT anchored (retrying every {:?})", self.settings.interval);
    }

    /// Checks the anchor bucket at once (an error is logged and counted; the server runs
    /// on) and anchors the head if it can; then tries every interval.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = me.target.check_bucket(&me.settings.bucket).await {
                me.failed("the anchor bucket cannot take anchors", &e);
                tokio::time::sleep(me.settings.interval).await;
            }
            loop {
                if let Err(e) = me.anchor("interval").await {
                    me.failed("cannot anchor the audit trail", &e);
                }
                tokio::time::sleep(me.settings.interval).await;
            }
        })
    }

    /// The last anchor, after the trail was flushed at shutdown.
    pub async fn at_shutdown(&self) {
        match tokio::time::timeout(SHUTDOWN_BUDGET, self.anchor("shutdown")).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => self.failed("cannot write the shutdown anchor", &e),
            Err(_) => self.failed("cannot write the shutdown anchor", &anyhow::anyhow!("timed out")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> anyhow::Result<Option<AnchorSettings>> {
        AnchorSettings::from_file(toml::from_str(toml_text).expect("TOML"))
    }

    #[test]
    fn settings_defaults_and_refusals() {
        assert!(parse("").unwrap().is_none(), "no bucket: no anchoring");
        let s = parse("anchor_bucket = \"trail-anchors\"").unwrap().unwrap();
        assert_eq!((s.prefix.as_str(), s.interval, s.retention_days), (DEFAULT_PREFIX, Duration::from_secs(300), 365));
        assert!(s.remote.is_none());
        assert_eq!(s.location(), "bucket trail-anchors on this server, prefix holdfast-audit-anchors/");
        let s = parse(
            "anchor_bucket = \"a-b\"\nanchor_prefix = \"/site-a/\"\nanchor_interval_secs = 0.5\n\
             anchor_retention_days = 3650\nanchor_endpoint = \"http://10.0.0.9:9000\"\n\
             anchor_access_key = \"AK\"\nanchor_secret_key = \"SECRET\"\nanchor_region = \"eu-west-1\"",
        )
        .unwrap()
        .unwrap();
        assert_eq!((s.prefix.as_str(), s.interval), ("site-a", Duration::from_millis(500)));
        let r = s.remote.as_ref().unwrap();
        assert_eq!((r.authority.as_str(), r.region.as_str()), ("10.0.0.9:9000", "eu-west-1"));
        assert!(!format!("{s:?}").contains("SECRET"), "the secret key stays out of debug output");
        for bad in [
            "anchor_prefix = \"x\"",
            "anchor_bucket = \"Bad_Name\"",
            "anchor_bucket = \"ab\"\n",
            "anchor_bucket = \"abc\"\nanchor_interval_secs = 0",
            "anchor_bucket = \"abc\"\nanchor_retention_days = 0",
            "anchor_bucket = \"abc\"\nanchor_retention_days = 36501",
            "anchor_bucket = \"abc\"\nanchor_endpoint = \"http://h:1\"",
            "anchor_bucket = \"abc\"\nanchor_access_key = \"a\"\nanchor_secret_key = \"b\"",
            "anchor_bucket = \"abc\"\nanchor_endpoint = \"https://s3.amazonaws.com\"\nanchor_access_key = \"a\"\n\
             anchor_secret_key = \"b\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
