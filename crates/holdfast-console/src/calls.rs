//! Calls to the S3 API made as the signed-in principal: each is a SigV4-signed request
//! handed to the same edge the S3 listener serves, so authentication, authorization
//! (identity and bucket policies), the lock check, the audit record and the words of a
//! refusal are the API's own. The console decides nothing about access itself.

use crate::session::Session;
use crate::xml;
use bytes::Bytes;
use holdfast_api::edge::Edge;
use holdfast_identity::signer::{self, Signer};
use http::{HeaderMap, Method, Request};
use http_body_util::Full;
use std::net::SocketAddr;

/// The Host the calls name: no dot, so never taken for a virtual-hosted bucket.
const HOST: &str = "holdfast-console";

/// One answer of the API.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The refusal as the API words it: (code, message).
    pub fn refusal(&self) -> Refusal {
        let text = self.text();
        Refusal {
            status: self.status,
            code: xml::text(&text, "Code").unwrap_or_else(|| format!("HTTP {}", self.status)),
            message: xml::text(&text, "Message").unwrap_or_default(),
        }
    }
}

/// An error answer of the API, shown with its code and message.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// One call: `path` already encoded (`/bucket/key`), `query` as pairs.
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'a str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

impl<'a> Call<'a> {
    pub fn get(path: String) -> Self {
        Self { method: Method::GET, path, query: Vec::new(), headers: Vec::new(), body: Bytes::new() }
    }

    pub fn q(mut self, k: &'a str, v: impl Into<String>) -> Self {
        self.query.push((k, v.into()));
        self
    }

    pub fn h(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
}

/// `/bucket` or `/bucket/key`, encoded.
pub fn path(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("/{}/{}", signer::uri_encode(bucket, false), signer::uri_encode(k, true)),
        None => format!("/{}", signer::uri_encode(bucket, false)),
    }
}

/// Sends `call` through `edge` as `session`'s principal, from the browser's address.
pub async fn send(edge: &Edge, region: &str, session: &Session, peer: SocketAddr, call: Call<'_>) -> Answer {
    let pairs: Vec<(&str, &str)> = call.query.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let query = signer::canonical_query(&pairs);
    let payload = signer::payload_hash(&call.body);
    let amz_date = signer::amz_date_now();
    let mut signed: Vec<(String, String)> = call.headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    if !call.body.is_empty() {
        use base64::Engine as _;
        use md5::Digest as _;
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&call.body));
        signed.push(("content-md5".into(), md5));
    }
    let refs: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let sig = Signer::new(&session.access_key, &session.secret_key, region).sign(
        call.method.as_str(),
        HOST,
        &call.path,
        &query,
        &refs,
        &payload,
        &amz_date,
    );
    let uri = if query.is_empty() { call.path.clone() } else { format!("{}?{query}", call.path) };
    let mut req = Request::builder()
        .method(call.method)
        .uri(uri)
        .header("host", HOST)
        .header("x-amz-date", &sig.amz_date)
        .header("x-amz-content-sha256", &payload)
        .header("authorization", &sig.authorization)
        .header("content-length", call.body.len().to_string())
        .header("user-agent", concat!("holdfast-console/", env!("CARGO_PKG_VERSION")));
    for (k, v) in &signed {
        req = req.header(k.as_str(), v.as_str());
    }
    let Ok(req) = req.body(Full::new(call.body)) else {
        return Answer { status: 500, headers: HeaderMap::new(), body: Bytes::from_static(b"") };
    };
    let resp = edge.handle(req, peer).await;
    let (parts, body) = resp.into_parts();
    let body = body.collect_bytes().await.unwrap_or_default();
    Answer { status: parts.status.as_u16(), headers: parts.headers, body }
}
