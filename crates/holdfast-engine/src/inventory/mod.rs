//! A bucket's inventory configurations (issue #14), one document per bucket in the
//! metadata store, and the worker that writes their CSV reports as Amazon S3 writes them
//! (docs/inventory.md).

use crate::{BodyClaims, Engine, EngineError, EngineResult, PutObject};
use futures::StreamExt as _;
use holdfast_lock::{LegalHold, LockState, Mode, UtcMillis};
use holdfast_meta::{
    Bucket, BucketConfigKind, InventoryConfig, InventoryConfigs, InventoryFormat, InventoryFrequency,
    InventoryVersions, ListQuery, MAX_INVENTORY_CONFIGS, MetaError, ObjectHeaders, VersionRecord, VersionSelector,
    WriteConditions,
};
use md5::Digest as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// Attempts of a change that other writers keep overtaking before it gives up.
const ATTEMPTS: usize = 64;

/// What a change to the configurations did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryChange {
    Done,
    /// The bucket has [`MAX_INVENTORY_CONFIGS`] already and `id` is not one of them.
    TooMany,
    /// Delete of an id the bucket does not have.
    Missing,
}

fn parse(doc: Option<&str>) -> EngineResult<InventoryConfigs> {
    Ok(doc.map(serde_json::from_str).transpose().map_err(|e| MetaError::Internal(e.to_string()))?.unwrap_or_default())
}

impl Engine {
    /// Every inventory configuration of `bucket`, sorted by id.
    pub async fn inventory_configs(&self, bucket: &str) -> EngineResult<InventoryConfigs> {
        parse(self.meta.bucket_config(bucket, BucketConfigKind::Inventory).await?.as_deref())
    }

    /// Reads the document, lets `change` decide, and writes the result only if nobody wrote
    /// in between (compare-and-swap, so gateways sharing a store lose no change).
    async fn change_inventory(
        &self,
        bucket: &str,
        change: impl Fn(&mut InventoryConfigs) -> InventoryChange,
    ) -> EngineResult<InventoryChange> {
        for _ in 0..ATTEMPTS {
            let before = self.meta.bucket_config(bucket, BucketConfigKind::Inventory).await?;
            let mut all = parse(before.as_deref())?;
            let outcome = change(&mut all);
            if outcome != InventoryChange::Done {
                return Ok(outcome);
            }
            let doc = (!all.configs.is_empty())
                .then(|| serde_json::to_string(&all).expect("inventory configurations serialize"));
            if self.meta.swap_bucket_config(bucket, BucketConfigKind::Inventory, before, doc).await? {
                return Ok(InventoryChange::Done);
            }
        }
        Err(MetaError::Internal("inventory configuration: too many concurrent changes".into()).into())
    }

    /// Adds or replaces the configuration `config.id`.
    pub async fn put_inventory_config(&self, bucket: &str, config: InventoryConfig) -> EngineResult<InventoryChange> {
        self.change_inventory(bucket, |all| {
            if all.get(&config.id).is_none() && all.configs.len() >= MAX_INVENTORY_CONFIGS {
                return InventoryChange::TooMany;
            }
            all.upsert(config.clone());
            InventoryChange::Done
        })
        .await
    }

    /// Removes the configuration `id`.
    pub async fn delete_inventory_config(&self, bucket: &str, id: &str) -> EngineResult<InventoryChange> {
        self.change_inventory(
            bucket,
            |all| if all.remove(id) { InventoryChange::Done } else { InventoryChange::Missing },
        )
        .await
    }
}

/// The name of the inventory worker's lease in the metadata store.
pub const INVENTORY_LEASE: &str = "inventory";

/// Rows in one data file; a larger report is split into several files.
pub const ROWS_PER_FILE: usize = 100_000;

/// Versions asked for per listing page.
const PAGE: usize = 1000;

