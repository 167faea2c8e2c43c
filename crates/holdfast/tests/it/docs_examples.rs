//! The guides' examples run (issue #15): the `$ ` lines of the `console` blocks of
//! docs/object-lock.md, docs/security.md, docs/getting-started.md and docs/tls.md run in order, as
//! one shell session per guide (the `export`s and `alias`es a guide shows carry over to its later
//! lines), against a fresh server, and each answer is compared with the one written under it: the
//! same error line (code and message); JSON with the same fields and values, except what changes
//! from run to run (dates; version ids, user ids and access keys, which are mapped from the
//! guide's to this run's as they appear); other text token by token, dates, hashes and durations (`0.1 s`) masked.
//! Retain-until dates in the commands are relative (`$(date -u -d '+7 days' ...)`), so the guides
//! hold on any day; each of the four guides also runs with the clock a year ahead (below).
//!
//! **What is replayed.** Every `console` block of those four guides, every command in it, except:
//! - getting-started.md's `cargo install` (the test runs the binary this build made) and
//!   `holdfast serve` (the test starts that command on `./holdfast-data` with generated root
//!   keys, and maps the keys the guide shows to the ones generated);
//! - object-lock.md's `scripts/run-aws-object-lock-example.sh ~/aws-doc-sdk-examples/...`: it
//!   needs a clone of AWS's examples repository, which CI does not make; the script is its own
//!   check of the answers.
//!
//! tls.md's `holdfast serve --listen A --tls-cert C --tls-key K` *is* run: the test starts a
//! server (the guides' root keys, a fresh port) on the certificate files the guide's own
//! `openssl req` line made, trusted as their own root, and `A` in the later commands becomes that
//! server's address (curl, openssl s_client, the aws CLI with `--ca-bundle`).
//!
//! **What is not, and why.** `every_shell_example_is_replayed_or_says_why` holds every shell
//! example of README.md and docs/*.md (a `console`, `sh`, `bash` or `shell` block, or any block
//! with `$ ` lines) to one rule: it is a `console` block of a replayed guide, or the line above its
//! fence is `<!-- not replayed: <reason> -->` (which [`examples`] also skips). The reasons stand in
//! the docs beside the blocks; in short:
//! - object-lock.md's `sh` setup block: it starts a server in the foreground; the test starts
//!   that server with the same root keys, exports them and writes the two bodies it makes.
//! - tls.md's two `sh` blocks: an installation's files under /etc/holdfast and a real host
//!   (`s3.example.com`); its "Try it on one machine" transcript runs the same commands locally.
//! - operations.md (10 blocks): `audit verify`, `report`, `backup` / `restore`, `lock-history` transcripts show an
//!   installation's figures under /var/lib/holdfast, a trail damaged on purpose, a store tampered
//!   with through sqlite3, anchors written over minutes (each is a test of its own:
//!   evidence_audit.rs, evidence_report.rs, tamper.rs, evidence_anchor.rs, admin_backup.rs,
//!   lock_history.rs, and
//!   getting-started.md replays `report`, `audit verify`, `backup`, `restore` and the copy's
//!   `verify`); `cargo install` (a release build for
//!   minutes), systemd (no running systemd in CI, no root to add a user) and podman/docker (no
//!   container daemon).
//! - replication.md (3 blocks): a second Holdfast configured as a remote target, a status recorded
//!   with that destination stopped (its figures depend on timing); replication.rs runs them.
//! - scale-out.md (2): a PostgreSQL cluster, a shared filesystem and three gateways.
//! - clients.md (3): keys written `...` and a real host; kopia is not installed in CI (restic is
//!   run by backup_tools.rs).
//! - backup-software.md (8): installations under /var/lib/holdfast, keys written `...`, kopia
//!   (not packaged by Debian), a benchmark of minutes; backup_sosapi.rs runs the admin commands,
//!   backup_tools.rs the restic and duplicity commands, backup_bench.rs the workload.
//! - performance.md (2): release builds, nginx and benchmarks that run for minutes.
//! - inventory.md (6): transcripts recorded against a running server (a first report arrives
//!   within a minute; version ids and report names are that run's), pyarrow / pandas / DuckDB
//!   from pip, and a million-version benchmark; inventory.rs runs the same steps.
//! - README.md (3): `cargo run --release` and the whole suite; keys written `...`; an
//!   installation's /etc/holdfast.toml (config check and `--version` are tests of cli.rs).
//!
//! **A year ahead.** Holdfast has no setting that moves its clock (the compliance clock reads the
//! system clock; a production knob for that would be a way around retention), so each guide's
//! `*_holds_a_year_ahead` test runs the server, the shell, `date`, the aws CLI, openssl, curl and
//! (getting-started.md) `holdfast admin report` / `audit verify` under libfaketime
//! (`FAKETIME=+365d`, Debian's `libfaketime`, installed by `.ci/run`), on the embedded store
//! (PostgreSQL's guard triggers judge retention by the database server's clock, which libfaketime
//! does not move). The server's clock is the CLI's: SigV4 refuses a request whose time is more
//! than 15 minutes off (RequestTimeTooSkewed). Under libfaketime the aws CLI cannot load its
//! default CA bundle (`[Errno 22] Invalid argument`), so tls.md shows a client that does not trust
//! the certificate with curl (exit 60), not with the aws CLI.

