//! aws-chunked request bodies (`Content-Encoding: aws-chunked`): s3s's chunk framing
//! decoder, chunk-signature check and trailer parser, driven through the s3s service (they
//! are private; see common/s3s_service.rs) with a PutObject whose headers are correctly
//! signed by Holdfast's signer and whose body is the fuzz input; the S3 side reads the body
//! to the end. Input: byte 0 picks the payload form (STREAMING-UNSIGNED-PAYLOAD-TRAILER,
//! STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or
//! "framed"), bytes 1..3 the x-amz-decoded-content-length (big endian), the rest is the body.
//! Chunk signatures in a raw body cannot match (the framing is parsed before they are
//! checked); the framed form reads the rest as chunks (a length byte, then the bytes) and
//! frames the non-empty ones itself as STREAMING-AWS4-HMAC-SHA256-PAYLOAD with correct chunk signatures, so
//! that the signed decoder runs past the first chunk (its decoded length is the fuzz value
//! when byte 1 is 0xff, else the true one).
//! Invariant: never a server error (5xx other than 501) or an `HttpError`, never a hang.
#![no_main]

#[allow(dead_code)]
use holdfast_api::fuzzing::guards;
#[path = "../common/s3s_service.rs"]
mod service;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use service::hmac;
use sha2::{Digest, Sha256};

/// `chunks` framed as STREAMING-AWS4-HMAC-SHA256-PAYLOAD, each chunk signed after the one
/// before it, the first after the request's own signature `seed`.
fn frame(chunks: &[&[u8]], seed: &str, date: &str) -> Vec<u8> {
    let day = &date[..8];
    let key = service::signing_key(day);
    let empty = hex::encode(Sha256::digest(b""));
    let mut prev = seed.to_owned();
    let mut out = Vec::new();
    for chunk in chunks.iter().copied().chain([&b""[..]]) {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{date}\n{day}/{}/s3/aws4_request\n{prev}\n{empty}\n{}",
            service::REGION,
            hex::encode(Sha256::digest(chunk))
        );
        prev = hex::encode(hmac(&key, to_sign.as_bytes()));
        out.extend_from_slice(format!("{:x};chunk-signature={prev}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

const FORMS: [&str; 3] = [
    "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let framed = usize::from(data[0]) % (FORMS.len() + 1) == FORMS.len();
    let form = if framed { FORMS[1] } else { FORMS[usize::from(data[0]) % (FORMS.len() + 1)] };
    let mut decoded = u16::from_be_bytes([data[1], data[2]]).to_string();
    let mut chunks = Vec::new();
    if framed {
        let mut rest = &data[3..];
        while let Some((&n, tail)) = rest.split_first() {
            let n = usize::from(n).min(tail.len());
            // An empty chunk ends the body: only the last one is.
            if n > 0 {
                chunks.push(&tail[..n]);
            }
            rest = &tail[n..];
        }
        if data[1] != 0xff {
            decoded = chunks.iter().map(|c| c.len()).sum::<usize>().to_string();
        }
    }
    let date = service::amz_date();
    // The framed body's length is known before it is signed: each chunk adds its size in
    // hex, the signature line (83 bytes with the CRLFs) and its bytes.
    let framed_len: usize =
        chunks.iter().chain([&&b""[..]]).map(|c| format!("{:x}", c.len()).len() + 83 + 2 + c.len()).sum();
    let length = if framed { framed_len.to_string() } else { (data.len() - 3).to_string() };
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
    let body = if framed {
        let seed = authorization.rsplit("Signature=").next().expect("a signature");
        let body = frame(&chunks, seed, &date);
        assert_eq!(body.len(), framed_len);
        body
    } else {
        data[3..].to_vec()
    };
    let Some(req) = service::request("PUT", "/bucket/key", &headers, Bytes::from(body)) else { return };
    let status = service::call(req);
    if framed && data[1] != 0xff {
        assert_eq!(status, 200, "a correctly signed aws-chunked upload of {chunks:?} refused");
    }
});
