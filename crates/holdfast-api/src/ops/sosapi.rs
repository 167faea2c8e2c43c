//! Veeam's Smart Object Storage API (SOSAPI, protocol 1.0): two read-only objects the
//! server itself answers under `<bucket>/.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/` of
//! a bucket that has it on — `system.xml` (what the store can do) and `capacity.xml` (how
//! full the repository is). They are generated at each request, never stored: no version,
//! no lock, no delete; every write under the prefix is refused (403 AccessDenied).
//!
//! Layout: Veeam's SOSAPI document as vendors publish it (Scality's and MinIO's
//! implementations): `ProtocolVersion` and `ModelName` in quotes, the capabilities Holdfast
//! truthfully has (CapacityInfo only), `SystemRecommendations` only when configured.

use crate::Gateway;
use crate::convert::{etag, ts};
use holdfast_lock::UtcMillis;
use md5::Digest as _;
use s3s::dto::*;
use s3s::{S3Error, S3Result, s3_error};
use std::collections::HashMap;
use std::sync::Mutex;

/// The prefix Veeam reads; it sorts before letters and digits.
pub const SYSTEM_PREFIX: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/";
pub const SYSTEM_XML: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml";
pub const CAPACITY_XML: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/capacity.xml";

pub fn is_system_key(key: &str) -> bool {
    key.starts_with(SYSTEM_PREFIX)
}

/// `[sosapi]` of the server configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SosapiConfig {
    /// On for every bucket without a setting of its own (`holdfast admin sosapi`).
    pub enabled: bool,
    /// `ModelName`, shown in quotes as the protocol's examples do.
    pub model_name: String,
    /// `SystemRecommendations`; the section is left out when none is set (Veeam's default).
    pub s3_concurrent_task_limit: Option<u64>,
    pub s3_multi_object_delete_limit: Option<u64>,
    pub storage_current_tasks_limit: Option<u64>,
    pub kb_block_size: Option<u64>,
}

/// `system.xml`, byte for byte.
pub fn system_xml(c: &SosapiConfig) -> String {
    let model = quick_xml::escape::escape(c.model_name.as_str());
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SystemInfo>\n  <ProtocolVersion>\"1.0\"</ProtocolVersion>\n  \
         <ModelName>\"{model}\"</ModelName>\n  <ProtocolCapabilities>\n    <CapacityInfo>true</CapacityInfo>\n    \
         <UploadSessions>false</UploadSessions>\n    <IAMSTS>false</IAMSTS>\n  </ProtocolCapabilities>\n"
    );
    let recommendations = [
        ("S3ConcurrentTaskLimit", c.s3_concurrent_task_limit),
        ("S3MultiObjectDeleteLimit", c.s3_multi_object_delete_limit),
        ("StorageCurrentTasksLimit", c.storage_current_tasks_limit),
        ("KbBlockSize", c.kb_block_size),
    ];
    if recommendations.iter().any(|(_, v)| v.is_some()) {
        xml.push_str("  <SystemRecommendations>\n");
        for (name, v) in recommendations {
            if let Some(v) = v {
                xml.push_str(&format!("    <{name}>{v}</{name}>\n"));
            }
        }
        xml.push_str("  </SystemRecommendations>\n");
    }
    xml.push_str("</SystemInfo>\n");
    xml
}

/// `capacity.xml`, byte for byte.
pub fn capacity_xml(c: &holdfast_engine::capacity::Capacity) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CapacityInfo>\n  <Capacity>{}</Capacity>\n  \
         <Available>{}</Available>\n  <Used>{}</Used>\n</CapacityInfo>\n",
        c.capacity, c.available, c.used
    )
}

/// One generated object.
pub struct SystemObject {
    pub key: &'static str,
    pub body: bytes::Bytes,
    /// MD5 of the body, hex.
    pub etag: String,
    pub last_modified: UtcMillis,
}

