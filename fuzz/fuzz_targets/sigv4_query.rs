//! Presigned URLs (SigV4 in the query string): s3s's presigned-URL parser and checks, driven
//! through the s3s service (its parser is private; see common/s3s_service.rs). The first byte
//! picks the form: even, the fuzz text is appended to a well-formed presigned query up to
//! `X-Amz-Signature=` (fresh date, the service's key); odd, the fuzz text is the whole query.
//! `{DATE}` and `{DAY}` in the text become the current request time and day, so that seeds
//! stay fresh. Invariant: never a server error (5xx other than 501) or an `HttpError`.
#![no_main]

#[path = "../common/s3s_service.rs"]
mod service;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let date = service::amz_date();
    let day = &date[..8];
    let text = text.replace("{DATE}", &date).replace("{DAY}", day);
    let query = if mode & 1 == 0 {
        format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}%2F{day}%2F{}%2Fs3%2Faws4_request&X-Amz-Date={date}&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature={text}",
            service::ACCESS_KEY,
            service::REGION
        )
    } else {
        text
    };
    let method = if mode & 2 == 0 { "GET" } else { "PUT" };
    let uri = format!("/bucket/key?{query}");
    let Some(req) = service::request(method, &uri, &[("host", service::HOST.as_bytes())], Bytes::new()) else {
        return;
    };
    service::call(req);
});
