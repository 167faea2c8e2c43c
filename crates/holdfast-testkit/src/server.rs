//! A real `holdfast serve` process on 127.0.0.1 with a private data directory.

use sha2::Digest as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ROOT_AK: &str = "HFTESTROOTACCESSKEY0";
pub const ROOT_SK: &str = "holdfast-test-root-secret-key-0000000000";

#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Extra TOML appended to the generated config file.
    pub config_toml: String,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Run the server with this open-files limit (soft, hard), through `prlimit`.
    pub nofile: Option<(u64, u64)>,
    /// Append the server's log (stderr) to this file instead of the test's stderr.
    pub stderr_file: Option<PathBuf>,
    /// Listen here (`IP:PORT`) instead of on a fresh port, so that a restarted server is
    /// found where it was (a replication destination going down and coming back).
    pub listen: Option<String>,
    /// The server speaks HTTPS (the test put `[tls]` in `config_toml` or `--tls-*` in
    /// `env`): clients trust this CA certificate (PEM).
    pub tls_ca: Option<Vec<u8>>,
    /// Start without `HOLDFAST_ROOT_*`: the server generates its root keys (or reads them
    /// from `<data-dir>/root-credentials`).
    pub generated_root: bool,
}

pub struct Server {
    bin: PathBuf,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    child: Option<Child>,
    pub addr: String,
    pub endpoint: String,
    options: ServerOptions,
}

impl Server {
    /// Starts a server on a fresh data directory.
    pub fn start(bin: &str) -> Self {
        Self::start_with(bin, ServerOptions::default())
    }

    pub fn start_with(bin: &str, options: ServerOptions) -> Self {
        let tmp = tempfile::tempdir().expect("temp dir");
        let data_dir = tmp.path().join("data");
        let mut s = Self {
            bin: PathBuf::from(bin),
            data_dir,
            _tmp: Some(tmp),
            child: None,
            addr: String::new(),
            endpoint: String::new(),
            options,
        };
        s.spawn();
        s
    }

    /// Starts a server on an existing data directory (owned by the caller).
    pub fn start_in(bin: &str, data_dir: &Path, options: ServerOptions) -> Self {
        let mut s = Self {
            bin: PathBuf::from(bin),
            data_dir: data_dir.to_owned(),
            _tmp: None,
            child: None,
            addr: String::new(),
            endpoint: String::new(),
            options,
        };
        s.spawn();
        s
    }

    /// With `HOLDFAST_TEST_META=postgres`, the database this server's data dir stands for
    /// (one per data dir, so restarts and several servers on one dir share it), on the
    /// test process's shared cluster; `None` for the embedded store or when the test
    /// configured `[meta]` itself.
    pub fn meta_database(&self) -> Option<String> {
        if !crate::postgres::meta_is_postgres() || self.options.config_toml.contains("[meta]") {
            return None;
        }
        let path = std::fs::canonicalize(&self.data_dir).unwrap_or_else(|_| self.data_dir.clone());
        let digest = sha2::Sha256::digest(path.to_string_lossy().as_bytes());
        Some(format!("hf_{}", &hex::encode(digest)[..24]))
    }

    /// The metadata as stored, for tests that look for what must never be kept in the
    /// clear: the SQLite files, or a dump of the PostgreSQL database.
    pub fn metadata_bytes(&self) -> Vec<u8> {
        match self.meta_database() {
            Some(db) => crate::Postgres::shared().dump(&db),
            None => {
                let mut bytes = std::fs::read(self.data_dir.join("meta.db")).expect("meta.db");
                bytes.extend(std::fs::read(self.data_dir.join("meta.db-wal")).unwrap_or_default());
                bytes
            }
        }
    }

