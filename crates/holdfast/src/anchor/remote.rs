//! The remote anchor target: a few S3 calls (PUT with a COMPLIANCE lock, ListObjectVersions,
//! GET of a version, GET `?object-lock`) over plain HTTP/1.1, signed with SigV4. One
//! connection per call: anchors are written minutes apart.

use super::sigv4::{self, Signer};
use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::net::TcpStream;

/// Longest a call to the remote endpoint may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct RemoteS3 {
    /// `host:port`.
    authority: String,
    signer: Signer,
}

/// `http://host[:port][/]` → `host:port`. TLS is not supported (no TLS stack in the build).
pub fn parse_endpoint(url: &str) -> anyhow::Result<String> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("[audit] anchor_endpoint must be an http:// URL (https is not supported yet): {url:?}");
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        bail!("[audit] anchor_endpoint must be http://host[:port] without a path: {url:?}");
    }
    Ok(if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") })
}

/// The text of the first `<tag>` in `xml` (entities decoded).
pub fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// (key, version id) of one object version.
type KeyVersion = (String, String);

/// One page of a ListObjectVersions answer: the (key, version id) of each object version
/// (delete markers left out) and where to continue, if truncated.
pub fn parse_versions(xml: &str) -> (Vec<KeyVersion>, Option<KeyVersion>) {
    let mut versions = Vec::new();
    for block in xml.split("<Version>").skip(1) {
        let block = block.split("</Version>").next().unwrap_or_default();
        if let (Some(k), Some(v)) = (xml_text(block, "Key"), xml_text(block, "VersionId")) {
            versions.push((k, v));
        }
    }
    let next = (xml_text(xml, "IsTruncated").as_deref() == Some("true"))
        .then(|| Some((xml_text(xml, "NextKeyMarker")?, xml_text(xml, "NextVersionIdMarker").unwrap_or_default())))
        .flatten();
    (versions, next)
}

fn s3_error(status: StatusCode, body: &[u8]) -> anyhow::Error {
    let text = String::from_utf8_lossy(body);
    let code = xml_text(&text, "Code").unwrap_or_default();
    let message = xml_text(&text, "Message").unwrap_or_default();
    anyhow!("HTTP {} {code} {message}", status.as_u16())
}

impl RemoteS3 {
    pub fn new(authority: &str, access_key: &str, secret_key: &str, region: &str) -> Self {
        Self { authority: authority.to_owned(), signer: Signer::new(access_key, secret_key, region) }
    }

    async fn call(
        &self,
        method: Method,
        bucket: &str,
        key: Option<&str>,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        body: Bytes,
    ) -> anyhow::Result<(StatusCode, http::HeaderMap, Bytes)> {
        let mut path = format!("/{}", sigv4::uri_encode(bucket, false));
        if let Some(k) = key {
            path.push('/');
            path.push_str(&sigv4::uri_encode(k, true));
        }
        let query = sigv4::canonical_query(query);
        let uri = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        let payload_hash = sigv4::sha256_hex(&body);
        let date = sigv4::amz_date_now();
        let mut signed: Vec<(&str, &str)> = vec![
            ("host", self.authority.as_str()),
            ("x-amz-content-sha256", payload_hash.as_str()),
            ("x-amz-date", date.as_str()),
        ];
        signed.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
        let authorization = self.signer.authorization(method.as_str(), &path, &query, &signed, &payload_hash, &date);
        let mut builder = Request::builder().method(method).uri(uri).header("authorization", authorization);
        for (k, v) in &signed {
            builder = builder.header(*k, *v);
        }
        let request = builder.header("content-length", body.len()).body(Full::new(body))?;
        let exchange = async {
            let stream = TcpStream::connect(&self.authority)
                .await
                .with_context(|| format!("cannot connect to the anchor endpoint {}", self.authority))?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let response = sender.send_request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            anyhow::Ok((parts.status, parts.headers, body))
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| anyhow!("the anchor endpoint {} did not answer within {CALL_TIMEOUT:?}", self.authority))?
    }

