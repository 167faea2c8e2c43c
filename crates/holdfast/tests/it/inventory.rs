//! The inventory configuration API (issue #14, first slice): Put/Get/List/Delete
//! BucketInventoryConfiguration with the lock fields, validated as AWS validates, up to
//! 1,000 per bucket, paged by continuation token. Every refusal stores nothing. The CSV
//! reports (second slice): written as AWS writes them, read back here with the SDK and an
//! independent gunzip, row by row against ListObjectVersions and HeadObject
//! (docs/inventory.md).

use crate::object_lock_support::*;
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::types::{
    InventoryConfiguration, InventoryDestination, InventoryFilter, InventoryFormat, InventoryFrequency,
    InventoryIncludedObjectVersions, InventoryOptionalField, InventoryS3BucketDestination, InventorySchedule,
};

const LOCK_FIELDS: [&str; 10] = [
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
    "IsMultipartUploaded",
    "ReplicationStatus",
    "ObjectLockMode",
    "ObjectLockRetainUntilDate",
    "ObjectLockLegalHoldStatus",
    "ChecksumAlgorithm",
];

fn config(id: &str, dest: &str, fields: &[&str], format: &str) -> InventoryConfiguration {
    InventoryConfiguration::builder()
        .id(id)
        .is_enabled(true)
        .filter(InventoryFilter::builder().prefix("logs/").build().unwrap())
        .included_object_versions(InventoryIncludedObjectVersions::All)
        .schedule(InventorySchedule::builder().frequency(InventoryFrequency::Daily).build().unwrap())
        .set_optional_fields(Some(fields.iter().map(|f| InventoryOptionalField::from(*f)).collect()))
        .destination(
            InventoryDestination::builder()
                .s3_bucket_destination(
                    InventoryS3BucketDestination::builder()
                        .bucket(format!("arn:aws:s3:::{dest}"))
                        .prefix("reports")
                        .format(InventoryFormat::from(format))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap()
}

async fn put(s3: &Client, b: &str, id: &str, c: InventoryConfiguration) -> Result<(), String> {
    s3.put_bucket_inventory_configuration()
        .bucket(b)
        .id(id)
        .inventory_configuration(c)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let (code, status, _) = err3(&e);
            format!("{} {}", status.unwrap_or(0), code.unwrap_or_default())
        })
}

async fn ids(s3: &Client, b: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_bucket_inventory_configurations()
            .bucket(b)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        out.extend(page.inventory_configuration_list().iter().map(|c| c.id().to_owned()));
        if page.is_truncated() != Some(true) {
            return out;
        }
        token = Some(page.next_continuation_token().unwrap().to_owned());
    }
}

#[tokio::test]
async fn inventory_configuration_round_trips_with_lock_fields() {
    let srv = server();
    let s3 = srv.client();
    let src = lock_bucket(&s3, "invsrc").await;
    let dst = plain_bucket(&s3, "invdst").await;
    let sent = config("lock-report", &dst, &LOCK_FIELDS, "CSV");
    put(&s3, &src, "lock-report", sent.clone()).await.unwrap();
    let got = s3.get_bucket_inventory_configuration().bucket(&src).id("lock-report").send().await.unwrap();
    assert_eq!(got.inventory_configuration(), Some(&sent));

    // The same id again replaces it: Parquet, weekly, current versions, no filter.
    let mut second = config("lock-report", &dst, &["ObjectLockMode", "ObjectLockLegalHoldStatus"], "Parquet");
    second.filter = None;
    second.is_enabled = false;
    second.schedule = Some(InventorySchedule::builder().frequency(InventoryFrequency::Weekly).build().unwrap());
    second.included_object_versions = InventoryIncludedObjectVersions::Current;
    put(&s3, &src, "lock-report", second.clone()).await.unwrap();
    let got = s3.get_bucket_inventory_configuration().bucket(&src).id("lock-report").send().await.unwrap();
    assert_eq!(got.inventory_configuration(), Some(&second));
    assert_eq!(ids(&s3, &src).await, ["lock-report"]);

    // Deleted: Get and a second Delete answer NoSuchConfiguration; the list is empty.
    s3.delete_bucket_inventory_configuration().bucket(&src).id("lock-report").send().await.unwrap();
    let e = s3.get_bucket_inventory_configuration().bucket(&src).id("lock-report").send().await.unwrap_err();
    assert_err(&e, "NoSuchConfiguration", 404, None);
    let e = s3.delete_bucket_inventory_configuration().bucket(&src).id("lock-report").send().await.unwrap_err();
    assert_err(&e, "NoSuchConfiguration", 404, None);
    assert!(ids(&s3, &src).await.is_empty());
}

