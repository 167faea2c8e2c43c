//! Lock jobs (issue #14): S3 Batch Operations' `S3PutObjectLegalHold`,
//! `S3PutObjectRetention` and `S3ReplicateObject` over every version a manifest names. The engine validates and
//! records a job, prepares its tasks from the manifest (a CSV or an inventory report's
//! `manifest.json`), runs them in batches — each batch's changes, audit records, results
//! and cursor in ONE metadata transaction (`MetaStore::run_lock_job_batch`) — and writes
//! the completion report as AWS lays it out. Which tasks the job's creator may run, and
//! how a refusal is worded, the api decides (`LockJobGate`), as for a single request.

use crate::{Engine, EngineError, EngineResult};
use futures::StreamExt as _;
use holdfast_lock::UtcMillis;
use holdfast_meta::{
    BatchTask, LockJob, LockJobBatch, LockJobChange, MAX_LOCK_JOB_TASKS, MetaError, TaskAction, TaskResult,
    VersionSelector,
};
use md5::Digest as _;
use serde::{Deserialize, Serialize};
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

pub use holdfast_meta::{
    LockJob as LockJobRecord, LockJobTask, TaskAction as LockTaskAction, TaskResult as LockTaskResult,
};

/// Largest manifest (and inventory data file) read, in bytes: a job's manifest is read
/// whole, so it is bounded.
pub const MAX_MANIFEST_BYTES: u64 = 512 << 20;
/// Tasks added to the store per transaction while preparing.
const PREPARE_CHUNK: usize = 5000;

/// What a job does to each version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobOperation {
    /// `S3PutObjectLegalHold`: `ON` or `OFF`.
    LegalHold { on: bool },
    /// `S3PutObjectRetention`: mode and retain-until (both or neither), and whether the job
    /// asked to bypass GOVERNANCE retention.
    Retention { mode: Option<String>, until: Option<i64>, bypass: bool },
    /// `S3ReplicateObject` (S3 Batch Replication): queue each version for replication by its
    /// bucket's replication configuration, as `holdfast admin replicate` does.
    Replicate,
}

impl JobOperation {
    pub fn name(&self) -> &'static str {
        match self {
            Self::LegalHold { .. } => "S3PutObjectLegalHold",
            Self::Retention { .. } => "S3PutObjectRetention",
            Self::Replicate => "S3ReplicateObject",
        }
    }

    /// The single request each task is (its audit record's operation).
    pub fn single_request(&self) -> &'static str {
        match self {
            Self::LegalHold { .. } => "PutObjectLegalHold",
            Self::Retention { .. } => "PutObjectRetention",
            // The permission AWS's Batch Replication asks of the job on each source object.
            Self::Replicate => "InitiateReplication",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ManifestFormat {
    /// `S3BatchOperations_CSV_20180820`
    Csv,
    /// `S3InventoryReport_CSV_20161130`
    Inventory,
}

impl ManifestFormat {
    pub fn aws_name(self) -> &'static str {
        match self {
            Self::Csv => "S3BatchOperations_CSV_20180820",
            Self::Inventory => "S3InventoryReport_CSV_20161130",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestSpec {
    pub format: ManifestFormat,
    /// CSV columns: `Bucket`, `Key`, and optionally `VersionId`.
    pub fields: Vec<String>,
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    /// The ETag the request named (checked against the object at creation).
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSpec {
    pub enabled: bool,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub failed_only: bool,
}

/// A job's request as recorded (the store keeps it as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockJobSpec {
    pub operation: JobOperation,
    pub manifest: ManifestSpec,
    pub report: ReportSpec,
    pub description: Option<String>,
    pub confirmation_required: bool,
    pub role_arn: String,
    /// The creator as the api names it for itself (whose permissions each task runs with).
    pub creator: String,
    /// The creator's ARN and access key, for the audit records of the changes.
    pub creator_arn: String,
    pub creator_key: Option<String>,
}

/// A CreateJob as the api parsed it.
#[derive(Debug, Clone)]
pub struct NewLockJob {
    pub spec: LockJobSpec,
    pub priority: i64,
    pub client_token: String,
}

/// Why a job request is refused (the api words each one, in one place).
#[derive(Debug, thiserror::Error)]
pub enum LockJobError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The job's status does not allow the change.
    #[error("{0}")]
    Status(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<MetaError> for LockJobError {
    fn from(e: MetaError) -> Self {
        Self::Engine(e.into())
    }
}

/// Decides each task as the single request of the job's creator would be decided, and
/// words the store's refusals: the api's authorizer and error mapping.
#[async_trait::async_trait]
pub trait LockJobGate: Send + Sync {
    /// The change each task of a batch makes, or its refusal (bucket without Object Lock, no
    /// permission, bypass asked but not granted, a retain-until date now past), in order.
    async fn judge(&self, spec: &LockJobSpec, tasks: &[LockJobTask], now: UtcMillis) -> Vec<TaskAction>;
    /// How a refusal of the store (lock rules, missing version) reads in a report.
    fn words(&self) -> fn(&MetaError) -> TaskResult;
}

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct LockJobSettings {
    /// How often the worker looks for work when idle.
    pub poll: Duration,
    /// Tasks per metadata transaction.
    pub batch: usize,
}

impl Default for LockJobSettings {
    fn default() -> Self {
        Self { poll: Duration::from_secs(1), batch: 500 }
    }
}

/// Statuses in which the worker has something to do.
const WORK: [&str; 7] = ["New", "Preparing", "Ready", "Active", "Pausing", "Cancelling", "Completing"];
/// Statuses a job ends in.
pub const TERMINAL: [&str; 3] = ["Complete", "Cancelled", "Failed"];

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_owned()).collect()
}

fn status(from: &[&str], to: &str) -> LockJobChange {
    LockJobChange::Status { from: s(from), to: to.into(), reason: None, total: None, terminated: None }
}

pub fn spec_of(job: &LockJob) -> EngineResult<LockJobSpec> {
    serde_json::from_str(&job.spec).map_err(|e| MetaError::Internal(format!("lock job spec: {e}")).into())
}

/// `arn:aws:s3:::bucket` → bucket; `arn:aws:s3:::bucket/key` → (bucket, key).
pub fn parse_s3_arn(arn: &str) -> Option<(String, Option<String>)> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, _region, _account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if service != "s3" || resource.is_empty() {
        return None;
    }
    match resource.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Some((b.to_owned(), Some(k.to_owned()))),
        Some(_) => None,
        None => Some((resource.to_owned(), None)),
    }
}

