//! Helpers shared by the Object Lock integration tests (`object_lock_*.rs`).
//! Rule IDs refer to `docs/spec/object-lock.md`.

#![allow(dead_code)]

use base64::Engine as _;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use holdfast_testkit::aws_sdk_s3::primitives::{ByteStream, DateTime};
use holdfast_testkit::aws_sdk_s3::types::{
    BucketVersioningStatus, DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode, ObjectLockRule,
    VersioningConfiguration,
};
use holdfast_testkit::{ROOT_AK, ROOT_SK, RawResponse, Server, ServerOptions, bucket_name, raw_http, signed_request};
use std::time::{Duration, SystemTime};

/// §9: the message of every refusal by the lock rules.
pub const LOCKED: &str = "Access Denied because object protected by object lock.";
pub const MALFORMED: &str = "The XML you provided was not well-formed or did not validate against our published schema";
pub const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

pub fn server() -> Server {
    Server::start(env!("CARGO_BIN_EXE_holdfast"))
}

/// A server with `aws_strict = true` (spec §12 DP1, DP2).
pub fn strict_server() -> Server {
    Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        ServerOptions { config_toml: "aws_strict = true\n".into(), ..Default::default() },
    )
}

/// Code, HTTP status and message of an SDK error.
pub fn err3<E: ProvideErrorMetadata>(err: &SdkError<E>) -> (Option<String>, Option<u16>, Option<String>) {
    let (code, status) = holdfast_testkit::error_code(err);
    (code, status, err.message().map(str::to_owned))
}

/// Asserts the SDK error is exactly `code` / `status` (and `message` when given).
#[track_caller]
pub fn assert_err<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E>,
    code: &str,
    status: u16,
    message: Option<&str>,
) {
    let (c, s, m) = err3(err);
    assert_eq!((c.as_deref(), s), (Some(code), Some(status)), "{err:?}");
    if let Some(want) = message {
        assert_eq!(m.as_deref(), Some(want), "{err:?}");
    }
}

#[track_caller]
pub fn assert_locked<E: ProvideErrorMetadata + std::fmt::Debug>(err: &SdkError<E>) {
    assert_err(err, "AccessDenied", 403, Some(LOCKED));
}

/// `now + secs` as the SDK's DateTime (millisecond precision, as the server stores it).
pub fn in_secs(secs: i64) -> DateTime {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
    DateTime::from_millis(now + secs * 1000)
}

pub fn days(n: i64) -> DateTime {
    in_secs(n * 86_400)
}

