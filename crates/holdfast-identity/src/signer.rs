//! A small SigV4 signer for S3 requests Holdfast sends itself (header form, `UNSIGNED-PAYLOAD`
//! or a given payload hash), as in "Create a signed AWS API request" (AWS General
//! Reference): the load generator's, and the audit anchors' on a remote endpoint. The
//! signing key is derived once per day and cached; a request costs one SHA-256 of the
//! canonical request and one HMAC chain of two steps. (`sigv4` beside it verifies.)

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::sync::Mutex;

pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Percent-encodes a string as SigV4 wants (RFC 3986 unreserved characters kept); `/` is
/// kept when `keep_slash` (paths).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical query string of `pairs` (encoded and sorted); also usable as the request's
/// query string.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut enc: Vec<(String, String)> =
        pairs.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
    enc.sort();
    let mut out = String::new();
    for (i, (k, v)) in enc.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

pub struct Signer {
    access_key: String,
    secret_key: String,
    region: String,
    /// (yyyymmdd, signing key) of the last day used.
    day_key: Mutex<Option<(String, [u8; 32])>>,
}

/// What a signed request must carry besides its own headers.
pub struct Signature {
    pub authorization: String,
    pub amz_date: String,
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str, region: &str) -> Self {
        Self {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            region: region.to_owned(),
            day_key: Mutex::new(None),
        }
    }

    fn signing_key(&self, day: &str) -> [u8; 32] {
        let mut cached = self.day_key.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((d, k)) = cached.as_ref()
            && d == day
        {
            return *k;
        }
        let mut key = hmac(format!("AWS4{}", self.secret_key).as_bytes(), day.as_bytes());
        for part in [self.region.as_bytes(), b"s3", b"aws4_request"] {
            key = hmac(&key, part);
        }
        *cached = Some((day.to_owned(), key));
        key
    }

    /// Signs a request. `path` is already encoded, `query` canonical; `headers` are the
    /// headers to sign besides host, x-amz-content-sha256 and x-amz-date, lower-case names.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        &self,
        method: &str,
        host: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
        amz_date: &str,
    ) -> Signature {
        let day = &amz_date[..8];
        let mut all: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 3);
        all.push(("host", host));
        all.push(("x-amz-content-sha256", payload_hash));
        all.push(("x-amz-date", amz_date));
        all.extend_from_slice(headers);
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut canonical = String::with_capacity(256);
        canonical.push_str(method);
        canonical.push('\n');
        canonical.push_str(path);
        canonical.push('\n');
        canonical.push_str(query);
        canonical.push('\n');
        for (k, v) in &all {
            canonical.push_str(k);
            canonical.push(':');
            canonical.push_str(v.trim());
            canonical.push('\n');
        }
        canonical.push('\n');
        let signed: Vec<&str> = all.iter().map(|(k, _)| *k).collect();
        let signed = signed.join(";");
        canonical.push_str(&signed);
        canonical.push('\n');
        canonical.push_str(payload_hash);
        let scope = format!("{day}/{}/s3/aws4_request", self.region);
        let to_sign =
            format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex::encode(Sha256::digest(canonical.as_bytes())));
        let signature = hex::encode(hmac(&self.signing_key(day), to_sign.as_bytes()));
        Signature {
            authorization: format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
                self.access_key
            ),
            amz_date: amz_date.to_owned(),
        }
    }
}

/// The SHA-256 of a payload, as `x-amz-content-sha256` carries it.
pub fn payload_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// `YYYYMMDDTHHMMSSZ` for now.
pub fn amz_date_now() -> String {
    amz_date(time::OffsetDateTime::now_utc().unix_timestamp())
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time in seconds.
pub fn amz_date(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GET Object example of the S3 SigV4 documentation ("Examples: Signature
    /// Calculations in AWS Signature Version 4"), with its published signature.
    #[test]
    fn aws_documented_get_object_example() {
        let s = Signer::new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1");
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let sig = s.sign(
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            "",
            &[("range", "bytes=0-9")],
            empty,
            "20130524T000000Z",
        );
        assert_eq!(
            sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn query_is_sorted_and_encoded() {
        assert_eq!(canonical_query(&[("prefix", "a b"), ("list-type", "2")]), "list-type=2&prefix=a%20b");
        assert_eq!(uri_encode("/b/k ey", true), "/b/k%20ey");
        assert_eq!(amz_date(0), "19700101T000000Z");
    }
}
