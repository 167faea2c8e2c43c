//! One audit record: who did what to which version, with what result.

use holdfast_lock::{LockState, UtcMillis};
use serde::{Deserialize, Serialize};

/// Lock state as written in the trail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockSnapshot {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<String>,
}

impl From<&LockState> for LockSnapshot {
    fn from(l: &LockState) -> Self {
        Self {
            mode: l.retention.map(|r| r.mode.as_str().to_owned()),
            retain_until: l.retention.map(|r| r.until.to_iso8601()),
            legal_hold: l.legal_hold.map(|h| h.as_str().to_owned()),
        }
    }
}

/// The fields of one line (the chain fields `hash`, `seq` and `prev` are added when it is
/// sealed). Absent values are left out of the line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// UTC, milliseconds (`2026-01-01T00:00:00.000Z`).
    pub time: String,
    /// `root`, `user/<name>`, `anonymous`, or `holdfast:<component>` for the server itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The access key a request was signed with (also for refused signatures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    /// Client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// S3 operation name (`PutObjectRetention`), or a server event (`ClockJump`).
    pub op: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// HTTP status of the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// S3 error code when the request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Governance bypass was requested and granted.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub bypass: bool,
    /// Lock state before and after a lock change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_before: Option<LockSnapshot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_after: Option<LockSnapshot>,
    /// Anything else (denied DeleteObjects entries, lifecycle counts, clock readings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// The record's id in the metadata store's outbox, where it was committed together with
    /// its change; the trail's files are written from there (a restart skips ids already
    /// written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rid: Option<i64>,
}

impl AuditRecord {
    /// A record stamped with `time`.
    pub fn new(op: impl Into<String>, time: UtcMillis) -> Self {
        Self { time: time.to_iso8601(), op: op.into(), ..Self::default() }
    }
}
