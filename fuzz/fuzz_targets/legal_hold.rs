//! PutObjectLegalHold's body on the full path Holdfast runs: the strict XML layer, s3s's XML
//! deserializer into `ObjectLockLegalHold`, then Holdfast's conversion (`legal_hold_request`:
//! `ON` or `OFF`, anything else MalformedXML). s3s's deserializer also runs on bodies the
//! strict layer refuses.
//! Invariants: an accepted hold is exactly the `<Status>` text the body carried (`ON` / `OFF`,
//! no other spelling), and it survives Holdfast's own answer (GetObjectLegalHold's XML).
#![no_main]

use holdfast_api::fuzzing::legal_hold_request;
use holdfast_api::fuzzing::{schema, validate};
use libfuzzer_sys::fuzz_target;
use s3s::dto::ObjectLockLegalHold;
use s3s::xml::{Deserialize, Deserializer};

fn s3s_parse(body: &[u8]) -> Option<ObjectLockLegalHold> {
    let mut d = Deserializer::new(body);
    let v = ObjectLockLegalHold::deserialize(&mut d).ok()?;
    d.expect_eof().ok()?;
    Some(v)
}

fuzz_target!(|data: &[u8]| {
    let root = schema("PutObjectLegalHold").expect("a schema");
    let parsed = s3s_parse(data);
    if data.is_empty() || validate(root, data).is_err() {
        return;
    }
    let Some(h) = parsed else { return };
    let status = h.status.as_ref().map(|s| s.as_str().to_owned());
    if let Ok(hold) = legal_hold_request(Some(h)) {
        assert_eq!(status.as_deref(), Some(hold.as_str()), "hold {hold:?} from {:?}", String::from_utf8_lossy(data));
        let again = format!(
            "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{}</Status></LegalHold>",
            hold.as_str()
        );
        validate(root, again.as_bytes()).expect("Holdfast's own legal hold validates");
        let h = s3s_parse(again.as_bytes()).expect("s3s parses Holdfast's own legal hold");
        assert_eq!(legal_hold_request(Some(h)).expect("accepted again"), hold);
    }
});
