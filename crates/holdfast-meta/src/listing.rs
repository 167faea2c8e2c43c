//! The store-independent half of ListObjects(V2) and ListObjectVersions: where a scan
//! starts, how keys roll up into common prefixes, and when a page is full. Each store
//! feeds it rows from its byte-ordered key index.

use crate::model::{
    ListPage, ListQuery, ObjectData, ObjectHeaders, StoredChecksum, UploadListQuery, UploadPage, VersionRecord,
};
use holdfast_lock::{LockState, UtcMillis};
use serde::Deserialize;

/// What a ListObjects entry shows of a version's object document. Deserializing only these
/// fields skips the segments, parts and other headers without building them.
#[derive(Deserialize)]
struct Listed {
    size: u64,
    etag: String,
    headers: ListedHeaders,
    checksum: Option<StoredChecksum>,
}

#[derive(Deserialize)]
struct ListedHeaders {
    storage_class: Option<String>,
}

/// A ListObjects entry: the current version `seq` of `key`, an object (never a delete
/// marker), with only what a listing shows — size, ETag, storage class, checksum; its other
/// headers, segments, parts and lock state are left empty.
pub(crate) fn listed_entry(
    seq: i64,
    bucket: &str,
    key: String,
    version_id: String,
    last_modified_ms: i64,
    data: &str,
) -> serde_json::Result<VersionRecord> {
    let l: Listed = serde_json::from_str(data)?;
    let headers = ObjectHeaders { storage_class: l.headers.storage_class, ..ObjectHeaders::default() };
    Ok(VersionRecord {
        seq,
        bucket: bucket.to_owned(),
        key,
        version_id,
        last_modified: UtcMillis(last_modified_ms),
        is_latest: true,
        object: Some(ObjectData {
            size: l.size,
            etag: l.etag,
            headers,
            checksum: l.checksum,
            segments: Vec::new(),
            parts: Vec::new(),
            inline: None,
        }),
        lock: LockState::default(),
        replication: None,
    })
}

/// The smallest byte string greater than every string that starts with `p`.
pub(crate) fn prefix_upper_bound(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// The common prefix `key` rolls up into, if any.
pub(crate) fn common_prefix<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    rest.find(d).map(|i| &key[..prefix.len() + i + d.len()])
}

/// A ListMultipartUploads page from `(key, upload id, upload document)` rows in key, initiation
/// and upload-id order, starting at the prefix: the markers, common prefixes and the page size.
pub(crate) fn uploads_page<E: From<serde_json::Error>>(
    q: &UploadListQuery,
    rows: impl IntoIterator<Item = Result<(String, String, String), E>>,
) -> Result<UploadPage, E> {
    let mut page = UploadPage::default();
    let mut count = 0;
    let mut past_marker = q.key_marker.is_none();
    for row in rows {
        let (key, upload_id, data) = row?;
        if !key.starts_with(&q.prefix) {
            break;
        }
        if !past_marker {
            let marker = q.key_marker.as_deref().unwrap_or_default();
            let after = match q.upload_id_marker.as_deref() {
                Some(id) if key == marker => upload_id.as_str() > id,
                _ => key.as_str() > marker,
            };
            if !after {
                continue;
            }
            past_marker = true;
        }
        if let Some(cp) = common_prefix(&key, &q.prefix, q.delimiter.as_deref()) {
            if page.common_prefixes.last().map(String::as_str) == Some(cp) {
                continue;
            }
            if count == q.max_uploads {
                page.truncated = true;
                break;
            }
            page.common_prefixes.push(cp.to_owned());
            count += 1;
            continue;
        }
        if count == q.max_uploads {
            page.truncated = true;
            break;
        }
        page.uploads.push(serde_json::from_str(&data)?);
        count += 1;
    }
    Ok(page)
}

/// Inclusive lower bound for a scan that starts after `after` (a key or a common prefix).
pub(crate) fn scan_start(q: &ListQuery) -> Option<Vec<u8>> {
    let mut lower = q.prefix.as_bytes().to_vec();
    if let Some(after) = q.after.as_deref() {
        let mut next = after.as_bytes().to_vec();
        next.push(0);
        if let Some(cp) = common_prefix(after, &q.prefix, q.delimiter.as_deref())
            && after.starts_with(&q.prefix)
        {
            // Everything under an already returned common prefix is skipped.
            next = prefix_upper_bound(cp.as_bytes())?;
        }
        lower = lower.max(next);
    }
    Some(lower)
}

/// The version marker names a version of the marker key that the listing resumes inside
/// (rather than after the whole key).
pub(crate) fn resumes_within(q: &ListQuery, key: &str) -> bool {
    key.starts_with(&q.prefix) && common_prefix(key, &q.prefix, q.delimiter.as_deref()).is_none()
}

pub(crate) struct Scan<'q> {
    q: &'q ListQuery,
    /// Exclusive upper bound of the keys under the prefix (`None`: no bound).
    pub(crate) upper: Option<Vec<u8>>,
    page: ListPage,
    count: usize,
}

pub(crate) enum Step {
    /// Take the record and keep scanning from the next row.
    Entry,
    /// A common prefix was taken; the scan must jump past it (or stop if nothing can follow).
    JumpTo(Option<Vec<u8>>),
    /// The page is full and another entry exists.
    Full,
}

impl<'q> Scan<'q> {
    pub(crate) fn new(q: &'q ListQuery) -> Self {
        let upper = if q.prefix.is_empty() { None } else { prefix_upper_bound(q.prefix.as_bytes()) };
        Self { q, upper, page: ListPage::default(), count: 0 }
    }

    pub(crate) fn offer(&mut self, rec: VersionRecord) -> Step {
        let cp = common_prefix(&rec.key, &self.q.prefix, self.q.delimiter.as_deref()).map(str::to_owned);
        if let Some(cp) = cp {
            if self.page.common_prefixes.last() == Some(&cp) {
                return Step::JumpTo(prefix_upper_bound(cp.as_bytes()));
            }
            if self.count == self.q.max_keys {
                return Step::Full;
            }
            self.count += 1;
            let next = prefix_upper_bound(cp.as_bytes());
            self.page.next_marker = Some(cp.clone());
            self.page.next_version_marker = None;
            self.page.common_prefixes.push(cp);
            return Step::JumpTo(next);
        }
        if self.count == self.q.max_keys {
            return Step::Full;
        }
        self.count += 1;
        self.page.next_marker = Some(rec.key.clone());
        self.page.next_version_marker = Some(rec.version_id.clone());
        self.page.versions.push(rec);
        Step::Entry
    }

    pub(crate) fn finish(mut self, truncated: bool) -> ListPage {
        self.page.truncated = truncated;
        if !truncated {
            self.page.next_marker = None;
            self.page.next_version_marker = None;
        }
        self.page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_skips_ff() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_upper_bound(b"\xff"), None);
    }

    #[test]
    fn common_prefixes() {
        assert_eq!(common_prefix("a/b/c", "", Some("/")), Some("a/"));
        assert_eq!(common_prefix("a/b/c", "a/", Some("/")), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/", Some("/")), None);
        assert_eq!(common_prefix("a/b", "", None), None);
        assert_eq!(common_prefix("a--b--c", "", Some("--")), Some("a--"));
    }
}
