//! The one place where domain errors become S3 errors.
//!
//! s3s renders only Code, Message and RequestId. The extra elements AWS sends
//! (ArgumentName, Key, BucketName, Method, ResourceType, ...) travel to the HTTP edge in the
//! internal header [`ERROR_FIELDS_HEADER`], which appends them to the XML body there.

use holdfast_engine::model::MetaError;
use holdfast_engine::{BodyError, EngineError};
use holdfast_lock::{BucketDenial, BypassDenial, DefaultDenial, RetentionDenial, WriteDenial};
use http::{HeaderMap, HeaderValue, StatusCode};
use s3s::{S3Error, S3ErrorCode};

/// Internal header: `Name=value` pairs (percent-encoded, `&`-separated) to add to the
/// error body. The HTTP edge removes it.
pub const ERROR_FIELDS_HEADER: &str = "x-holdfast-error-fields";
/// A field value the HTTP edge replaces with the request's method.
pub const METHOD_PLACEHOLDER: &str = "$METHOD";

/// Amazon S3's message for a request body that stalled (400 RequestTimeout).
pub const REQUEST_TIMEOUT_MESSAGE: &str = "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.";

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An error about a whole bucket: AWS names it in `<BucketName>`, nothing else.
pub fn bucket_error(code: S3ErrorCode, message: impl Into<String>, bucket: &str) -> S3Error {
    rich_error(code, message, &[("BucketName", bucket)], &[])
}

/// An S3 error with extra XML elements and response headers.
pub fn rich_error(
    code: S3ErrorCode,
    message: impl Into<String>,
    fields: &[(&str, &str)],
    headers: &[(&'static str, String)],
) -> S3Error {
    let mut e = S3Error::with_message(code, message.into());
    let mut map = HeaderMap::new();
    map.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    if !fields.is_empty() {
        let v: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
        if let Ok(v) = HeaderValue::from_str(&v.join("&")) {
            map.insert(ERROR_FIELDS_HEADER, v);
        }
    }
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            map.insert(*k, v);
        }
    }
    e.set_headers(map);
    e
}

pub fn invalid_argument(message: &str, name: &str, value: Option<&str>) -> S3Error {
    let mut fields = vec![("ArgumentName", name)];
    if let Some(v) = value {
        fields.push(("ArgumentValue", v));
    }
    rich_error(S3ErrorCode::InvalidArgument, message, &fields, &[])
}

fn custom(code: &'static str, status: StatusCode, message: &str) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message.to_owned());
    e.set_status_code(status);
    e
}

/// DP2 (aws_strict=false): the code s3-tests and Ceph expect for a non-positive default
/// retention period. s3s gives custom codes status 500 unless one is set.
pub fn invalid_retention_period(message: &str) -> S3Error {
    custom("InvalidRetentionPeriod", StatusCode::BAD_REQUEST, message)
}

/// The message of an error that s3s raised without one (it parses request bodies before
/// any Holdfast code runs); the HTTP edge adds it to the body. MalformedXML for request
/// bodies that do not parse (B7, R5, L3).
/// AWS's message for a key over 1,024 bytes.
pub const KEY_TOO_LONG_MESSAGE: &str = "Your key is too long";

pub fn default_message(code: &str) -> Option<&'static str> {
    match code {
        "MalformedXML" => {
            Some("The XML you provided was not well-formed or did not validate against our published schema")
        }
        "MissingRequestBodyError" => Some("Request Body is empty."),
        // AWS names these; s3s rendered them without a message.
        "InvalidURI" => Some("Couldn't parse the specified URI."),
        "InvalidBucketName" => Some("The specified bucket is not valid."),
        // s3s refuses a key over 1,024 bytes in the path before routing, without a message.
        "KeyTooLongError" => Some(KEY_TOO_LONG_MESSAGE),
        _ => None,
    }
}

/// The write rules' denials (W2..W7) in AWS's words.
pub fn write_denial(d: WriteDenial) -> S3Error {
    const MODE: &str = "x-amz-object-lock-mode";
    const DATE: &str = "x-amz-object-lock-retain-until-date";
    const BOTH: &str = "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied";
    match d {
        WriteDenial::ModeWithoutDate => invalid_argument(BOTH, DATE, None),
        WriteDenial::DateWithoutMode => invalid_argument(BOTH, MODE, None),
        WriteDenial::UnknownMode(m) => invalid_argument("Unknown wormMode directive.", MODE, Some(&m)),
        WriteDenial::RetainUntilNotIso8601 => {
            invalid_argument("The retain until date must be provided in ISO 8601 format", DATE, None)
        }
        WriteDenial::RetainUntilInPast => invalid_argument("The retain until date must be in the future!", DATE, None),
        WriteDenial::UnknownLegalHold(h) => {
            invalid_argument("Legal Hold must be either of 'ON' or 'OFF'", "x-amz-object-lock-legal-hold", Some(&h))
        }
        WriteDenial::BucketWithoutLock => {
            S3Error::with_message(S3ErrorCode::InvalidRequest, "Bucket is missing ObjectLockConfiguration")
        }
        WriteDenial::IntegrityHeaderMissing => S3Error::with_message(
            S3ErrorCode::InvalidRequest,
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
        ),
    }
}

