//! The HTTP edge in front of s3s: health and metrics endpoints, the guards, a request id
//! on every response, metrics per operation, and the AWS error elements s3s cannot render.
//! The binary builds an [`Edge`] from a [`Gateway`] and [`EdgeSettings`] and hands every
//! request of its connections to [`Edge::handle`]; nothing of s3s crosses that boundary.

mod audit_hook;
mod body_timeout;
mod boolean_headers;
pub mod control;
#[doc(hidden)]
pub mod guards;
mod iam;

pub use guards::MAX_HEADER_FIELDS;

use crate::Gateway;
use crate::audit::AuditSlot;
use crate::auth::OpSlot;
use crate::error::{ERROR_FIELDS_HEADER, METHOD_PLACEHOLDER};
use body_timeout::IdleTimeoutBody;
use bytes::Bytes;
use guards::ChunkGuard;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use s3s::Body;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

pub const HEALTH_PATH: &str = "/_holdfast/health";
pub const METRICS_PATH: &str = "/_holdfast/metrics";
/// Error bodies larger than this are passed through untouched.
const MAX_ERROR_BODY: usize = 64 << 10;

/// What the edge needs of the server's settings and services, as plain values. The region,
/// the base domain and `aws_strict` are the [`Gateway`]'s.
pub struct EdgeSettings {
    /// Largest aws-chunked chunk a client may declare.
    pub max_chunk: u64,
    /// Largest object a PUT may upload.
    pub max_put: u64,
    /// Where state changes and denials are recorded.
    pub audit: Option<Arc<holdfast_audit::AuditLog>>,
    /// The data volume's free-space reserve, for health and the disk gauges.
    pub space: Option<Arc<holdfast_engine::space::DiskSpace>>,
    /// A request body silent this long is answered 400 RequestTimeout.
    pub body_idle: std::time::Duration,
    /// The text of the metrics endpoint (the binary's operations concern).
    pub metrics: Arc<dyn MetricsPage>,
}

/// The metrics endpoint's text, rendered by the binary (exporter, lock gauges, who may see
/// per-bucket series).
pub trait MetricsPage: Send + Sync {
    /// The page for a scraper that sent these headers, or `None` when it presented a wrong
    /// token (answered 401).
    fn render(&self, headers: &http::HeaderMap) -> Option<String>;
}

/// A request body the edge reads: a connection's (`hyper::body::Incoming`) or one built in
/// process (the console's calls, signed as the signed-in principal).
pub trait InBody:
    http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + Sync + Unpin + 'static
{
}

impl<T> InBody for T where
    T: http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + Sync
        + Unpin
        + 'static
{
}

/// The body of every answer of the edge.
pub struct EdgeBody(Body);

impl EdgeBody {
    /// A whole body of bytes (the console's pages, served beside the edge).
    pub fn full(bytes: Bytes) -> Self {
        Self(Body::from(bytes))
    }

    /// The whole body, read to its end (the console reads the answers of its calls).
    pub async fn collect_bytes(self) -> Result<Bytes, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.0.collect().await?.to_bytes())
    }
}

impl http_body::Body for EdgeBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

pub struct Edge {
    s3: crate::prerendered::S3,
    /// S3 Control's job API (lock jobs), taken before s3s.
    control: control::Control,
    dir: Arc<holdfast_identity::Directory>,
    metrics: Arc<dyn MetricsPage>,
    ready: AtomicBool,
    max_chunk: u64,
    max_put: u64,
    /// AWS-exact answers where AWS and ceph/s3-tests disagree.
    aws_strict: bool,
    /// The region requests must be signed for.
    region: String,
    /// Base domain of virtual-hosted-style requests, if any.
    base_domain: Option<String>,
    audit: Option<Arc<holdfast_audit::AuditLog>>,
    space: Option<Arc<holdfast_engine::space::DiskSpace>>,
    body_idle: std::time::Duration,
    request_seq: AtomicU64,
    request_prefix: u32,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    error_response_with(status, code, message, "")
}

/// An error body with one more AWS element, e.g. `<Header>Transfer-Encoding</Header>`.
fn error_response_naming(status: StatusCode, code: &str, message: &str, element: &str, value: &str) -> Response<Body> {
    error_response_with(status, code, message, &format!("<{element}>{}</{element}>", xml_escape(value)))
}

fn error_response_with(status: StatusCode, code: &str, message: &str, extra_xml: &str) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code><Message>{}</Message>{extra_xml}</Error>",
        xml_escape(code),
        xml_escape(message)
    );
    let mut resp = Response::new(Body::from(xml));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    resp
}

