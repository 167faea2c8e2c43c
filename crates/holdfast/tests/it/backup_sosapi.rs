//! Veeam's Smart Object Storage API and the bucket quota (issue #18): the generated
//! `system.xml` / `capacity.xml` byte for byte and parsed back, figures equal to the data
//! volume's (statvfs less the reserve) or to the quota and the bucket's bytes, updated as
//! data grows; writes under the system prefix refused; writes over the quota refused with
//! 507 and nothing stored.

use crate::evidence_support::{BIN, holdfast};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{Delete, ObjectIdentifier};
use holdfast_testkit::{Server, ServerOptions, bucket_name, error_code};
use std::collections::BTreeMap;

const SYSTEM: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/system.xml";
const CAPACITY: &str = ".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/capacity.xml";
/// The reserve the test kit configures (`[limits] min_free_bytes`).
const RESERVE: u64 = 16 << 20;

fn admin(srv: &Server, args: &[&str]) -> String {
    let data = srv.data_dir.to_str().unwrap().to_owned();
    let cfg = srv.data_dir.with_extension("toml");
    let mut all: Vec<&str> = vec!["admin"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--data-dir", &data, "--config", cfg.to_str().unwrap()]);
    let (ok, out, err) = holdfast(&all);
    assert!(ok, "holdfast {all:?}: {out}{err}");
    out
}

async fn get(s3: &Client, b: &str, k: &str) -> (Vec<u8>, String, String) {
    let o = s3.get_object().bucket(b).key(k).send().await.unwrap();
    let etag = o.e_tag().unwrap().to_owned();
    let lm = o.last_modified().unwrap().secs().to_string();
    (o.body.collect().await.unwrap().into_bytes().to_vec(), etag, lm)
}

/// The element paths and texts of an XML document, parsed strictly (quick-xml checks
/// that it is well formed).
fn parse(xml: &[u8]) -> BTreeMap<String, String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let (mut path, mut out, mut buf) = (Vec::<String>::new(), BTreeMap::new(), Vec::new());
    loop {
        match reader.read_event_into(&mut buf).unwrap() {
            quick_xml::events::Event::Start(e) => path.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap()),
            quick_xml::events::Event::End(_) => {
                path.pop();
            }
            quick_xml::events::Event::Text(t) => {
                let text = t.decode().unwrap().trim().to_owned();
                if !text.is_empty() {
                    out.insert(path.join("/"), text);
                }
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out
}

fn capacity(xml: &[u8]) -> (u64, u64, u64) {
    let m = parse(xml);
    assert_eq!(m.len(), 3, "{m:?}");
    let n = |k: &str| m[&format!("CapacityInfo/{k}")].parse::<u64>().unwrap();
    (n("Capacity"), n("Available"), n("Used"))
}

/// Free (unprivileged) and total bytes of the volume holding `dir`.
fn statvfs(dir: &std::path::Path) -> (u64, u64) {
    let out = std::process::Command::new("stat").args(["-f", "-c", "%a %b %S"]).arg(dir).output().unwrap();
    let v: Vec<u64> = String::from_utf8(out.stdout).unwrap().split_whitespace().map(|x| x.parse().unwrap()).collect();
    (v[0] * v[2], v[1] * v[2])
}

#[tokio::test]
async fn sosapi_objects_are_generated_consistent_and_read_only() {
    let srv = Server::start_with(
        BIN,
        ServerOptions {
            config_toml: "[sosapi]\nenabled = true\nkb_block_size = 4096\ns3_multi_object_delete_limit = 1000\n".into(),
            ..Default::default()
        },
    );
    let s3 = srv.client();
    let b = bucket_name("sos");
    s3.create_bucket().bucket(&b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let (body, etag, lm) = get(&s3, &b, SYSTEM).await;
    let expected = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SystemInfo>\n  <ProtocolVersion>\"1.0\"</ProtocolVersion>\n  \
         <ModelName>\"Holdfast {}\"</ModelName>\n  <ProtocolCapabilities>\n    <CapacityInfo>true</CapacityInfo>\n    \
         <UploadSessions>false</UploadSessions>\n    <IAMSTS>false</IAMSTS>\n  </ProtocolCapabilities>\n  \
         <SystemRecommendations>\n    <S3MultiObjectDeleteLimit>1000</S3MultiObjectDeleteLimit>\n    \
         <KbBlockSize>4096</KbBlockSize>\n  </SystemRecommendations>\n</SystemInfo>\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(String::from_utf8(body.clone()).unwrap(), expected);
    let m = parse(&body);
    assert_eq!(m["SystemInfo/ProtocolVersion"], "\"1.0\"");
    assert_eq!(m["SystemInfo/ProtocolCapabilities/CapacityInfo"], "true");
    assert_eq!(m["SystemInfo/ProtocolCapabilities/UploadSessions"], "false");
    assert_eq!(m["SystemInfo/ProtocolCapabilities/IAMSTS"], "false");
    assert_eq!(m["SystemInfo/SystemRecommendations/KbBlockSize"], "4096");
    assert_eq!(etag, format!("\"{}\"", hex::encode(<md5::Md5 as md5::Digest>::digest(&body))));
    // HEAD and the listing agree with GET.
    let head = s3.head_object().bucket(&b).key(SYSTEM).send().await.unwrap();
    assert_eq!(head.e_tag(), Some(etag.as_str()));
    assert_eq!(head.last_modified().unwrap().secs().to_string(), lm);
    assert_eq!(head.content_length(), Some(body.len() as i64));
    assert_eq!(head.content_type(), Some("application/xml"));
    let listed = s3.list_objects_v2().bucket(&b).send().await.unwrap();
    let keys: Vec<_> = listed.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, [CAPACITY, SYSTEM]);
    let sys = &listed.contents()[1];
    assert_eq!(sys.e_tag(), Some(etag.as_str()));
    assert_eq!(sys.size(), Some(body.len() as i64));
    assert_eq!(sys.last_modified().unwrap().secs().to_string(), lm);
    let v1 = s3.list_objects().bucket(&b).delimiter("/").send().await.unwrap();
    assert!(v1.contents().is_empty());
    let prefixes: Vec<_> = v1.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(prefixes, [".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/"]);
    let paged = s3.list_objects_v2().bucket(&b).max_keys(1).send().await.unwrap();
    assert_eq!(paged.contents()[0].key(), Some(CAPACITY));
    assert_eq!(paged.is_truncated(), Some(true));
    let next = s3
        .list_objects_v2()
        .bucket(&b)
        .max_keys(1)
        .continuation_token(paged.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(next.contents()[0].key(), Some(SYSTEM));

    // capacity.xml: the data volume less the reserve, updated as data grows.
    let (cap_body, _, _) = get(&s3, &b, CAPACITY).await;
    let (c, a, u) = capacity(&cap_body);
    let (free, total) = statvfs(&srv.data_dir);
    assert_eq!(c, total - RESERVE, "Capacity: the volume less the reserve");
    assert_eq!(u, c - a);
    assert!(a.abs_diff(free.saturating_sub(RESERVE)) < 256 << 20, "Available {a} vs statvfs {free}");
    let chead = s3.head_object().bucket(&b).key(CAPACITY).send().await.unwrap();
    assert_eq!(chead.content_length(), Some(cap_body.len() as i64));

    // Nothing under the prefix can be written, deleted or locked.
    let e = s3.put_object().bucket(&b).key(SYSTEM).body(ByteStream::from_static(b"<x/>")).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("AccessDenied"));
    let e = s3
        .put_object()
        .bucket(&b)
        .key(".system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/other")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("AccessDenied"));
    let e = s3.delete_object().bucket(&b).key(CAPACITY).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("AccessDenied"));
    // Nor by a replication request (the root may replicate): the single PUT as the upload.
    let addr = srv.addr.to_string();
    let replica = [
        ("x-holdfast-replication-source-version-id", "01a24e6bccbb70b28b2093ea57dea902"),
        ("x-holdfast-replication-last-modified", "1796612368849"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    for (method, query) in [("PUT", ""), ("POST", "?uploads=")] {
        let (ak, sk) = (holdfast_testkit::ROOT_AK, holdfast_testkit::ROOT_SK);
        let path = format!("/{b}/{SYSTEM}{query}");
        let now = std::time::SystemTime::now();
        let req = holdfast_testkit::signed_request(&addr, method, &path, &replica, b"<x/>", ak, sk, now);
        let answer = holdfast_testkit::raw_http(&addr, req).await.unwrap();
        assert_eq!((answer.status, answer.xml("Code").as_deref()), (403, Some("AccessDenied")), "{method}");
    }
    let e = s3.create_multipart_upload().bucket(&b).key(SYSTEM).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("AccessDenied"));
    let e = s3.copy_object().bucket(&b).key(SYSTEM).copy_source(format!("{b}/{CAPACITY}")).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("AccessDenied"));
    let del = Delete::builder().objects(ObjectIdentifier::builder().key(SYSTEM).build().unwrap()).build().unwrap();
    let out = s3.delete_objects().bucket(&b).delete(del).send().await.unwrap();
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    assert!(out.deleted().is_empty());
    let versions = s3.list_object_versions().bucket(&b).send().await.unwrap();
    assert!(versions.versions().is_empty() && versions.delete_markers().is_empty(), "nothing was stored");
    let (again, etag2, lm2) = get(&s3, &b, SYSTEM).await;
    assert_eq!((again, etag2, lm2), (body, etag, lm), "still served, unchanged");
}

