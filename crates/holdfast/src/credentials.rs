//! Root credentials: from the environment, or generated once and kept in the data dir; and
//! which root a data dir serves, so that the root never changes without being asked to.
//!
//! - `<data-dir>/root-credentials` (0600): the generated keys (`access_key`, `secret_key`),
//!   present only while the root's keys are generated ones, so it is always true.
//! - `<data-dir>/root-identity` (0600): the root access key the data dir serves, a SHA-256 of
//!   its secret, and `account_key`, the access key the installation's account id and owner id
//!   derive from (the first root key; kept by `holdfast admin rotate-root`, so bucket owners,
//!   IAM ARNs and policies naming the account survive a rotation).
//!
//! At start, keys from `HOLDFAST_ROOT_*` that differ from generated keys, or from the keys
//! the data dir was last served with, stop the start naming the conflict; `holdfast admin
//! rotate-root` is the one way to change them.

use anyhow::{Context, bail};
use holdfast_identity::RootCredentials;
use rand::Rng;
use sha2::Digest as _;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const FILE: &str = "root-credentials";
const IDENTITY: &str = "root-identity";

/// The root the server runs with.
pub struct Root {
    pub creds: RootCredentials,
    /// Generated just now (printed once).
    pub generated: bool,
    /// The access key the installation's account id and owner id derive from.
    pub account_key: String,
}

/// What `root-identity` records.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    access_key: String,
    secret_sha256: String,
    account_key: String,
}

fn random(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

fn generate() -> RootCredentials {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const ANY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    RootCredentials { access_key: format!("HF{}", random(18, UPPER)), secret_key: random(40, ANY) }
}

fn secret_hash(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(format!("holdfast-root-secret:{secret}")))
}

fn from_env() -> anyhow::Result<Option<RootCredentials>> {
    let env_ak = std::env::var("HOLDFAST_ROOT_ACCESS_KEY").ok().filter(|s| !s.is_empty());
    let env_sk = std::env::var("HOLDFAST_ROOT_SECRET_KEY").ok().filter(|s| !s.is_empty());
    match (env_ak, env_sk) {
        (Some(access_key), Some(secret_key)) => Ok(Some(RootCredentials { access_key, secret_key })),
        (Some(_), None) | (None, Some(_)) => {
            bail!("set both HOLDFAST_ROOT_ACCESS_KEY and HOLDFAST_ROOT_SECRET_KEY, or neither")
        }
        (None, None) => Ok(None),
    }
}

/// `key = value` lines of a small file of ours; `None` when it does not exist.
fn read_pairs(path: &Path) -> anyhow::Result<Option<Vec<(String, String)>>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn get(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn read_file(data_dir: &Path) -> anyhow::Result<Option<RootCredentials>> {
    let path = data_dir.join(FILE);
    let Some(pairs) = read_pairs(&path)? else { return Ok(None) };
    let (Some(access_key), Some(secret_key)) = (get(&pairs, "access_key"), get(&pairs, "secret_key")) else {
        bail!("{} is damaged: it needs access_key and secret_key lines", path.display());
    };
    Ok(Some(RootCredentials { access_key, secret_key }))
}

fn read_identity(data_dir: &Path) -> anyhow::Result<Option<Identity>> {
    let path = data_dir.join(IDENTITY);
    let Some(pairs) = read_pairs(&path)? else { return Ok(None) };
    match (get(&pairs, "access_key"), get(&pairs, "secret_sha256"), get(&pairs, "account_key")) {
        (Some(access_key), Some(secret_sha256), Some(account_key)) => {
            Ok(Some(Identity { access_key, secret_sha256, account_key }))
        }
        _ => bail!("{} is damaged: it needs access_key, secret_sha256 and account_key lines", path.display()),
    }
}

/// Writes a 0600 file whole: a temporary, fsynced, renamed over the old one, directory fsynced.
fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn identity_text(id: &Identity) -> String {
    format!(
        "# The root this data dir serves (holdfast admin rotate-root changes it).\n\
         access_key = {}\nsecret_sha256 = {}\naccount_key = {}\n",
        id.access_key, id.secret_sha256, id.account_key
    )
}

fn credentials_text(c: &RootCredentials) -> String {
    format!("access_key = {}\nsecret_key = {}\n", c.access_key, c.secret_key)
}

/// The root credentials for `serve`: the environment's or the generated ones, checked
/// against what the data dir was served with.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Root> {
    let file_path = data_dir.join(FILE);
    let env = from_env()?;
    let file = read_file(data_dir)?;
    let identity = read_identity(data_dir)?;
    let rotate = format!("holdfast admin rotate-root --data-dir {}", data_dir.display());
    let (creds, generated) = match (env, file) {
        (Some(env), Some(file)) if env.access_key != file.access_key || env.secret_key != file.secret_key => bail!(
            "HOLDFAST_ROOT_ACCESS_KEY / HOLDFAST_ROOT_SECRET_KEY ({}) differ from the root credentials generated in {} \
             ({}): the root is not replaced silently. Unset the variables to keep the generated keys, or, with the \
             server stopped and the variables set, run `{rotate}` to make them the root's keys",
            env.access_key,
            file_path.display(),
            file.access_key
        ),
        (Some(c), _) | (None, Some(c)) => (c, false),
        (None, None) => match &identity {
            Some(id) => bail!(
                "this data dir's root ({}) was given by HOLDFAST_ROOT_ACCESS_KEY / HOLDFAST_ROOT_SECRET_KEY, which \
                 are not set now: set them, or run `{rotate}` (server stopped) to generate new root keys",
                id.access_key
            ),
            None => {
                let creds = generate();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&file_path)
                    .with_context(|| format!("cannot create {}", file_path.display()))?;
                f.write_all(credentials_text(&creds).as_bytes())?;
                f.sync_all()?;
                (creds, true)
            }
        },
    };
    let account_key = match identity {
        Some(id) if id.access_key != creds.access_key => bail!(
            "the root access key {} is not the one this data dir serves ({}): the root is not replaced silently. \
             Start with the data dir's keys, or, with the server stopped and the new keys in HOLDFAST_ROOT_*, run \
             `{rotate}`",
            creds.access_key,
            id.access_key
        ),
        Some(id) if id.secret_sha256 != secret_hash(&creds.secret_key) => bail!(
            "HOLDFAST_ROOT_SECRET_KEY is not the secret this data dir's root ({}) was served with: the root is not \
             replaced silently. Start with the data dir's secret, or, with the server stopped and the new keys in \
             HOLDFAST_ROOT_*, run `{rotate}`",
            id.access_key
        ),
        Some(id) => id.account_key,
        // First start (or the first with this version): the data dir serves these keys.
        None => {
            let id = Identity {
                access_key: creds.access_key.clone(),
                secret_sha256: secret_hash(&creds.secret_key),
                account_key: creds.access_key.clone(),
            };
            write_identity_once(data_dir, &id)?;
            id.account_key
        }
    };
    Ok(Root { creds, generated, account_key })
}