/// When each generated body was first served: an unchanged body keeps its Last-Modified,
/// so HEAD, GET and listings agree until the content changes. One entry per (bucket,
/// object); entries of deleted buckets go when the map is past `MAX_STAMPS`.
#[derive(Default)]
pub struct Stamps(Mutex<HashMap<StampKey, (String, UtcMillis)>>);

/// A bucket and one of its generated objects.
type StampKey = (String, &'static str);

const MAX_STAMPS: usize = 100_000;

impl Stamps {
    fn stamp(&self, bucket: &str, key: &'static str, etag: &str) -> UtcMillis {
        // Whole seconds: what an HTTP date can carry.
        let now = UtcMillis(UtcMillis::now_system().millis() / 1000 * 1000);
        let Ok(mut map) = self.0.lock() else { return now };
        if map.len() >= MAX_STAMPS {
            map.clear();
        }
        let entry = map.entry((bucket.to_owned(), key)).or_insert_with(|| (etag.to_owned(), now));
        if entry.0 != etag {
            *entry = (etag.to_owned(), now);
        }
        entry.1
    }
}

fn refused() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

impl Gateway {
    /// Whether `bucket` (which exists) serves the SOSAPI objects.
    pub(crate) async fn sosapi_enabled(&self, bucket: &str) -> S3Result<bool> {
        let own = self.engine.sosapi_setting(bucket).await.map_err(crate::error::engine_error)?;
        Ok(own.unwrap_or(self.config.sosapi.enabled))
    }

    /// The generated object at `key`, when the bucket has SOSAPI on and `key` names one.
    pub(crate) async fn system_object(&self, bucket: &str, key: &str) -> S3Result<Option<SystemObject>> {
        let name = match key {
            SYSTEM_XML => SYSTEM_XML,
            CAPACITY_XML => CAPACITY_XML,
            _ => return Ok(None),
        };
        self.bucket(bucket).await?;
        if !self.sosapi_enabled(bucket).await? {
            return Ok(None);
        }
        self.generate(bucket, name).await.map(Some)
    }

    async fn generate(&self, bucket: &str, name: &'static str) -> S3Result<SystemObject> {
        let body = if name == SYSTEM_XML {
            system_xml(&self.config.sosapi)
        } else {
            capacity_xml(&self.engine.capacity(bucket).await.map_err(crate::error::engine_error)?)
        };
        let etag = hex::encode(md5::Md5::digest(body.as_bytes()));
        let last_modified = self.sosapi_stamps.stamp(bucket, name, &etag);
        Ok(SystemObject { key: name, body: bytes::Bytes::from(body), etag, last_modified })
    }

    /// Both generated objects of a bucket (which exists) with SOSAPI on, in key order (none
    /// otherwise).
    pub(crate) async fn system_objects(&self, bucket: &str) -> S3Result<Vec<SystemObject>> {
        if !self.sosapi_enabled(bucket).await? {
            return Ok(Vec::new());
        }
        Ok(vec![self.generate(bucket, CAPACITY_XML).await?, self.generate(bucket, SYSTEM_XML).await?])
    }

    /// Any change under the system prefix of a bucket with SOSAPI on: 403 AccessDenied, as
    /// for a write a policy denies (the objects belong to the server; a client that retries
    /// a 403 is not expected to succeed).
    pub(crate) async fn refuse_system_write(&self, bucket: &str, key: &str) -> S3Result<()> {
        if is_system_key(key) && self.bucket(bucket).await.is_ok() && self.sosapi_enabled(bucket).await? {
            return Err(refused());
        }
        Ok(())
    }

    pub(crate) fn system_refusal() -> S3Error {
        refused()
    }

    /// GetObject of a generated object (the whole body; a Range is not applied).
    pub(crate) fn system_get(o: SystemObject, version_id: Option<&str>) -> S3Result<GetObjectOutput> {
        check_version(version_id)?;
        Ok(GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: i64::try_from(o.body.len()).ok(),
            content_type: Some("application/xml".parse().map_err(|_| s3_error!(InternalError))?),
            e_tag: Some(etag(&o.etag)),
            last_modified: Some(ts(o.last_modified)),
            body: Some(StreamingBlob::from(s3s::Body::from(o.body))),
            ..Default::default()
        })
    }

    pub(crate) fn system_head(o: &SystemObject, version_id: Option<&str>) -> S3Result<HeadObjectOutput> {
        check_version(version_id)?;
        Ok(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: i64::try_from(o.body.len()).ok(),
            content_type: Some("application/xml".parse().map_err(|_| s3_error!(InternalError))?),
            e_tag: Some(etag(&o.etag)),
            last_modified: Some(ts(o.last_modified)),
            ..Default::default()
        })
    }
}

