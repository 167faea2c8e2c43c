//! One module per group of S3 operations; each function takes the typed s3s request.

pub mod acl;
pub mod buckets;
pub mod inventory;
pub mod lifecycle;
pub(crate) mod list_xml;
pub mod listing;
pub mod lock;
pub mod lock_jobs;
pub mod multipart;
pub mod notification;
pub mod objects;
pub mod policy;
pub mod replication;
pub mod sosapi;
pub mod tagging;

use crate::Gateway;
use holdfast_engine::model::{VersionRecord, Versioning};
use s3s::{S3Result, s3_error};

/// `x-amz-version-id` is shown for every version of a bucket that has (or had) versioning.
pub(crate) async fn shown_version_id(gw: &Gateway, rec: &VersionRecord) -> Option<String> {
    if rec.version_id != "null" {
        return Some(rec.version_id.clone());
    }
    match gw.engine.bucket(&rec.bucket).await {
        Ok(Some(b)) if b.versioning != Versioning::Unversioned => Some("null".into()),
        _ => None,
    }
}

/// Lock-changing requests and DeleteObjects must carry an integrity header (B14, D9), and
/// it must match the body: the HTTP edge keeps these small XML bodies as [`XmlBody`].
pub fn require_integrity_header(h: &http::HeaderMap, ext: &http::Extensions) -> S3Result<()> {
    let trailer = h.get("x-amz-trailer").is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("x-amz-checksum-")));
    let has = h.contains_key("content-md5")
        || h.keys().any(|k| k.as_str().starts_with("x-amz-checksum-") && k.as_str() != "x-amz-checksum-type")
        || trailer;
    if !has {
        return Err(s3_error!(
            InvalidRequest,
            "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"
        ));
    }
    if let Some(XmlBody(body)) = ext.get::<XmlBody>()
        && !trailer
    {
        let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let md5 = header("content-md5");
        let [crc32, crc32c, crc64nvme, sha1, sha256] =
            ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"].map(|a| header(&format!("x-amz-checksum-{a}")));
        let values = crate::convert::ChecksumValues {
            crc32: crc32.as_ref(),
            crc32c: crc32c.as_ref(),
            crc64nvme: crc64nvme.as_ref(),
            sha1: sha1.as_ref(),
            sha256: sha256.as_ref(),
        };
        let claims = crate::convert::body_claims(h, None, None, md5.as_ref(), None, &values)?;
        holdfast_engine::ingest::verify_buffered(&claims, body).map_err(crate::error::engine_error)?;
    }
    Ok(())
}

/// The whole body of an XML request (Object Lock configuration, retention, legal hold,
/// lifecycle, versioning, tagging, notification, DeleteObjects, CompleteMultipartUpload), kept
/// by the HTTP edge in the request extensions so that it can be validated strictly before s3s
/// parses it and its Content-MD5 / x-amz-checksum-* verified (B14, D9); s3s does
/// neither.
#[derive(Debug, Clone)]
pub struct XmlBody(pub bytes::Bytes);

/// Largest body the HTTP edge keeps as [`XmlBody`] (DeleteObjects of 1000 long keys fits).
pub const MAX_XML_BODY: u64 = 8 << 20;

/// Whether s3s reads this request's body whole before the operation runs: every body but an
/// object's or a part's bytes (PUT to an object without a subresource, or a browser POST
/// upload to a bucket), which stream. s3s caps such a body at [`MAX_XML_BODY`] (set in
/// [`crate::service`]) but answers 500 when a streamed body passes the cap, so the edge refuses
/// a declared length over it first.
pub fn reads_body_whole(method: &http::Method, query: Option<&str>, object_path: bool) -> bool {
    let subresource = query.is_some_and(|q| {
        q.split('&').filter_map(|kv| kv.split('=').next()).any(|k| {
            !k.is_empty() && !matches!(k, "partNumber" | "uploadId" | "versionId" | "x-id") && !k.starts_with("X-Amz-")
        })
    });
    match *method {
        http::Method::PUT => !object_path || subresource,
        http::Method::POST => object_path || query.is_some_and(|q| !q.is_empty()),
        _ => false,
    }
}

/// Whether the HTTP edge should keep the body of this request as [`XmlBody`].
pub fn keeps_xml_body(method: &http::Method, query: Option<&str>) -> bool {
    let has = |name: &str| query.is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some(name)));
    // Every operation with an XML body: the body is checked against its schema before s3s
    // parses it (crate::strict_xml), and lock bodies against their Content-MD5 / checksum.
    match *method {
        http::Method::PUT => [
            "object-lock",
            "retention",
            "legal-hold",
            "lifecycle",
            "versioning",
            "tagging",
            "notification",
            "replication",
            "inventory",
        ]
        .iter()
        .any(|n| has(n)),
        http::Method::POST => has("delete") || has("uploadId"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::reads_body_whole;
    use http::Method;

    #[test]
    fn only_object_and_part_bytes_stream() {
        let (put, post, get) = (Method::PUT, Method::POST, Method::GET);
        // PutObject, UploadPart (also presigned, and with the SDK's x-id), browser POST upload.
        assert!(!reads_body_whole(&put, None, true));
        assert!(!reads_body_whole(&put, Some("partNumber=1&uploadId=u"), true));
        assert!(!reads_body_whole(&put, Some("x-id=PutObject&X-Amz-Signature=ab"), true));
        assert!(!reads_body_whole(&post, None, false));
        assert!(!reads_body_whole(&get, Some("policy"), false));
        // Subresources of objects and buckets, bucket bodies, POST to objects.
        assert!(reads_body_whole(&put, Some("retention&versionId=v"), true));
        assert!(reads_body_whole(&put, Some("policy"), false));
        assert!(reads_body_whole(&put, None, false));
        assert!(reads_body_whole(&post, Some("delete"), false));
        assert!(reads_body_whole(&post, Some("uploadId=u"), true));
    }
}
