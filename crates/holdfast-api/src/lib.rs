//! The S3 face. The only crate that knows s3s: the HTTP edge in front of it ([`edge`],
//! the ready service the binary serves), and `impl S3`, which turns typed s3s inputs into
//! engine calls and engine errors into S3 errors (in `error`, and nowhere else).

mod access;
mod audit;
mod auth;
mod convert;
mod dates;
pub mod edge;
mod error;
#[doc(hidden)]
pub mod in_process;
mod ops;
mod prerendered;
mod s3_impl;
mod strict_xml;
mod tags;

pub use ops::sosapi::{CAPACITY_XML, SYSTEM_PREFIX, SYSTEM_XML, SosapiConfig};
pub(crate) use ops::{MAX_XML_BODY, XmlBody, keeps_xml_body, reads_body_whole};

/// The log targets the server turns off unless `HOLDFAST_LOG` sets the filter: s3s's own
/// logging (the edge logs each request itself).
pub const QUIET_LOG_TARGETS: &str = "s3s=off";

/// The parsers the fuzz targets drive (fuzz/), as the operations and the edge call them; not
/// an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::access::copy_source;
    pub use crate::edge::guards;
    pub use crate::ops::lock::{default_retention, legal_hold_request, retention_request};
    pub use crate::ops::objects::{byte_range, byte_range_header, check_delete};
    pub use crate::strict_xml::{schema, validate};
    pub use crate::tags::tags_from_header;
}

use holdfast_engine::Engine;
use holdfast_engine::model::Bucket;
use s3s::S3Result;
use std::sync::Arc;

/// Settings of the S3 edge.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub region: String,
    /// Base domain for virtual-hosted-style requests (`bucket.<domain>`).
    pub base_domain: Option<String>,
    /// AWS-exact behaviour where AWS and ceph/s3-tests disagree (spec §12 DP1, DP2).
    pub aws_strict: bool,
    /// ARNs of the event targets declared in the server configuration; a notification
    /// configuration naming any other is refused.
    pub event_targets: std::collections::BTreeSet<String>,
    /// Ids of the remote replication targets declared in the server configuration
    /// (`[replication.target.<id>]`); a replication rule naming any other is refused.
    pub replication_targets: std::collections::BTreeSet<String>,
    /// Veeam's Smart Object Storage API (`[sosapi]`).
    pub sosapi: SosapiConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            base_domain: None,
            aws_strict: false,
            event_targets: Default::default(),
            replication_targets: Default::default(),
            sosapi: SosapiConfig::default(),
        }
    }
}

pub struct Gateway {
    engine: Arc<Engine>,
    dir: Arc<holdfast_identity::Directory>,
    config: ApiConfig,
    sosapi_stamps: ops::sosapi::Stamps,
}

impl Gateway {
    pub fn new(engine: Arc<Engine>, dir: Arc<holdfast_identity::Directory>, config: ApiConfig) -> Self {
        Self { engine, dir, config, sosapi_stamps: ops::sosapi::Stamps::default() }
    }

    async fn bucket(&self, name: &str) -> S3Result<Bucket> {
        match self.engine.bucket(name).await {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(error::with_resource(
                error::meta_error(holdfast_engine::model::MetaError::NoSuchBucket),
                name,
                None,
            )),
            Err(e) => Err(error::engine_error(e)),
        }
    }

    /// Maps an engine error, following `aws_strict` where AWS and ceph/s3-tests disagree.
    fn engine_err(&self, e: holdfast_engine::EngineError) -> s3s::S3Error {
        error::engine_error_in(e, self.config.aws_strict)
    }

    /// The owner listings and uploads name: the account that owns `bucket` (they
    /// named the installation's root account whoever owned the bucket).
    async fn owner_of(&self, bucket: &str) -> S3Result<s3s::dto::Owner> {
        let account = self.bucket_account(bucket).await?;
        Ok(s3s::dto::Owner {
            display_name: Some("holdfast".into()),
            id: Some(self.dir.canonical_id(&account).to_owned()),
        })
    }
}

/// Builds the s3s service: authentication, access checks, virtual hosts, limits.
pub(crate) fn service(gateway: Gateway) -> prerendered::S3 {
    let base_domain = gateway.config.base_domain.clone();
    let dir = Arc::clone(&gateway.dir);
    let engine = Arc::clone(&gateway.engine);
    let aws_strict = gateway.config.aws_strict;
    let mut builder = s3s::service::S3ServiceBuilder::new(gateway);
    builder.set_auth(auth::KeyStore::new(Arc::clone(&dir)));
    let mut limits = s3s::config::S3Config::default();
    limits.xml_max_body_size = usize::try_from(MAX_XML_BODY).unwrap_or(usize::MAX);
    builder.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(limits))));
    let authorizer = Arc::new(access::Authorizer::new(dir).with_object_tags(Arc::clone(&engine)));
    engine.set_replica_gate(Arc::new(ops::replication::PolicyGate(Arc::clone(&authorizer))));
    engine.set_report_gate(Arc::new(ops::inventory::ServiceGate(Arc::clone(&authorizer))));
    engine.set_lock_job_gate(Arc::new(ops::lock_jobs::JobGate {
        authz: Arc::clone(&authorizer),
        engine: Arc::clone(&engine),
        aws_strict,
    }));
    builder.set_access(auth::Access::new(authorizer));
    if let Some(domain) = base_domain {
        builder.set_host(BaseDomainHost { domain: domain.to_ascii_lowercase() });
    }
    prerendered::S3::new(builder.build())
}

/// Virtual-hosted-style addressing under one base domain; any other host is path-style.
struct BaseDomainHost {
    domain: String,
}

impl s3s::host::S3Host for BaseDomainHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<s3s::host::VirtualHost<'a>> {
        let name =
            host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
        let vh = s3s::host::VirtualHost::new(self.domain.as_str());
        match name.to_ascii_lowercase().strip_suffix(self.domain.as_str()).and_then(|b| b.strip_suffix('.')) {
            Some(bucket) if !bucket.is_empty() => Ok(vh.with_bucket(bucket.to_owned())),
            _ => Ok(vh),
        }
    }
}
