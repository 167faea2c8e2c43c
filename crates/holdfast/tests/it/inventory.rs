//! The inventory configuration API (issue #14): Put/Get/List/Delete
//! BucketInventoryConfiguration with the lock fields, validated as AWS validates, up to
//! 1,000 per bucket, paged by continuation token. Every refusal stores nothing. The reports,
//! CSV and Parquet: written as AWS writes them (data files, manifest, checksum, hive/
//! symlink.txt), read back here with the SDK, an independent gunzip and pyarrow, row by row
//! against ListObjectVersions, HeadObject, GetObjectRetention and GetObjectLegalHold; written
//! only where the destination's policy lets `s3.amazonaws.com` put; one writer among
//! gateways; a full disk and a SIGKILL before the manifest leave no report, and the next pass
//! writes one (docs/inventory.md).

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

/// AWS's destination policy for inventory reports (S3 User Guide, "Granting permissions for
/// S3 Inventory and S3 analytics"), for reports of `source` from this server's account.
fn writer_policy(dest: &str, source: &str) -> String {
    let account = crate::identity_accounts::account_id(holdfast_testkit::ROOT_AK);
    format!(
        r#"{{"Version": "2012-10-17", "Statement": [{{"Sid": "InventoryAndAnalyticsExamplePolicy",
            "Effect": "Allow", "Principal": {{"Service": "s3.amazonaws.com"}}, "Action": "s3:PutObject",
            "Resource": ["arn:aws:s3:::{dest}/*"],
            "Condition": {{"ArnLike": {{"aws:SourceArn": "arn:aws:s3:::{source}"}},
                           "StringEquals": {{"aws:SourceAccount": "{account}",
                                            "s3:x-amz-acl": "bucket-owner-full-control"}}}}}}]}}"#
    )
}

pub(crate) async fn allow_writer(s3: &Client, dest: &str, source: &str) {
    s3.put_bucket_policy().bucket(dest).policy(writer_policy(dest, source)).send().await.unwrap();
}

/// Waits for the first complete report under `root` (its `manifest.checksum`); returns the
/// report's folder.
async fn wait_report(s3: &Client, dest: &str, root: &str) -> String {
    for _ in 0..150 {
        let page = s3.list_objects_v2().bucket(dest).prefix(root).send().await.unwrap();
        if let Some(k) = page.contents().iter().filter_map(|o| o.key()).find(|k| k.ends_with("/manifest.checksum")) {
            return k.strip_suffix("/manifest.checksum").unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("no report under {root} within 30 s");
}

/// The report in `folder`: its manifest (checked against `manifest.checksum`) and every
/// data file (checked against the manifest's size and MD5), in the manifest's order.
async fn read_report(s3: &Client, dest: &str, folder: &str) -> (serde_json::Value, Vec<Vec<u8>>) {
    let manifest_bytes = get_bytes(s3, dest, &format!("{folder}/manifest.json")).await;
    let checksum = String::from_utf8(get_bytes(s3, dest, &format!("{folder}/manifest.checksum")).await).unwrap();
    assert_eq!(checksum.trim(), md5_hex(&manifest_bytes));
    let manifest: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let mut files = Vec::new();
    for f in manifest["files"].as_array().unwrap() {
        let body = get_bytes(s3, dest, f["key"].as_str().unwrap()).await;
        assert_eq!(f["size"].as_u64().unwrap(), body.len() as u64);
        assert_eq!(f["MD5checksum"].as_str().unwrap(), md5_hex(&body));
        files.push(body);
    }
    (manifest, files)
}

/// `hive/dt=YYYY-MM-DD-HH-MM/symlink.txt` beside the report in `folder`: the `s3://` URI of
/// each data file of the manifest, one a line, in order.
async fn check_hive(s3: &Client, dest: &str, folder: &str, manifest: &serde_json::Value) {
    let (root, stamp) = folder.rsplit_once('/').unwrap();
    // 2026-12-07T01-23Z → dt=2026-12-07-01-23
    let dt = format!("dt={}-{}", &stamp[..10], &stamp[11..16]);
    let listed = s3.list_objects_v2().bucket(dest).prefix(format!("{root}/hive/")).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let want = format!("{root}/hive/{dt}/symlink.txt");
    assert!(keys.contains(&want.as_str()), "{keys:?} lacks {want}");
    let text = String::from_utf8(get_bytes(s3, dest, &want).await).unwrap();
    let uris: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("s3://{dest}/{}", f["key"].as_str().unwrap()))
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), uris);
    assert!(text.ends_with('\n'));
}

