//! ListObjects, ListObjectsV2 and ListObjectVersions.

use super::list_xml::V2Page;
use crate::Gateway;
use crate::convert::{etag, ts, url_encode};
use crate::error::{engine_error, invalid_argument, with_resource};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use holdfast_engine::model::{ListPage, ListQuery, VersionRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

const MAX_KEYS: i32 = 1000;

fn max_keys(v: Option<i32>) -> S3Result<usize> {
    match v {
        None => Ok(MAX_KEYS as usize),
        Some(n) if n < 0 => Err(invalid_argument(
            "Argument maxKeys must be an integer between 0 and 2147483647",
            "maxKeys",
            Some(&n.to_string()),
        )),
        Some(n) => Ok(usize::try_from(n.min(MAX_KEYS)).unwrap_or(0)),
    }
}

fn url_encoding(e: Option<&EncodingType>) -> S3Result<bool> {
    match e.map(EncodingType::as_str) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(v) => Err(invalid_argument("Invalid Encoding Method specified in Request", "encoding-type", Some(v))),
    }
}

/// Renders a key, prefix or marker for output, percent-encoded under `encoding-type=url`.
pub(crate) struct Enc(pub(crate) bool);

impl Enc {
    fn s(&self, v: &str) -> String {
        if self.0 { url_encode(v) } else { v.to_owned() }
    }
    fn o(&self, v: Option<&String>) -> Option<String> {
        v.map(|v| self.s(v))
    }
}

fn object_entry(v: &VersionRecord, enc: &Enc, owner: Option<Owner>) -> Object {
    let obj = v.object_data();
    Object {
        e_tag: Some(etag(&obj.etag)),
        key: Some(enc.s(&v.key)),
        last_modified: Some(ts(v.last_modified)),
        size: i64::try_from(obj.size).ok(),
        storage_class: Some(ObjectStorageClass::from(
            obj.headers.storage_class.clone().unwrap_or_else(|| "STANDARD".into()),
        )),
        owner,
        checksum_algorithm: obj.checksum.as_ref().map(|c| vec![crate::convert::algorithm_dto(c.algorithm)]),
        checksum_type: obj.checksum.as_ref().map(crate::convert::checksum_type),
        restore_status: None,
    }
}

fn prefixes(page: &ListPage, enc: &Enc) -> Option<Vec<CommonPrefix>> {
    (!page.common_prefixes.is_empty())
        .then(|| page.common_prefixes.iter().map(|p| CommonPrefix { prefix: Some(enc.s(p)) }).collect())
}

/// [`object_entry`] taking the record: its key and ETag move into the entry (a page of
/// 1,000 makes no copy of either).
fn owned_entry(v: VersionRecord, enc: &Enc, owner: Option<Owner>) -> Object {
    let Some(obj) = v.object else { return object_entry(&v, enc, owner) };
    let storage_class = match obj.headers.storage_class {
        Some(c) => ObjectStorageClass::from(c),
        None => ObjectStorageClass::from_static(ObjectStorageClass::STANDARD),
    };
    Object {
        checksum_algorithm: obj.checksum.as_ref().map(|c| vec![crate::convert::algorithm_dto(c.algorithm)]),
        checksum_type: obj.checksum.as_ref().map(crate::convert::checksum_type),
        e_tag: Some(ETag::Strong(obj.etag)),
        key: Some(if enc.0 { url_encode(&v.key) } else { v.key }),
        last_modified: Some(ts(v.last_modified)),
        size: i64::try_from(obj.size).ok(),
        storage_class: Some(storage_class),
        owner,
        restore_status: None,
    }
}

/// A generated SOSAPI object as a listing entry: the ETag, size and Last-Modified its GET
/// and HEAD answer.
fn system_entry(o: &super::sosapi::SystemObject, enc: &Enc, owner: Option<Owner>) -> Object {
    Object {
        e_tag: Some(etag(&o.etag)),
        key: Some(enc.s(o.key)),
        last_modified: Some(ts(o.last_modified)),
        size: i64::try_from(o.body.len()).ok(),
        storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
        owner,
        checksum_algorithm: None,
        checksum_type: None,
        restore_status: None,
    }
}

/// The page as listed, with the generated SOSAPI objects merged in where the bucket has
/// them (ListObjects and ListObjectsV2; ListObjectVersions lists stored versions only).
pub(crate) struct Listed {
    contents: Vec<Object>,
    prefixes: Option<Vec<CommonPrefix>>,
    truncated: bool,
    next_marker: Option<String>,
}