    fn spawn(&mut self) {
        use std::fmt::Write as _;
        // Private, as the server keeps it: a wider one is narrowed with a warning.
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(&self.data_dir)
            .expect("data dir");
        let config = self.data_dir.with_extension("toml");
        let mut toml = with_test_reserve(&self.options.config_toml);
        if let Some(db) = self.meta_database() {
            let url = crate::Postgres::shared().database(&db);
            // One server per data dir in these tests: it may sweep orphans at once.
            let _ = write!(toml, "\n[meta]\nbackend = \"postgres\"\nurl = \"{url}\"\norphan_grace_secs = 0\n");
        }
        std::fs::write(&config, toml).expect("config file");
        let mut cmd = match self.options.nofile {
            // prlimit execs the server: the child's pid is the server's.
            Some((soft, hard)) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={soft}:{hard}")).arg("--").arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        let stderr = match &self.options.stderr_file {
            Some(path) => {
                Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(path).expect("server log file"))
            }
            None => Stdio::inherit(),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(self.options.listen.as_deref().unwrap_or("127.0.0.1:0"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--config")
            .arg(&config)
            .env("HOLDFAST_ROOT_ACCESS_KEY", ROOT_AK)
            .env("HOLDFAST_ROOT_SECRET_KEY", ROOT_SK)
            .env("HOLDFAST_LOG", std::env::var("HOLDFAST_TEST_LOG").unwrap_or_else(|_| "warn,s3s=off".into()))
            .stdout(Stdio::piped())
            .stderr(stderr);
        if self.options.generated_root {
            cmd.env_remove("HOLDFAST_ROOT_ACCESS_KEY").env_remove("HOLDFAST_ROOT_SECRET_KEY");
        }
        for (k, v) in &self.options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn holdfast");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut sent = false;
            while let Some(Ok(line)) = lines.next() {
                let rest = line.strip_prefix("holdfast listening on ");
                if !sent && let Some((scheme, rest)) = rest.and_then(|r| r.split_once("://")) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send((scheme.to_owned(), addr));
                    sent = true;
                }
            }
        });
        let (scheme, addr) =
            rx.recv_timeout(Duration::from_secs(60)).expect("holdfast did not report its address within 60 s");
        self.endpoint = format!("{scheme}://{addr}");
        self.addr = addr;
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&self) {
        if self.endpoint.starts_with("https://") {
            // The edge is ready before the address is printed; over TLS a connect suffices.
            std::net::TcpStream::connect(&self.addr).expect("connect to the HTTPS port");
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = crate::raw::raw_http_blocking(
                &self.addr,
                b"GET /_holdfast/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ) && r.status == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("holdfast at {} never became healthy", self.addr);
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_as(ROOT_AK, ROOT_SK)
    }

    /// An S3 client with other keys (a user's).
    pub fn client_as(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
        match &self.options.tls_ca {
            Some(ca) => crate::s3_client_tls(&self.endpoint, access_key, secret_key, ca),
            None => crate::s3_client(&self.endpoint, access_key, secret_key),
        }
    }

    /// The root user's IAM client.
    pub fn iam_as(&self, access_key: &str, secret_key: &str) -> aws_sdk_iam::Client {
        crate::iam_client(&self.endpoint, access_key, secret_key)
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        crate::iam_client(&self.endpoint, ROOT_AK, ROOT_SK)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        c.wait().expect("wait")
    }

    /// Waits for an exit that was already requested (e.g. a SIGTERM sent by the test).
    pub fn terminate_wait(&mut self) -> std::process::ExitStatus {
        self.child.take().expect("running").wait().expect("wait")
    }

    /// Starts again on the same data directory (new port).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts again after the process was stopped (SIGKILL or SIGTERM).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn();
    }
}

/// A port that was free a moment ago (bind to port 0, read it, let it go).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// Test servers keep a small free-space reserve unless the test sets one: the default (up to
/// 1 GiB) would make every write of the suite answer 507 on a host whose disk has
/// less free, and the suite must not depend on that.
fn with_test_reserve(toml: &str) -> String {
    const RESERVE: &str = "min_free_bytes = 16777216\n";
    if toml.contains("min_free_bytes") {
        return toml.to_owned();
    }
    match toml.find("[limits]\n") {
        Some(at) => {
            let end = at + "[limits]\n".len();
            format!("{}{RESERVE}{}", &toml[..end], &toml[end..])
        }
        None => format!("{toml}\n[limits]\n{RESERVE}"),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::with_test_reserve;

    #[test]
    fn a_test_reserve_is_added_unless_the_test_sets_one() {
        assert_eq!(with_test_reserve(""), "\n[limits]\nmin_free_bytes = 16777216\n");
        assert_eq!(
            with_test_reserve("[limits]\ninline_max_size = 0\n"),
            "[limits]\nmin_free_bytes = 16777216\ninline_max_size = 0\n"
        );
        let own = "[limits]\nmin_free_bytes = 0\n";
        assert_eq!(with_test_reserve(own), own);
        assert_eq!(
            with_test_reserve("region = \"eu-west-1\"\n[meta]\nbackend = \"sqlite\"\n"),
            "region = \"eu-west-1\"\n[meta]\nbackend = \"sqlite\"\n\n[limits]\nmin_free_bytes = 16777216\n"
        );
    }
}
