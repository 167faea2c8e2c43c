//! Object writes with Object Lock: PutObject, CopyObject, multipart (spec §2, W-rules;
//! §12 DP4, DP6; §14 scenarios 15..21, 23..27).
//! W8 (lock headers need s3:PutObjectRetention / s3:PutObjectLegalHold) belongs to the identity tests (identity_*.rs).

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::{ByteStream, DateTime};
use holdfast_testkit::aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, ObjectLockLegalHoldStatus as Hold,
    ObjectLockMode as M, ObjectLockRetentionMode as RM,
};

const BOTH: &str = "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied";
const MISSING_LOCK: &str = "Bucket is missing ObjectLockConfiguration";
const NEEDS_INTEGRITY: &str =
    "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters";
const DATE_HEADER: &str = "x-amz-object-lock-retain-until-date";
const MODE_HEADER: &str = "x-amz-object-lock-mode";
const HOLD_HEADER: &str = "x-amz-object-lock-legal-hold";

/// One-part multipart upload with the given lock headers at creation; returns the version id.
async fn multipart(s3: &Client, b: &str, k: &str, lock: Option<(M, DateTime)>, hold: Option<Hold>) -> String {
    let mut create = s3.create_multipart_upload().bucket(b).key(k);
    if let Some((mode, until)) = lock {
        create = create.object_lock_mode(mode).object_lock_retain_until_date(until);
    }
    if let Some(h) = hold {
        create = create.object_lock_legal_hold_status(h);
    }
    let up = create.send().await.unwrap();
    let id = up.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket(b)
        .key(k)
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"multipart body"))
        .send()
        .await
        .unwrap();
    let done = s3
        .complete_multipart_upload()
        .bucket(b)
        .key(k)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    done.version_id().expect("version id").to_owned()
}

/// (mode, retain-until, legal hold) of a version as HEAD reports it.
async fn head_lock(s3: &Client, b: &str, k: &str, v: &str) -> (Option<String>, Option<DateTime>, Option<String>) {
    let h = s3.head_object().bucket(b).key(k).version_id(v).send().await.unwrap();
    (
        h.object_lock_mode().map(|m| m.as_str().to_owned()),
        h.object_lock_retain_until_date().copied(),
        h.object_lock_legal_hold_status().map(|s| s.as_str().to_owned()),
    )
}

fn no_lock() -> (Option<String>, Option<DateTime>, Option<String>) {
    (None, None, None)
}

#[tokio::test]
async fn w1_lock_headers_apply_on_put_copy_and_multipart() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w1").await;
    let until = days(2);
    let v = put_locked(&s3, &b, "put", M::Governance, &until).await;
    assert_eq!(head_lock(&s3, &b, "put", &v).await, (Some("GOVERNANCE".into()), Some(until), None));
    let copy = s3
        .copy_object()
        .bucket(&b)
        .key("copy")
        .copy_source(format!("{b}/put"))
        .object_lock_mode(M::Compliance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(Hold::On)
        .send()
        .await
        .unwrap();
    let cv = copy.version_id().unwrap();
    assert_eq!(head_lock(&s3, &b, "copy", cv).await, (Some("COMPLIANCE".into()), Some(until), Some("ON".into())));
    let mv = multipart(&s3, &b, "mpu", Some((M::Governance, until)), Some(Hold::Off)).await;
    assert_eq!(head_lock(&s3, &b, "mpu", &mv).await, (Some("GOVERNANCE".into()), Some(until), Some("OFF".into())));
}