/// AWS's order of the optional fields in a CSV report (`fileSchema`).
const FIELD_ORDER: [&str; 15] = [
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
    "IsMultipartUploaded",
    "ReplicationStatus",
    "EncryptionStatus",
    "ObjectLockRetainUntilDate",
    "ObjectLockMode",
    "ObjectLockLegalHoldStatus",
    "IntelligentTieringAccessTier",
    "BucketKeyStatus",
    "ChecksumAlgorithm",
    "ObjectAccessControlList",
    "ObjectOwner",
];

/// How long an inventory "day" is. Shorter values than the default exist for tests only.
#[derive(Debug, Clone)]
pub struct InventorySettings {
    pub day_ms: i64,
}

impl Default for InventorySettings {
    fn default() -> Self {
        Self { day_ms: 86_400_000 }
    }
}

/// The optional fields of `config` in AWS's order.
fn ordered_fields(config: &InventoryConfig) -> Vec<&'static str> {
    FIELD_ORDER.iter().copied().filter(|f| config.optional_fields.iter().any(|c| c == f)).collect()
}

/// `fileSchema`: the fixed columns, then the optional ones.
pub fn file_schema(config: &InventoryConfig) -> String {
    let mut cols = vec!["Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker"];
    cols.extend(ordered_fields(config));
    cols.join(", ")
}

/// A key as AWS writes it in a CSV report: URL-encoded (unreserved characters and `/` kept,
/// a space as `+`, every other byte `%XX`), so `urllib.parse.unquote_plus` gives it back.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn quoted(out: &mut String, value: &str) {
    out.push('"');
    out.push_str(&value.replace('"', "\"\""));
    out.push('"');
}

/// One CSV row (with its line end) for `v`: every value in double quotes, as AWS writes them.
pub fn csv_row(bucket: &str, v: &VersionRecord, fields: &[&str]) -> String {
    let flag = |b: bool| if b { "true" } else { "false" };
    let vid = if v.version_id == "null" { "" } else { v.version_id.as_str() };
    let o = v.object.as_ref();
    let mut cols: Vec<String> = vec![
        bucket.to_owned(),
        encode_key(&v.key),
        vid.to_owned(),
        flag(v.is_latest).to_owned(),
        flag(o.is_none()).to_owned(),
    ];
    for f in fields {
        let value = match (*f, o) {
            ("LastModifiedDate", _) => v.last_modified.to_iso8601(),
            // A delete marker has no other field.
            (_, None) => String::new(),
            ("ObjectLockRetainUntilDate", _) => v.lock.retention.map(|r| r.until.to_iso8601()).unwrap_or_default(),
            ("ObjectLockMode", _) => match v.lock.retention.map(|r| r.mode) {
                Some(Mode::Governance) => "GOVERNANCE".into(),
                Some(Mode::Compliance) => "COMPLIANCE".into(),
                None => String::new(),
            },
            ("ObjectLockLegalHoldStatus", _) => match v.lock.legal_hold {
                Some(LegalHold::On) => "ON".into(),
                _ => "OFF".into(),
            },
            ("Size", Some(o)) => o.size.to_string(),
            ("ETag", Some(o)) => o.etag.clone(),
            ("StorageClass", Some(o)) => o.headers.storage_class.clone().unwrap_or_else(|| "STANDARD".into()),
            ("IsMultipartUploaded", Some(o)) => flag(!o.parts.is_empty()).to_owned(),
            ("EncryptionStatus", Some(_)) => "NOT-SSE".into(),
            ("ReplicationStatus", Some(_)) => v.replication.map(|r| r.as_str().to_owned()).unwrap_or_default(),
            ("ChecksumAlgorithm", Some(o)) => {
                o.checksum.as_ref().map(|c| c.algorithm.as_str().to_owned()).unwrap_or_default()
            }
            _ => String::new(),
        };
        cols.push(value);
    }
    let mut out = String::new();
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        quoted(&mut out, c);
    }
    out.push('\n');
    out
}

