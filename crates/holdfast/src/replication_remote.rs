//! Replication to remote targets (`[replication.target.<id>]`): another Holdfast, reached by a
//! SigV4-signed PutObject that carries the source version's id and last-modified (an
//! authenticated replication request, `s3:ReplicateObject` on the destination; see
//! holdfast-api's `ops::replication`), or above `[replication] multipart_threshold` by a
//! replication upload (a multipart upload whose every request carries the source version id).
//! The body streams from the source's blobs to the socket (`UNSIGNED-PAYLOAD`; integrity by
//! Content-MD5 or the full-object checksum, which the destination verifies), never buffered
//! whole. HTTP/1.1 (https:// with rustls, checked against
//! the target's `ca_file` or the system's CA bundle), one connection per request.

use crate::anchor::remote::xml_text;
use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt;
use holdfast_engine::replication::{OutgoingReplica, ReplicaTransport, TransportError};
use holdfast_identity::signer::{self as sigv4, Signer, UNSIGNED_PAYLOAD};
use http::{Method, Request};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::net::TcpStream;

/// One remote target.
pub struct Target {
    /// `host:port`.
    authority: String,
    /// `https://` endpoints: the client and the name the certificate must carry.
    tls: Option<(tokio_rustls::TlsConnector, rustls_pki_types::ServerName<'static>)>,
    signer: Signer,
    /// `kind = "s3"`: a foreign S3 endpoint (its own version ids, AWS's plain API).
    foreign: bool,
}

/// The kinds of `[replication.target.<id>]`: `holdfast` (the default) or `s3`.
pub fn foreign_kind(kind: Option<&str>) -> anyhow::Result<bool> {
    match kind {
        None | Some("holdfast") => Ok(false),
        Some("s3") => Ok(true),
        Some(other) => anyhow::bail!("kind {other:?}: use \"holdfast\" (another Holdfast) or \"s3\" (any S3 endpoint)"),
    }
}

pub struct RemoteTargets {
    targets: BTreeMap<String, Target>,
    multipart: Multipart,
}

/// `[replication] multipart_threshold` / `multipart_part_size`: a new version larger than the
/// threshold goes to a foreign S3 target as a multipart upload of parts of this size.
#[derive(Debug, Clone, Copy)]
pub struct Multipart {
    pub threshold: u64,
    pub part_size: u64,
}

impl Default for Multipart {
    fn default() -> Self {
        Self { threshold: 64 << 20, part_size: 16 << 20 }
    }
}

/// `http[s]://host[:port][/]` → (`host:port`, https).
pub fn authority(url: &str) -> anyhow::Result<(String, bool)> {
    let (rest, https, port) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, true, 443)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, false, 80)
    } else {
        anyhow::bail!("a replication target endpoint is an http:// or https:// URL: {url:?}");
    };
    let a = rest.trim_end_matches('/');
    if a.is_empty() || a.contains('/') {
        anyhow::bail!("a replication target endpoint is http[s]://host[:port] without a path: {url:?}");
    }
    let has_port = a.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) && !a.ends_with(']');
    Ok((if has_port { a.to_owned() } else { format!("{a}:{port}") }, https))
}

