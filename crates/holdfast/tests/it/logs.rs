//! Logs (issue #15): no ANSI colour codes when stderr is not a terminal, and
//! `HOLDFAST_LOG_FORMAT=json` with one object per line carrying the request's facts.

use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::{Server, ServerOptions, bucket_name};
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

fn logged(env: &[(&str, &str)], log: &Path) -> Server {
    Server::start_with(
        BIN,
        ServerOptions {
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            stderr_file: Some(log.to_owned()),
            ..Default::default()
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = logged(&[("HOLDFAST_LOG", "info,holdfast::access=debug")], &log);
    server.client().list_buckets().send().await.unwrap();
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(" INFO ") && text.contains("ready"), "{text}");
    assert!(text.contains("op=ListBuckets"), "the access line: {text}");
    assert!(!text.contains('\x1b'), "no escape sequences in a file: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_facts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = logged(&[("HOLDFAST_LOG_FORMAT", "json"), ("HOLDFAST_LOG", "info,holdfast::access=debug")], &log);
    let c = server.client();
    let b = bucket_name("json-log");
    c.create_bucket().bucket(&b).send().await.unwrap();
    c.put_object().bucket(&b).key("dir/obj.txt").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let _ = c.get_object().bucket(&b).key("missing").send().await.unwrap_err();
    drop(server);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(lines.iter().any(|l| l["message"] == "ready" && l["level"] == "INFO"), "{text}");
    let access = |op: &str| {
        lines
            .iter()
            .find(|l| l["target"] == "holdfast::access" && l["op"] == op)
            .unwrap_or_else(|| panic!("no access line for {op}: {text}"))
            .clone()
    };
    let put = access("PutObject");
    assert_eq!(put["bucket"], b.as_str(), "{put}");
    assert_eq!(put["key"], "dir/obj.txt", "{put}");
    assert_eq!(put["status"], 200, "{put}");
    assert_eq!(put["method"], "PUT", "{put}");
    assert!(put["principal"].as_str().unwrap().ends_with(":root"), "{put}");
    assert!(put["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{put}");
    assert!(put["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{put}");
    assert!(put["timestamp"].is_string(), "{put}");
    let get = access("GetObject");
    assert_eq!((get["status"].as_u64(), get["key"].as_str()), (Some(404), Some("missing")), "{get}");
    // A wrong format is refused at start, naming the variable.
    let out = std::process::Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("d"))
        .env("HOLDFAST_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("HOLDFAST_LOG_FORMAT"), "{err}");
}