use holdfast_testkit::{Server, ServerOptions};
use std::collections::HashMap;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
/// Fields whose values differ from run to run.
const VOLATILE: &[&str] = &["LastModified", "RetainUntilDate", "ObjectLockRetainUntilDate", "CreateDate"];
/// Fields whose values are made by the server: the guide's are mapped to this run's.
const LEARNED: &[&str] = &["VersionId", "AccessKeyId", "SecretAccessKey", "UserId"];

struct Example {
    line: usize,
    command: String,
    expected: String,
}

/// The line right above a block's fence that keeps the test from replaying it, followed by the
/// reason and ` -->`.
const NOT_REPLAYED: &str = "<!-- not replayed: ";

/// The `$ ` commands of the `console` blocks (with `\` continuations) and the text under each.
fn examples(doc: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    let mut continuing = false;
    let mut previous = "";
    for (n, line) in doc.lines().enumerate() {
        let above = std::mem::replace(&mut previous, line);
        if line.starts_with("```") {
            in_console = line.trim() == "```console" && !above.starts_with(NOT_REPLAYED);
            continuing = false;
            continue;
        }
        if !in_console {
            continue;
        }
        if continuing && let Some(last) = out.last_mut() {
            last.command.push('\n');
            last.command.push_str(line);
            continuing = line.ends_with('\\');
        } else if let Some(cmd) = line.strip_prefix("$ ") {
            out.push(Example { line: n + 1, command: cmd.to_owned(), expected: String::new() });
            continuing = cmd.ends_with('\\');
        } else if let Some(last) = out.last_mut() {
            last.expected.push_str(line);
            last.expected.push('\n');
        }
    }
    out
}

struct Run {
    ids: HashMap<String, String>,
}

impl Run {
    fn map_ids(&self, text: &str) -> String {
        let mut t = text.to_owned();
        for (doc, real) in &self.ids {
            t = t.replace(doc.as_str(), real);
        }
        t
    }

