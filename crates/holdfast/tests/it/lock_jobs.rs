//! Lock jobs (issue #14): S3 Batch Operations' job API (`/v20180820/jobs`, S3 Control) with
//! S3PutObjectLegalHold and S3PutObjectRetention over a CSV or an inventory manifest. Each
//! task goes through the single request's lock check and audit record (R8, R9, L4, W8)
//! under the job creator's permissions; a batch of tasks, their records and the job's cursor
//! commit together, so a SIGKILL mid-job loses no result and repeats no task.

use crate::evidence_support::{audit_records, wait_for};
use crate::object_lock_support::{days, get_retention, in_secs, iso, lock_bucket, plain_bucket, put, put_locked};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetentionMode};
use holdfast_testkit::{ROOT_AK, ROOT_SK, RawResponse, Server, ServerOptions, raw_http, signed_request};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

/// The server binary; `HOLDFAST_TEST_BIN` names a copy (the shared target directory's may
/// be rebuilt by another checkout while a long test runs).
fn bin() -> String {
    std::env::var("HOLDFAST_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_holdfast").to_owned())
}

fn server() -> Server {
    Server::start(&bin())
}
const CONTROL_NS: &str = "http://awss3control.amazonaws.com/doc/2018-08-20/";

/// The account id of the server's root (from an IAM user's ARN).
async fn account_id(srv: &Server) -> String {
    let user = srv.iam().create_user().user_name("probe").send().await.unwrap();
    let arn = user.user().unwrap().arn().to_owned();
    arn.strip_prefix("arn:aws:iam::").unwrap().split(':').next().unwrap().to_owned()
}

struct Jobs {
    addr: String,
    account: String,
    keys: (String, String),
}

impl Jobs {
    async fn of(srv: &Server) -> Self {
        Self { addr: srv.addr.clone(), account: account_id(srv).await, keys: (ROOT_AK.into(), ROOT_SK.into()) }
    }

    async fn call(&self, method: &str, path: &str, body: &[u8]) -> RawResponse {
        let req = signed_request(
            &self.addr,
            method,
            path,
            &[("x-amz-account-id", &self.account)],
            body,
            &self.keys.0,
            &self.keys.1,
            SystemTime::now(),
        );
        raw_http(&self.addr, req).await.unwrap()
    }

    async fn create(&self, xml: &str) -> Result<String, (u16, String)> {
        let r = self.call("POST", "/v20180820/jobs", xml.as_bytes()).await;
        if r.status == 200 { Ok(r.xml("JobId").unwrap()) } else { Err((r.status, r.xml("Code").unwrap_or_default())) }
    }