#[tokio::test]
async fn inventory_configurations_list_in_pages_up_to_a_thousand() {
    let srv = server();
    let s3 = srv.client();
    let src = plain_bucket(&s3, "invlist").await;
    let dst = plain_bucket(&s3, "invlistd").await;
    let want: Vec<String> = (0..1000).map(|i| format!("cfg-{i:04}")).collect();
    for id in want.iter().rev() {
        put(&s3, &src, id, config(id, &dst, &["Size"], "CSV")).await.unwrap();
    }
    // The first page: 100, truncated, with a token.
    let first = s3.list_bucket_inventory_configurations().bucket(&src).send().await.unwrap();
    assert_eq!(first.inventory_configuration_list().len(), 100);
    assert_eq!(first.is_truncated(), Some(true));
    assert!(first.next_continuation_token().is_some());
    assert_eq!(ids(&s3, &src).await, want);

    // The 1,001st is refused; replacing one of the 1,000 is not.
    assert_eq!(
        put(&s3, &src, "one-more", config("one-more", &dst, &[], "CSV")).await,
        Err("400 TooManyConfigurations".into())
    );
    put(&s3, &src, "cfg-0500", config("cfg-0500", &dst, &["ETag"], "Parquet")).await.unwrap();
    assert_eq!(ids(&s3, &src).await, want);

    // A token the server did not give.
    let e = s3
        .list_bucket_inventory_configurations()
        .bucket(&src)
        .continuation_token("not a token")
        .send()
        .await
        .unwrap_err();
    assert_err(&e, "InvalidArgument", 400, None);
}