    /// Compares the guide's JSON with this run's; learns version ids on the way.
    fn compare(&mut self, at: &str, want: &serde_json::Value, got: &serde_json::Value) -> Result<(), String> {
        use serde_json::Value;
        match (want, got) {
            (Value::Object(w), Value::Object(g)) => {
                let (mut wk, mut gk): (Vec<_>, Vec<_>) = (w.keys().collect(), g.keys().collect());
                wk.sort();
                gk.sort();
                if wk != gk {
                    return Err(format!("{at}: fields {wk:?} in the guide, {gk:?} now"));
                }
                for (k, wv) in w {
                    let gv = &g[k];
                    let here = format!("{at}.{k}");
                    if VOLATILE.contains(&k.as_str()) {
                        continue;
                    }
                    if LEARNED.contains(&k.as_str())
                        && let (Value::String(ws), Value::String(gs)) = (wv, gv)
                        && ws != "null"
                    {
                        match self.ids.get(ws) {
                            Some(known) if known != gs => {
                                return Err(format!("{here}: {gs}, the guide's {ws} is {known}"));
                            }
                            Some(_) => {}
                            None => {
                                self.ids.insert(ws.clone(), gs.clone());
                            }
                        }
                        continue;
                    }
                    self.compare(&here, wv, gv)?;
                }
                Ok(())
            }
            (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
                w.iter().zip(g).enumerate().try_for_each(|(i, (wv, gv))| self.compare(&format!("{at}[{i}]"), wv, gv))
            }
            (Value::String(w), Value::String(g)) if self.map_ids(w) == *g => Ok(()),
            (w, g) if w == g => Ok(()),
            (w, g) => Err(format!("{at}: {w} in the guide, {g} now")),
        }
    }
}

/// Where libfaketime's preload library is (Debian's package).
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// One guide's shell session.
struct Session {
    /// The session's environment over the test process's.
    env: std::collections::BTreeMap<String, String>,
    /// `alias` lines, replayed before every command.
    aliases: Vec<String>,
    cwd: std::path::PathBuf,
    endpoint: String,
    /// Texts of the guide's commands replaced by this run's (tls.md's address).
    replace: Vec<(String, String)>,
    /// The server a guide's `holdfast serve --tls-cert ...` line started (tls.md).
    server: Option<Server>,
    /// The environment of that server (libfaketime or none).
    server_env: Vec<(&'static str, &'static str)>,
}

impl Session {
    fn new(cwd: &Path, endpoint: &str, env: &[(&str, &str)]) -> Self {
        let mut all: std::collections::BTreeMap<String, String> = [
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_PAGER", ""),
        ]
        .into_iter()
        .chain(env.iter().copied())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        // `holdfast` on the PATH is this build's binary.
        let bin_dir = cwd.join(".bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let _ = std::os::unix::fs::symlink(BIN, bin_dir.join("holdfast"));
        all.insert("PATH".into(), format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default()));
        Self {
            env: all,
            aliases: Vec::new(),
            cwd: cwd.to_owned(),
            endpoint: endpoint.to_owned(),
            replace: Vec::new(),
            server: None,
            server_env: Vec::new(),
        }
    }

    /// tls.md's `holdfast serve --listen A --tls-cert C --tls-key K`: a server (the guide's
    /// root keys) on a fresh port with the session's certificate files, trusted as their own
    /// root; the guide's `A` becomes its address in the commands that follow.
    fn serve_tls(&mut self, args: &str) -> Result<(), String> {
        let words: Vec<&str> = args.split_whitespace().collect();
        let flag = |f: &str| {
            words.iter().position(|w| *w == f).and_then(|i| words.get(i + 1)).copied().ok_or(format!("no {f}"))
        };
        let (listen, cert, key) =
            (flag("--listen")?, self.cwd.join(flag("--tls-cert")?), self.cwd.join(flag("--tls-key")?));
        let ca = std::fs::read(&cert).map_err(|e| format!("{}: {e}", cert.display()))?;
        let mut config =
            format!("[tls]\ncert = {:?}\nkey = {:?}\n", cert.display().to_string(), key.display().to_string());
        if !self.server_env.is_empty() {
            config.push_str("[meta]\nbackend = \"sqlite\"\n");
        }
        let server = Server::start_with(
            BIN,
            ServerOptions {
                env: GUIDE_ROOT[..2]
                    .iter()
                    .chain(&self.server_env)
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                config_toml: config,
                tls_ca: Some(ca),
                ..Default::default()
            },
        );
        self.replace.push((format!("https://{listen}"), server.endpoint.clone()));
        self.replace.push((listen.to_owned(), server.addr.clone()));
        self.server = Some(server);
        Ok(())
    }