/// `YYYY-MM-DDTHH-MMZ`, the name of a report's folder.
pub fn report_folder(at: UtcMillis) -> String {
    let iso = at.to_iso8601();
    format!("{}-{}Z", &iso[..13], &iso[14..16])
}

/// The start of the schedule period `now` falls in.
pub fn period_start(frequency: InventoryFrequency, now: UtcMillis, day_ms: i64) -> UtcMillis {
    let period = match frequency {
        InventoryFrequency::Daily => day_ms,
        InventoryFrequency::Weekly => day_ms.saturating_mul(7),
    }
    .max(1);
    UtcMillis(now.0.div_euclid(period) * period)
}

/// `<prefix>/<source-bucket>/<config-id>`.
fn report_root(source: &str, config: &InventoryConfig) -> String {
    match config.destination_prefix.as_deref().map(|p| p.trim_end_matches('/')) {
        Some(p) if !p.is_empty() => format!("{p}/{source}/{}", config.id),
        _ => format!("{source}/{}", config.id),
    }
}

/// The inventory lease this gateway holds while it writes: renewed between two listing pages,
/// and a report is abandoned (no manifest) as soon as a renewal fails.
pub struct InventoryLease {
    pub holder: String,
    pub ttl: Duration,
    renewed: std::sync::Mutex<std::time::Instant>,
}

impl InventoryLease {
    pub fn new(holder: String, ttl: Duration) -> Self {
        Self { holder, ttl, renewed: std::sync::Mutex::new(std::time::Instant::now()) }
    }

    /// Takes or renews the lease; false when another gateway holds it or the store cannot be asked.
    pub async fn take(&self, engine: &Engine) -> bool {
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        match engine.meta.acquire_lease(INVENTORY_LEASE, &self.holder, ttl_ms).await {
            Ok(true) => {
                *self.renewed.lock().expect("lease clock") = std::time::Instant::now();
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take or renew the inventory lease");
                false
            }
        }
    }

    /// Renews the lease once a third of its time has passed since the last renewal.
    async fn keep(&self, engine: &Engine) -> EngineResult<()> {
        let due = self.renewed.lock().expect("lease clock").elapsed() >= self.ttl / 3;
        if due && !self.take(engine).await {
            return Err(MetaError::Internal("lost the inventory lease mid-report; report abandoned".into()).into());
        }
        Ok(())
    }
}

/// One data file being filled.
struct DataFile {
    gz: flate2::write::GzEncoder<Vec<u8>>,
    rows: usize,
}

impl DataFile {
    fn new() -> Self {
        Self { gz: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()), rows: 0 }
    }
}

impl Engine {
    async fn put_report_object(
        &self,
        dest: &Bucket,
        key: String,
        body: Vec<u8>,
        content_type: &str,
    ) -> EngineResult<()> {
        let len = body.len() as u64;
        let body = futures::stream::once(async move { Ok(bytes::Bytes::from(body)) }).boxed();
        let req = PutObject {
            key,
            headers: ObjectHeaders { content_type: Some(content_type.into()), ..ObjectHeaders::default() },
            body,
            claims: BodyClaims { content_length: Some(len), ..BodyClaims::none() },
            // The store applies the destination's default retention, as to any write.
            lock: LockState::default(),
            conditions: WriteConditions::default(),
        };
        self.put_object(dest, req, holdfast_meta::TagSet::new()).await?;
        Ok(())
    }

    /// Writes the data file, returns its manifest entry.
    async fn flush_data(&self, dest: &Bucket, root: &str, file: DataFile) -> EngineResult<serde_json::Value> {
        let body = file.gz.finish().map_err(|e| MetaError::Internal(format!("inventory gzip: {e}")))?;
        let key = format!("{root}/data/{}.csv.gz", uuid::Uuid::new_v4());
        let entry = serde_json::json!({
            "key": key,
            "size": body.len(),
            "MD5checksum": hex::encode(md5::Md5::digest(&body)),
        });
        self.put_report_object(dest, key, body, "application/x-gzip").await?;
        Ok(entry)
    }