/// A refused governance bypass (D7, R10) in AWS's words.
pub fn bypass_denial(d: BypassDenial) -> S3Error {
    match d {
        BypassDenial::NotLockBucket => invalid_argument(d.s3().message, "x-amz-bypass-governance-retention", None),
        BypassDenial::NotGranted => refusal(d.s3()),
    }
}

/// PutObjectRetention's denials (R5, R6) in AWS's words.
pub fn retention_denial(d: RetentionDenial) -> S3Error {
    match d {
        RetentionDenial::Malformed => S3Error::with_message(S3ErrorCode::MalformedXML, MALFORMED_XML_MESSAGE),
        // R6: AWS renders the refused date Java-style in US Pacific time.
        RetentionDenial::InPast(until) => invalid_argument(
            "The retain until date must be in the future!",
            "RetainUntilDate",
            Some(&crate::dates::java_pacific_date(until)),
        ),
    }
}

/// A default rule's denials (B7..B9) in AWS's words; DP2: with `aws_strict` off, a
/// non-positive period is the InvalidRetentionPeriod that s3-tests and Ceph expect.
pub fn default_denial(d: DefaultDenial, aws_strict: bool) -> S3Error {
    const NOT_POSITIVE: &str = "Default retention period must be a positive integer value.";
    match d {
        DefaultDenial::Malformed => S3Error::with_message(S3ErrorCode::MalformedXML, MALFORMED_XML_MESSAGE),
        DefaultDenial::NotPositive(unit, value) if aws_strict => {
            invalid_argument(NOT_POSITIVE, unit.as_str(), Some(&value.to_string()))
        }
        DefaultDenial::NotPositive(..) => invalid_retention_period(NOT_POSITIVE),
        DefaultDenial::TooLarge(unit, value) => {
            invalid_argument("Default retention period too large.", unit.as_str(), Some(&value.to_string()))
        }
    }
}

const MALFORMED_XML_MESSAGE: &str =
    "The XML you provided was not well-formed or did not validate against our published schema";

/// A refusal worded by the lock rules ([`holdfast_lock::S3Refusal`]: the lock's own 403 of
/// D2, D8 and R8, a refused bypass) as an S3 error. The same words explain a refusal
/// ("why can't I delete this?", `holdfast_lock::explain_removal`): they cannot differ.
pub fn refusal(r: holdfast_lock::S3Refusal) -> S3Error {
    let code = S3ErrorCode::from_bytes(r.code.as_bytes()).unwrap_or_else(|| S3ErrorCode::Custom(r.code.into()));
    let mut e = S3Error::with_message(code, r.message);
    if let Ok(status) = StatusCode::from_u16(r.status) {
        e.set_status_code(status);
    }
    e
}

pub fn meta_error(e: MetaError) -> S3Error {
    use S3ErrorCode as C;
    match e {
        MetaError::NoSuchBucket => S3Error::with_message(C::NoSuchBucket, "The specified bucket does not exist"),
        MetaError::BucketAlreadyOwnedByYou => S3Error::with_message(
            C::BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it.",
        ),
        MetaError::BucketNotEmpty => {
            S3Error::with_message(C::BucketNotEmpty, "The bucket you tried to delete is not empty")
        }
        MetaError::NoSuchKey => S3Error::with_message(C::NoSuchKey, "The specified key does not exist."),
        MetaError::NoSuchVersion => S3Error::with_message(C::NoSuchVersion, "The specified version does not exist."),
        MetaError::DeleteMarker { version_id, last_modified } => rich_error(
            C::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
            &[("Method", METHOD_PLACEHOLDER), ("ResourceType", "DeleteMarker")],
            &[
                ("x-amz-delete-marker", "true".into()),
                ("x-amz-version-id", version_id),
                ("last-modified", crate::dates::http_date(&crate::dates::ts(last_modified)).unwrap_or_default()),
            ],
        ),
        MetaError::NoSuchUpload => S3Error::with_message(
            C::NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        ),
        MetaError::PreconditionFailed => precondition_failed(),
        MetaError::ConditionalConflict => S3Error::with_message(
            C::ConditionalRequestConflict,
            "A conflicting operation occurred. If using PutObject you can retry the request.",
        ),
        MetaError::Locked(d) => refusal(d.s3()),
        MetaError::InvalidBucketState(d) => S3Error::with_message(
            C::InvalidBucketState,
            match d {
                BucketDenial::VersioningNotEnabled => {
                    "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration"
                }
                BucketDenial::VersioningLocked => {
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed."
                }
            },
        ),
        MetaError::InvalidRequest(m) => S3Error::with_message(C::InvalidRequest, m),
        MetaError::InvalidPart => S3Error::with_message(
            C::InvalidPart,
            "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
        ),
        MetaError::InvalidPartOrder => S3Error::with_message(
            C::InvalidPartOrder,
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        ),
        MetaError::EntityTooSmall => S3Error::with_message(
            C::EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size.",
        ),
        MetaError::QuotaExceeded { quota, used, incoming } => quota_exceeded(quota, used, incoming),
        // Identity errors have their own (IAM) mapping; reaching here is a bug.
        MetaError::NoSuchEntity(m)
        | MetaError::EntityAlreadyExists(m)
        | MetaError::DeleteConflict(m)
        | MetaError::LimitExceeded(m)
        | MetaError::Internal(m) => {
            tracing::error!(error = %m, "metadata store failure");
            S3Error::with_message(C::InternalError, "We encountered an internal error. Please try again.")
        }
    }
}