#[tokio::test]
async fn inventory_refusals_store_nothing() {
    let srv = server();
    let s3 = srv.client();
    let src = lock_bucket(&s3, "invbad").await;
    let dst = plain_bucket(&s3, "invbadd").await;
    let ok = || config("r", &dst, &LOCK_FIELDS, "CSV");
    let with_dest = |bucket: &str, format: &str| {
        let mut c = ok();
        c.destination = Some(
            InventoryDestination::builder()
                .s3_bucket_destination(
                    InventoryS3BucketDestination::builder()
                        .bucket(bucket)
                        .format(InventoryFormat::from(format))
                        .build()
                        .unwrap(),
                )
                .build(),
        );
        c
    };
    let mut bad_frequency = ok();
    bad_frequency.schedule =
        Some(InventorySchedule::builder().frequency(InventoryFrequency::from("Hourly")).build().unwrap());
    let mut bad_versions = ok();
    bad_versions.included_object_versions = InventoryIncludedObjectVersions::from("Some");
    let cases: Vec<(&str, &str, InventoryConfiguration, &str)> = vec![
        ("id mismatch between query and body", "other", ok(), "400 InvalidArgument"),
        ("unknown optional field", "r", config("r", &dst, &["Size", "Colour"], "CSV"), "400 InvalidArgument"),
        ("duplicate optional field", "r", config("r", &dst, &["Size", "Size"], "CSV"), "400 InvalidArgument"),
        ("destination bucket missing", "r", with_dest("arn:aws:s3:::no-such-bucket-inv", "CSV"), "400 InvalidArgument"),
        ("destination not an ARN", "r", with_dest(&dst, "CSV"), "400 InvalidArgument"),
        ("id with a space", "a b", config("a b", &dst, &[], "CSV"), "400 InvalidArgument"),
        ("ORC format", "r", with_dest(&format!("arn:aws:s3:::{dst}"), "ORC"), "501 NotImplemented"),
        ("unknown format", "r", with_dest(&format!("arn:aws:s3:::{dst}"), "JSON"), "400 MalformedXML"),
        ("unknown frequency", "r", bad_frequency, "400 MalformedXML"),
        ("unknown versions", "r", bad_versions, "400 MalformedXML"),
    ];
    for (why, id, c, want) in cases {
        assert_eq!(put(&s3, &src, id, c).await, Err(want.to_owned()), "{why}");
    }
    assert_eq!(put(&s3, "no-such-source-inv", "r", ok()).await, Err("404 NoSuchBucket".into()));

    // Bodies the strict XML layer refuses: an element spelled wrong, one it does not know.
    let body = |inner: &str| {
        format!(
            "<InventoryConfiguration xmlns=\"{NS}\"><Id>r</Id><IsEnabled>true</IsEnabled>{inner}\
             <Destination><S3BucketDestination><Bucket>arn:aws:s3:::{dst}</Bucket><Format>CSV</Format></S3BucketDestination></Destination>\
             <IncludedObjectVersions>All</IncludedObjectVersions><Schedule><Frequency>Daily</Frequency></Schedule></InventoryConfiguration>"
        )
    };
    let path = format!("/{src}?inventory&id=r");
    for inner in [
        "<OptionalFields><field>Size</field></OptionalFields>",
        "<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>",
        "<Frequency>Daily</Frequency>",
        "<OptionalFields><Field>Size</Field>",
    ] {
        let r = raw(&srv, "PUT", &path, &[], body(inner).as_bytes()).await;
        assert_raw_err(&r, 400, "MalformedXML", Some(MALFORMED));
    }
    let r = raw(&srv, "PUT", &path, &[], b"<InventoryConfiguration><Id>r</Id></InventoryConfiguration>").await;
    assert_raw_err(&r, 400, "MalformedXML", None);
    // The same body with nothing wrong is taken.
    let r = raw(&srv, "PUT", &path, &[], body("").as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    s3.delete_bucket_inventory_configuration().bucket(&src).id("r").send().await.unwrap();

    assert!(ids(&s3, &src).await.is_empty());
    let e = s3.get_bucket_inventory_configuration().bucket(&src).id("r").send().await.unwrap_err();
    assert_err(&e, "NoSuchConfiguration", 404, None);
}

/// Two gateways on one PostgreSQL store, each adding 40 configurations to the same bucket at
/// once: every one of the 80 is kept (the bucket's document is changed by compare-and-swap).
#[tokio::test]
async fn inventory_puts_on_two_gateways_at_once_lose_nothing() {
    use holdfast_testkit::{Postgres, Server, ServerOptions};
    let url = Postgres::shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = || ServerOptions {
        config_toml: format!("[meta]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 8\n"),
        ..Default::default()
    };
    let gateways: Vec<Server> =
        (0..2).map(|_| Server::start_in(env!("CARGO_BIN_EXE_holdfast"), &data, options())).collect();
    let clients: Vec<Client> = gateways.iter().map(Server::client).collect();
    let src = plain_bucket(&clients[0], "invrace").await;
    let dst = plain_bucket(&clients[0], "invraced").await;
    let mut want: Vec<String> = Vec::new();
    let mut puts = Vec::new();
    for (g, s3) in clients.iter().enumerate() {
        for i in 0..40 {
            let id = format!("g{g}-{i:02}");
            want.push(id.clone());
            let (s3, src, dst) = (s3.clone(), src.clone(), dst.clone());
            puts.push(tokio::spawn(async move { put(&s3, &src, &id, config(&id, &dst, &["Size"], "CSV")).await }));
        }
    }
    for p in puts {
        p.await.unwrap().unwrap();
    }
    want.sort();
    assert_eq!(ids(&clients[1], &src).await, want);
}

/// A CSV line as AWS writes it (every value quoted, `""` inside a value).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', q) => quoted = !q,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `unquote_plus`: what a reader of AWS's CSV does to the Key column.
fn unquote_plus(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

async fn get_bytes(s3: &Client, b: &str, k: &str) -> Vec<u8> {
    s3.get_object().bucket(b).key(k).send().await.unwrap().body.collect().await.unwrap().into_bytes().to_vec()
}

fn md5_hex(b: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(b))
}

#[tokio::test]
async fn inventory_csv_report_matches_the_api_row_by_row() {
    use holdfast_testkit::aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
    use holdfast_testkit::aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode, ReplicationStatus};
    use std::collections::HashMap;
    use std::io::Read as _;

    // One inventory "day" is a second: the first report follows the configuration at once.
    let srv = holdfast_testkit::Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        holdfast_testkit::ServerOptions { config_toml: "[inventory]\nday_seconds = 1\n".into(), ..Default::default() },
    );
    let s3 = srv.client();
    let src = lock_bucket(&s3, "invrep").await;
    let dst = plain_bucket(&s3, "invrepd").await;
    // Replicated to a third bucket, so ReplicationStatus has a value to compare.
    let replica = lock_bucket(&s3, "invrepr").await;
    let rule = crate::replication::rule("all", 1, "", &format!("arn:aws:s3:::{replica}"), false);
    s3.put_bucket_replication()
        .bucket(&src)
        .replication_configuration(crate::replication::config(vec![rule]))
        .send()
        .await
        .unwrap();
    crate::object_lock_support::put(&s3, &src, "logs/plain", b"unlocked").await;
    put_locked(&s3, &src, "logs/gov", ObjectLockMode::Governance, &in_secs(3600)).await;
    put_locked(&s3, &src, "logs/comp", ObjectLockMode::Compliance, &in_secs(120)).await;
    put_held(&s3, &src, "logs/held").await;
    crate::object_lock_support::put(&s3, &src, "logs/a key+é,\"q\"", b"odd key").await;
    s3.delete_object().bucket(&src).key("logs/plain").send().await.unwrap();
    crate::object_lock_support::put(&s3, &src, "other/outside", b"not in the filter").await;
    let before = s3.list_object_versions().bucket(&src).prefix("logs/").send().await.unwrap();
    for v in before.versions() {
        let (k, vid) = (v.key().unwrap(), v.version_id().unwrap());
        crate::replication::wait_status(&s3, &src, k, vid, ReplicationStatus::Completed).await;
    }
    // A second configuration: current versions only, no filter, no destination prefix.
    let mut current = config("current", &dst, &["Size"], "CSV");
    current.filter = None;
    current.included_object_versions = InventoryIncludedObjectVersions::Current;
    current.destination.as_mut().unwrap().s3_bucket_destination.as_mut().unwrap().prefix = None;
    put(&s3, &src, "current", current).await.unwrap();
    let id = "lock-report";
    let mut cfg = config(id, &dst, &LOCK_FIELDS, "CSV");
    cfg.optional_fields.as_mut().unwrap().reverse(); // the report orders them as AWS does, whatever the order asked
    put(&s3, &src, id, cfg).await.unwrap();

    // The report appears: <prefix>/<source>/<id>/<YYYY-MM-DDTHH-MMZ>/manifest.{json,checksum}.
    let root = format!("reports/{src}/{id}/");
    let mut checksum_key = None;
    for _ in 0..100 {
        let page = s3.list_objects_v2().bucket(&dst).prefix(&root).send().await.unwrap();
        checksum_key = page
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .find(|k| k.ends_with("/manifest.checksum"))
            .map(str::to_owned);
        if checksum_key.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let checksum_key = checksum_key.expect("a report within 20 s");
    let folder = checksum_key.strip_suffix("/manifest.checksum").unwrap();
    let stamp = folder.strip_prefix(&root).unwrap();
    assert_eq!(stamp.len(), "2026-01-01T00-00Z".len(), "{stamp}");
    assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T' && stamp.as_bytes()[13] == b'-', "{stamp}");
    let manifest_bytes = get_bytes(&s3, &dst, &format!("{folder}/manifest.json")).await;
    let checksum = String::from_utf8(get_bytes(&s3, &dst, &checksum_key).await).unwrap();
    assert_eq!(checksum.trim(), md5_hex(&manifest_bytes));
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["sourceBucket"], src.as_str());
    assert_eq!(manifest["destinationBucket"], format!("arn:aws:s3:::{dst}").as_str());
    assert_eq!(manifest["version"], "2016-11-30");
    assert_eq!(manifest["fileFormat"], "CSV");
    assert!(manifest["creationTimestamp"].as_str().unwrap().parse::<i64>().unwrap() > 1_600_000_000_000);
    let schema = manifest["fileSchema"].as_str().unwrap();
    assert_eq!(
        schema,
        "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, \
         IsMultipartUploaded, ReplicationStatus, ObjectLockRetainUntilDate, ObjectLockMode, \
         ObjectLockLegalHoldStatus, ChecksumAlgorithm"
    );
    let columns: Vec<&str> = schema.split(", ").collect();

    // Every data file: under data/, size and MD5 as the manifest says, gzip CSV.
    let mut rows: HashMap<(String, String), HashMap<&str, String>> = HashMap::new();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    for f in files {
        let key = f["key"].as_str().unwrap();
        assert!(key.starts_with(&format!("{root}data/")) && key.ends_with(".csv.gz"), "{key}");
        let gz = get_bytes(&s3, &dst, key).await;
        assert_eq!(f["size"].as_u64().unwrap(), gz.len() as u64);
        assert_eq!(f["MD5checksum"].as_str().unwrap(), md5_hex(&gz));
        let mut csv = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut csv).unwrap();
        for line in csv.lines() {
            assert!(line.starts_with('"') && line.ends_with('"'), "every value quoted: {line}");
            let values = csv_fields(line);
            assert_eq!(values.len(), columns.len(), "{line}");
            let row: HashMap<&str, String> = columns.iter().copied().zip(values).collect();
            let k = (unquote_plus(&row["Key"]), row["VersionId"].clone());
            assert!(rows.insert(k, row).is_none(), "one row per version");
        }
    }

    // The API's view, field by field.
    let listed = s3.list_object_versions().bucket(&src).prefix("logs/").send().await.unwrap();
    let date = |s: &str| DateTime::from_str(s, DateTimeFormat::DateTime).unwrap();
    let mut seen = 0;
    for m in listed.delete_markers() {
        let row = &rows[&(m.key().unwrap().to_owned(), m.version_id().unwrap().to_owned())];
        seen += 1;
        assert_eq!(row["Bucket"], src);
        assert_eq!(row["IsLatest"], m.is_latest().unwrap().to_string());
        assert_eq!(row["IsDeleteMarker"], "true");
        assert_eq!(date(&row["LastModifiedDate"]), *m.last_modified().unwrap());
        for c in &columns[5..] {
            if *c != "LastModifiedDate" {
                assert_eq!(row[c], "", "{c} of a delete marker");
            }
        }
    }
    let mut modes = Vec::new();
    for v in listed.versions() {
        let (key, vid) = (v.key().unwrap(), v.version_id().unwrap());
        let row = &rows[&(key.to_owned(), vid.to_owned())];
        seen += 1;
        let head = s3.head_object().bucket(&src).key(key).version_id(vid).send().await.unwrap();
        assert_eq!(row["Bucket"], src);
        assert_eq!(row["IsLatest"], v.is_latest().unwrap().to_string(), "{key}");
        assert_eq!(row["IsDeleteMarker"], "false");
        assert_eq!(row["Size"], v.size().unwrap().to_string());
        assert_eq!(row["Size"], head.content_length().unwrap().to_string());
        assert_eq!(date(&row["LastModifiedDate"]), *v.last_modified().unwrap());
        assert_eq!(format!("\"{}\"", row["ETag"]), head.e_tag().unwrap());
        assert_eq!(row["StorageClass"], v.storage_class().unwrap().as_str());
        assert_eq!(row["IsMultipartUploaded"], "false");
        assert_eq!(row["ReplicationStatus"], head.replication_status().unwrap().as_str(), "{key}");
        assert_eq!(row["ReplicationStatus"], "COMPLETED");
        assert_eq!(row["ObjectLockMode"], head.object_lock_mode().map(|m| m.as_str()).unwrap_or(""), "{key}");
        match head.object_lock_retain_until_date() {
            Some(d) => assert_eq!(date(&row["ObjectLockRetainUntilDate"]).secs(), d.secs()),
            None => assert_eq!(row["ObjectLockRetainUntilDate"], ""),
        }
        let hold = head.object_lock_legal_hold_status().cloned().unwrap_or(ObjectLockLegalHoldStatus::Off);
        assert_eq!(row["ObjectLockLegalHoldStatus"], hold.as_str(), "{key}");
        let algorithms: Vec<&str> = v.checksum_algorithm().iter().map(|a| a.as_str()).collect();
        assert_eq!(vec![row["ChecksumAlgorithm"].as_str()], algorithms, "{key}");
        modes.push(format!("{}/{}", row["ObjectLockMode"], row["ObjectLockLegalHoldStatus"]));
    }
    modes.sort();
    assert_eq!(modes, ["/OFF", "/OFF", "/ON", "COMPLIANCE/OFF", "GOVERNANCE/OFF"]);
    assert_eq!(seen, 6);
    assert_eq!(rows.len(), 6, "only the filter's prefix, every version and marker");

    // The current-versions report: every current object of the bucket, no marker, no filter.
    let croot = format!("{src}/current/");
    let mut cmanifest = None;
    for _ in 0..100 {
        let page = s3.list_objects_v2().bucket(&dst).prefix(&croot).send().await.unwrap();
        cmanifest =
            page.contents().iter().filter_map(|o| o.key()).find(|k| k.ends_with("/manifest.json")).map(str::to_owned);
        if cmanifest.is_some() && page.contents().iter().any(|o| o.key().unwrap().ends_with("/manifest.checksum")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&get_bytes(&s3, &dst, &cmanifest.expect("the current report")).await).unwrap();
    assert_eq!(manifest["fileSchema"], "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size");
    let mut got = Vec::new();
    for f in manifest["files"].as_array().unwrap() {
        let gz = get_bytes(&s3, &dst, f["key"].as_str().unwrap()).await;
        let mut csv = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut csv).unwrap();
        for line in csv.lines() {
            let v = csv_fields(line);
            assert_eq!((v[3].as_str(), v[4].as_str()), ("true", "false"), "{line}");
            got.push((unquote_plus(&v[1]), v[2].clone(), v[5].clone()));
        }
    }
    got.sort();
    let listed = s3.list_objects_v2().bucket(&src).send().await.unwrap();
    let mut want = Vec::new();
    for o in listed.contents() {
        let head = s3.head_object().bucket(&src).key(o.key().unwrap()).send().await.unwrap();
        want.push((o.key().unwrap().to_owned(), head.version_id().unwrap().to_owned(), o.size().unwrap().to_string()));
    }
    want.sort();
    assert_eq!(got, want);
    assert_eq!(got.len(), 5);
}
