//! Root credentials: from the environment, or generated once and kept in the data dir.

use anyhow::Context;
use holdfast_identity::RootCredentials;
use rand::Rng;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const FILE: &str = "root-credentials";

fn random(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

/// Returns the root credentials and whether they were generated just now (to print once).
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<(RootCredentials, bool)> {
    let env_ak = std::env::var("HOLDFAST_ROOT_ACCESS_KEY").ok().filter(|s| !s.is_empty());
    let env_sk = std::env::var("HOLDFAST_ROOT_SECRET_KEY").ok().filter(|s| !s.is_empty());
    match (env_ak, env_sk) {
        (Some(access_key), Some(secret_key)) => return Ok((RootCredentials { access_key, secret_key }, false)),
        (Some(_), None) | (None, Some(_)) => {
            anyhow::bail!("set both HOLDFAST_ROOT_ACCESS_KEY and HOLDFAST_ROOT_SECRET_KEY, or neither")
        }
        (None, None) => {}
    }
    let path = data_dir.join(FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut lines = text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim(), v.trim().to_owned()));
        let mut ak = None;
        let mut sk = None;
        for (k, v) in lines.by_ref() {
            match k {
                "access_key" => ak = Some(v),
                "secret_key" => sk = Some(v),
                _ => {}
            }
        }
        let (Some(access_key), Some(secret_key)) = (ak, sk) else {
            anyhow::bail!("{} is damaged: it needs access_key and secret_key lines", path.display());
        };
        return Ok((RootCredentials { access_key, secret_key }, false));
    }
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const ANY: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let creds = RootCredentials { access_key: format!("HF{}", random(18, UPPER)), secret_key: random(40, ANY) };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(f, "access_key = {}\nsecret_key = {}", creds.access_key, creds.secret_key)?;
    f.sync_all()?;
    Ok((creds, true))
}