#[tokio::test]
async fn w2_mode_and_date_travel_together() {
    // Also §14 scenario 15, on a lock bucket and on a plain bucket (W2 fires before W6).
    let srv = server();
    let s3 = srv.client();
    let lock = lock_bucket(&s3, "w2-lock").await;
    let plain = plain_bucket(&s3, "w2-plain").await;
    let date = iso(&days(1));
    for b in [&lock, &plain] {
        let r = raw_md5(&srv, "PUT", &format!("/{b}/k"), &[(MODE_HEADER, "GOVERNANCE")], b"x").await;
        assert_raw_err(&r, 400, "InvalidArgument", Some(BOTH));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some(DATE_HEADER));
        let r = raw_md5(&srv, "PUT", &format!("/{b}/k"), &[(DATE_HEADER, &date)], b"x").await;
        assert_raw_err(&r, 400, "InvalidArgument", Some(BOTH));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some(MODE_HEADER));
        // The SDK sees the same.
        let err =
            s3.put_object().bucket(b).key("k").object_lock_mode(M::Governance).body(b"x".to_vec().into()).send().await;
        assert_err(&err.unwrap_err(), "InvalidArgument", 400, Some(BOTH));
        // The same on CreateMultipartUpload and CopyObject.
        let r = raw(&srv, "POST", &format!("/{b}/k?uploads"), &[(MODE_HEADER, "COMPLIANCE")], b"").await;
        assert_raw_err(&r, 400, "InvalidArgument", Some(BOTH));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some(DATE_HEADER));
        let err = s3
            .copy_object()
            .bucket(b)
            .key("c")
            .copy_source(format!("{b}/nothing"))
            .object_lock_retain_until_date(days(1))
            .send()
            .await
            .unwrap_err();
        assert_err(&err, "InvalidArgument", 400, Some(BOTH));
        assert!(version_ids(&s3, b, "k").await.is_empty());
    }
}

#[tokio::test]
async fn w3_unknown_mode_header() {
    // Also §14 scenario 16.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w3").await;
    let date = iso(&days(1));
    for mode in ["BAD-VALUE", "governance", "Compliance"] {
        let r = raw_md5(&srv, "PUT", &format!("/{b}/k"), &[(MODE_HEADER, mode), (DATE_HEADER, &date)], b"x").await;
        assert_raw_err(&r, 400, "InvalidArgument", Some("Unknown wormMode directive."));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some(MODE_HEADER));
        assert_eq!(r.xml("ArgumentValue").as_deref(), Some(mode));
        let r = raw(&srv, "POST", &format!("/{b}/k?uploads"), &[(MODE_HEADER, mode), (DATE_HEADER, &date)], b"").await;
        assert_raw_err(&r, 400, "InvalidArgument", Some("Unknown wormMode directive."));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some(MODE_HEADER));
        assert_eq!(r.xml("ArgumentValue").as_deref(), Some(mode));
    }
    assert!(version_ids(&s3, &b, "k").await.is_empty());
    let uploads = s3.list_multipart_uploads().bucket(&b).send().await.unwrap();
    assert!(uploads.uploads().is_empty());
}

#[tokio::test]
async fn w4_unparsable_or_past_retain_until_date() {
    // Also §14 scenario 17.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w4").await;
    for bad in ["tomorrow", "2030-13-01T00:00:00Z", "Tue, 01 Jan 2030 00:00:00 GMT", "1893456000"] {
        for (method, path) in [("PUT", format!("/{b}/k")), ("POST", format!("/{b}/k?uploads"))] {
            let r = raw_md5(&srv, method, &path, &[(MODE_HEADER, "GOVERNANCE"), (DATE_HEADER, bad)], b"").await;
            assert_raw_err(
                &r,
                400,
                "InvalidArgument",
                Some("The retain until date must be provided in ISO 8601 format"),
            );
            assert_eq!(r.xml("ArgumentName").as_deref(), Some(DATE_HEADER), "{bad}");
        }
    }
    for past in ["2020-01-01T00:00:00Z".to_owned(), iso(&in_secs(-5))] {
        let r =
            raw_md5(&srv, "PUT", &format!("/{b}/k"), &[(MODE_HEADER, "COMPLIANCE"), (DATE_HEADER, &past)], b"x").await;
        assert_raw_err(&r, 400, "InvalidArgument", Some("The retain until date must be in the future!"));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some(DATE_HEADER));
    }
    let err = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(M::Governance)
        .object_lock_retain_until_date(in_secs(-60))
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "InvalidArgument", 400, Some("The retain until date must be in the future!"));
    assert!(version_ids(&s3, &b, "k").await.is_empty());
}