    async fn describe(&self, id: &str) -> RawResponse {
        let r = self.call("GET", &format!("/v20180820/jobs/{id}"), b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        r
    }

    async fn ids(&self) -> Vec<String> {
        let r = self.call("GET", "/v20180820/jobs", b"").await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.text().split("<JobId>").skip(1).map(|s| s.split('<').next().unwrap().to_owned()).collect()
    }

    /// Waits until the job is in one of `statuses`; returns its description.
    async fn wait(&self, id: &str, statuses: &[&str], limit: Duration) -> RawResponse {
        let deadline = Instant::now() + limit;
        loop {
            let r = self.describe(id).await;
            let status = r.xml("Status").unwrap();
            if statuses.contains(&status.as_str()) {
                return r;
            }
            assert!(Instant::now() < deadline, "job {id} still {status} after {limit:?}: {}", r.text());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn count(r: &RawResponse, tag: &str) -> u64 {
    r.xml(tag).unwrap().parse().unwrap()
}

/// A CreateJob body as the AWS CLI sends it.
fn create_xml(
    token: &str,
    operation: &str,
    manifest: (&str, &str, &str, &[&str]),
    report: Option<(&str, &str, &str)>,
) -> String {
    let (format, arn, etag, fields) = manifest;
    let fields = if fields.is_empty() {
        String::new()
    } else {
        format!("<Fields>{}</Fields>", fields.iter().map(|f| format!("<member>{f}</member>")).collect::<String>())
    };
    let report = match report {
        Some((bucket, prefix, scope)) => format!(
            "<Report><Bucket>arn:aws:s3:::{bucket}</Bucket><Format>Report_CSV_20180820</Format><Enabled>true</Enabled><Prefix>{prefix}</Prefix><ReportScope>{scope}</ReportScope></Report>"
        ),
        None => "<Report><Enabled>false</Enabled></Report>".into(),
    };
    format!(
        "<CreateJobRequest xmlns=\"{CONTROL_NS}\"><ConfirmationRequired>false</ConfirmationRequired><Operation>{operation}</Operation>{report}<ClientRequestToken>{token}</ClientRequestToken><Manifest><Spec><Format>{format}</Format>{fields}</Spec><Location><ObjectArn>{arn}</ObjectArn><ETag>{etag}</ETag></Location></Manifest><Priority>10</Priority><RoleArn>arn:aws:iam::123456789012:role/batch</RoleArn></CreateJobRequest>"
    )
}

const HOLD_ON: &str = "<S3PutObjectLegalHold><LegalHold><Status>ON</Status></LegalHold></S3PutObjectLegalHold>";

fn retention_op(mode: &str, until: &str, bypass: bool) -> String {
    format!(
        "<S3PutObjectRetention><BypassGovernanceRetention>{bypass}</BypassGovernanceRetention><Retention><Mode>{mode}</Mode><RetainUntilDate>{until}</RetainUntilDate></Retention></S3PutObjectRetention>"
    )
}

async fn get_bytes(s3: &Client, b: &str, k: &str) -> Vec<u8> {
    s3.get_object().bucket(b).key(k).send().await.unwrap().body.collect().await.unwrap().into_bytes().to_vec()
}

async fn put_text(s3: &Client, b: &str, k: &str, body: String) -> String {
    let out = s3.put_object().bucket(b).key(k).body(ByteStream::from(body.into_bytes())).send().await.unwrap();
    out.e_tag().unwrap().to_owned()
}

/// `count` versions in `bucket` over 1,000 keys, written 32 at a time; their (key, version id).
async fn many_versions(s3: &Client, bucket: &str, count: usize) -> Vec<(String, String)> {
    use futures::StreamExt as _;
    let started = Instant::now();
    let out: Vec<(String, String)> = futures::stream::iter(0..count)
        .map(|i| {
            let s3 = s3.clone();
            let bucket = bucket.to_owned();
            async move {
                let key = format!("set/k{:04} {}", i % 1000, if i % 7 == 0 { "+é," } else { "" });
                let put = s3
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(ByteStream::from(format!("v{i}").into_bytes()))
                    .send()
                    .await
                    .unwrap();
                (key, put.version_id().unwrap().to_owned())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    eprintln!("{count} versions written in {:.1} s", started.elapsed().as_secs_f64());
    out
}

/// The report's rows by (key, version id): status, error code, HTTP status.
async fn report_rows(s3: &Client, bucket: &str, root: &str) -> (serde_json::Value, Vec<Vec<String>>) {
    let manifest: serde_json::Value =
        serde_json::from_slice(&get_bytes(s3, bucket, &format!("{root}/manifest.json")).await).unwrap();
    assert_eq!(manifest["Format"], "Report_CSV_20180820");
    assert_eq!(
        manifest["ReportSchema"],
        "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"
    );
    let mut rows = Vec::new();
    for r in manifest["Results"].as_array().unwrap() {
        let key = r["Key"].as_str().unwrap();
        assert!(key.starts_with(&format!("{root}/results/")) && key.ends_with(".csv"), "{key}");
        let body = get_bytes(s3, bucket, key).await;
        use md5::Digest as _;
        assert_eq!(r["MD5Checksum"].as_str().unwrap(), hex::encode(md5::Md5::digest(&body)));
        for line in String::from_utf8(body).unwrap().lines() {
            let fields: Vec<String> = line.split(',').map(str::to_owned).collect();
            assert_eq!(fields.len(), 7, "{line}");
            assert_eq!(fields[3], r["TaskExecutionStatus"].as_str().unwrap(), "{line}");
            rows.push(fields);
        }
    }
    (manifest, rows)
}

fn decode(k: &str) -> String {
    let plus = k.replace('+', " ");
    percent_decode(&plus)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 3 <= b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// How many versions the big job covers. Issue #14 asks for 100,000: that run is
/// `HOLDFAST_LOCK_JOB_VERSIONS=100000 cargo test -p holdfast --test it lock_jobs::legal_hold`
/// (docs/lock-jobs.md has its figures). Writing 100,000 versions through the SDK takes minutes
/// in a debug build, so the suite's own run covers 10,000 (20 manifest batches of 500) on
/// either store, which exercises the same paths.
fn scale() -> usize {
    let default = 10_000;
    std::env::var("HOLDFAST_LOCK_JOB_VERSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The legal-hold job of issue #14 from a real inventory report: every version held, the
/// report lists each exactly once, the trail has one record per change (L4, W8).
#[tokio::test]
async fn legal_hold_job_over_an_inventory_report_holds_every_version_once() {
    let n = scale();
    let srv = Server::start_with(
        &bin(),
        ServerOptions { config_toml: "[inventory]\nday_seconds = 2\n".into(), ..Default::default() },
    );
    let s3 = srv.client();
    let src = lock_bucket(&s3, "ljsrc").await;
    let reports = plain_bucket(&s3, "ljrep").await;
    let written = many_versions(&s3, &src, n).await;
    // The destination lets the inventory writer (s3.amazonaws.com) put there, as AWS requires.
    crate::inventory::allow_writer(&s3, &reports, &src).await;

    // A real inventory report of every version, then no more reports.
    let inventory = holdfast_testkit::aws_sdk_s3::types::InventoryConfiguration::builder()
        .id("all")
        .is_enabled(true)
        .included_object_versions(holdfast_testkit::aws_sdk_s3::types::InventoryIncludedObjectVersions::All)
        .schedule(
            holdfast_testkit::aws_sdk_s3::types::InventorySchedule::builder()
                .frequency(holdfast_testkit::aws_sdk_s3::types::InventoryFrequency::Daily)
                .build()
                .unwrap(),
        )
        .destination(
            holdfast_testkit::aws_sdk_s3::types::InventoryDestination::builder()
                .s3_bucket_destination(
                    holdfast_testkit::aws_sdk_s3::types::InventoryS3BucketDestination::builder()
                        .bucket(format!("arn:aws:s3:::{reports}"))
                        .prefix("inv")
                        .format(holdfast_testkit::aws_sdk_s3::types::InventoryFormat::Csv)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .build()
        .unwrap();
    s3.put_bucket_inventory_configuration()
        .bucket(&src)
        .id("all")
        .inventory_configuration(inventory)
        .send()
        .await
        .unwrap();
    let manifest_key = wait_for("the inventory report", Duration::from_secs(120), async || {
        let page = s3.list_objects_v2().bucket(&reports).prefix(format!("inv/{src}/all/")).send().await.ok()?;
        page.contents()
            .iter()
            .filter_map(|o| o.key())
            .find(|k| k.ends_with("/manifest.checksum"))
            .map(|k| k.replace("manifest.checksum", "manifest.json"))
    })
    .await;
    s3.delete_bucket_inventory_configuration().bucket(&src).id("all").send().await.unwrap();
    let etag = s3.head_object().bucket(&reports).key(&manifest_key).send().await.unwrap().e_tag().unwrap().to_owned();

    let jobs = Jobs::of(&srv).await;
    let xml = create_xml(
        "hold-all",
        HOLD_ON,
        ("S3InventoryReport_CSV_20161130", &format!("arn:aws:s3:::{reports}/{manifest_key}"), &etag, &[]),
        Some((&reports, "jobs", "AllTasks")),
    );
    let started = Instant::now();
    let id = jobs.create(&xml).await.unwrap();
    // The same client token again: the same job, not a second one.
    assert_eq!(jobs.create(&xml).await.unwrap(), id);
    let done = jobs.wait(&id, &["Complete", "Failed"], Duration::from_secs(600)).await;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("lock job: {n} versions in {secs:.1} s = {:.0} versions/s", n as f64 / secs);
    assert_eq!(done.xml("Status").unwrap(), "Complete", "{}", done.text());
    assert_eq!(count(&done, "TotalNumberOfTasks"), n as u64);
    assert_eq!(count(&done, "NumberOfTasksSucceeded"), n as u64);
    assert_eq!(count(&done, "NumberOfTasksFailed"), 0);

    // Every version is held (a sample read back through the API, all of them in the report).
    for (key, v) in written.iter().step_by(997) {
        let h = s3.get_object_legal_hold().bucket(&src).key(key).version_id(v).send().await.unwrap();
        assert_eq!(h.legal_hold().unwrap().status(), Some(&ObjectLockLegalHoldStatus::On), "{key} {v}");
    }
    let (_, rows) = report_rows(&s3, &reports, &format!("jobs/job-{id}")).await;
    assert_eq!(rows.len(), n);
    let mut seen = BTreeSet::new();
    for r in &rows {
        assert_eq!(
            (r[0].as_str(), r[3].as_str(), r[5].as_str(), r[6].as_str()),
            (src.as_str(), "succeeded", "200", "Successful")
        );
        assert!(seen.insert((decode(&r[1]), r[2].clone())), "listed twice: {r:?}");
    }
    let want: BTreeSet<(String, String)> = written.into_iter().collect();
    assert_eq!(seen, want, "the report lists every version exactly once");

    // One audit record per change: the job's creator, PutObjectLegalHold, OFF before, ON after.
    let records = wait_for("the job's audit records", Duration::from_secs(120), async || {
        let r: Vec<serde_json::Value> =
            audit_records(&srv.data_dir).into_iter().filter(|r| r["detail"]["lockJob"] == id.as_str()).collect();
        (r.len() >= n).then_some(r)
    })
    .await;
    assert_eq!(records.len(), n);
    let mut versions = BTreeSet::new();
    for r in &records {
        assert_eq!(r["op"], "PutObjectLegalHold");
        assert_eq!(r["status"], 200);
        assert!(r["principal"].as_str().unwrap().ends_with(":root"), "{r}");
        assert_eq!(r["lock_after"]["legal_hold"], "ON", "{r}");
        assert!(versions.insert(r["version_id"].as_str().unwrap().to_owned()), "two records for {r}");
    }
}

/// R8/R9: a retention job that would shorten COMPLIANCE retention fails those tasks with
/// AccessDenied and changes nothing; GOVERNANCE ones need the bypass the job asked for.
#[tokio::test]
async fn retention_job_never_shortens_compliance() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "ljret").await;
    let reports = plain_bucket(&s3, "ljretr").await;
    let far = days(3);
    let mut csv = String::new();
    let mut compliance = Vec::new();
    let mut governance = Vec::new();
    for i in 0..12 {
        let (key, mode) = if i % 3 == 0 {
            (format!("c/{i}"), ObjectLockMode::Compliance)
        } else {
            (format!("g/{i}"), ObjectLockMode::Governance)
        };
        let v = put_locked(&s3, &b, &key, mode.clone(), &far).await;
        csv.push_str(&format!("{b},{key},{v}\n"));
        if mode == ObjectLockMode::Compliance { compliance.push((key, v)) } else { governance.push((key, v)) }
    }
    let etag = put_text(&s3, &reports, "manifest.csv", csv).await;
    let jobs = Jobs::of(&srv).await;
    let shorter = iso(&days(1));
    let xml = create_xml(
        "shorten",
        &retention_op("GOVERNANCE", &shorter, true),
        (
            "S3BatchOperations_CSV_20180820",
            &format!("arn:aws:s3:::{reports}/manifest.csv"),
            &etag,
            &["Bucket", "Key", "VersionId"],
        ),
        Some((&reports, "", "FailedTasksOnly")),
    );
    let id = jobs.create(&xml).await.unwrap();
    let done = jobs.wait(&id, &["Complete", "Failed"], Duration::from_secs(60)).await;
    assert_eq!(done.xml("Status").unwrap(), "Complete", "{}", done.text());
    assert_eq!(count(&done, "NumberOfTasksSucceeded"), governance.len() as u64);
    assert_eq!(count(&done, "NumberOfTasksFailed"), compliance.len() as u64);
    assert_eq!(done.xml("FailureCode").as_deref(), Some("AccessDenied"), "failures by code: {}", done.text());
    // COMPLIANCE unchanged; GOVERNANCE shortened through the granted bypass.
    for (k, v) in &compliance {
        let (mode, until) = get_retention(&s3, &b, k, v).await.unwrap();
        assert_eq!((mode.as_str(), iso(&until)), ("COMPLIANCE", iso(&far)), "{k}");
    }
    for (k, v) in &governance {
        let (mode, until) = get_retention(&s3, &b, k, v).await.unwrap();
        assert_eq!((mode.as_str(), iso(&until)), ("GOVERNANCE", shorter.clone()), "{k}");
    }
    // FailedTasksOnly: the report lists exactly the COMPLIANCE versions, AccessDenied 403.
    let (_, rows) = report_rows(&s3, &reports, &format!("job-{id}")).await;
    let mut got: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            assert_eq!((r[3].as_str(), r[4].as_str(), r[5].as_str()), ("failed", "AccessDenied", "403"), "{r:?}");
            (r[1].clone(), r[2].clone())
        })
        .collect();
    got.sort();
    compliance.sort();
    assert_eq!(got, compliance);

    // The same job without the bypass: GOVERNANCE is not shortened either.
    let etag2 =
        put_text(&s3, &reports, "manifest2.csv", governance.iter().map(|(k, v)| format!("{b},{k},{v}\n")).collect())
            .await;
    let xml = create_xml(
        "shorten-no-bypass",
        &retention_op("GOVERNANCE", &iso(&in_secs(3600)), false),
        (
            "S3BatchOperations_CSV_20180820",
            &format!("arn:aws:s3:::{reports}/manifest2.csv"),
            &etag2,
            &["Bucket", "Key", "VersionId"],
        ),
        None,
    );
    let id = jobs.create(&xml).await.unwrap();
    let done = jobs.wait(&id, &["Complete", "Failed"], Duration::from_secs(60)).await;
    assert_eq!(count(&done, "NumberOfTasksFailed"), governance.len() as u64, "{}", done.text());
    for (k, v) in &governance {
        assert_eq!(iso(&get_retention(&s3, &b, k, v).await.unwrap().1), shorter, "{k}");
    }
}

/// A user allowed to create jobs and put retention but not to bypass GOVERNANCE: the job's
/// tasks run with that user's permissions, so asking for the bypass is AccessDenied (D7).
#[tokio::test]
async fn tasks_run_with_the_creators_permissions() {
    let srv = server();
    let s3 = srv.client();
    let iam = srv.iam();
    let b = lock_bucket(&s3, "ljperm").await;
    let until = days(3);
    let v = put_locked(&s3, &b, "doc", ObjectLockMode::Governance, &until).await;
    let held = put(&s3, &b, "other", b"x").await;
    let etag = put_text(&s3, &b, "m.csv", format!("{b},doc,{v}\n{b},other,{held}\n")).await;
    iam.create_user().user_name("batch").send().await.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:CreateJob","s3:DescribeJob","s3:GetObject","s3:PutObjectRetention"],"Resource":"*"}]}"#;
    iam.put_user_policy().user_name("batch").policy_name("p").policy_document(policy).send().await.unwrap();
    let key = iam.create_access_key().user_name("batch").send().await.unwrap();
    let key = key.access_key().unwrap();
    let mut jobs = Jobs::of(&srv).await;
    jobs.keys = (key.access_key_id().to_owned(), key.secret_access_key().to_owned());
    let xml = create_xml(
        "as-user",
        &retention_op("GOVERNANCE", &iso(&days(1)), true),
        ("S3BatchOperations_CSV_20180820", &format!("arn:aws:s3:::{b}/m.csv"), &etag, &["Bucket", "Key", "VersionId"]),
        None,
    );
    let id = jobs.create(&xml).await.unwrap();
    let done = jobs.wait(&id, &["Complete", "Failed"], Duration::from_secs(60)).await;
    assert_eq!(count(&done, "NumberOfTasksFailed"), 2, "{}", done.text());
    assert_eq!(done.xml("FailureCode").as_deref(), Some("AccessDenied"));
    assert_eq!(iso(&get_retention(&s3, &b, "doc", &v).await.unwrap().1), iso(&until));
    // Without s3:ListJobs the user cannot list jobs.
    let r = jobs.call("GET", "/v20180820/jobs", b"").await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (403, Some("AccessDenied")), "{}", r.text());
}

/// SIGKILL mid-job, restart: the job finishes from its cursor; no version is processed
/// twice (the report lists each once, the trail has one record per version).
#[tokio::test]
async fn sigkill_mid_job_resumes_without_processing_a_version_twice() {
    let n = 10_000;
    let mut srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "ljkill").await;
    let written = many_versions(&s3, &b, n).await;
    let csv: String = written.iter().map(|(k, v)| format!("{b},{},{v}\n", enc(k))).collect();
    let etag = put_text(&s3, &b, "manifest.csv", csv).await;
    let jobs = Jobs::of(&srv).await;
    let xml = create_xml(
        "killed",
        HOLD_ON,
        (
            "S3BatchOperations_CSV_20180820",
            &format!("arn:aws:s3:::{b}/manifest.csv"),
            &etag,
            &["Bucket", "Key", "VersionId"],
        ),
        Some((&b, "r", "AllTasks")),
    );
    let id = jobs.create(&xml).await.unwrap();
    let mid = wait_for("the job to be part-way", Duration::from_secs(120), async || {
        let r = jobs.describe(&id).await;
        let ok = count(&r, "NumberOfTasksSucceeded");
        (ok > 0).then_some(ok)
    })
    .await;
    srv.kill();
    assert!(mid < n as u64, "killed before the end ({mid} of {n})");
    srv.start_again();
    let s3 = srv.client();
    let jobs = Jobs { addr: srv.addr.clone(), ..jobs };
    let done = jobs.wait(&id, &["Complete", "Failed"], Duration::from_secs(300)).await;
    assert_eq!(done.xml("Status").unwrap(), "Complete", "{}", done.text());
    assert_eq!(count(&done, "NumberOfTasksSucceeded"), n as u64);
    let (_, rows) = report_rows(&s3, &b, &format!("r/job-{id}")).await;
    assert_eq!(rows.len(), n);
    let keys: BTreeSet<(String, String)> = rows.iter().map(|r| (decode(&r[1]), r[2].clone())).collect();
    assert_eq!(keys.len(), n, "a version listed twice");
    assert_eq!(keys, written.iter().cloned().collect::<BTreeSet<_>>());
    let records = wait_for("the audit records", Duration::from_secs(120), async || {
        let r: Vec<serde_json::Value> =
            audit_records(&srv.data_dir).into_iter().filter(|r| r["detail"]["lockJob"] == id.as_str()).collect();
        (r.len() >= n).then_some(r)
    })
    .await;
    let mut per_version: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *per_version.entry(r["version_id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(records.len(), n);
    assert!(per_version.values().all(|c| *c == 1));
}

fn enc(k: &str) -> String {
    let mut out = String::new();
    for b in k.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Bad input gets AWS's code and creates no job: malformed XML, an unknown element, an
/// operation Holdfast does not run, a manifest whose ETag differs, a missing report bucket.
#[tokio::test]
async fn bad_create_job_requests_create_nothing() {
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "ljbad").await;
    let etag = put_text(&s3, &b, "m.csv", format!("{b},k\n")).await;
    let jobs = Jobs::of(&srv).await;
    let arn = format!("arn:aws:s3:::{b}/m.csv");
    let good = create_xml(
        "t1",
        HOLD_ON,
        ("S3BatchOperations_CSV_20180820", &arn, &etag, &["Bucket", "Key"]),
        Some((&b, "", "AllTasks")),
    );
    let cases: Vec<(String, u16, &str)> = vec![
        (good.replace("</CreateJobRequest>", ""), 400, "MalformedXML"),
        (good.replace("<Priority>", "<Priorty>1</Priorty><Priority>"), 400, "MalformedXML"),
        (good.replace("<Priority>10</Priority>", "<Priority>ten</Priority>"), 400, "MalformedXML"),
        (good.replace(HOLD_ON, "<S3Frobnicate/>"), 400, "MalformedXML"),
        // S3ReplicateObjectOperation is an empty structure: a child or text in it is malformed.
        (good.replace(HOLD_ON, "<S3ReplicateObject><Status>ON</Status></S3ReplicateObject>"), 400, "MalformedXML"),
        (good.replace(HOLD_ON, "<S3ReplicateObject>now</S3ReplicateObject>"), 400, "MalformedXML"),
        (good.replace(HOLD_ON, "<LambdaInvoke><FunctionArn>f</FunctionArn></LambdaInvoke>"), 400, "InvalidRequest"),
        (good.replace(&etag, "\"0123456789abcdef0123456789abcdef\""), 400, "InvalidRequest"),
        (
            good.replace(&format!("arn:aws:s3:::{b}</Bucket>"), "arn:aws:s3:::no-such-bucket-lj</Bucket>"),
            400,
            "InvalidRequest",
        ),
        (good.replace(&arn, &format!("arn:aws:s3:::{b}/missing.csv")), 400, "InvalidRequest"),
    ];
    for (xml, status, code) in &cases {
        let r = jobs.call("POST", "/v20180820/jobs", xml.as_bytes()).await;
        assert_eq!((r.status, r.xml("Code").unwrap_or_default().as_str()), (*status, *code), "{xml}\n{}", r.text());
        assert!(r.text().contains("<ErrorResponse><Error>"), "{}", r.text());
    }
    assert!(jobs.ids().await.is_empty(), "a refused request created a job");
    // Another account id than the caller's, an unknown job, a status AWS does not allow.
    let other = Jobs { account: "000000000000".into(), addr: jobs.addr.clone(), keys: jobs.keys.clone() };
    assert_eq!(other.call("GET", "/v20180820/jobs", b"").await.status, 403);
    let r = jobs.call("GET", "/v20180820/jobs/00000000-0000-0000-0000-000000000000", b"").await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (404, Some("NotFoundException")));
    let id = jobs.create(&good).await.unwrap();
    let r = jobs.call("POST", &format!("/v20180820/jobs/{id}/status?requestedJobStatus=Active"), b"").await;
    assert_eq!((r.status, r.xml("Code").as_deref()), (400, Some("InvalidRequest")));
}

/// The AWS CLI itself: `aws s3control create-job / describe-job / list-jobs /
/// update-job-priority / update-job-status` against this server. The CLI puts the account id
/// in front of the endpoint's host (`<account>.127.0.0.1`); a `sitecustomize.py` resolves
/// that name to 127.0.0.1 for the CLI process only.
#[tokio::test]
async fn aws_cli_drives_the_job_api() {
    if std::process::Command::new("aws").arg("--version").output().is_err() {
        eprintln!("skipped: no aws CLI");
        return;
    }
    let srv = server();
    let s3 = srv.client();
    let b = lock_bucket(&s3, "ljcli").await;
    let v = put(&s3, &b, "doc one", b"x").await;
    let etag = put_text(&s3, &b, "m.csv", format!("{b},doc+one,{v}\n")).await;
    let account = account_id(&srv).await;
    let site = tempfile::tempdir().unwrap();
    std::fs::write(
        site.path().join("sitecustomize.py"),
        "import socket\n_real = socket.getaddrinfo\ndef _resolve(host, *a, **k):\n    if isinstance(host, str) and host.endswith('.127.0.0.1'):\n        host = '127.0.0.1'\n    return _real(host, *a, **k)\nsocket.getaddrinfo = _resolve\n",
    )
    .unwrap();
    let aws = |args: &[&str]| {
        let out = std::process::Command::new("aws")
            .args(["s3control", "--endpoint-url", &srv.endpoint, "--region", "us-east-1", "--output", "json"])
            .args(args)
            .args(["--account-id", &account])
            .env("AWS_ACCESS_KEY_ID", ROOT_AK)
            .env("AWS_SECRET_ACCESS_KEY", ROOT_SK)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("PYTHONPATH", site.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "aws {args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap_or(serde_json::Value::Null)
    };
    let manifest = format!(
        r#"{{"Spec":{{"Format":"S3BatchOperations_CSV_20180820","Fields":["Bucket","Key","VersionId"]}},"Location":{{"ObjectArn":"arn:aws:s3:::{b}/m.csv","ETag":{etag}}}}}"#
    );
    let report = format!(
        r#"{{"Bucket":"arn:aws:s3:::{b}","Format":"Report_CSV_20180820","Enabled":true,"Prefix":"cli","ReportScope":"AllTasks"}}"#
    );
    let created = aws(&[
        "create-job",
        "--confirmation-required",
        "--operation",
        r#"{"S3PutObjectLegalHold":{"LegalHold":{"Status":"ON"}}}"#,
        "--manifest",
        &manifest,
        "--report",
        &report,
        "--priority",
        "10",
        "--role-arn",
        "arn:aws:iam::123456789012:role/batch",
        "--client-request-token",
        "cli-1",
    ]);
    let id = created["JobId"].as_str().unwrap().to_owned();
    let jobs = Jobs { addr: srv.addr.clone(), account: account.clone(), keys: (ROOT_AK.into(), ROOT_SK.into()) };
    jobs.wait(&id, &["Suspended"], Duration::from_secs(30)).await;
    let listed = aws(&["list-jobs"]);
    assert_eq!(listed["Jobs"][0]["JobId"], id.as_str());
    assert_eq!(listed["Jobs"][0]["Operation"], "S3PutObjectLegalHold");
    assert_eq!(aws(&["update-job-priority", "--job-id", &id, "--priority", "42"])["Priority"], 42);
    let ready = aws(&["update-job-status", "--job-id", &id, "--requested-job-status", "Ready"]);
    assert_eq!(ready["Status"], "Ready");
    jobs.wait(&id, &["Complete"], Duration::from_secs(30)).await;
    let described = aws(&["describe-job", "--job-id", &id]);
    let job = &described["Job"];
    assert_eq!(job["Status"], "Complete");
    assert_eq!(job["Priority"], 42);
    assert_eq!(job["ProgressSummary"]["TotalNumberOfTasks"], 1);
    assert_eq!(job["ProgressSummary"]["NumberOfTasksSucceeded"], 1);
    assert_eq!(job["Operation"]["S3PutObjectLegalHold"]["LegalHold"]["Status"], "ON");
    let h = s3.get_object_legal_hold().bucket(&b).key("doc one").version_id(&v).send().await.unwrap();
    assert_eq!(h.legal_hold().unwrap().status(), Some(&ObjectLockLegalHoldStatus::On));
    // Cancelling an ended job: AWS's JobStatusException.
    let out = std::process::Command::new("aws")
        .args(["s3control", "--endpoint-url", &srv.endpoint, "--region", "us-east-1"])
        .args(["update-job-status", "--job-id", &id, "--requested-job-status", "Cancelled", "--account-id", &account])
        .env("AWS_ACCESS_KEY_ID", ROOT_AK)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SK)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("PYTHONPATH", site.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("JobStatusException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = ObjectLockRetentionMode::Governance;
}

const REPLICATE: &str = "<S3ReplicateObject/>";

/// S3 Batch Replication through a job (issue #14 with #13, X2): versions written before their
/// bucket's replication rule are queued by an `S3ReplicateObject` job, each in its task's
/// transaction, and arrive on the destination with their lock state (W9); a key no rule
/// applies to fails `InvalidRequest` and queues nothing; a creator without
/// `s3:InitiateReplication` gets `AccessDenied` and queues nothing.
#[tokio::test]
async fn replicate_object_job_queues_versions_that_predate_the_rule() {
    use crate::replication::{config, rule, status, wait_status};
    use holdfast_testkit::aws_sdk_s3::types::ReplicationStatus;
    let srv = Server::start_with(
        &bin(),
        ServerOptions {
            config_toml: "[replication]\nretry_min_ms = 100\nretry_max_ms = 500\npoll_ms = 50\nlease_ms = 1000\n"
                .into(),
            ..Default::default()
        },
    );
    let s3 = srv.client();
    let iam = srv.iam();
    let src = lock_bucket(&s3, "ljrsrc").await;
    let dst = lock_bucket(&s3, "ljrdst").await;
    let reports = plain_bucket(&s3, "ljrrep").await;
    // Versions written before the rule: no replication queued for any of them.
    let until = days(3);
    let mut wanted = vec![
        ("docs/gov a".to_owned(), put_locked(&s3, &src, "docs/gov a", ObjectLockMode::Governance, &until).await),
        ("docs/comp".to_owned(), put_locked(&s3, &src, "docs/comp", ObjectLockMode::Compliance, &until).await),
        ("docs/held".to_owned(), crate::object_lock_support::put_held(&s3, &src, "docs/held").await),
        ("docs/plain".to_owned(), put(&s3, &src, "docs/plain", b"plain").await),
    ];
    let outside = put(&s3, &src, "other/x", b"no rule for me").await;
    let for_user: Vec<(String, String)> = vec![
        ("docs/u1".to_owned(), put(&s3, &src, "docs/u1", b"u1").await),
        ("docs/u2".to_owned(), put(&s3, &src, "docs/u2", b"u2").await),
    ];
    s3.put_bucket_replication()
        .bucket(&src)
        .replication_configuration(config(vec![rule("docs", 1, "docs/", &format!("arn:aws:s3:::{dst}"), false)]))
        .send()
        .await
        .unwrap();
    for (k, v) in wanted.iter().chain(&for_user) {
        assert_eq!(status(&s3, &src, k, v).await, None, "{k} was queued before any job");
    }
    let mut csv: String = wanted.iter().map(|(k, v)| format!("{src},{},{v}\n", enc(k))).collect();
    csv.push_str(&format!("{src},other/x,{outside}\n"));
    let etag = put_text(&s3, &reports, "replicate.csv", csv).await;
    let jobs = Jobs::of(&srv).await;
    let manifest = |key: &str, etag: &str| {
        (
            "S3BatchOperations_CSV_20180820",
            format!("arn:aws:s3:::{reports}/{key}"),
            etag.to_owned(),
            ["Bucket", "Key", "VersionId"],
        )
    };
    let (f, arn, e, fields) = manifest("replicate.csv", &etag);
    let xml = create_xml("batch-replication", REPLICATE, (f, &arn, &e, &fields), Some((&reports, "br", "AllTasks")));
    let id = jobs.create(&xml).await.unwrap();
    let done = jobs.wait(&id, &["Complete", "Failed"], Duration::from_secs(60)).await;
    assert_eq!(done.xml("Status").unwrap(), "Complete", "{}", done.text());
    assert!(done.text().contains("<Operation><S3ReplicateObject/></Operation>"), "{}", done.text());
    assert_eq!((count(&done, "NumberOfTasksSucceeded"), count(&done, "NumberOfTasksFailed")), (4, 1));
    assert_eq!(done.xml("FailureCode").as_deref(), Some("InvalidRequest"), "{}", done.text());

    // Every version arrives with its bytes' ETag and its lock state; the source says COMPLETED.
    for (k, v) in &wanted {
        wait_status(&s3, &src, k, v, ReplicationStatus::Completed).await;
        let a = s3.head_object().bucket(&src).key(k).version_id(v).send().await.unwrap();
        let b = s3.head_object().bucket(&dst).key(k).version_id(v).send().await.unwrap();
        assert_eq!(b.replication_status(), Some(&ReplicationStatus::Replica), "{k}");
        assert_eq!(a.e_tag(), b.e_tag(), "{k}");
        assert_eq!(a.object_lock_mode(), b.object_lock_mode(), "{k}");
        assert_eq!(a.object_lock_retain_until_date(), b.object_lock_retain_until_date(), "{k}");
        assert_eq!(a.object_lock_legal_hold_status(), b.object_lock_legal_hold_status(), "{k}");
    }
    let comp = s3.head_object().bucket(&dst).key("docs/comp").version_id(&wanted[1].1).send().await.unwrap();
    assert_eq!(comp.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    // The key no rule applies to: failed, nothing queued, nothing on the destination.
    assert_eq!(status(&s3, &src, "other/x", &outside).await, None);
    assert!(s3.head_object().bucket(&dst).key("other/x").send().await.is_err());

    // The report lists each task once: four succeeded, the unmatched key failed.
    let (_, rows) = report_rows(&s3, &reports, &format!("br/job-{id}")).await;
    assert_eq!(rows.len(), 5, "{rows:?}");
    let mut got: Vec<(String, String, String)> = Vec::new();
    for r in &rows {
        let outcome = if r[1] == "other/x" {
            assert_eq!((r[3].as_str(), r[4].as_str(), r[5].as_str()), ("failed", "InvalidRequest", "400"), "{r:?}");
            assert!(r[6].contains("replication rule"), "{r:?}");
            "failed"
        } else {
            assert_eq!((r[3].as_str(), r[4].as_str(), r[5].as_str()), ("succeeded", "", "200"), "{r:?}");
            "succeeded"
        };
        got.push((decode(&r[1]), r[2].clone(), outcome.to_owned()));
    }
    got.sort();
    wanted.push(("other/x".to_owned(), outside.clone()));
    let mut want: Vec<(String, String, String)> = wanted
        .iter()
        .map(|(k, v)| (k.clone(), v.clone(), if k == "other/x" { "failed" } else { "succeeded" }.to_owned()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    // One audit record per queued version, as the job's creator.
    let records = wait_for("the job's audit records", Duration::from_secs(30), async || {
        let r: Vec<serde_json::Value> =
            audit_records(&srv.data_dir).into_iter().filter(|r| r["detail"]["lockJob"] == id.as_str()).collect();
        (r.len() >= 4).then_some(r)
    })
    .await;
    assert_eq!(records.len(), 4, "{records:?}");
    for r in &records {
        assert_eq!(r["op"], "InitiateReplication", "{r}");
        assert!(r["principal"].as_str().unwrap().ends_with(":root"), "{r}");
        assert_ne!(r["key"], "other/x", "{r}");
    }

    // A creator without s3:InitiateReplication: AccessDenied, nothing queued.
    let csv: String = for_user.iter().map(|(k, v)| format!("{src},{k},{v}\n")).collect();
    let etag = put_text(&s3, &reports, "user.csv", csv).await;
    iam.create_user().user_name("replicator").send().await.unwrap();
    let base = r#""s3:CreateJob","s3:DescribeJob","s3:GetObject""#;
    let policy = |extra: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":[{base}{extra}],"Resource":"*"}}]}}"#
        )
    };
    iam.put_user_policy().user_name("replicator").policy_name("p").policy_document(policy("")).send().await.unwrap();
    let key = iam.create_access_key().user_name("replicator").send().await.unwrap();
    let key = key.access_key().unwrap();
    let user_jobs = Jobs {
        addr: jobs.addr.clone(),
        account: jobs.account.clone(),
        keys: (key.access_key_id().to_owned(), key.secret_access_key().to_owned()),
    };
    let (f, arn, e, fields) = manifest("user.csv", &etag);
    let xml = create_xml("denied", REPLICATE, (f, &arn, &e, &fields), None);
    let id = user_jobs.create(&xml).await.unwrap();
    let done = user_jobs.wait(&id, &["Complete", "Failed"], Duration::from_secs(60)).await;
    assert_eq!((count(&done, "NumberOfTasksSucceeded"), count(&done, "NumberOfTasksFailed")), (0, 2));
    assert_eq!(done.xml("FailureCode").as_deref(), Some("AccessDenied"), "{}", done.text());
    for (k, v) in &for_user {
        assert_eq!(status(&s3, &src, k, v).await, None, "{k} queued without the permission");
    }
    // Granted s3:InitiateReplication, the same manifest replicates.
    iam.put_user_policy()
        .user_name("replicator")
        .policy_name("p")
        .policy_document(policy(r#","s3:InitiateReplication""#))
        .send()
        .await
        .unwrap();
    let xml = create_xml("granted", REPLICATE, (f, &arn, &e, &fields), None);
    let id = user_jobs.create(&xml).await.unwrap();
    let done = user_jobs.wait(&id, &["Complete", "Failed"], Duration::from_secs(60)).await;
    assert_eq!(
        (count(&done, "NumberOfTasksSucceeded"), count(&done, "NumberOfTasksFailed")),
        (2, 0),
        "{}",
        done.text()
    );
    for (k, v) in &for_user {
        wait_status(&s3, &src, k, v, ReplicationStatus::Completed).await;
    }
}
