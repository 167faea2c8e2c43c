//! PutObjectLockConfiguration's body on the full path Holdfast runs: the strict XML layer,
//! s3s's XML deserializer into `ObjectLockConfiguration`, then Holdfast's conversion into a
//! default retention (`default_retention`, B7..B9) in both modes (s3-tests and `aws_strict`).
//! s3s's deserializer also runs on bodies the strict layer refuses (it must never panic).
//! Invariants: an accepted default retention is 1..=MAX days or years (never 0, never more);
//! and it survives Holdfast's own answer (GetObjectLockConfiguration's XML) unchanged.
#![no_main]

use holdfast_api::fuzzing::default_retention;
use holdfast_api::fuzzing::{schema, validate};
use holdfast_lock::{MAX_DEFAULT_DAYS, MAX_DEFAULT_YEARS, Period};
use libfuzzer_sys::fuzz_target;
use s3s::dto::ObjectLockConfiguration;
use s3s::xml::{Deserialize, Deserializer};

/// As s3s's `take_opt_xml_body`: the root element, then nothing but the end.
fn s3s_parse(body: &[u8]) -> Option<ObjectLockConfiguration> {
    let mut d = Deserializer::new(body);
    let v = ObjectLockConfiguration::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(v)
}

fuzz_target!(|data: &[u8]| {
    let root = schema("PutObjectLockConfiguration").expect("a schema");
    let parsed = s3s_parse(data);
    // An empty body is MissingRequestBodyError before anything is parsed.
    if data.is_empty() || validate(root, data).is_err() {
        return;
    }
    let Some(config) = parsed else { return };
    for aws_strict in [false, true] {
        let Ok(Some(d)) = default_retention(&config, aws_strict) else { continue };
        let (tag, n) = match d.period {
            Period::Days(n) => {
                assert!(n >= 1 && i64::from(n) <= MAX_DEFAULT_DAYS, "{d:?} from {:?}", String::from_utf8_lossy(data));
                ("Days", n)
            }
            Period::Years(n) => {
                assert!(n >= 1 && i64::from(n) <= MAX_DEFAULT_YEARS, "{d:?} from {:?}", String::from_utf8_lossy(data));
                ("Years", n)
            }
        };
        let again = format!(
            "<ObjectLockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>{}</Mode><{tag}>{n}</{tag}></DefaultRetention></Rule></ObjectLockConfiguration>",
            d.mode.as_str()
        );
        validate(root, again.as_bytes()).expect("Holdfast's own configuration validates");
        let config = s3s_parse(again.as_bytes()).expect("s3s parses Holdfast's own configuration");
        assert_eq!(default_retention(&config, aws_strict).expect("accepted again"), Some(d));
    }
});