/// Records the identity unless another gateway (shared data dir) just did: then it must agree.
fn write_identity_once(data_dir: &Path, id: &Identity) -> anyhow::Result<()> {
    let path = data_dir.join(IDENTITY);
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
        Ok(mut f) => {
            f.write_all(identity_text(id).as_bytes())?;
            f.sync_all()?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match read_identity(data_dir)? {
            Some(other) if other.access_key == id.access_key && other.secret_sha256 == id.secret_sha256 => Ok(()),
            _ => bail!("another gateway recorded other root keys in {} at the same time", path.display()),
        },
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// `holdfast admin rotate-root`: new root keys (HOLDFAST_ROOT_* when set, else generated) for
/// a data dir whose server is stopped; the account id stays.
pub fn rotate_root(data_dir: &Path) -> anyhow::Result<()> {
    if !data_dir.join("meta.db").exists() && !data_dir.join(IDENTITY).exists() && !data_dir.join(FILE).exists() {
        bail!("{} is not a holdfast data dir (no meta.db, {IDENTITY} or {FILE})", data_dir.display());
    }
    // The server holds this lock (gateways a shared one) while it runs.
    let lock_path = data_dir.join("holdfast.lock");
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("a holdfast server is running on {}: stop it (every gateway) first", data_dir.display())
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()));
        }
    }
    let old = match (read_identity(data_dir)?, read_file(data_dir)?) {
        (Some(id), _) => id,
        (None, Some(file)) => Identity {
            access_key: file.access_key.clone(),
            secret_sha256: secret_hash(&file.secret_key),
            account_key: file.access_key,
        },
        (None, None) => bail!(
            "{} records no root yet: start the server once with its keys (HOLDFAST_ROOT_*) first",
            data_dir.display()
        ),
    };
    let (new, generated) = match from_env()? {
        Some(env) => (env, false),
        None => (generate(), true),
    };
    if new.access_key == old.access_key && secret_hash(&new.secret_key) == old.secret_sha256 {
        bail!(
            "HOLDFAST_ROOT_* hold the root keys this data dir already serves ({}): nothing to rotate",
            old.access_key
        );
    }
    let file_path = data_dir.join(FILE);
    if generated {
        write_atomically(&file_path, &credentials_text(&new))?;
    } else {
        // The root's keys now live in the environment: a file of generated keys would lie.
        match std::fs::remove_file(&file_path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", file_path.display())),
        }
    }
    let id = Identity {
        access_key: new.access_key.clone(),
        secret_sha256: secret_hash(&new.secret_key),
        account_key: old.account_key,
    };
    write_atomically(&data_dir.join(IDENTITY), &identity_text(&id))?;
    drop(lock);
    println!("root access key changed: {} -> {} (account id unchanged)", old.access_key, new.access_key);
    if generated {
        println!("Generated root credentials (stored in {}):", file_path.display());
        println!("  access key: {}", new.access_key);
        println!("  secret key: {}", new.secret_key);
    } else {
        println!("keys from HOLDFAST_ROOT_*: start the server with the same variables");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_identity_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(IDENTITY), "access_key = X\n").unwrap();
        let err = read_identity(dir.path()).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        let id = Identity { access_key: "A".into(), secret_sha256: secret_hash("s"), account_key: "A0".into() };
        std::fs::write(dir.path().join(IDENTITY), identity_text(&id)).unwrap();
        assert_eq!(read_identity(dir.path()).unwrap(), Some(id));
    }
}
