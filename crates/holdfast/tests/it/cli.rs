//! The command line explains itself (issue #15): `--version`, every flag's default and
//! environment variable in `--help`, `config check`, and `admin` with the same `--data-dir` /
//! `--config` defaults as `serve`.

use holdfast_testkit::{Server, bucket_name};
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

fn run(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(cwd);
    for v in ["HOLDFAST_DATA_DIR", "HOLDFAST_CONFIG", "HOLDFAST_LISTEN", "HOLDFAST_REGION", "HOLDFAST_META_URL"] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn version_names_the_commit_and_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["--version"], dir.path(), &[]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let line = t.trim();
    assert!(line.starts_with(&format!("holdfast {} (commit ", env!("CARGO_PKG_VERSION"))), "{line}");
    let commit = line.split("(commit ").nth(1).unwrap().split(',').next().unwrap();
    let commit = commit.trim_end_matches("-modified");
    assert!(commit == "unknown" || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())), "{line}");
    assert!(line.contains("metadata schema: sqlite ") && line.contains(", postgres "), "{line}");
}

#[test]
fn every_flag_shows_its_default_and_its_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        &["serve", "--help"][..],
        &["config", "check", "--help"],
        &["admin", "report", "--help"],
        &["admin", "audit", "verify", "--help"],
    ] {
        let out = run(cmd, dir.path(), &[]);
        let t = text(&out);
        assert!(out.status.success(), "{t}");
        let flags: Vec<&str> = t
            .lines()
            .filter(|l| l.trim_start().starts_with("--") && !l.contains("--help") && !l.contains("--json"))
            .collect();
        assert!(!flags.is_empty(), "{t}");
        for l in flags {
            assert!(l.contains("[env: HOLDFAST_") && l.contains("[default: "), "{cmd:?}: {l}");
        }
    }
    let t = text(&run(&["serve", "--help"], dir.path(), &[]));
    for needle in [
        "[default: 127.0.0.1:9000]",
        "[default: ./holdfast-data]",
        "[default: us-east-1]",
        "HOLDFAST_ROOT_ACCESS_KEY",
        "HOLDFAST_ROOT_SECRET_KEY",
        "HOLDFAST_LOG",
        "HOLDFAST_META_URL",
        "HOLDFAST_TLS_CERT",
    ] {
        assert!(t.contains(needle), "serve --help lacks {needle}:\n{t}");
    }
}

#[test]
fn config_check_prints_the_effective_settings_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("holdfast.toml");
    std::fs::write(
        &conf,
        "listen = \"0.0.0.0:9100\"\nregion = \"eu-west-1\"\n[meta]\nurl = \"postgres://hf:db-secret-9@db:5432/hf\"\n\
         [metrics]\ntoken = \"scrape-token-0123456\"\n[[accounts]]\nname = \"b\"\naccess_key = \"AKB\"\nsecret_key = \"acct-secret-7\"\n",
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    let out = run(&["config", "check", "--config", c], dir.path(), &[("HOLDFAST_REGION", "ap-south-1")]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for shown in [
        "listen = \"0.0.0.0:9100\"",
        "region = \"ap-south-1\"",
        "data_dir = \"./holdfast-data\"",
        "url = \"postgres://hf:********@db:5432/hf\"",
        "token = \"********\"",
        "secret_key = \"********\"",
        "valid",
    ] {
        assert!(t.contains(shown), "{shown} missing:\n{t}");
    }
    for secret in ["db-secret-9", "scrape-token-0123456", "acct-secret-7"] {
        assert!(!t.contains(secret), "{secret} printed:\n{t}");
    }
    // The command line beats the environment, which beats the file.
    let t = text(&run(&["config", "check", "--config", c, "--listen", "127.0.0.1:9200"], dir.path(), &[]));
    assert!(t.contains("listen = \"127.0.0.1:9200\""), "{t}");

    // A bad file: non-zero, naming the file, the line and the key.
    std::fs::write(&conf, "listen = \"127.0.0.1:9000\"\n[limits]\nidle_sec = 5\n").unwrap();
    let out = run(&["config", "check", "--config", c], dir.path(), &[]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(t.contains("invalid config file") && t.contains("holdfast.toml") && t.contains("idle_sec"), "{t}");
    assert!(t.contains("line 3"), "{t}");
    std::fs::write(&conf, "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n").unwrap();
    let out = run(&["config", "check", "--config", c], dir.path(), &[]);
    let t = text(&out);
    assert!(!out.status.success() && t.contains("cannot read the TLS certificate /nonexistent/cert.pem"), "{t}");
    let out = run(&["config", "check", "--config", "/nonexistent.toml"], dir.path(), &[]);
    assert!(!out.status.success() && text(&out).contains("cannot read config file /nonexistent.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_takes_the_same_data_dir_defaults_as_serve() {
    let server = Server::start(BIN);
    let b = bucket_name("cli-admin");
    server.client().create_bucket().bucket(&b).send().await.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    // No flag, no variable, no file: ./holdfast-data, as `serve`.
    let out = run(&["admin", "report"], cwd.path(), &[]);
    let t = text(&out);
    if holdfast_testkit::meta_is_postgres() {
        assert!(!out.status.success(), "{t}");
    } else {
        assert!(!out.status.success() && t.contains("./holdfast-data/meta.db"), "{t}");
    }
    // The data dir from the configuration file (the server's own file carries [meta] on PostgreSQL).
    let server_conf = std::fs::read_to_string(server.data_dir.with_extension("toml")).unwrap();
    let conf = cwd.path().join("c.toml");
    std::fs::write(&conf, format!("data_dir = {:?}\n{server_conf}", server.data_dir.display().to_string())).unwrap();
    let out = run(&["admin", "report", "--config", conf.to_str().unwrap()], cwd.path(), &[]);
    let t = text(&out);
    assert!(out.status.success() && t.contains(&b), "{t}");
    // The environment, and the same for `admin audit verify`.
    let plain = cwd.path().join("plain.toml");
    std::fs::write(&plain, &server_conf).unwrap();
    let env = [("HOLDFAST_DATA_DIR", server.data_dir.to_str().unwrap()), ("HOLDFAST_CONFIG", plain.to_str().unwrap())];
    let out = run(&["admin", "report"], cwd.path(), &env);
    assert!(out.status.success() && text(&out).contains(&b), "{}", text(&out));
    let out = run(&["admin", "audit", "verify"], cwd.path(), &env);
    assert!(out.status.success(), "{}", text(&out));
}