/// 507 InsufficientStorage: new data refused below the free-space reserve. The
/// message names what is free and what is kept, so the client and the operator see why.
fn insufficient_storage(free: u64, reserve: u64) -> S3Error {
    let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
    custom(
        "InsufficientStorage",
        StatusCode::INSUFFICIENT_STORAGE,
        &format!(
            "Insufficient storage to store new data: {free} bytes ({:.1} MiB) free on the data volume, \
             {reserve} bytes ({:.1} MiB) are kept in reserve for deletes, lock changes and the audit trail.",
            mib(free),
            mib(reserve)
        ),
    )
}

/// 507 InsufficientStorage, as for a full disk: the bucket's quota (issue #18) leaves no room
/// for this write. Backup software treats both the same way: the repository is full.
pub(crate) fn quota_exceeded(quota: u64, used: u64, incoming: u64) -> S3Error {
    custom(
        "InsufficientStorage",
        StatusCode::INSUFFICIENT_STORAGE,
        &format!(
            "Insufficient storage to store new data: the bucket's quota is {quota} bytes, {used} bytes are stored, \
             and {incoming} more bytes would exceed it."
        ),
    )
}

fn precondition_failed() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold",
    )
}

pub fn engine_error(e: EngineError) -> S3Error {
    use S3ErrorCode as C;
    match e {
        EngineError::Meta(m) => meta_error(m),
        EngineError::Body(b) => match b {
            BodyError::Incomplete | BodyError::Other(_) => S3Error::with_message(
                C::IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header",
            ),
            BodyError::Timeout => S3Error::with_message(C::RequestTimeout, REQUEST_TIMEOUT_MESSAGE),
            BodyError::Sha256Mismatch => custom(
                "XAmzContentSHA256Mismatch",
                StatusCode::BAD_REQUEST,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ),
            BodyError::SignatureMismatch => S3Error::with_message(
                C::SignatureDoesNotMatch,
                "The request signature we calculated does not match the signature you provided.",
            ),
            BodyError::TooLarge => S3Error::with_message(
                C::EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed object size.",
            ),
        },
        EngineError::InvalidArgument { message, name, value } => invalid_argument(&message, &name, value.as_deref()),
        EngineError::InvalidRequest(m) => S3Error::with_message(C::InvalidRequest, m),
        EngineError::InvalidDigest => {
            S3Error::with_message(C::InvalidDigest, "The Content-MD5 you specified is not valid.")
        }
        EngineError::MalformedChecksum { algorithm, trailer } => S3Error::with_message(
            C::InvalidRequest,
            format!(
                "Value for x-amz-checksum-{} {}header is invalid.",
                algorithm.as_str().to_ascii_lowercase(),
                if trailer { "trailing " } else { "" }
            ),
        ),
        EngineError::BadDigest(m) => S3Error::with_message(C::BadDigest, m),
        EngineError::InvalidRange { object_size } => rich_error(
            C::InvalidRange,
            "The requested range is not satisfiable",
            &[("ActualObjectSize", &object_size.to_string())],
            &[("content-range", format!("bytes */{object_size}"))],
        ),
        EngineError::InvalidPartNumber => custom(
            "InvalidPartNumber",
            StatusCode::RANGE_NOT_SATISFIABLE,
            "The requested partnumber is not satisfiable",
        ),
        EngineError::NotModified { etag, last_modified } => rich_error(
            C::NotModified,
            "Not Modified",
            &[],
            &[
                ("etag", format!("\"{etag}\"")),
                ("last-modified", crate::dates::http_date(&crate::dates::ts(last_modified)).unwrap_or_default()),
            ],
        ),
        EngineError::PreconditionFailed => precondition_failed(),
        EngineError::EntityTooLarge => {
            S3Error::with_message(C::EntityTooLarge, "Your proposed upload exceeds the maximum allowed object size.")
        }
        EngineError::MalformedXml(m) => S3Error::with_message(C::MalformedXML, m),
        EngineError::KeyTooLong => S3Error::with_message(C::KeyTooLongError, KEY_TOO_LONG_MESSAGE),
        EngineError::CopyOntoItself => S3Error::with_message(
            C::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ),
        EngineError::CurrentIsDeleteMarker { version_id } => rich_error(
            C::NoSuchKey,
            "The specified key does not exist.",
            &[],
            &[("x-amz-delete-marker", "true".into()), ("x-amz-version-id", version_id)],
        ),
        EngineError::InsufficientStorage { free, reserve } => insufficient_storage(free, reserve),
        EngineError::Io(e) => {
            tracing::error!(error = %e, "storage failure");
            S3Error::with_message(C::InternalError, "We encountered an internal error. Please try again.")
        }
    }
}

