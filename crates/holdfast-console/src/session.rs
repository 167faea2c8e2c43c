//! Server-side sessions: a random id in an HttpOnly cookie, the principal's keys kept here
//! and never sent to the browser, an idle expiry, and a bound on how many live at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq as _;

/// 32 random bytes, hex: session ids and CSRF tokens.
pub fn token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[derive(Clone)]
pub struct Session {
    /// How the audit trail and the pages name the principal (`root`, `user/NAME`, ...).
    pub principal: String,
    /// The installation's root: the only one shown the installation-wide pages.
    pub is_root: bool,
    pub access_key: String,
    /// Kept in server memory only, to sign the calls made as this principal.
    pub secret_key: String,
    pub csrf: String,
    last_seen: Instant,
}

pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    max: usize,
}

impl Sessions {
    pub fn new(idle: Duration, max: usize) -> Self {
        Self { map: Mutex::new(HashMap::new()), idle, max: max.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session; returns its id. At the bound, expired sessions go first, then the one
    /// idle longest (a sign-in never fails for lack of room; the evicted user signs in again).
    pub fn open(&self, principal: String, is_root: bool, access_key: String, secret_key: String) -> String {
        let id = token();
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| now.duration_since(s.last_seen) < self.idle);
        while map.len() >= self.max {
            let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone()) else { break };
            map.remove(&oldest);
        }
        map.insert(id.clone(), Session { principal, is_root, access_key, secret_key, csrf: token(), last_seen: now });
        id
    }

    /// The live session of `id`, touched; an expired one is removed and `None`.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let s = map.get_mut(id)?;
        if now.duration_since(s.last_seen) >= self.idle {
            map.remove(id);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let s = Sessions::new(Duration::from_millis(50), 2);
        let a = s.open("a".into(), false, "k".into(), "s".into());
        let b = s.open("b".into(), false, "k".into(), "s".into());
        assert!(s.get(&a).is_some());
        let c = s.open("c".into(), false, "k".into(), "s".into());
        assert_eq!(s.len(), 2);
        assert!(s.get(&b).is_none(), "the one idle longest made room");
        assert!(s.get(&c).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.get(&a).is_none() && s.get(&c).is_none(), "idle expiry");
        assert!(same_token("ab", "ab") && !same_token("ab", "ac") && !same_token("ab", "abc"));
    }
}