#[tokio::test]
async fn w4_r15_retain_until_header_accepts_iso8601_forms() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w4-forms").await;
    let want = DateTime::from_secs(1_893_456_000); // 2030-01-01T00:00:00Z
    for (i, form) in
        ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00.000Z", "2030-01-01T01:00:00+01:00"].into_iter().enumerate()
    {
        let key = format!("k{i}");
        let r = raw_md5(&srv, "PUT", &format!("/{b}/{key}"), &[(MODE_HEADER, "GOVERNANCE"), (DATE_HEADER, form)], b"x")
            .await;
        assert_eq!(r.status, 200, "{form}: {}", r.text());
        let v = r.header("x-amz-version-id").unwrap().to_owned();
        assert_eq!(head_lock(&s3, &b, &key, &v).await.1, Some(want), "{form}");
    }
}

#[tokio::test]
async fn w5_invalid_legal_hold_header() {
    // Also §14 scenario 18.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w5").await;
    for value in ["maybe", "on", "Off"] {
        let r = raw_md5(&srv, "PUT", &format!("/{b}/k"), &[(HOLD_HEADER, value)], b"x").await;
        assert_raw_err(&r, 400, "InvalidArgument", Some("Legal Hold must be either of 'ON' or 'OFF'"));
        assert_eq!(r.xml("ArgumentName").as_deref(), Some(HOLD_HEADER));
        let r = raw(&srv, "POST", &format!("/{b}/k?uploads"), &[(HOLD_HEADER, value)], b"").await;
        assert_raw_err(&r, 400, "InvalidArgument", Some("Legal Hold must be either of 'ON' or 'OFF'"));
    }
    assert!(version_ids(&s3, &b, "k").await.is_empty());
}

#[tokio::test]
async fn w6_lock_headers_on_plain_bucket() {
    // Also §14 scenario 19.
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "w6").await;
    s3.put_object().bucket(&b).key("src").body(b"src".to_vec().into()).send().await.unwrap();
    let until = days(1);
    let err = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(M::Governance)
        .object_lock_retain_until_date(until)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "InvalidRequest", 400, Some(MISSING_LOCK));
    let err = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_legal_hold_status(Hold::On)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "InvalidRequest", 400, Some(MISSING_LOCK));
    let err = s3
        .copy_object()
        .bucket(&b)
        .key("k")
        .copy_source(format!("{b}/src"))
        .object_lock_mode(M::Compliance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "InvalidRequest", 400, Some(MISSING_LOCK));
    let err = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .object_lock_legal_hold_status(Hold::Off)
        .send()
        .await
        .unwrap_err();
    assert_err(&err, "InvalidRequest", 400, Some(MISSING_LOCK));
    let list = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<_> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["src"]);
    assert!(s3.list_multipart_uploads().bucket(&b).send().await.unwrap().uploads().is_empty());
}

#[tokio::test]
async fn w7_dp4_locked_put_needs_an_integrity_header() {
    // Also §14 scenario 20.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w7").await;
    let date = iso(&days(1));
    let lock = [(MODE_HEADER, "GOVERNANCE"), (DATE_HEADER, date.as_str())];
    let r = raw(&srv, "PUT", &format!("/{b}/k"), &lock, b"body").await;
    assert_raw_err(&r, 400, "InvalidRequest", Some(NEEDS_INTEGRITY));
    let r = raw(&srv, "PUT", &format!("/{b}/k"), &[(HOLD_HEADER, "OFF")], b"body").await;
    assert_raw_err(&r, 400, "InvalidRequest", Some(NEEDS_INTEGRITY));
    assert!(version_ids(&s3, &b, "k").await.is_empty());
    // x-amz-checksum-crc32 is enough.
    let crc = {
        let mut d = holdfast_engine::checksum::Digest::new(holdfast_meta::ChecksumAlgorithm::Crc32);
        d.update(b"body");
        holdfast_engine::checksum::encode(&d.finalize())
    };
    let mut with_crc = lock.to_vec();
    with_crc.push(("x-amz-checksum-crc32", crc.as_str()));
    let r = raw(&srv, "PUT", &format!("/{b}/k"), &with_crc, b"body").await;
    assert_eq!(r.status, 200, "{}", r.text());
    // And so is Content-MD5.
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k"), &lock, b"body").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(version_ids(&s3, &b, "k").await.len(), 2);
    // A plain write without lock parameters into a bucket without a default needs none.
    let r = raw(&srv, "PUT", &format!("/{b}/plain"), &[], b"body").await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn w7_dp4_upload_part_of_locked_upload_needs_an_integrity_header() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w7-part").await;
    let up = s3
        .create_multipart_upload()
        .bucket(&b)
        .key("k")
        .object_lock_mode(M::Governance)
        .object_lock_retain_until_date(days(1))
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let r = raw(&srv, "PUT", &format!("/{b}/k?partNumber=1&uploadId={id}"), &[], b"part").await;
    assert_raw_err(&r, 400, "InvalidRequest", Some(NEEDS_INTEGRITY));
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k?partNumber=1&uploadId={id}"), &[], b"part").await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn w7_w9_default_retention_bucket_needs_an_integrity_header() {
    // §14 scenario 21.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w7-default").await;
    set_default(&s3, &b, Some((RM::Governance, Some(1), None))).await;
    let r = raw(&srv, "PUT", &format!("/{b}/k"), &[], b"body").await;
    assert_raw_err(&r, 400, "InvalidRequest", Some(NEEDS_INTEGRITY));
    assert!(version_ids(&s3, &b, "k").await.is_empty());
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k"), &[], b"body").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.header("x-amz-version-id").unwrap().to_owned();
    let h = s3.head_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    assert_eq!(h.object_lock_mode(), Some(&M::Governance));
    let lm = h.last_modified().unwrap().to_millis().unwrap();
    let until = h.object_lock_retain_until_date().unwrap().to_millis().unwrap();
    // Last-Modified has second precision, retain-until milliseconds (W9: exact, not rounded).
    assert!((86_400_000..86_401_000).contains(&(until - lm)), "retain-until {until} vs last-modified {lm}");
}