    /// Runs one command line (with the session's aliases); with `capture_env`, the variables
    /// it changed become the session's.
    fn run(&mut self, command: &str, capture_env: bool) -> std::process::Output {
        let mut script = String::from("shopt -s expand_aliases\n");
        for a in &self.aliases {
            script.push_str(a);
            script.push('\n');
        }
        script.push_str(command);
        if capture_env {
            script.push_str("\nenv -0");
        }
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(&self.cwd)
            .envs(&self.env)
            .output()
            .unwrap();
        if capture_env && out.status.success() {
            for pair in out.stdout.split(|&b| b == 0) {
                let pair = String::from_utf8_lossy(pair);
                if let Some((k, v)) = pair.split_once('=')
                    && !matches!(k, "_" | "SHLVL" | "PWD" | "OLDPWD" | "BASHOPTS" | "SHELLOPTS")
                    && std::env::var(k).ok().as_deref() != Some(v)
                {
                    self.env.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        out
    }
}

/// A line of text as tokens, with what changes from run to run masked: dates and times
/// (`2026-12-07T23:47:02.000Z`, `2026-12`), SHA-256 hashes (also in parentheses) and durations
/// (`0.1 s`).
fn masked(line: &str) -> Vec<String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let b = t.as_bytes();
            let bare = t.trim_matches(|c: char| matches!(c, '(' | ')' | ',' | ';'));
            if b.len() >= 7 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' {
                "<date>".to_owned()
            } else if bare.len() == 64 && bare.bytes().all(|c| c.is_ascii_hexdigit()) {
                t.replace(bare, "<hash>")
            } else if tokens.get(i + 1) == Some(&"s")
                && let Some((whole, frac)) = t.split_once('.')
                && [whole, frac].iter().all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
            {
                "<seconds>".to_owned()
            } else {
                (*t).to_owned()
            }
        })
        .collect()
}

/// Commands a guide shows that the test does not replay (the module's documentation says why).
fn not_replayed(command: &str) -> bool {
    command.starts_with("cargo install ")
        || command == "holdfast serve"
        || command.starts_with("holdfast serve ")
        || command.starts_with("scripts/run-aws-object-lock-example.sh ")
}

fn run_doc(name: &str, session: &mut Session, min_examples: usize) -> Vec<String> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name)).unwrap();
    run_examples(name, &doc, session, min_examples, &mut Run { ids: HashMap::new() })
}