/// The CA certificates an https target is checked against: `ca_file`, or the system's bundle
/// (`SSL_CERT_FILE`, or the usual Debian/RHEL/Alpine paths).
fn roots(ca_file: Option<&std::path::Path>) -> anyhow::Result<rustls::RootCertStore> {
    use rustls_pki_types::pem::PemObject as _;
    let path = match ca_file {
        Some(p) => p.to_path_buf(),
        None => std::env::var_os("SSL_CERT_FILE")
            .map(std::path::PathBuf::from)
            .into_iter()
            .chain(
                ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]
                    .map(std::path::PathBuf::from),
            )
            .find(|p| p.is_file())
            .context(
                "no ca_file given and no system CA bundle found (SSL_CERT_FILE, /etc/ssl/certs/ca-certificates.crt)",
            )?,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(&path)
        .with_context(|| format!("cannot read the CA file {}", path.display()))?
    {
        let cert = cert.with_context(|| format!("a bad certificate in {}", path.display()))?;
        roots.add(cert).with_context(|| format!("a certificate of {} is not a usable CA", path.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("{} holds no certificate", path.display());
    }
    Ok(roots)
}

fn connector(
    authority: &str,
    ca_file: Option<&std::path::Path>,
) -> anyhow::Result<(tokio_rustls::TlsConnector, rustls_pki_types::ServerName<'static>)> {
    let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS 1.2 and 1.3 with the ring provider")?
        .with_root_certificates(roots(ca_file)?)
        .with_no_client_auth();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .with_context(|| format!("{host:?} is not a name a certificate can carry"))?;
    Ok((tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)), name))
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

fn empty() -> Body {
    http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn passing(e: impl std::fmt::Display) -> TransportError {
    TransportError::Passing(e.to_string())
}

impl RemoteTargets {
    pub fn new(
        config: &BTreeMap<String, crate::config::ReplicationTargetConfig>,
        multipart: Multipart,
    ) -> anyhow::Result<Self> {
        let mut targets = BTreeMap::new();
        for (id, t) in config {
            let region = t.region.clone().unwrap_or_else(|| "us-east-1".into());
            let (authority, https) = authority(&t.endpoint).with_context(|| format!("[replication.target.{id}]"))?;
            let foreign = foreign_kind(t.kind.as_deref()).with_context(|| format!("[replication.target.{id}]"))?;
            if t.ca_file.is_some() && !https {
                anyhow::bail!("[replication.target.{id}] ca_file is for https:// endpoints");
            }
            let tls = https
                .then(|| connector(&authority, t.ca_file.as_deref()))
                .transpose()
                .with_context(|| format!("[replication.target.{id}]"))?;
            targets.insert(
                id.clone(),
                Target { authority, tls, signer: Signer::new(&t.access_key, &t.secret_key, &region), foreign },
            );
        }
        Ok(Self { targets, multipart })
    }

    /// One signed request; `body` streams `length` bytes.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &self,
        target: &Target,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        body: Body,
        length: u64,
    ) -> Result<(http::StatusCode, http::HeaderMap, Bytes), TransportError> {
        let mut path = format!("/{}", sigv4::uri_encode(bucket, false));
        if let Some(k) = key {
            path.push('/');
            path.push_str(&sigv4::uri_encode(k, true));
        }
        let query = sigv4::canonical_query(query);
        let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let date = sigv4::amz_date_now();
        let length_text = length.to_string();
        let mut signed: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        signed.push(("content-length", &length_text));
        let authorization = target
            .signer
            .sign(method.as_str(), &target.authority, &path, &query, &signed, UNSIGNED_PAYLOAD, &date)
            .authorization;
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", &target.authority)
            .header("x-amz-content-sha256", UNSIGNED_PAYLOAD)
            .header("x-amz-date", &date)
            .header("authorization", authorization);
        for (k, v) in &signed {
            // User metadata may hold UTF-8 (obs-text), which `&str` headers refuse.
            let value = http::HeaderValue::from_bytes(v.as_bytes())
                .map_err(|e| TransportError::Refused(format!("header {k}: {e}")))?;
            builder = builder.header(*k, value);
        }
        let request =
            builder.body(body).map_err(|e| TransportError::Refused(format!("cannot build the request: {e}")))?;
        // Long enough for the body at 1 MiB/s at least.
        let limit = Duration::from_secs(60 + length / (1 << 20));
        let exchange = async {
            let stream = TcpStream::connect(&target.authority).await.map_err(passing)?;
            stream.set_nodelay(true).map_err(passing)?;
            match &target.tls {
                None => exchange(stream, request).await,
                Some((connector, name)) => {
                    let stream = connector
                        .connect(name.clone(), stream)
                        .await
                        .map_err(|e| TransportError::Passing(format!("TLS with {}: {e}", target.authority)))?;
                    exchange(stream, request).await
                }
            }
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| TransportError::Passing(format!("{} did not answer within {limit:?}", target.authority)))?
    }
}

/// What an unsuccessful answer means: NoSuchVersion (and, from a foreign store, NoSuchKey)
/// to a metadata update asks for the whole version; 5xx, 408 and 429 pass; the rest is final.
fn failure(target: &str, status: http::StatusCode, text: &[u8], metadata: bool) -> TransportError {
    let text = String::from_utf8_lossy(text);
    let code = xml_text(&text, "Code").unwrap_or_default();
    let why = format!("{target}: HTTP {} {code} {}", status.as_u16(), xml_text(&text, "Message").unwrap_or_default());
    if metadata && (code == "NoSuchVersion" || code == "NoSuchKey") {
        return TransportError::NoSuchVersion;
    }
    // An upload taken away under a delivery (an operator's abort): the next attempt starts anew.
    if code == "NoSuchUpload" {
        return TransportError::Passing(why);
    }
    if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
        return TransportError::Passing(why);
    }
    TransportError::Refused(why)
}