/// Reads Parquet files with pyarrow (an independent reader): per file, the schema as
/// (name, arrow type, nullable), the row groups, the first column's codec, and the rows with
/// timestamps as epoch milliseconds.
fn pyarrow_read(files: &[Vec<u8>]) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, sys
import pyarrow as pa, pyarrow.parquet as pq
out = []
for path in sys.argv[1:]:
    f = pq.ParquetFile(path)
    t = f.read()
    schema = [[x.name, str(x.type), x.nullable] for x in t.schema]
    for i, x in enumerate(t.schema):
        if pa.types.is_timestamp(x.type):
            t = t.set_column(i, x.name, t.column(i).cast(pa.int64()))
    out.append({"schema": schema, "row_groups": f.num_row_groups,
                "codec": f.metadata.row_group(0).column(0).compression, "rows": t.to_pylist()})
print(json.dumps(out))
"#;
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<std::path::PathBuf> = files
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let p = dir.path().join(format!("{i}.parquet"));
            std::fs::write(&p, b).unwrap();
            p
        })
        .collect();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(&paths)
        .output()
        .expect("python3 (with pyarrow: .ci/run installs it)");
    assert!(out.status.success(), "pyarrow: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The CSV names of AWS's columns and their Parquet names.
const PARQUET_NAMES: [(&str, &str); 15] = [
    ("Bucket", "bucket"),
    ("Key", "key"),
    ("VersionId", "version_id"),
    ("IsLatest", "is_latest"),
    ("IsDeleteMarker", "is_delete_marker"),
    ("Size", "size"),
    ("LastModifiedDate", "last_modified_date"),
    ("ETag", "e_tag"),
    ("StorageClass", "storage_class"),
    ("IsMultipartUploaded", "is_multipart_uploaded"),
    ("ReplicationStatus", "replication_status"),
    ("ObjectLockRetainUntilDate", "object_lock_retain_until_date"),
    ("ObjectLockMode", "object_lock_mode"),
    ("ObjectLockLegalHoldStatus", "object_lock_legal_hold_status"),
    ("ChecksumAlgorithm", "checksum_algorithm"),
];

/// One row in one spelling for both formats: the CSV column names, values as text, dates
/// as epoch milliseconds, `None` for an empty CSV value or a Parquet null.
type Row = std::collections::BTreeMap<String, Option<String>>;
type Rows = std::collections::BTreeMap<(String, String), Row>;

fn millis(dt: &holdfast_testkit::aws_sdk_s3::primitives::DateTime) -> String {
    dt.to_millis().unwrap().to_string()
}

fn csv_rows(columns: &[&str], files: &[Vec<u8>]) -> Rows {
    use holdfast_testkit::aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
    use std::io::Read as _;
    let mut rows = Rows::new();
    for gz in files {
        let mut csv = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut csv).unwrap();
        for line in csv.lines() {
            assert!(line.starts_with('"') && line.ends_with('"'), "every value quoted: {line}");
            let values = csv_fields(line);
            assert_eq!(values.len(), columns.len(), "{line}");
            let row: Row = columns
                .iter()
                .zip(values)
                .map(|(c, v)| {
                    let v = match *c {
                        _ if v.is_empty() => None,
                        "Key" => Some(unquote_plus(&v)),
                        "LastModifiedDate" | "ObjectLockRetainUntilDate" => {
                            Some(millis(&DateTime::from_str(&v, DateTimeFormat::DateTime).unwrap()))
                        }
                        _ => Some(v),
                    };
                    ((*c).to_owned(), v)
                })
                .collect();
            let id = (row["Key"].clone().unwrap(), row["VersionId"].clone().unwrap_or_default());
            assert!(rows.insert(id, row).is_none(), "one row per version");
        }
    }
    rows
}