    /// Writes one report of `config` for the period starting at `period`: the data files,
    /// then `manifest.json`, then `manifest.checksum`. Returns the manifest's key.
    pub async fn write_inventory_report(
        &self,
        source: &str,
        config: &InventoryConfig,
        period: UtcMillis,
        lease: Option<&InventoryLease>,
    ) -> EngineResult<String> {
        let dest = self.bucket(&config.destination_bucket).await?.ok_or(EngineError::Meta(MetaError::NoSuchBucket))?;
        let root = report_root(source, config);
        let fields = ordered_fields(config);
        let prefix = config.prefix.clone().unwrap_or_default();
        let with_replication = fields.contains(&"ReplicationStatus");
        let mut files = Vec::new();
        let mut file = DataFile::new();
        let (mut after, mut after_version) = (None, None);
        loop {
            let page = self
                .meta
                .list_versions(ListQuery {
                    bucket: source.to_owned(),
                    prefix: prefix.clone(),
                    delimiter: None,
                    after: after.take(),
                    after_version: after_version.take(),
                    max_keys: PAGE,
                })
                .await?;
            if let Some(lease) = lease {
                lease.keep(self).await?;
            }
            for v in &page.versions {
                // Current: the versions a ListObjects shows (no delete markers, no older versions).
                if config.versions == InventoryVersions::Current && (!v.is_latest || v.is_delete_marker()) {
                    continue;
                }
                let row = if with_replication && !v.is_delete_marker() {
                    // Listings do not carry the replication status; the read of GET and HEAD does.
                    let sel = VersionSelector::Id(v.version_id.clone());
                    match self.meta.version_for_read(source, &v.key, &sel, false).await {
                        Ok((read, _)) => {
                            csv_row(source, &VersionRecord { replication: read.replication, ..v.clone() }, &fields)
                        }
                        // Gone since it was listed: not in this report.
                        Err(MetaError::NoSuchKey | MetaError::NoSuchVersion) => continue,
                        Err(e) => return Err(e.into()),
                    }
                } else {
                    csv_row(source, v, &fields)
                };
                file.gz.write_all(row.as_bytes()).map_err(|e| MetaError::Internal(format!("inventory gzip: {e}")))?;
                file.rows += 1;
                if file.rows >= ROWS_PER_FILE {
                    files.push(self.flush_data(&dest, &root, std::mem::replace(&mut file, DataFile::new())).await?);
                }
            }
            if !page.truncated || page.next_marker.is_none() {
                break;
            }
            after = page.next_marker;
            after_version = page.next_version_marker;
        }
        if file.rows > 0 || files.is_empty() {
            files.push(self.flush_data(&dest, &root, file).await?);
        }
        let manifest = serde_json::json!({
            "sourceBucket": source,
            "destinationBucket": format!("arn:aws:s3:::{}", config.destination_bucket),
            "version": "2016-11-30",
            "creationTimestamp": self.clock.now().0.to_string(),
            "fileFormat": "CSV",
            "fileSchema": file_schema(config),
            "files": files,
        });
        let body = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        let checksum = hex::encode(md5::Md5::digest(&body));
        let folder = format!("{root}/{}", report_folder(period));
        let manifest_key = format!("{folder}/manifest.json");
        self.put_report_object(&dest, manifest_key.clone(), body, "application/json").await?;
        self.put_report_object(&dest, format!("{folder}/manifest.checksum"), checksum.into_bytes(), "text/plain")
            .await?;
        Ok(manifest_key)
    }

