//! A bucket's inventory configurations (issue #14), one document per bucket in the
//! metadata store, and the worker that writes their reports (CSV, Parquet) as Amazon S3
//! writes them (docs/inventory.md).

mod files;
mod report;
mod rows;

pub use files::{ROWS_PER_FILE, ROWS_PER_GROUP};
pub use report::{ReportFailure, ReportGate, hive_partition, report_folder, report_root};
pub use rows::{Columns, Value, csv_line, encode_key};

use crate::{Engine, EngineResult};
use holdfast_audit::AuditRecord;
use holdfast_lock::UtcMillis;
use holdfast_meta::{
    BucketConfigKind, InventoryConfig, InventoryConfigs, InventoryFrequency, MAX_INVENTORY_CONFIGS, MetaError,
};
use std::collections::HashMap;
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

/// How long an inventory "day" is, and how many rows a data file holds. Other values than
/// the defaults exist for tests only.
#[derive(Debug, Clone)]
pub struct InventorySettings {
    pub day_ms: i64,
    pub rows_per_file: usize,
}

impl Default for InventorySettings {
    fn default() -> Self {
        Self { day_ms: 86_400_000, rows_per_file: ROWS_PER_FILE }
    }
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

/// The period each (source bucket, configuration id) was last refused in: a refusal is
/// written to the audit trail once per period, not at every pass.
pub type Refusals = HashMap<(String, String), i64>;

impl Engine {
    /// Lets `gate` judge every object of a report from now on; until it is set, no report
    /// is written.
    pub fn set_report_gate(&self, gate: Arc<dyn ReportGate>) {
        let _ = self.report_gate.set(gate);
    }

    /// One pass: every enabled configuration whose current period has no report yet gets
    /// one. Returns the manifests written. With a lease, the pass renews it as it goes and
    /// stops once it is lost. `refused` remembers the refusals already recorded.
    pub async fn inventory_pass(
        &self,
        settings: &InventorySettings,
        lease: Option<&InventoryLease>,
        refused: &mut Refusals,
    ) -> EngineResult<Vec<String>> {
        let mut written = Vec::new();
        let Some(gate) = self.report_gate.get().map(Arc::clone) else { return Ok(written) };
        let mut seen = Refusals::new();
        for bucket in self.meta.buckets().await? {
            let configs = self.inventory_configs(&bucket.name).await?;
            for config in configs.configs.iter().filter(|c| c.enabled) {
                if let Some(lease) = lease {
                    lease.keep(self).await?;
                }
                let period = period_start(config.frequency, self.clock.now(), settings.day_ms);
                if self.inventory_written(&bucket.name, config, period).await? {
                    continue;
                }
                let report = self
                    .write_inventory_report(&bucket.name, config, period, settings.rows_per_file, gate.as_ref(), lease)
                    .await;
                match report {
                    Ok(key) => {
                        metrics::counter!("holdfast_inventory_reports_total").increment(1);
                        written.push(key);
                    }
                    Err(ReportFailure::Denied { key }) => {
                        metrics::counter!("holdfast_inventory_reports_failed_total", "reason" => "AccessDenied")
                            .increment(1);
                        let id = (bucket.name.clone(), config.id.clone());
                        let first = refused.get(&id) != Some(&period.0);
                        seen.insert(id, period.0);
                        if first {
                            self.record_refusal(&bucket.name, config, period, &key);
                        }
                    }
                    Err(ReportFailure::Error(e)) => {
                        metrics::counter!("holdfast_inventory_reports_failed_total", "reason" => "error").increment(1);
                        tracing::warn!(bucket = %bucket.name, id = %config.id, error = %e, "inventory report failed")
                    }
                }
            }
        }
        *refused = seen;
        Ok(written)
    }

    /// A report the destination's policy refused, the first time in a period: a log line
    /// and an audit record, as the PutObject of AWS's service principal that was refused.
    /// (The counter counts every refused attempt.)
    fn record_refusal(&self, source: &str, config: &InventoryConfig, period: UtcMillis, key: &str) {
        tracing::warn!(
            bucket = %source,
            id = %config.id,
            destination = %config.destination_bucket,
            key = %key,
            "inventory report refused: the destination bucket's policy does not allow s3.amazonaws.com to put it"
        );
        if let Some(log) = self.audit() {
            let mut r = AuditRecord::new("PutObject", self.clock.now());
            r.principal = Some("holdfast:inventory".into());
            r.bucket = Some(config.destination_bucket.clone());
            r.key = Some(key.to_owned());
            r.status = Some(403);
            r.code = Some("AccessDenied".into());
            r.detail = Some(serde_json::json!({
                "inventory": { "sourceBucket": source, "id": config.id, "period": report_folder(period) },
                "principal": { "Service": "s3.amazonaws.com" },
            }));
            log.append(r);
        }
    }

    /// Runs passes until the process ends, whenever this process holds the inventory lease
    /// (one writer per run among gateways sharing a store).
    pub fn spawn_inventory(self: &Arc<Self>, settings: InventorySettings) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        let holder = engine.lease_holder();
        tokio::spawn(async move {
            let wake = Duration::from_millis(u64::try_from(settings.day_ms / 4).unwrap_or(0).clamp(100, 60_000));
            let lease = InventoryLease::new(holder, crate::lifecycle::lease_ttl(wake));
            let mut refused = Refusals::new();
            loop {
                let held = lease.take(&engine).await;
                if held {
                    match engine.inventory_pass(&settings, Some(&lease), &mut refused).await {
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
