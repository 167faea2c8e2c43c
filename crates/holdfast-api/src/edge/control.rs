//! The S3 Control job API (S3 Batch Operations, issue #14) on the S3 endpoint: CreateJob,
//! DescribeJob, ListJobs, UpdateJobStatus, UpdateJobPriority under `/v20180820/jobs`,
//! with the account in `x-amz-account-id`. s3s does not route S3 Control, so these
//! requests are taken here, in front of it: SigV4 (service `s3`, as the AWS CLI signs them)
//! verified by the same verifier and key directory as every S3 request, the caller
//! authorised by the same authorizer, the body checked by the strict XML layer, and every
//! refusal worded in S3 Control's error format by [`ControlError::response`] alone. The AWS
//! CLI sends these to `<account>.<endpoint host>`; the Host header is not used to route.

use crate::access::{Authorizer, Target};
use crate::audit::AuditSlot;
use crate::ops::lock_jobs::{decode_principal, encode_principal};
use crate::strict_xml::{CREATE_JOB, S3_CONTROL_NS, validate_in};
use bytes::Bytes;
use holdfast_engine::Engine;
use holdfast_engine::lock_jobs::{
    JobOperation, LockJobError, LockJobRecord, LockJobSpec, ManifestFormat, ManifestSpec, NewLockJob, ReportSpec,
    parse_s3_arn,
};
use holdfast_identity::sigv4::{self, SigError};
use holdfast_identity::{Directory, Principal};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use quick_xml::events::Event;
use s3s::Body;
use std::sync::Arc;

/// The path every S3 Control job call starts with.
pub const JOBS_PATH: &str = "/v20180820/jobs";
/// A CreateJob body is a few KiB.
const MAX_BODY: usize = 256 << 10;

/// Whether the request is an S3 Control job call.
pub fn is_control<B>(req: &Request<B>) -> bool {
    let path = req.uri().path();
    (path == JOBS_PATH || path.starts_with("/v20180820/jobs/")) && req.headers().contains_key("x-amz-account-id")
}

/// A refusal of the job API, in S3 Control's words.
#[derive(Debug)]
pub struct ControlError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> ControlError {
    ControlError { status, code, message: message.into() }
}

