//! One s3s service shared by the targets that drive s3s's private parsers (aws-chunked
//! framing, presigned URLs, the `Authorization` header) through its public entry point, as
//! Holdfast's S3 edge does: built once with one fixed key pair (`SimpleAuth`) and a tiny S3
//! whose PutObject reads its body to the end (so the aws-chunked decoder runs), called on a
//! current-thread tokio runtime. Before s3s, each request meets the checks of Holdfast's HTTP
//! edge in the order the edge applies them (`holdfast_api::fuzzing::guards`, the edge's own
//! module): SigV2 and presigned expiry, Transfer-Encoding, the header section's size, the copy
//! source's key length, the URI's escapes, the signing region and presigned signature form,
//! the signing dates, Content-Length, `Date` as x-amz-date, and
//! the aws-chunked chunk-size cap (`ChunkGuard`, 16 MiB as configured by default). Invariant for every target: s3s answers client garbage with a
//! 2xx/3xx/4xx (501 NotImplemented allowed: s3s refuses streaming presigned uploads so), never
//! a 500/502/503 and never an `HttpError`.

#![allow(dead_code)] // each target uses a part

use bytes::Bytes;
use futures::StreamExt;
use holdfast_identity::signer::Signer;
use s3s::dto::{GetObjectInput, GetObjectOutput, PutObjectInput, PutObjectOutput};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{Body, S3, S3Request, S3Response, S3Result, s3_error};
use std::sync::OnceLock;

pub const ACCESS_KEY: &str = "AKIAFUZZFUZZFUZZFUZZ";
pub const SECRET_KEY: &str = "fuzzSecretKeyfuzzSecretKeyfuzzSecretKey0";
pub const REGION: &str = "us-east-1";
pub const HOST: &str = "localhost";

struct Sink;

#[async_trait::async_trait]
impl S3 for Sink {
    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        if let Some(mut body) = req.input.body {
            while let Some(chunk) = body.next().await {
                // Holdfast classifies a failed body as a 400 (holdfast_api::convert::body_stream).
                if let Err(e) = chunk {
                    return Err(s3_error!(IncompleteBody, "{e}"));
                }
            }
        }
        Ok(S3Response::new(PutObjectOutput::default()))
    }

    async fn get_object(&self, _req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        Err(s3_error!(NoSuchKey))
    }
}

struct Harness {
    rt: tokio::runtime::Runtime,
    service: S3Service,
    signer: Signer,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let mut b = S3ServiceBuilder::new(Sink);
        b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        Harness { rt, service: b.build(), signer: Signer::new(ACCESS_KEY, SECRET_KEY, REGION) }
    })
}

/// `yyyymmddThhmmssZ` of now (s3s refuses a request time more than 15 minutes off).
pub fn amz_date() -> String {
    holdfast_identity::signer::amz_date_now()
}

/// Signs a request in the header form with Holdfast's own signer; returns the
/// `Authorization` value. `headers`: lower-case names, besides host, x-amz-content-sha256
/// and x-amz-date.
pub fn sign(method: &str, path: &str, query: &str, headers: &[(&str, &str)], payload: &str, date: &str) -> String {
    harness().signer.sign(method, HOST, path, query, headers, payload, date).authorization
}

/// HMAC-SHA256.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The service's SigV4 signing key for `day` (yyyymmdd).
pub fn signing_key(day: &str) -> [u8; 32] {
    let mut key = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), day.as_bytes());
    for part in [REGION.as_bytes(), b"s3", b"aws4_request"] {
        key = hmac(&key, part);
    }
    key
}

// Finding of this harness, in s3s 0.14.1, not patched there: `utils/parser.rs` `digit()`
// computes `c - b'0'` before checking that `c` is a digit, so a SigV4 date with a byte below
// `'0'` in a digit position overflows (a panic with overflow checks on). Reached from the
// Credential scope's date and from x-amz-date / X-Amz-Date; Holdfast's edge now refuses such
// dates before s3s (`guards::check_signing_dates`), so the harness sends them again.
// The input that found it: fuzz/findings/sigv4_query-s3s-digit-underflow.

