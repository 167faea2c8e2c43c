//! Raw HTTP/1.1 for requests no SDK sends: malformed bodies, short bodies, bad signatures.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use std::io::{Read, Write};
use std::time::{Duration, SystemTime};

#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The text of the first `<tag>` element of an XML body.
    pub fn xml(&self, tag: &str) -> Option<String> {
        let text = self.text();
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{tag}>"))? + start;
        Some(text[start..end].to_owned())
    }
}

fn parse(raw: &[u8]) -> std::io::Result<RawResponse> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad HTTP response");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 =
        lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked")) {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..pos]).trim(), 16).map_err(|_| bad())?;
            rest = &rest[pos + 2..];
            if size == 0 || rest.len() < size {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[(size + 2).min(rest.len())..];
        }
        body = out;
    }
    Ok(RawResponse { status, headers, body })
}

pub(crate) fn raw_http_blocking(addr: &str, request: &[u8]) -> std::io::Result<RawResponse> {
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.write_all(request)?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse(&buf)
}

/// Sends bytes exactly as given (add `Connection: close`), then half-closes the socket so
/// that a body shorter than its Content-Length ends early, and reads the whole response.
pub async fn raw_http(addr: &str, request: Vec<u8>) -> std::io::Result<RawResponse> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(&request).await?;
    s.shutdown().await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf)).await??;
    parse(&buf)
}

/// A complete HTTP/1.1 request signed with SigV4 (header form) at `time`.
#[allow(clippy::too_many_arguments)]
pub fn signed_request(
    addr: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    access_key: &str,
    secret_key: &str,
    time: SystemTime,
) -> Vec<u8> {
    let url = format!("http://{addr}{path_and_query}");
    let body_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
    let mut all: Vec<(String, String)> = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    all.push(("host".into(), addr.to_owned()));
    if !all.iter().any(|(k, _)| k.eq_ignore_ascii_case("x-amz-content-sha256")) {
        all.push(("x-amz-content-sha256".into(), body_sha));
    }
    let identity = Credentials::new(access_key, secret_key, None, None, "raw").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("s3")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    // The payload hash in the canonical request is whatever x-amz-content-sha256 says.
    let declared = all
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-content-sha256"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let signable_body = match declared.as_str() {
        "UNSIGNED-PAYLOAD" => SignableBody::UnsignedPayload,
        v => SignableBody::Precomputed(v.to_owned()),
    };
    let signable = SignableRequest::new(method, &url, all.iter().map(|(k, v)| (k.as_str(), v.as_str())), signable_body)
        .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let (signed_headers, _) = instructions.into_parts();
    for h in signed_headers {
        all.push((h.name().to_owned(), h.value().to_owned()));
    }
    let mut out = format!("{method} {path_and_query} HTTP/1.1\r\n");
    for (k, v) in &all {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !all.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// How an `aws-chunked` body is framed.
pub enum Chunked<'a> {
    /// STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk carries a signature chained from the
    /// request's seed signature.
    Signed,
    /// STREAMING-UNSIGNED-PAYLOAD-TRAILER with one trailing header (name, value).
    UnsignedTrailer(&'a str, &'a str),
}

fn amz_date(time: SystemTime) -> (String, String) {
    let t = time::OffsetDateTime::from(time);
    let date = format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day());
    let full = format!("{date}T{:02}{:02}{:02}Z", t.hour(), t.minute(), t.second());
    (date, full)
}

/// A PUT of `chunks` as an aws-chunked body, the way SDKs stream uploads.
#[allow(clippy::too_many_arguments)]
pub fn aws_chunked_request(
    addr: &str,
    path: &str,
    chunks: &[&[u8]],
    mode: Chunked<'_>,
    access_key: &str,
    secret_key: &str,
    time: SystemTime,
) -> Vec<u8> {
    use std::fmt::Write as _;
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    let (content_sha, trailer) = match &mode {
        Chunked::Signed => ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", None),
        Chunked::UnsignedTrailer(name, value) => ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", Some((*name, *value))),
    };
    let (date, full_date) = amz_date(time);
    let signing_key = v4::generate_signing_key(secret_key, time, "us-east-1", "s3");
    let scope = format!("{date}/us-east-1/s3/aws4_request");
    let empty_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b""));

    // Encode the body first (the seed signature is needed for signed chunks, so the
    // header block is computed twice: once for its signature, once for its length).
    let encode = |seed: &str| -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev = seed.to_owned();
        let mut all: Vec<&[u8]> = chunks.to_vec();
        all.push(b"");
        for c in all {
            match mode {
                Chunked::Signed => {
                    let sts = format!(
                        "AWS4-HMAC-SHA256-PAYLOAD\n{full_date}\n{scope}\n{prev}\n{empty_sha}\n{}",
                        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(c))
                    );
                    let sig = v4::calculate_signature(&signing_key, sts.as_bytes());
                    out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", c.len()).as_bytes());
                    prev = sig;
                }
                Chunked::UnsignedTrailer(..) => out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes()),
            }
            out.extend_from_slice(c);
            if !c.is_empty() {
                out.extend_from_slice(b"\r\n");
            }
        }
        match trailer {
            Some((name, value)) => {
                let mut t = String::new();
                let _ = write!(t, "{name}:{value}\r\n\r\n");
                out.extend_from_slice(t.as_bytes());
            }
            None => out.extend_from_slice(b"\r\n"),
        }
        out
    };
    let encoded_len = encode(&"0".repeat(64)).len();
    let decoded = total.to_string();
    let content_length = encoded_len.to_string();
    let mut headers: Vec<(&str, &str)> = vec![
        ("x-amz-content-sha256", content_sha),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", &decoded),
        ("content-length", &content_length),
    ];
    if let Some((name, _)) = trailer {
        headers.push(("x-amz-trailer", name));
    }
    let head = signed_request(addr, "PUT", path, &headers, b"", access_key, secret_key, time);
    let head_text = String::from_utf8(head.clone()).expect("ascii head");
    let seed = head_text.split("Signature=").nth(1).map(|s| s[..64].to_owned()).unwrap_or_default();
    let mut out = head;
    out.extend_from_slice(&encode(&seed));
    out
}