fn malformed() -> ControlError {
    err(
        StatusCode::BAD_REQUEST,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

fn invalid(m: impl Into<String>) -> ControlError {
    err(StatusCode::BAD_REQUEST, "InvalidRequest", m)
}

fn access_denied() -> ControlError {
    err(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied")
}

impl From<LockJobError> for ControlError {
    fn from(e: LockJobError) -> Self {
        match e {
            LockJobError::InvalidRequest(m) => invalid(m),
            LockJobError::NotFound(m) => err(StatusCode::NOT_FOUND, "NotFoundException", m),
            LockJobError::Status(m) => err(StatusCode::BAD_REQUEST, "JobStatusException", m),
            LockJobError::Engine(e) => {
                tracing::error!(error = %e, "lock job request failed");
                err(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                )
            }
        }
    }
}

impl ControlError {
    /// The one place a job API refusal becomes a response.
    pub fn response(&self, request_id: &str) -> Response<Body> {
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse><Error><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            esc(self.code),
            esc(&self.message),
            esc(request_id)
        );
        let mut resp = Response::new(Body::from(Bytes::from(xml)));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        resp
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn ok_xml(root: &str, inner: &str) -> Response<Body> {
    let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{S3_CONTROL_NS}\">{inner}</{root}>");
    let mut resp = Response::new(Body::from(Bytes::from(xml)));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp
}

fn el(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", esc(value))
}

pub struct Control {
    engine: Arc<Engine>,
    dir: Arc<Directory>,
    authz: Arc<Authorizer>,
    region: String,
}

impl Control {
    pub fn new(engine: Arc<Engine>, dir: Arc<Directory>, region: String) -> Self {
        let authz = Arc::new(Authorizer::new(Arc::clone(&dir)).with_object_tags(Arc::clone(&engine)));
        Self { engine, dir, authz, region }
    }

    /// Answers one job call; returns the operation's name for metrics and the audit trail.
    pub async fn handle<B: super::InBody>(
        &self,
        req: Request<B>,
        request_id: &str,
        facts: &AuditSlot,
    ) -> (Response<Body>, &'static str) {
        let op = operation(req.method(), req.uri().path());
        match self.answer(req, op, facts).await {
            Ok(r) => (r, op),
            Err(e) => (e.response(request_id), op),
        }
    }

    async fn answer<B: super::InBody>(
        &self,
        req: Request<B>,
        op: &'static str,
        facts: &AuditSlot,
    ) -> Result<Response<Body>, ControlError> {
        let (parts, body) = req.into_parts();
        let body = Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|_| invalid("The request body is too large or incomplete"))?;
        let caller = self.authenticate(&parts, &body).await?;
        let principal_name = crate::audit::principal_name(&caller, self.dir.account_id());
        holdfast_audit::scope::update_current(|a| {
            a.principal = Some(principal_name.clone());
            a.op = Some(op.to_owned());
        });
        if let Ok(mut f) = facts.0.lock() {
            f.principal = Some(principal_name.clone());
        }
        let account = parts.headers.get("x-amz-account-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if self.dir.account_of(&caller) != Some(account) {
            return Err(access_denied());
        }
        if op == "Unknown" {
            return Err(invalid("The S3 Control operation is not supported"));
        }
        self.authorize(&caller, op, None).await?;
        let path = parts.uri.path();
        let id = path.strip_prefix("/v20180820/jobs/").map(|rest| rest.split('/').next().unwrap_or_default());
        let query = crate::access::form_pairs(parts.uri.query().unwrap_or_default());
        match op {
            "CreateJob" => self.create(&caller, &principal_name, &body).await,
            "ListJobs" => self.list(&caller, &query).await,
            "DescribeJob" => self.describe(&caller, id.unwrap_or_default()).await,
            "UpdateJobStatus" => {
                let id = id.unwrap_or_default();
                self.own_job(&caller, id).await?;
                let to =
                    first(&query, "requestedJobStatus").ok_or_else(|| invalid("requestedJobStatus is required"))?;
                if to != "Ready" && to != "Cancelled" {
                    return Err(invalid(format!("Requested job status {to} is not valid")));
                }
                let reason = first(&query, "statusUpdateReason").map(str::to_owned);
                let job = self.engine.request_lock_job_status(id, to, reason).await?;
                let mut inner = el("JobId", &job.id) + &el("Status", &job.status);
                if let Some(r) = &job.reason {
                    inner += &el("StatusUpdateReason", r);
                }
                Ok(ok_xml("UpdateJobStatusResult", &inner))
            }
            "UpdateJobPriority" => {
                let id = id.unwrap_or_default();
                self.own_job(&caller, id).await?;
                let p = first(&query, "priority")
                    .and_then(priority)
                    .ok_or_else(|| invalid("priority must be 0..2147483647"))?;
                let job = self.engine.set_lock_job_priority(id, p).await?;
                Ok(ok_xml(
                    "UpdateJobPriorityResult",
                    &(el("JobId", &job.id) + &el("Priority", &job.priority.to_string())),
                ))
            }
            _ => Err(invalid("The S3 Control operation is not supported")),
        }
    }

    async fn authenticate(&self, parts: &http::request::Parts, body: &[u8]) -> Result<Principal, ControlError> {
        let auth = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(access_denied)?;
        let auth = sigv4::parse_authorization(auth).map_err(|_| {
            err(StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed", "The authorization header is malformed")
        })?;
        if auth.service != "s3" {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "AuthorizationHeaderMalformed",
                format!(
                    "The authorization header is malformed; incorrect service \"{}\". This endpoint belongs to \"s3\".",
                    auth.service
                ),
            ));
        }
        let (principal, secret) = match self.dir.lookup(&auth.access_key).await {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Err(err(
                    StatusCode::FORBIDDEN,
                    "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records.",
                ));
            }
            Err(e) => return Err(err(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string())),
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let query = parts.uri.query().unwrap_or_default();
        match sigv4::verify(parts.method.as_str(), parts.uri.path(), query, &parts.headers, body, &auth, &secret, now) {
            Ok(()) => Ok(principal),
            Err(SigError::Skewed) => Err(err(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )),
            Err(_) => Err(err(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )),
        }
    }

    /// The caller's permission for a job call (`s3:CreateJob`, ...), or for an S3 operation
    /// on an object the job reads or writes.
    async fn authorize(&self, caller: &Principal, op: &str, object: Option<(&str, &str)>) -> Result<(), ControlError> {
        let headers = http::HeaderMap::new();
        let uri: http::Uri = "/".parse().expect("a static path parses");
        let target = Target {
            operation: op,
            bucket: object.map(|o| o.0),
            key: object.map(|o| o.1),
            headers: &headers,
            uri: &uri,
        };
        let mut ext = http::Extensions::new();
        self.authz.check(caller, &target, &mut ext, |_| {}).await.map_err(|_| access_denied())
    }

    /// The job, if the caller's account made it (jobs of other accounts do not exist for it).
    async fn own_job(&self, caller: &Principal, id: &str) -> Result<(LockJobRecord, LockJobSpec), ControlError> {
        let (job, spec) = self.engine.lock_job(id).await?;
        if self.dir.account_of(&decode_principal(&spec.creator)) != self.dir.account_of(caller) {
            return Err(LockJobError::NotFound(format!("Job {id} does not exist")).into());
        }
        Ok((job, spec))
    }

    async fn create(&self, caller: &Principal, caller_arn: &str, body: &[u8]) -> Result<Response<Body>, ControlError> {
        validate_in(&CREATE_JOB, body, S3_CONTROL_NS).map_err(|m| {
            tracing::debug!(reason = %m.0, "malformed CreateJob body");
            malformed()
        })?;
        let root = tree(body).ok_or_else(malformed)?;
        let creator_key = None;
        let req = parse_create(&root, encode_principal(caller), caller_arn.to_owned(), creator_key)?;
        // The creator must be able to read the manifest and write the report itself.
        let m = &req.spec.manifest;
        self.authorize(caller, "GetObject", Some((&m.bucket, &m.key))).await?;
        if let Some(b) = &req.spec.report.bucket {
            self.authorize(caller, "PutObject", Some((b, "job-report"))).await?;
        }
        let job = self.engine.create_lock_job(req).await?;
        Ok(ok_xml("CreateJobResult", &el("JobId", &job.id)))
    }

    async fn list(&self, caller: &Principal, query: &[(String, String)]) -> Result<Response<Body>, ControlError> {
        let statuses: Vec<&str> = query.iter().filter(|(k, _)| k == "jobStatuses").map(|(_, v)| v.as_str()).collect();
        let max = match first(query, "maxResults") {
            Some(m) => {
                m.parse::<usize>().ok().filter(|m| *m <= 1000).ok_or_else(|| invalid("maxResults must be 0..1000"))?
            }
            None => 1000,
        };
        let skip = match first(query, "nextToken") {
            Some(t) => t.parse::<usize>().map_err(|_| {
                err(StatusCode::BAD_REQUEST, "InvalidNextTokenException", "The next token is not valid")
            })?,
            None => 0,
        };
        let mine = self.dir.account_of(caller).map(str::to_owned);
        let jobs: Vec<_> = self
            .engine
            .lock_jobs()
            .await
            .map_err(|e| ControlError::from(LockJobError::Engine(e)))?
            .into_iter()
            .filter(|(job, spec)| {
                self.dir.account_of(&decode_principal(&spec.creator)).map(str::to_owned) == mine
                    && (statuses.is_empty() || statuses.contains(&job.status.as_str()))
            })
            .collect();
        let page = jobs.iter().skip(skip).take(max.max(1));
        let mut inner = String::from("<Jobs>");
        for (job, spec) in page {
            inner += "<member>";
            inner += &el("JobId", &job.id);
            if let Some(d) = &spec.description {
                inner += &el("Description", d);
            }
            inner += &el("Operation", spec.operation.name());
            inner += &el("Priority", &job.priority.to_string());
            inner += &el("Status", &job.status);
            inner += &el("CreationTime", &job.created.to_iso8601());
            if let Some(t) = job.terminated {
                inner += &el("TerminationDate", &t.to_iso8601());
            }
            inner += &progress(job);
            inner += "</member>";
        }
        inner += "</Jobs>";
        if skip + max.max(1) < jobs.len() {
            inner += &el("NextToken", &(skip + max.max(1)).to_string());
        }
        Ok(ok_xml("ListJobsResult", &inner))
    }

    async fn describe(&self, caller: &Principal, id: &str) -> Result<Response<Body>, ControlError> {
        let (job, spec) = self.own_job(caller, id).await?;
        let account = self.dir.account_of(caller).unwrap_or_default().to_owned();
        let mut j = el("JobId", &job.id);
        j += &el("ConfirmationRequired", if spec.confirmation_required { "true" } else { "false" });
        if let Some(d) = &spec.description {
            j += &el("Description", d);
        }
        j += &el("JobArn", &format!("arn:aws:s3:{}:{account}:job/{}", self.region, job.id));
        j += &el("Status", &job.status);
        let m = &spec.manifest;
        j += "<Manifest><Spec>";
        j += &el("Format", m.format.aws_name());
        if !m.fields.is_empty() {
            j += "<Fields>";
            for f in &m.fields {
                j += &el("member", f);
            }
            j += "</Fields>";
        }
        j += "</Spec><Location>";
        j += &el("ObjectArn", &format!("arn:aws:s3:::{}/{}", m.bucket, m.key));
        if let Some(v) = &m.version_id {
            j += &el("ObjectVersionId", v);
        }
        j += &el("ETag", &m.etag);
        j += "</Location></Manifest>";
        j += &operation_xml(&spec.operation);
        j += &el("Priority", &job.priority.to_string());
        j += &progress(&job);
        if let Some(r) = &job.reason {
            j += &el("StatusUpdateReason", r);
        }
        // Failures by S3 error code (and why a job failed as a whole).
        let mut reasons = String::new();
        if job.status == "Failed"
            && let Some(r) = &job.reason
        {
            reasons += &format!("<member>{}{}</member>", el("FailureCode", "JobFailed"), el("FailureReason", r));
        }
        for (code, n) in &job.failures {
            reasons += &format!(
                "<member>{}{}</member>",
                el("FailureCode", code),
                el("FailureReason", &format!("{n} tasks failed with {code}"))
            );
        }
        if !reasons.is_empty() {
            j += &format!("<FailureReasons>{reasons}</FailureReasons>");
        }
        let r = &spec.report;
        j += "<Report>";
        if let Some(b) = &r.bucket {
            j += &el("Bucket", &format!("arn:aws:s3:::{b}"));
            j += &el("Format", "Report_CSV_20180820");
        }
        j += &el("Enabled", if r.enabled { "true" } else { "false" });
        if let Some(p) = &r.prefix {
            j += &el("Prefix", p);
        }
        if r.enabled {
            j += &el("ReportScope", if r.failed_only { "FailedTasksOnly" } else { "AllTasks" });
        }
        j += "</Report>";
        j += &el("CreationTime", &job.created.to_iso8601());
        if let Some(t) = job.terminated {
            j += &el("TerminationDate", &t.to_iso8601());
        }
        j += &el("RoleArn", &spec.role_arn);
        Ok(ok_xml("DescribeJobResult", &format!("<Job>{j}</Job>")))
    }
}

fn progress(job: &LockJobRecord) -> String {
    format!(
        "<ProgressSummary>{}{}{}</ProgressSummary>",
        el("TotalNumberOfTasks", &job.total.to_string()),
        el("NumberOfTasksSucceeded", &job.succeeded.to_string()),
        el("NumberOfTasksFailed", &job.failed.to_string())
    )
}

fn operation_xml(op: &JobOperation) -> String {
    match op {
        JobOperation::LegalHold { on } => format!(
            "<Operation><S3PutObjectLegalHold><LegalHold>{}</LegalHold></S3PutObjectLegalHold></Operation>",
            el("Status", if *on { "ON" } else { "OFF" })
        ),
        JobOperation::Retention { mode, until, bypass } => {
            let mut r = String::new();
            if let Some(u) = until {
                r += &el("RetainUntilDate", &holdfast_lock::UtcMillis(*u).to_iso8601());
            }
            if let Some(m) = mode {
                r += &el("Mode", m);
            }
            format!(
                "<Operation><S3PutObjectRetention>{}<Retention>{r}</Retention></S3PutObjectRetention></Operation>",
                el("BypassGovernanceRetention", if *bypass { "true" } else { "false" })
            )
        }
        JobOperation::Replicate => "<Operation><S3ReplicateObject/></Operation>".into(),
    }
}

/// Which job call a method and path are.
fn operation(method: &Method, path: &str) -> &'static str {
    let rest = path.strip_prefix(JOBS_PATH).unwrap_or_default();
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, segments.as_slice()) {
        (&Method::POST, []) => "CreateJob",
        (&Method::GET, []) => "ListJobs",
        (&Method::GET, [_]) => "DescribeJob",
        (&Method::POST, [_, "status"]) => "UpdateJobStatus",
        (&Method::POST, [_, "priority"]) => "UpdateJobPriority",
        _ => "Unknown",
    }
}

