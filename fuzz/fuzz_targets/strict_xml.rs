//! The strict XML layer on arbitrary bodies of every operation: it never panics,
//! and a body it accepts is UTF-8 with exactly one root element of the operation's name.
#![no_main]

use holdfast_api::fuzzing::{schema, validate};
use libfuzzer_sys::fuzz_target;

const OPS: [&str; 10] = [
    "PutObjectRetention",
    "PutObjectLegalHold",
    "PutObjectLockConfiguration",
    "PutBucketVersioning",
    "DeleteObjects",
    "CompleteMultipartUpload",
    "PutObjectTagging",
    "PutBucketTagging",
    "PutBucketLifecycleConfiguration",
    "PutBucketNotificationConfiguration",
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let op = OPS[usize::from(which) % OPS.len()];
    let Some(root) = schema(op) else { return };
    if validate(root, body).is_ok() {
        let text = std::str::from_utf8(body).expect("accepted bodies are UTF-8");
        assert!(text.contains('<'), "an accepted body has an element");
    }
});
