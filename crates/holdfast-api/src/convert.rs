//! DTO ↔ domain conversions shared by the operations.

pub use crate::dates::{http_date, instant, ts};
use crate::error::{invalid_argument, write_denial};
use futures::StreamExt;
use holdfast_engine::model::{ChecksumAlgorithm, ChecksumKind, ObjectHeaders, StoredChecksum};
use holdfast_engine::{BodyClaims, BodyError, BodyStream, ExpectedChecksum, ingest::parse_content_md5};
use holdfast_lock::{LockHeaders, LockState, UtcMillis, WriteDenial};
use s3s::dto::{self, StreamingBlob, Timestamp, TimestampFormat};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};
use std::collections::BTreeMap;

pub fn etag(v: &str) -> dto::ETag {
    dto::ETag::Strong(v.to_owned())
}

/// The request body as the engine reads it, with s3s's stream failures classified.
pub fn body_stream(body: Option<StreamingBlob>) -> BodyStream {
    match body {
        None => futures::stream::empty().boxed(),
        Some(blob) => blob
            .map(|r| {
                r.map_err(|e| {
                    let text = format!("{e}");
                    // The HTTP edge's body-idle timeout, through any wrapping.
                    if text.contains("RequestTimeout") {
                        BodyError::Timeout
                    } else if text.contains("Sha256Mismatch") {
                        BodyError::Sha256Mismatch
                    } else if text.contains("SignatureMismatch") {
                        BodyError::SignatureMismatch
                    } else if text.contains("Incomplete") || text.contains("LengthMismatch") {
                        BodyError::Incomplete
                    } else if text.contains("TooLarge") {
                        BodyError::TooLarge
                    } else {
                        BodyError::Other(text)
                    }
                })
            })
            .boxed(),
    }
}

pub fn checksum_algorithm(a: &dto::ChecksumAlgorithm) -> S3Result<ChecksumAlgorithm> {
    ChecksumAlgorithm::parse(a.as_str()).ok_or_else(|| {
        s3_error!(InvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
    })
}

pub fn checksum_kind(t: Option<&dto::ChecksumType>) -> S3Result<Option<ChecksumKind>> {
    match t.map(dto::ChecksumType::as_str) {
        None => Ok(None),
        Some("COMPOSITE") => Ok(Some(ChecksumKind::Composite)),
        Some("FULL_OBJECT") => Ok(Some(ChecksumKind::FullObject)),
        Some(other) => Err(invalid_argument("Invalid checksum type", "x-amz-checksum-type", Some(other))),
    }
}

/// The `x-amz-checksum-*` values a request carries, one per algorithm.
pub struct ChecksumValues<'a> {
    pub crc32: Option<&'a String>,
    pub crc32c: Option<&'a String>,
    pub crc64nvme: Option<&'a String>,
    pub sha1: Option<&'a String>,
    pub sha256: Option<&'a String>,
}

impl<'a> ChecksumValues<'a> {
    fn given(&self) -> Vec<(ChecksumAlgorithm, &'a String)> {
        [
            (ChecksumAlgorithm::Crc32, self.crc32),
            (ChecksumAlgorithm::Crc32c, self.crc32c),
            (ChecksumAlgorithm::Crc64Nvme, self.crc64nvme),
            (ChecksumAlgorithm::Sha1, self.sha1),
            (ChecksumAlgorithm::Sha256, self.sha256),
        ]
        .into_iter()
        .filter_map(|(a, v)| v.map(|v| (a, v)))
        .collect()
    }
}