/// How often a part is sent before its upload is given up, and the first pause between two
/// sends (doubling).
const PART_TRIES: u32 = 3;
const PART_RETRY: Duration = Duration::from_millis(250);

/// The version id a foreign store gave a new replica.
fn version_of(target: &str, bucket: &str, answer: &http::HeaderMap) -> Result<String, TransportError> {
    let id = answer.get("x-amz-version-id").and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty() && *v != "null");
    id.map(str::to_owned).ok_or_else(|| {
        TransportError::Refused(format!("{target}: the write answered no version id (is {bucket} versioned?)"))
    })
}

fn small_body(bytes: Vec<u8>) -> Body {
    http_body_util::Full::new(Bytes::from(bytes)).map_err(|never| match never {}).boxed_unsync()
}

fn content_md5(bytes: &[u8]) -> String {
    use base64::Engine as _;
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(bytes))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

impl RemoteTargets {
    /// One item to a foreign S3 endpoint with AWS's plain API: a new version is a PutObject
    /// with the object-lock headers (the store gives it its own version id, returned); a lock
    /// or tag change is PutObjectRetention (only when it strengthens the replica's lock, as
    /// `replica_lock` decides), PutObjectLegalHold and PutObjectTagging on the version the
    /// store gave the replica; a delete marker is a DELETE of the key.
    async fn send_foreign(
        &self,
        t: &Target,
        target: &str,
        bucket: &str,
        replica: &OutgoingReplica,
        body: Option<holdfast_blob::ByteStream>,
    ) -> Result<Option<String>, TransportError> {
        let key = Some(replica.key.as_str());
        let Some(obj) = &replica.object else {
            let (status, _, text) = self.call(t, Method::DELETE, bucket, key, &[], &[], empty(), 0).await?;
            return if status.is_success() { Ok(None) } else { Err(failure(target, status, &text, false)) };
        };
        if replica.metadata_only {
            let Some(remote) = replica.remote_version_id.as_deref() else { return Err(TransportError::NoSuchVersion) };
            self.foreign_lock_and_tags(t, target, bucket, replica, remote).await?;
            return Ok(None);
        }
        let now = holdfast_lock::UtcMillis::now_system();
        let mut headers = replica_headers(replica, false);
        headers.retain(|(k, _)| !k.starts_with("x-holdfast-"));
        // A store refuses a retain-until in the past: an expired retention protects nothing.
        if replica.lock.retention.is_some_and(|r| !r.is_active(now)) {
            headers.retain(|(k, _)| {
                !k.starts_with("x-amz-object-lock-mode") && k != "x-amz-object-lock-retain-until-date"
            });
        }
        if obj.size > self.multipart.threshold {
            // The whole object's MD5 and checksum do not apply to an upload of parts.
            headers.retain(|(k, _)| k != "content-md5" && !k.starts_with("x-amz-checksum-"));
            let answer = self.put_multipart(t, target, bucket, replica, &headers, &[]).await?;
            return version_of(target, bucket, &answer).map(Some);
        }
        let Some(b) = body else { return Err(TransportError::Refused("no body for a new version".into())) };
        let frames = b.map(|chunk| chunk.map(Frame::data));
        let (status, answer, text) = self
            .call(t, Method::PUT, bucket, key, &[], &headers, StreamBody::new(frames).boxed_unsync(), obj.size)
            .await?;
        if !status.is_success() {
            return Err(failure(target, status, &text, false));
        }
        version_of(target, bucket, &answer).map(Some)
    }

