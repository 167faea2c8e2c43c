//! The operations the bench measures, each with what it prepares before the clock starts
//! and what it removes afterwards.

use crate::client::{Call, S3};
use crate::payload;
use crate::xml;
use anyhow::{Context, anyhow, bail};
use http::Method;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Put,
    Get,
    Head,
    /// DELETE without a version id on a versioned bucket: adds a delete marker.
    Delete,
    /// PutObjectRetention (GOVERNANCE, extended at every request).
    Retention,
    /// PutObjectLegalHold (ON and OFF in turn).
    Legalhold,
    /// ListObjectsV2 pages of 1,000 from random start keys.
    List,
    /// ListObjectVersions pages of 1,000 from random key markers.
    Listversions,
    /// ListObjectsV2 with prefix `d/` and delimiter `/` over the listing bucket, whose keys
    /// lie under 10 prefixes: one page of the 10 common prefixes.
    Listdelim,
    /// ListObjectVersions, first page of 1,000, over one key with `--objects` versions
    /// (default 10,000) in a bucket of its own.
    Listversionskey,
    /// CreateMultipartUpload, UploadPart for every part, CompleteMultipartUpload.
    Multipart,
    /// Unsigned GET of files from a static server (see `--static-root`).
    Static,
    /// Unsigned HEAD of the same files: the static server's reference for HEAD.
    Statichead,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Self::Put => "put",
            Self::Get => "get",
            Self::Head => "head",
            Self::Delete => "delete",
            Self::Retention => "retention",
            Self::Legalhold => "legalhold",
            Self::List => "list",
            Self::Listversions => "listversions",
            Self::Listdelim => "listdelim",
            Self::Listversionskey => "listversionskey",
            Self::Multipart => "multipart",
            Self::Static => "static",
            Self::Statichead => "statichead",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LockMode {
    Governance,
    /// Objects that nobody can delete before their retention ends; the bench then leaves
    /// them (and their bucket) behind. Only when asked.
    Compliance,
}

impl LockMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }
}

/// What one measured operation needs to know.
pub struct Workload {
    pub op: Op,
    pub size: u64,
    pub bucket: String,
    pub lock: Option<LockMode>,
    /// Prepared objects that reads and lock changes cycle through.
    pub objects: u64,
    pub part_size: u64,
    pub retain_secs: i64,
    /// Random per run: keys and payloads never repeat across runs.
    pub run: u64,
    /// Milliseconds added to every retention date, so each change extends the last.
    retention_step: AtomicU64,
    retention_base_ms: i64,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0)
}

/// ISO 8601 with milliseconds, as S3 writes dates.
pub fn iso_ms(ms: i64) -> String {
    holdfast_lock::UtcMillis(ms).to_iso8601()
}

pub fn object_key(n: u64) -> String {
    format!("o/{n:08}")
}

/// Key `n` of the listing bucket of `objects` keys: under `d/`, in 10 prefixes `d/0/` ..
/// `d/9/` of consecutive numbers, so that key order is number order.
pub fn listing_key(n: u64, objects: u64) -> String {
    let group = n * LISTING_PREFIXES / objects.max(1);
    format!("d/{group}/{n:08}")
}

/// The common prefixes of the listing bucket under `d/` (when it holds at least as many keys).
pub const LISTING_PREFIXES: u64 = 10;

/// The one key of `--op listversionskey`.
pub const VERSIONS_KEY: &str = "v/one-key";

impl Workload {
    pub fn new(op: Op, size: u64, bucket: String, lock: Option<LockMode>, objects: u64, run: u64) -> Self {
        Self {
            op,
            size,
            bucket,
            lock,
            objects: objects.max(1),
            part_size: 8 << 20,
            retain_secs: 3600,
            run,
            retention_step: AtomicU64::new(0),
            retention_base_ms: now_ms() + 2 * 3600 * 1000,
        }
    }

    /// Whether the bucket needs Object Lock.
    pub fn needs_lock_bucket(&self) -> bool {
        self.lock.is_some() || matches!(self.op, Op::Retention | Op::Legalhold)
    }

    pub fn needs_versioning(&self) -> bool {
        self.needs_lock_bucket() || matches!(self.op, Op::Delete | Op::Listversions | Op::Listversionskey)
    }

    /// How many objects `prepare` writes before the measurement.
    pub fn prepared_objects(&self) -> u64 {
        match self.op {
            Op::Get
            | Op::Head
            | Op::Delete
            | Op::Retention
            | Op::Legalhold
            | Op::List
            | Op::Listversions
            | Op::Listdelim
            | Op::Listversionskey => self.objects,
            Op::Put | Op::Multipart | Op::Static | Op::Statichead => 0,
        }
    }

