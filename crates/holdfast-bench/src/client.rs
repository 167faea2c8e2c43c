//! One S3 connection per load worker: HTTP/1.1 keep-alive on hyper, requests signed with
//! [`crate::sigv4`]. No pool, no retries: a failed request is an error in the figures and
//! the next request opens a fresh connection.

use crate::sigv4::{self, Signer, UNSIGNED_PAYLOAD};
use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use md5::Digest as _;
use std::sync::Arc;
use tokio::net::TcpStream;

pub type ReqBody = BoxBody<Bytes, std::io::Error>;

pub fn empty() -> ReqBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub fn full(b: impl Into<Bytes>) -> ReqBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn content_md5(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

/// Where requests go: `http://host:port` (path-style addressing).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` to connect to and to send as `Host`.
    pub authority: String,
    /// A path prefix (for a static server), without trailing `/`.
    pub base_path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url.strip_prefix("http://").ok_or_else(|| anyhow!("only http:// endpoints are supported: {url}"))?;
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        if authority.is_empty() {
            bail!("no host in endpoint {url}");
        }
        let authority = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
        let base_path = path.trim_end_matches('/');
        let base_path = if base_path.is_empty() { String::new() } else { format!("/{base_path}") };
        Ok(Self { authority, base_path })
    }
}

/// A request to send: bucket and key name the path; query pairs are signed.
pub struct Call<'a> {
    pub method: Method,
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    pub query: Vec<(&'a str, &'a str)>,
    /// Extra headers (lower-case names), all signed.
    pub headers: Vec<(&'static str, String)>,
    pub body: ReqBody,
    pub content_length: u64,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, bucket: &'a str, key: Option<&'a str>) -> Self {
        Self { method, bucket, key, query: Vec::new(), headers: Vec::new(), body: empty(), content_length: 0 }
    }

    pub fn query(mut self, k: &'a str, v: &'a str) -> Self {
        self.query.push((k, v));
        self
    }

    pub fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }

    pub fn body(mut self, body: ReqBody, len: u64) -> Self {
        self.body = body;
        self.content_length = len;
        self
    }

    /// A small body with its Content-MD5 (lock operations and DeleteObjects require one).
    pub fn body_md5(self, bytes: impl Into<Bytes>) -> Self {
        let bytes: Bytes = bytes.into();
        let len = bytes.len() as u64;
        self.header("content-md5", content_md5(&bytes)).body(full(bytes), len)
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body, when it was collected; else empty.
    pub body: Bytes,
    /// Body bytes received.
    pub received: u64,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Fails unless the status is 2xx, with the error body in the message.
    pub fn ok(self) -> anyhow::Result<Self> {
        if self.status.is_success() {
            Ok(self)
        } else {
            let text = self.text();
            let code = crate::xml::first(&text, "Code").unwrap_or("");
            Err(anyhow!("HTTP {} {code}", self.status.as_u16()))
        }
    }
}

pub struct S3 {
    endpoint: Arc<Endpoint>,
    signer: Option<Arc<Signer>>,
    conn: Option<SendRequest<ReqBody>>,
}

impl S3 {
    /// `signer` None sends unsigned requests (a static server).
    pub fn new(endpoint: Arc<Endpoint>, signer: Option<Arc<Signer>>) -> Self {
        Self { endpoint, signer, conn: None }
    }

    async fn connection(&mut self) -> anyhow::Result<&mut SendRequest<ReqBody>> {
        if let Some(c) = self.conn.as_mut()
            && c.ready().await.is_err()
        {
            self.conn = None;
        }
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.endpoint.authority)
                .await
                .with_context(|| format!("cannot connect to {}", self.endpoint.authority))?;
            stream.set_nodelay(true)?;
            let (sender, conn) = hyper::client::conn::http1::Builder::new()
                .max_buf_size(1 << 20)
                .handshake(TokioIo::new(stream))
                .await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.conn = Some(sender);
        }
        Ok(self.conn.as_mut().expect("connected"))
    }

    /// Sends a call. With `collect` the body is kept (XML answers); otherwise it is read and
    /// counted, never buffered.
    pub async fn send(&mut self, call: Call<'_>, collect: bool) -> anyhow::Result<Response> {
        let mut path = self.endpoint.base_path.clone();
        path.push('/');
        path.push_str(&sigv4::uri_encode(call.bucket, false));
        if let Some(k) = call.key {
            path.push('/');
            path.push_str(&sigv4::uri_encode(k, true));
        }
        let query = sigv4::canonical_query(&call.query);
        let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let mut builder = Request::builder().method(call.method.clone()).uri(&uri);
        builder = builder.header("host", &self.endpoint.authority);
        if call.content_length > 0 || matches!(call.method, Method::PUT | Method::POST) {
            builder = builder.header("content-length", call.content_length);
        }
        for (k, v) in &call.headers {
            builder = builder.header(*k, v);
        }
        if let Some(signer) = &self.signer {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
                .unwrap_or(0);
            let date = sigv4::amz_date(now);
            let signed: Vec<(&str, &str)> = call.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let sig = signer.sign(
                call.method.as_str(),
                &self.endpoint.authority,
                &path,
                &query,
                &signed,
                UNSIGNED_PAYLOAD,
                &date,
            );
            builder = builder
                .header("x-amz-content-sha256", UNSIGNED_PAYLOAD)
                .header("x-amz-date", sig.amz_date)
                .header("authorization", sig.authorization);
        }
        let req = builder.body(call.body)?;
        let conn = self.connection().await?;
        let resp = match conn.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.conn = None;
                return Err(e.into());
            }
        };
        let (parts, mut body) = resp.into_parts();
        let mut received = 0u64;
        let mut kept = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.conn = None;
                    return Err(e.into());
                }
            };
            if let Ok(data) = frame.into_data() {
                received += data.len() as u64;
                if collect || !parts.status.is_success() {
                    kept.extend_from_slice(&data);
                }
            }
        }
        Ok(Response { status: parts.status, headers: parts.headers, body: Bytes::from(kept), received })
    }
}