#[tokio::test]
async fn sosapi_per_bucket_and_quota_enforced_on_every_write() {
    let srv = Server::start_with(
        BIN,
        ServerOptions { config_toml: "[limits]\nmin_part_size = 100000\n".into(), ..Default::default() },
    );
    let s3 = srv.client();
    let (a, plain) = (bucket_name("sosa"), bucket_name("sosb"));
    for b in [&a, &plain] {
        s3.create_bucket().bucket(b).send().await.unwrap();
        s3.put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                holdfast_testkit::aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(holdfast_testkit::aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let e = s3.get_object().bucket(&a).key(SYSTEM).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("NoSuchKey"), "off by default");
    assert!(admin(&srv, &["sosapi", "enable", &a]).contains("enabled"));
    let (_, _, _) = get(&s3, &a, SYSTEM).await;
    let e = s3.get_object().bucket(&plain).key(SYSTEM).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("NoSuchKey"), "another bucket stays plain S3");

    // A quota: capacity.xml reports it and the bucket's bytes.
    let out = admin(&srv, &["bucket", "quota", &a, "--bytes", "1000000"]);
    assert!(out.contains("quota 1000000 bytes, 0 bytes stored"), "{out}");
    assert_eq!(capacity(&get(&s3, &a, CAPACITY).await.0), (1_000_000, 1_000_000, 0));
    let body = vec![7u8; 600_000];
    s3.put_object().bucket(&a).key("blk/1").body(ByteStream::from(body.clone())).send().await.unwrap();
    assert_eq!(capacity(&get(&s3, &a, CAPACITY).await.0), (1_000_000, 400_000, 600_000), "updated as data grows");
    // Over the quota: 507 InsufficientStorage, nothing stored, on every write path.
    let e =
        s3.put_object().bucket(&a).key("blk/2").body(ByteStream::from(vec![1u8; 400_001])).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("InsufficientStorage"));
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 507);
    let e = s3.copy_object().bucket(&a).key("blk/3").copy_source(format!("{a}/blk/1")).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("InsufficientStorage"));
    // An overwrite in a versioned bucket keeps the old version: it counts.
    let e = s3.put_object().bucket(&a).key("blk/1").body(ByteStream::from(body.clone())).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("InsufficientStorage"));
    let up = s3.create_multipart_upload().bucket(&a).key("mp").send().await.unwrap();
    let id = up.upload_id().unwrap();
    let e = s3
        .upload_part()
        .bucket(&a)
        .key("mp")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from(vec![2u8; 500_000]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("InsufficientStorage"), "a part that cannot fit");
    // Parts that fit one by one are judged again, together, by the store at completion.
    let mut parts = Vec::new();
    for n in 1..=2 {
        let p = s3
            .upload_part()
            .bucket(&a)
            .key("mp")
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(vec![3u8; 300_000]))
            .send()
            .await
            .unwrap();
        parts.push(
            holdfast_testkit::aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    let e = s3
        .complete_multipart_upload()
        .bucket(&a)
        .key("mp")
        .upload_id(id)
        .multipart_upload(
            holdfast_testkit::aws_sdk_s3::types::CompletedMultipartUpload::builder().set_parts(Some(parts)).build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("InsufficientStorage"), "judged in the completion's transaction");
    s3.abort_multipart_upload().bucket(&a).key("mp").upload_id(id).send().await.unwrap();
    let versions = s3.list_object_versions().bucket(&a).send().await.unwrap();
    let keys: Vec<_> = versions.versions().iter().map(|v| v.key().unwrap()).collect();
    assert_eq!(keys, ["blk/1"], "nothing over the quota was stored");
    assert_eq!(capacity(&get(&s3, &a, CAPACITY).await.0), (1_000_000, 400_000, 600_000));
    // Exactly up to the quota is allowed.
    s3.put_object().bucket(&a).key("blk/4").body(ByteStream::from(vec![4u8; 400_000])).send().await.unwrap();
    assert_eq!(capacity(&get(&s3, &a, CAPACITY).await.0), (1_000_000, 0, 1_000_000));
    // Cleared: writes go on; the other bucket never had one.
    admin(&srv, &["bucket", "quota", &a, "--clear"]);
    s3.put_object().bucket(&a).key("blk/5").body(ByteStream::from(vec![5u8; 10])).send().await.unwrap();
    s3.put_object().bucket(&plain).key(SYSTEM).body(ByteStream::from_static(b"mine")).send().await.unwrap();
    assert_eq!(get(&s3, &plain, SYSTEM).await.0, b"mine", "without SOSAPI the prefix is an ordinary key");
    admin(&srv, &["sosapi", "disable", &a]);
    let e = s3.get_object().bucket(&a).key(SYSTEM).send().await.unwrap_err();
    assert_eq!(error_code(&e).0.as_deref(), Some("NoSuchKey"));
    let (ok, _, err) = holdfast(&[
        "admin",
        "bucket",
        "quota",
        "no-such-bucket-q",
        "--bytes",
        "1",
        "--data-dir",
        srv.data_dir.to_str().unwrap(),
        "--config",
        srv.data_dir.with_extension("toml").to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("no bucket"), "{err}");
}

/// Concurrent writes that each fit alone: the store judges the quota in each write's
/// transaction (SQLite's one writer; PostgreSQL's lock on the quota document), so exactly
/// as many as fit are stored, never one more.
#[tokio::test]
async fn quota_is_exact_under_concurrent_writes() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = bucket_name("sosq");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    admin(&srv, &["bucket", "quota", &b, "--bytes", "1000000"]);
    let puts = (0..20).map(|i| {
        let (s3, b) = (s3.clone(), b.clone());
        tokio::spawn(async move {
            s3.put_object()
                .bucket(&b)
                .key(format!("k{i:02}"))
                .body(ByteStream::from(vec![i as u8; 100_000]))
                .send()
                .await
        })
    });
    let (mut stored, mut refused) = (0, 0);
    for p in futures::future::join_all(puts).await {
        match p.unwrap() {
            Ok(_) => stored += 1,
            Err(e) => {
                assert_eq!(error_code(&e), (Some("InsufficientStorage".into()), Some(507)));
                refused += 1;
            }
        }
    }
    assert_eq!((stored, refused), (10, 10));
    let out = admin(&srv, &["bucket", "quota", &b]);
    assert!(out.contains("quota 1000000 bytes, 1000000 bytes stored in 10 versions"), "{out}");
}