    /// Fails unless the bucket exists and has Object Lock enabled.
    pub async fn check_bucket(&self, bucket: &str) -> anyhow::Result<()> {
        let (status, _, body) = self.call(Method::GET, bucket, None, &[("object-lock", "")], &[], Bytes::new()).await?;
        if !status.is_success() {
            return Err(s3_error(status, &body))
                .with_context(|| format!("anchor bucket {bucket:?}: GetObjectLockConfiguration failed"));
        }
        if xml_text(&String::from_utf8_lossy(&body), "ObjectLockEnabled").as_deref() != Some("Enabled") {
            bail!("anchor bucket {bucket:?} does not have Object Lock enabled");
        }
        Ok(())
    }

    /// PUT under COMPLIANCE retention until `until` (ISO 8601); returns the version id.
    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>, until: &str) -> anyhow::Result<Option<String>> {
        use base64::Engine as _;
        use md5::Digest as _;
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
        let headers = [
            ("content-md5", md5),
            ("content-type", "application/json".to_owned()),
            ("x-amz-object-lock-mode", "COMPLIANCE".to_owned()),
            ("x-amz-object-lock-retain-until-date", until.to_owned()),
        ];
        let (status, head, resp) = self.call(Method::PUT, bucket, Some(key), &[], &headers, Bytes::from(body)).await?;
        if !status.is_success() {
            return Err(s3_error(status, &resp)).with_context(|| format!("PUT {bucket}/{key}"));
        }
        Ok(head.get("x-amz-version-id").and_then(|v| v.to_str().ok()).map(str::to_owned))
    }

    /// Every object version under `prefix`: (key, version id).
    pub async fn list(&self, bucket: &str, prefix: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut marker: Option<(String, String)> = None;
        for _ in 0..100_000 {
            let mut query = vec![("versions", ""), ("prefix", prefix)];
            if let Some((k, v)) = &marker {
                query.push(("key-marker", k));
                query.push(("version-id-marker", v));
            }
            let (status, _, body) = self.call(Method::GET, bucket, None, &query, &[], Bytes::new()).await?;
            if !status.is_success() {
                return Err(s3_error(status, &body)).with_context(|| format!("ListObjectVersions {bucket}/{prefix}"));
            }
            let (page, next) = parse_versions(&String::from_utf8_lossy(&body));
            out.extend(page);
            match next {
                Some(n) => marker = Some(n),
                None => return Ok(out),
            }
        }
        bail!("ListObjectVersions {bucket}/{prefix}: too many pages")
    }

    pub async fn get(&self, bucket: &str, key: &str, version: &str) -> anyhow::Result<Vec<u8>> {
        self.get_with(bucket, key, &[("versionId", version)]).await
    }

    pub async fn get_latest(&self, bucket: &str, key: &str) -> anyhow::Result<Vec<u8>> {
        self.get_with(bucket, key, &[]).await
    }

    async fn get_with(&self, bucket: &str, key: &str, query: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
        let (status, _, body) = self.call(Method::GET, bucket, Some(key), query, &[], Bytes::new()).await?;
        if !status.is_success() {
            return Err(s3_error(status, &body)).with_context(|| format!("GET {bucket}/{key}"));
        }
        Ok(body.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_listings() {
        assert_eq!(parse_endpoint("http://127.0.0.1:9000/").unwrap(), "127.0.0.1:9000");
        assert_eq!(parse_endpoint("http://anchors.example").unwrap(), "anchors.example:80");
        assert!(parse_endpoint("https://s3.amazonaws.com").is_err());
        assert!(parse_endpoint("http://h/path").is_err());
        let xml = "<ListVersionsResult><IsTruncated>true</IsTruncated><NextKeyMarker>p/a&amp;b</NextKeyMarker>\
                   <NextVersionIdMarker>v2</NextVersionIdMarker><Version><Key>p/1</Key><VersionId>v1</VersionId>\
                   </Version><DeleteMarker><Key>p/x</Key><VersionId>d</VersionId></DeleteMarker>\
                   <Version><Key>p/a&amp;b</Key><VersionId>v2</VersionId></Version></ListVersionsResult>";
        let (versions, next) = parse_versions(xml);
        assert_eq!(versions, vec![("p/1".into(), "v1".into()), ("p/a&b".into(), "v2".into())]);
        assert_eq!(next, Some(("p/a&b".into(), "v2".into())));
        let (_, next) = parse_versions("<IsTruncated>false</IsTruncated>");
        assert_eq!(next, None);
    }
}
