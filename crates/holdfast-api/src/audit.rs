//! What the HTTP edge needs for one audit record, filled in while the request is handled:
//! the access check names the caller and the target, operations add what only they know
//! (the version written, the lock state before and after, refused DeleteObjects entries).
//! Same pattern as [`OpSlot`](crate::auth::OpSlot): the edge puts an [`AuditSlot`] in the
//! request extensions and reads it after the response.

use holdfast_identity::Principal;
use holdfast_lock::LockState;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct AuditFacts {
    /// `arn:aws:iam::<account>:root`, `...:user/<name>`, or `anonymous`.
    pub principal: Option<String>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub version_id: Option<String>,
    /// Governance bypass was requested and granted.
    pub bypass: bool,
    pub lock_before: Option<LockState>,
    pub lock_after: Option<LockState>,
    /// DeleteObjects entries that were refused: (key, version id, error code).
    pub refused: Vec<(String, Option<String>, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct AuditSlot(pub Arc<Mutex<AuditFacts>>);

impl AuditSlot {
    /// Updates the facts of the request whose extensions are `ext`, if the edge asked for them.
    /// Who acts, on what, with which bypass also goes to the actor of the running request:
    /// the store writes it into the record it commits with the change.
    pub fn update(ext: &http::Extensions, f: impl FnOnce(&mut AuditFacts)) {
        if let Some(slot) = ext.get::<Self>()
            && let Ok(mut facts) = slot.0.lock()
        {
            f(&mut facts);
            holdfast_audit::scope::update_current(|a| {
                a.principal.clone_from(&facts.principal);
                a.bucket.clone_from(&facts.bucket);
                a.key.clone_from(&facts.key);
                a.bypass = facts.bypass;
            });
        }
    }

    pub fn take(&self) -> AuditFacts {
        self.0.lock().map(|mut f| std::mem::take(&mut *f)).unwrap_or_default()
    }
}

/// How a caller is named in the trail.
pub fn principal_name(p: &Principal, account_id: &str) -> String {
    p.arn(account_id).unwrap_or_else(|| "anonymous".to_owned())
}
