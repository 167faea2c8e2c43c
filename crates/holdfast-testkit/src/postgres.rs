//! A private PostgreSQL cluster for tests: `initdb` + `pg_ctl` on 127.0.0.1, a free port,
//! a temporary directory, torn down when dropped (or, for the shared cluster of a test
//! process, when that process exits, however it exits).
//!
//! The binaries come from `HOLDFAST_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package), else `PATH`. Without them the fixture panics with a
//! clear message: the PostgreSQL tests fail rather than pass without running. As root,
//! the server runs as the `postgres` user (PostgreSQL refuses to run as root).

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Environment variable that selects the metadata backend of every test [`Server`](crate::Server).
pub const META_ENV: &str = "HOLDFAST_TEST_META";

const SUPERUSER: &str = "holdfast";

pub struct Postgres {
    bin: PathBuf,
    root: PathBuf,
    port: u16,
    run_as: Option<String>,
    /// Keeps the watchdog's stdin open; when it closes, the watchdog stops the cluster.
    watchdog: Option<Child>,
    stopped: bool,
}

/// Whether the test run asked for PostgreSQL-backed servers (`HOLDFAST_TEST_META=postgres`).
pub fn meta_is_postgres() -> bool {
    match std::env::var(META_ENV) {
        Ok(v) if v.eq_ignore_ascii_case("postgres") || v.eq_ignore_ascii_case("postgresql") => true,
        Ok(v) if v.is_empty() || v.eq_ignore_ascii_case("sqlite") => false,
        Ok(v) => panic!("{META_ENV}={v:?}: expected `sqlite` or `postgres`"),
        Err(_) => false,
    }
}

