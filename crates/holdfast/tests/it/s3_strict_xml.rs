//! Strict XML bodies: a body that does not match its operation's schema exactly
//! is 400 MalformedXML, as on AWS, and changes nothing. Before, s3s skipped unknown elements
//! and loose numbers were truncated, so a typo could remove a retention or a default.

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::types::{ObjectLockMode, ObjectLockRetentionMode};

const MALFORMED: &str = "The XML you provided was not well-formed or did not validate against our published schema";

fn lock_config(inner: &str) -> String {
    format!(
        "<ObjectLockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><ObjectLockEnabled>Enabled</ObjectLockEnabled>{inner}</ObjectLockConfiguration>"
    )
}

fn default_rule(mode: &str, period: &str) -> String {
    lock_config(&format!("<Rule><DefaultRetention><Mode>{mode}</Mode>{period}</DefaultRetention></Rule>"))
}

#[tokio::test]
async fn a_lower_case_retention_with_bypass_does_not_remove_governance() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "strictret").await;
    let until = days(3);
    let v = put_locked(&s3, &b, "doc", ObjectLockMode::Governance, &until).await;
    let path = format!("/{b}/doc?retention&versionId={v}");
    for body in [
        // Lower case: a lenient parser removed the retention (200).
        "<Retention><mode>GOVERNANCE</mode><retainUntilDate>2020-01-01T00:00:00Z</retainUntilDate></Retention>"
            .to_owned(),
        "<Retention><Mode>GOVERNANCE</Mode><Unknown/></Retention>".to_owned(),
        "<Retention><Mode>GOVERNANCE</Mode><Mode>GOVERNANCE</Mode></Retention>".to_owned(),
        "<retention/>".to_owned(),
        "<Retention xmlns=\"http://example.com/other\"/>".to_owned(),
        "<!DOCTYPE Retention [<!ENTITY e \"GOVERNANCE\">]><Retention><Mode>&e;</Mode></Retention>".to_owned(),
    ] {
        let r = raw_md5(&srv, "PUT", &path, &[("x-amz-bypass-governance-retention", "true")], body.as_bytes()).await;
        assert_raw_err(&r, 400, "MalformedXML", Some(MALFORMED));
    }
    let kept = s3.get_object_retention().bucket(&b).key("doc").version_id(&v).send().await.unwrap();
    let kept = kept.retention().unwrap();
    assert_eq!(kept.mode(), Some(&ObjectLockRetentionMode::Governance));
    assert_eq!(kept.retain_until_date().map(iso), Some(iso(&until)));
    // The exact spelling still works (and is what the SDK sends).
    let ok =
        format!("<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>{}</RetainUntilDate></Retention>", iso(&days(4)));
    let r = raw_md5(&srv, "PUT", &path, &[], ok.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn a_misspelt_or_loose_lock_configuration_keeps_the_compliance_default() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "strictcfg").await;
    let path = format!("/{b}?object-lock");
    let r = raw_md5(&srv, "PUT", &path, &[], default_rule("COMPLIANCE", "<Days>30</Days>").as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let bodies = [
        // `<rule>` for `<Rule>`: a lenient parser removed the 30-day COMPLIANCE default.
        lock_config("<rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>1</Days></DefaultRetention></rule>"),
        lock_config("<Rule><DefaultRetention><mode>GOVERNANCE</mode><Days>1</Days></DefaultRetention></Rule>"),
        // Loose numbers: stored as 1, 1 and 2 days, 1 and 1 year before.
        default_rule("COMPLIANCE", "<Days>1.5</Days>"),
        default_rule("COMPLIANCE", "<Days>1e2</Days>"),
        default_rule("COMPLIANCE", "<Days>2abc</Days>"),
        default_rule("COMPLIANCE", "<Years>1.9</Years>"),
        default_rule("COMPLIANCE", "<Years>1e3</Years>"),
        default_rule("COMPLIANCE", "<Days> 31</Days>"),
        default_rule("COMPLIANCE", "<Days>99999999999999999999999</Days>"),
        lock_config("<Rule/><Rule/>"),
    ];
    for body in &bodies {
        let r = raw_md5(&srv, "PUT", &path, &[], body.as_bytes()).await;
        assert_raw_err(&r, 400, "MalformedXML", Some(MALFORMED));
    }
    let cfg = s3.get_object_lock_configuration().bucket(&b).send().await.unwrap();
    let rule = cfg.object_lock_configuration().unwrap().rule().unwrap().default_retention().unwrap();
    assert_eq!((rule.mode(), rule.days(), rule.years()), (Some(&ObjectLockRetentionMode::Compliance), Some(30), None));
}

