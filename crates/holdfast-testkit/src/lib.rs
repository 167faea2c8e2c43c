//! Test support: start the real `holdfast` binary on a free loopback port, talk to it with
//! the official AWS SDK for Rust, or with raw (optionally SigV4-signed) HTTP requests for
//! the malformed input no SDK will send.

mod postgres;
mod raw;
mod server;
mod tmpfs;

pub use postgres::{META_ENV, Postgres, meta_is_postgres};
pub use raw::{Chunked, RawResponse, aws_chunked_request, raw_http, signed_request};
pub use server::{ROOT_AK, ROOT_SK, Server, ServerOptions, free_port};
pub use tmpfs::Tmpfs;

pub use aws_sdk_iam;
pub use aws_sdk_s3;

/// An SDK client for `endpoint` with the given keys: path-style, us-east-1, no retries.
pub fn s3_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    s3_client_with(endpoint, access_key, secret_key, aws_smithy_http_client::Builder::new().build_http(), true)
}

/// An SDK client for an HTTPS `endpoint` that trusts only `ca_pem` (rustls, ring).
pub fn s3_client_tls(endpoint: &str, access_key: &str, secret_key: &str, ca_pem: &[u8]) -> aws_sdk_s3::Client {
    s3_client_with(endpoint, access_key, secret_key, https_client(ca_pem, None), true)
}

/// An HTTP client for HTTPS that trusts only `ca_pem`; with `resolve_to`, every host name
/// resolves to that address.
pub fn https_client(
    ca_pem: &[u8],
    resolve_to: Option<std::net::IpAddr>,
) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty().with_native_roots(false).with_pem_certificate(ca_pem.to_vec());
    let builder = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(tls::TlsContext::builder().with_trust_store(trust).build().expect("TLS context"));
    match resolve_to {
        Some(addr) => builder.build_with_resolver(FixedResolver(addr)),
        None => builder.build_https(),
    }
}

/// An SDK client for an HTTPS endpoint whose host names all resolve to `addr` (for
/// virtual-hosted-style requests: `<bucket>.<domain>` needs no DNS entry).
pub fn s3_client_tls_vhost(
    endpoint: &str,
    addr: std::net::IpAddr,
    access_key: &str,
    secret_key: &str,
    ca_pem: &[u8],
) -> aws_sdk_s3::Client {
    let http = https_client(ca_pem, Some(addr));
    s3_client_with(endpoint, access_key, secret_key, http, false)
}

/// Resolves every host name to one address.
#[derive(Debug, Clone)]
struct FixedResolver(std::net::IpAddr);

impl aws_smithy_runtime_api::client::dns::ResolveDns for FixedResolver {
    fn resolve_dns<'a>(&'a self, _name: &'a str) -> aws_smithy_runtime_api::client::dns::DnsFuture<'a> {
        aws_smithy_runtime_api::client::dns::DnsFuture::ready(Ok(vec![self.0]))
    }
}

fn s3_client_with(
    endpoint: &str,
    access_key: &str,
    secret_key: &str,
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
    path_style: bool,
) -> aws_sdk_s3::Client {
    let creds = aws_credential_types::Credentials::new(access_key, secret_key, None, None, "holdfast-testkit");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .force_path_style(path_style)
        .http_client(http)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .timeout_config(
            aws_sdk_s3::config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(std::time::Duration::from_secs(120))
                .build(),
        )
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// An IAM client for the same endpoint (the IAM query API is served there too).
pub fn iam_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_iam::Client {
    let creds = aws_credential_types::Credentials::new(access_key, secret_key, None, None, "holdfast-testkit");
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

/// The S3 error code and HTTP status of an SDK error.
pub fn error_code<E>(
    err: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> (Option<String>, Option<u16>)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    (err.code().map(str::to_owned), err.raw_response().map(|r| r.status().as_u16()))
}

/// Unique lowercase name for a test bucket.
pub fn bucket_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{}-{}-{n}", tag.to_ascii_lowercase().replace('_', "-"), std::process::id())
}

/// Turns versioning on for `bucket` (PutBucketVersioning Enabled), panicking on any error.
pub async fn enable_versioning(s3: &aws_sdk_s3::Client, bucket: &str) {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    s3.put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .expect("PutBucketVersioning Enabled");
}
