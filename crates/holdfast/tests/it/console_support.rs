//! Browser tests of the console (issue #16): a minimal W3C WebDriver client over plain HTTP
//! to Debian's `chromedriver`, which the test starts on a free port and which drives
//! `/usr/bin/chromium` headless. No client crate: the protocol is a few JSON calls.

#![allow(dead_code)]

use holdfast_testkit::{Server, ServerOptions, free_port};
use serde_json::{Value, json};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const MOUNT: &str = "/_holdfast/console";

/// A server with the console on (it is off by default with PostgreSQL) and `toml` added.
pub fn console_server(toml: &str) -> Server {
    Server::start_with(
        env!("CARGO_BIN_EXE_holdfast"),
        ServerOptions {
            config_toml: toml.to_owned(),
            env: vec![("HOLDFAST_CONSOLE".into(), "true".into())],
            ..Default::default()
        },
    )
}

/// Where screenshots go: `$HOLDFAST_CONSOLE_SCREENSHOTS`, else the target's tmp dir.
pub fn shots_dir() -> PathBuf {
    let dir = std::env::var_os("HOLDFAST_CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Self {
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver)");
        let mut b = Self { driver, port, session: String::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(v) = b.raw("GET", "/status", None).await
                && v["value"]["ready"] == json!(true)
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--hide-scrollbars",
                         format!("--window-size={width},{height}")]
            }
        }}});
        let v = b.raw("POST", "/session", Some(caps)).await.expect("new session");
        b.session = v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_owned();
        // An element looked up while a form's answer is still loading is waited for.
        b.cmd("POST", "/timeouts", Some(json!({"implicit": 5000, "pageLoad": 60000}))).await;
        b
    }

    async fn raw(&self, method: &str, path: &str, body: Option<Value>) -> std::io::Result<Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        // chromedriver drops a connection half-closed before its answer: no shutdown here.
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let exchange = async {
            let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
            conn.write_all(req.as_bytes()).await?;
            // Read up to the end of the body its Content-Length announces (chromedriver
            // keeps the connection open).
            let mut buf = Vec::new();
            let mut chunk = [0u8; 16384];
            loop {
                let n = conn.read(&mut chunk).await?;
                buf.extend_from_slice(&chunk[..n]);
                if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..at]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok());
                    if len.is_some_and(|len| buf.len() >= at + 4 + len) {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            Ok::<_, std::io::Error>(buf)
        };
        let raw = tokio::time::timeout(Duration::from_secs(60), exchange)
            .await
            .map_err(|_| std::io::Error::other("webdriver timeout"))??;
        let at = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("bad answer"))?;
        let r = holdfast_testkit::RawResponse { status: 0, headers: Vec::new(), body: raw[at + 4..].to_vec() };
        serde_json::from_slice(&r.body).map_err(std::io::Error::other)
    }

    /// A session command; panics on a WebDriver error.
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let v = self.raw(method, &format!("/session/{}{path}", self.session), body).await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("webdriver {method} {path}: {v}");
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).await;
    }

    pub async fn url(&self) -> String {
        self.cmd("GET", "/url", None).await.as_str().unwrap().to_owned()
    }

    pub async fn source(&self) -> String {
        self.cmd("GET", "/source", None).await.as_str().unwrap().to_owned()
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        let body = self.find("body").await;
        self.cmd("GET", &format!("/element/{body}/text"), None).await.as_str().unwrap().to_owned()
    }

    /// The visible text of the element `css` selects.
    pub async fn cmd_text(&self, css: &str) -> String {
        let el = self.find(css).await;
        self.cmd("GET", &format!("/element/{el}/text"), None).await.as_str().unwrap().to_owned()
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css}))).await;
        v.as_object().and_then(|o| o.values().next()).and_then(|id| id.as_str()).unwrap().to_owned()
    }

    pub async fn count(&self, css: &str) -> usize {
        self.cmd("POST", "/elements", Some(json!({"using": "css selector", "value": css})))
            .await
            .as_array()
            .unwrap()
            .len()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.cmd("POST", &format!("/element/{el}/clear"), Some(json!({}))).await;
        self.cmd("POST", &format!("/element/{el}/value"), Some(json!({"text": text}))).await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.cmd("POST", &format!("/element/{el}/click"), Some(json!({}))).await;
    }

    /// Clicks what loads a new page (a link, a form's button) and waits until the old page is
    /// gone (WebDriver may answer a click before the navigation it starts).
    pub async fn click_nav(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.raw("GET", &format!("/session/{}/element/{old}/name", self.session), None).await.unwrap();
            if v["value"].get("error").is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "{css}: no new page");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.find("body").await;
    }

    /// Sends keys to the focused element (Tab, Enter: keyboard use).
    pub async fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [json!({"type": "keyDown", "value": c.to_string()}), json!({"type": "keyUp", "value": c.to_string()})]
            })
            .collect();
        self.cmd("POST", "/actions", Some(json!({"actions": [{"type": "key", "id": "kb", "actions": actions}]}))).await;
    }

    /// The cookie `name` as the browser holds it.
    pub async fn cookie(&self, name: &str) -> Value {
        self.cmd("GET", &format!("/cookie/{name}"), None).await
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd("POST", "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// Saves a PNG of the viewport as `<dir>/<name>.png`.
    pub async fn shot(&self, name: &str) {
        use base64::Engine as _;
        let v = self.cmd("GET", "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap();
        let backend = if holdfast_testkit::meta_is_postgres() { "postgres" } else { "sqlite" };
        std::fs::write(shots_dir().join(format!("{name}-{backend}.png")), png).unwrap();
    }

    pub async fn quit(mut self) {
        let _ = self.raw("DELETE", &format!("/session/{}", self.session), None).await;
        self.session.clear();
    }

    /// Signs in through the form; returns the page text after it.
    pub async fn sign_in(&self, endpoint: &str, access_key: &str, secret_key: &str) -> String {
        self.goto(&format!("{endpoint}{MOUNT}/")).await;
        assert!(self.url().await.ends_with("/signin"), "{}", self.url().await);
        self.fill("#access_key", access_key).await;
        self.fill("#secret_key", secret_key).await;
        self.click_nav("button[type=submit]").await;
        self.text().await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and the Chromium it started share its process group: end them all,
        // by that id (the group this test created).
        let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{}", self.driver.id())).status();
        let _ = self.driver.wait();
    }
}