/// The message to add to an error body s3s rendered without one.
fn default_message_for(text: &str) -> Option<&'static str> {
    if text.contains("<Message>") {
        return None;
    }
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    crate::error::default_message(&text[start..end])
}

/// 400 RequestTimeout for a body that stalled, as Amazon S3 answers; the connection closes
/// after it (the rest of the body will not be read).
fn request_timeout() -> Response<Body> {
    metrics::counter!("holdfast_body_timeouts_total").increment(1);
    let mut resp = error_response(StatusCode::BAD_REQUEST, "RequestTimeout", crate::error::REQUEST_TIMEOUT_MESSAGE);
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn content_length(h: &http::HeaderMap) -> u64 {
    h.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// GetObjectAttributes is the one response where AWS writes the ETag without quotes
/// (`<ETag>d41d8cd9...</ETag>`); s3s always quotes it.
async fn unquote_attributes_etag(resp: &mut Response<Body>) {
    if content_length(resp.headers()) as usize > MAX_ERROR_BODY {
        return;
    }
    let body = std::mem::take(resp.body_mut());
    let Ok(collected) = body.collect().await else { return };
    let text = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
    let text = match (text.find("<ETag>\""), text.find("\"</ETag>")) {
        (Some(a), Some(b)) if a < b => format!("{}<ETag>{}</ETag>{}", &text[..a], &text[a + 7..b], &text[b + 8..]),
        _ => text,
    };
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    *resp.body_mut() = Body::from(Bytes::from(text));
}

/// The Object Lock GET responses (configuration, retention, legal hold) carry the S3
/// namespace on their root element (spec §0.4, §10); s3s renders them without it.
async fn add_s3_namespace(resp: &mut Response<Body>) {
    if content_length(resp.headers()) as usize > MAX_ERROR_BODY {
        return;
    }
    let body = std::mem::take(resp.body_mut());
    let Ok(collected) = body.collect().await else { return };
    let mut text = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
    for root in ["ObjectLockConfiguration", "Retention", "LegalHold"] {
        let bare = format!("<{root}>");
        if text.contains(&bare) {
            text = text.replacen(&bare, &format!("<{root} xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"), 1);
            break;
        }
    }
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    *resp.body_mut() = Body::from(Bytes::from(text));
}

impl Edge {
    /// The edge in front of `gateway`'s S3 service; it answers 503 on health until
    /// [`Edge::set_ready`].
    pub fn new(gateway: Gateway, settings: EdgeSettings) -> Self {
        let dir = Arc::clone(&gateway.dir);
        let aws_strict = gateway.config.aws_strict;
        let region = gateway.config.region.clone();
        let base_domain = gateway.config.base_domain.clone();
        let control = control::Control::new(Arc::clone(&gateway.engine), Arc::clone(&dir), region.clone());
        Self {
            s3: crate::service(gateway),
            control,
            dir,
            metrics: settings.metrics,
            ready: AtomicBool::new(false),
            max_chunk: settings.max_chunk,
            max_put: settings.max_put,
            aws_strict,
            region,
            base_domain,
            audit: settings.audit,
            space: settings.space,
            body_idle: settings.body_idle,
            request_seq: AtomicU64::new(0),
            request_prefix: rand::random(),
        }
    }

    /// Whether health answers 200 (serving) or 503 (starting, shutting down).
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// 16 upper-case hex digits: the process's prefix, then the request's number.
    fn request_id(&self) -> String {
        let n = self.request_seq.fetch_add(1, Ordering::Relaxed);
        let value = (u64::from(self.request_prefix) << 32) | (n & 0xFFFF_FFFF);
        // Written directly: `format!` and its formatter were ~0.7 % of a 4 KiB GET (issue #17).
        (0..16).rev().map(|i| char::from(b"0123456789ABCDEF"[((value >> (i * 4)) & 0xF) as usize])).collect()
    }

    /// Answers one request of a connection from `peer`.
    pub async fn handle<B: InBody>(&self, req: Request<B>, peer: SocketAddr) -> Response<EdgeBody> {
        self.answer(req, peer).await.map(EdgeBody)
    }

    async fn answer<B: InBody>(&self, req: Request<B>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let request_id = self.request_id();
        let method = req.method().clone();
        let bytes_in = content_length(req.headers());
        // A body announced with `Expect: 100-continue` may or may not follow an early answer.
        let expects_continue = req.version() < http::Version::HTTP_2
            && req.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let slot = OpSlot::default();
        let facts = AuditSlot::default();
        let audited = !matches!(req.uri().path(), HEALTH_PATH | METRICS_PATH);
        let request = audit_hook::RequestFacts::of(&req, peer);
        let actor = request.actor(&request_id);
        let mut iam_action = None;
        let mut resp = match req.uri().path() {
            HEALTH_PATH => self.health(),
            METRICS_PATH => {
                self.disk_reading();
                self.metrics_page(req.headers())
            }
            _ if control::is_control(&req) => {
                // Boxed, as the IAM call below: the answer future stays small for S3 requests.
                let (r, op) = actor.clone().scope(Box::pin(self.control.handle(req, &request_id, &facts))).await;
                if let Ok(mut g) = slot.0.lock() {
                    *g = Some(op.to_owned());
                }
                r
            }
            _ if iam::is_iam(&req) => {
                if let Ok(mut g) = slot.0.lock() {
                    *g = Some("IAM".to_owned());
                }
                let (r, action) = actor.clone().scope(Box::pin(iam::handle(&self.dir, req, &request_id, &facts))).await;
                iam_action = Some(format!("iam:{}", action.unwrap_or_default()));
                r
            }
            // One view of the bucket's records per request (`request_view`).
            _ => {
                let call = self.s3_call(req, slot.clone(), facts.clone(), peer);
                actor.clone().scope(holdfast_engine::model::request_view::scope(call)).await
            }
        };
        let op = slot.get().unwrap_or_else(|| "none".to_owned());
        if op == "GetObjectAttributes" && resp.status() == StatusCode::OK {
            unquote_attributes_etag(&mut resp).await;
        }
        if matches!(op.as_str(), "GetObjectLockConfiguration" | "GetObjectRetention" | "GetObjectLegalHold")
            && resp.status() == StatusCode::OK
        {
            add_s3_namespace(&mut resp).await;
        }
        self.finish(&mut resp, &method, &request_id).await;
        if audited
            && let Some(log) = &self.audit
            && let Err(e) = audit_hook::record(
                log,
                iam_action.as_deref().unwrap_or(&op),
                &request,
                &actor,
                &facts,
                &resp,
                &request_id,
            )
            .await
        {
            // Only records of what committed nothing get here (denials, failures): the
            // answer stands, and the failure is logged and counted.
            tracing::error!(%request_id, %op, error = %e, "cannot commit the audit record of a request");
            metrics::counter!("holdfast_audit_failures_total").increment(1);
        }
        if expects_continue && resp.status().as_u16() >= 400 {
            // An error answered before the body was asked for (507 below the free-space
            // reserve, NoSuchBucket): a client may send the body anyway, and its bytes must not
            // be taken for the next request on this connection, so it closes after the answer.
            resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let status = resp.status().as_u16().to_string();
        metrics::counter!("holdfast_requests_total", "op" => op.clone(), "status" => status).increment(1);
        metrics::histogram!("holdfast_request_duration_seconds", "op" => op.clone())
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("holdfast_bytes_in_total").increment(bytes_in);
        metrics::counter!("holdfast_bytes_out_total").increment(content_length(resp.headers()));
        // One line per request, target `holdfast::access` (issue #15): 5xx at warn, the rest at
        // debug (`HOLDFAST_LOG=info,holdfast::access=debug` turns the access log on). Who and
        // what come from the actor the API filled in; absent fields are left out.
        let who = actor.actor();
        let status = resp.status().as_u16();
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        if resp.status().is_server_error() {
            tracing::warn!(
                target: "holdfast::access",
                %request_id,
                %method,
                %op,
                principal = who.principal.as_deref(),
                bucket = who.bucket.as_deref(),
                key = who.key.as_deref(),
                status,
                duration_ms,
                "request failed"
            );
        } else {
            tracing::debug!(
                target: "holdfast::access",
                %request_id,
                %method,
                %op,
                principal = who.principal.as_deref(),
                bucket = who.bucket.as_deref(),
                key = who.key.as_deref(),
                status,
                duration_ms,
                "request"
            );
        }
        resp
    }

    /// A fresh reading of the data volume (also sets the `holdfast_disk_*` gauges).
    fn disk_reading(&self) -> Option<holdfast_engine::space::SpaceReading> {
        let space = self.space.as_ref()?;
        space.measure().map_err(|e| tracing::warn!(error = %e, "cannot read the data volume's free space")).ok()
    }

    /// 200 while serving, also on a low disk: reads and deletes still work there, so a load
    /// balancer must keep sending them. A low disk says so in the body and in
    /// `x-holdfast-disk: low`.
    fn health(&self) -> Response<Body> {
        if self.ready.load(Ordering::Acquire) {
            let reading = self.disk_reading();
            let low = reading.filter(|r| r.low());
            let body = match low {
                Some(r) => format!(
                    "ok\ndisk low: {} bytes free, reserve {} bytes: new data is refused (507 InsufficientStorage)\n",
                    r.free, r.reserve
                ),
                None => "ok\n".to_owned(),
            };
            let mut r = Response::new(Body::from(body));
            if reading.is_some() {
                let state = if low.is_some() { "low" } else { "ok" };
                r.headers_mut().insert("x-holdfast-disk", HeaderValue::from_static(state));
            }
            r
        } else {
            let mut r = Response::new(Body::from(Bytes::from_static(b"starting\n")));
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            r
        }
    }

    /// The binary's metrics page (see [`MetricsPage`]), or 401 with a Bearer challenge for a
    /// wrong token.
    fn metrics_page(&self, headers: &http::HeaderMap) -> Response<Body> {
        let Some(text) = self.metrics.render(headers) else {
            let mut r = Response::new(Body::from(Bytes::from_static(b"wrong metrics token\n")));
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"holdfast-metrics\""));
            return r;
        };
        let mut r = Response::new(Body::from(text));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
        r
    }

    async fn s3_call<B: InBody>(
        &self,
        req: Request<B>,
        slot: OpSlot,
        facts: AuditSlot,
        peer: SocketAddr,
    ) -> Response<Body> {
        if req.method() == Method::OPTIONS {
            let (status, code, message) = guards::cors_preflight(req.headers());
            return error_response(status, code, &message);
        }
        if let Err((status, code, message)) =
            guards::check_signature_version(req.headers(), req.uri().query(), self.aws_strict)
        {
            return error_response(status, code, &message);
        }
        if let Err((status, code, message)) = guards::check_transfer_encoding(req.method(), req.headers()) {
            return error_response_naming(status, code, &message, "Header", "Transfer-Encoding");
        }
        // what AWS refuses and s3s would serve or answer otherwise.
        if let Err((status, code, message)) = guards::check_header_section(req.headers()) {
            let limit = guards::MAX_HEADER_SECTION.to_string();
            return error_response_naming(status, code, &message, "MaxSizeAllowed", &limit);
        }
        if let Err((status, code, message)) = guards::check_copy_source_key(req.headers()) {
            return error_response(status, code, &message);
        }
        if let Err((status, code, message)) = guards::check_uri(req.uri().path()) {
            return error_response(status, code, &message);
        }
        if let Err(((status, code, message), names_region)) =
            guards::check_signing_region(req.headers(), req.uri().query(), &self.region)
        {
            return if names_region {
                error_response_naming(status, code, &message, "Region", &self.region)
            } else {
                error_response(status, code, &message)
            };
        }
        if let Err((status, code, message)) = guards::check_signing_dates(req.headers(), req.uri().query()) {
            return error_response(status, code, &message);
        }
        let virtual_host = self.base_domain.as_deref().is_some_and(|d| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.split(':').next().unwrap_or(h))
                .is_some_and(|h| h.len() > d.len() + 1 && h.ends_with(d) && h[..h.len() - d.len()].ends_with('.'))
        });
        let path = req.uri().path().trim_start_matches('/');
        let object_path =
            if virtual_host { !path.is_empty() } else { path.split_once('/').is_some_and(|(_, k)| !k.is_empty()) };
        if let Err((status, code, message)) =
            guards::check_content_length(req.method(), req.headers(), req.uri().query(), object_path)
        {
            return error_response(status, code, &message);
        }
        if crate::reads_body_whole(req.method(), req.uri().query(), object_path)
            && content_length(req.headers()) > crate::MAX_XML_BODY
        {
            return error_response(StatusCode::BAD_REQUEST, "MaxMessageLengthExceeded", "Your request was too big.");
        }
        let decoded = req
            .headers()
            .get(&guards::X_AMZ_DECODED_CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if decoded.is_some_and(|d| d > self.max_put) {
            return error_response(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed object size.",
            );
        }
        let chunked = guards::is_aws_chunked(req.headers());
        let (mut parts, body) = req.into_parts();
        let (body, stalled) = IdleTimeoutBody::new(body, self.body_idle);
        guards::sigv4_date_from_date_header(&mut parts.headers);
        if boolean_headers::needs_rewrite(&parts.headers) {
            let secret = match boolean_headers::access_key(&parts.headers) {
                Some(key) => self.dir.lookup(&key).await.ok().flatten().map(|(_, secret)| secret),
                None => None,
            };
            boolean_headers::rewrite(&mut parts, secret.as_deref());
        }
        parts.extensions.insert(slot);
        parts.extensions.insert(facts);
        parts.extensions.insert(crate::access::RemoteAddr(peer));
        let body = if chunked {
            Body::http_body(ChunkGuard::new(body, self.max_chunk))
        } else if crate::keeps_xml_body(&parts.method, parts.uri.query()) {
            // B14, D9: keep the XML body so that it can be validated strictly
            // and its Content-MD5 / checksum verified before s3s parses it.
            const TOO_BIG: &str = "Your request was too big.";
            if content_length(&parts.headers) > crate::MAX_XML_BODY {
                return error_response(StatusCode::BAD_REQUEST, "MaxMessageLengthExceeded", TOO_BIG);
            }
            let limit = usize::try_from(crate::MAX_XML_BODY).unwrap_or(usize::MAX);
            match http_body_util::Limited::new(body, limit).collect().await {
                Ok(collected) => {
                    let bytes = collected.to_bytes();
                    parts.extensions.insert(crate::XmlBody(bytes.clone()));
                    Body::from(bytes)
                }
                Err(_) if stalled.get() => return request_timeout(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return error_response(StatusCode::BAD_REQUEST, "MaxMessageLengthExceeded", TOO_BIG);
                }
                Err(_) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "IncompleteBody",
                        "You did not provide the number of bytes specified by the Content-Length HTTP header",
                    );
                }
            }
        } else {
            Body::http_body(body)
        };
        // Boxed: s3s's future is large, and unboxed it made every future around this one as
        // large, copied whole each time one was wrapped or moved (issue #17: ~3 % of a GET).
        match Box::pin(self.s3.call(Request::from_parts(parts, body))).await {
            // Whatever read the body (the engine, s3s's XML parser), a stall is answered alike.
            Ok(_) if stalled.get() => request_timeout(),
            Ok(resp) => resp,
            Err(e) => {
                tracing::error!(error = ?e, "s3 service failed");
                error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                )
            }
        }
    }

    /// Request ids, 304 without a body, and the extra elements of error bodies.
    async fn finish(&self, resp: &mut Response<Body>, method: &Method, request_id: &str) {
        static REQUEST_ID: HeaderName = HeaderName::from_static("x-amz-request-id");
        static ID_2: HeaderName = HeaderName::from_static("x-amz-id-2");
        static FIELDS: HeaderName = HeaderName::from_static(ERROR_FIELDS_HEADER);
        let fields = resp.headers_mut().remove(&FIELDS);
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert(&REQUEST_ID, v.clone());
            h.insert(&ID_2, v);
        }
        if resp.status() == StatusCode::NOT_MODIFIED {
            resp.headers_mut().remove(header::CONTENT_TYPE);
            resp.headers_mut().remove(header::CONTENT_LENGTH);
            *resp.body_mut() = Body::empty();
            return;
        }
        if resp.status().as_u16() < 400 || *method == Method::HEAD {
            return;
        }
        if content_length(resp.headers()) as usize > MAX_ERROR_BODY {
            return;
        }
        let body = std::mem::take(resp.body_mut());
        let Ok(collected) = body.collect().await else { return };
        let text = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
        let mut extra = String::new();
        if let Some(fields) = fields.as_ref().and_then(|v| v.to_str().ok()) {
            for pair in fields.split('&') {
                let Some((k, v)) = pair.split_once('=') else { continue };
                let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                let v = if v == METHOD_PLACEHOLDER { method.as_str().into() } else { v };
                extra.push_str(&format!("<{k}>{}</{k}>", xml_escape(&v)));
            }
        }
        if !text.contains("<RequestId>") {
            extra.push_str(&format!("<RequestId>{request_id}</RequestId>"));
        }
        extra.push_str(&format!("<HostId>{request_id}</HostId>"));
        let text =
            if text.contains("</Error>") { text.replacen("</Error>", &format!("{extra}</Error>"), 1) } else { text };
        let text = match default_message_for(&text) {
            Some(m) => text.replacen("</Code>", &format!("</Code><Message>{}</Message>", xml_escape(m)), 1),
            None => text,
        };
        resp.headers_mut().remove(header::CONTENT_LENGTH);
        *resp.body_mut() = Body::from(Bytes::from(text));
    }
}