/// The generated objects have one version, `null`.
fn check_version(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(_) => Err(s3_error!(NoSuchVersion, "The specified version does not exist.")),
    }
}

/// A ListObjects(V2) entry: a key's object, or a common prefix.
pub(crate) enum Entry<'a> {
    Object(&'a holdfast_engine::model::VersionRecord),
    System(&'a SystemObject),
    Prefix(String),
}

impl Entry<'_> {
    fn name(&self) -> &str {
        match self {
            Entry::Object(v) => &v.key,
            Entry::System(o) => o.key,
            Entry::Prefix(p) => p,
        }
    }
}

/// The listing page with the generated objects merged in as S3 would list them: under
/// `prefix`, after `after`, rolled up under `delimiter`, within `max` entries. A page the
/// store truncated only takes generated keys up to its last entry (later ones come on the
/// page that continues from there). Returns the entries, whether truncated, and the marker
/// to continue from.
pub(crate) fn merge<'a>(
    page: &'a holdfast_engine::model::ListPage,
    system: &'a [SystemObject],
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<&str>,
    max: usize,
) -> (Vec<Entry<'a>>, bool, Option<String>) {
    let mut entries: Vec<Entry<'a>> = page.versions.iter().map(Entry::Object).collect();
    entries.extend(page.common_prefixes.iter().cloned().map(Entry::Prefix));
    let limit = if page.truncated { page.next_marker.as_deref() } else { None };
    for o in system {
        if !o.key.starts_with(prefix) || after.is_some_and(|a| o.key <= a) {
            continue;
        }
        let entry = match delimiter.and_then(|d| o.key[prefix.len()..].find(d).map(|i| (i, d.len()))) {
            Some((i, n)) => Entry::Prefix(o.key[..prefix.len() + i + n].to_owned()),
            None => Entry::System(o),
        };
        if after.is_some_and(|a| entry.name() <= a) || limit.is_some_and(|l| entry.name() > l) {
            continue;
        }
        match entry {
            // A prefix is listed once.
            Entry::Prefix(ref p) if entries.iter().any(|e| matches!(e, Entry::Prefix(q) if q == p)) => {}
            // A stored object at a generated key is hidden by it.
            Entry::System(o) => {
                entries.retain(|e| !matches!(e, Entry::Object(v) if v.key == o.key));
                entries.push(entry);
            }
            _ => entries.push(entry),
        }
    }
    entries.sort_by(|a, b| a.name().cmp(b.name()));
    let mut truncated = page.truncated;
    if entries.len() > max {
        entries.truncate(max);
        truncated = true;
    }
    let next = if truncated { entries.last().map(|e| e.name().to_owned()).or(page.next_marker.clone()) } else { None };
    (entries, truncated, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_xml_has_only_configured_recommendations() {
        let mut c = SosapiConfig { enabled: true, model_name: "Holdfast <1.0>".into(), ..Default::default() };
        let xml = system_xml(&c);
        assert!(xml.contains("<ModelName>\"Holdfast &lt;1.0&gt;\"</ModelName>"), "{xml}");
        assert!(!xml.contains("SystemRecommendations"), "{xml}");
        c.kb_block_size = Some(4096);
        let xml = system_xml(&c);
        assert!(
            xml.contains(
                "  <SystemRecommendations>\n    <KbBlockSize>4096</KbBlockSize>\n  </SystemRecommendations>\n"
            )
        );
    }
}
