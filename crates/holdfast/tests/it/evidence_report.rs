//! The lock report: `holdfast admin report` (text and JSON) and the Prometheus
//! gauges, checked against buckets whose content this test wrote.

use crate::evidence_support::*;
use crate::object_lock_support::{days, in_secs, iso_millis, lock_bucket, plain_bucket, sleep_past};
use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::primitives::{ByteStream, DateTime};
use holdfast_testkit::aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};
use holdfast_testkit::{Server, ServerOptions};
use serde_json::json;
use std::time::Duration;

async fn put(s3: &Client, b: &str, k: &str, size: usize, mode: Option<(ObjectLockMode, DateTime)>, hold: bool) {
    let mut req = s3.put_object().bucket(b).key(k).body(ByteStream::from(vec![b'x'; size]));
    if let Some((m, until)) = mode {
        req = req.object_lock_mode(m).object_lock_retain_until_date(until);
    }
    if hold {
        req = req.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On);
    }
    req.send().await.unwrap();
}

fn month(dt: &DateTime) -> String {
    iso_millis(dt)[..7].to_owned()
}

#[tokio::test]
async fn report_figures_match_the_known_content() {
    // Per-bucket gauges (hidden by default), recomputed often for the test.
    let config_toml = "[metrics]\nper_bucket = true\nlock_refresh_secs = 0.2\n".into();
    let srv = Server::start_with(BIN, ServerOptions { config_toml, ..Default::default() });
    let s3 = srv.client();
    let b = lock_bucket(&s3, "rep").await;
    let empty = plain_bucket(&s3, "repempty").await;
    let (g1, g2, c1, latest) = (days(40), days(100), days(100), days(400));
    let soon = in_secs(2);
    put(&s3, &b, "gov-a", 10, Some((ObjectLockMode::Governance, g1)), false).await;
    put(&s3, &b, "gov-b", 20, Some((ObjectLockMode::Governance, g2)), false).await;
    put(&s3, &b, "comp-a", 5, Some((ObjectLockMode::Compliance, c1)), false).await;
    put(&s3, &b, "comp-held", 3, Some((ObjectLockMode::Compliance, latest)), true).await;
    put(&s3, &b, "held", 7, None, true).await;
    put(&s3, &b, "free", 100, None, false).await;
    // Two versions of one key: both count (the report is about versions, not keys).
    put(&s3, &b, "gov-a", 11, Some((ObjectLockMode::Governance, g1)), false).await;
    // A retention that has ended protects nothing.
    put(&s3, &b, "expired", 1000, Some((ObjectLockMode::Governance, soon)), false).await;
    sleep_past(&soon, Duration::from_secs(10)).await;

    let mut months: Vec<(String, u64, u64)> = Vec::new();
    for (dt, size) in [(g1, 10), (g2, 20), (c1, 5), (latest, 3), (g1, 11)] {
        match months.iter_mut().find(|m| m.0 == month(&dt)) {
            Some(m) => {
                m.1 += 1;
                m.2 += size;
            }
            None => months.push((month(&dt), 1, size)),
        }
    }
    months.sort();
    let expected = json!({
        "bucket": b,
        "governance": { "versions": 3, "bytes": 41 },
        "compliance": { "versions": 2, "bytes": 8 },
        "legal_hold": { "versions": 2, "bytes": 10 },
        "latest_retain_until": iso_millis(&latest),
        "expiries_by_month": months.iter().map(|(m, v, by)| json!({ "month": m, "versions": v, "bytes": by })).collect::<Vec<_>>(),
    });

    // Beside the running server (the report only reads). With PostgreSQL the config names it.
    let data = srv.data_dir.to_str().unwrap().to_owned();
    let config = srv.data_dir.with_extension("toml");
    let config = config.to_str().unwrap();
    let (ok, out, err) = holdfast(&["admin", "report", "--data-dir", &data, "--config", config, "--json", &b]);
    assert!(ok, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["buckets"], json!([expected]));

    let (ok, out, err) = holdfast(&["admin", "report", "--data-dir", &data, "--config", config, "--json"]);
    assert!(ok, "{err}");
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    let buckets = all["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 2);
    let e = buckets.iter().find(|r| r["bucket"] == empty.as_str()).unwrap();
    let zero = json!({ "versions": 0, "bytes": 0 });
    assert_eq!((&e["governance"], &e["compliance"], &e["legal_hold"]), (&zero, &zero, &zero));
    assert_eq!(e["latest_retain_until"], serde_json::Value::Null);
    assert_eq!(e["expiries_by_month"], json!([]));

    let (ok, text, err) = holdfast(&["admin", "report", "--data-dir", &data, "--config", config, &b]);
    assert!(ok, "{err}");
    assert!(text.contains(&format!("bucket {b}\n")), "{text}");
    assert!(text.contains("GOVERNANCE           3 versions               41 bytes"), "{text}");
    assert!(text.contains("COMPLIANCE           2 versions                8 bytes"), "{text}");
    assert!(text.contains("legal hold           2 versions               10 bytes"), "{text}");
    assert!(text.contains("can be emptied not while 2 versions are under legal hold"), "{text}");
    assert!(text.contains(&format!("latest retain-until {}", iso_millis(&latest))), "{text}");
    let (ok, _, err) = holdfast(&["admin", "report", "--data-dir", &data, "--config", config, "no-such-bucket"]);
    assert!(!ok && err.contains("no bucket \"no-such-bucket\""), "{err}");

    // The same figures as gauges, once a report computed after the last change is served
    // (the gauges are refreshed in the background, not per scrape).
    let gov = format!("holdfast_lock_versions{{bucket=\"{b}\",kind=\"governance\"}}");
    let m = wait_for("a fresh lock report", Duration::from_secs(10), async || {
        let m = metrics_text(&srv.addr).await;
        (metric(&m, &gov) == Some(3.0)).then_some(m)
    })
    .await;
    let g = |name: &str, labels: &str| metric(&m, &format!("{name}{{bucket=\"{b}\",{labels}}}"));
    assert_eq!(g("holdfast_lock_versions", "kind=\"governance\""), Some(3.0), "{m}");
    assert_eq!(g("holdfast_lock_bytes", "kind=\"governance\""), Some(41.0));
    assert_eq!(g("holdfast_lock_versions", "kind=\"compliance\""), Some(2.0));
    assert_eq!(g("holdfast_lock_bytes", "kind=\"compliance\""), Some(8.0));
    assert_eq!(g("holdfast_lock_versions", "kind=\"legal_hold\""), Some(2.0));
    assert_eq!(g("holdfast_lock_bytes", "kind=\"legal_hold\""), Some(10.0));
    let latest_s = (latest.to_millis().unwrap() as f64) / 1000.0;
    assert_eq!(metric(&m, &format!("holdfast_lock_latest_retain_until_seconds{{bucket=\"{b}\"}}")), Some(latest_s));
    for (mo, v, by) in &months {
        assert_eq!(g("holdfast_lock_expiring_versions", &format!("month=\"{mo}\"")), Some(*v as f64));
        assert_eq!(g("holdfast_lock_expiring_bytes", &format!("month=\"{mo}\"")), Some(*by as f64));
    }
}
