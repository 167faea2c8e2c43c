//! `Range` (GET/HEAD) and `x-amz-copy-source-range` (UploadPartCopy): s3s's
//! `Range::parse`, Holdfast's conversion to a byte range (`byte_range`) and the span the
//! engine reads of an object (`ByteRange::resolve`); Holdfast's own `byte_range_header`.
//! The first 8 bytes are the object length (little endian; a small one half the time).
//! Invariants: a satisfiable range is a non-empty span inside the object; a suffix range
//! ends at the object's end; a copy-source range has first <= last.
#![no_main]

use holdfast_api::fuzzing::{byte_range, byte_range_header};
use holdfast_engine::ByteRange;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (len, rest) = data.split_at(8);
    let mut size = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    if size & 1 == 0 {
        size = (size >> 1) % 4096;
    }
    let Ok(text) = std::str::from_utf8(rest) else { return };
    if let Ok(r) = s3s::dto::Range::parse(text) {
        let br = byte_range(Some(&r)).expect("a range");
        if let Some((start, end)) = br.resolve(size) {
            assert!(start < end && end <= size, "{text:?} on {size} bytes -> {start}..{end}");
            if let ByteRange::Suffix(n) = br {
                assert_eq!(end, size);
                assert_eq!(end - start, n.min(size));
            }
            if let ByteRange::From { first, last } = br {
                assert_eq!(start, first);
                if let Some(l) = last {
                    assert!(l >= first, "{text:?} parsed with last < first");
                    assert!(end <= l.saturating_add(1));
                }
            }
        }
    }
    if let Ok(ByteRange::From { first, last }) = byte_range_header(text) {
        let last = last.expect("a copy-source range names its last byte");
        assert!(first <= last, "{text:?}");
        if let Some((start, end)) = (ByteRange::From { first, last: Some(last) }).resolve(size) {
            assert!(start < end && end <= size);
        }
    }
});
