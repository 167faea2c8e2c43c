//! SigV4 verification (header form) for requests s3s does not route (the IAM query API,
//! which clients sign with service `iam`) and for the edge's re-signing of a header it
//! canonicalizes. Canonical request and string to sign as in
//! "Create a signed AWS API request" (AWS General Reference).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Clock skew SigV4 tolerates.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("the Authorization header is malformed")]
    Malformed,
    #[error("the request time is too far from the server's")]
    Skewed,
    #[error("the signature does not match")]
    Mismatch,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request, SignedHeaders=a;b, Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<Authorization, SigError> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256").ok_or(SigError::Malformed)?.trim();
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SigError::Malformed)?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => return Err(SigError::Malformed),
        }
    }
    let scope: Vec<&str> = credential.ok_or(SigError::Malformed)?.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else { return Err(SigError::Malformed) };
    Ok(Authorization {
        access_key: (*access_key).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers: signed.ok_or(SigError::Malformed)?.split(';').map(str::to_owned).collect(),
        signature: signature.ok_or(SigError::Malformed)?.to_owned(),
    })
}

/// The service named in an Authorization header's credential scope, if it has one.
pub fn service_of(value: &str) -> Option<String> {
    parse_authorization(value).ok().map(|a| a.service)
}

fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (uri_encode(&k), uri_encode(&v))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn parse_amz_date(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, fmt).ok().map(|t| t.assume_utc().unix_timestamp())
}

/// Verifies a header-signed request. `now` is Unix seconds.
#[allow(clippy::too_many_arguments)]
pub fn verify(
    method: &str,
    path: &str,
    query: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    auth: &Authorization,
    secret: &str,
    now: i64,
) -> Result<(), SigError> {
    let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok()).ok_or(SigError::Malformed)?;
    let when = parse_amz_date(amz_date).ok_or(SigError::Malformed)?;
    if (now - when).abs() > MAX_SKEW_SECS {
        return Err(SigError::Skewed);
    }
    let payload = hex::encode(Sha256::digest(body));
    let request = SignedRequest { method, path, query, headers, payload_hash: &payload };
    let expected = request.signature(auth, secret)?;
    if same_signature(&expected, &auth.signature) { Ok(()) } else { Err(SigError::Mismatch) }
}

/// What a header-signed request's signature covers (canonical URI as sent, query, headers,
/// payload hash), for computing the signature it should carry.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as the request line carries it (already URI-encoded).
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    /// The payload's hex SHA-256, or what `x-amz-content-sha256` says (`UNSIGNED-PAYLOAD`, ...).
    pub payload_hash: &'a str,
}

impl SignedRequest<'_> {
    /// The signature `auth`'s scope and signed headers give this request under `secret`.
    /// No clock check: the caller decides what time is acceptable.
    pub fn signature(&self, auth: &Authorization, secret: &str) -> Result<String, SigError> {
        let amz_date = self.headers.get("x-amz-date").and_then(|v| v.to_str().ok()).ok_or(SigError::Malformed)?;
        if !amz_date.starts_with(&auth.date) {
            return Err(SigError::Mismatch);
        }
        let mut canonical_headers = String::new();
        for name in &auth.signed_headers {
            let values: Vec<String> = self
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            if values.is_empty() {
                return Err(SigError::Mismatch);
            }
            canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
        }
        let canonical = format!(
            "{}\n{}\n{}\n{canonical_headers}\n{}\n{}",
            self.method,
            if self.path.is_empty() { "/" } else { self.path },
            canonical_query(self.query),
            auth.signed_headers.join(";"),
            self.payload_hash
        );
        let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
        let to_sign =
            format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
        let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
        for part in [auth.region.as_bytes(), auth.service.as_bytes(), b"aws4_request"] {
            key = hmac(&key, part);
        }
        Ok(hex::encode(hmac(&key, to_sign.as_bytes())))
    }
}

/// Whether two signatures are equal, compared in constant time.
pub fn same_signature(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of "Signature Version 4 test suite" style: IAM ListUsers as documented in
    /// the AWS General Reference ("Examples of the complete Signature Version 4 signing
    /// process"), with its published signature.
    #[test]
    fn aws_documented_example_verifies() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("content-type", "application/x-www-form-urlencoded; charset=utf-8".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        )
        .unwrap();
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        verify("GET", "/", "Action=ListUsers&Version=2010-05-08", &headers, b"", &auth, secret, now).unwrap();
        assert_eq!(
            verify("GET", "/", "Action=ListUsers&Version=2010-05-09", &headers, b"", &auth, secret, now),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            verify("GET", "/", "Action=ListUsers&Version=2010-05-08", &headers, b"", &auth, "other", now),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            verify("GET", "/", "Action=ListUsers&Version=2010-05-08", &headers, b"", &auth, secret, now + 3600),
            Err(SigError::Skewed)
        );
    }

    #[test]
    fn malformed_headers() {
        assert!(parse_authorization("AWS AKID:sig").is_err());
        assert!(parse_authorization("AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=x").is_err());
        assert_eq!(
            service_of(
                "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=ab"
            )
            .as_deref(),
            Some("iam")
        );
    }
}
