//! The store-independent half of ListObjects(V2) and ListObjectVersions: where a scan
//! starts, how keys roll up into common prefixes, and when a page is full. Each store
//! feeds it rows from its byte-ordered key index.

use crate::model::{
    ChecksumAlgorithm, ChecksumKind, ListPage, ListQuery, ObjectData, ObjectHeaders, StoredChecksum, UploadListQuery,
    UploadPage, VersionRecord,
};
use holdfast_lock::{LockState, UtcMillis};

/// What a ListObjects entry shows of a current version, as both stores keep it beside the
/// key's latest pointer (`latest`): a page reads that one table in key order, without
/// joining each key to its version row or decoding the version's object document.
pub(crate) struct ListedColumns {
    pub(crate) version_id: String,
    pub(crate) last_modified_ms: i64,
    pub(crate) size: i64,
    pub(crate) etag: String,
    pub(crate) storage_class: Option<String>,
    /// The serde names of the checksum's algorithm and kind, and its value (all or none).
    pub(crate) checksum: (Option<String>, Option<String>, Option<String>),
}

/// The serde name of a checksum algorithm, as the object document stores it (the stores'
/// migrations read the listed columns out of that document).
pub(crate) const fn algorithm_name(a: ChecksumAlgorithm) -> &'static str {
    match a {
        ChecksumAlgorithm::Crc32 => "Crc32",
        ChecksumAlgorithm::Crc32c => "Crc32c",
        ChecksumAlgorithm::Crc64Nvme => "Crc64Nvme",
        ChecksumAlgorithm::Sha1 => "Sha1",
        ChecksumAlgorithm::Sha256 => "Sha256",
    }
}

/// The serde name of a checksum kind (see [`algorithm_name`]).
pub(crate) const fn kind_name(k: ChecksumKind) -> &'static str {
    match k {
        ChecksumKind::FullObject => "FullObject",
        ChecksumKind::Composite => "Composite",
    }
}

/// The listed checksum columns of an object: algorithm, kind and value, or all `None`.
/// (PostgreSQL fills its columns with a trigger, so only the embedded store writes them.)
#[cfg(any(feature = "sqlite", test))]
pub(crate) fn checksum_columns(
    c: Option<&StoredChecksum>,
) -> (Option<&'static str>, Option<&'static str>, Option<&str>) {
    match c {
        Some(c) => (Some(algorithm_name(c.algorithm)), Some(kind_name(c.kind)), Some(c.value.as_str())),
        None => (None, None, None),
    }
}

fn stored_checksum(cols: (Option<String>, Option<String>, Option<String>)) -> Result<Option<StoredChecksum>, String> {
    match cols {
        (None, None, None) => Ok(None),
        (Some(a), Some(k), Some(value)) => {
            let algorithm = ChecksumAlgorithm::ALL
                .into_iter()
                .find(|x| algorithm_name(*x) == a)
                .ok_or_else(|| format!("unknown checksum algorithm {a:?}"))?;
            let kind = [ChecksumKind::FullObject, ChecksumKind::Composite]
                .into_iter()
                .find(|x| kind_name(*x) == k)
                .ok_or_else(|| format!("unknown checksum kind {k:?}"))?;
            Ok(Some(StoredChecksum { algorithm, value, kind }))
        }
        other => Err(format!("partial listed checksum {other:?}")),
    }
}

/// A ListObjects entry: the current version `seq` of `key`, an object (never a delete
/// marker), with only what a listing shows — size, ETag, storage class, checksum; its other
/// headers, segments, parts and lock state are left empty.
pub(crate) fn listed_entry(seq: i64, bucket: &str, key: String, c: ListedColumns) -> Result<VersionRecord, String> {
    let headers = ObjectHeaders { storage_class: c.storage_class, ..ObjectHeaders::default() };
    Ok(VersionRecord {
        seq,
        bucket: bucket.to_owned(),
        key,
        version_id: c.version_id,
        last_modified: UtcMillis(c.last_modified_ms),
        is_latest: true,
        object: Some(ObjectData {
            size: u64::try_from(c.size).map_err(|_| format!("negative listed size {}", c.size))?,
            etag: c.etag,
            headers,
            checksum: stored_checksum(c.checksum)?,
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
    /// Whether the last thing taken was a common prefix (else an entry): the markers are
    /// made from it once, when a truncated page finishes, not copied for every entry.
    last_prefix: bool,
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
        // Room for a whole page up front: records are large (the object's headers inline),
        // and growing the vector by doubling copied a page of 1,000 about twice over (#17).
        let page = ListPage { versions: Vec::with_capacity(q.max_keys.min(1000)), ..ListPage::default() };
        Self { q, upper, page, count: 0, last_prefix: false }
    }

    pub(crate) fn offer(&mut self, rec: VersionRecord) -> Step {
        if let Some(cp) = common_prefix(&rec.key, &self.q.prefix, self.q.delimiter.as_deref()) {
            if self.page.common_prefixes.last().map(String::as_str) == Some(cp) {
                return Step::JumpTo(prefix_upper_bound(cp.as_bytes()));
            }
            if self.count == self.q.max_keys {
                return Step::Full;
            }
            self.count += 1;
            let next = prefix_upper_bound(cp.as_bytes());
            self.page.common_prefixes.push(cp.to_owned());
            self.last_prefix = true;
            return Step::JumpTo(next);
        }
        if self.count == self.q.max_keys {
            return Step::Full;
        }
        self.count += 1;
        self.page.versions.push(rec);
        self.last_prefix = false;
        Step::Entry
    }

    pub(crate) fn finish(mut self, truncated: bool) -> ListPage {
        self.page.truncated = truncated;
        if truncated {
            if self.last_prefix {
                self.page.next_marker = self.page.common_prefixes.last().cloned();
            } else if let Some(v) = self.page.versions.last() {
                self.page.next_marker = Some(v.key.clone());
                self.page.next_version_marker = Some(v.version_id.clone());
            }
        }
        self.page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_checksum_names_are_the_object_documents() {
        for a in ChecksumAlgorithm::ALL {
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{}\"", algorithm_name(a)));
        }
        for k in [ChecksumKind::FullObject, ChecksumKind::Composite] {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", kind_name(k)));
            let c = StoredChecksum { algorithm: ChecksumAlgorithm::Sha1, value: "v".into(), kind: k };
            let (a, k, v) = checksum_columns(Some(&c));
            let back = stored_checksum((a.map(Into::into), k.map(Into::into), v.map(Into::into))).unwrap();
            assert_eq!(back, Some(c));
        }
        assert!(stored_checksum((Some("Crc32".into()), None, None)).is_err(), "partial columns are corrupt");
    }

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