/// What a write request declares about its body: length, Content-MD5, and at most one
/// checksum — in a header, announced as a trailer, or only named by algorithm.
pub fn body_claims(
    headers: &http::HeaderMap,
    trailers: Option<s3s::TrailingHeaders>,
    content_length: Option<i64>,
    content_md5: Option<&String>,
    algorithm: Option<&dto::ChecksumAlgorithm>,
    values: &ChecksumValues<'_>,
) -> S3Result<BodyClaims> {
    // s3s treats an empty header as absent; an empty Content-MD5 is still an invalid one.
    let empty_md5 = headers.get("content-md5").is_some_and(|v| v.as_bytes().trim_ascii().is_empty());
    let content_md5 = match content_md5 {
        None if empty_md5 => return Err(crate::error::engine_error(holdfast_engine::EngineError::InvalidDigest)),
        m => m.map(|m| parse_content_md5(m)).transpose().map_err(crate::error::engine_error)?,
    };
    let named = algorithm.map(checksum_algorithm).transpose()?;
    let given = values.given();
    if given.len() > 1 {
        return Err(s3_error!(
            InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        ));
    }
    let trailer = headers
        .get("x-amz-trailer")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| v.starts_with("x-amz-checksum-"));
    let checksum = if let Some((a, v)) = given.first() {
        if named.is_some_and(|n| n != *a) {
            return Err(s3_error!(InvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid."));
        }
        Some((*a, ExpectedChecksum::Given((*v).clone())))
    } else if let Some(name) = trailer {
        let a = ChecksumAlgorithm::parse(name.trim_start_matches("x-amz-checksum-")).ok_or_else(|| {
            s3_error!(InvalidRequest, "The value specified in the x-amz-trailer header is not supported")
        })?;
        let read = move || -> Option<String> {
            trailers?.read(|h| h.get(name.as_str()).and_then(|v| v.to_str().ok()).map(str::to_owned)).flatten()
        };
        Some((a, ExpectedChecksum::Trailer(Box::new(read))))
    } else {
        named.map(|a| (a, ExpectedChecksum::None))
    };
    Ok(BodyClaims { content_length: content_length.and_then(|l| u64::try_from(l).ok()), content_md5, checksum })
}

/// [`object_headers`] of a request whose input carries the standard header fields under
/// their S3 names (PutObject, CreateMultipartUpload, CopyObject's REPLACE, a replica's PUT).
macro_rules! object_headers_of {
    ($input:expr) => {
        $crate::convert::object_headers(
            $input.content_type.as_ref(),
            $input.cache_control.as_ref(),
            $input.content_disposition.as_ref(),
            $input.content_encoding.as_ref(),
            $input.content_language.as_ref(),
            $input.expires.as_ref(),
            $input.website_redirect_location.as_ref(),
            $input.storage_class.as_ref(),
            $input.metadata.as_ref(),
        )
    };
}
pub(crate) use object_headers_of;

/// The standard headers and user metadata of a write, as stored.
#[allow(clippy::too_many_arguments)]
pub fn object_headers(
    content_type: Option<&dto::ContentType>,
    cache_control: Option<&String>,
    content_disposition: Option<&String>,
    content_encoding: Option<&String>,
    content_language: Option<&String>,
    expires: Option<&Timestamp>,
    website_redirect_location: Option<&String>,
    storage_class: Option<&dto::StorageClass>,
    metadata: Option<&dto::Metadata>,
) -> S3Result<ObjectHeaders> {
    if let Some(sc) = storage_class
        && !matches!(
            sc.as_str(),
            "STANDARD"
                | "REDUCED_REDUNDANCY"
                | "STANDARD_IA"
                | "ONEZONE_IA"
                | "INTELLIGENT_TIERING"
                | "GLACIER"
                | "DEEP_ARCHIVE"
                | "GLACIER_IR"
        )
    {
        return Err(S3Error::new(S3ErrorCode::InvalidStorageClass));
    }
    let user: BTreeMap<String, String> =
        metadata.map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect()).unwrap_or_default();
    let meta_size: usize = user.iter().map(|(k, v)| k.len() + v.len()).sum();
    if meta_size > 2048 {
        return Err(s3_error!(MetadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size."));
    }
    Ok(ObjectHeaders {
        content_type: content_type.map(ToString::to_string),
        cache_control: cache_control.cloned(),
        content_disposition: content_disposition.cloned(),
        content_encoding: content_encoding.cloned(),
        content_language: content_language.cloned(),
        expires: expires.and_then(http_date),
        website_redirect_location: website_redirect_location.cloned(),
        storage_class: storage_class.map(|s| s.as_str().to_owned()).filter(|s| s != "STANDARD"),
        user,
    })
}

pub fn metadata_out(h: &ObjectHeaders) -> Option<dto::Metadata> {
    (!h.user.is_empty()).then(|| h.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

pub fn expires_out(h: &ObjectHeaders) -> Option<Timestamp> {
    h.expires.as_deref().and_then(|s| Timestamp::parse(TimestampFormat::HttpDate, s).ok())
}

pub fn content_type_out(h: &ObjectHeaders) -> Option<dto::ContentType> {
    h.content_type.as_deref().and_then(|c| c.parse().ok())
}

pub fn storage_class_out(h: &ObjectHeaders) -> Option<String> {
    h.storage_class.clone()
}

pub const RETAIN_UNTIL_HEADER: &str = "x-amz-object-lock-retain-until-date";

/// A request's `x-amz-object-lock-retain-until-date`, parsed once (by
/// `holdfast_lock::retain_until_header`) in the access hook, which s3s runs before every
/// operation, and carried in the request extensions to everything that reads the date: the
/// W4 check there, the policy's `s3:object-lock-retain-until-date` key and the write's
/// requested lock. Not in the extensions: the request has no such header, or an empty one.
/// (s3s parses the header again into its input struct; Holdfast never reads that value.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainUntil(pub Result<UtcMillis, WriteDenial>);

impl RetainUntil {
    /// The one parse of the header; a value that is not text is not RFC 3339 either (W4).
    pub fn parse(headers: &http::HeaderMap) -> Option<Self> {
        let value = headers.get(RETAIN_UNTIL_HEADER).filter(|v| !v.is_empty())?;
        let parsed = match value.to_str() {
            Ok(text) => holdfast_lock::retain_until_header(Some(text))?,
            Err(_) => Err(WriteDenial::RetainUntilNotIso8601),
        };
        Some(Self(parsed))
    }

    /// The parsed header the access hook left in `ext`.
    pub fn of(ext: &http::Extensions) -> Option<Result<UtcMillis, WriteDenial>> {
        ext.get::<Self>().map(|r| r.0.clone())
    }
}

/// The lock headers of a write (W1): the mode and legal hold as sent, the date as the access
/// hook parsed it ([`RetainUntil`]); the rules of `holdfast_lock` judge them.
pub fn lock_headers<'h>(headers: &'h http::HeaderMap, ext: &http::Extensions) -> LockHeaders<'h> {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    LockHeaders {
        mode: value("x-amz-object-lock-mode"),
        retain_until: RetainUntil::of(ext),
        legal_hold: value("x-amz-object-lock-legal-hold"),
    }
}

/// The lock state a write asks for (W2..W5), from its headers and the date the access hook
/// parsed; whether the bucket allows it is [`holdfast_lock::check_write`].
pub fn requested_lock(headers: &http::HeaderMap, ext: &http::Extensions, now: UtcMillis) -> S3Result<LockState> {
    holdfast_lock::requested_lock(lock_headers(headers, ext), now).map_err(write_denial)
}

/// Fills the five `checksum_*` fields and `checksum_type` of an output struct.
macro_rules! put_checksum {
    ($out:expr, $stored:expr) => {{
        if let Some(c) = $stored {
            let v = Some(c.value.clone());
            match c.algorithm {
                holdfast_engine::model::ChecksumAlgorithm::Crc32 => $out.checksum_crc32 = v,
                holdfast_engine::model::ChecksumAlgorithm::Crc32c => $out.checksum_crc32c = v,
                holdfast_engine::model::ChecksumAlgorithm::Crc64Nvme => $out.checksum_crc64nvme = v,
                holdfast_engine::model::ChecksumAlgorithm::Sha1 => $out.checksum_sha1 = v,
                holdfast_engine::model::ChecksumAlgorithm::Sha256 => $out.checksum_sha256 = v,
            }
        }
    }};
}
pub(crate) use put_checksum;

pub fn checksum_type(c: &StoredChecksum) -> dto::ChecksumType {
    dto::ChecksumType::from(match c.kind {
        ChecksumKind::Composite => "COMPOSITE".to_owned(),
        ChecksumKind::FullObject => "FULL_OBJECT".to_owned(),
    })
}

pub fn algorithm_dto(a: ChecksumAlgorithm) -> dto::ChecksumAlgorithm {
    dto::ChecksumAlgorithm::from(a.as_str().to_owned())
}

/// Keys and prefixes in listings with `encoding-type=url`.
pub fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, URL_ENCODE_SET).to_string()
}