#[tokio::test]
async fn w9_default_retention_applies_to_put_copy_and_multipart() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w9").await;
    set_default(&s3, &b, Some((RM::Compliance, Some(1), None))).await;
    let v = put(&s3, &b, "put", b"x").await;
    let copy = s3.copy_object().bucket(&b).key("copy").copy_source(format!("{b}/put")).send().await.unwrap();
    let cv = copy.version_id().unwrap().to_owned();
    let mv = multipart(&s3, &b, "mpu", None, None).await;
    for (k, v) in [("put", v), ("copy", cv), ("mpu", mv)] {
        let h = s3.head_object().bucket(&b).key(k).version_id(&v).send().await.unwrap();
        assert_eq!(h.object_lock_mode(), Some(&M::Compliance), "{k}");
        assert_eq!(h.object_lock_legal_hold_status(), None, "{k}");
        let lm = h.last_modified().unwrap().to_millis().unwrap();
        let until = h.object_lock_retain_until_date().unwrap().to_millis().unwrap();
        assert!((86_400_000..86_401_000).contains(&(until - lm)), "{k}: {until} vs {lm}");
    }
}

#[tokio::test]
async fn w9_dp6_default_years_are_calendar_years() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w9-years").await;
    set_default(&s3, &b, Some((RM::Governance, None, Some(2)))).await;
    let v = put(&s3, &b, "k", b"x").await;
    let h = s3.head_object().bucket(&b).key("k").version_id(&v).send().await.unwrap();
    let lm = iso(h.last_modified().unwrap());
    let until = iso(h.object_lock_retain_until_date().unwrap());
    let year = |s: &str| s[..4].parse::<i32>().unwrap();
    assert_eq!(year(&until), year(&lm) + 2, "{lm} -> {until}");
    if &lm[4..10] != "-02-29" {
        // Same month, day and second (Feb 29 would land on Feb 28, DP6).
        assert_eq!(&until[4..19], &lm[4..19], "{lm} -> {until}");
    }
}

#[tokio::test]
async fn w9_legal_hold_header_does_not_suppress_the_default() {
    // §14 scenario 23.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w9-hold").await;
    set_default(&s3, &b, Some((RM::Governance, Some(3), None))).await;
    let v = put_held(&s3, &b, "k").await;
    let (mode, until, hold) = head_lock(&s3, &b, "k", &v).await;
    assert_eq!((mode.as_deref(), hold.as_deref()), (Some("GOVERNANCE"), Some("ON")));
    let lm = s3
        .head_object()
        .bucket(&b)
        .key("k")
        .version_id(&v)
        .send()
        .await
        .unwrap()
        .last_modified()
        .unwrap()
        .to_millis()
        .unwrap();
    let until = until.unwrap().to_millis().unwrap();
    assert!((3 * 86_400_000..3 * 86_400_000 + 1000).contains(&(until - lm)));
}