    /// Whether the report of `config` for `period` is written already (its checksum file,
    /// the last object of a report, exists).
    async fn inventory_written(&self, source: &str, config: &InventoryConfig, period: UtcMillis) -> EngineResult<bool> {
        let key = format!("{}/{}/manifest.checksum", report_root(source, config), report_folder(period));
        match self.meta.version(&config.destination_bucket, &key, &VersionSelector::Latest).await {
            Ok(v) => Ok(!v.is_delete_marker()),
            Err(MetaError::NoSuchKey | MetaError::NoSuchVersion) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One pass: every enabled CSV configuration whose current period has no report yet
    /// gets one. Returns the manifests written. With a lease, the pass renews it as it goes
    /// and stops once it is lost.
    pub async fn inventory_pass(&self, day_ms: i64, lease: Option<&InventoryLease>) -> EngineResult<Vec<String>> {
        let mut written = Vec::new();
        for bucket in self.meta.buckets().await? {
            let configs = self.inventory_configs(&bucket.name).await?;
            for config in configs.configs.iter().filter(|c| c.enabled && c.format == InventoryFormat::Csv) {
                if let Some(lease) = lease {
                    lease.keep(self).await?;
                }
                let period = period_start(config.frequency, self.clock.now(), day_ms);
                if self.inventory_written(&bucket.name, config, period).await? {
                    continue;
                }
                match self.write_inventory_report(&bucket.name, config, period, lease).await {
                    Ok(key) => {
                        metrics::counter!("holdfast_inventory_reports_total").increment(1);
                        written.push(key);
                    }
                    Err(e) => {
                        tracing::warn!(bucket = %bucket.name, id = %config.id, error = %e, "inventory report failed")
                    }
                }
            }
        }
        Ok(written)
    }

    /// Runs passes until the process ends, whenever this process holds the inventory lease
    /// (one writer per run among gateways sharing a store).
    pub fn spawn_inventory(self: &Arc<Self>, settings: InventorySettings) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        let holder = engine.lease_holder();
        tokio::spawn(async move {
            let wake = Duration::from_millis(u64::try_from(settings.day_ms / 4).unwrap_or(0).clamp(100, 60_000));
            let lease = InventoryLease::new(holder, crate::lifecycle::lease_ttl(wake));
            loop {
                let held = lease.take(&engine).await;
                if held {
                    match engine.inventory_pass(settings.day_ms, Some(&lease)).await {
                        Ok(w) if !w.is_empty() => tracing::info!(reports = ?w, "inventory reports written"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "inventory pass failed"),
                    }
                }
                tokio::time::sleep(wake).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_url_encoded_as_aws_writes_them() {
        assert_eq!(encode_key("logs/a b+c,é\"~"), "logs/a+b%2Bc%2C%C3%A9%22~");
    }

    #[test]
    fn folders_and_periods() {
        let at = UtcMillis::parse("2026-12-07T01:23:45.678Z").unwrap();
        assert_eq!(report_folder(at), "2026-12-07T01-23Z");
        let day = period_start(InventoryFrequency::Daily, at, 86_400_000);
        assert_eq!(report_folder(day), "2026-12-07T00-00Z");
        let week = period_start(InventoryFrequency::Weekly, at, 86_400_000);
        assert!(week <= day && day.0 - week.0 < 7 * 86_400_000 && week.0 % (7 * 86_400_000) == 0);
    }

    #[test]
    fn every_value_is_quoted_and_a_marker_has_only_its_date() {
        let v = VersionRecord {
            seq: 1,
            bucket: "b".into(),
            key: "k\"".into(),
            version_id: "null".into(),
            last_modified: UtcMillis(0),
            is_latest: true,
            object: None,
            lock: LockState::default(),
            replication: None,
        };
        assert_eq!(
            csv_row("b", &v, &["Size", "LastModifiedDate", "ObjectLockMode"]),
            "\"b\",\"k%22\",\"\",\"true\",\"true\",\"\",\"1970-01-01T00:00:00.000Z\",\"\"\n"
        );
    }
}
