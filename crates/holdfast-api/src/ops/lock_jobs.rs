//! Each task of a lock job judged as the job creator's own PutObjectLegalHold or
//! PutObjectRetention (issue #14): the bucket must have Object Lock (R2/L2), the creator's
//! identity policies and the bucket policy must allow the action with the request's
//! condition keys (W8), a bypass asked for must be granted (D7, D10, R10), a retain-until
//! date must still be in the future (R6). The store then runs the rules of the change
//! itself (R8, R9, DP5) in the batch's transaction. An `S3ReplicateObject` task (S3 Batch
//! Replication) needs no Object Lock on its bucket, only `s3:InitiateReplication` on the
//! version; the store checks the replication rules and queues it in the same transaction.

use crate::access::{Authorizer, BypassGrant, Policies, Target};
use crate::error::{bypass_denial, meta_error, retention_denial};
use holdfast_engine::Engine;
use holdfast_engine::lock_jobs::{JobOperation, LockJobGate, LockJobSpec};
use holdfast_engine::lock_jobs::{LockJobTask, LockTaskAction as TaskAction, LockTaskResult as TaskResult};
use holdfast_engine::model::MetaError;
use holdfast_identity::Principal;
use holdfast_lock::{LegalHold, UtcMillis};
use s3s::{S3Error, S3ErrorCode};
use std::sync::Arc;

/// The creator as a job records it: `root`, `user:<id>:<name>`, `account:<id>`.
pub fn encode_principal(p: &Principal) -> String {
    match p {
        Principal::Root => "root".into(),
        Principal::User { name, id } => format!("user:{id}:{name}"),
        Principal::AccountRoot { account_id } => format!("account:{account_id}"),
        Principal::Anonymous => "anonymous".into(),
    }
}

pub fn decode_principal(s: &str) -> Principal {
    if s == "root" {
        return Principal::Root;
    }
    if let Some(rest) = s.strip_prefix("user:")
        && let Some((id, name)) = rest.split_once(':')
    {
        return Principal::User { name: name.into(), id: id.into() };
    }
    if let Some(id) = s.strip_prefix("account:") {
        return Principal::AccountRoot { account_id: id.into() };
    }
    Principal::Anonymous
}

/// An S3 error as a task's result.
pub fn task_result(e: &S3Error) -> TaskResult {
    TaskResult {
        succeeded: false,
        error_code: e.code().as_str().to_owned(),
        http_status: e.status_code().map_or(500, |s| s.as_u16()),
        message: e.message().unwrap_or_default().to_owned(),
    }
}

/// A store refusal worded as the single request's answer (`error.rs`).
fn words(e: &MetaError) -> TaskResult {
    task_result(&meta_error(e.copy_refusal()))
}

pub struct JobGate {
    pub authz: Arc<Authorizer>,
    pub engine: Arc<Engine>,
    pub aws_strict: bool,
}

/// What a batch reads once per bucket: the bucket and the policies that judge its tasks.
type BucketView = Result<(holdfast_engine::model::Bucket, Policies), TaskResult>;

impl JobGate {
    async fn view(&self, caller: &Principal, bucket: &str, needs_lock: bool) -> BucketView {
        self.read_view(caller, bucket, needs_lock).await.map_err(|e| task_result(&e))
    }

    async fn read_view(
        &self,
        caller: &Principal,
        bucket: &str,
        needs_lock: bool,
    ) -> Result<(holdfast_engine::model::Bucket, Policies), S3Error> {
        let b = match self.engine.bucket(bucket).await {
            Ok(Some(b)) => b,
            Ok(None) => return Err(meta_error(MetaError::NoSuchBucket)),
            Err(e) => return Err(crate::error::engine_error(e)),
        };
        if needs_lock && !b.lock_enabled {
            return Err(s3s::s3_error!(InvalidRequest, "Bucket is missing Object Lock Configuration"));
        }
        let policies = self.authz.policies(caller, bucket).await?;
        Ok((b, policies))
    }