    /// A new version above the threshold as a multipart upload, the one code path of both
    /// kinds of target: `create` are the CreateMultipartUpload's headers, `every` go on each
    /// request of the upload (to another Holdfast: the source version id, which makes them
    /// replication requests). Each part is read twice from the source's blobs (once for its
    /// Content-MD5, which S3 requires of parts of an upload with lock headers, W7, once
    /// streaming to the socket), so nothing is held in memory; a part whose send fails in
    /// passing is sent again; any failure that remains aborts the upload. Returns the
    /// answer's headers of CompleteMultipartUpload.
    async fn put_multipart(
        &self,
        t: &Target,
        target: &str,
        bucket: &str,
        replica: &OutgoingReplica,
        create: &[(String, String)],
        every: &[(String, String)],
    ) -> Result<http::HeaderMap, TransportError> {
        let key = replica.key.as_str();
        let (Some(reader), Some(obj)) = (replica.reader.as_ref(), replica.object.as_ref()) else {
            return Err(TransportError::Refused("a multipart replica needs a reader".into()));
        };
        let (status, _, text) =
            self.call(t, Method::POST, bucket, Some(key), &[("uploads", "")], create, empty(), 0).await?;
        if !status.is_success() {
            return Err(failure(target, status, &text, false));
        }
        let Some(upload) = xml_text(&String::from_utf8_lossy(&text), "UploadId") else {
            return Err(TransportError::Passing(format!("{target}: CreateMultipartUpload answered no UploadId")));
        };
        let outcome = self.upload_parts(t, target, bucket, key, &upload, reader, obj.size, every).await;
        if outcome.is_err() {
            let query = [("uploadId", upload.as_str())];
            let _ = self.call(t, Method::DELETE, bucket, Some(key), &query, every, empty(), 0).await;
        }
        outcome
    }

