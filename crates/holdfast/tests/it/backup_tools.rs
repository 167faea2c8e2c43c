//! Real backup tools against the real binary (issue #18): Debian's restic and duplicity back
//! up a small tree into an Object Lock bucket with a default retention (W9: every object they
//! write is locked GOVERNANCE for a day), check it, restore it byte for byte, and expire old
//! backups. Their deletes carry no version id, so on the versioned lock bucket they become
//! delete markers (D1) and every locked version stays (D8); the tools' repositories stay
//! valid. docs/backup-software.md gives the same configurations.

use holdfast_testkit::aws_sdk_s3::Client;
use holdfast_testkit::aws_sdk_s3::types::{
    DefaultRetention, ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
};
use holdfast_testkit::{ROOT_AK, ROOT_SK, Server, bucket_name, error_code};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use crate::evidence_support::BIN;

/// A bucket with Object Lock and a default retention of GOVERNANCE 1 day.
async fn lock_bucket(s3: &Client, tag: &str) -> String {
    let b = bucket_name(tag);
    s3.create_bucket().bucket(&b).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let rule = ObjectLockRule::builder()
        .default_retention(DefaultRetention::builder().mode(ObjectLockRetentionMode::Governance).days(1).build())
        .build();
    let conf = ObjectLockConfiguration::builder().object_lock_enabled(ObjectLockEnabled::Enabled).rule(rule).build();
    s3.put_object_lock_configuration().bucket(&b).object_lock_configuration(conf).send().await.unwrap();
    b
}

/// Runs a tool (bounded by `timeout`), with the server's keys and nothing of the host's AWS
/// settings; returns stdout, panicking with both outputs when it fails.
fn tool(home: &Path, cwd: &Path, bin: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("timeout")
        .arg("120")
        .arg(bin)
        .args(args)
        .current_dir(cwd)
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", ROOT_AK)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SK)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("no-aws-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin} ({e}): .ci/run installs it with apt-get"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{bin} {args:?} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout.into_owned()
}

/// A small tree: a random 300 KB file, small and empty files, a nested directory.
fn make_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("docs/nested")).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(dir.join("big.bin"), big).unwrap();
    std::fs::write(dir.join("docs/readme.txt"), b"restore me\n").unwrap();
    std::fs::write(dir.join("docs/nested/empty"), b"").unwrap();
    std::fs::write(dir.join("docs/nested/notes.md"), "# notes\n".repeat(500)).unwrap();
}

/// Every file under `dir` by relative path, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The restored tree is the source, byte for byte (a failure names the files that differ).
fn assert_same_tree(restored: &Path, source: &Path) {
    let (got, want) = (files(restored), files(source));
    let differ: Vec<String> = want
        .keys()
        .chain(got.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| got.get(*k) != want.get(*k))
        .map(|k| {
            let len = |m: &BTreeMap<String, Vec<u8>>| m.get(k).map(|v| v.len().to_string()).unwrap_or("-".into());
            let text = |m: &BTreeMap<String, Vec<u8>>| {
                m.get(k).filter(|v| v.len() < 100).map(|v| String::from_utf8_lossy(v).into_owned())
            };
            format!("{k}: restored {} bytes {:?}, source {} bytes {:?}", len(&got), text(&got), len(&want), text(&want))
        })
        .collect();
    assert!(differ.is_empty(), "{} differs from {}:\n{}", restored.display(), source.display(), differ.join("\n"));
}

/// Every version (key, version id) and the keys whose latest entry is a delete marker.
async fn versions(s3: &Client, b: &str) -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let l = s3.list_object_versions().bucket(b).max_keys(1000).send().await.unwrap();
    assert_eq!(l.is_truncated(), Some(false));
    let v = l.versions().iter().map(|v| (v.key().unwrap().to_owned(), v.version_id().unwrap().to_owned())).collect();
    let m = l.delete_markers().iter().filter(|m| m.is_latest() == Some(true)).map(|m| m.key().unwrap().to_owned());
    (v, m.collect())
}

/// Every version is locked GOVERNANCE by the default rule (W9); a deletion of one by its
/// version id is refused (D8).
async fn assert_all_locked(s3: &Client, b: &str, all: &BTreeSet<(String, String)>) {
    for (k, v) in all {
        let r = s3.get_object_retention().bucket(b).key(k).version_id(v).send().await.unwrap();
        assert_eq!(r.retention().unwrap().mode(), Some(&ObjectLockRetentionMode::Governance), "{k}");
    }
    let (k, v) = all.iter().next().unwrap();
    let err = s3.delete_object().bucket(b).key(k).version_id(v).send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("AccessDenied".into()), Some(403)));
}