fn parquet_rows(read: &serde_json::Value) -> Rows {
    let mut rows = Rows::new();
    for file in read.as_array().unwrap() {
        for r in file["rows"].as_array().unwrap() {
            let row: Row = r
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, v)| {
                    let csv =
                        PARQUET_NAMES.iter().find(|(_, p)| p == name).unwrap_or_else(|| panic!("column {name}")).0;
                    let v = match v {
                        serde_json::Value::Null => None,
                        serde_json::Value::String(s) => Some(s.clone()),
                        other => Some(other.to_string()),
                    };
                    (csv.to_owned(), v)
                })
                .collect();
            let id = (row["Key"].clone().unwrap(), row["VersionId"].clone().unwrap_or_default());
            assert!(rows.insert(id, row).is_none(), "one row per version");
        }
    }
    rows
}

/// The API's view of every version and delete marker under `prefix`, as rows:
/// ListObjectVersions, HeadObject, GetObjectRetention and GetObjectLegalHold.
async fn api_rows(s3: &Client, bucket: &str, prefix: &str) -> Rows {
    use holdfast_testkit::aws_sdk_s3::types::ObjectLockLegalHoldStatus;
    let listed = s3.list_object_versions().bucket(bucket).prefix(prefix).send().await.unwrap();
    assert_eq!(listed.is_truncated(), Some(false));
    let mut rows = Rows::new();
    let some = |s: &str| Some(s.to_owned());
    for m in listed.delete_markers() {
        let (key, vid) = (m.key().unwrap(), m.version_id().unwrap());
        let mut row = Row::new();
        for (c, _) in PARQUET_NAMES {
            row.insert(c.to_owned(), None);
        }
        row.insert("Bucket".into(), some(bucket));
        row.insert("Key".into(), some(key));
        row.insert("VersionId".into(), some(vid));
        row.insert("IsLatest".into(), Some(m.is_latest().unwrap().to_string()));
        row.insert("IsDeleteMarker".into(), some("true"));
        row.insert("LastModifiedDate".into(), Some(millis(m.last_modified().unwrap())));
        rows.insert((key.to_owned(), vid.to_owned()), row);
    }
    for v in listed.versions() {
        let (key, vid) = (v.key().unwrap(), v.version_id().unwrap());
        let head = s3.head_object().bucket(bucket).key(key).version_id(vid).send().await.unwrap();
        let retention = get_retention(s3, bucket, key, vid).await;
        let hold = match s3.get_object_legal_hold().bucket(bucket).key(key).version_id(vid).send().await {
            Ok(h) => h.legal_hold().unwrap().status().unwrap().clone(),
            Err(e) => {
                assert_err(&e, "NoSuchObjectLockConfiguration", 404, None);
                ObjectLockLegalHoldStatus::Off
            }
        };
        // HEAD and the lock reads agree.
        assert_eq!(head.object_lock_mode().map(|m| m.as_str().to_owned()), retention.as_ref().map(|r| r.0.clone()));
        let algorithms: Vec<&str> = v.checksum_algorithm().iter().map(|a| a.as_str()).collect();
        assert!(algorithms.len() <= 1, "{algorithms:?}");
        let row: Row = [
            ("Bucket", some(bucket)),
            ("Key", some(key)),
            ("VersionId", some(vid)),
            ("IsLatest", Some(v.is_latest().unwrap().to_string())),
            ("IsDeleteMarker", some("false")),
            ("Size", Some(head.content_length().unwrap().to_string())),
            ("LastModifiedDate", Some(millis(v.last_modified().unwrap()))),
            ("ETag", Some(head.e_tag().unwrap().trim_matches('"').to_owned())),
            ("StorageClass", some(v.storage_class().unwrap().as_str())),
            ("IsMultipartUploaded", Some(head.parts_count().is_some().to_string())),
            ("ReplicationStatus", head.replication_status().map(|r| r.as_str().to_owned())),
            ("ObjectLockRetainUntilDate", retention.as_ref().map(|r| millis(&r.1))),
            ("ObjectLockMode", retention.map(|r| r.0)),
            ("ObjectLockLegalHoldStatus", some(hold.as_str())),
            ("ChecksumAlgorithm", algorithms.first().map(|a| (*a).to_owned())),
        ]
        .into_iter()
        .map(|(c, v)| (c.to_owned(), v))
        .collect();
        rows.insert((key.to_owned(), vid.to_owned()), row);
    }
    rows
}

/// The report's rows equal the API's, field by field, on the columns the report has.
fn assert_rows_equal(what: &str, got: &Rows, want: &Rows) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}: the versions");
    for (id, row) in got {
        for (column, value) in row {
            assert_eq!(value, &want[id][column], "{what}: {column} of {id:?}");
        }
    }
}