/// A page without SOSAPI objects as listed.
pub(crate) fn plain_listed(page: ListPage, enc: &Enc, owner: Option<Owner>) -> Listed {
    let prefixes = prefixes(&page, enc);
    Listed {
        contents: page.versions.into_iter().map(|v| owned_entry(v, enc, owner.clone())).collect(),
        prefixes,
        truncated: page.truncated,
        next_marker: page.next_marker,
    }
}

/// The ListObjectsV2 continuation token that resumes after `marker` (a page's next marker).
pub(crate) fn continuation_token(marker: &str) -> String {
    URL_SAFE_NO_PAD.encode(marker.as_bytes())
}

/// The ListObjectsV2 output of `listed` (the answer when the bucket's SOSAPI objects are
/// merged in; otherwise `list_xml` writes the same bytes directly).
pub(crate) fn v2_output(input: ListObjectsV2Input, max: usize, enc: &Enc, listed: Listed) -> ListObjectsV2Output {
    let key_count = listed.contents.len() + listed.prefixes.as_ref().map_or(0, Vec::len);
    ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(enc.s(input.prefix.as_deref().unwrap_or_default())),
        max_keys: i32::try_from(max).ok(),
        key_count: i32::try_from(key_count).ok(),
        continuation_token: input.continuation_token,
        is_truncated: Some(listed.truncated),
        next_continuation_token: listed.next_marker.as_deref().map(continuation_token),
        contents: Some(listed.contents),
        common_prefixes: listed.prefixes,
        delimiter: enc.o(input.delimiter.as_ref()),
        encoding_type: input.encoding_type,
        start_after: enc.o(input.start_after.as_ref()),
        request_charged: None,
    }
}

impl Gateway {
    /// The bucket's SOSAPI objects when it has them and the listing can reach the system
    /// prefix; none otherwise.
    async fn reachable_system(&self, q: &ListQuery) -> S3Result<Vec<super::sosapi::SystemObject>> {
        // Only a listing that can still reach the generated keys pays for them (capacity.xml
        // reads the volume and, with a quota, sums the bucket).
        let reachable = (super::sosapi::SYSTEM_PREFIX.starts_with(q.prefix.as_str())
            || q.prefix.starts_with(super::sosapi::SYSTEM_PREFIX))
            && q.after.as_deref().is_none_or(|a| a < super::sosapi::SYSTEM_XML);
        if reachable && q.max_keys > 0 { self.system_objects(&q.bucket).await } else { Ok(Vec::new()) }
    }

    /// `page` with the bucket's SOSAPI objects merged in, when it has them and the listing
    /// can reach the system prefix.
    async fn listed(&self, q: &ListQuery, page: ListPage, enc: &Enc, owner: Option<Owner>) -> S3Result<Listed> {
        let system = self.reachable_system(q).await?;
        Ok(merged(q, page, &system, enc, owner))
    }
}

/// `page` with `system` merged in.
fn merged(
    q: &ListQuery,
    page: ListPage,
    system: &[super::sosapi::SystemObject],
    enc: &Enc,
    owner: Option<Owner>,
) -> Listed {
    if system.is_empty() {
        return plain_listed(page, enc, owner);
    }
    let (entries, truncated, next_marker) =
        super::sosapi::merge(&page, system, &q.prefix, q.delimiter.as_deref(), q.after.as_deref(), q.max_keys);
    let mut contents = Vec::new();
    let mut common = Vec::new();
    for e in entries {
        match e {
            super::sosapi::Entry::Object(v) => contents.push(object_entry(v, enc, owner.clone())),
            super::sosapi::Entry::System(o) => contents.push(system_entry(o, enc, owner.clone())),
            super::sosapi::Entry::Prefix(p) => common.push(CommonPrefix { prefix: Some(enc.s(&p)) }),
        }
    }
    Listed { contents, prefixes: (!common.is_empty()).then_some(common), truncated, next_marker }
}

impl Gateway {
    async fn list(&self, q: ListQuery, versions: bool) -> S3Result<ListPage> {
        let bucket = q.bucket.clone();
        let result = if versions { self.engine.list_versions(q).await } else { self.engine.list_objects(q).await };
        result.map_err(|e| with_resource(engine_error(e), &bucket, None))
    }

