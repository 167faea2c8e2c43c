//! PutObjectRetention's body on the full path Holdfast runs: the strict XML layer, s3s's
//! XML deserializer into `ObjectLockRetention` (its RetainUntilDate parser included), then
//! Holdfast's conversion into the retention asked for (`retention_request`: both of Mode
//! and RetainUntilDate or neither, a future date, a known mode). s3s's deserializer also runs
//! on bodies the strict layer refuses.
//! Invariants: the date s3s read is the instant Holdfast's own parser reads in the same text
//! (a plain `<RetainUntilDate>` element); an accepted retention ends after `now`; removal
//! (`None`) only from a body with neither field; and an accepted retention survives Holdfast's own answer
//! (GetObjectRetention's XML, its date in Holdfast's form) unchanged.
#![no_main]

use holdfast_api::fuzzing::retention_request;
use holdfast_api::fuzzing::{schema, validate};
use holdfast_lock::UtcMillis;
use libfuzzer_sys::fuzz_target;
use s3s::dto::ObjectLockRetention;
use s3s::xml::{Deserialize, Deserializer};

fn s3s_parse(body: &[u8]) -> Option<ObjectLockRetention> {
    let mut d = Deserializer::new(body);
    let v = ObjectLockRetention::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(v)
}

/// 2026-01-01T00:00:00Z: dates in the seeds lie on both sides of it.
const NOW: UtcMillis = UtcMillis::from_millis(1_767_225_600_000);

fuzz_target!(|data: &[u8]| {
    let root = schema("PutObjectRetention").expect("a schema");
    let parsed = s3s_parse(data);
    if data.is_empty() || validate(root, data).is_err() {
        return;
    }
    let Some(r) = parsed else { return };
    if let (Some(ts), Ok(text)) = (&r.retain_until_date, std::str::from_utf8(data))
        && let Some(inner) = text.split("<RetainUntilDate>").nth(1).and_then(|t| t.split("</RetainUntilDate>").next())
        && text.matches("<RetainUntilDate>").count() == 1
        && let Ok(ours) = UtcMillis::parse(inner)
    {
        let theirs = UtcMillis::from_offset_datetime(time::OffsetDateTime::from(ts.clone()));
        assert_eq!(theirs, ours, "s3s and Holdfast read {inner:?} differently");
    }
    let had_fields = r.mode.is_some() || r.retain_until_date.is_some();
    match retention_request(r, NOW) {
        Ok(None) => assert!(!had_fields, "a body with a field removed the retention"),
        Ok(Some(ret)) => {
            assert!(ret.until > NOW, "accepted a past date: {ret:?}");
            let again = format!(
                "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>",
                ret.mode.as_str(),
                ret.until.to_iso8601()
            );
            validate(root, again.as_bytes()).expect("Holdfast's own retention validates");
            let r = s3s_parse(again.as_bytes()).expect("s3s parses Holdfast's own retention");
            assert_eq!(retention_request(r, NOW).expect("accepted again"), Some(ret));
        }
        Err(_) => {}
    }
});