/// The lock bucket of issue #14: GOVERNANCE, COMPLIANCE, a legal hold, an unlocked version
/// under a delete marker, an odd key, one object outside the filter; every version
/// replicated to a third bucket so that ReplicationStatus has a value. Returns the source.
async fn lock_source(s3: &Client, tag: &str) -> String {
    use holdfast_testkit::aws_sdk_s3::types::{ObjectLockMode, ReplicationStatus};
    let src = lock_bucket(s3, tag).await;
    let replica = lock_bucket(s3, &format!("{tag}r")).await;
    let rule = crate::replication::rule("all", 1, "", &format!("arn:aws:s3:::{replica}"), false);
    s3.put_bucket_replication()
        .bucket(&src)
        .replication_configuration(crate::replication::config(vec![rule]))
        .send()
        .await
        .unwrap();
    crate::object_lock_support::put(s3, &src, "logs/plain", b"unlocked").await;
    put_locked(s3, &src, "logs/gov", ObjectLockMode::Governance, &in_secs(3600)).await;
    put_locked(s3, &src, "logs/comp", ObjectLockMode::Compliance, &in_secs(120)).await;
    put_held(s3, &src, "logs/held").await;
    crate::object_lock_support::put(s3, &src, "logs/a key+é,\"q\"", b"odd key").await;
    s3.delete_object().bucket(&src).key("logs/plain").send().await.unwrap();
    crate::object_lock_support::put(s3, &src, "other/outside", b"not in the filter").await;
    let before = s3.list_object_versions().bucket(&src).prefix("logs/").send().await.unwrap();
    for v in before.versions() {
        let (k, vid) = (v.key().unwrap(), v.version_id().unwrap());
        crate::replication::wait_status(s3, &src, k, vid, ReplicationStatus::Completed).await;
    }
    src
}

