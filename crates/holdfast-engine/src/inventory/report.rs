//! One inventory report, written as Amazon S3 writes it: the data files under `data/`, then
//! `<folder>/manifest.json`, the Hive `symlink.txt`, and `<folder>/manifest.checksum` last
//! (its presence says the report is complete). Every object goes through the destination's
//! policy as a PutObject by Amazon S3's service principal ([`ReportGate`]).

use super::InventoryLease;
use super::files::DataFile;
use super::rows::Columns;
use crate::{Engine, EngineError, EngineResult};
use holdfast_lock::UtcMillis;
use holdfast_meta::{
    Bucket, InventoryConfig, InventoryFormat, InventoryVersions, ListQuery, MetaError, VersionRecord, VersionSelector,
};
use md5::Digest as _;

/// Versions asked for per listing page.
const PAGE: usize = 1000;

/// Judges each object of a report against the destination bucket's policy, as a PutObject
/// by `s3.amazonaws.com` on behalf of the source bucket (`aws:SourceArn`,
/// `aws:SourceAccount`, `s3:x-amz-acl: bucket-owner-full-control`), set by the api.
#[async_trait::async_trait]
pub trait ReportGate: Send + Sync + 'static {
    async fn admit(&self, source: &str, destination: &str, key: &str) -> bool;
}

/// Why a report was not written.
#[derive(Debug)]
pub enum ReportFailure {
    /// The destination's policy does not allow the service principal to put `key`.
    Denied {
        key: String,
    },
    Error(EngineError),
}

impl From<EngineError> for ReportFailure {
    fn from(e: EngineError) -> Self {
        Self::Error(e)
    }
}

impl From<MetaError> for ReportFailure {
    fn from(e: MetaError) -> Self {
        Self::Error(e.into())
    }
}

impl std::fmt::Display for ReportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Denied { key } => {
                write!(f, "the destination bucket's policy does not allow s3.amazonaws.com to put {key}")
            }
            Self::Error(e) => write!(f, "{e}"),
        }
    }
}

/// `YYYY-MM-DDTHH-MMZ`, the name of a report's folder.
pub fn report_folder(at: UtcMillis) -> String {
    let iso = at.to_iso8601();
    format!("{}-{}Z", &iso[..13], &iso[14..16])
}

/// `dt=YYYY-MM-DD-HH-MM`, the Hive partition of a report.
pub fn hive_partition(at: UtcMillis) -> String {
    let iso = at.to_iso8601();
    format!("dt={}-{}-{}", &iso[..10], &iso[11..13], &iso[14..16])
}

/// `<prefix>/<source-bucket>/<config-id>`.
pub fn report_root(source: &str, config: &InventoryConfig) -> String {
    match config.destination_prefix.as_deref().map(|p| p.trim_end_matches('/')) {
        Some(p) if !p.is_empty() => format!("{p}/{source}/{}", config.id),
        _ => format!("{source}/{}", config.id),
    }
}

/// `manifest.json`, its members in the order of AWS's documented examples.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    source_bucket: &'a str,
    destination_bucket: String,
    version: &'static str,
    /// Milliseconds since the epoch, as a string.
    creation_timestamp: String,
    file_format: &'static str,
    file_schema: String,
    files: Vec<ManifestFile>,
}

#[derive(serde::Serialize)]
struct ManifestFile {
    key: String,
    size: usize,
    #[serde(rename = "MD5checksum")]
    md5_checksum: String,
}

/// The keys of one report.
struct Layout {
    root: String,
    folder: String,
    hive: String,
}

impl Layout {
    fn new(source: &str, config: &InventoryConfig, period: UtcMillis) -> Self {
        let root = report_root(source, config);
        Self {
            folder: format!("{root}/{}", report_folder(period)),
            hive: format!("{root}/hive/{}/symlink.txt", hive_partition(period)),
            root,
        }
    }

    fn data_key(&self, file: &DataFile) -> String {
        format!("{}/data/{}.{}", self.root, uuid::Uuid::new_v4(), file.extension())
    }
}

struct Writer<'a> {
    engine: &'a Engine,
    gate: &'a dyn ReportGate,
    source: &'a str,
    dest: Bucket,
}

impl Writer<'_> {
    async fn put(&self, key: String, body: Vec<u8>, content_type: &str) -> Result<(), ReportFailure> {
        if !self.gate.admit(self.source, &self.dest.name, &key).await {
            return Err(ReportFailure::Denied { key });
        }
        self.engine.put_generated_object(&self.dest, key, body, content_type).await?;
        Ok(())
    }

    /// Writes the data file, returns its manifest entry.
    async fn flush(&self, layout: &Layout, file: DataFile) -> Result<ManifestFile, ReportFailure> {
        let key = layout.data_key(&file);
        let content_type = file.content_type();
        let body = file.finish()?;
        let entry =
            ManifestFile { key: key.clone(), size: body.len(), md5_checksum: hex::encode(md5::Md5::digest(&body)) };
        self.put(key, body, content_type).await?;
        Ok(entry)
    }
}