/// Sends one request through Holdfast's edge checks and the service; panics on a server
/// error (but 501) or an `HttpError`. Returns the status.
pub fn call(req: http::Request<Bytes>) -> u16 {
    let h = harness();
    let described = format!("{} {} {:?}", req.method(), req.uri(), req.headers());
    let (mut parts, bytes) = req.into_parts();
    let query = parts.uri.query();
    let refused = crate::guards::check_signature_version(&parts.headers, query, true)
        .and_then(|()| crate::guards::check_transfer_encoding(&parts.method, &parts.headers))
        .and_then(|()| crate::guards::check_header_section(&parts.headers))
        .and_then(|()| crate::guards::check_copy_source_key(&parts.headers))
        .and_then(|()| crate::guards::check_uri(parts.uri.path()))
        .and_then(|()| crate::guards::check_signing_region(&parts.headers, query, REGION).map_err(|(r, _)| r))
        .and_then(|()| crate::guards::check_signing_dates(&parts.headers, query))
        .and_then(|()| crate::guards::check_content_length(&parts.method, &parts.headers, query, true))
        .err();
    if let Some((status, code, message)) = refused {
        assert!(
            !status.is_server_error() || status == http::StatusCode::NOT_IMPLEMENTED,
            "Holdfast's edge answers {status} {code} {message} for client input: {described}"
        );
        return status.as_u16();
    }
    let chunked = crate::guards::is_aws_chunked(&parts.headers);
    crate::guards::sigv4_date_from_date_header(&mut parts.headers);
    let body = if chunked {
        Body::http_body(crate::guards::ChunkGuard::new(http_body_util::Full::new(bytes), 16 << 20))
    } else {
        Body::from(bytes)
    };
    let req = http::Request::from_parts(parts, body);
    let result = h.rt.block_on(async {
        let resp = h.service.call(req).await?;
        let status = resp.status();
        // Read the whole answer too (error bodies are serialised lazily).
        let body: Body = resp.into_body();
        let bytes = http_body_util::BodyExt::collect(body).await.map(|c| c.to_bytes()).unwrap_or_default();
        Ok::<_, s3s::HttpError>((status, bytes))
    });
    match result {
        Ok((status, body)) => {
            static DEBUG: OnceLock<bool> = OnceLock::new();
            if *DEBUG.get_or_init(|| std::env::var_os("FUZZ_DEBUG").is_some()) {
                eprintln!("{status} {described}\n{}", String::from_utf8_lossy(&body));
            }
            if status == http::StatusCode::NOT_IMPLEMENTED {
                // s3s's own "not implemented" answers (no Holdfast route or operation in this
                // harness): noted once per message (scripts/fuzz.sh shows them), not a crash.
                static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
                let text = String::from_utf8_lossy(&body);
                let message = text.split("<Message>").nth(1).and_then(|m| m.split('<').next()).unwrap_or("");
                let mut seen = SEEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // One note per kind ("unknown service 'x'" varies with x).
                let message: String = message.chars().take(24).collect();
                if seen.len() < 50 && !seen.iter().any(|m| *m == message) {
                    eprintln!("NOTE 501 NotImplemented: {message} ({described})");
                    seen.push(message);
                }
            }
            assert!(
                !status.is_server_error() || status == http::StatusCode::NOT_IMPLEMENTED,
                "server error {status} for client input: {described}\n{}",
                String::from_utf8_lossy(&body)
            );
            status.as_u16()
        }
        Err(e) => panic!("HttpError {e:?} for {described}"),
    }
}

/// A request with the given parts; `None` if `http` refuses them (not s3s's concern).
pub fn request(method: &str, uri: &str, headers: &[(&str, &[u8])], body: Bytes) -> Option<http::Request<Bytes>> {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        let v = http::HeaderValue::from_bytes(v).ok()?;
        b = b.header(*k, v);
    }
    b.body(body).ok()
}