/// Issue #14's "must show": the CSV and the Parquet reports of a lock bucket equal the
/// API's view field by field (CSV read with an independent gunzip and CSV reading, Parquet
/// with pyarrow), the manifests and checksums right, the layout as AWS documents it
/// (`data/`, `<YYYY-MM-DDTHH-MMZ>/manifest.*`, `hive/dt=.../symlink.txt`), the files split
/// at `[inventory] rows_per_file`.
#[tokio::test]
async fn inventory_csv_and_parquet_reports_match_the_api_row_by_row() {
    // One inventory "day" is a second: the first report follows the configuration at once.
    // Four rows a file: the six rows of a report make two files.
    let srv = holdfast_testkit::Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        holdfast_testkit::ServerOptions {
            config_toml: "[inventory]\nday_seconds = 1\nrows_per_file = 4\n".into(),
            ..Default::default()
        },
    );
    let s3 = srv.client();
    let src = lock_source(&s3, "invrep").await;
    let dst = plain_bucket(&s3, "invrepd").await;
    allow_writer(&s3, &dst, &src).await;
    // Current versions only, no filter, no destination prefix.
    let mut current = config("current", &dst, &["Size"], "CSV");
    current.filter = None;
    current.included_object_versions = InventoryIncludedObjectVersions::Current;
    current.destination.as_mut().unwrap().s3_bucket_destination.as_mut().unwrap().prefix = None;
    put(&s3, &src, "current", current).await.unwrap();
    let mut csv_config = config("lock-csv", &dst, &LOCK_FIELDS, "CSV");
    csv_config.optional_fields.as_mut().unwrap().reverse(); // the report orders them as AWS does, whatever the order asked
    put(&s3, &src, "lock-csv", csv_config).await.unwrap();
    put(&s3, &src, "lock-parquet", config("lock-parquet", &dst, &LOCK_FIELDS, "Parquet")).await.unwrap();

    let want = api_rows(&s3, &src, "logs/").await;
    assert_eq!(want.len(), 6, "five versions and a marker under the filter");
    let mut modes: Vec<String> = want
        .values()
        .filter(|r| r["IsDeleteMarker"].as_deref() == Some("false"))
        .map(|r| {
            format!(
                "{}/{}",
                r["ObjectLockMode"].clone().unwrap_or_default(),
                r["ObjectLockLegalHoldStatus"].clone().unwrap()
            )
        })
        .collect();
    modes.sort();
    assert_eq!(modes, ["/OFF", "/OFF", "/ON", "COMPLIANCE/OFF", "GOVERNANCE/OFF"]);

    for (id, format) in [("lock-csv", "CSV"), ("lock-parquet", "Parquet")] {
        let root = format!("reports/{src}/{id}/");
        let folder = wait_report(&s3, &dst, &root).await;
        let stamp = folder.strip_prefix(&root).unwrap();
        assert_eq!(stamp.len(), "2026-01-01T00-00Z".len(), "{stamp}");
        assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T' && stamp.as_bytes()[13] == b'-', "{stamp}");
        let (manifest, files) = read_report(&s3, &dst, &folder).await;
        assert_eq!(manifest["sourceBucket"], src.as_str());
        assert_eq!(manifest["destinationBucket"], format!("arn:aws:s3:::{dst}").as_str());
        assert_eq!(manifest["version"], "2016-11-30");
        assert_eq!(manifest["fileFormat"], format);
        assert!(manifest["creationTimestamp"].as_str().unwrap().parse::<i64>().unwrap() > 1_600_000_000_000);
        let ext = if format == "CSV" { ".csv.gz" } else { ".parquet" };
        for f in manifest["files"].as_array().unwrap() {
            let key = f["key"].as_str().unwrap();
            assert!(key.starts_with(&format!("{root}data/")) && key.ends_with(ext), "{key}");
        }
        assert_eq!(files.len(), 2, "six rows at four a file");
        check_hive(&s3, &dst, &folder, &manifest).await;
        let schema = manifest["fileSchema"].as_str().unwrap();
        let got = if format == "CSV" {
            assert_eq!(
                schema,
                "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass, \
                 IsMultipartUploaded, ReplicationStatus, ObjectLockRetainUntilDate, ObjectLockMode, \
                 ObjectLockLegalHoldStatus, ChecksumAlgorithm"
            );
            csv_rows(&schema.split(", ").collect::<Vec<_>>(), &files)
        } else {
            // As AWS's Parquet manifest example writes it.
            assert_eq!(
                schema,
                "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional binary \
                 version_id (UTF8); optional boolean is_latest; optional boolean is_delete_marker; optional int64 \
                 size; optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); optional \
                 binary storage_class (UTF8); optional boolean is_multipart_uploaded; optional binary \
                 replication_status (UTF8); optional int64 object_lock_retain_until_date (TIMESTAMP_MILLIS); \
                 optional binary object_lock_mode (UTF8); optional binary object_lock_legal_hold_status (UTF8); \
                 optional binary checksum_algorithm (UTF8); }"
            );
            let read = pyarrow_read(&files);
            for file in read.as_array().unwrap() {
                let types: Vec<(String, String, bool)> = serde_json::from_value(file["schema"].clone()).unwrap();
                let names: Vec<&str> = types.iter().map(|t| t.0.as_str()).collect();
                assert_eq!(names, PARQUET_NAMES.map(|p| p.1));
                for (name, ty, nullable) in &types {
                    let want = match name.as_str() {
                        "is_latest" | "is_delete_marker" | "is_multipart_uploaded" => "bool",
                        "size" => "int64",
                        "last_modified_date" | "object_lock_retain_until_date" => "timestamp[ms, tz=UTC]",
                        _ => "string",
                    };
                    assert_eq!(ty, want, "{name}");
                    assert_eq!(*nullable, !matches!(name.as_str(), "bucket" | "key"), "{name}");
                }
                assert_eq!(file["codec"], "SNAPPY");
                assert_eq!(file["row_groups"], 1);
            }
            parquet_rows(&read)
        };
        assert_rows_equal(format, &got, &want);
    }

    // The current-versions report: every current object of the bucket, no marker, no filter,
    // and as on AWS no VersionId, IsLatest or IsDeleteMarker column.
    let folder = wait_report(&s3, &dst, &format!("{src}/current/")).await;
    let (manifest, files) = read_report(&s3, &dst, &folder).await;
    assert_eq!(manifest["fileSchema"], "Bucket, Key, Size");
    let mut got = Vec::new();
    for gz in &files {
        let mut csv = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut csv).unwrap();
        for line in csv.lines() {
            let v = csv_fields(line);
            assert_eq!(v.len(), 3, "{line}");
            assert_eq!(v[0], src);
            got.push((unquote_plus(&v[1]), v[2].clone()));
        }
    }
    got.sort();
    let listed = s3.list_objects_v2().bucket(&src).send().await.unwrap();
    let mut want: Vec<(String, String)> =
        listed.contents().iter().map(|o| (o.key().unwrap().to_owned(), o.size().unwrap().to_string())).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(got.len(), 5);
}