#[tokio::test]
async fn other_bodies_are_checked_too() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "strictother").await;
    let v = put(&s3, &b, "keep", b"x").await;
    let cases = [
        ("POST", format!("/{b}?delete"), "<Delete><Object><Key>keep</Key><VersionID>x</VersionID></Object></Delete>"),
        ("POST", format!("/{b}?delete"), "<Delete><Quiet>True</Quiet><Object><Key>keep</Key></Object></Delete>"),
        ("PUT", format!("/{b}/keep?legal-hold&versionId={v}"), "<LegalHold><status>ON</status></LegalHold>"),
        (
            "PUT",
            format!("/{b}?versioning"),
            "<VersioningConfiguration><status>Suspended</status></VersioningConfiguration>",
        ),
        (
            "PUT",
            format!("/{b}/keep?tagging"),
            "<Tagging><TagSet><Tag><key>a</key><Value>b</Value></Tag></TagSet></Tagging>",
        ),
        (
            "PUT",
            format!("/{b}?lifecycle"),
            "<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Status>Enabled</Status><Expiration><Days>1.5</Days></Expiration></Rule></LifecycleConfiguration>",
        ),
    ];
    for (method, path, body) in &cases {
        let r = raw_md5(&srv, method, path, &[], body.as_bytes()).await;
        assert_raw_err(&r, 400, "MalformedXML", Some(MALFORMED));
    }
    // Nothing changed: the object, its (absent) hold, the bucket's versioning and tags.
    s3.head_object().bucket(&b).key("keep").version_id(&v).send().await.expect("not deleted");
    let hold = s3.get_object_legal_hold().bucket(&b).key("keep").version_id(&v).send().await;
    assert!(hold.is_err(), "no legal hold was set");
    let versioning = s3.get_bucket_versioning().bucket(&b).send().await.unwrap();
    assert_eq!(versioning.status().map(|s| s.as_str()), Some("Enabled"));
    let tags = s3.get_object_tagging().bucket(&b).key("keep").send().await.unwrap();
    assert!(tags.tag_set().is_empty());
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(&b).send().await;
    assert!(lifecycle.is_err(), "no lifecycle configuration was stored");
}

#[tokio::test]
async fn an_xml_body_over_the_limit_is_max_message_length_exceeded() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "strictbig").await;
    // A DeleteObjects body declared at 9 MiB, over the 8 MiB the server reads of an XML body:
    // refused from the headers, before a byte of the body is read.
    let len = (9u64 << 20).to_string();
    let headers = [
        ("content-length", len.as_str()),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
        ("content-md5", "AAAAAAAAAAAAAAAAAAAAAA=="),
    ];
    let r = raw(&srv, "POST", &format!("/{b}?delete"), &headers, b"").await;
    assert_raw_err(&r, 400, "MaxMessageLengthExceeded", Some("Your request was too big."));
    s3.head_bucket().bucket(&b).send().await.unwrap();
}

#[tokio::test]
async fn delete_objects_keeps_the_key_limits() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "strictkeys").await;
    put(&s3, &b, "keep", b"x").await;
    let long = "k".repeat(1025);
    let max = "m".repeat(1024);
    let body = format!("<Delete><Object><Key>{long}</Key></Object><Object><Key>{max}</Key></Object></Delete>");
    let r = raw_md5(&srv, "POST", &format!("/{b}?delete"), &[], body.as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    // The long key is refused by itself (no marker stored); the 1,024-byte one gets its marker.
    assert!(
        text.contains(&format!(
            "<Error><Code>KeyTooLongError</Code><Key>{long}</Key><Message>Your key is too long</Message></Error>"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("<Key>{max}</Key></Deleted>")), "{text}");
    let versions = s3.list_object_versions().bucket(&b).send().await.unwrap();
    let marker_keys: Vec<usize> = versions.delete_markers().iter().map(|m| m.key().unwrap().len()).collect();
    assert_eq!(marker_keys, vec![1024], "no marker with a key over 1,024 bytes");
    // An empty key: the whole request is malformed (it was reported as deleted).
    let body = "<Delete><Object><Key>keep</Key></Object><Object><Key></Key></Object></Delete>";
    let r = raw_md5(&srv, "POST", &format!("/{b}?delete"), &[], body.as_bytes()).await;
    assert_raw_err(&r, 400, "MalformedXML", Some(MALFORMED));
    s3.head_object().bucket(&b).key("keep").send().await.expect("nothing was deleted");
}