/// What `encoding-type=url` leaves as it is: letters, digits, `-_.~/`.
pub const URL_ENCODE_SET: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// The bucket, key and version a copy source names (a key over 1,024 bytes was refused at the
/// edge: guards::check_copy_source_key).
pub fn copy_source(source: &dto::CopySource) -> S3Result<(&str, &str, Option<&str>)> {
    let dto::CopySource::Bucket { bucket, key, version_id } = source else {
        return Err(s3_error!(NotImplemented, "Copying from an access point is not supported"));
    };
    Ok((bucket, key, version_id.as_deref()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A test states what it expects with unwrap: a failure is the finding.

    use super::*;
    use holdfast_lock::{Mode, Retention};

    fn headers(pairs: &[(&'static str, &[u8])]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_bytes(v).unwrap()))
            .collect()
    }

    #[test]
    fn the_access_hook_parses_the_date_once() {
        assert_eq!(RetainUntil::parse(&headers(&[])), None);
        assert_eq!(RetainUntil::parse(&headers(&[(RETAIN_UNTIL_HEADER, b"")])), None, "empty counts as absent");
        let later = RetainUntil::parse(&headers(&[(RETAIN_UNTIL_HEADER, b"2030-01-01T01:00:00+01:00")]));
        assert_eq!(later, Some(RetainUntil(Ok(UtcMillis(1_893_456_000_000)))));
        let w4 = Some(RetainUntil(Err(WriteDenial::RetainUntilNotIso8601)));
        assert_eq!(RetainUntil::parse(&headers(&[(RETAIN_UNTIL_HEADER, b"20300101T000000Z")])), w4);
        assert_eq!(RetainUntil::parse(&headers(&[(RETAIN_UNTIL_HEADER, b"2030-01-01T00:00:00\xffZ")])), w4);
    }

    /// The handler reads the date the hook left in the extensions and never the header again:
    /// a header it would refuse does not matter, and without the hook's value there is no date.
    #[test]
    fn the_write_takes_the_date_from_the_hook() {
        let now = UtcMillis(1_800_000_000_000);
        let until = UtcMillis(1_893_456_000_000);
        let sent = headers(&[("x-amz-object-lock-mode", b"COMPLIANCE"), (RETAIN_UNTIL_HEADER, b"not a date")]);
        let mut ext = http::Extensions::new();
        ext.insert(RetainUntil(Ok(until)));
        let want = LockState { retention: Some(Retention { mode: Mode::Compliance, until }), legal_hold: None };
        assert_eq!(requested_lock(&sent, &ext, now).unwrap(), want);
        let unparsed = requested_lock(&sent, &http::Extensions::new(), now).unwrap_err();
        assert_eq!(unparsed.code(), &S3ErrorCode::InvalidArgument, "a mode without a date (W2)");
    }
}