fn find_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("HOLDFAST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
            return dir;
        }
    }
    panic!(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) not found in HOLDFAST_PG_BIN, \
         /usr/lib/postgresql/*/bin or PATH: install Debian's package (`apt-get install -y postgresql`) \
         to run the PostgreSQL tests"
    );
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

impl Postgres {
    /// Starts a fresh cluster tuned for tests (no fsync: the tests are about Holdfast).
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts a fresh cluster; `durable` keeps PostgreSQL's fsync and synchronous commit
    /// (for benchmarks that compare with the embedded store's durable commits).
    pub fn start_with(durable: bool) -> Self {
        Self::start_configured(durable, None)
    }

    /// Starts a fresh cluster that speaks TLS with this certificate chain and key (PEM) and
    /// refuses unencrypted TCP connections (`hostnossl ... reject`).
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::start_configured(false, Some((cert_pem, key_pem)))
    }

    fn start_configured(durable: bool, tls: Option<(&str, &str)>) -> Self {
        let bin = find_bin();
        let run_as = is_root().then(|| "postgres".to_owned());
        let root = std::env::temp_dir().join(format!("holdfast-pg-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&root).expect("create the PostgreSQL temp dir");
        if let Some(user) = &run_as {
            let ok = Command::new("chown").arg(format!("{user}:")).arg(&root).status().is_ok_and(|s| s.success());
            assert!(ok, "cannot chown {} to {user}", root.display());
        }
        let mut pg = Self { bin, root, port: 0, run_as, watchdog: None, stopped: false };
        pg.initdb(durable);
        if let Some((cert, key)) = tls {
            pg.enable_tls(cert, key);
        }
        let mut last = String::new();
        for _ in 0..3 {
            pg.port = free_port();
            match pg.pg_ctl_start() {
                Ok(()) => {
                    pg.spawn_watchdog();
                    return pg;
                }
                Err(e) => last = e,
            }
        }
        panic!("PostgreSQL did not start: {last}");
    }

    /// The cluster every test of this process shares; stopped when the process exits.
    pub fn shared() -> &'static Postgres {
        static SHARED: OnceLock<Postgres> = OnceLock::new();
        SHARED.get_or_init(Postgres::start)
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn initdb(&self, durable: bool) {
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(self.data())
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data().join("postgresql.conf"))
            .expect("postgresql.conf");
        let mut settings = String::from(
            "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_connections = 400\n\
             shared_buffers = 128MB\n",
        );
        if !durable {
            settings.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        conf.write_all(settings.as_bytes()).expect("write postgresql.conf");
    }

    fn enable_tls(&self, cert_pem: &str, key_pem: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let data = self.data();
        for (name, pem) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = data.join(name);
            std::fs::write(&path, pem).expect("write the PostgreSQL TLS files");
            // PostgreSQL refuses a key readable by others, or not owned by its user.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if let Some(user) = &self.run_as {
                let ok = Command::new("chown").arg(format!("{user}:")).arg(&path).status().is_ok_and(|s| s.success());
                assert!(ok, "cannot chown {} to {user}", path.display());
            }
        }
        let mut conf =
            std::fs::OpenOptions::new().append(true).open(data.join("postgresql.conf")).expect("postgresql.conf");
        conf.write_all(b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
            .expect("write postgresql.conf");
        std::fs::write(
            data.join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .expect("write pg_hba.conf");
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.root.join("log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {}", self.port))
            .arg("start")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            return Ok(());
        }
        let log = std::fs::read_to_string(self.root.join("log")).unwrap_or_default();
        Err(format!("{}{log}", String::from_utf8_lossy(&out.stderr)))
    }

    /// A shell that waits for this process to go away (its stdin closes), then stops the
    /// cluster and removes its directory: statics are never dropped, and a test process can
    /// be killed.
    fn spawn_watchdog(&mut self) {
        let stop = match &self.run_as {
            Some(user) => format!(
                "runuser -u {user} -- '{}' -D '{}' stop -m immediate",
                self.exe("pg_ctl"),
                self.data().display()
            ),
            None => format!("'{}' -D '{}' stop -m immediate", self.exe("pg_ctl"), self.data().display()),
        };
        let script = format!("cat >/dev/null; {stop} >/dev/null 2>&1; rm -rf '{}'", self.root.display());
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the PostgreSQL watchdog");
        self.watchdog = Some(child);
    }

    fn exe(&self, program: &str) -> String {
        self.bin.join(program).display().to_string()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL through `psql` on database `db`; returns its output (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", SUPERUSER])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(db)
            .arg("-c")
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Creates database `name` unless it exists; returns its URL.
    pub fn database(&self, name: &str) -> String {
        static CREATING: Mutex<()> = Mutex::new(());
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{name}");
        let _one_at_a_time = CREATING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let exists = self
            .psql("postgres", &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"))
            .unwrap_or_else(|e| panic!("psql: {e}"));
        if exists.trim() != "1"
            && let Err(e) = self.psql("postgres", &format!("CREATE DATABASE {name}"))
            && !e.contains("already exists")
        {
            panic!("CREATE DATABASE {name}: {e}");
        }
        self.url(name)
    }

    /// A new, empty database; returns its URL.
    pub fn fresh_database(&self) -> String {
        self.database(&format!("t{}_{}", std::process::id(), rand_suffix()))
    }

    /// A text dump of database `db` (schema and data), for tests that look for what must
    /// never be stored in the clear.
    pub fn dump(&self, db: &str) -> Vec<u8> {
        let out = Command::new(self.bin.join("pg_dump"))
            .args(["-h", "127.0.0.1", "-U", SUPERUSER, "-p"])
            .arg(self.port.to_string())
            .arg(db)
            .stdin(Stdio::null())
            .output()
            .expect("run pg_dump");
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// Stops the cluster now.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["stop", "-m", "immediate"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut w) = self.watchdog.take() {
            drop(w.stdin.take());
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }

    /// Stops the server at once (`-m immediate`, as a crash: no checkpoint) and keeps its
    /// data, for [`Self::resume`].
    pub fn halt(&self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["stop", "-m", "immediate", "-w"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Starts a [`Self::halt`]ed server again on the same port (crash recovery replays its WAL).
    pub fn resume(&self) {
        self.pg_ctl_start().unwrap_or_else(|e| panic!("PostgreSQL did not start again: {e}"));
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    format!("{:012x}", h.finish() & 0xFFFF_FFFF_FFFF)
}