fn first<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn priority(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().filter(|p| (0..=i64::from(i32::MAX)).contains(p) && s.bytes().all(|b| b.is_ascii_digit()))
}

/// An element of a body the strict layer accepted.
#[derive(Debug, Default)]
struct Node {
    name: String,
    text: String,
    children: Vec<Node>,
}

impl Node {
    fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }
    fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

fn tree(body: &[u8]) -> Option<Node> {
    let mut reader = quick_xml::Reader::from_str(std::str::from_utf8(body).ok()?);
    let mut stack: Vec<Node> = Vec::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => {
                stack.push(Node { name: String::from_utf8(e.name().as_ref().to_vec()).ok()?, ..Node::default() });
            }
            Event::Empty(e) => {
                let n = Node { name: String::from_utf8(e.name().as_ref().to_vec()).ok()?, ..Node::default() };
                stack.last_mut()?.children.push(n);
            }
            Event::End(_) => {
                let n = stack.pop()?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(n),
                    None => return Some(n),
                }
            }
            Event::Text(t) => {
                let t = t.decode().ok()?;
                let t = quick_xml::escape::unescape(&t).ok()?;
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t);
                }
            }
            Event::GeneralRef(r) => {
                let reference = format!("&{};", r.decode().ok()?);
                let t = quick_xml::escape::unescape(&reference).ok()?;
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t);
                }
            }
            Event::CData(c) => {
                let t = std::str::from_utf8(&c).ok()?.to_owned();
                if let Some(n) = stack.last_mut() {
                    n.text.push_str(&t);
                }
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// A CreateJob body (already checked against the schema) as the engine's request.
fn parse_create(
    root: &Node,
    creator: String,
    creator_arn: String,
    creator_key: Option<String>,
) -> Result<NewLockJob, ControlError> {
    let required = |name: &str| root.child(name).ok_or_else(malformed);
    let token = required("ClientRequestToken")?.text.clone();
    if token.is_empty() || token.len() > 64 {
        return Err(invalid("ClientRequestToken must be 1 to 64 characters"));
    }
    let priority = priority(&required("Priority")?.text).ok_or_else(|| invalid("Priority must be 0..2147483647"))?;
    let role_arn = required("RoleArn")?.text.clone();
    if !valid_role_arn(&role_arn) {
        return Err(invalid(format!("Invalid RoleArn {role_arn}")));
    }
    let description = root.text_of("Description").map(str::to_owned);
    if description.as_ref().is_some_and(|d| d.is_empty() || d.len() > 256) {
        return Err(invalid("Description must be 1 to 256 characters"));
    }
    let confirmation_required = root.text_of("ConfirmationRequired") == Some("true");
    let operation = parse_operation(required("Operation")?)?;
    let report = parse_report(required("Report")?)?;
    if root.child("ManifestGenerator").is_some() {
        return Err(invalid("ManifestGenerator is not supported; give a Manifest"));
    }
    let manifest = parse_manifest(required("Manifest")?)?;
    Ok(NewLockJob {
        spec: LockJobSpec {
            operation,
            manifest,
            report,
            description,
            confirmation_required,
            role_arn,
            creator,
            creator_arn,
            creator_key,
        },
        priority,
        client_token: token,
    })
}

fn valid_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:") else { return false };
    let Some((_, rest)) = rest.split_once(":iam::") else { return false };
    let Some((account, role)) = rest.split_once(":role/") else { return false };
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && !role.is_empty()
}