/// [`engine_error`], except where AWS and ceph/s3-tests disagree and `aws_strict` is off:
/// then the answer s3-tests expects (docs/compatibility.md lists each case).
pub fn engine_error_in(e: EngineError, aws_strict: bool) -> S3Error {
    if !aws_strict {
        match &e {
            // AWS: 416 InvalidPartNumber; s3-tests (Ceph): 400 InvalidPart.
            EngineError::InvalidPartNumber => {
                return S3Error::with_message(S3ErrorCode::InvalidPart, "The requested partnumber is not satisfiable");
            }
            // AWS: 400 InvalidRequest; s3-tests (Ceph): 400 BadDigest.
            EngineError::MalformedChecksum { algorithm, .. } => {
                return S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    format!("The {} you specified did not match the calculated checksum.", algorithm.as_str()),
                );
            }
            _ => {}
        }
    }
    engine_error(e)
}

/// Adds Key / BucketName elements to a not-found error, as AWS does.
pub fn with_resource(mut e: S3Error, bucket: &str, key: Option<&str>) -> S3Error {
    let (name, value) = match (e.code(), key) {
        (S3ErrorCode::NoSuchBucket, _) => ("BucketName", bucket),
        (S3ErrorCode::NoSuchKey, Some(k)) => ("Key", k),
        _ => return e,
    };
    let mut headers = HeaderMap::new();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    if let Some(existing) = e.headers().cloned() {
        headers.extend(existing);
    }
    let field = format!("{name}={}", enc(value));
    let merged = match headers.get(ERROR_FIELDS_HEADER).and_then(|v| v.to_str().ok()) {
        Some(old) => format!("{old}&{field}"),
        None => field,
    };
    if let Ok(v) = HeaderValue::from_str(&merged) {
        headers.insert(ERROR_FIELDS_HEADER, v);
    }
    e.set_headers(headers);
    e
}

/// 404 NoSuchConfiguration: no inventory configuration with the id asked for.
pub fn no_such_configuration() -> S3Error {
    custom("NoSuchConfiguration", StatusCode::NOT_FOUND, "The specified configuration does not exist.")
}

/// 400 TooManyConfigurations: a bucket has the most configurations of a kind it may have.
pub fn too_many_configurations(message: &str) -> S3Error {
    custom("TooManyConfigurations", StatusCode::BAD_REQUEST, message)
}

#[cfg(test)]
mod refusal_tests {
    use super::*;

    #[test]
    fn lock_refusals_are_the_lock_crates_words() {
        for (e, code, status, message) in [
            (
                meta_error(MetaError::Locked(holdfast_lock::LockDenied::Compliance)),
                S3ErrorCode::AccessDenied,
                403,
                "Access Denied because object protected by object lock.",
            ),
            (bypass_denial(BypassDenial::NotGranted), S3ErrorCode::AccessDenied, 403, "Access Denied"),
        ] {
            assert_eq!(e.code(), &code);
            assert_eq!(e.status_code().map(|s| s.as_u16()), Some(status));
            assert_eq!(e.message(), Some(message));
        }
        let plain = bypass_denial(BypassDenial::NotLockBucket);
        assert_eq!(plain.code(), &S3ErrorCode::InvalidArgument);
        assert_eq!(plain.message(), Some(holdfast_lock::BYPASS_ON_PLAIN_BUCKET.message));
    }
}
