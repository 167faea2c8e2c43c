//! The server as an operator meets it: one-command start, generated root
//! credentials, health and metrics, request ids, virtual-hosted addressing, clean SIGTERM,
//! and clear one-line errors for bad flags, busy ports and unusable data dirs.

use holdfast_testkit::aws_sdk_s3::operation::RequestId;
use holdfast_testkit::aws_sdk_s3::primitives::ByteStream;
use holdfast_testkit::{ROOT_AK, ROOT_SK, Server, ServerOptions, bucket_name, raw_http, signed_request};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

async fn get(addr: &str, path: &str) -> holdfast_testkit::RawResponse {
    raw_http(addr, format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").into_bytes())
        .await
        .unwrap()
}

#[tokio::test]
async fn health_metrics_and_request_ids() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = bucket_name("metrics");
    s3.create_bucket().bucket(&b).send().await.unwrap();
    s3.put_object().bucket(&b).key("k").body(ByteStream::from(vec![0u8; 1234])).send().await.unwrap();
    let _ = s3.get_object().bucket(&b).key("missing").send().await;
    let health = get(&srv.addr, "/_holdfast/health").await;
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let metrics = get(&srv.addr, "/_holdfast/metrics").await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(text.contains("holdfast_requests_total{op=\"PutObject\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("holdfast_requests_total{op=\"GetObject\",status=\"404\"} 1"), "{text}");
    assert!(text.contains("holdfast_request_duration_seconds_bucket{op=\"PutObject\""), "{text}");
    assert!(text.contains("holdfast_bytes_in_total"), "{text}");
    assert!(text.contains("holdfast_bytes_out_total"), "{text}");
    let put = s3.put_object().bucket(&b).key("k2").body(ByteStream::from_static(b"x")).send().await.unwrap();
    let id = put.request_id().unwrap().to_owned();
    let again = s3.head_object().bucket(&b).key("k2").send().await.unwrap();
    assert_ne!(again.request_id(), Some(id.as_str()), "each response has its own request id");
}

#[tokio::test]
async fn virtual_hosted_style_addressing() {
    let srv = Server::start_with(
        BIN,
        ServerOptions { config_toml: "base_domain = \"s3.holdfast.test\"\n".into(), ..Default::default() },
    );
    let b = bucket_name("vhost");
    srv.client().create_bucket().bucket(&b).send().await.unwrap();
    srv.client().put_object().bucket(&b).key("dir/obj").body(ByteStream::from_static(b"vh")).send().await.unwrap();
    // The signed Host header names the bucket; the path is only the key.
    let host = format!("{b}.s3.holdfast.test");
    let req = signed_request(&host, "GET", "/dir/obj", &[], b"", ROOT_AK, ROOT_SK, SystemTime::now());
    let resp = raw_http(&srv.addr, req).await.unwrap();
    assert_eq!((resp.status, resp.body.as_slice()), (200, b"vh".as_slice()), "{}", resp.text());
    // Path-style keeps working for other hosts.
    let req = signed_request(&srv.addr, "GET", &format!("/{b}/dir/obj"), &[], b"", ROOT_AK, ROOT_SK, SystemTime::now());
    assert_eq!(raw_http(&srv.addr, req).await.unwrap().status, 200);
}

#[tokio::test]
async fn sigterm_finishes_in_flight_requests_and_exits_cleanly() {
    let mut srv = Server::start(BIN);
    let b = bucket_name("term");
    srv.client().create_bucket().bucket(&b).send().await.unwrap();
    // A PUT whose body is still arriving when SIGTERM comes.
    let addr = srv.addr.clone();
    let path = format!("/{b}/slow");
    let body = vec![b'z'; 64 * 1024];
    let req = signed_request(
        &addr,
        "PUT",
        &path,
        &[("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
        &body,
        ROOT_AK,
        ROOT_SK,
        SystemTime::now(),
    );
    let split = req.len() - body.len() / 2;
    let upload = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(&req[..split]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
        s.write_all(&req[split..]).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = srv.pid();
    let exit = tokio::task::spawn_blocking(move || {
        Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    });
    exit.await.unwrap();
    let response = upload.await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let status = srv.terminate_wait();
    assert!(status.success(), "{status:?}");
    // Acknowledged means stored: it is there after a restart.
    srv.restart();
    let got = srv
        .client()
        .get_object()
        .bucket(&b)
        .key("slow")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(got.len(), 64 * 1024);
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).env("HOLDFAST_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn startup_errors_are_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, _, err) = run(&["serve", "--bogus-flag"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--bogus-flag"), "{err}");
    assert!(!err.contains("panicked"));

    let (code, _, err) = run(&["serve", "--listen", "not-an-address", "--data-dir", dir.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("holdfast: invalid listen address"), "{err}");

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    let (code, _, err) = run(
        &["serve", "--listen", &port, "--data-dir", dir.join("a").to_str().unwrap()],
        &[("HOLDFAST_ROOT_ACCESS_KEY", "a"), ("HOLDFAST_ROOT_SECRET_KEY", "b")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot listen on") && err.contains("Address already in use"), "{err}");
    assert!(!err.contains("panicked"));

    let file = dir.join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let (code, _, err) = run(&["serve", "--listen", "127.0.0.1:0", "--data-dir", file.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert!(err.starts_with("holdfast: cannot create data dir"), "{err}");

    let (code, _, err) = run(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.join("c").to_str().unwrap()],
        &[("HOLDFAST_ROOT_ACCESS_KEY", "only-one")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("HOLDFAST_ROOT_SECRET_KEY"), "{err}");
}

#[tokio::test]
async fn a_second_server_cannot_share_a_data_dir() {
    let srv = Server::start(BIN);
    let (code, _, err) = run(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", srv.data_dir.to_str().unwrap()],
        &[("HOLDFAST_ROOT_ACCESS_KEY", ROOT_AK), ("HOLDFAST_ROOT_SECRET_KEY", ROOT_SK)],
    );
    assert_eq!(code, 1);
    assert!(err.contains("in use by another holdfast process"), "{err}");
}

#[test]
fn first_start_generates_credentials_once_with_mode_0600() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let start = || {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().unwrap()])
            .env_remove("HOLDFAST_ROOT_ACCESS_KEY")
            .env_remove("HOLDFAST_ROOT_SECRET_KEY")
            .env("HOLDFAST_LOG", "error")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = Vec::new();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            let done = line.starts_with("holdfast listening on");
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        assert!(child.wait().unwrap().success());
        lines.concat()
    };
    let first = start();
    assert!(first.contains("Generated root credentials"), "{first}");
    let ak = first.lines().find_map(|l| l.trim().strip_prefix("access key: ")).unwrap().to_owned();
    let file = dir.join("root-credentials");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(std::fs::read_to_string(&file).unwrap().contains(&ak));
    let second = start();
    assert!(!second.contains("Generated root credentials"), "printed only once: {second}");
    assert!(!second.contains(&ak), "the secret is never printed again");
}