#[tokio::test]
async fn restic_backs_up_checks_restores_and_prunes_on_a_lock_bucket() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = lock_bucket(&s3, "restic").await;
    let tmp = tempfile::tempdir().unwrap();
    let (home, work) = (tmp.path().join("home"), tmp.path().join("work"));
    std::fs::create_dir_all(&home).unwrap();
    make_tree(&work.join("tree"));
    let repo = format!("s3:{}/{b}/repo", srv.endpoint);
    let env = [("RESTIC_REPOSITORY", repo.as_str()), ("RESTIC_PASSWORD", "holdfast-restic-test")];
    let restic = |args: &[&str]| tool(&home, &work, "restic", &[&["--no-cache"], args].concat(), &env);

    restic(&["init"]);
    restic(&["backup", "tree"]);
    std::fs::write(work.join("tree/docs/readme.txt"), b"changed after the first snapshot\n").unwrap();
    std::fs::write(work.join("tree/added.txt"), b"new in the second snapshot\n").unwrap();
    restic(&["backup", "tree"]);
    let snaps: Vec<serde_json::Value> = serde_json::from_str(&restic(&["snapshots", "--json"])).unwrap();
    assert_eq!(snaps.len(), 2);
    let first_snapshot = snaps[0]["id"].as_str().unwrap().to_owned();
    assert!(restic(&["check", "--read-data"]).contains("no errors were found"));
    restic(&["restore", "latest", "--target", "out1"]);
    assert_same_tree(&work.join("out1/tree"), &work.join("tree"));

    // Every restic command writes a lock file and deletes it when done: on the lock bucket
    // each stays as a locked version behind a delete marker.
    let (before, markers) = versions(&s3, &b).await;
    assert!(markers.len() >= 5 && markers.iter().all(|m| m.starts_with("repo/locks/")), "{markers:?}");
    assert!(before.iter().any(|(k, _)| k.starts_with("repo/data/")), "{before:?}");
    assert_all_locked(&s3, &b, &before).await;
    // forget + prune: restic deletes the first snapshot's file, obsolete packs and indexes.
    restic(&["forget", "--keep-last", "1", "--prune"]);
    let (after, markers) = versions(&s3, &b).await;
    // Every locked version is still there; each deletion left a delete marker (D1, D8).
    assert!(before.is_subset(&after), "lost versions: {:?}", before.difference(&after).collect::<Vec<_>>());
    assert!(markers.contains(&format!("repo/snapshots/{first_snapshot}")), "{markers:?}");
    let keys_before: BTreeSet<&String> = before.iter().map(|(k, _)| k).collect();
    let pruned: Vec<&String> = markers.iter().filter(|m| !m.starts_with("repo/locks/")).collect();
    assert!(pruned.iter().all(|m| keys_before.contains(m)), "a marker on a key never written: {pruned:?}");
    let head = s3.head_object().bucket(&b).key(format!("repo/snapshots/{first_snapshot}")).send().await.unwrap_err();
    assert_eq!(error_code(&head).1, Some(404));
    // The repository is valid, holds one snapshot, and restores the tree.
    assert!(restic(&["check", "--read-data"]).contains("no errors were found"));
    let snaps: Vec<serde_json::Value> = serde_json::from_str(&restic(&["snapshots", "--json"])).unwrap();
    assert_eq!(snaps.len(), 1);
    restic(&["restore", "latest", "--target", "out2"]);
    assert_same_tree(&work.join("out2/tree"), &work.join("tree"));
}

#[tokio::test]
async fn duplicity_backs_up_verifies_restores_and_removes_old_chains_on_a_lock_bucket() {
    let srv = Server::start(BIN);
    let s3 = srv.client();
    let b = lock_bucket(&s3, "duplicity").await;
    let tmp = tempfile::tempdir().unwrap();
    let (home, work) = (tmp.path().join("home"), tmp.path().join("work"));
    std::fs::create_dir_all(&home).unwrap();
    make_tree(&work.join("tree"));
    let url = format!("boto3+s3://{b}/dup");
    let archive = tmp.path().join("archive");
    let archive = archive.to_str().unwrap();
    let common = [
        "--no-encryption",
        "--num-retries",
        "1",
        "--s3-endpoint-url",
        srv.endpoint.as_str(),
        "--s3-region-name",
        "us-east-1",
        "--archive-dir",
        archive,
        "--name",
        "holdfast-test",
    ];
    let duplicity = |args: &[&str]| tool(&home, &work, "duplicity", &[args, &common].concat(), &[]);

    // duplicity names its sets and keeps times by the second: each step gets a second of its
    // own. (Once, in a full-suite run without these pauses, the restore after the increment
    // differed from the tree; which file was not recorded, so the cause is not pinned down.)
    let next_second = || std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(duplicity(&["full", "tree", &url]).contains("Errors 0"));
    next_second();
    std::fs::write(work.join("tree/docs/readme.txt"), b"changed before the increment\n").unwrap();
    next_second();
    assert!(duplicity(&["incremental", "tree", &url]).contains("Errors 0"));
    assert!(duplicity(&["verify", &url, "tree"]).contains("0 differences found"));
    duplicity(&["restore", &url, "out1"]);
    assert_same_tree(&work.join("out1"), &work.join("tree"));
    let (first_chain, markers) = versions(&s3, &b).await;
    assert!(markers.is_empty());
    assert_eq!(first_chain.iter().filter(|(k, _)| k.contains(".difftar")).count(), 2, "{first_chain:?}");
    assert_all_locked(&s3, &b, &first_chain).await;

    // A second full chain, then remove-older-than its start: duplicity deletes the first
    // chain's files (plain DELETEs: delete markers on the lock bucket).
    next_second();
    let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    std::fs::write(work.join("tree/added.txt"), b"in the second chain\n").unwrap();
    assert!(duplicity(&["full", "tree", &url]).contains("Errors 0"));
    duplicity(&["remove-older-than", &second, "--force", &url]);
    let (after, markers) = versions(&s3, &b).await;
    assert!(first_chain.is_subset(&after), "lost versions: {:?}", first_chain.difference(&after).collect::<Vec<_>>());
    let first_keys: BTreeSet<String> = first_chain.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(markers, first_keys, "every file of the first chain, and only those, is behind a delete marker");
    // What is left is one valid chain that restores the current tree.
    let status = duplicity(&["collection-status", &url]);
    assert!(status.contains("Found 0 secondary backup chains"), "{status}");
    assert!(duplicity(&["verify", &url, "tree"]).contains("0 differences found"));
    duplicity(&["restore", &url, "out2"]);
    assert_same_tree(&work.join("out2"), &work.join("tree"));
}