/// A key as manifests carry it: URL-encoded (`+` is a space), as S3 Inventory writes it and
/// as AWS asks of a CSV manifest.
pub fn decode_key(s: &str) -> Option<String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus).decode_utf8().ok().map(|c| c.into_owned())
}

/// The fields of one CSV line (RFC 4180 quoting; no line breaks inside a field).
pub fn csv_fields(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return None,
                }
            }
            match chars.next() {
                Some(',') => out.push(field),
                None => {
                    out.push(field);
                    return Some(out);
                }
                Some(_) => return None,
            }
        } else {
            loop {
                match chars.next() {
                    Some(',') => break,
                    Some('"') => return None,
                    Some(c) => field.push(c),
                    None => {
                        out.push(field);
                        return Some(out);
                    }
                }
            }
            out.push(field);
        }
    }
}

fn invalid(m: impl Into<String>) -> LockJobError {
    LockJobError::InvalidRequest(m.into())
}

impl Engine {
    pub fn set_lock_job_gate(&self, gate: Arc<dyn LockJobGate>) {
        let _ = self.lock_job_gate.set(gate);
    }

    /// The whole body of an object (bounded by [`MAX_MANIFEST_BYTES`]) and its ETag.
    async fn read_whole(&self, bucket: &str, key: &str, version: Option<&str>) -> EngineResult<(Vec<u8>, String)> {
        let sel = VersionSelector::from_option(version.map(str::to_owned));
        let read = self
            .get_object(
                crate::GetObject {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                    version: sel,
                    range: None,
                    part_number: None,
                    conditions: crate::ReadConditions::default(),
                    with_tags: false,
                },
                true,
            )
            .await?;
        if read.object().size > MAX_MANIFEST_BYTES {
            return Err(EngineError::InvalidRequest(format!(
                "the manifest object is larger than {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        let etag = read.object().etag.clone();
        let mut body = read.body.ok_or_else(|| MetaError::Internal("no body".into()))?;
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok((out, etag))
    }

    /// Validates a CreateJob against the store (manifest object and its ETag, report
    /// bucket) and records the job as `New`; the worker prepares it. A second request with
    /// the same client token returns the first job.
    pub async fn create_lock_job(&self, req: NewLockJob) -> Result<LockJob, LockJobError> {
        let spec = &req.spec;
        if spec.report.enabled {
            let bucket = spec.report.bucket.as_deref().ok_or_else(|| invalid("The report bucket is required"))?;
            if self.bucket(bucket).await?.is_none() {
                return Err(invalid(format!("The report bucket {bucket} does not exist")));
            }
        }
        let m = &spec.manifest;
        let sel = VersionSelector::from_option(m.version_id.clone());
        let found = match self.meta.version(&m.bucket, &m.key, &sel).await {
            Ok(v) if !v.is_delete_marker() => v,
            Ok(_) | Err(MetaError::NoSuchKey | MetaError::NoSuchVersion | MetaError::NoSuchBucket) => {
                return Err(invalid(format!("The manifest object arn:aws:s3:::{}/{} does not exist", m.bucket, m.key)));
            }
            Err(e) => return Err(e.into()),
        };
        let etag = found.object.as_ref().map(|o| o.etag.as_str()).unwrap_or_default();
        if m.etag.trim_matches('"') != etag {
            return Err(invalid(format!(
                "The ETag {} does not match the manifest object's ETag {etag}",
                m.etag.trim_matches('"')
            )));
        }
        let spec = serde_json::to_string(spec).map_err(|e| MetaError::Internal(e.to_string()))?;
        let job =
            LockJob::new(uuid::Uuid::new_v4().to_string(), spec, req.priority, self.clock.now(), req.client_token);
        Ok(self.meta.put_lock_job(job).await?)
    }

    pub async fn lock_job(&self, id: &str) -> Result<(LockJob, LockJobSpec), LockJobError> {
        let job = self.meta.lock_jobs(Some(id)).await?.pop().ok_or_else(|| no_such_job(id))?;
        let spec = spec_of(&job)?;
        Ok((job, spec))
    }

    /// Every job, newest first, with its spec.
    pub async fn lock_jobs(&self) -> EngineResult<Vec<(LockJob, LockJobSpec)>> {
        let mut out = Vec::new();
        for job in self.meta.lock_jobs(None).await? {
            let spec = spec_of(&job)?;
            out.push((job, spec));
        }
        Ok(out)
    }

    /// UpdateJobStatus as AWS allows it: `Ready` confirms a `Suspended` job; `Cancelled`
    /// ends any job that has not ended (one that ran tasks writes its report first).
    pub async fn request_lock_job_status(
        &self,
        id: &str,
        to: &str,
        reason: Option<String>,
    ) -> Result<LockJob, LockJobError> {
        let (job, _) = self.lock_job(id).await?;
        let change = match to {
            "Ready" => LockJobChange::Status {
                from: s(&["Suspended"]),
                to: "Ready".into(),
                reason,
                total: None,
                terminated: None,
            },
            "Cancelled" => {
                let running = ["Active", "Pausing", "Paused", "Completing"].contains(&job.status.as_str());
                if running {
                    LockJobChange::Status {
                        from: s(&["Active", "Pausing", "Paused", "Completing"]),
                        to: "Cancelling".into(),
                        reason,
                        total: None,
                        terminated: None,
                    }
                } else {
                    LockJobChange::Status {
                        from: s(&["New", "Preparing", "Suspended", "Ready"]),
                        to: "Cancelled".into(),
                        reason,
                        total: None,
                        terminated: Some(self.clock.now()),
                    }
                }
            }
            // The operator's pause and resume (`holdfast admin lock-job`): not AWS's API.
            "Paused" => LockJobChange::Status {
                from: s(&["Active", "Ready"]),
                to: if job.status == "Ready" { "Paused" } else { "Pausing" }.into(),
                reason,
                total: None,
                terminated: None,
            },
            "Resume" => LockJobChange::Status {
                from: s(&["Paused"]),
                to: "Ready".into(),
                reason,
                total: None,
                terminated: None,
            },
            other => return Err(invalid(format!("Requested job status {other} is not valid"))),
        };
        match self.meta.update_lock_job(id, change).await {
            Ok(Some(job)) => Ok(job),
            Ok(None) => Err(no_such_job(id)),
            Err(MetaError::PreconditionFailed) => {
                Err(LockJobError::Status(format!("Job {id} is in status {}; it cannot be moved to {to}", job.status)))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn set_lock_job_priority(&self, id: &str, priority: i64) -> Result<LockJob, LockJobError> {
        self.meta.update_lock_job(id, LockJobChange::Priority(priority)).await?.ok_or_else(|| no_such_job(id))
    }

    /// The tasks of a job (for the report and the admin view), in order.
    pub async fn lock_job_tasks(&self, id: &str, after: i64, limit: usize) -> EngineResult<Vec<LockJobTask>> {
        Ok(self.meta.lock_job_tasks(id, after, limit).await?)
    }

    // --- The worker ---------------------------------------------------------------

    /// Runs jobs until the process ends: the highest priority first; on several gateways
    /// one worker per job (the lease `lock-job:<id>`).
    pub fn spawn_lock_jobs(self: &Arc<Self>, settings: LockJobSettings) -> tokio::task::JoinHandle<()> {
        let engine = Arc::clone(self);
        tokio::spawn(async move {
            let holder = engine.lease_holder();
            let ttl = crate::lifecycle::lease_ttl(settings.poll);
            loop {
                if let Err(e) = engine.lock_job_pass(&settings, &holder, ttl).await {
                    tracing::warn!(error = %e, "lock job pass failed");
                }
                tokio::time::sleep(settings.poll).await;
            }
        })
    }

    /// One pass over the jobs that have work; returns how many it worked on.
    pub async fn lock_job_pass(&self, settings: &LockJobSettings, holder: &str, ttl: Duration) -> EngineResult<usize> {
        // Until the api has set its gate (the server is still starting), nothing can be judged.
        if self.lock_job_gate.get().is_none() {
            return Ok(0);
        }
        let mut jobs: Vec<LockJob> =
            self.meta.lock_jobs(None).await?.into_iter().filter(|j| WORK.contains(&j.status.as_str())).collect();
        jobs.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.created.cmp(&b.created)));
        let mut worked = 0;
        for job in jobs {
            let lease = format!("lock-job:{}", job.id);
            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            if !self.meta.acquire_lease(&lease, holder, ttl_ms).await? {
                continue;
            }
            worked += 1;
            if let Err(e) = self.run_lock_job(&job.id, settings, &lease, holder, ttl_ms).await {
                tracing::warn!(job = %job.id, error = %e, "lock job stopped; it resumes on the next pass");
            }
        }
        Ok(worked)
    }

    /// Moves one job on until it waits (suspended, paused) or ends.
    async fn run_lock_job(
        &self,
        id: &str,
        settings: &LockJobSettings,
        lease: &str,
        holder: &str,
        ttl_ms: i64,
    ) -> EngineResult<()> {
        let mut renewed = std::time::Instant::now();
        loop {
            if renewed.elapsed().as_millis() > u128::try_from(ttl_ms / 3).unwrap_or(0) {
                if !self.meta.acquire_lease(lease, holder, ttl_ms).await? {
                    return Err(MetaError::Internal("lost the lock job lease".into()).into());
                }
                renewed = std::time::Instant::now();
            }
            let Some(job) = self.meta.lock_jobs(Some(id)).await?.pop() else { return Ok(()) };
            let spec = spec_of(&job)?;
            match job.status.as_str() {
                "New" => self.move_job(id, status(&["New"], "Preparing")).await?,
                "Preparing" => self.prepare(&job, &spec).await?,
                "Ready" => self.move_job(id, status(&["Ready"], "Active")).await?,
                "Pausing" => self.move_job(id, status(&["Pausing"], "Paused")).await?,
                "Active" if job.cursor >= job.total => self.move_job(id, status(&["Active"], "Completing")).await?,
                "Active" => self.run_batch(&job, &spec, settings.batch).await?,
                "Completing" | "Cancelling" => {
                    let (from, to) = if job.status == "Completing" {
                        ("Completing", "Complete")
                    } else {
                        ("Cancelling", "Cancelled")
                    };
                    let reason = match self.write_job_report(&job, &spec).await {
                        Ok(()) => None,
                        Err(e) => {
                            tracing::warn!(job = %id, error = %e, "cannot write the job's completion report");
                            Some(format!("The completion report could not be written: {e}"))
                        }
                    };
                    let to = if reason.is_some() { "Failed" } else { to };
                    self.move_job(
                        id,
                        LockJobChange::Status {
                            from: s(&[from]),
                            to: to.into(),
                            reason,
                            total: None,
                            terminated: Some(self.clock.now()),
                        },
                    )
                    .await?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// A status change the worker makes; one that lost a race (an UpdateJobStatus came
    /// first) is simply seen on the next round.
    async fn move_job(&self, id: &str, change: LockJobChange) -> EngineResult<()> {
        match self.meta.update_lock_job(id, change).await {
            Ok(_) | Err(MetaError::PreconditionFailed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads the manifest and records its tasks; again from the start after a restart
    /// (tasks already there are kept, so nothing is added twice).
    async fn prepare(&self, job: &LockJob, spec: &LockJobSpec) -> EngineResult<()> {
        let tasks = match self.manifest_tasks(&spec.manifest).await {
            Ok(t) => t,
            Err(reason) => {
                let change = LockJobChange::Status {
                    from: s(&["Preparing"]),
                    to: "Failed".into(),
                    reason: Some(reason),
                    total: None,
                    terminated: Some(self.clock.now()),
                };
                return self.move_job(&job.id, change).await;
            }
        };
        let total = i64::try_from(tasks.len()).unwrap_or(i64::MAX);
        for chunk in tasks.chunks(PREPARE_CHUNK) {
            self.meta.add_lock_job_tasks(&job.id, chunk.to_vec()).await?;
        }
        let to = if spec.confirmation_required { "Suspended" } else { "Ready" };
        let change = LockJobChange::Status {
            from: s(&["Preparing"]),
            to: to.into(),
            reason: None,
            total: Some(total),
            terminated: None,
        };
        self.move_job(&job.id, change).await
    }

    /// The manifest's tasks, or why it cannot be read (the job fails with that reason).
    async fn manifest_tasks(&self, m: &ManifestSpec) -> Result<Vec<LockJobTask>, String> {
        let (body, etag) = self
            .read_whole(&m.bucket, &m.key, m.version_id.as_deref())
            .await
            .map_err(|e| format!("Reading the manifest arn:aws:s3:::{}/{} failed: {e}", m.bucket, m.key))?;
        if m.etag.trim_matches('"') != etag {
            return Err("The manifest object changed since the job was created (its ETag differs)".into());
        }
        let mut rows: Vec<(String, String, Option<String>)> = Vec::new();
        match m.format {
            ManifestFormat::Csv => {
                let text = String::from_utf8(body).map_err(|_| "The manifest is not UTF-8".to_owned())?;
                let version_col = m.fields.iter().any(|f| f == "VersionId");
                csv_rows(&text, 0, 1, version_col.then_some(2), None, &mut rows)?;
            }
            ManifestFormat::Inventory => self.inventory_rows(m, &body, &mut rows).await?,
        }
        if i64::try_from(rows.len()).unwrap_or(i64::MAX) > MAX_LOCK_JOB_TASKS {
            return Err(format!("The manifest has more than {MAX_LOCK_JOB_TASKS} tasks"));
        }
        Ok(rows
            .into_iter()
            .zip(1i64..)
            .map(|((bucket, key, version_id), seq)| LockJobTask { seq, bucket, key, version_id, result: None })
            .collect())
    }

    /// An inventory report: its `manifest.checksum` (when there is one) must be the MD5 of
    /// the manifest, each data file its `MD5checksum`; rows are read by `fileSchema`.
    async fn inventory_rows(
        &self,
        m: &ManifestSpec,
        body: &[u8],
        rows: &mut Vec<(String, String, Option<String>)>,
    ) -> Result<(), String> {
        if let Some(folder) = m.key.strip_suffix("manifest.json") {
            let checksum_key = format!("{folder}manifest.checksum");
            if let Ok((sum, _)) = self.read_whole(&m.bucket, &checksum_key, None).await {
                let want = String::from_utf8_lossy(&sum).trim().to_ascii_lowercase();
                if want != hex::encode(md5::Md5::digest(body)) {
                    return Err("The inventory manifest does not match its manifest.checksum".into());
                }
            }
        }
        let doc: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("The inventory manifest is not valid JSON: {e}"))?;
        if doc["fileFormat"].as_str() != Some("CSV") {
            return Err("Only CSV inventory reports can be a manifest".into());
        }
        let schema: Vec<String> = doc["fileSchema"]
            .as_str()
            .ok_or("The inventory manifest has no fileSchema")?
            .split(',')
            .map(|f| f.trim().to_owned())
            .collect();
        let col = |name: &str| schema.iter().position(|f| f == name);
        let (b, k) = (col("Bucket").ok_or("fileSchema has no Bucket")?, col("Key").ok_or("fileSchema has no Key")?);
        let (v, marker) = (col("VersionId"), col("IsDeleteMarker"));
        let dest = doc["destinationBucket"]
            .as_str()
            .and_then(parse_s3_arn)
            .map(|(b, _)| b)
            .ok_or("The inventory manifest has no destinationBucket")?;
        let files = doc["files"].as_array().ok_or("The inventory manifest has no files")?;
        for f in files {
            let key = f["key"].as_str().ok_or("A manifest file has no key")?;
            let (gz, _) = self
                .read_whole(&dest, key, None)
                .await
                .map_err(|e| format!("Reading the inventory data file {key} failed: {e}"))?;
            if let Some(want) = f["MD5checksum"].as_str()
                && !want.eq_ignore_ascii_case(&hex::encode(md5::Md5::digest(&gz)))
            {
                return Err(format!("The inventory data file {key} does not match its MD5checksum"));
            }
            let mut text = String::new();
            flate2::read::GzDecoder::new(&gz[..])
                .take(MAX_MANIFEST_BYTES)
                .read_to_string(&mut text)
                .map_err(|e| format!("The inventory data file {key} cannot be read: {e}"))?;
            csv_rows(&text, b, k, v, marker, rows)?;
        }
        Ok(())
    }

    /// One batch: the gate judges each task as the creator's single request would be
    /// judged, then the store runs them with their results and the cursor in one transaction.
    async fn run_batch(&self, job: &LockJob, spec: &LockJobSpec, size: usize) -> EngineResult<()> {
        let gate = self.lock_job_gate.get().ok_or_else(|| MetaError::Internal("no lock job gate".into()))?;
        let tasks = self.meta.lock_job_tasks(&job.id, job.cursor, size).await?;
        let Some(last) = tasks.last().map(|t| t.seq) else {
            // Fewer tasks than counted: nothing left to run.
            return self.move_job(&job.id, status(&["Active"], "Completing")).await;
        };
        let now = self.clock.now();
        let actions = gate.judge(spec, &tasks, now).await;
        if actions.len() != tasks.len() {
            return Err(MetaError::Internal("the lock job gate judged a batch partly".into()).into());
        }
        let batch_tasks = tasks
            .iter()
            .zip(actions)
            .map(|(t, action)| BatchTask {
                seq: t.seq,
                bucket: t.bucket.clone(),
                key: t.key.clone(),
                version_id: t.version_id.clone(),
                actor: holdfast_audit::Actor {
                    principal: Some(spec.creator_arn.clone()),
                    access_key: spec.creator_key.clone(),
                    source: None,
                    op: Some(spec.operation.single_request().into()),
                    request_id: Some(format!("job-{}", job.id)),
                    bucket: Some(t.bucket.clone()),
                    key: Some(t.key.clone()),
                    version_id: t.version_id.clone(),
                    bypass: matches!(action, TaskAction::Retention { bypass: holdfast_lock::Bypass::Governance, .. }),
                    detail: Some(serde_json::json!({ "lockJob": job.id, "task": t.seq })),
                },
                action,
            })
            .collect();
        let batch = LockJobBatch {
            job: job.id.clone(),
            from: job.cursor,
            to: last,
            tasks: batch_tasks,
            words: gate.words(),
            now,
        };
        self.meta.run_lock_job_batch(batch).await?;
        Ok(())
    }

    /// The completion report as AWS writes it: `<prefix>/job-<id>/results/<name>.csv` (one
    /// file of succeeded and one of failed tasks, as there are any) and
    /// `<prefix>/job-<id>/manifest.json` naming them with their MD5.
    async fn write_job_report(&self, job: &LockJob, spec: &LockJobSpec) -> EngineResult<()> {
        if !spec.report.enabled {
            return Ok(());
        }
        let bucket_name = spec.report.bucket.clone().unwrap_or_default();
        let dest = self.bucket(&bucket_name).await?.ok_or(EngineError::Meta(MetaError::NoSuchBucket))?;
        let root = match spec.report.prefix.as_deref() {
            Some(p) if !p.is_empty() => format!("{}/job-{}", p.trim_end_matches('/'), job.id),
            _ => format!("job-{}", job.id),
        };
        let (mut ok, mut failed) = (String::new(), String::new());
        let mut after = 0;
        loop {
            let page = self.meta.lock_job_tasks(&job.id, after, 5000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for t in &page {
                let Some(r) = &t.result else { continue };
                if spec.report.failed_only && r.succeeded {
                    continue;
                }
                let line = report_line(t, r);
                if r.succeeded { ok.push_str(&line) } else { failed.push_str(&line) }
            }
        }
        let mut results = Vec::new();
        for (body, state) in [(ok, "succeeded"), (failed, "failed")] {
            if body.is_empty() {
                continue;
            }
            let md5 = hex::encode(md5::Md5::digest(body.as_bytes()));
            let name = hex::encode(sha1::Sha1::digest(format!("{}-{state}", job.id).as_bytes()));
            let key = format!("{root}/results/{name}.csv");
            self.put_generated_object(&dest, key.clone(), body.into_bytes(), "text/csv").await?;
            results.push(serde_json::json!({
                "TaskExecutionStatus": state,
                "Bucket": bucket_name,
                "MD5Checksum": md5,
                "Key": key,
            }));
        }
        let manifest = serde_json::json!({
            "Format": "Report_CSV_20180820",
            "ReportCreationDate": self.clock.now().to_iso8601(),
            "Results": results,
            "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
        });
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| MetaError::Internal(e.to_string()))?;
        self.put_generated_object(&dest, format!("{root}/manifest.json"), body, "application/json").await
    }
}

fn no_such_job(id: &str) -> LockJobError {
    LockJobError::NotFound(format!("Job {id} does not exist"))
}

/// Rows of CSV text: bucket, decoded key and version id (empty is none) from the columns
/// given; delete markers (an inventory's `IsDeleteMarker` true) are left out, since no lock
/// applies to them.
fn csv_rows(
    text: &str,
    b: usize,
    k: usize,
    v: Option<usize>,
    marker: Option<usize>,
    rows: &mut Vec<(String, String, Option<String>)>,
) -> Result<(), String> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let f = csv_fields(line).ok_or_else(|| format!("Manifest line {} is not valid CSV", n + 1))?;
        let get = |i: usize| f.get(i).ok_or_else(|| format!("Manifest line {} has too few fields", n + 1));
        if let Some(m) = marker
            && get(m)? == "true"
        {
            continue;
        }
        let key =
            decode_key(get(k)?).ok_or_else(|| format!("Manifest line {}: the key is not URL-encoded UTF-8", n + 1))?;
        let bucket = get(b)?.clone();
        if bucket.is_empty() || key.is_empty() {
            return Err(format!("Manifest line {} has an empty bucket or key", n + 1));
        }
        let version = match v {
            Some(i) => Some(get(i)?.clone()).filter(|s| !s.is_empty()),
            None => None,
        };
        rows.push((bucket, key, version));
    }
    Ok(())
}

/// One report line: the columns of `ReportSchema`, the key URL-encoded as in manifests.
fn report_line(t: &LockJobTask, r: &TaskResult) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
    };
    format!(
        "{},{},{},{},{},{},{}\n",
        quote(&t.bucket),
        crate::inventory::encode_key(&t.key),
        quote(t.version_id.as_deref().unwrap_or_default()),
        if r.succeeded { "succeeded" } else { "failed" },
        quote(&r.error_code),
        r.http_status,
        quote(&r.message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_and_keys() {
        assert_eq!(csv_fields("a,b,c"), Some(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(csv_fields("\"a\",\"b,\"\"x\",\"\""), Some(vec!["a".into(), "b,\"x".into(), String::new()]));
        assert_eq!(csv_fields("a,\"b"), None);
        assert_eq!(decode_key("logs/a+b%2Bc%2C%C3%A9").as_deref(), Some("logs/a b+c,é"));
        assert_eq!(parse_s3_arn("arn:aws:s3:::b/k/x"), Some(("b".into(), Some("k/x".into()))));
        assert_eq!(parse_s3_arn("arn:aws:s3:::b"), Some(("b".into(), None)));
        assert_eq!(parse_s3_arn("arn:aws:iam:::b"), None);
    }

    #[test]
    fn inventory_delete_markers_are_left_out() {
        let mut rows = Vec::new();
        let text = "\"b\",\"k1\",\"v1\",\"true\",\"false\"\n\"b\",\"k2\",\"v2\",\"true\",\"true\"\n";
        csv_rows(text, 0, 1, Some(2), Some(4), &mut rows).expect("rows");
        assert_eq!(rows, vec![("b".into(), "k1".into(), Some("v1".into()))]);
    }
}