    fn lock_headers<'a>(&self, call: Call<'a>, mode: LockMode) -> Call<'a> {
        call.header("x-amz-object-lock-mode", mode.as_str())
            .header("x-amz-object-lock-retain-until-date", iso_ms(now_ms() + self.retain_secs * 1000))
    }

    /// A PUT of `len` unique bytes at `key` (with lock headers and Content-MD5 if locked).
    pub async fn put(&self, s3: &mut S3, key: &str, len: u64, n: u64) -> anyhow::Result<u64> {
        let seed = payload::seed(self.run, n);
        let call = Call::new(Method::PUT, &self.bucket, Some(key));
        let call = match self.lock {
            // Object Lock writes need an integrity header (W7): the body is made in memory.
            Some(mode) => {
                let bytes = payload::bytes(seed, usize::try_from(len)?);
                self.lock_headers(call, mode).body_md5(bytes)
            }
            None => call.body(payload::body(seed, len), len),
        };
        s3.send(call, false).await?.ok()?;
        Ok(len)
    }

    /// One write of the preparation: object `n` of what the measured operation reads.
    pub async fn fill_one(&self, s3: &mut S3, n: u64) -> anyhow::Result<u64> {
        match self.op {
            Op::List | Op::Listversions | Op::Listdelim => {
                self.put(s3, &listing_key(n, self.objects), 0, n | 1 << 63).await
            }
            Op::Listversionskey => self.put(s3, VERSIONS_KEY, 0, n | 1 << 63).await,
            _ => self.put(s3, &object_key(n), self.size, n | 1 << 63).await,
        }
    }

    /// One measured operation, number `n` of the run; returns the payload bytes moved.
    pub async fn one(&self, s3: &mut S3, n: u64) -> anyhow::Result<u64> {
        let obj = object_key(n % self.objects);
        match self.op {
            Op::Put => {
                let key = format!("p/{:x}/{n}", self.run);
                self.put(s3, &key, self.size, n).await
            }
            Op::Get => {
                let r = s3.send(Call::new(Method::GET, &self.bucket, Some(&obj)), false).await?.ok()?;
                if r.received != self.size {
                    bail!("GET returned {} bytes, expected {}", r.received, self.size);
                }
                Ok(r.received)
            }
            Op::Head => {
                s3.send(Call::new(Method::HEAD, &self.bucket, Some(&obj)), false).await?.ok()?;
                Ok(0)
            }
            Op::Delete => {
                s3.send(Call::new(Method::DELETE, &self.bucket, Some(&obj)), false).await?.ok()?;
                Ok(0)
            }
            Op::Retention => {
                let step = self.retention_step.fetch_add(1, Ordering::Relaxed);
                let until = iso_ms(self.retention_base_ms + i64::try_from(step).unwrap_or(0));
                let mode = self.lock.unwrap_or(LockMode::Governance).as_str();
                let xml = format!(
                    "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{mode}</Mode>\
                     <RetainUntilDate>{until}</RetainUntilDate></Retention>"
                );
                let call = Call::new(Method::PUT, &self.bucket, Some(&obj)).query("retention", "").body_md5(xml);
                s3.send(call, false).await?.ok()?;
                Ok(0)
            }
            Op::Legalhold => {
                let status = if (n / self.objects).is_multiple_of(2) { "ON" } else { "OFF" };
                let call = legal_hold_call(&self.bucket, &obj, status);
                s3.send(call, false).await?.ok()?;
                Ok(0)
            }
            Op::List | Op::Listversions => {
                // Start where a full page of 1,000 follows, anywhere in the bucket.
                let span = self.objects.saturating_sub(1001).max(1);
                let start = listing_key(next_rand(self.run ^ n) % span, self.objects);
                let call = Call::new(Method::GET, &self.bucket, None).query("max-keys", "1000");
                let call = if self.op == Op::List {
                    call.query("list-type", "2").query("start-after", &start)
                } else {
                    call.query("versions", "").query("key-marker", &start)
                };
                let r = s3.send(call, true).await?.ok()?;
                let tag = if self.op == Op::List { "Contents" } else { "Version" };
                let entries = xml::all(std::str::from_utf8(&r.body)?, tag).len() as u64;
                let expected = (self.objects - 1 - start_index(&start)).min(1000);
                if entries != expected {
                    bail!("a page listed {entries} entries, expected {expected}");
                }
                Ok(r.received)
            }
            Op::Listdelim => {
                let call = Call::new(Method::GET, &self.bucket, None)
                    .query("list-type", "2")
                    .query("prefix", "d/")
                    .query("delimiter", "/")
                    .query("max-keys", "1000");
                let r = s3.send(call, true).await?.ok()?;
                let text = std::str::from_utf8(&r.body)?;
                let prefixes = xml::all(text, "CommonPrefixes").len() as u64;
                let expected = LISTING_PREFIXES.min(self.objects);
                if prefixes != expected || xml::first(text, "IsTruncated") != Some("false") {
                    bail!("a delimiter listing gave {prefixes} common prefixes, expected {expected} in one page");
                }
                Ok(r.received)
            }
            Op::Listversionskey => {
                let call = Call::new(Method::GET, &self.bucket, None)
                    .query("versions", "")
                    .query("prefix", VERSIONS_KEY)
                    .query("max-keys", "1000");
                let r = s3.send(call, true).await?.ok()?;
                let entries = xml::all(std::str::from_utf8(&r.body)?, "Version").len() as u64;
                let expected = self.objects.min(1000);
                if entries != expected {
                    bail!("the first versions page listed {entries} versions, expected {expected}");
                }
                Ok(r.received)
            }
            Op::Multipart => self.multipart(s3, n).await,
            Op::Static => {
                let key = static_file(self.size, n % self.objects);
                let r = s3.send(Call::new(Method::GET, "hfbench-static", Some(&key)), false).await?.ok()?;
                if r.received != self.size {
                    bail!("GET returned {} bytes, expected {}", r.received, self.size);
                }
                Ok(r.received)
            }
            Op::Statichead => {
                let key = static_file(self.size, n % self.objects);
                s3.send(Call::new(Method::HEAD, "hfbench-static", Some(&key)), false).await?.ok()?;
                Ok(0)
            }
        }
    }

    async fn multipart(&self, s3: &mut S3, n: u64) -> anyhow::Result<u64> {
        let key = format!("m/{:x}/{n}", self.run);
        let mut call = Call::new(Method::POST, &self.bucket, Some(&key)).query("uploads", "");
        if let Some(mode) = self.lock {
            call = self.lock_headers(call, mode);
        }
        let r = s3.send(call, true).await?.ok()?;
        let upload_id = xml::first(&r.text(), "UploadId").ok_or_else(|| anyhow!("no UploadId"))?.to_owned();
        let result = self.upload_parts(s3, &key, &upload_id, n).await;
        if result.is_err() {
            let call = Call::new(Method::DELETE, &self.bucket, Some(&key)).query("uploadId", &upload_id);
            let _ = s3.send(call, false).await;
        }
        result
    }

    async fn upload_parts(&self, s3: &mut S3, key: &str, upload_id: &str, n: u64) -> anyhow::Result<u64> {
        let part_size = self.part_size.max(5 << 20);
        let parts = self.size.div_ceil(part_size).max(1);
        let mut done = String::from("<CompleteMultipartUpload>");
        for p in 1..=parts {
            let len = if p == parts { self.size - part_size * (parts - 1) } else { part_size };
            let number = p.to_string();
            let seed = payload::seed(self.run, n.wrapping_mul(10_007).wrapping_add(p));
            let call = Call::new(Method::PUT, &self.bucket, Some(key))
                .query("partNumber", &number)
                .query("uploadId", upload_id);
            let call = if self.lock.is_some() {
                call.body_md5(payload::bytes(seed, usize::try_from(len)?))
            } else {
                call.body(payload::body(seed, len), len)
            };
            let r = s3.send(call, false).await?.ok()?;
            let etag = r.headers.get("etag").and_then(|v| v.to_str().ok()).context("no ETag on a part")?;
            done.push_str(&format!("<Part><PartNumber>{p}</PartNumber><ETag>{etag}</ETag></Part>"));
        }
        done.push_str("</CompleteMultipartUpload>");
        let call = Call::new(Method::POST, &self.bucket, Some(key)).query("uploadId", upload_id).body_md5(done);
        let r = s3.send(call, true).await?.ok()?;
        // CompleteMultipartUpload reports late failures in a 200 body.
        if r.text().contains("<Error>") {
            bail!("CompleteMultipartUpload failed: {}", r.text());
        }
        Ok(self.size)
    }
}

impl crate::runner::Job for Workload {
    async fn fill_one(&self, s3: &mut S3, n: u64) -> anyhow::Result<u64> {
        Workload::fill_one(self, s3, n).await
    }

    async fn one(&self, s3: &mut S3, n: u64) -> anyhow::Result<u64> {
        Workload::one(self, s3, n).await
    }
}

pub fn legal_hold_call<'a>(bucket: &'a str, key: &'a str, status: &str) -> Call<'a> {
    let xml =
        format!("<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{status}</Status></LegalHold>");
    Call::new(Method::PUT, bucket, Some(key)).query("legal-hold", "").body_md5(xml)
}

fn start_index(key: &str) -> u64 {
    key.rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

fn next_rand(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// Name of a file the static-server workload reads (under `<root>/hfbench-static/`).
pub fn static_file(size: u64, i: u64) -> String {
    format!("{size}-{i}")
}
