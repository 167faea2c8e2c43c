//! The audit records of one request. A change commits its own record in the
//! metadata transaction that makes it (the store writes it from the request's actor), so
//! a request whose changes committed is already recorded. The edge adds a record of its own
//! only for what committed nothing: a denial, refused DeleteObjects entries, a state-changing
//! request that failed. Lock changes, bypasses and denials wait (briefly) for their records
//! to reach the trail's files before the answer leaves; the records are durable either way.

use crate::audit::{AuditFacts, AuditSlot};
use holdfast_audit::{Actor, ActorCell, AuditLog, AuditRecord, LockSnapshot};
use std::time::Duration;

/// Longest wait for a record to reach the trail's files before answering anyway (it is
/// committed in the metadata store and is written once the files can be).
const FILE_WAIT: Duration = Duration::from_secs(2);
use http::{Method, Request, Response, StatusCode};
use s3s::Body;
use std::net::SocketAddr;

/// What the edge knows of a request before it is handled.
pub struct RequestFacts {
    source: String,
    method: Method,
    access_key: Option<String>,
    /// Bucket and key from a path-style URI, for requests refused before the access check.
    path_bucket: Option<String>,
    path_key: Option<String>,
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

impl RequestFacts {
    /// The actor of this request, for the store's records of its changes.
    pub fn actor(&self, request_id: &str) -> ActorCell {
        ActorCell::new(Actor {
            access_key: self.access_key.clone(),
            source: Some(self.source.clone()),
            request_id: Some(request_id.to_owned()),
            bucket: self.path_bucket.clone(),
            key: self.path_key.clone(),
            ..Actor::default()
        })
    }

    pub fn of<B>(req: &Request<B>, peer: SocketAddr) -> Self {
        let from_header = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|a| super::guards::header_credential(a, '/'))
            .map(str::to_owned);
        let from_query = req.uri().query().and_then(|q| {
            q.split('&').find_map(|kv| kv.strip_prefix("X-Amz-Credential=")).map(|c| {
                let c = decode(c);
                c.split('/').next().unwrap_or_default().to_owned()
            })
        });
        let path = req.uri().path().trim_start_matches('/');
        let (bucket, key) = match path.split_once('/') {
            Some((b, k)) => (b, Some(k)),
            None => (path, None),
        };
        Self {
            source: peer.to_string(),
            method: req.method().clone(),
            access_key: from_header.or(from_query).filter(|k| !k.is_empty()),
            path_bucket: (!bucket.is_empty()).then(|| decode(bucket)),
            path_key: key.filter(|k| !k.is_empty()).map(decode),
        }
    }
}

/// S3 operations that change state (whatever their outcome).
fn changes_state(op: &str) -> bool {
    if let Some(action) = op.strip_prefix("iam:") {
        return !(action.starts_with("Get") || action.starts_with("List"));
    }
    ["Put", "Delete", "Create", "Copy", "Complete", "Abort", "Upload", "Post", "Restore"]
        .iter()
        .any(|p| op.starts_with(p))
}

/// Operations whose record must be durable before the answer even when they succeed.
fn lock_change(op: &str) -> bool {
    matches!(op, "PutObjectRetention" | "PutObjectLegalHold" | "PutObjectLockConfiguration")
}

fn error_code(resp: &Response<Body>) -> Option<String> {
    let bytes = resp.body().bytes()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_owned())
}

/// Records what the request's committed changes did not: a denial, refused entries, a
/// failed state change. Returns an error when such a record could not be committed (the
/// answer stands: a denial stays a denial).
pub async fn record(
    log: &AuditLog,
    op: &str,
    request: &RequestFacts,
    actor: &ActorCell,
    slot: &AuditSlot,
    resp: &Response<Body>,
    request_id: &str,
) -> std::io::Result<()> {
    let status = resp.status();
    let facts: AuditFacts = slot.take();
    let committed = actor.committed();
    let denied = status == StatusCode::FORBIDDEN;
    let refused = !facts.refused.is_empty();
    let urgent = denied || refused || facts.bypass || lock_change(op);
    if !committed.is_empty() {
        log.nudge();
        if urgent && !log.wait_written(&committed, FILE_WAIT).await {
            tracing::debug!(%request_id, "audit records committed but not yet in the trail's files");
        }
    }
    if !(denied || refused || (changes_state(op) && committed.is_empty())) {
        return Ok(());
    }
    let mut r = AuditRecord::new(
        if op == "none" { format!("{}?", request.method) } else { op.to_owned() },
        holdfast_lock::UtcMillis::now_system(),
    );
    r.principal = facts.principal;
    r.access_key.clone_from(&request.access_key);
    r.source = Some(request.source.clone());
    r.bucket = facts.bucket.or_else(|| request.path_bucket.clone());
    r.key = facts.key.or_else(|| request.path_key.clone());
    r.version_id = facts.version_id;
    r.status = Some(status.as_u16());
    r.code = if status.as_u16() >= 400 { error_code(resp) } else { None };
    r.request_id = Some(request_id.to_owned());
    r.bypass = facts.bypass;
    r.lock_before = facts.lock_before.as_ref().map(LockSnapshot::from);
    r.lock_after = facts.lock_after.as_ref().map(LockSnapshot::from);
    if refused {
        let entries: Vec<serde_json::Value> = facts
            .refused
            .iter()
            .map(|(key, version, code)| serde_json::json!({ "key": key, "versionId": version, "code": code }))
            .collect();
        r.detail = Some(serde_json::json!({ "refused": entries }));
    }
    if urgent {
        log.append_durable(r, FILE_WAIT).await
    } else {
        log.append(r);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_operations_are_recorded() {
        for op in
            ["PutObject", "DeleteObjects", "CreateBucket", "UploadPart", "CompleteMultipartUpload", "iam:CreateUser"]
        {
            assert!(changes_state(op), "{op}");
        }
        for op in ["GetObject", "HeadObject", "ListObjectsV2", "iam:ListUsers", "iam:GetUser", "none"] {
            assert!(!changes_state(op), "{op}");
        }
        assert!(lock_change("PutObjectRetention") && !lock_change("PutObject"));
    }

    #[test]
    fn request_facts_from_path_and_credentials() {
        let req = Request::builder()
            .method("DELETE")
            .uri("/b/dir/a%20b?versionId=x")
            .header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, X=y")
            .body(())
            .unwrap();
        let f = RequestFacts::of(&req, "127.0.0.1:1".parse().unwrap());
        assert_eq!(f.access_key.as_deref(), Some("AKID"));
        assert_eq!(f.path_bucket.as_deref(), Some("b"));
        assert_eq!(f.path_key.as_deref(), Some("dir/a b"));
    }
}
