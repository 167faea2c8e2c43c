//! Replication to remote targets (`[replication.target.<id>]`): another Holdfast, reached by a
//! SigV4-signed PutObject that carries the source version's id and last-modified (an
//! authenticated replication request, `s3:ReplicateObject` on the destination; see
//! holdfast-api's `ops::replication`). The body streams from the source's blobs to the socket
//! (`UNSIGNED-PAYLOAD`; integrity by Content-MD5 or the full-object checksum, which the
//! destination verifies), never buffered whole. Plain HTTP/1.1, one connection per request.

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
    signer: Signer,
}

pub struct RemoteTargets {
    targets: BTreeMap<String, Target>,
}

/// `http://host[:port][/]` → `host:port`.
pub fn authority(url: &str) -> anyhow::Result<String> {
    let Some(rest) = url.strip_prefix("http://") else {
        anyhow::bail!("a replication target endpoint must be an http:// URL (https is not supported yet): {url:?}");
    };
    let a = rest.trim_end_matches('/');
    if a.is_empty() || a.contains('/') {
        anyhow::bail!("a replication target endpoint is http://host[:port] without a path: {url:?}");
    }
    Ok(if a.contains(':') { a.to_owned() } else { format!("{a}:80") })
}

type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

fn empty() -> Body {
    http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn passing(e: impl std::fmt::Display) -> TransportError {
    TransportError::Passing(e.to_string())
}

impl RemoteTargets {
    pub fn new(config: &BTreeMap<String, crate::config::ReplicationTargetConfig>) -> anyhow::Result<Self> {
        let mut targets = BTreeMap::new();
        for (id, t) in config {
            let region = t.region.clone().unwrap_or_else(|| "us-east-1".into());
            let authority = authority(&t.endpoint).with_context(|| format!("[replication.target.{id}]"))?;
            targets
                .insert(id.clone(), Target { authority, signer: Signer::new(&t.access_key, &t.secret_key, &region) });
        }
        Ok(Self { targets })
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
    ) -> Result<(http::StatusCode, Bytes), TransportError> {
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
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(passing)?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let response = sender.send_request(request).await.map_err(passing)?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(passing)?.to_bytes();
            Ok((parts.status, body))
        };
        tokio::time::timeout(limit, exchange)
            .await
            .map_err(|_| TransportError::Passing(format!("{} did not answer within {limit:?}", target.authority)))?
    }
}

fn replica_headers(r: &OutgoingReplica) -> Vec<(String, String)> {
    use base64::Engine as _;
    let mut h: Vec<(String, String)> = vec![
        ("x-holdfast-replication-source-version-id".into(), r.version_id.clone()),
        ("x-holdfast-replication-last-modified".into(), r.last_modified.millis().to_string()),
    ];
    let kind = match (&r.object, r.metadata_only) {
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
    let Some(obj) = r.object.as_ref().filter(|_| !r.metadata_only) else { return h };
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

    async fn send(
        &self,
        target: &str,
        bucket: &str,
        replica: &OutgoingReplica,
        body: Option<holdfast_blob::ByteStream>,
    ) -> Result<(), TransportError> {
        let t = self.targets.get(target).ok_or_else(|| TransportError::Refused(format!("unknown target {target}")))?;
        let headers = replica_headers(replica);
        let (stream, length) = match (body, &replica.object) {
            (Some(b), Some(obj)) if !replica.metadata_only => {
                let frames = b.map(|chunk| chunk.map(Frame::data));
                (StreamBody::new(frames).boxed_unsync(), obj.size)
            }
            _ => (empty(), 0),
        };
        let (status, text) =
            self.call(t, Method::PUT, bucket, Some(&replica.key), &[], &headers, stream, length).await?;
        if status.is_success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&text);
        let code = xml_text(&text, "Code").unwrap_or_default();
        let why =
            format!("{target}: HTTP {} {code} {}", status.as_u16(), xml_text(&text, "Message").unwrap_or_default());
        if replica.metadata_only && code == "NoSuchVersion" {
            return Err(TransportError::NoSuchVersion);
        }
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            return Err(TransportError::Passing(why));
        }
        Err(TransportError::Refused(why))
    }

    async fn bucket_state(&self, target: &str, bucket: &str) -> Result<(bool, bool), TransportError> {
        let t = self.targets.get(target).ok_or_else(|| TransportError::Refused(format!("unknown target {target}")))?;
        let (status, text) = self.call(t, Method::GET, bucket, None, &[("versioning", "")], &[], empty(), 0).await?;
        let text = String::from_utf8_lossy(&text).into_owned();
        if !status.is_success() {
            let code = xml_text(&text, "Code").unwrap_or_default();
            return Err(TransportError::Refused(format!("HTTP {} {code}", status.as_u16())));
        }
        let versioned = xml_text(&text, "Status").as_deref() == Some("Enabled");
        let (status, text) = self.call(t, Method::GET, bucket, None, &[("object-lock", "")], &[], empty(), 0).await?;
        let locked = status.is_success()
            && xml_text(&String::from_utf8_lossy(&text), "ObjectLockEnabled").as_deref() == Some("Enabled");
        Ok((versioned, locked))
    }
}
