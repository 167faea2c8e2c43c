//! Access-key secrets at rest: sealed with ChaCha20-Poly1305 under a key kept in the data
//! directory (mode 0600). SigV4 needs the secret itself (it keys the HMAC chain), so a hash
//! would not do; a copy of the database alone reveals no secret.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const KEY_FILE: &str = "secrets.key";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("cannot read or create the sealing key: {0}")]
    Io(#[from] std::io::Error),
    #[error("the sealing key file is damaged (expected 32 bytes)")]
    BadKey,
    #[error("a sealed secret does not open with this server's key")]
    Open,
}

pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

fn create_key(data_dir: &Path, path: &Path) -> std::io::Result<Vec<u8>> {
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    let tmp = data_dir.join(format!(".{KEY_FILE}.{}", rand::rng().next_u64()));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(&key)?;
    f.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            std::fs::File::open(data_dir)?.sync_all()?;
            Ok(key)
        }
        // Another gateway linked its key first: use that one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path),
        Err(e) => Err(e),
    }
}

impl Sealer {
    /// Loads `<data_dir>/secrets.key`, creating it (32 random bytes, 0600) on first start.
    /// Several gateways sharing the data dir may start at once: the key is written to a
    /// private file and linked into place, so every one of them ends up with the one key.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SealError> {
        let path = data_dir.join(KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(key) => key,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(data_dir, &path)?,
            Err(e) => return Err(e.into()),
        };
        Self::from_key(&key)
    }

    pub fn from_key(key: &[u8]) -> Result<Self, SealError> {
        let key = Key::try_from(key).map_err(|_| SealError::BadKey)?;
        Ok(Self { cipher: ChaCha20Poly1305::new(&key) })
    }

    pub fn seal(&self, secret: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let nonce_arr = Nonce::try_from(&nonce[..]).expect("12-byte nonce");
        let sealed =
            self.cipher.encrypt(&nonce_arr, secret.as_bytes()).expect("ChaCha20-Poly1305 encryption cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Open)?;
        let plain = self.cipher.decrypt(&nonce, body).map_err(|_| SealError::Open)?;
        String::from_utf8(plain).map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sealer::load_or_create(dir.path()).unwrap();
        let sealed = s.seal("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert!(!sealed.windows(8).any(|w| w == b"wJalrXUt"), "the secret is not in the clear");
        assert_eq!(s.open(&sealed).unwrap(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let again = Sealer::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "the key persists");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(s.open(&bad).is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
