//! `x-amz-copy-source` (CopyObject, UploadPartCopy): s3s's `CopySource::parse` (what the copy
//! reads), Holdfast's own reading of the header for the access check (`access::copy_source`:
//! the source object the policy is evaluated on) and the version id check
//! (`version_selector`).
//! Invariants: whenever s3s names a source `bucket/key`, the access check names the very
//! same bucket and key and agrees on whether a version id is given (else a request could be
//! authorised on one object and copy another); a source key s3s accepts is at most 1024
//! bytes (s3s refuses a longer one; the key limit holds on every path).
#![no_main]

use holdfast_api::fuzzing::copy_source;
use holdfast_engine::version_selector;
use libfuzzer_sys::fuzz_target;
use s3s::dto::CopySource;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(value) = http::HeaderValue::from_str(text) else { return };
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-copy-source", value);
    let ours = copy_source(&headers);
    if let Ok(CopySource::Bucket { bucket, key, version_id }) = CopySource::parse(text) {
        let (b, k, v) =
            ours.unwrap_or_else(|| panic!("s3s copies {bucket}/{key} but the access check sees no source in {text:?}"));
        assert_eq!((&*bucket, &*key), (b.as_str(), k.as_str()), "copy and access check disagree on {text:?}");
        assert_eq!(version_id.is_some(), v, "version id seen differently in {text:?}");
        assert!(key.len() <= 1024, "a source key of {} bytes", key.len());
        let _ = version_selector(version_id.map(String::from));
    }
});