fn run_examples(name: &str, doc: &str, session: &mut Session, min_examples: usize, run: &mut Run) -> Vec<String> {
    let mut failures = Vec::new();
    let all = examples(doc);
    assert!(all.len() >= min_examples, "{name}: only {} examples found", all.len());
    let mut ran = 0;
    for ex in all {
        let at = format!("{name}:{}", ex.line);
        if let Some(args) = ex.command.strip_prefix("holdfast serve ")
            && args.contains("--tls-cert ")
        {
            ran += 1;
            if let Err(e) = session.serve_tls(args) {
                failures.push(format!("{at}: `{}`: {e}", ex.command));
            }
            continue;
        }
        if not_replayed(&ex.command) {
            continue;
        }
        ran += 1;
        let mut command = run.map_ids(&ex.command).replace("http://127.0.0.1:9000", &session.endpoint);
        for (guide, now) in &session.replace {
            command = command.replace(guide.as_str(), now);
        }
        if command.starts_with("alias ") {
            session.aliases.push(command);
            continue;
        }
        let out = session.run(&command, command.starts_with("export "));
        if command.starts_with("export ") {
            if !out.status.success() {
                failures.push(format!("{at}: `{}` failed: {}", ex.command, String::from_utf8_lossy(&out.stderr)));
            }
            continue;
        }
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let expected = ex.expected.trim();
        let verdict = if let Some(code) = expected.split("An error occurred (").nth(1).and_then(|r| r.split(')').next())
        {
            // The whole line: the message tells refusals with one code apart (a policy's
            // "Access Denied" from the lock rule's "... because object protected by object lock.").
            let line = expected.lines().find(|l| l.contains("An error occurred (")).unwrap_or_default().trim();
            if !out.status.success() && stderr.lines().any(|l| l.trim() == run.map_ids(line)) {
                Ok(())
            } else if !out.status.success() && stderr.contains(&format!("An error occurred ({code})")) {
                Err(format!("the message differs: {:?} in the guide, now {:?}", line, stderr.trim()))
            } else {
                Err(format!("expected {code}, got exit {:?}: {stdout}{stderr}", out.status.code()))
            }
        } else if !out.status.success() {
            Err(format!("failed: {stdout}{stderr}"))
        } else if expected.is_empty() {
            Ok(())
        } else if let Ok(want) = serde_json::from_str::<serde_json::Value>(expected) {
            match serde_json::from_str::<serde_json::Value>(&stdout) {
                Ok(got) => run.compare("$", &want, &got),
                Err(e) => Err(format!("not JSON ({e}): {stdout}")),
            }
        } else {
            let want: Vec<_> = run.map_ids(expected).lines().map(masked).collect();
            let got: Vec<_> = stdout.trim().lines().map(masked).collect();
            if want == got { Ok(()) } else { Err(format!("expected\n{expected}\ngot\n{}", stdout.trim())) }
        };
        if let Err(e) = verdict {
            failures.push(format!("{at}: `{}`: {e}", ex.command));
        }
    }
    eprintln!("{name}: {ran} commands run, {} differ", failures.len());
    failures
}

/// The root keys the object-lock and security guides export.
const GUIDE_ROOT: [(&str, &str); 4] = [
    ("HOLDFAST_ROOT_ACCESS_KEY", "HFEXAMPLEROOTKEY0001"),
    ("HOLDFAST_ROOT_SECRET_KEY", "example-secret-key-change-me-0000000000"),
    ("AWS_ACCESS_KEY_ID", "HFEXAMPLEROOTKEY0001"),
    ("AWS_SECRET_ACCESS_KEY", "example-secret-key-change-me-0000000000"),
];

/// A server with the guides' root keys, and the environment `extra` (libfaketime).
fn guide_server(extra: &[(&str, &str)]) -> Server {
    Server::start_with(
        BIN,
        ServerOptions {
            env: GUIDE_ROOT[..2].iter().chain(extra).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            // A year ahead, the embedded store whatever the suite's: PostgreSQL's guard triggers
            // judge retention by the database server's clock, which libfaketime does not move.
            config_toml: if extra.is_empty() { String::new() } else { "[meta]\nbackend = \"sqlite\"\n".into() },
            ..Default::default()
        },
    )
}