    pub(crate) async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        let enc = Enc(url_encoding(input.encoding_type.as_ref())?);
        let max = max_keys(input.max_keys)?;
        let q = ListQuery {
            bucket: input.bucket.clone(),
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            after: input.marker.clone().filter(|m| !m.is_empty()),
            after_version: None,
            max_keys: max,
        };
        let page = self.list(q.clone(), false).await?;
        let owner = self.owner_of(&input.bucket).await?;
        let listed = self.listed(&q, page, &enc, Some(owner)).await?;
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc.s(input.prefix.as_deref().unwrap_or_default())),
            marker: Some(enc.s(input.marker.as_deref().unwrap_or_default())),
            max_keys: i32::try_from(max).ok(),
            is_truncated: Some(listed.truncated),
            contents: Some(listed.contents),
            common_prefixes: listed.prefixes,
            delimiter: enc.o(input.delimiter.as_ref()),
            // AWS returns NextMarker only when a delimiter was given.
            next_marker: if input.delimiter.is_some() { enc.o(listed.next_marker.as_ref()) } else { None },
            encoding_type: input.encoding_type,
            request_charged: None,
        }))
    }

    pub(crate) async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        let enc = Enc(url_encoding(input.encoding_type.as_ref())?);
        let max = max_keys(input.max_keys)?;
        let token_marker = match input.continuation_token.as_deref() {
            None => None,
            Some(t) => {
                Some(URL_SAFE_NO_PAD.decode(t).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                    invalid_argument("The continuation token provided is incorrect", "continuation-token", Some(t))
                })?)
            }
        };
        let after = token_marker.or_else(|| input.start_after.clone()).filter(|s| !s.is_empty());
        let q = ListQuery {
            bucket: input.bucket.clone(),
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
            after,
            after_version: None,
            max_keys: max,
        };
        let page = self.list(q.clone(), false).await?;
        let owner = if input.fetch_owner.unwrap_or(false) { Some(self.owner_of(&input.bucket).await?) } else { None };
        let system = self.reachable_system(&q).await?;
        if system.is_empty() {
            // The common answer, written directly (the same bytes as the DTO below).
            let next = page.next_marker.as_deref().map(continuation_token);
            let body =
                super::list_xml::list_v2(&V2Page::of(&input, max, &page, next.as_deref(), owner.as_ref(), enc.0));
            return Ok(crate::prerendered::list_v2(body));
        }
        let listed = merged(&q, page, &system, &enc, owner);
        Ok(S3Response::new(v2_output(input, max, &enc, listed)))
    }

    pub(crate) async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let enc = Enc(url_encoding(input.encoding_type.as_ref())?);
        let max = max_keys(input.max_keys)?;
        let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
        if input.version_id_marker.as_deref().is_some_and(|v| !v.is_empty()) && key_marker.is_none() {
            return Err(invalid_argument(
                "A version-id marker cannot be specified without a key marker.",
                "version-id-marker",
                input.version_id_marker.as_deref(),
            ));
        }
        let page = self
            .list(
                ListQuery {
                    bucket: input.bucket.clone(),
                    prefix: input.prefix.clone().unwrap_or_default(),
                    delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
                    after: key_marker,
                    after_version: input.version_id_marker.clone().filter(|m| !m.is_empty()),
                    max_keys: max,
                },
                true,
            )
            .await?;
        let owner = self.owner_of(&input.bucket).await?;
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        for v in &page.versions {
            match &v.object {
                Some(obj) => versions.push(ObjectVersion {
                    e_tag: Some(etag(&obj.etag)),
                    is_latest: Some(v.is_latest),
                    key: Some(enc.s(&v.key)),
                    last_modified: Some(ts(v.last_modified)),
                    owner: Some(owner.clone()),
                    size: i64::try_from(obj.size).ok(),
                    storage_class: Some(ObjectVersionStorageClass::from_static(ObjectVersionStorageClass::STANDARD)),
                    version_id: Some(v.version_id.clone()),
                    checksum_algorithm: obj.checksum.as_ref().map(|c| vec![crate::convert::algorithm_dto(c.algorithm)]),
                    checksum_type: obj.checksum.as_ref().map(crate::convert::checksum_type),
                    restore_status: None,
                }),
                None => markers.push(DeleteMarkerEntry {
                    is_latest: Some(v.is_latest),
                    key: Some(enc.s(&v.key)),
                    last_modified: Some(ts(v.last_modified)),
                    owner: Some(owner.clone()),
                    version_id: Some(v.version_id.clone()),
                }),
            }
        }
        Ok(S3Response::new(ListObjectVersionsOutput {
            common_prefixes: prefixes(&page, &enc),
            delete_markers: (!markers.is_empty()).then_some(markers),
            delimiter: enc.o(input.delimiter.as_ref()),
            encoding_type: input.encoding_type,
            is_truncated: Some(page.truncated),
            key_marker: Some(enc.s(input.key_marker.as_deref().unwrap_or_default())),
            max_keys: i32::try_from(max).ok(),
            name: Some(input.bucket),
            next_key_marker: enc.o(page.next_marker.as_ref()),
            next_version_id_marker: page.next_version_marker,
            prefix: Some(enc.s(input.prefix.as_deref().unwrap_or_default())),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            versions: Some(versions),
            request_charged: None,
        }))
    }
}
