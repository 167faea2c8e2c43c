//! Who is acting: the request (or server component) on whose behalf metadata changes are
//! made. The HTTP edge opens a scope around each request; the API fills in the caller and
//! the operation once it knows them; the metadata store reads the scope when it commits a
//! change and writes the change's audit record in the same transaction ("the
//! trail is part of the change"). The store reports the ids of the records it committed
//! back into the scope, so the edge knows whether the request left a record already.

use crate::{AuditRecord, LockSnapshot};
use std::sync::{Arc, Mutex, PoisonError};

/// The facts about the actor that every record of its changes carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// `arn:aws:iam::<account>:root`, `...:user/<name>`, `anonymous`, or `holdfast:<component>`.
    pub principal: Option<String>,
    pub access_key: Option<String>,
    /// Client address.
    pub source: Option<String>,
    /// Operation name (`PutObjectRetention`, `iam:CreateUser`, `LifecycleExpiration`).
    pub op: Option<String>,
    pub request_id: Option<String>,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The version the actor acts on, when it names one before the change (lifecycle); a
    /// different version the change writes (a delete marker) is then recorded in `detail`.
    pub version_id: Option<String>,
    /// Governance bypass was requested and granted.
    pub bypass: bool,
    /// Anything else the actor wants in the record (a lifecycle rule id, say).
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, Default)]
struct State {
    actor: Actor,
    /// Outbox ids of the records committed on this actor's behalf.
    committed: Vec<i64>,
}

/// A shared, mutable [`Actor`]: the edge, the API and the store each hold a handle.
#[derive(Debug, Clone, Default)]
pub struct ActorCell(Arc<Mutex<State>>);

tokio::task_local! {
    static CURRENT: ActorCell;
}

impl ActorCell {
    pub fn new(actor: Actor) -> Self {
        Self(Arc::new(Mutex::new(State { actor, committed: Vec::new() })))
    }

    /// A server component acting on its own (`holdfast:lifecycle`, ...).
    pub fn component(component: &str, op: &str) -> Self {
        Self::new(Actor {
            principal: Some(format!("holdfast:{component}")),
            op: Some(op.to_owned()),
            ..Actor::default()
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn update(&self, f: impl FnOnce(&mut Actor)) {
        self.with(|s| f(&mut s.actor));
    }

    pub fn actor(&self) -> Actor {
        self.with(|s| s.actor.clone())
    }

    /// Called by the store once the transaction holding record `id` committed.
    pub fn add_committed(&self, id: i64) {
        self.with(|s| s.committed.push(id));
    }

    pub fn committed(&self) -> Vec<i64> {
        self.with(|s| s.committed.clone())
    }

    /// Runs `fut` with this cell as the current actor.
    pub async fn scope<F: std::future::Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }
}

/// The actor of the running task, if a scope was opened.
pub fn current() -> Option<ActorCell> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Updates the current actor, if any.
pub fn update_current(f: impl FnOnce(&mut Actor)) {
    if let Some(cell) = current() {
        cell.update(f);
    }
}

/// What a change adds to its actor's facts: filled in by the store inside the transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFacts {
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub version_id: Option<String>,
    pub lock_before: Option<LockSnapshot>,
    pub lock_after: Option<LockSnapshot>,
    /// The lock came with the version this change wrote (a PUT with lock headers or the
    /// bucket's default, a replica's first copy), rather than changing a version that was
    /// there: a version's lock history starts "written". Not part of the record's text.
    pub lock_written: bool,
    /// Extra members merged into the record's `detail` (a delete marker's version id, ...).
    pub detail: Vec<(String, serde_json::Value)>,
}

/// The status a request answers when its change succeeds: 204 for the deletes and aborts
/// that AWS answers without a body, 200 otherwise.
pub fn success_status(op: &str) -> u16 {
    let no_content =
        (op.starts_with("Delete") && op != "DeleteObjects") || op.starts_with("Abort") || op.starts_with("Lifecycle");
    if no_content { 204 } else { 200 }
}

/// The record of one committed change made by `actor` at `time`.
pub fn change_record(actor: &Actor, change: ChangeFacts, time: holdfast_lock::UtcMillis) -> AuditRecord {
    let op = actor.op.clone().unwrap_or_else(|| "Change".to_owned());
    let mut r = AuditRecord::new(op.clone(), time);
    r.principal.clone_from(&actor.principal);
    r.access_key.clone_from(&actor.access_key);
    r.source.clone_from(&actor.source);
    r.request_id.clone_from(&actor.request_id);
    r.bucket = change.bucket.or_else(|| actor.bucket.clone());
    r.key = change.key.or_else(|| actor.key.clone());
    let mut written = None;
    r.version_id = match (&actor.version_id, change.version_id) {
        (Some(named), noted) => {
            written = noted.filter(|n| n != named);
            Some(named.clone())
        }
        (None, noted) => noted,
    };
    r.status = Some(success_status(&op));
    r.bypass = actor.bypass;
    r.lock_before = change.lock_before;
    r.lock_after = change.lock_after;
    let mut detail = match actor.detail.clone() {
        Some(serde_json::Value::Object(m)) => m,
        Some(other) => {
            let mut m = serde_json::Map::new();
            m.insert("actor".into(), other);
            m
        }
        None => serde_json::Map::new(),
    };
    for (k, v) in change.detail {
        detail.insert(k, v);
    }
    if let Some(marker) = written {
        detail.insert("delete_marker_version_id".into(), serde_json::Value::String(marker));
    }
    r.detail = (!detail.is_empty()).then_some(serde_json::Value::Object(detail));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_scope_is_seen_by_the_task_and_records_flow_back() {
        assert!(current().is_none());
        let cell = ActorCell::new(Actor { source: Some("127.0.0.1:1".into()), ..Actor::default() });
        let seen = cell
            .clone()
            .scope(async {
                update_current(|a| a.op = Some("PutObject".into()));
                current().unwrap().add_committed(7);
                current().unwrap().actor()
            })
            .await;
        assert_eq!(seen.op.as_deref(), Some("PutObject"));
        assert_eq!(cell.committed(), vec![7]);
    }

    #[test]
    fn change_records_carry_the_actor_and_the_change() {
        let actor = Actor {
            principal: Some("holdfast:lifecycle".into()),
            op: Some("LifecycleExpiration".into()),
            bucket: Some("b".into()),
            detail: Some(serde_json::json!({ "rule": "r1" })),
            ..Actor::default()
        };
        let change = ChangeFacts {
            key: Some("k".into()),
            version_id: Some("v".into()),
            detail: vec![("delete_marker_version_id".into(), serde_json::Value::Null)],
            ..ChangeFacts::default()
        };
        let r = change_record(&actor, change, holdfast_lock::UtcMillis(0));
        assert_eq!((r.bucket.as_deref(), r.key.as_deref(), r.status), (Some("b"), Some("k"), Some(204)));
        assert_eq!(r.detail, Some(serde_json::json!({ "rule": "r1", "delete_marker_version_id": null })));
        assert_eq!(success_status("DeleteObjects"), 200);
        assert_eq!(success_status("DeleteObject"), 204);
        assert_eq!(success_status("iam:DeleteUser"), 200);
    }
}
