//! `holdfast admin lock-job`: lock jobs (issue #14) for operators who do not use the S3
//! Control API. The same engine calls as the API (`create_lock_job`,
//! `request_lock_job_status`, ...) over the store the server uses; the server's worker runs
//! the jobs. A job made here runs with the account root's permissions and its audit records
//! name `holdfast:admin` as the principal.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use holdfast_engine::lock_jobs::{
    JobOperation, LockJobError, LockJobRecord, LockJobSpec, ManifestFormat, ManifestSpec, NewLockJob, ReportSpec,
};
use holdfast_engine::{Engine, EngineConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand)]
pub enum LockJobCommand {
    /// Creates a job over every version a manifest names; prints its id.
    Create {
        /// `legal-hold-on`, `legal-hold-off` or `retention`.
        #[arg(long)]
        operation: String,
        /// Retention: GOVERNANCE or COMPLIANCE.
        #[arg(long)]
        mode: Option<String>,
        /// Retention: the retain-until date (RFC 3339).
        #[arg(long)]
        retain_until: Option<String>,
        /// Retention: bypass GOVERNANCE retention (D7).
        #[arg(long)]
        bypass_governance: bool,
        /// The manifest: `s3://bucket/key` of a CSV (bucket,key[,versionId]) or an
        /// inventory report's manifest.json.
        #[arg(long)]
        manifest: String,
        /// The CSV has a third column with version ids.
        #[arg(long)]
        with_version_ids: bool,
        /// Where the completion report goes: `s3://bucket[/prefix]`.
        #[arg(long)]
        report: Option<String>,
        /// Report only the failed tasks.
        #[arg(long)]
        failed_only: bool,
        #[arg(long, default_value_t = 10)]
        priority: i64,
        /// The job waits in Suspended until `confirm`.
        #[arg(long)]
        confirmation_required: bool,
        #[arg(long)]
        description: Option<String>,
    },
    /// Every job: id, status, operation, progress.
    List,
    /// One job in full, as JSON.
    Describe { id: String },
    /// Runs a Suspended job.
    Confirm { id: String },
    /// Stops a job after its current batch (Pausing, then Paused).
    Pause { id: String },
    /// Runs a Paused job again from where it stopped.
    Resume { id: String },
    /// Cancels a job; one that ran tasks writes its report first.
    Cancel { id: String },
}

fn s3_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url.strip_prefix("s3://").with_context(|| format!("{url} is not an s3://bucket/key URL"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{url} names no bucket");
    }
    Ok((bucket.to_owned(), key.to_owned()))
}

async fn engine(data_dir: &Path, config: Option<PathBuf>) -> anyhow::Result<Engine> {
    let meta = crate::admin::open_meta_writable(data_dir, config).await?;
    // Temporaries younger than an hour may be the running server's uploads: kept.
    let blobs = holdfast_blob::LocalBlobStore::open_shared(data_dir, 3600).context("cannot open the blob store")?;
    Ok(Engine::new(meta, Arc::new(blobs), EngineConfig::default()).await?)
}

