//! aws-chunked request bodies (`Content-Encoding: aws-chunked`): s3s's chunk framing
//! decoder, chunk-signature check and trailer parser, driven through the s3s service (they
//! are private; see common/s3s_service.rs) with a PutObject whose headers are correctly
//! signed by Holdfast's signer and whose body is the fuzz input; the S3 side reads the body
//! to the end. Input: byte 0 picks the payload form (STREAMING-UNSIGNED-PAYLOAD-TRAILER,
//! STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER), bytes
//! 1..3 the x-amz-decoded-content-length (big endian), the rest is the body. Chunk signatures
//! of the signed forms cannot match (the framing is parsed before they are checked).
//! Invariant: never a server error (5xx other than 501) or an `HttpError`, never a hang.
#![no_main]

#[path = "../common/s3s_service.rs"]
mod service;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

const FORMS: [&str; 3] = [
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let form = FORMS[usize::from(data[0]) % FORMS.len()];
    let decoded = u16::from_be_bytes([data[1], data[2]]).to_string();
    let body = &data[3..];
    let length = body.len().to_string();
    let date = service::amz_date();
    let mut signed: Vec<(&str, &str)> = vec![
        ("content-encoding", "aws-chunked"),
        ("content-length", &length),
        ("x-amz-decoded-content-length", &decoded),
    ];
    if form.ends_with("TRAILER") {
        signed.push(("x-amz-trailer", "x-amz-checksum-crc32"));
    }
    let authorization = service::sign("PUT", "/bucket/key", "", &signed, form, &date);
    let mut headers: Vec<(&str, &[u8])> = vec![
        ("host", service::HOST.as_bytes()),
        ("x-amz-date", date.as_bytes()),
        ("x-amz-content-sha256", form.as_bytes()),
        ("authorization", authorization.as_bytes()),
    ];
    headers.extend(signed.iter().map(|(k, v)| (*k, v.as_bytes())));
    let Some(req) = service::request("PUT", "/bucket/key", &headers, Bytes::copy_from_slice(body)) else { return };
    service::call(req);
});
