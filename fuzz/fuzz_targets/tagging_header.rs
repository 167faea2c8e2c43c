//! The `x-amz-tagging` header of PutObject, CreateMultipartUpload and CopyObject (REPLACE),
//! and the policy condition keys built from it (`tags_from_header`, both modes).
//! Invariants: an accepted tag set has at most 10 tags, each key non-empty, at most 128
//! UTF-16 units and not `aws:`-prefixed, each value at most 256 UTF-16 units.
#![no_main]

use holdfast_api::fuzzing::tags_from_header;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for aws_strict in [false, true] {
        let Ok(tags) = tags_from_header(Some(text), aws_strict) else { continue };
        assert!(tags.len() <= 10, "{} tags from {text:?}", tags.len());
        for (k, v) in &tags {
            assert!(!k.is_empty(), "empty tag key from {text:?}");
            assert!(k.encode_utf16().count() <= 128, "long key from {text:?}");
            assert!(v.encode_utf16().count() <= 256, "long value from {text:?}");
            assert!(!k.starts_with("aws:"), "aws: key from {text:?}");
        }
    }
});