/// Every version of every object under `prefix` of `bucket`: (key, version id).
async fn all_versions(s3: &Client, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    let out = s3.list_object_versions().bucket(bucket).prefix(prefix).send().await.unwrap();
    assert_eq!(out.is_truncated(), Some(false));
    let mut v: Vec<(String, String)> = out
        .versions()
        .iter()
        .map(|v| (v.key().unwrap().to_owned(), v.version_id().unwrap_or("null").to_owned()))
        .chain(out.delete_markers().iter().map(|m| (m.key().unwrap().to_owned(), m.version_id().unwrap().to_owned())))
        .collect();
    v.sort();
    v
}

/// The destination bucket's own policy decides whether the writer may put there, as for
/// AWS's `s3.amazonaws.com` principal: no policy (the same account owns both buckets) or a
/// policy for another source bucket → nothing at all is written, the refusal is counted
/// (`holdfast_inventory_reports_failed_total{reason="AccessDenied"}`), logged and in the
/// audit trail; the report follows at the next pass once the policy allows it.
#[tokio::test]
async fn inventory_destination_policy_decides_whether_reports_are_written() {
    use crate::evidence_support::{audit_records, metric, metrics_text, wait_for};
    use std::time::Duration;
    let srv = holdfast_testkit::Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        holdfast_testkit::ServerOptions { config_toml: "[inventory]\nday_seconds = 1\n".into(), ..Default::default() },
    );
    let s3 = srv.client();
    let src = plain_bucket(&s3, "invpol").await;
    set_versioning(&s3, &src, holdfast_testkit::aws_sdk_s3::types::BucketVersioningStatus::Enabled).await;
    crate::object_lock_support::put(&s3, &src, "logs/a", b"a").await;
    let (none, other, ok) =
        (plain_bucket(&s3, "invpoln").await, plain_bucket(&s3, "invpolo").await, plain_bucket(&s3, "invpolk").await);
    // A policy for another source bucket: the condition on aws:SourceArn does not hold.
    allow_writer(&s3, &other, "some-other-source").await;
    allow_writer(&s3, &ok, &src).await;
    for (id, dest, format) in [("none", &none, "CSV"), ("other", &other, "Parquet"), ("ok", &ok, "Parquet")] {
        put(&s3, &src, id, config(id, dest, &["Size"], format)).await.unwrap();
    }
    wait_report(&s3, &ok, &format!("reports/{src}/ok/")).await;
    // Several more passes: still nothing in the refused destinations, not even a data file.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(all_versions(&s3, &none, "").await, []);
    assert_eq!(all_versions(&s3, &other, "").await, []);
    let text = metrics_text(&srv.addr).await;
    let refused = metric(&text, "holdfast_inventory_reports_failed_total{reason=\"AccessDenied\"}").unwrap_or(0.0);
    assert!(refused >= 2.0, "{refused}");
    assert!(metric(&text, "holdfast_inventory_reports_total").unwrap() >= 1.0);
    let data_dir = srv.data_dir.clone();
    let (none2, other2) = (none.clone(), other.clone());
    let records = wait_for("the refusals in the audit trail", Duration::from_secs(10), async || {
        let r: Vec<serde_json::Value> = audit_records(&data_dir)
            .into_iter()
            .filter(|r| r["principal"] == "holdfast:inventory" && r["code"] == "AccessDenied")
            .collect();
        let named = |b: &str| r.iter().any(|x| x["bucket"] == b);
        (named(&none2) && named(&other2)).then_some(r)
    })
    .await;
    for r in &records {
        assert_eq!(r["op"], "PutObject");
        assert_eq!(r["status"], 403);
        assert_eq!(r["detail"]["principal"]["Service"], "s3.amazonaws.com");
        assert_eq!(r["detail"]["inventory"]["sourceBucket"], src.as_str());
        let id = r["detail"]["inventory"]["id"].as_str().unwrap();
        assert!(["none", "other"].contains(&id), "{r}");
        assert!(r["key"].as_str().unwrap().starts_with(&format!("reports/{src}/{id}/")), "{r}");
    }
    // Allowed now: the next pass writes the report.
    allow_writer(&s3, &none, &src).await;
    let folder = wait_report(&s3, &none, &format!("reports/{src}/none/")).await;
    let (manifest, _) = read_report(&s3, &none, &folder).await;
    assert_eq!(manifest["fileFormat"], "CSV");
    assert!(all_versions(&s3, &other, "").await.is_empty());
}