#[tokio::test]
async fn w10_explicit_retention_beats_the_default() {
    // Also §14 scenario 24.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w10").await;
    set_default(&s3, &b, Some((RM::Compliance, None, Some(1)))).await;
    let short = in_secs(120);
    let v = put_locked(&s3, &b, "k", M::Governance, &short).await;
    assert_eq!(head_lock(&s3, &b, "k", &v).await, (Some("GOVERNANCE".into()), Some(short), None));
    // ...and it is really GOVERNANCE: root may remove it with bypass.
    s3.delete_object().bucket(&b).key("k").version_id(&v).bypass_governance_retention(true).send().await.unwrap();
}

#[tokio::test]
async fn w11_overwrite_of_protected_version_creates_a_new_version() {
    // Also §14 scenario 25.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w11").await;
    let until = days(1);
    let locked = s3
        .put_object()
        .bucket(&b)
        .key("k")
        .object_lock_mode(M::Compliance)
        .object_lock_retain_until_date(until)
        .object_lock_legal_hold_status(Hold::On)
        .body(b"original".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    s3.put_object().bucket(&b).key("src").body(b"copied".to_vec().into()).send().await.unwrap();
    let v2 = put(&s3, &b, "k", b"overwrite").await;
    let v3 = s3
        .copy_object()
        .bucket(&b)
        .key("k")
        .copy_source(format!("{b}/src"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let v4 = multipart(&s3, &b, "k", None, None).await;
    let all = [v4.clone(), v3.clone(), v2.clone(), locked.clone()];
    assert_eq!(version_ids(&s3, &b, "k").await, all.to_vec());
    assert_eq!(all.iter().collect::<std::collections::HashSet<_>>().len(), 4, "distinct version ids");
    assert_eq!(head_lock(&s3, &b, "k", &locked).await, (Some("COMPLIANCE".into()), Some(until), Some("ON".into())));
    let body =
        s3.get_object().bucket(&b).key("k").version_id(&locked).send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(&body.into_bytes()[..], b"original");
    let cur = s3.head_object().bucket(&b).key("k").send().await.unwrap();
    assert_eq!(cur.version_id(), Some(v4.as_str()));
    assert_eq!(cur.object_lock_mode(), None);
}

#[tokio::test]
async fn w12_write_responses_do_not_echo_lock_state() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w12").await;
    let date = iso(&days(1));
    let lock = [(MODE_HEADER, "GOVERNANCE"), (DATE_HEADER, date.as_str()), (HOLD_HEADER, "ON")];
    let no_lock_headers = |r: &holdfast_testkit::RawResponse, what: &str| {
        assert!(r.status == 200, "{what}: {} {}", r.status, r.text());
        assert!(r.headers.iter().all(|(k, _)| !k.starts_with("x-amz-object-lock")), "{what}: {:?}", r.headers);
        assert!(!r.text().contains("ObjectLock"), "{what}: {}", r.text());
    };
    let r = raw_md5(&srv, "PUT", &format!("/{b}/k"), &lock, b"x").await;
    no_lock_headers(&r, "PutObject");
    let src = format!("/{b}/k");
    let mut copy = lock.to_vec();
    copy.push(("x-amz-copy-source", src.as_str()));
    let r = raw(&srv, "PUT", &format!("/{b}/copy"), &copy, b"").await;
    no_lock_headers(&r, "CopyObject");
    let r = raw(&srv, "POST", &format!("/{b}/mpu?uploads"), &lock, b"").await;
    no_lock_headers(&r, "CreateMultipartUpload");
    let id = r.xml("UploadId").unwrap();
    let r = raw_md5(&srv, "PUT", &format!("/{b}/mpu?partNumber=1&uploadId={id}"), &[], b"part").await;
    let etag = r.header("etag").unwrap().to_owned();
    let complete = format!(
        "<CompleteMultipartUpload xmlns=\"{NS}\"><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let r = raw(&srv, "POST", &format!("/{b}/mpu?uploadId={id}"), &[], complete.as_bytes()).await;
    no_lock_headers(&r, "CompleteMultipartUpload");
    // The lock state was applied all the same.
    let v = r.header("x-amz-version-id").unwrap().to_owned();
    assert_eq!(head_lock(&s3, &b, "mpu", &v).await.2.as_deref(), Some("ON"));
}

#[tokio::test]
async fn w13_copy_does_not_inherit_the_source_lock() {
    // Also §14 scenario 26.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w13").await;
    let src = s3
        .put_object()
        .bucket(&b)
        .key("src")
        .object_lock_mode(M::Compliance)
        .object_lock_retain_until_date(days(1))
        .object_lock_legal_hold_status(Hold::On)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert!(src.version_id().is_some());
    let out = s3.copy_object().bucket(&b).key("dst").copy_source(format!("{b}/src")).send().await.unwrap();
    let v = out.version_id().unwrap();
    assert_eq!(head_lock(&s3, &b, "dst", v).await, no_lock());
    assert_eq!(get_retention(&s3, &b, "dst", v).await, None);
    let err = s3.get_object_legal_hold().bucket(&b).key("dst").version_id(v).send().await.unwrap_err();
    assert_err(&err, "NoSuchObjectLockConfiguration", 404, None);
    // The copy is not protected: it can be removed.
    s3.delete_object().bucket(&b).key("dst").version_id(v).send().await.unwrap();
    // With a destination default, the copy gets the default, not the source's lock.
    set_default(&s3, &b, Some((RM::Governance, Some(1), None))).await;
    let out = s3.copy_object().bucket(&b).key("dst2").copy_source(format!("{b}/src")).send().await.unwrap();
    let (mode, _, hold) = head_lock(&s3, &b, "dst2", out.version_id().unwrap()).await;
    assert_eq!((mode.as_deref(), hold), (Some("GOVERNANCE"), None));
}

#[tokio::test]
async fn w14_multipart_lock_is_applied_at_completion() {
    // Also §14 scenario 27.
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "w14").await;
    let v = multipart(&s3, &b, "gov", Some((M::Governance, days(1))), None).await;
    let err = s3.delete_object().bucket(&b).key("gov").version_id(&v).send().await.unwrap_err();
    assert_locked(&err);
    assert_eq!(version_ids(&s3, &b, "gov").await, vec![v.clone()]);
    let out =
        s3.delete_object().bucket(&b).key("gov").version_id(&v).bypass_governance_retention(true).send().await.unwrap();
    assert_eq!(out.version_id(), Some(v.as_str()));
    assert!(version_ids(&s3, &b, "gov").await.is_empty());
    let v = multipart(&s3, &b, "held", None, Some(Hold::On)).await;
    let err = s3
        .delete_object()
        .bucket(&b)
        .key("held")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    assert_locked(&err);
    set_hold(&s3, &b, "held", Some(&v), Hold::Off).await;
    s3.delete_object().bucket(&b).key("held").version_id(&v).send().await.unwrap();
}

#[tokio::test]
async fn w15_new_writes_get_real_version_ids_and_old_null_versions_stay_addressable() {
    let srv = server();
    let s3 = srv.client();
    let b = plain_bucket(&s3, "w15").await;
    s3.put_object().bucket(&b).key("k").body(b"null version".to_vec().into()).send().await.unwrap();
    set_versioning(&s3, &b, BucketVersioningStatus::Enabled).await;
    set_default(&s3, &b, None).await;
    // The old null version is an ordinary version for lock purposes.
    s3.put_object_retention()
        .bucket(&b)
        .key("k")
        .version_id("null")
        .retention(retention(RM::Governance, &days(1)))
        .send()
        .await
        .unwrap();
    let err = s3.delete_object().bucket(&b).key("k").version_id("null").send().await.unwrap_err();
    assert_locked(&err);
    let v = put(&s3, &b, "k", b"new").await;
    assert_ne!(v, "null");
    assert_eq!(v.len(), 32);
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v.clone(), "null".to_owned()]);
    let h = s3.head_object().bucket(&b).key("k").version_id("null").send().await.unwrap();
    assert_eq!(h.object_lock_mode(), Some(&M::Governance));
    s3.delete_object().bucket(&b).key("k").version_id("null").bypass_governance_retention(true).send().await.unwrap();
    assert_eq!(version_ids(&s3, &b, "k").await, vec![v]);
}
