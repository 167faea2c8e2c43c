//! One module per group of S3 operations; each function takes the typed s3s request.

pub mod buckets;
pub mod listing;
pub mod lock;
pub mod multipart;
pub mod objects;

use s3s::{S3Result, s3_error};

/// `x-amz-bypass-governance-retention: true`, as s3s parsed it.
pub fn bypass_requested(v: Option<bool>) -> bool {
    v == Some(true)
}

/// Lock-changing requests and DeleteObjects must carry an integrity header (B14, D9).
pub fn require_integrity_header(h: &http::HeaderMap) -> S3Result<()> {
    let has = h.contains_key("content-md5")
        || h.keys().any(|k| k.as_str().starts_with("x-amz-checksum-") && k.as_str() != "x-amz-checksum-type")
        || h.get("x-amz-trailer").is_some_and(|v| v.to_str().is_ok_and(|v| v.starts_with("x-amz-checksum-")));
    if has {
        Ok(())
    } else {
        Err(s3_error!(InvalidRequest, "Missing required header for this request: Content-MD5 OR x-amz-checksum-*"))
    }
}