fn job_error(e: LockJobError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn json(job: &LockJobRecord, spec: &LockJobSpec) -> serde_json::Value {
    serde_json::json!({
        "JobId": job.id,
        "Status": job.status,
        "Operation": spec.operation.name(),
        "Priority": job.priority,
        "CreationTime": job.created.to_iso8601(),
        "TerminationDate": job.terminated.map(|t| t.to_iso8601()),
        "StatusUpdateReason": job.reason,
        "ProgressSummary": {
            "TotalNumberOfTasks": job.total,
            "NumberOfTasksSucceeded": job.succeeded,
            "NumberOfTasksFailed": job.failed,
        },
        "FailuresByCode": job.failures,
        "Manifest": format!("s3://{}/{}", spec.manifest.bucket, spec.manifest.key),
        "Report": spec.report.bucket.as_ref().map(|b| format!("s3://{b}/{}", spec.report.prefix.clone().unwrap_or_default())),
    })
}

pub async fn run(data_dir: &Path, config: Option<PathBuf>, cmd: LockJobCommand) -> anyhow::Result<()> {
    let engine = engine(data_dir, config).await?;
    match cmd {
        LockJobCommand::Create {
            operation,
            mode,
            retain_until,
            bypass_governance,
            manifest,
            with_version_ids,
            report,
            failed_only,
            priority,
            confirmation_required,
            description,
        } => {
            let operation = match operation.as_str() {
                "legal-hold-on" => JobOperation::LegalHold { on: true },
                "legal-hold-off" => JobOperation::LegalHold { on: false },
                "retention" => {
                    let until = retain_until
                        .map(|d| holdfast_lock::UtcMillis::parse(&d).map(|u| u.millis()))
                        .transpose()
                        .map_err(|_| anyhow::anyhow!("--retain-until is not an RFC 3339 date"))?;
                    if let Some(m) = &mode
                        && m != "GOVERNANCE"
                        && m != "COMPLIANCE"
                    {
                        bail!("--mode must be GOVERNANCE or COMPLIANCE");
                    }
                    if mode.is_some() != until.is_some() {
                        bail!("--mode and --retain-until go together");
                    }
                    JobOperation::Retention { mode, until, bypass: bypass_governance }
                }
                other => bail!("unknown --operation {other}: legal-hold-on, legal-hold-off or retention"),
            };
            let (bucket, key) = s3_url(&manifest)?;
            let format = if key.ends_with("manifest.json") { ManifestFormat::Inventory } else { ManifestFormat::Csv };
            let object = engine
                .resolve_object(&bucket, &key, &holdfast_engine::model::VersionSelector::Latest)
                .await
                .with_context(|| format!("cannot read the manifest {manifest}"))?;
            let fields = match (format, with_version_ids) {
                (ManifestFormat::Inventory, _) => Vec::new(),
                (ManifestFormat::Csv, false) => vec!["Bucket".into(), "Key".into()],
                (ManifestFormat::Csv, true) => vec!["Bucket".into(), "Key".into(), "VersionId".into()],
            };
            let report = match report {
                Some(url) => {
                    let (b, p) = s3_url(&url)?;
                    ReportSpec {
                        enabled: true,
                        bucket: Some(b),
                        prefix: Some(p).filter(|p| !p.is_empty()),
                        failed_only,
                    }
                }
                None => ReportSpec { enabled: false, bucket: None, prefix: None, failed_only: false },
            };
            let spec = LockJobSpec {
                operation,
                manifest: ManifestSpec {
                    format,
                    fields,
                    bucket,
                    key,
                    version_id: Some(object.version_id.clone()).filter(|v| v != "null"),
                    etag: object.object_data().etag.clone(),
                },
                report,
                description,
                confirmation_required,
                role_arn: "arn:aws:iam::000000000000:role/holdfast-admin".into(),
                creator: "root".into(),
                creator_arn: "holdfast:admin".into(),
                creator_key: None,
            };
            let job = engine
                .create_lock_job(NewLockJob { spec, priority, client_token: uuid::Uuid::new_v4().to_string() })
                .await
                .map_err(job_error)?;
            println!("{}", job.id);
        }
        LockJobCommand::List => {
            for (job, spec) in engine.lock_jobs().await? {
                println!(
                    "{}  {:<10}  {:<20}  priority {:<4} {}/{} succeeded, {} failed",
                    job.id,
                    job.status,
                    spec.operation.name(),
                    job.priority,
                    job.succeeded,
                    job.total,
                    job.failed
                );
            }
        }
        LockJobCommand::Describe { id } => {
            let (job, spec) = engine.lock_job(&id).await.map_err(job_error)?;
            println!("{}", serde_json::to_string_pretty(&json(&job, &spec))?);
        }
        LockJobCommand::Confirm { id } => status(&engine, &id, "Ready").await?,
        LockJobCommand::Pause { id } => status(&engine, &id, "Paused").await?,
        LockJobCommand::Resume { id } => status(&engine, &id, "Resume").await?,
        LockJobCommand::Cancel { id } => status(&engine, &id, "Cancelled").await?,
    }
    Ok(())
}

async fn status(engine: &Engine, id: &str, to: &str) -> anyhow::Result<()> {
    let job =
        engine.request_lock_job_status(id, to, Some("holdfast admin lock-job".into())).await.map_err(job_error)?;
    println!("{} {}", job.id, job.status);
    Ok(())
}
