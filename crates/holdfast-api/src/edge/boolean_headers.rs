//! Boolean headers in any letter case. Amazon S3 reads `x-amz-bypass-governance-retention`
//! and `x-amz-bucket-object-lock-enabled` case-insensitively (`TRUE` bypasses); s3s 0.14
//! parses only `true`/`True`/`false`/`False` and refuses the rest after the signature check,
//! where no hook can reach the headers. So the edge writes such a value in lower case before
//! s3s sees it. When the header is signed, the rewrite would break the signature: the edge
//! first checks the client's signature itself, and only when it matches replaces it with the
//! signature of the rewritten request under the same key and scope. A request whose
//! signature the edge cannot reproduce is left as it came (s3s then refuses the value).

use holdfast_identity::sigv4::{self, Authorization, SignedRequest};
use http::{HeaderMap, HeaderName, HeaderValue, request::Parts};

/// The headers Amazon S3 reads as case-insensitive booleans and s3s parses strictly (names,
/// not `&str`: every request is looked at, and a lookup by `&str` parses the name first).
static BOOLEAN_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("x-amz-bypass-governance-retention"),
    HeaderName::from_static("x-amz-bucket-object-lock-enabled"),
];

/// The headers of this request that need rewriting, with their lower-case value.
fn to_rewrite(headers: &HeaderMap) -> Vec<(&'static str, &'static str)> {
    BOOLEAN_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(name)?.to_str().ok()?.trim();
            let lower = if value.eq_ignore_ascii_case("true") {
                "true"
            } else if value.eq_ignore_ascii_case("false") {
                "false"
            } else {
                return None;
            };
            (!matches!(value, "true" | "True" | "false" | "False")).then_some((name.as_str(), lower))
        })
        .collect()
}

/// Whether the edge has anything to do for this request (cheap; no key lookup).
pub fn needs_rewrite(headers: &HeaderMap) -> bool {
    !to_rewrite(headers).is_empty()
}

/// Rewrites the boolean headers in lower case. `secret` is the secret of the request's access
/// key, when it has one. Returns false when the request was left unchanged because its
/// signature could not be reproduced.
pub fn rewrite(parts: &mut Parts, secret: Option<&str>) -> bool {
    let rewrites = to_rewrite(&parts.headers);
    if rewrites.is_empty() {
        return true;
    }
    let auth = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| sigv4::parse_authorization(v).ok());
    let signs_one =
        auth.as_ref().is_some_and(|a| rewrites.iter().any(|(n, _)| a.signed_headers.iter().any(|s| s == n)));
    if !signs_one {
        // Unsigned headers (or a presigned or anonymous request) can be rewritten as they are.
        set(&mut parts.headers, &rewrites);
        return true;
    }
    let (Some(auth), Some(secret)) = (auth, secret) else { return false };
    let Some(client) = signature(parts, &auth, secret) else { return false };
    if !sigv4::same_signature(&client, &auth.signature) {
        return false;
    }
    set(&mut parts.headers, &rewrites);
    let Some(ours) = signature(parts, &auth, secret) else { return false };
    let header = format!(
        "AWS4-HMAC-SHA256 Credential={}/{}/{}/{}/aws4_request, SignedHeaders={}, Signature={ours}",
        auth.access_key,
        auth.date,
        auth.region,
        auth.service,
        auth.signed_headers.join(";")
    );
    match HeaderValue::from_str(&header) {
        Ok(v) => {
            parts.headers.insert(http::header::AUTHORIZATION, v);
            true
        }
        Err(_) => false,
    }
}

fn set(headers: &mut HeaderMap, rewrites: &[(&'static str, &'static str)]) {
    for (name, value) in rewrites {
        headers.insert(*name, HeaderValue::from_static(value));
    }
}

/// The signature of the request as it stands, with the payload hash the client declared.
fn signature(parts: &Parts, auth: &Authorization, secret: &str) -> Option<String> {
    let payload_hash = parts.headers.get("x-amz-content-sha256")?.to_str().ok()?;
    let request = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        payload_hash,
    };
    request.signature(auth, secret).ok()
}

/// The access key of a header-signed request.
pub fn access_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    sigv4::parse_authorization(value).ok().map(|a| a.access_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_identity::signer::Signer;

    fn signed(bypass: &str, sign_it: bool) -> Parts {
        let signer = Signer::new("AK", "SECRET", "us-east-1");
        let date = "20261206T120000Z";
        let hash = "UNSIGNED-PAYLOAD";
        let signed_headers: Vec<(&str, &str)> =
            if sign_it { vec![("x-amz-bypass-governance-retention", bypass)] } else { vec![] };
        let sig = signer.sign("DELETE", "h", "/b/k", "versionId=v1", &signed_headers, hash, date);
        let req = http::Request::builder()
            .method("DELETE")
            .uri("/b/k?versionId=v1")
            .header("host", "h")
            .header("x-amz-content-sha256", hash)
            .header("x-amz-date", date)
            .header("x-amz-bypass-governance-retention", bypass)
            .header("authorization", sig.authorization)
            .body(())
            .unwrap();
        req.into_parts().0
    }

    fn verifies(parts: &Parts, secret: &str) -> bool {
        let auth = sigv4::parse_authorization(parts.headers.get("authorization").unwrap().to_str().unwrap()).unwrap();
        signature(parts, &auth, secret).is_some_and(|s| s == auth.signature)
    }

    #[test]
    fn values_s3s_parses_are_left_alone() {
        for v in ["true", "True", "false", "False", "yes", ""] {
            assert!(!needs_rewrite(&signed(v, true).headers), "{v}");
        }
        for v in ["TRUE", "tRuE", "FALSE", " TRUE "] {
            assert!(needs_rewrite(&signed(v, true).headers), "{v}");
        }
    }

    #[test]
    fn a_signed_upper_case_value_is_rewritten_and_re_signed() {
        let mut parts = signed("TRUE", true);
        assert!(verifies(&parts, "SECRET"));
        assert!(rewrite(&mut parts, Some("SECRET")));
        assert_eq!(parts.headers["x-amz-bypass-governance-retention"], "true");
        assert!(verifies(&parts, "SECRET"), "the new signature is the rewritten request's");
    }

    #[test]
    fn a_wrong_signature_is_left_for_s3s_to_refuse() {
        let mut parts = signed("TRUE", true);
        let before = parts.headers.clone();
        assert!(!rewrite(&mut parts, Some("OTHER")));
        assert_eq!(parts.headers, before);
        assert!(!rewrite(&mut parts, None));
        assert_eq!(parts.headers, before);
    }

    #[test]
    fn an_unsigned_header_is_rewritten_without_touching_the_signature() {
        let mut parts = signed("FALSE", false);
        let auth = parts.headers["authorization"].clone();
        assert!(rewrite(&mut parts, None));
        assert_eq!(parts.headers["x-amz-bypass-governance-retention"], "false");
        assert_eq!(parts.headers["authorization"], auth);
    }
}