/// Runs a guide in a blocking task (the aws CLI takes seconds per command).
async fn run_guide(name: &'static str, server: Server, env: Vec<(&'static str, &'static str)>, min: usize) {
    let failures = tokio::task::spawn_blocking(move || {
        let cwd = tempfile::tempdir().unwrap();
        // object-lock.md's setup block writes these.
        std::fs::write(cwd.path().join("report.txt"), "hello\n").unwrap();
        std::fs::write(cwd.path().join("report-v2.txt"), "v2\n").unwrap();
        let mut session = Session::new(cwd.path(), &server.endpoint, &env);
        if name == "security.md" {
            let doc =
                std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/security.md")).unwrap();
            std::fs::write(
                cwd.path().join("deny-bypass.json"),
                json_block_before(&doc, "saved as\n`deny-bypass.json`"),
            )
            .unwrap();
            std::fs::write(cwd.path().join("cap.json"), json_block_before(&doc, "saved as `cap.json`")).unwrap();
        }
        let f = run_doc(name, &mut session, min);
        drop(server);
        f
    })
    .await
    .unwrap();
    assert!(
        failures.is_empty(),
        "{} examples of {name} differ from the guide:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The first `json` block after the text `marker`.
fn json_block_before(doc: &str, marker: &str) -> String {
    let at = doc.find(marker).unwrap_or_else(|| panic!("the guide no longer says {marker:?}"));
    let rest = &doc[at..];
    let start = rest.find("```json\n").expect("a json block") + 8;
    let end = rest[start..].find("```").expect("its end");
    rest[start..start + end].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_object_lock_guide_gives_the_answers_it_shows() {
    run_guide("object-lock.md", guide_server(&[]), GUIDE_ROOT.to_vec(), 20).await;
}

/// libfaketime's environment a year ahead, checked to move `date` by one year.
fn a_year_ahead() -> [(&'static str, &'static str); 3] {
    assert!(Path::new(FAKETIME_LIB).exists(), "{FAKETIME_LIB} is missing: install Debian's libfaketime (.ci/run does)");
    let fake = [("LD_PRELOAD", FAKETIME_LIB), ("FAKETIME", "+365d"), ("FAKETIME_DONT_FAKE_MONOTONIC", "1")];
    let year = std::process::Command::new("date").arg("+%Y").envs(fake).output().unwrap();
    let now = std::process::Command::new("date").arg("+%Y").output().unwrap();
    let (year, now): (i32, i32) = (
        String::from_utf8_lossy(&year.stdout).trim().parse().unwrap(),
        String::from_utf8_lossy(&now.stdout).trim().parse().unwrap(),
    );
    assert_eq!(year, now + 1, "libfaketime does not move the clock");
    fake
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_object_lock_guide_holds_a_year_ahead() {
    let fake = a_year_ahead();
    let env = GUIDE_ROOT.iter().chain(&fake).copied().collect();
    run_guide("object-lock.md", guide_server(&fake), env, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_guide_gives_the_answers_it_shows() {
    run_guide("security.md", guide_server(&[]), GUIDE_ROOT.to_vec(), 15).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_guide_holds_a_year_ahead() {
    let fake = a_year_ahead();
    let env = GUIDE_ROOT.iter().chain(&fake).copied().collect();
    run_guide("security.md", guide_server(&fake), env, 15).await;
}

/// getting-started.md as a new user runs it: `holdfast serve` with no setting in a fresh
/// directory (data in `./holdfast-data`, generated root keys), then the guide's commands,
/// `holdfast admin report` and `holdfast admin audit verify` with their defaults included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_getting_started_transcript_gives_the_answers_it_shows() {
    getting_started(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_getting_started_transcript_holds_a_year_ahead() {
    getting_started(&a_year_ahead()).await;
}

/// Runs getting-started.md, server and shell with the environment `fake` (libfaketime or none).
async fn getting_started(fake: &[(&'static str, &'static str)]) {
    let fake = fake.to_vec();
    let failures = tokio::task::spawn_blocking(move || {
        let cwd = tempfile::tempdir().unwrap();
        // The admin commands read ./holdfast-data as the embedded store, whatever the suite's store.
        let server = Server::start_in(
            BIN,
            &cwd.path().join("holdfast-data"),
            ServerOptions {
                generated_root: true,
                config_toml: "[meta]\nbackend = \"sqlite\"\n".into(),
                env: fake.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                ..Default::default()
            },
        );
        let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/getting-started.md"))
            .unwrap();
        // The keys the guide's server generated, and this run's.
        let shown = |label: &str| {
            doc.lines()
                .find_map(|l| l.trim().strip_prefix(label))
                .expect("the guide shows the generated keys")
                .trim()
                .to_owned()
        };
        let creds = std::fs::read_to_string(cwd.path().join("holdfast-data/root-credentials")).unwrap();
        let real = |k: &str| {
            creds.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(" = "))).unwrap().trim().to_owned()
        };
        let mut run = Run { ids: HashMap::new() };
        run.ids.insert(shown("access key:"), real("access_key"));
        run.ids.insert(shown("secret key:"), real("secret_key"));
        let mut session = Session::new(cwd.path(), &server.endpoint, &fake);
        let f = run_examples("getting-started.md", &doc, &mut session, 12, &mut run);
        drop(server);
        f
    })
    .await
    .unwrap();
    assert!(failures.is_empty(), "{} examples of getting-started.md differ:\n{}", failures.len(), failures.join("\n"));
}

/// tls.md's "Try it on one machine": the guide's own `openssl req` makes the certificate, its
/// `holdfast serve --tls-cert ...` line starts the server on it (a fresh port), and curl,
/// openssl s_client and the aws CLI (`--ca-bundle`) talk to it.
async fn tls_guide(fake: &[(&'static str, &'static str)]) {
    let fake = fake.to_vec();
    let failures = tokio::task::spawn_blocking(move || {
        let cwd = tempfile::tempdir().unwrap();
        let env: Vec<_> = GUIDE_ROOT.iter().chain(&fake).copied().collect();
        let mut session = Session::new(cwd.path(), "", &env);
        session.server_env = fake;
        let f = run_doc("tls.md", &mut session, 10);
        assert!(session.server.is_some(), "tls.md no longer starts a server with --tls-cert");
        drop(session);
        f
    })
    .await
    .unwrap();
    assert!(failures.is_empty(), "{} examples of tls.md differ:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_guide_gives_the_answers_it_shows() {
    tls_guide(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_guide_holds_a_year_ahead() {
    tls_guide(&a_year_ahead()).await;
}

/// The guides whose `console` blocks the tests above replay.
const REPLAYED: &[&str] = &["object-lock.md", "security.md", "getting-started.md", "tls.md"];

/// Every shell example of README.md and docs/*.md (a `console`, `sh`, `bash` or `shell` block, or
/// any block with `$ ` lines) is replayed (a `console` block of a guide in [`REPLAYED`]) or is
/// marked `<!-- not replayed: <reason> -->` on the line above its fence. A new example cannot
/// slip past the test unnoticed, and a skipped one says why where it stands.
#[test]
fn every_shell_example_is_replayed_or_says_why() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.push(root.join("README.md"));
    let mut unaccounted = Vec::new();
    let (mut replayed, mut skipped) = (0, 0);
    for path in docs {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let Some(tag) = lines[i].trim_start().strip_prefix("```") else {
                i += 1;
                continue;
            };
            let end = (i + 1..lines.len()).find(|&j| lines[j].trim_start().starts_with("```")).unwrap_or(lines.len());
            let shell = matches!(tag.trim(), "console" | "sh" | "bash" | "shell")
                || lines[i + 1..end].iter().any(|l| l.trim_start().starts_with("$ "));
            let above = if i > 0 { lines[i - 1].trim_start() } else { "" };
            let reason = above.strip_prefix(NOT_REPLAYED).and_then(|r| r.strip_suffix(" -->")).unwrap_or("");
            if shell {
                if reason.len() >= 10 {
                    skipped += 1;
                } else if above.starts_with(NOT_REPLAYED) {
                    unaccounted.push(format!("{name}:{}: the mark gives no reason", i + 1));
                } else if REPLAYED.contains(&name.as_str()) && tag.trim() == "console" {
                    replayed += 1;
                } else {
                    unaccounted.push(format!("{name}:{}: a ```{tag} block neither replayed nor marked", i + 1));
                }
            }
            i = end + 1;
        }
    }
    eprintln!("{replayed} shell blocks replayed, {skipped} marked not replayed");
    assert!(unaccounted.is_empty(), "shell examples the docs test does not account for:\n{}", unaccounted.join("\n"));
}
