//! The guides' examples run (issue #15): every `$ aws ...` line of the `console` blocks of
//! docs/object-lock.md runs, in order, against a fresh server with the guide's root keys, and
//! its answer is compared with the one written under it: the same error code, or JSON with the
//! same fields and values, except what changes from run to run (dates, and version ids, which
//! are mapped from the guide's to this run's as they appear). Retain-until dates in the
//! commands are relative (`$(date -u -d '+7 days' ...)`), so the guide holds on any day.

use holdfast_testkit::{Server, ServerOptions};
use std::collections::HashMap;
use std::path::Path;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
/// Fields whose values differ from run to run.
const VOLATILE: &[&str] = &["LastModified", "RetainUntilDate", "ObjectLockRetainUntilDate"];

struct Example {
    line: usize,
    command: String,
    expected: String,
}

/// The `$ ` commands of the `console` blocks (with `\` continuations) and the text under each.
fn examples(doc: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let mut in_console = false;
    let mut continuing = false;
    for (n, line) in doc.lines().enumerate() {
        if line.starts_with("```") {
            in_console = line.trim() == "```console";
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
                    if k == "VersionId"
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

fn run_doc(name: &str, server: &Server, cwd: &Path) -> Vec<String> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs").join(name)).unwrap();
    let mut run = Run { ids: HashMap::new() };
    let mut failures = Vec::new();
    let all = examples(&doc);
    assert!(all.len() >= 20, "{name}: only {} examples found", all.len());
    for ex in all {
        // Only the aws CLI's lines: a script that needs another repository is the guide's
        // to describe, not this test's to run.
        if !ex.command.starts_with("aws ") {
            continue;
        }
        let command = run.map_ids(&ex.command).replace("http://127.0.0.1:9000", &server.endpoint);
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(&command)
            .current_dir(cwd)
            .env("AWS_ACCESS_KEY_ID", "HFEXAMPLEROOTKEY0001")
            .env("AWS_SECRET_ACCESS_KEY", "example-secret-key-change-me-0000000000")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_PAGER", "")
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let at = format!("{name}:{}", ex.line);
        let expected = ex.expected.trim();
        let verdict = if let Some(code) = expected.split("An error occurred (").nth(1).and_then(|r| r.split(')').next())
        {
            if !out.status.success() && stderr.contains(&format!("An error occurred ({code})")) {
                Ok(())
            } else {
                Err(format!("expected {code}, got exit {:?}: {stdout}{stderr}", out.status.code()))
            }
        } else if !out.status.success() {
            Err(format!("failed: {stderr}"))
        } else if expected.is_empty() {
            Ok(())
        } else if let Ok(want) = serde_json::from_str::<serde_json::Value>(expected) {
            match serde_json::from_str::<serde_json::Value>(&stdout) {
                Ok(got) => run.compare("$", &want, &got),
                Err(e) => Err(format!("not JSON ({e}): {stdout}")),
            }
        } else if run.map_ids(expected) == stdout.trim() {
            Ok(())
        } else {
            Err(format!("expected {expected:?}, got {:?}", stdout.trim()))
        };
        if let Err(e) = verdict {
            failures.push(format!("{at}: `{}`: {e}", ex.command));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_object_lock_guide_gives_the_answers_it_shows() {
    let server = Server::start_with(
        BIN,
        ServerOptions {
            env: vec![
                ("HOLDFAST_ROOT_ACCESS_KEY".into(), "HFEXAMPLEROOTKEY0001".into()),
                ("HOLDFAST_ROOT_SECRET_KEY".into(), "example-secret-key-change-me-0000000000".into()),
            ],
            ..Default::default()
        },
    );
    let cwd = tempfile::tempdir().unwrap();
    // The guide's setup block writes these.
    std::fs::write(cwd.path().join("report.txt"), "hello\n").unwrap();
    std::fs::write(cwd.path().join("report-v2.txt"), "v2\n").unwrap();
    let failures = tokio::task::spawn_blocking({
        let cwd = cwd.path().to_owned();
        move || {
            let f = run_doc("object-lock.md", &server, &cwd);
            drop(server);
            f
        }
    })
    .await
    .unwrap();
    assert!(failures.is_empty(), "{} examples differ from the guide:\n{}", failures.len(), failures.join("\n"));
}