    async fn decide(
        &self,
        spec: &LockJobSpec,
        caller: &Principal,
        (bucket, policies): &(holdfast_engine::model::Bucket, Policies),
        t: &LockJobTask,
        now: UtcMillis,
    ) -> Result<TaskAction, S3Error> {
        if let Some(v) = &t.version_id
            && !holdfast_engine::model::is_well_formed_version_id(v)
        {
            return Err(S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid version id specified"));
        }
        let mut headers = http::HeaderMap::new();
        let (operation, bypass_asked) = match &spec.operation {
            JobOperation::LegalHold { .. } => ("PutObjectLegalHold", false),
            JobOperation::Retention { bypass, .. } => ("PutObjectRetention", *bypass),
            JobOperation::Replicate => ("InitiateReplication", false),
        };
        if bypass_asked {
            headers.insert("x-amz-bypass-governance-retention", http::HeaderValue::from_static("true"));
        }
        let query = match &t.version_id {
            Some(v) => format!("/?versionId={v}"),
            None => "/".into(),
        };
        let uri: http::Uri =
            query.parse().map_err(|_| s3s::s3_error!(InvalidArgument, "Invalid version id specified"))?;
        let target = Target { operation, bucket: Some(&t.bucket), key: Some(&t.key), headers: &headers, uri: &uri };
        let mut ext = http::Extensions::new();
        let op = spec.operation.clone();
        self.authz
            .check_with(
                caller,
                &target,
                &mut ext,
                |cx| match &op {
                    JobOperation::LegalHold { on } => {
                        cx.set_requested_legal_hold(*on);
                    }
                    JobOperation::Retention { mode: Some(mode), until: Some(until), .. } => {
                        cx.set_requested_retention(mode, *until, now.millis());
                    }
                    JobOperation::Retention { .. } | JobOperation::Replicate => {}
                },
                Some(policies),
            )
            .await?;
        match &spec.operation {
            JobOperation::LegalHold { on } => {
                Ok(TaskAction::LegalHold(if *on { LegalHold::On } else { LegalHold::Off }))
            }
            JobOperation::Retention { mode, until, bypass } => {
                let retention = holdfast_lock::requested_retention(mode.as_deref(), until.map(UtcMillis), now)
                    .map_err(retention_denial)?;
                let granted = matches!(ext.get::<BypassGrant>(), Some(BypassGrant(true)));
                let bypass =
                    holdfast_lock::bypass(bucket.lock_enabled, bypass.then_some(true), granted, self.aws_strict)
                        .map_err(bypass_denial)?;
                Ok(TaskAction::Retention { retention, bypass })
            }
            JobOperation::Replicate => Ok(TaskAction::Replicate),
        }
    }
}

#[async_trait::async_trait]
impl LockJobGate for JobGate {
    async fn judge(&self, spec: &LockJobSpec, tasks: &[LockJobTask], now: UtcMillis) -> Vec<TaskAction> {
        let caller = decode_principal(&spec.creator);
        let mut views: std::collections::HashMap<&str, BucketView> = std::collections::HashMap::new();
        let mut out = Vec::with_capacity(tasks.len());
        for t in tasks {
            if !views.contains_key(t.bucket.as_str()) {
                let needs_lock = !matches!(spec.operation, JobOperation::Replicate);
                let view = self.view(&caller, &t.bucket, needs_lock).await;
                views.insert(&t.bucket, view);
            }
            out.push(match &views[t.bucket.as_str()] {
                Err(refused) => TaskAction::Refused(refused.clone()),
                Ok(view) => match self.decide(spec, &caller, view, t, now).await {
                    Ok(action) => action,
                    Err(e) => TaskAction::Refused(task_result(&e)),
                },
            });
        }
        out
    }

    fn words(&self) -> fn(&MetaError) -> TaskResult {
        words
    }
}
