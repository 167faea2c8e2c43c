//! Routes IAM query-API requests (signed with service `iam`) past s3s, which only knows
//! `s3` and `sts`: verify SigV4 here, then hand the form to `holdfast_identity::iam`.

use crate::audit::AuditSlot;
use bytes::Bytes;
use holdfast_identity::iam::{Iam, IamResponse, error_response};
use holdfast_identity::sigv4::{self, SigError};
use holdfast_identity::{Directory, Principal};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use s3s::Body;

/// IAM request bodies are small forms; a policy document is at most a few KiB.
const MAX_IAM_BODY: usize = 64 << 10;

/// Whether the request is signed for the IAM service.
pub fn is_iam<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // A credential scope for `iam` has "iam" between two slashes; an S3 request is told
        // apart by this scan alone, without parsing its header into owned parts (issue #17).
        .filter(|v| v.split('/').any(|part| part == "iam"))
        .and_then(sigv4::service_of)
        .is_some_and(|s| s == "iam")
}

fn to_http(r: IamResponse) -> Response<Body> {
    let mut resp = Response::new(Body::from(Bytes::from(r.body)));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}

/// Answers one IAM request; also returns its `Action` once the signature is verified, and
/// names the caller in `facts` for the audit trail.
pub async fn handle<B: super::InBody>(
    dir: &Directory,
    req: Request<B>,
    request_id: &str,
    facts: &AuditSlot,
) -> (Response<Body>, Option<String>) {
    let (parts, body) = req.into_parts();
    let Ok(body) = Limited::new(body, MAX_IAM_BODY).collect().await.map(|c| c.to_bytes()) else {
        return (
            to_http(error_response(400, "ValidationError", "The request body is too large or incomplete.", request_id)),
            None,
        );
    };
    let auth = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Ok(auth) = sigv4::parse_authorization(auth) else {
        return (
            to_http(error_response(
                400,
                "IncompleteSignature",
                "The request signature does not conform to AWS standards.",
                request_id,
            )),
            None,
        );
    };
    let (principal, secret) = match dir.lookup(&auth.access_key).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return (
                to_http(error_response(
                    403,
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid.",
                    request_id,
                )),
                None,
            );
        }
        Err(e) => return (to_http(error_response(500, "ServiceFailure", &e.to_string(), request_id)), None),
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let query = parts.uri.query().unwrap_or_default();
    match sigv4::verify(parts.method.as_str(), parts.uri.path(), query, &parts.headers, &body, &auth, &secret, now) {
        Ok(()) => {}
        Err(SigError::Skewed) => {
            return (
                to_http(error_response(
                    403,
                    "SignatureDoesNotMatch",
                    "Signature expired: the request time is more than 15 minutes from the server time.",
                    request_id,
                )),
                None,
            );
        }
        Err(_) => {
            return (
                to_http(error_response(
                    403,
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match the signature you provided.",
                    request_id,
                )),
                None,
            );
        }
    }
    // Query-string and form parameters both carry the action (the CLI uses the form).
    let mut form = body.to_vec();
    if !query.is_empty() {
        if !form.is_empty() {
            form.push(b'&');
        }
        form.extend_from_slice(query.as_bytes());
    }
    let caller: &Principal = &principal;
    let action = form
        .split(|&b| b == b'&')
        .find_map(|kv| kv.strip_prefix(b"Action="))
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let principal_name = crate::audit::principal_name(caller, dir.account_id());
    holdfast_audit::scope::update_current(|a| {
        a.principal = Some(principal_name.clone());
        a.op = Some(format!("iam:{}", action.as_deref().unwrap_or_default()));
    });
    if let Ok(mut f) = facts.0.lock() {
        f.principal = Some(principal_name);
    }
    (to_http(Iam { dir, caller, request_id }.handle(&form).await), action)
}
