//! DeleteObjects' body on the full path Holdfast runs: the strict XML layer, s3s's XML
//! deserializer into `Delete`, Holdfast's check of the whole request (`check_delete`: at most
//! 1000 keys, none empty) and the per-key checks the engine's delete makes (key at most 1024
//! bytes, a well-formed version id: each a per-key `<Error>`, not a refusal of the request).
//! s3s's deserializer also runs on bodies the strict layer refuses.
//! Invariants: an accepted request has 1..=1000 objects, each with a non-empty key.
#![no_main]

use holdfast_api::fuzzing::check_delete;
use holdfast_api::fuzzing::{schema, validate};
use holdfast_engine::version_selector;
use holdfast_meta::VersionSelector;
use libfuzzer_sys::fuzz_target;
use s3s::dto::Delete;
use s3s::xml::{Deserialize, Deserializer};

fn s3s_parse(body: &[u8]) -> Option<Delete> {
    let mut d = Deserializer::new(body);
    let v = Delete::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(v)
}

fuzz_target!(|data: &[u8]| {
    let root = schema("DeleteObjects").expect("a schema");
    let parsed = s3s_parse(data);
    if data.is_empty() || validate(root, data).is_err() {
        return;
    }
    let Some(delete) = parsed else { return };
    if check_delete(&delete).is_err() {
        return;
    }
    let n = delete.objects.len();
    assert!((1..=1000).contains(&n), "accepted a Delete of {n} objects: {:?}", String::from_utf8_lossy(data));
    for o in &delete.objects {
        assert!(!o.key.is_empty(), "accepted an empty key");
        // Per key: KeyTooLong above 1024 bytes (engine check_key), InvalidArgument for a
        // malformed version id; either way that key only.
        let _too_long = o.key.len() > 1024;
        if let Ok(VersionSelector::Id(v)) = version_selector(o.version_id.clone()) {
            assert!(!v.is_empty(), "an empty version id selects a version");
        }
    }
});