fn parse_operation(op: &Node) -> Result<JobOperation, ControlError> {
    let [only] = op.children.as_slice() else {
        return Err(invalid("The job must name exactly one operation"));
    };
    match only.name.as_str() {
        "S3PutObjectLegalHold" => {
            let status = only.child("LegalHold").and_then(|h| h.text_of("Status")).ok_or_else(malformed)?;
            match status {
                "ON" => Ok(JobOperation::LegalHold { on: true }),
                "OFF" => Ok(JobOperation::LegalHold { on: false }),
                other => Err(invalid(format!("Invalid legal hold status {other}"))),
            }
        }
        "S3PutObjectRetention" => {
            let r = only.child("Retention").ok_or_else(malformed)?;
            let mode = r.text_of("Mode").map(str::to_owned);
            if let Some(m) = &mode
                && m != "GOVERNANCE"
                && m != "COMPLIANCE"
            {
                return Err(invalid(format!("Invalid retention mode {m}")));
            }
            let until = match r.text_of("RetainUntilDate") {
                Some(d) => Some(
                    holdfast_lock::UtcMillis::parse(d)
                        .map_err(|_| invalid(format!("Invalid RetainUntilDate {d}")))?
                        .millis(),
                ),
                None => None,
            };
            if mode.is_some() != until.is_some() {
                return Err(invalid("Retention needs both Mode and RetainUntilDate, or neither"));
            }
            let bypass = only.text_of("BypassGovernanceRetention") == Some("true");
            Ok(JobOperation::Retention { mode, until, bypass })
        }
        // An empty structure in AWS's model (S3ReplicateObjectOperation): the schema admits no
        // child element, and text in it is as malformed.
        "S3ReplicateObject" if only.text.trim().is_empty() => Ok(JobOperation::Replicate),
        "S3ReplicateObject" => Err(malformed()),
        other => Err(invalid(format!(
            "The operation {other} is not supported; Holdfast runs S3PutObjectLegalHold, S3PutObjectRetention and S3ReplicateObject"
        ))),
    }
}

