//! Checks at the HTTP edge, before s3s sees a request: protections that s3s 0.14 lacks
//! (research/ecosystem.md §1.3): SigV2 refused, presigned URLs valid at most 7 days, and a
//! cap on the size of one aws-chunked chunk (s3s buffers a whole chunk to verify it).

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Header names the edge reads on every request, parsed once: a lookup by `&str` parses the
/// name before hashing it (issue #17).
pub(crate) static X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
pub(crate) static X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");
pub(crate) static X_AMZ_COPY_SOURCE: HeaderName = HeaderName::from_static("x-amz-copy-source");
pub(crate) static X_AMZ_DECODED_CONTENT_LENGTH: HeaderName = HeaderName::from_static("x-amz-decoded-content-length");

/// Longest presigned URL validity AWS allows.
pub const MAX_PRESIGN_SECS: u64 = 604_800;

/// A refusal: HTTP status, S3 error code, message.
pub type Refusal = (http::StatusCode, &'static str, String);

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

/// Refuses Signature Version 2 (header or query) and presigned URLs valid for a negative time
/// or more than 7 days: 400 AuthorizationQueryParametersError as AWS answers, or, when
/// `aws_strict` is off, 403 AccessDenied as ceph/s3-tests expects (docs/compatibility.md).
pub fn check_signature_version(headers: &HeaderMap, query: Option<&str>, aws_strict: bool) -> Result<(), Refusal> {
    let expiry = |message: &str| -> Result<(), Refusal> {
        if aws_strict {
            Err((http::StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError", message.to_owned()))
        } else {
            Err((http::StatusCode::FORBIDDEN, "AccessDenied", message.to_owned()))
        }
    };
    let v2 = || {
        Err((
            http::StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.".to_owned(),
        ))
    };
    if let Some(auth) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        && auth.starts_with("AWS ")
    {
        return v2();
    }
    if let Some(q) = query {
        if query_param(q, "AWSAccessKeyId").is_some()
            || (query_param(q, "Signature").is_some() && query_param(q, "X-Amz-Signature").is_none())
        {
            return v2();
        }
        if let Some(exp) = query_param(q, "X-Amz-Expires") {
            if exp.starts_with('-') && exp[1..].bytes().all(|b| b.is_ascii_digit()) {
                return expiry("X-Amz-Expires must be non-negative");
            }
            if !exp.parse::<u64>().is_ok_and(|s| s <= MAX_PRESIGN_SECS) {
                return expiry("X-Amz-Expires must be less than a week (in seconds) that is; 604800");
            }
        }
    }
    Ok(())
}

/// Amazon S3 accepts no `Transfer-Encoding` on a request that carries a body (PUT, POST): it
/// answers 501 NotImplemented naming the header. Streaming uploads use `aws-chunked` *content*
/// encoding, which declares the object's length in `x-amz-decoded-content-length`; such a body
/// may come with a Content-Length or, as botocore sends it over HTTPS (its trailing
/// checksums, issue #15), with `Transfer-Encoding: chunked`, which S3 takes.
pub fn check_transfer_encoding(method: &http::Method, headers: &HeaderMap) -> Result<(), Refusal> {
    let aws_chunked = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.trim().eq_ignore_ascii_case("aws-chunked"))
        && headers.contains_key(&X_AMZ_DECODED_CONTENT_LENGTH);
    if matches!(*method, http::Method::PUT | http::Method::POST)
        && headers.contains_key(http::header::TRANSFER_ENCODING)
        && !aws_chunked
    {
        return Err((
            http::StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented".to_owned(),
        ));
    }
    Ok(())
}

/// An object upload (PutObject, UploadPart) that declares no length at all (neither
/// Content-Length nor Transfer-Encoding, which is refused above) is 411 MissingContentLength
/// on AWS; s3s would read it as an empty body and store a 0-byte object, under
/// default retention a locked one. Copies and the bodiless PUTs of configuration calls may
/// omit the header, as on AWS. `object_path`: the path names a key (path-style
/// `/bucket/key`, or `/key` under a virtual-hosted bucket).
pub fn check_content_length(
    method: &http::Method,
    headers: &HeaderMap,
    query: Option<&str>,
    object_path: bool,
) -> Result<(), Refusal> {
    let upload = query.is_none_or(|q| q.is_empty() || query_param(q, "uploadId").is_some());
    if *method == http::Method::PUT
        && object_path
        && upload
        && !headers.contains_key(&X_AMZ_COPY_SOURCE)
        && !headers.contains_key(http::header::CONTENT_LENGTH)
        && !headers.contains_key(http::header::TRANSFER_ENCODING)
    {
        return Err((
            http::StatusCode::LENGTH_REQUIRED,
            "MissingContentLength",
            "You must provide the Content-Length HTTP header.".to_owned(),
        ));
    }
    Ok(())
}

/// A path with a `%` not followed by two hex digits cannot be decoded: 400 InvalidURI, as
/// AWS answers (s3s answered 403 after failing to verify the signature of what it decoded).
pub fn check_uri(path: &str) -> Result<(), Refusal> {
    let bytes = path.as_bytes();
    let bad = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if bad {
        return Err((http::StatusCode::BAD_REQUEST, "InvalidURI", "Couldn't parse the specified URI.".to_owned()));
    }
    Ok(())
}

/// The largest request header section Amazon S3 takes (its `MaxSizeAllowed`).
pub const MAX_HEADER_SECTION: usize = 8192;

/// Most header fields hyper parses in one request. Any request of up to this many fields
/// reaches [`check_header_section`], so a section over 8 KiB of up to 1,024 fields gets S3's
/// XML answer instead of hyper's empty 431 (a section of up to 8 KiB of them is served).
///
/// hyper allocates two arrays of this many 32-byte entries for every request it parses: at
/// 1,024 they are 32 KiB each, the largest size jemalloc keeps in its per-thread cache
/// (`tcache_max`). At 2,048 (every field a 8 KiB section could hold, `a:` and CRLF, 4 bytes
/// each) they were 64 KiB, taken from and given back to the arena on every request: ~3 % of
/// the server's CPU on a 4 KiB GET (issue #17). A request between 1,025 and 2,048 fields
/// within 8 KiB (fields of at most 8 bytes) gets hyper's 431.
pub const MAX_HEADER_FIELDS: usize = 1024;

/// A header section over 8 KiB (names, values, `: ` and CRLF per field): 400
/// RequestHeaderSectionTooLarge with `MaxSizeAllowed`, as AWS answers. Only a section too large
/// for hyper's read buffer (~400 KiB) still gets hyper's bare 431.
pub fn check_header_section(headers: &HeaderMap) -> Result<(), Refusal> {
    let size: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if size > MAX_HEADER_SECTION {
        return Err((
            http::StatusCode::BAD_REQUEST,
            "RequestHeaderSectionTooLarge",
            "Your request header section exceeds the maximum allowed size.".to_owned(),
        ));
    }
    Ok(())
}

/// A copy source whose key is over 1,024 bytes: 400 KeyTooLongError, as for a key in the path
/// (s3s answered 400 InvalidArgument "invalid header").
pub fn check_copy_source_key(headers: &HeaderMap) -> Result<(), Refusal> {
    // Read as s3s's CopySource::parse reads it (the object the copy would read): the path ends
    // at the first `?versionId=`, is percent-decoded, then loses one leading `/`. SDKs send
    // the key's UTF-8 as it is, or percent-encoded: its bytes are counted decoded.
    let Some(source) = headers.get(&X_AMZ_COPY_SOURCE).map(HeaderValue::as_bytes) else { return Ok(()) };
    let path = source.windows(11).position(|w| w == b"?versionId=").map_or(source, |i| &source[..i]);
    let decoded: Vec<u8> = percent_encoding::percent_decode(path).collect();
    let decoded = decoded.strip_prefix(b"/").unwrap_or(&decoded);
    let key_len = decoded.splitn(2, |b| *b == b'/').nth(1).map_or(0, <[u8]>::len);
    if key_len > holdfast_engine::MAX_KEY_BYTES {
        return Err((http::StatusCode::BAD_REQUEST, "KeyTooLongError", crate::error::KEY_TOO_LONG_MESSAGE.to_owned()));
    }
    Ok(())
}

/// What follows the first `Credential=` of an `Authorization` header, up to the first `stop`
/// or another `Credential=`: the same reading as `split("Credential=").nth(1)` then
/// `split(stop).next()`, without a substring search for a header as every SDK writes it (that
/// search was ~1.5 % of a 4 KiB GET, issue #17). With `,`, the credential
/// (`AK/20260101/us-east-1/s3/aws4_request`); with `/`, its access key.
pub(crate) fn header_credential(authorization: &str, stop: char) -> Option<&str> {
    let after = match authorization.strip_prefix("AWS4-HMAC-SHA256 Credential=") {
        Some(rest) => rest,
        None => authorization.split_once("Credential=")?.1,
    };
    let piece = after.split(stop).next().unwrap_or(after);
    // A credential has no `=`: only a piece that has one can hold a second `Credential=`.
    Some(if piece.contains('=') { piece.split_once("Credential=").map_or(piece, |(p, _)| p) } else { piece })
}

/// The region of an S3 credential scope (`AK/20260101/us-east-1/s3/aws4_request`), when the
/// scope is for S3.
fn s3_scope_region(credential: &str) -> Option<&str> {
    let mut parts = credential.split('/');
    let (_, _, region, service) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (service == "s3").then_some(region)
}

/// A request signed for another region: 400 AuthorizationHeaderMalformed (header) or
/// AuthorizationQueryParametersError (presigned) naming the region expected, as AWS answers;
/// s3s served it. A presigned signature that is not 64 hex digits is 403
/// SignatureDoesNotMatch (s3s answered 400 "missing presigned url v4 fields").
pub fn check_signing_region(headers: &HeaderMap, query: Option<&str>, region: &str) -> Result<(), (Refusal, bool)> {
    let header = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(credential) = header.and_then(|a| header_credential(a, ','))
        && let Some(found) = s3_scope_region(credential.trim())
        && found != region
    {
        let message =
            format!("The authorization header is malformed; the region '{found}' is wrong; expecting '{region}'");
        return Err(((http::StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed", message), true));
    }
    let Some(q) = query else { return Ok(()) };
    if let Some(credential) = query_param(q, "X-Amz-Credential") {
        let credential = percent_encoding::percent_decode_str(credential).decode_utf8_lossy();
        if let Some(found) = s3_scope_region(&credential)
            && found != region
        {
            let message = format!(
                "Error parsing the X-Amz-Credential parameter; the region '{found}' is wrong; expecting '{region}'"
            );
            return Err(((http::StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError", message), true));
        }
    }
    if let Some(signature) = query_param(q, "X-Amz-Signature")
        && !(signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        let message = "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
        return Err(((http::StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message.to_owned()), false));
    }
    Ok(())
}

/// Whether `s` is SigV4's basic ISO 8601 time, `yyyyMMddTHHmmssZ`.
fn is_amz_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
}

/// Signing dates that are not digits where SigV4 has digits, answered as AWS answers them
/// before s3s parses them: s3s 0.14.1's date parser subtracts `'0'` before it checks for a
/// digit, which panics on a byte below `'0'` when overflow checks are on (found by the
/// sigv4_query fuzz target). Covers the credential scope's date (header and presigned) and
/// `x-amz-date` / `X-Amz-Date`.
pub fn check_signing_dates(headers: &HeaderMap, query: Option<&str>) -> Result<(), Refusal> {
    let bad_scope_date = |credential: &str| {
        credential
            .split('/')
            .nth(1)
            .filter(|d| !(d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit())))
            .map(str::to_owned)
    };
    let date_format = |d: &str| {
        format!("incorrect date format \"{d}\". This date in the credential must be in the format \"yyyyMMdd\".")
    };
    let header = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if let Some(credential) = header.and_then(|a| header_credential(a, ','))
        && let Some(d) = bad_scope_date(credential.trim())
    {
        let message = format!("The authorization header is malformed; {}", date_format(&d));
        return Err((http::StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed", message));
    }
    if let Some(v) = headers.get(&X_AMZ_DATE)
        && !v.to_str().is_ok_and(is_amz_date)
    {
        let message = "AWS authentication requires a valid Date or x-amz-date header".to_owned();
        return Err((http::StatusCode::FORBIDDEN, "AccessDenied", message));
    }
    let Some(q) = query else { return Ok(()) };
    if let Some(credential) = query_param(q, "X-Amz-Credential") {
        let credential = percent_encoding::percent_decode_str(credential).decode_utf8_lossy();
        if let Some(d) = bad_scope_date(&credential) {
            let message = format!("Error parsing the X-Amz-Credential parameter; {}", date_format(&d));
            return Err((http::StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError", message));
        }
    }
    if let Some(d) = query_param(q, "X-Amz-Date")
        && !is_amz_date(&percent_encoding::percent_decode_str(d).decode_utf8_lossy())
    {
        let message = "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"".to_owned();
        return Err((http::StatusCode::BAD_REQUEST, "AuthorizationQueryParametersError", message));
    }
    Ok(())
}

/// A CORS preflight (`OPTIONS`). Holdfast has no bucket CORS configuration yet, so it answers
/// as S3 does for a bucket without one: 400 when the preflight lacks `Origin` or
/// `Access-Control-Request-Method`, otherwise 403.
pub fn cors_preflight(headers: &HeaderMap) -> Refusal {
    if !headers.contains_key(http::header::ORIGIN) {
        return (
            http::StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Origin request header needed.".to_owned(),
        );
    }
    if !headers.contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD) {
        return (http::StatusCode::BAD_REQUEST, "BadRequest", "Invalid Access-Control-Request-Method: null".to_owned());
    }
    (http::StatusCode::FORBIDDEN, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.".to_owned())
}

/// SigV4 lets a request carry its time in `Date` instead of `x-amz-date` (AWS SigV4: "the
/// x-amz-date header or the Date header"); botocore does so whenever a `Date` header is
/// set. s3s reads only `x-amz-date`, so the `Date` value is copied there in SigV4's basic
/// ISO 8601 form. `Date` itself stays, since it may be one of the signed headers. When both
/// are present `x-amz-date` wins, as on AWS.
pub fn sigv4_date_from_date_header(headers: &mut HeaderMap) {
    if headers.get(&X_AMZ_DATE).is_some_and(|v| !v.is_empty()) {
        return;
    }
    let sigv4 = headers
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"AWS4-HMAC-SHA256 ") && v.to_str().is_ok());
    if !sigv4 {
        return;
    }
    let Some(date) = headers.get(http::header::DATE).and_then(|v| v.to_str().ok()) else { return };
    // RFC 1123 with the zone as `GMT`, or as the numeric UTC offset RFC 2822 writers use.
    let Some((rest, zone)) = date.trim().rsplit_once(' ') else { return };
    if !matches!(zone, "GMT" | "UTC" | "UT" | "+0000" | "-0000") {
        return;
    }
    let Ok(t) = s3s::dto::Timestamp::parse(s3s::dto::TimestampFormat::HttpDate, &format!("{rest} GMT")) else { return };
    let mut buf = Vec::new();
    if t.format(s3s::dto::TimestampFormat::DateTime, &mut buf).is_err() {
        return;
    }
    // `YYYY-MM-DDTHH:MM:SS.sssZ` -> `YYYYMMDDTHHMMSSZ`
    let iso = String::from_utf8_lossy(&buf);
    let basic: String = iso.get(..19).unwrap_or_default().chars().filter(|c| c.is_ascii_digit() || *c == 'T').collect();
    if basic.len() == 15
        && let Ok(v) = http::HeaderValue::from_str(&format!("{basic}Z"))
    {
        headers.insert("x-amz-date", v);
    }
}

/// Whether the body is `aws-chunked` (streaming SigV4, signed or unsigned).
pub fn is_aws_chunked(headers: &HeaderMap) -> bool {
    headers.get(&X_AMZ_CONTENT_SHA256).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("STREAMING-"))
}

enum ChunkState {
    /// Reading a chunk header line up to CRLF.
    Header(Vec<u8>),
    /// Skipping chunk data plus its trailing CRLF.
    Data(u64),
    /// After the final chunk: trailers, passed through.
    Done,
}

/// Passes an aws-chunked body through unchanged while checking each declared chunk size.
pub struct ChunkGuard<B> {
    inner: B,
    state: ChunkState,
    max_chunk: u64,
}

impl<B> ChunkGuard<B> {
    pub fn new(inner: B, max_chunk: u64) -> Self {
        Self { inner, state: ChunkState::Header(Vec::new()), max_chunk }
    }

    fn observe(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            match &mut self.state {
                ChunkState::Done => return Ok(()),
                ChunkState::Data(n) => {
                    let take = (*n).min(data.len() as u64);
                    *n -= take;
                    data.advance(usize::try_from(take).unwrap_or(usize::MAX));
                    if *n == 0 {
                        self.state = ChunkState::Header(Vec::new());
                    }
                }
                ChunkState::Header(line) => {
                    let Some(pos) = data.iter().position(|&b| b == b'\n') else {
                        line.extend_from_slice(data);
                        if line.len() > 4096 {
                            return Err("aws-chunked chunk header TooLarge".into());
                        }
                        return Ok(());
                    };
                    line.extend_from_slice(&data[..=pos]);
                    data.advance(pos + 1);
                    let text = String::from_utf8_lossy(line);
                    let hex = text.trim().split(';').next().unwrap_or("").trim();
                    let size =
                        u64::from_str_radix(hex, 16).map_err(|_| "aws-chunked chunk header malformed".to_owned())?;
                    if size > self.max_chunk {
                        return Err(format!(
                            "aws-chunked chunk of {size} bytes is TooLarge (limit {})",
                            self.max_chunk
                        ));
                    }
                    self.state = if size == 0 { ChunkState::Done } else { ChunkState::Data(size + 2) };
                }
            }
        }
        Ok(())
    }
}

impl<B> Body for ChunkGuard<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Err(e) = self.observe(data)
                {
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            other => other.map(|o| o.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn transfer_encoding_only_for_aws_chunked_with_a_decoded_length() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(*k, v.parse().unwrap());
            }
            check_transfer_encoding(&http::Method::PUT, &h).is_ok()
        };
        assert!(with(&[("content-length", "3")]));
        assert!(!with(&[("transfer-encoding", "chunked")]), "plain chunked: 501 as on AWS");
        assert!(!with(&[("transfer-encoding", "chunked"), ("content-encoding", "aws-chunked")]), "no decoded length");
        assert!(with(&[
            ("transfer-encoding", "chunked"),
            ("content-encoding", "gzip, aws-chunked"),
            ("x-amz-decoded-content-length", "3")
        ]));
        let mut h = HeaderMap::new();
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        assert!(check_transfer_encoding(&http::Method::GET, &h).is_ok(), "only bodies are judged");
    }

    #[test]
    fn signing_dates_must_be_digits_where_sigv4_has_digits() {
        let auth = |date: &str| {
            let mut h = HeaderMap::new();
            let v = format!(
                "AWS4-HMAC-SHA256 Credential=AK/{date}/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00"
            );
            h.insert(http::header::AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
            h
        };
        assert!(check_signing_dates(&auth("20261206"), None).is_ok());
        for bad in ["2026120", "2026-12-06", "%2{DAY}", "2026120/"] {
            let r = check_signing_dates(&auth(bad), None).unwrap_err();
            assert_eq!(r.1, "AuthorizationHeaderMalformed", "{bad}");
        }
        let mut h = auth("20261206");
        h.insert("x-amz-date", HeaderValue::from_static("20261206T12000!Z"));
        assert_eq!(check_signing_dates(&h, None).unwrap_err().1, "AccessDenied");
        h.insert("x-amz-date", HeaderValue::from_static("20261206T120000Z"));
        assert!(check_signing_dates(&h, None).is_ok());
        let q = |cred: &str, date: &str| {
            format!("X-Amz-Credential=AK%2F{cred}%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date={date}")
        };
        let none = HeaderMap::new();
        assert!(check_signing_dates(&none, Some(&q("20261206", "20261206T120000Z"))).is_ok());
        // The fuzz finding: a credential date with bytes below '0'.
        let r = check_signing_dates(&none, Some(&q("%2{DAY}", "20261206T120000Z"))).unwrap_err();
        assert_eq!(r.1, "AuthorizationQueryParametersError");
        let r = check_signing_dates(&none, Some(&q("20261206", "{DATE}"))).unwrap_err();
        assert_eq!(r.1, "AuthorizationQueryParametersError");
    }

    /// The key is measured as s3s reads it: up to the first `?versionId=`, decoded, one
    /// leading `/` dropped, after the bucket.
    #[test]
    fn copy_source_keys_are_measured_as_s3s_reads_them() {
        let refused = |v: String| {
            let mut h = HeaderMap::new();
            h.insert("x-amz-copy-source", HeaderValue::from_str(&v).unwrap());
            check_copy_source_key(&h).is_err()
        };
        let k = |n: usize| "k".repeat(n);
        assert!(!refused(format!("b/{}", k(1024))));
        assert!(refused(format!("b/{}", k(1025))));
        assert!(!refused(format!("/b/{}?versionId=v", k(1024))));
        assert!(!refused(format!("%2Fb/{}", k(1024))), "the decoded leading slash is dropped");
        // `?x` is part of the key (only `?versionId=` ends it): 1,022 + 2 = 1,024, then 1,025.
        assert!(!refused(format!("b/{}?x?versionId=v", k(1022))));
        assert!(refused(format!("b/{}?xy?versionId=v", k(1022))));
        assert!(refused(format!("b/{}", "%E6%97%A5".repeat(342))), "1,026 bytes decoded");
    }

    #[test]
    fn sigv2_is_refused_and_sigv4_passes() {
        assert!(check_signature_version(&headers("AWS AKID:sig"), None, true).is_err());
        assert!(check_signature_version(&headers("AWS4-HMAC-SHA256 Credential=x"), None, true).is_ok());
        assert!(
            check_signature_version(&HeaderMap::new(), Some("AWSAccessKeyId=a&Expires=1&Signature=s"), true).is_err()
        );
        assert!(
            check_signature_version(&HeaderMap::new(), Some("X-Amz-Expires=604800&X-Amz-Signature=s"), true).is_ok()
        );
        let e = check_signature_version(&HeaderMap::new(), Some("X-Amz-Expires=604801&X-Amz-Signature=s"), true)
            .unwrap_err();
        assert_eq!(e.1, "AuthorizationQueryParametersError");
    }

    #[test]
    fn sigv4_date_header_fills_in_x_amz_date() {
        let mut h = headers("AWS4-HMAC-SHA256 Credential=x");
        h.insert(http::header::DATE, "Sun, 22 Nov 2026 00:57:56 GMT".parse().unwrap());
        sigv4_date_from_date_header(&mut h);
        assert_eq!(h.get("x-amz-date").unwrap(), "20261122T005756Z");
        assert_eq!(h.get(http::header::DATE).unwrap(), "Sun, 22 Nov 2026 00:57:56 GMT");
        let mut h = headers("AWS4-HMAC-SHA256 Credential=x");
        h.insert(http::header::DATE, "Sun, 22 Nov 2026 01:03:53 -0000".parse().unwrap());
        sigv4_date_from_date_header(&mut h);
        assert_eq!(h.get("x-amz-date").unwrap(), "20261122T010353Z", "email.utils.formatdate form");
        h.insert("x-amz-date", "20300101T000000Z".parse().unwrap());
        sigv4_date_from_date_header(&mut h);
        assert_eq!(h.get("x-amz-date").unwrap(), "20300101T000000Z", "x-amz-date wins");
        let mut anon = HeaderMap::new();
        anon.insert(http::header::DATE, "Sun, 22 Nov 2026 00:57:56 GMT".parse().unwrap());
        sigv4_date_from_date_header(&mut anon);
        assert!(anon.get("x-amz-date").is_none());
        let e =
            check_signature_version(&HeaderMap::new(), Some("X-Amz-Expires=-7&X-Amz-Signature=s"), true).unwrap_err();
        let compat =
            check_signature_version(&HeaderMap::new(), Some("X-Amz-Expires=-7&X-Amz-Signature=s"), false).unwrap_err();
        assert_eq!((compat.0, compat.1), (http::StatusCode::FORBIDDEN, "AccessDenied"));
        assert_eq!((e.1, e.2.as_str()), ("AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative"));
    }

    #[test]
    fn chunk_sizes_are_checked_across_frame_boundaries() {
        let mut g = ChunkGuard::new((), 16);
        g.observe(b"10;chunk-signature=ab\r\n0123456789abcdef\r\n").unwrap();
        g.observe(b"4;chunk-sig").unwrap();
        g.observe(b"nature=cd\r\nabcd\r\n0;chunk-signature=ef\r\n\r\n").unwrap();
        assert!(matches!(g.state, ChunkState::Done));
        let mut g = ChunkGuard::new((), 16);
        assert!(g.observe(b"11;chunk-signature=ab\r\n").unwrap_err().contains("TooLarge"));
        let mut g = ChunkGuard::new((), 16);
        assert!(g.observe(b"zz\r\n").is_err());
    }

    /// The fast reading of the credential agrees with the `split` it replaced, on headers as
    /// SDKs write them and on malformed ones.
    #[test]
    fn header_credential_reads_as_split_did() {
        let headers = [
            "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=ab",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Credential=AK/d/r/s/aws4_request, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AK/d/Credential=x/r, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=AKCredential=/d, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=A=K,/d",
            "AWS4-HMAC-SHA256 Credential=",
            "Credential=AK/d",
            "AWS4-HMAC-SHA256 Signature=ab",
            "",
        ];
        for h in headers {
            for stop in [',', '/'] {
                let split = h.split("Credential=").nth(1).and_then(|c| c.split(stop).next());
                assert_eq!(header_credential(h, stop), split, "{h:?} up to {stop:?}");
            }
        }
    }
}