    /// Part `number`, `[start, end)` of the source, with its Content-MD5.
    #[allow(clippy::too_many_arguments)]
    async fn upload_part(
        &self,
        t: &Target,
        target: &str,
        bucket: &str,
        key: &str,
        upload: &str,
        reader: &holdfast_engine::replication::SpanReader,
        (number, start, end): (u32, u64, u64),
        every: &[(String, String)],
    ) -> Result<String, TransportError> {
        use base64::Engine as _;
        use md5::Digest as _;
        let mut md5 = md5::Md5::new();
        let mut read = 0u64;
        let mut first = reader(start, end);
        while let Some(chunk) = first.next().await {
            let chunk = chunk.map_err(|e| TransportError::Passing(format!("reading the source: {e}")))?;
            read += chunk.len() as u64;
            md5.update(&chunk);
        }
        if read != end - start {
            return Err(TransportError::Passing(format!(
                "reading the source: part {number} has {read} bytes of {}",
                end - start
            )));
        }
        let mut headers = every.to_vec();
        headers.push(("content-md5".to_owned(), base64::engine::general_purpose::STANDARD.encode(md5.finalize())));
        let number_text = number.to_string();
        let query = [("partNumber", number_text.as_str()), ("uploadId", upload)];
        let frames = reader(start, end).map(|chunk| chunk.map(Frame::data));
        let (status, answer, text) = self
            .call(
                t,
                Method::PUT,
                bucket,
                Some(key),
                &query,
                &headers,
                StreamBody::new(frames).boxed_unsync(),
                end - start,
            )
            .await?;
        if !status.is_success() {
            return Err(failure(target, status, &text, false));
        }
        Ok(answer.get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned())
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_parts(
        &self,
        t: &Target,
        target: &str,
        bucket: &str,
        key: &str,
        upload: &str,
        reader: &holdfast_engine::replication::SpanReader,
        size: u64,
        every: &[(String, String)],
    ) -> Result<http::HeaderMap, TransportError> {
        let part_size = self.multipart.part_size.max(1);
        let mut completed = String::new();
        let mut start = 0u64;
        let mut number = 0u32;
        while start < size {
            number += 1;
            let end = (start + part_size).min(size);
            let span = (number, start, end);
            let mut tries = 0;
            let etag = loop {
                match self.upload_part(t, target, bucket, key, upload, reader, span, every).await {
                    Ok(etag) => break etag,
                    // A passing failure costs this part again, not the parts already sent.
                    Err(TransportError::Passing(why)) if tries + 1 < PART_TRIES => {
                        tries += 1;
                        tracing::debug!(target, key, part = number, %why, "a part will be sent again");
                        tokio::time::sleep(PART_RETRY * (1 << tries)).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            completed
                .push_str(&format!("<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>", xml_escape(&etag)));
            start = end;
        }
        let xml = format!(
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{completed}</CompleteMultipartUpload>"
        )
        .into_bytes();
        let length = xml.len() as u64;
        let mut headers = every.to_vec();
        headers.push(("content-type".to_owned(), "application/xml".to_owned()));
        let (status, answer, text) = self
            .call(t, Method::POST, bucket, Some(key), &[("uploadId", upload)], &headers, small_body(xml), length)
            .await?;
        // S3 may answer 200 with an error in the body.
        if !status.is_success() || String::from_utf8_lossy(&text).contains("<Error>") {
            let status = if status.is_success() { http::StatusCode::INTERNAL_SERVER_ERROR } else { status };
            return Err(failure(target, status, &text, false));
        }
        Ok(answer)
    }

    /// A new version above the threshold to another Holdfast: a replication upload (every
    /// request carries the source version id and is authorised by `s3:ReplicateObject`),
    /// completed into the replica under the source's id, last-modified, ETag and checksum.
    /// A lock-and-tags update goes first: a destination that already holds the version (a
    /// repeated delivery) answers it, and no byte is sent again.
    async fn replicate_multipart(
        &self,
        t: &Target,
        target: &str,
        bucket: &str,
        replica: &OutgoingReplica,
    ) -> Result<Option<String>, TransportError> {
        let key = Some(replica.key.as_str());
        let probe = replica_headers(replica, true);
        let (status, _, text) = self.call(t, Method::PUT, bucket, key, &[], &probe, empty(), 0).await?;
        if status.is_success() {
            return Ok(None);
        }
        match failure(target, status, &text, true) {
            TransportError::NoSuchVersion => {}
            other => return Err(other),
        }
        let mut create = replica_headers(replica, false);
        create.retain(|(k, _)| k != "content-md5" && !k.starts_with("x-amz-checksum-"));
        if let Some(c) = replica.object.as_ref().and_then(|o| o.checksum.as_ref())
            && c.kind == holdfast_meta::ChecksumKind::FullObject
        {
            create.push(("x-holdfast-replication-checksum".into(), format!("{} {}", c.algorithm.as_str(), c.value)));
        }
        let every = [("x-holdfast-replication-source-version-id".to_owned(), replica.version_id.clone())];
        self.put_multipart(t, target, bucket, replica, &create, &every).await?;
        Ok(None)
    }

    async fn foreign_lock_and_tags(
        &self,
        t: &Target,
        target: &str,
        bucket: &str,
        replica: &OutgoingReplica,
        remote: &str,
    ) -> Result<(), TransportError> {
        let key = Some(replica.key.as_str());
        let now = holdfast_lock::UtcMillis::now_system();
        let put = async |sub: &str, xml: String, bypass: bool| -> Result<(), TransportError> {
            let xml = xml.into_bytes();
            let mut headers =
                vec![("content-md5".to_owned(), content_md5(&xml)), ("content-type".into(), "application/xml".into())];
            if bypass {
                headers.push(("x-amz-bypass-governance-retention".into(), "true".into()));
            }
            let length = xml.len() as u64;
            let (status, _, text) = self
                .call(
                    t,
                    Method::PUT,
                    bucket,
                    key,
                    &[(sub, ""), ("versionId", remote)],
                    &headers,
                    small_body(xml),
                    length,
                )
                .await?;
            if status.is_success() { Ok(()) } else { Err(failure(target, status, &text, true)) }
        };
        if replica.lock.retention.is_some() {
            // What the replica has now: a retention is only ever strengthened.
            let (status, _, text) = self
                .call(t, Method::GET, bucket, key, &[("retention", ""), ("versionId", remote)], &[], empty(), 0)
                .await?;
            let current = if status.is_success() {
                let text = String::from_utf8_lossy(&text);
                let mode = xml_text(&text, "Mode").and_then(|m| m.parse::<holdfast_lock::Mode>().ok());
                let until = xml_text(&text, "RetainUntilDate").and_then(|d| holdfast_lock::UtcMillis::parse(&d).ok());
                mode.zip(until).map(|(mode, until)| holdfast_lock::Retention { mode, until })
            } else if status.as_u16() == 404
                && xml_text(&String::from_utf8_lossy(&text), "Code").as_deref() == Some("NoSuchObjectLockConfiguration")
            {
                None
            } else {
                return Err(failure(target, status, &text, true));
            };
            let have = holdfast_lock::LockState { retention: current, legal_hold: None };
            let want = holdfast_lock::replica_lock(have, replica.lock, now).retention;
            if let Some(r) = want.filter(|r| Some(*r) != current && r.is_active(now)) {
                // GOVERNANCE → COMPLIANCE is a mode change S3 allows only with governance
                // bypass (the replicator then needs s3:BypassGovernanceRetention there).
                let upgrade = current.is_some_and(|c| c.is_active(now) && c.mode != r.mode);
                put(
                    "retention",
                    format!(
                        "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
                        r.mode.as_str(),
                        r.until.to_iso8601()
                    ),
                    upgrade,
                )
                .await?;
            }
        }
        if let Some(hold) = replica.lock.legal_hold {
            put(
                "legal-hold",
                format!(
                    "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{}</Status></LegalHold>",
                    hold.as_str()
                ),
                false,
            )
            .await?;
        }
        if replica.tags.is_empty() {
            let (status, _, text) = self
                .call(t, Method::DELETE, bucket, key, &[("tagging", ""), ("versionId", remote)], &[], empty(), 0)
                .await?;
            if !status.is_success() {
                return Err(failure(target, status, &text, true));
            }
        } else {
            let tags: String = replica
                .tags
                .iter()
                .map(|(k, v)| format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", xml_escape(k), xml_escape(v)))
                .collect();
            put(
                "tagging",
                format!("<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>{tags}</TagSet></Tagging>"),
                false,
            )
            .await?;
        }
        Ok(())
    }
}

/// One request and its whole answer on a fresh connection.
async fn exchange<S>(
    io: S,
    request: Request<Body>,
) -> Result<(http::StatusCode, http::HeaderMap, Bytes), TransportError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(passing)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender.send_request(request).await.map_err(passing)?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(passing)?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// The headers of a replication request for `r`; `metadata_only` asks for its lock state
/// and tags only (the `metadata` kind).
fn replica_headers(r: &OutgoingReplica, metadata_only: bool) -> Vec<(String, String)> {
    use base64::Engine as _;
    let mut h: Vec<(String, String)> = vec![
        ("x-holdfast-replication-source-version-id".into(), r.version_id.clone()),
        ("x-holdfast-replication-last-modified".into(), r.last_modified.millis().to_string()),
    ];
    let kind = match (&r.object, metadata_only) {
        (None, _) => "marker",
        (Some(_), true) => "metadata",
        (Some(_), false) => "object",
    };
    h.push(("x-holdfast-replication-kind".into(), kind.into()));
    if let Some(ret) = r.lock.retention {
        h.push(("x-amz-object-lock-mode".into(), ret.mode.as_str().into()));
        h.push(("x-amz-object-lock-retain-until-date".into(), ret.until.to_iso8601()));
    }
    if let Some(hold) = r.lock.legal_hold {
        h.push(("x-amz-object-lock-legal-hold".into(), hold.as_str().into()));
    }
    if !r.tags.is_empty() {
        let pairs: Vec<(&str, &str)> = r.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        h.push(("x-amz-tagging".into(), sigv4::canonical_query(&pairs)));
    }
    let Some(obj) = r.object.as_ref().filter(|_| !metadata_only) else { return h };
    h.push(("x-holdfast-replication-etag".into(), obj.etag.clone()));
    if !obj.etag.contains('-')
        && let Ok(md5) = hex::decode(&obj.etag)
    {
        h.push(("content-md5".into(), base64::engine::general_purpose::STANDARD.encode(md5)));
    }
    if let Some(c) = &obj.checksum {
        match c.kind {
            holdfast_meta::ChecksumKind::FullObject => {
                h.push((format!("x-amz-checksum-{}", c.algorithm.as_str().to_ascii_lowercase()), c.value.clone()));
            }
            holdfast_meta::ChecksumKind::Composite => {
                h.push((
                    "x-holdfast-replication-composite-checksum".into(),
                    format!("{} {}", c.algorithm.as_str(), c.value),
                ));
            }
        }
    }
    let hd = &obj.headers;
    for (name, value) in [
        ("content-type", &hd.content_type),
        ("cache-control", &hd.cache_control),
        ("content-disposition", &hd.content_disposition),
        ("content-encoding", &hd.content_encoding),
        ("content-language", &hd.content_language),
        ("expires", &hd.expires),
        ("x-amz-website-redirect-location", &hd.website_redirect_location),
    ] {
        if let Some(v) = value {
            h.push((name.into(), v.clone()));
        }
    }
    if let Some(class) = r.storage_class.as_ref().or(hd.storage_class.as_ref()) {
        h.push(("x-amz-storage-class".into(), class.clone()));
    }
    for (k, v) in &hd.user {
        h.push((format!("x-amz-meta-{k}"), v.clone()));
    }
    h.retain(|(_, v)| http::HeaderValue::from_bytes(v.as_bytes()).is_ok());
    h
}

#[async_trait::async_trait]
impl ReplicaTransport for RemoteTargets {
    fn knows(&self, target: &str) -> bool {
        self.targets.contains_key(target)
    }

    fn foreign(&self, target: &str) -> bool {
        self.targets.get(target).is_some_and(|t| t.foreign)
    }

    async fn send(
        &self,
        target: &str,
        bucket: &str,
        replica: &OutgoingReplica,
        body: Option<holdfast_blob::ByteStream>,
    ) -> Result<Option<String>, TransportError> {
        let t = self.targets.get(target).ok_or_else(|| TransportError::Refused(format!("unknown target {target}")))?;
        if t.foreign {
            return self.send_foreign(t, target, bucket, replica, body).await;
        }
        if let Some(obj) =
            replica.object.as_ref().filter(|o| !replica.metadata_only && o.size > self.multipart.threshold)
        {
            tracing::debug!(target, key = %replica.key, size = obj.size, "a replication upload");
            return self.replicate_multipart(t, target, bucket, replica).await;
        }
        let headers = replica_headers(replica, replica.metadata_only);
        let (stream, length) = match (body, &replica.object) {
            (Some(b), Some(obj)) if !replica.metadata_only => {
                let frames = b.map(|chunk| chunk.map(Frame::data));
                (StreamBody::new(frames).boxed_unsync(), obj.size)
            }
            _ => (empty(), 0),
        };
        let (status, _, text) =
            self.call(t, Method::PUT, bucket, Some(&replica.key), &[], &headers, stream, length).await?;
        if status.is_success() {
            return Ok(None);
        }
        Err(failure(target, status, &text, replica.metadata_only))
    }

    async fn bucket_state(&self, target: &str, bucket: &str) -> Result<(bool, bool), TransportError> {
        let t = self.targets.get(target).ok_or_else(|| TransportError::Refused(format!("unknown target {target}")))?;
        let (status, _, text) = self.call(t, Method::GET, bucket, None, &[("versioning", "")], &[], empty(), 0).await?;
        let text = String::from_utf8_lossy(&text).into_owned();
        if !status.is_success() {
            let code = xml_text(&text, "Code").unwrap_or_default();
            return Err(TransportError::Refused(format!("HTTP {} {code}", status.as_u16())));
        }
        let versioned = xml_text(&text, "Status").as_deref() == Some("Enabled");
        let (status, _, text) =
            self.call(t, Method::GET, bucket, None, &[("object-lock", "")], &[], empty(), 0).await?;
        let locked = status.is_success()
            && xml_text(&String::from_utf8_lossy(&text), "ObjectLockEnabled").as_deref() == Some("Enabled");
        Ok((versioned, locked))
    }
}
