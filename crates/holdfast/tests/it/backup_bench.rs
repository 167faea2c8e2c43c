//! `holdfast bench --workload backup` end to end on tiny sizes (issue #18), so that the
//! workload cannot rot: every phase runs with no error and the counts it reports, the
//! cleanup crosses the 1,000-key DeleteObjects boundary once the COMPLIANCE retention has
//! passed (a locked version would be refused, D8), SOSAPI is turned on through the data dir,
//! and the bench leaves nothing behind.

use crate::evidence_support::BIN;
use holdfast_testkit::{ROOT_AK, ROOT_SK, Server};
use std::process::Command;

#[tokio::test]
async fn backup_workload_runs_every_phase_and_cleans_up() {
    let srv = Server::start(BIN);
    let config = srv.data_dir.with_extension("toml");
    let out = Command::new("timeout")
        .arg("120")
        .arg(BIN)
        .args(["bench", "--workload", "backup", "--json", "--endpoint", &srv.endpoint])
        .args(["--access-key", ROOT_AK, "--secret-key", ROOT_SK])
        // 3 restore points of 505 blocks: the 2 older ones (1,010 versions) are cleaned up
        // in 2 DeleteObjects requests, the last one is extended.
        .args(["--restore-points", "3", "--blocks", "505", "--block-size", "4KiB", "--extend-points", "1"])
        .args(["--lock-mode", "compliance", "--retain-secs", "2", "--extend-secs", "1"])
        .args(["--sweeps", "2", "--sosapi-polls", "10", "--concurrency", "4", "--duration", "60s"])
        .arg("--server-data-dir")
        .arg(&srv.data_dir)
        .arg("--server-config")
        .arg(&config)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["failures"], serde_json::json!([]));
    let rows = report["rows"].as_array().unwrap();
    let phases: Vec<(&str, u64, u64)> = rows
        .iter()
        .map(|r| (r["op"].as_str().unwrap(), r["ops"].as_u64().unwrap(), r["errors"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        phases,
        [
            ("bk-write", 1515, 0),
            ("bk-extend", 505, 0),
            ("bk-cleanup", 2, 0),
            ("bk-versions", 2, 0),
            ("bk-sosapi", 10, 0)
        ]
    );
    assert_eq!(rows[0]["size"], 4096);
    assert!(rows[0]["mib_per_sec"].as_f64().unwrap() > 0.0);
    // Keys per second: versions extended, deleted, listed (505 left after the cleanup).
    for r in &rows[1..4] {
        assert!(r["keys_per_sec"].as_f64().unwrap() > 0.0, "{r}");
    }
    let listed = rows[3]["keys_per_sec"].as_f64().unwrap() * rows[3]["seconds"].as_f64().unwrap();
    assert!((listed - 1010.0).abs() < 1.0, "2 sweeps of 505 versions: {listed}");
    let deleted = rows[2]["keys_per_sec"].as_f64().unwrap() * rows[2]["seconds"].as_f64().unwrap();
    assert!((deleted - 1010.0).abs() < 1.0, "the 2 older restore points: {deleted}");
    for r in rows {
        assert!(r["p50_ms"].as_f64().unwrap() > 0.0 && r["p99_ms"].as_f64().unwrap() >= r["p50_ms"].as_f64().unwrap());
    }
    // Nothing left: the bucket waited out its COMPLIANCE dates and was removed.
    let buckets = srv.client().list_buckets().send().await.unwrap();
    assert!(buckets.buckets().is_empty(), "{:?}", buckets.buckets());
}
