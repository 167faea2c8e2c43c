//! Presigned URLs (SigV4 in the query string): s3s's presigned-URL parser and checks, driven
//! through the s3s service (its parser is private; see common/s3s_service.rs). The first byte
//! picks the form: 0 (mod 4), the fuzz text is appended to a well-formed presigned query up
//! to `X-Amz-Signature=` (fresh date, the service's key); 1 and 3, the fuzz text is the whole
//! query; 2, a correctly presigned URL (so that s3s's checks after the signature run): the
//! text up to the first newline is X-Amz-Expires, the rest `k=v&...` extra parameters, all
//! signed. Bit 1 also picks PUT over GET for the other forms.
//! `{DATE}` and `{DAY}` in the text become the current request time and day, so that seeds
//! stay fresh. Invariant: never a server error (5xx other than 501) or an `HttpError`.
#![no_main]

#[allow(dead_code)]
use holdfast_api::fuzzing::guards;
#[path = "../common/s3s_service.rs"]
mod service;

use bytes::Bytes;
use holdfast_identity::signer::canonical_query;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

/// A presigned GET of /bucket/key with the given expiry and extra parameters.
fn presigned(expires: &str, extra: &str, date: &str) -> String {
    let day = &date[..8];
    let credential = format!("{}/{day}/{}/s3/aws4_request", service::ACCESS_KEY, service::REGION);
    let mut pairs: Vec<(&str, &str)> = vec![
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", &credential),
        ("X-Amz-Date", date),
        ("X-Amz-Expires", expires),
        ("X-Amz-SignedHeaders", "host"),
    ];
    pairs.extend(extra.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))));
    let query = canonical_query(&pairs);
    let canonical = format!("GET\n/bucket/key\n{query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD", service::HOST);
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{day}/{}/s3/aws4_request\n{}",
        service::REGION,
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let signature = hex::encode(service::hmac(&service::signing_key(day), to_sign.as_bytes()));
    format!("{query}&X-Amz-Signature={signature}")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let date = service::amz_date();
    let day = &date[..8];
    let text = text.replace("{DATE}", &date).replace("{DAY}", day);
    let query = if mode & 3 == 2 {
        let (expires, extra) = text.split_once('\n').unwrap_or((&text, ""));
        presigned(expires, extra, &date)
    } else if mode & 1 == 0 {
        format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}%2F{day}%2F{}%2Fs3%2Faws4_request&X-Amz-Date={date}&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature={text}",
            service::ACCESS_KEY,
            service::REGION
        )
    } else {
        text
    };
    let method = if mode & 2 == 0 || mode & 3 == 2 { "GET" } else { "PUT" };
    let uri = format!("/bucket/key?{query}");
    let Some(req) = service::request(method, &uri, &[("host", service::HOST.as_bytes())], Bytes::new()) else {
        return;
    };
    service::call(req);
});