/// Two gateways sharing one PostgreSQL store, both with a one-second inventory day: one
/// writer per run (the `inventory` lease), so each configuration's report folder holds
/// exactly one manifest (one version of each object), and every data file in the
/// destination is named by exactly one manifest (no second writer's files).
#[tokio::test]
async fn inventory_two_gateways_write_one_report_per_period() {
    use holdfast_testkit::aws_sdk_s3::types::BucketVersioningStatus;
    use holdfast_testkit::{Postgres, Server, ServerOptions};
    use std::collections::BTreeMap;
    let url = Postgres::shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let options = || ServerOptions {
        config_toml: format!(
            "[meta]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 8\n[inventory]\nday_seconds = 1\n"
        ),
        ..Default::default()
    };
    let gateways: Vec<Server> =
        (0..2).map(|_| Server::start_in(env!("CARGO_BIN_EXE_holdfast"), &data, options())).collect();
    let s3 = gateways[1].client();
    let src = plain_bucket(&s3, "inv2gw").await;
    set_versioning(&s3, &src, BucketVersioningStatus::Enabled).await;
    let dst = plain_bucket(&s3, "inv2gwd").await;
    // Versioned: a second write of a manifest would show as a second version.
    set_versioning(&s3, &dst, BucketVersioningStatus::Enabled).await;
    allow_writer(&s3, &dst, &src).await;
    for i in 0..20 {
        crate::object_lock_support::put(&s3, &src, &format!("logs/{i:02}"), b"x").await;
    }
    put(&s3, &src, "csv", config("csv", &dst, &["Size", "ETag"], "CSV")).await.unwrap();
    put(&s3, &src, "parquet", config("parquet", &dst, &["Size", "ETag"], "Parquet")).await.unwrap();
    for id in ["csv", "parquet"] {
        wait_report(&s3, &dst, &format!("reports/{src}/{id}/")).await;
    }
    // Both gateways keep passing for three more seconds (days).
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let versions = all_versions(&s3, &dst, "reports/").await;
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, _) in &versions {
        *per_key.entry(k.as_str()).or_default() += 1;
    }
    assert!(per_key.values().all(|n| *n == 1), "a key written twice: {per_key:?}");
    let mut named = Vec::new();
    let mut manifests = 0;
    for k in per_key.keys().filter(|k| k.ends_with("/manifest.json")) {
        manifests += 1;
        let folder = k.strip_suffix("/manifest.json").unwrap();
        let (manifest, _) = read_report(&s3, &dst, folder).await;
        named.extend(manifest["files"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap().to_owned()));
    }
    assert!(manifests >= 2, "{per_key:?}");
    let mut data: Vec<String> = per_key.keys().filter(|k| k.contains("/data/")).map(|k| (*k).to_owned()).collect();
    named.sort();
    data.sort();
    assert_eq!(data, named, "every data file named by exactly one manifest");
}

/// The keys under `prefix` of `bucket` (one page is enough here).
async fn keys(s3: &Client, bucket: &str, prefix: &str) -> Vec<String> {
    let page = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    assert_eq!(page.is_truncated(), Some(false));
    page.contents().iter().filter_map(|o| o.key()).map(str::to_owned).collect()
}

