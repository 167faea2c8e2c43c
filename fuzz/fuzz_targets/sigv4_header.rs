//! SigV4 `Authorization` headers: Holdfast's own parser (IAM requests, the audit's
//! access-key field: `holdfast_identity::sigv4`) and s3s's, which authenticates every S3
//! request, driven through the s3s service (see common/s3s_service.rs) with the fuzz text as
//! the `Authorization` of a GET with a fresh x-amz-date (`{DATE}` and `{DAY}` in the text
//! become the request time and day, so that seeds stay fresh).
//! Invariants: neither parser panics; s3s never answers a server error (5xx other than 501)
//! or an `HttpError`.
#![no_main]

#[allow(dead_code)]
use holdfast_api::fuzzing::guards;
#[path = "../common/s3s_service.rs"]
mod service;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = holdfast_identity::sigv4::parse_authorization(text);
    let _ = holdfast_identity::sigv4::service_of(text);
    let date = service::amz_date();
    let text = text.replace("{DATE}", &date).replace("{DAY}", &date[..8]);
    let headers: [(&str, &[u8]); 4] = [
        ("host", service::HOST.as_bytes()),
        ("x-amz-date", date.as_bytes()),
        ("x-amz-content-sha256", b"UNSIGNED-PAYLOAD"),
        ("authorization", text.as_bytes()),
    ];
    let Some(req) = service::request("GET", "/bucket/key", &headers, Bytes::new()) else { return };
    service::call(req);
});