fn parse_report(r: &Node) -> Result<ReportSpec, ControlError> {
    let enabled = match r.text_of("Enabled") {
        Some("true") => true,
        Some(_) => false,
        None => return Err(malformed()),
    };
    if !enabled {
        return Ok(ReportSpec { enabled, bucket: None, prefix: None, failed_only: false });
    }
    let arn = r.text_of("Bucket").ok_or_else(|| invalid("An enabled report needs a Bucket"))?;
    let bucket = match parse_s3_arn(arn) {
        Some((b, None)) => b,
        _ => return Err(invalid(format!("Invalid report bucket ARN {arn}"))),
    };
    if r.text_of("Format") != Some("Report_CSV_20180820") {
        return Err(invalid("The report Format must be Report_CSV_20180820"));
    }
    let failed_only = match r.text_of("ReportScope") {
        None | Some("AllTasks") => false,
        Some("FailedTasksOnly") => true,
        Some(other) => return Err(invalid(format!("Invalid ReportScope {other}"))),
    };
    let prefix = r.text_of("Prefix").map(str::to_owned);
    Ok(ReportSpec { enabled, bucket: Some(bucket), prefix, failed_only })
}

fn parse_manifest(m: &Node) -> Result<ManifestSpec, ControlError> {
    let spec = m.child("Spec").ok_or_else(malformed)?;
    let location = m.child("Location").ok_or_else(malformed)?;
    let format = match spec.text_of("Format").ok_or_else(malformed)? {
        "S3BatchOperations_CSV_20180820" => ManifestFormat::Csv,
        "S3InventoryReport_CSV_20161130" => ManifestFormat::Inventory,
        other => return Err(invalid(format!("The manifest format {other} is not supported"))),
    };
    let fields: Vec<String> =
        spec.child("Fields").map(|f| f.children.iter().map(|c| c.text.clone()).collect()).unwrap_or_default();
    if format == ManifestFormat::Csv {
        let f: Vec<&str> = fields.iter().map(String::as_str).collect();
        if f != ["Bucket", "Key"] && f != ["Bucket", "Key", "VersionId"] {
            return Err(invalid("A CSV manifest's Fields must be Bucket, Key or Bucket, Key, VersionId"));
        }
    }
    let arn = location.text_of("ObjectArn").ok_or_else(malformed)?;
    let (bucket, key) = match parse_s3_arn(arn) {
        Some((b, Some(k))) => (b, k),
        _ => return Err(invalid(format!("Invalid manifest ObjectArn {arn}"))),
    };
    let etag = location.text_of("ETag").ok_or_else(malformed)?.to_owned();
    let version_id = location.text_of("ObjectVersionId").map(str::to_owned);
    Ok(ManifestSpec { format, fields, bucket, key, version_id, etag })
}