/// A full disk under the writer: the data files are refused for space, so no manifest is
/// written (a manifest never names a missing or partial file) and the failure is counted;
/// once space returns, the next pass writes the whole report.
#[tokio::test]
async fn inventory_report_on_a_full_disk_writes_no_manifest_and_follows_when_space_returns() {
    use crate::evidence_support::{metric, metrics_text};
    let fs = holdfast_testkit::Tmpfs::mount("64m");
    let srv = holdfast_testkit::Server::start_in(
        env!("CARGO_BIN_EXE_holdfast"),
        &fs.path().join("data"),
        holdfast_testkit::ServerOptions {
            config_toml: format!("[limits]\nmin_free_bytes = {}\n[inventory]\nday_seconds = 1\n", 8 << 20),
            ..Default::default()
        },
    );
    let s3 = srv.client();
    let src = lock_bucket(&s3, "invfull").await;
    let dst = plain_bucket(&s3, "invfulld").await;
    allow_writer(&s3, &dst, &src).await;
    for i in 0..10 {
        crate::object_lock_support::put(&s3, &src, &format!("logs/{i}"), b"x").await;
    }
    // The volume is nearly full (another process filled it): less free than the reserve, so
    // new data is refused while bucket configuration still goes on; then the configuration
    // arrives.
    let df = std::process::Command::new("df").args(["-B1", "--output=avail"]).arg(fs.path()).output().unwrap();
    let avail: usize = String::from_utf8(df.stdout).unwrap().lines().nth(1).unwrap().trim().parse().unwrap();
    let filler = fs.occupy("filler", avail - (4 << 20));
    put(&s3, &src, "full", config("full", &dst, &LOCK_FIELDS, "Parquet")).await.unwrap();
    let mut failed = 0.0;
    for _ in 0..100 {
        failed = metric(&metrics_text(&srv.addr).await, "holdfast_inventory_reports_failed_total{reason=\"error\"}")
            .unwrap_or(0.0);
        if failed >= 2.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(failed >= 2.0, "the writer tried and failed at least twice: {failed}");
    assert_eq!(keys(&s3, &dst, "").await, Vec::<String>::new(), "nothing written on a full disk");
    // Space returns: the next pass writes a complete report.
    std::fs::remove_file(filler).unwrap();
    let folder = wait_report(&s3, &dst, &format!("reports/{src}/full/")).await;
    let (manifest, files) = read_report(&s3, &dst, &folder).await;
    assert_eq!(manifest["fileFormat"], "Parquet");
    let rows: usize =
        pyarrow_read(&files).as_array().unwrap().iter().map(|f| f["rows"].as_array().unwrap().len()).sum();
    assert_eq!(rows, 10);
}

/// SIGKILL while a report's data files are being written (one row a file, so there are
/// many): no manifest, so the report is simply absent (the data files written stay, named
/// by no manifest, as AWS documents for its own partial deliveries); after the restart the
/// next pass writes a complete report whose manifest names only files of its own.
#[tokio::test]
async fn inventory_sigkill_before_the_manifest_leaves_no_report_and_the_next_run_writes_one() {
    let mut srv = holdfast_testkit::Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        holdfast_testkit::ServerOptions {
            config_toml: "[inventory]\nday_seconds = 1\nrows_per_file = 1\n".into(),
            ..Default::default()
        },
    );
    let s3 = srv.client();
    let src = lock_bucket(&s3, "invkill").await;
    let dst = plain_bucket(&s3, "invkilld").await;
    allow_writer(&s3, &dst, &src).await;
    const N: usize = 120;
    for i in 0..N {
        crate::object_lock_support::put(&s3, &src, &format!("logs/{i:03}"), b"x").await;
    }
    let root = format!("reports/{src}/kill/");
    put(&s3, &src, "kill", config("kill", &dst, &["Size"], "CSV")).await.unwrap();
    // Killed as soon as the first data file is there: more than a hundred remain to write.
    let mut seen = Vec::new();
    for _ in 0..1000 {
        seen = keys(&s3, &dst, &root).await;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    srv.kill();
    assert!(!seen.is_empty() && seen.iter().all(|k| k.contains("/data/")), "{seen:?}");
    srv.start_again();
    let s3 = srv.client();
    let folder = wait_report(&s3, &dst, &root).await;
    let (manifest, files) = read_report(&s3, &dst, &folder).await;
    assert_eq!(files.len(), N, "one file a row");
    let named: Vec<&str> = manifest["files"].as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert!(seen.iter().all(|o| !named.contains(&o.as_str())), "the new manifest names only its own files");
    // Besides the complete reports' manifests, checksums and symlink.txt files (one report,
    // or two across a minute's turn), only data files, the killed run's among them.
    let all = keys(&s3, &dst, &root).await;
    let data = all.iter().filter(|k| k.contains("/data/")).count();
    let ends = ["/manifest.json", "/manifest.checksum", "/symlink.txt"];
    assert!(all.iter().filter(|k| !k.contains("/data/")).all(|k| ends.iter().any(|e| k.ends_with(e))), "{all:?}");
    assert!(data > N, "{data}");
    let rows = csv_rows(&["Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size"], &files);
    assert_eq!(rows.len(), N);
}