pub fn iso(dt: &DateTime) -> String {
    dt.fmt(holdfast_testkit::aws_sdk_s3::primitives::DateTimeFormat::DateTime).unwrap()
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ`, the form Holdfast emits (R15, G4, DP7).
pub fn iso_millis(dt: &DateTime) -> String {
    let s = iso(dt);
    let (secs, rest) = s.split_at(19);
    let frac = rest.trim_start_matches('.').trim_end_matches('Z');
    format!("{secs}.{:0<3}Z", &frac[..frac.len().min(3)])
}

/// Sleeps until the system clock is past `dt` (plus a small margin); bounded by `max`.
pub async fn sleep_past(dt: &DateTime, max: Duration) {
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as i64;
    let wait = (dt.to_millis().unwrap() - now + 150).max(0) as u64;
    assert!(wait <= max.as_millis() as u64, "would sleep {wait} ms");
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

pub async fn lock_bucket(s3: &Client, tag: &str) -> String {
    let b = bucket_name(tag);
    s3.create_bucket().bucket(&b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    b
}

pub async fn plain_bucket(s3: &Client, tag: &str) -> String {
    let b = bucket_name(tag);
    s3.create_bucket().bucket(&b).send().await.unwrap();
    b
}

pub async fn set_versioning(s3: &Client, b: &str, status: BucketVersioningStatus) {
    s3.put_bucket_versioning()
        .bucket(b)
        .versioning_configuration(VersioningConfiguration::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

pub fn retention_mode(m: &ObjectLockMode) -> ObjectLockRetentionMode {
    ObjectLockRetentionMode::from(m.as_str())
}

pub fn lock_config(rule: Option<(ObjectLockRetentionMode, Option<i32>, Option<i32>)>) -> ObjectLockConfiguration {
    let mut c = ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled);
    if let Some((mode, d, y)) = rule {
        let mut r = DefaultRetention::builder().mode(mode);
        if let Some(d) = d {
            r = r.days(d);
        }
        if let Some(y) = y {
            r = r.years(y);
        }
        c = c.rule(ObjectLockRule::builder().default_retention(r.build()).build());
    }
    c.build()
}

/// Sets (or clears, with `None`) the bucket's default retention rule.
pub async fn set_default(s3: &Client, b: &str, rule: Option<(ObjectLockRetentionMode, Option<i32>, Option<i32>)>) {
    s3.put_object_lock_configuration().bucket(b).object_lock_configuration(lock_config(rule)).send().await.unwrap();
}

/// A plain write; returns the new version id.
pub async fn put(s3: &Client, b: &str, k: &str, body: &[u8]) -> String {
    let out = s3.put_object().bucket(b).key(k).body(ByteStream::from(body.to_vec())).send().await.unwrap();
    out.version_id().expect("version id").to_owned()
}

/// A write with explicit retention; returns the new version id.
pub async fn put_locked(s3: &Client, b: &str, k: &str, mode: ObjectLockMode, until: &DateTime) -> String {
    let out = s3
        .put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(b"locked"))
        .object_lock_mode(mode)
        .object_lock_retain_until_date(*until)
        .send()
        .await
        .unwrap();
    out.version_id().expect("version id").to_owned()
}

pub async fn put_held(s3: &Client, b: &str, k: &str) -> String {
    let out = s3
        .put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(b"held"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    out.version_id().expect("version id").to_owned()
}

pub async fn set_hold(s3: &Client, b: &str, k: &str, v: Option<&str>, status: ObjectLockLegalHoldStatus) {
    s3.put_object_legal_hold()
        .bucket(b)
        .key(k)
        .set_version_id(v.map(str::to_owned))
        .legal_hold(ObjectLockLegalHold::builder().status(status).build())
        .send()
        .await
        .unwrap();
}

pub fn retention(mode: ObjectLockRetentionMode, until: &DateTime) -> ObjectLockRetention {
    ObjectLockRetention::builder().mode(mode).retain_until_date(*until).build()
}

/// The stored retention of a version: (mode, retain-until), or None (404).
pub async fn get_retention(s3: &Client, b: &str, k: &str, v: &str) -> Option<(String, DateTime)> {
    match s3.get_object_retention().bucket(b).key(k).version_id(v).send().await {
        Ok(out) => {
            let r = out.retention().expect("retention");
            Some((r.mode().unwrap().as_str().to_owned(), *r.retain_until_date().unwrap()))
        }
        Err(e) => {
            assert_err(&e, "NoSuchObjectLockConfiguration", 404, None);
            None
        }
    }
}

/// Every version id (objects and delete markers) of `key`, newest first.
pub async fn version_ids(s3: &Client, b: &str, key: &str) -> Vec<String> {
    let out = s3.list_object_versions().bucket(b).prefix(key).send().await.unwrap();
    let mut all: Vec<(DateTime, String)> = Vec::new();
    for v in out.versions() {
        if v.key() == Some(key) {
            all.push((*v.last_modified().unwrap(), v.version_id().unwrap().to_owned()));
        }
    }
    for m in out.delete_markers() {
        if m.key() == Some(key) {
            all.push((*m.last_modified().unwrap(), m.version_id().unwrap().to_owned()));
        }
    }
    // ListObjectVersions already orders a key newest first; keep its order for objects
    // and markers by merging on time (stable for equal times).
    all.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    all.into_iter().map(|(_, v)| v).collect()
}

pub fn md5_b64(body: &[u8]) -> String {
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

/// A request signed as the root user, sent byte for byte.
pub async fn raw(
    srv: &Server,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let req = signed_request(&srv.addr, method, path_and_query, headers, body, ROOT_AK, ROOT_SK, SystemTime::now());
    raw_http(&srv.addr, req).await.expect("raw request")
}

/// A raw request whose body carries a correct Content-MD5 (B14).
pub async fn raw_md5(
    srv: &Server,
    method: &str,
    path_and_query: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let md5 = md5_b64(body);
    let mut headers: Vec<(&str, &str)> = vec![("content-md5", md5.as_str())];
    headers.extend_from_slice(extra);
    raw(srv, method, path_and_query, &headers, body).await
}

/// Asserts a raw error response: status, Code, and Message when given.
#[track_caller]
pub fn assert_raw_err(r: &RawResponse, status: u16, code: &str, message: Option<&str>) {
    assert_eq!((r.status, r.xml("Code").as_deref()), (status, Some(code)), "{}", r.text());
    if let Some(m) = message {
        assert_eq!(xml_text(r, "Message").as_deref(), Some(m), "{}", r.text());
    }
}

/// The text of the first `<tag>` element with XML character entities decoded.
pub fn xml_text(r: &RawResponse, tag: &str) -> Option<String> {
    r.xml(tag).map(|t| {
        t.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
    })
}
