//! POST one record to an `http://` endpoint (HTTP/1.1, one connection per delivery).

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
    path: String,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("http://").ok_or("only http:// endpoints are supported")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?)
            }
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        Ok(Self { host: host.trim_matches(['[', ']']).to_owned(), port, path: path.to_owned() })
    }

    /// Sends `body`; Ok for a 2xx answer within `timeout`.
    pub(crate) async fn post(&self, body: Bytes, timeout: Duration) -> Result<(), String> {
        tokio::time::timeout(timeout, self.post_inner(body)).await.map_err(|_| "timed out".to_owned())?
    }

    async fn post_inner(&self, body: Bytes) -> Result<(), String> {
        let stream =
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        let conn = tokio::spawn(conn);
        let req = http::Request::post(self.path.as_str())
            .header(http::header::HOST, format!("{}:{}", self.host, self.port))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::CONNECTION, "close")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string());
        conn.abort();
        let status = resp?.status();
        if status.is_success() { Ok(()) } else { Err(format!("answered {status}")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_http_urls() {
        let e = Endpoint::parse("http://127.0.0.1:8080/hook?x=1").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("127.0.0.1", 8080, "/hook?x=1"));
        let e = Endpoint::parse("http://example.com").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.path.as_str()), ("example.com", 80, "/"));
        assert!(Endpoint::parse("https://example.com/").is_err());
        assert!(Endpoint::parse("http://:80/").is_err());
    }
}
