//! The root never changes silently (issue #15): keys in `HOLDFAST_ROOT_*` that differ from
//! the generated ones, or from those the data dir was served with, stop the start naming the
//! conflict; `holdfast admin rotate-root` changes them, keeps `root-credentials` true and
//! keeps the account (bucket owner id, IAM users).

use holdfast_testkit::{Server, ServerOptions, bucket_name, error_code};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

fn generated(data: &Path) -> Server {
    Server::start_in(BIN, data, ServerOptions { generated_root: true, ..Default::default() })
}

fn with_keys(data: &Path, ak: &str, sk: &str) -> Server {
    Server::start_in(
        BIN,
        data,
        ServerOptions {
            env: vec![("HOLDFAST_ROOT_ACCESS_KEY".into(), ak.into()), ("HOLDFAST_ROOT_SECRET_KEY".into(), sk.into())],
            ..Default::default()
        },
    )
}

/// The generated keys as the file holds them.
fn file_keys(data: &Path) -> (String, String) {
    let text = std::fs::read_to_string(data.join("root-credentials")).unwrap();
    let get = |k: &str| {
        text.lines().find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix(" = "))).unwrap().trim().to_owned()
    };
    (get("access_key"), get("secret_key"))
}

/// `holdfast serve` that must fail at start; its stderr. The config file the testkit wrote
/// for this data dir (PostgreSQL under HOLDFAST_TEST_META) is passed along.
fn refused_start(data: &Path, env: &[(&str, &str)]) -> String {
    let mut c = Command::new(BIN);
    c.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(data.with_extension("toml"))
        .env_remove("HOLDFAST_ROOT_ACCESS_KEY")
        .env_remove("HOLDFAST_ROOT_SECRET_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(!out.status.success(), "the start was not refused");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn admin(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut c = Command::new(BIN);
    c.arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("HOLDFAST_ROOT_ACCESS_KEY")
        .env_remove("HOLDFAST_ROOT_SECRET_KEY");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

async fn owner_id(s: &Server, ak: &str, sk: &str) -> String {
    s.client_as(ak, sk).list_buckets().send().await.unwrap().owner.unwrap().id.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_keys_do_not_silently_replace_generated_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = generated(&data);
    let (ak, sk) = file_keys(&data);
    let b = bucket_name("gen-root");
    s.client_as(&ak, &sk).create_bucket().bucket(&b).send().await.unwrap();
    let owner = owner_id(&s, &ak, &sk).await;
    s.kill();

    let err =
        refused_start(&data, &[("HOLDFAST_ROOT_ACCESS_KEY", "OTHERKEY"), ("HOLDFAST_ROOT_SECRET_KEY", "other-secret")]);
    assert!(
        err.contains("differ from the root credentials generated in")
            && err.contains(&ak)
            && err.contains("OTHERKEY")
            && err.contains("holdfast admin rotate-root"),
        "{err}"
    );
    assert_eq!(file_keys(&data), (ak.clone(), sk.clone()), "the file is untouched");
    // The same keys in the environment are no conflict.
    let s = with_keys(&data, &ak, &sk);
    assert_eq!(owner_id(&s, &ak, &sk).await, owner);
    drop(s);

    // A rotation to generated keys: printed once, the file rewritten, the old keys dead, the
    // account (its owner id, its buckets) unchanged.
    let (ok, out) = admin(&data, &["rotate-root"], &[]);
    assert!(ok, "{out}");
    let (ak2, sk2) = file_keys(&data);
    assert_ne!(ak2, ak);
    assert!(out.contains(&format!("{ak} -> {ak2}")) && out.contains(&sk2), "{out}");
    let s = generated(&data);
    assert_eq!(owner_id(&s, &ak2, &sk2).await, owner, "the account stays");
    let listed = s.client_as(&ak2, &sk2).list_buckets().send().await.unwrap();
    assert!(listed.buckets().iter().any(|x| x.name() == Some(b.as_str())), "its buckets stay");
    let err = s.client_as(&ak, &sk).list_buckets().send().await.unwrap_err();
    assert_eq!(error_code(&err), (Some("InvalidAccessKeyId".into()), Some(403)), "the old keys are dead");
    // While a server runs, the root cannot be rotated.
    let (ok, out) = admin(&data, &["rotate-root"], &[]);
    assert!(!ok && out.contains("server is running"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_root_to_environment_keys_keeps_the_file_true() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = generated(&data);
    let (ak, sk) = file_keys(&data);
    let owner = owner_id(&s, &ak, &sk).await;
    let user = s.iam_as(&ak, &sk);
    user.create_user().user_name("alice").send().await.unwrap();
    user.put_user_policy()
        .user_name("alice")
        .policy_name("list")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let key = user.create_access_key().user_name("alice").send().await.unwrap().access_key.unwrap();
    s.kill();

    let env =
        [("HOLDFAST_ROOT_ACCESS_KEY", "NEWROOTKEY00000000"), ("HOLDFAST_ROOT_SECRET_KEY", "new-root-secret-0000")];
    let (ok, out) = admin(&data, &["rotate-root"], &env);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{ak} -> NEWROOTKEY00000000")), "{out}");
    assert!(!data.join("root-credentials").exists(), "no stale generated keys are left behind");
    let err = refused_start(&data, &[]);
    assert!(err.contains("was given by HOLDFAST_ROOT_ACCESS_KEY"), "{err}");
    let s = with_keys(&data, env[0].1, env[1].1);
    assert_eq!(owner_id(&s, env[0].1, env[1].1).await, owner, "the account stays");
    // The IAM user (an ARN with the account id in it) still signs requests.
    s.client_as(key.access_key_id(), key.secret_access_key()).list_buckets().send().await.unwrap();
    drop(s);
    // Other environment keys than those the data dir now serves are refused too.
    let err = refused_start(&data, &[("HOLDFAST_ROOT_ACCESS_KEY", "THIRDKEY"), ("HOLDFAST_ROOT_SECRET_KEY", "x")]);
    assert!(err.contains("is not the one this data dir serves (NEWROOTKEY00000000)"), "{err}");
    let err = refused_start(&data, &[("HOLDFAST_ROOT_ACCESS_KEY", env[0].1), ("HOLDFAST_ROOT_SECRET_KEY", "changed")]);
    assert!(err.contains("HOLDFAST_ROOT_SECRET_KEY is not the secret"), "{err}");
    // Rotating to the keys already served is refused as a no-op.
    let (ok, out) = admin(&data, &["rotate-root"], &env);
    assert!(!ok && out.contains("nothing to rotate"), "{out}");
}
