//! Helpers of the evidence tests (`evidence_*.rs`): a webhook receiver the test
//! can take down and bring back on the same port, bounded polling, the audit trail as JSON.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

/// A webhook endpoint on 127.0.0.1: answers 200 to every POST and keeps the JSON bodies.
/// While stopped nothing listens on its port (connections are refused).
pub struct Receiver {
    pub port: u16,
    pub bodies: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf[head_end..head_end + len].to_vec())
}

impl Receiver {
    /// Listens on a fresh port.
    pub fn start() -> Self {
        Self::start_on(0, Arc::default())
    }

    fn start_on(port: u16, bodies: Arc<Mutex<Vec<Value>>>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the webhook receiver");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (stop2, bodies2) = (Arc::clone(&stop), Arc::clone(&bodies));
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        if let Some(body) = read_request(&mut stream) {
                            let json: Value = serde_json::from_slice(&body).expect("a JSON event body");
                            bodies2.lock().unwrap().push(json);
                            let _ =
                                stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("webhook receiver accept: {e}"),
                }
            }
        });
        Self { port, bodies, stop, thread: Some(thread) }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    /// Stops listening (the port refuses connections until [`Self::resume`]).
    pub fn pause(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }

    /// Listens again on the same port, keeping what was received.
    pub fn resume(&mut self) {
        *self = Self::start_on(self.port, Arc::clone(&self.bodies));
    }

    /// Every record received so far (one per delivery).
    pub fn records(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().iter().flat_map(|b| b["Records"].as_array().cloned().unwrap_or_default()).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Polls `f` every 50 ms until it returns Some, for at most `limit`.
pub async fn wait_for<T>(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The directory of the server's chain: `audit/`, or on PostgreSQL (gateways sharing a data
/// dir, one chain each) the first gateway slot `audit/gw-1/`.
pub fn trail_dir(data_dir: &Path) -> PathBuf {
    let gateway = data_dir.join("audit").join("gw-1");
    if gateway.is_dir() { gateway } else { data_dir.join("audit") }
}

/// The trail's files in chain order.
pub fn trail_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(trail_dir(data_dir))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.file_name().unwrap().to_string_lossy().starts_with("audit-"));
    files.sort();
    files
}

/// Every complete audit record of the data dir, in order.
pub fn audit_records(data_dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for f in trail_files(data_dir) {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.split_terminator('\n') {
            out.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("audit line {line:?}: {e}")));
        }
    }
    out
}

/// Runs `holdfast <args>`; returns (exit success, stdout, stderr).
pub fn holdfast(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .env_remove("HOLDFAST_DATA_DIR")
        .env_remove("HOLDFAST_CONFIG")
        .output()
        .expect("run holdfast");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value of one Prometheus sample (`name{labels}`), if present.
pub fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

pub async fn metrics_text(addr: &str) -> String {
    let req = format!("GET /_holdfast/metrics HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    let r = holdfast_testkit::raw_http(addr, req.into_bytes()).await.unwrap();
    assert_eq!(r.status, 200);
    r.text()
}
