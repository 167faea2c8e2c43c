//! The inventory configuration API (issue #14, first slice): Put/Get/List/Delete
//! BucketInventoryConfiguration with the lock fields, validated as AWS validates, up to
//! 1,000 per bucket, paged by continuation token. Every refusal stores nothing. Reports are
//! not written yet (docs/inventory.md).

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
