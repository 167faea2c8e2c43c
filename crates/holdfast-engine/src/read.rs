//! GET and HEAD: version resolution, conditional headers, ranges and part numbers, and
//! the byte stream assembled from the version's blobs.

use crate::{Engine, EngineError, EngineResult};
use futures::StreamExt;
use holdfast_blob::{BlobStore, ByteStream};
use holdfast_lock::UtcMillis;
use holdfast_meta::{MetaError, ObjectData, VersionRecord, VersionSelector, etag_list_matches};
use std::sync::Arc;

/// A `Range: bytes=` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-` or `first-last` (inclusive).
    From { first: u64, last: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The half-open span this range selects in an object of `size` bytes.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            Self::From { first, last } => {
                if first >= size {
                    return None;
                }
                let end = last.map_or(size, |l| l.saturating_add(1).min(size));
                (end > first).then_some((first, end))
            }
            Self::Suffix(n) => (n > 0 && size > 0).then(|| (size - n.min(size), size)),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReadConditions {
    pub if_match: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<UtcMillis>,
    pub if_unmodified_since: Option<UtcMillis>,
}

impl ReadConditions {
    /// RFC 7232 §6 as S3 applies it: If-Match, then If-Unmodified-Since (ignored when
    /// If-Match is present), then If-None-Match, then If-Modified-Since (ignored when
    /// If-None-Match is present). Dates compare at whole seconds.
    pub fn check(&self, etag: &str, last_modified: UtcMillis) -> EngineResult<()> {
        let lm_secs = last_modified.millis().div_euclid(1000);
        if let Some(m) = &self.if_match {
            if !etag_list_matches(m, etag) {
                return Err(EngineError::PreconditionFailed);
            }
        } else if let Some(t) = self.if_unmodified_since
            && lm_secs > t.millis().div_euclid(1000)
        {
            return Err(EngineError::PreconditionFailed);
        }
        let not_modified = || EngineError::NotModified { etag: etag.to_owned(), last_modified };
        if let Some(m) = &self.if_none_match {
            if etag_list_matches(m, etag) {
                return Err(not_modified());
            }
        } else if let Some(t) = self.if_modified_since
            && lm_secs <= t.millis().div_euclid(1000)
        {
            return Err(not_modified());
        }
        Ok(())
    }

    /// The same checks for a copy source, where a failed condition is always 412.
    pub fn check_copy_source(&self, etag: &str, last_modified: UtcMillis) -> EngineResult<()> {
        self.check(etag, last_modified).map_err(|e| match e {
            EngineError::NotModified { .. } => EngineError::PreconditionFailed,
            other => other,
        })
    }
}

pub struct GetObject {
    pub bucket: String,
    pub key: String,
    pub version: VersionSelector,
    pub range: Option<ByteRange>,
    pub part_number: Option<u32>,
    pub conditions: ReadConditions,
    /// Read the version's tags too, in the same trip to the store (`x-amz-tagging-count`).
    pub with_tags: bool,
}

pub struct ObjectRead {
    pub version: VersionRecord,
    /// The half-open span served, when a range or part was asked for.
    pub span: Option<(u64, u64)>,
    pub parts_count: Option<u32>,
    pub body: Option<ByteStream>,
    /// The version's tags, when asked for.
    pub tags: Option<holdfast_meta::TagSet>,
}

impl ObjectRead {
    pub fn object(&self) -> &ObjectData {
        self.version.object_data()
    }

    pub fn content_length(&self) -> u64 {
        self.span.map_or(self.object().size, |(a, b)| b - a)
    }
}

/// Streams `[start, end)` of an object whose bytes are the concatenation of its segments.
/// Segment files are opened lazily, as the stream reaches them.
pub fn stream_span(blobs: Arc<dyn BlobStore>, obj: &ObjectData, start: u64, end: u64) -> ByteStream {
    if let Some(bytes) = &obj.inline {
        // Inline bytes came with the version record: nothing to open.
        let (start, end) = (usize::try_from(start).unwrap_or(usize::MAX), usize::try_from(end).unwrap_or(usize::MAX));
        let end = end.min(bytes.len());
        let piece = if start < end { bytes.slice(start..end) } else { bytes::Bytes::new() };
        return futures::stream::once(std::future::ready(Ok(piece))).boxed();
    }
    let mut pieces = Vec::new();
    let mut offset = 0u64;
    for seg in &obj.segments {
        let (seg_start, seg_end) = (offset, offset + seg.size);
        offset = seg_end;
        if seg_end <= start || seg_start >= end {
            continue;
        }
        let from = start.max(seg_start) - seg_start;
        let to = end.min(seg_end) - seg_start;
        pieces.push((seg.blob.clone(), from, to - from));
    }
    futures::stream::iter(pieces)
        .then(move |(blob, from, len)| {
            let blobs = Arc::clone(&blobs);
            async move { blobs.read(&blob, from, len).await }
        })
        .map(|opened| match opened {
            Ok(s) => s,
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        })
        .flatten()
        .boxed()
}

impl Engine {
    /// Resolves the version a read names; a current delete marker reads as NoSuchKey and
    /// a named one as MethodNotAllowed (G5), both carrying the marker's identity.
    pub async fn resolve_object(&self, bucket: &str, key: &str, sel: &VersionSelector) -> EngineResult<VersionRecord> {
        Ok(self.resolve_object_for_read(bucket, key, sel, false).await?.0)
    }

    /// [`resolve_object`](Self::resolve_object), with the version's tags when `with_tags`.
    async fn resolve_object_for_read(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        with_tags: bool,
    ) -> EngineResult<(VersionRecord, Option<holdfast_meta::TagSet>)> {
        let (rec, tags) = self.meta.version_for_read(bucket, key, sel, with_tags).await?;
        if rec.is_delete_marker() {
            return Err(match sel {
                VersionSelector::Latest => EngineError::CurrentIsDeleteMarker { version_id: rec.version_id },
                VersionSelector::Id(_) => {
                    MetaError::DeleteMarker { version_id: rec.version_id, last_modified: rec.last_modified }.into()
                }
            });
        }
        Ok((rec, tags))
    }

    pub async fn get_object(&self, req: GetObject, with_body: bool) -> EngineResult<ObjectRead> {
        let (version, tags) = self.resolve_object_for_read(&req.bucket, &req.key, &req.version, req.with_tags).await?;
        let obj = version.object_data();
        req.conditions.check(&obj.etag, version.last_modified)?;
        let (span, parts_count) = match (req.part_number, req.range) {
            (Some(_), Some(_)) => {
                return Err(EngineError::InvalidRequest(
                    "Cannot specify both Range header and partNumber query parameter.".into(),
                ));
            }
            (Some(n), None) => {
                let (span, count) = part_span(obj, n)?;
                (Some(span), Some(count))
            }
            (None, Some(r)) => match r.resolve(obj.size) {
                Some(span) => (Some(span), None),
                None => return Err(EngineError::InvalidRange { object_size: obj.size }),
            },
            (None, None) => (None, None),
        };
        let body = with_body.then(|| {
            let (start, end) = span.unwrap_or((0, obj.size));
            stream_span(Arc::clone(&self.blobs), obj, start, end)
        });
        Ok(ObjectRead { version, span, parts_count, body, tags })
    }
}

/// The span of part `n` (1-based) and the number of parts. A single-part object has one part.
fn part_span(obj: &ObjectData, n: u32) -> EngineResult<((u64, u64), u32)> {
    if obj.parts.is_empty() {
        return if n == 1 { Ok(((0, obj.size), 1)) } else { Err(EngineError::InvalidPartNumber) };
    }
    let count = u32::try_from(obj.parts.len()).unwrap_or(u32::MAX);
    let mut offset = 0;
    for p in &obj.parts {
        if p.number == n {
            return Ok(((offset, offset + p.size), count));
        }
        offset += p.size;
    }
    Err(EngineError::InvalidPartNumber)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_like_rfc7233() {
        let r = |first, last| ByteRange::From { first, last };
        assert_eq!(r(0, Some(0)).resolve(10), Some((0, 1)));
        assert_eq!(r(2, None).resolve(10), Some((2, 10)));
        assert_eq!(r(2, Some(100)).resolve(10), Some((2, 10)));
        assert_eq!(r(10, None).resolve(10), None);
        assert_eq!(ByteRange::Suffix(3).resolve(10), Some((7, 10)));
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some((0, 10)));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
        assert_eq!(r(0, None).resolve(0), None);
    }

    #[test]
    fn conditional_reads() {
        let lm = UtcMillis::parse("2026-01-01T00:00:00.500Z").unwrap();
        let at = |s: &str| Some(UtcMillis::parse(s).unwrap());
        let c = |m: Option<&str>, nm: Option<&str>, ms: Option<UtcMillis>, us: Option<UtcMillis>| ReadConditions {
            if_match: m.map(str::to_owned),
            if_none_match: nm.map(str::to_owned),
            if_modified_since: ms,
            if_unmodified_since: us,
        };
        assert!(c(Some("\"abc\""), None, None, None).check("abc", lm).is_ok());
        assert!(matches!(c(Some("\"x\""), None, None, None).check("abc", lm), Err(EngineError::PreconditionFailed)));
        assert!(matches!(c(None, Some("\"abc\""), None, None).check("abc", lm), Err(EngineError::NotModified { .. })));
        assert!(c(None, Some("\"x\""), at("2030-01-01T00:00:00Z"), None).check("abc", lm).is_ok(), "INM wins over IMS");
        assert!(
            matches!(
                c(None, None, at("2026-01-01T00:00:00Z"), None).check("abc", lm),
                Err(EngineError::NotModified { .. })
            ),
            "same second is not modified"
        );
        assert!(c(None, None, at("2025-12-31T23:59:59Z"), None).check("abc", lm).is_ok());
        assert!(matches!(
            c(None, None, None, at("2025-12-31T00:00:00Z")).check("abc", lm),
            Err(EngineError::PreconditionFailed)
        ));
        assert!(c(Some("abc"), None, None, at("2025-12-31T00:00:00Z")).check("abc", lm).is_ok(), "IM wins over IUS");
    }
}