impl Engine {
    /// Writes one report of `config` for the period starting at `period`: the data files
    /// (at most `rows_per_file` rows each), then `manifest.json`, the Hive `symlink.txt`, then
    /// `manifest.checksum`. Before anything is written, each kind of key is put to `gate`: a
    /// destination that refuses writes nothing. Returns the manifest's key.
    pub async fn write_inventory_report(
        &self,
        source: &str,
        config: &InventoryConfig,
        period: UtcMillis,
        rows_per_file: usize,
        gate: &dyn ReportGate,
        lease: Option<&InventoryLease>,
    ) -> Result<String, ReportFailure> {
        let dest = self.bucket(&config.destination_bucket).await?.ok_or(EngineError::Meta(MetaError::NoSuchBucket))?;
        let w = Writer { engine: self, gate, source, dest };
        let layout = Layout::new(source, config, period);
        let columns = Columns::of(config);
        let new_file = || DataFile::new(config.format, &columns);
        let mut file = new_file()?;
        for key in [
            layout.data_key(&file),
            format!("{}/manifest.json", layout.folder),
            layout.hive.clone(),
            format!("{}/manifest.checksum", layout.folder),
        ] {
            if !gate.admit(source, &w.dest.name, &key).await {
                return Err(ReportFailure::Denied { key });
            }
        }
        let prefix = config.prefix.clone().unwrap_or_default();
        let with_replication = columns.has("ReplicationStatus");
        let mut files = Vec::new();
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
                            columns.values(source, &VersionRecord { replication: read.replication, ..v.clone() })
                        }
                        // Gone since it was listed: not in this report.
                        Err(MetaError::NoSuchKey | MetaError::NoSuchVersion) => continue,
                        Err(e) => return Err(e.into()),
                    }
                } else {
                    columns.values(source, v)
                };
                file.push(row)?;
                if file.rows() >= rows_per_file.max(1) {
                    files.push(w.flush(&layout, std::mem::replace(&mut file, new_file()?)).await?);
                }
            }
            if !page.truncated || page.next_marker.is_none() {
                break;
            }
            after = page.next_marker;
            after_version = page.next_version_marker;
        }
        if file.rows() > 0 || files.is_empty() {
            files.push(w.flush(&layout, file).await?);
        }
        let (format, schema) = match config.format {
            InventoryFormat::Csv => ("CSV", columns.csv_schema()),
            InventoryFormat::Parquet => ("Parquet", columns.parquet_schema()),
        };
        let symlink: String = files.iter().map(|f| format!("s3://{}/{}\n", w.dest.name, f.key)).collect();
        let manifest = Manifest {
            source_bucket: source,
            destination_bucket: format!("arn:aws:s3:::{}", config.destination_bucket),
            version: "2016-11-30",
            creation_timestamp: self.clock.now().0.to_string(),
            file_format: format,
            file_schema: schema,
            files,
        };
        let body = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        let checksum = hex::encode(md5::Md5::digest(&body));
        let manifest_key = format!("{}/manifest.json", layout.folder);
        w.put(manifest_key.clone(), body, "application/json").await?;
        w.put(layout.hive.clone(), symlink.into_bytes(), "text/plain").await?;
        w.put(format!("{}/manifest.checksum", layout.folder), checksum.into_bytes(), "text/plain").await?;
        Ok(manifest_key)
    }

    /// Whether the report of `config` for `period` is written already (its checksum file,
    /// the last object of a report, exists).
    pub(super) async fn inventory_written(
        &self,
        source: &str,
        config: &InventoryConfig,
        period: UtcMillis,
    ) -> EngineResult<bool> {
        let key = format!("{}/{}/manifest.checksum", report_root(source, config), report_folder(period));
        match self.meta.version(&config.destination_bucket, &key, &VersionSelector::Latest).await {
            Ok(v) => Ok(!v.is_delete_marker()),
            Err(MetaError::NoSuchKey | MetaError::NoSuchVersion) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::period_start;
    use holdfast_meta::InventoryFrequency;

    /// The members in the order of AWS's examples (readers do not care; people comparing do).
    #[test]
    fn manifest_members_in_aws_order() {
        let m = Manifest {
            source_bucket: "s",
            destination_bucket: "arn:aws:s3:::d".into(),
            version: "2016-11-30",
            creation_timestamp: "1".into(),
            file_format: "CSV",
            file_schema: "Bucket, Key".into(),
            files: vec![ManifestFile { key: "k".into(), size: 2, md5_checksum: "m".into() }],
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"sourceBucket":"s","destinationBucket":"arn:aws:s3:::d","version":"2016-11-30","creationTimestamp":"1","fileFormat":"CSV","fileSchema":"Bucket, Key","files":[{"key":"k","size":2,"MD5checksum":"m"}]}"#
        );
    }

    #[test]
    fn folders_partitions_and_periods() {
        let at = UtcMillis::parse("2026-12-07T01:23:45.678Z").unwrap();
        assert_eq!(report_folder(at), "2026-12-07T01-23Z");
        assert_eq!(hive_partition(at), "dt=2026-12-07-01-23");
        let day = period_start(InventoryFrequency::Daily, at, 86_400_000);
        assert_eq!(report_folder(day), "2026-12-07T00-00Z");
        let week = period_start(InventoryFrequency::Weekly, at, 86_400_000);
        assert!(week <= day && day.0 - week.0 < 7 * 86_400_000 && week.0 % (7 * 86_400_000) == 0);
    }
}
