//! Event notifications as records: a bucket's notification configuration, the change events
//! a store emits inside the transaction that makes the change, and queued deliveries.
//!
//! A store implementation calls [`NotificationConfig::deliveries`] in every transaction that
//! changes a version and queues one delivery per matching rule, so an acknowledged change
//! always has its events queued (at-least-once, nothing lost between commit and enqueue).

use holdfast_lock::{LockState, UtcMillis};
use serde::{Deserialize, Serialize};

/// Every event name Holdfast emits. `PutRetention` / `PutLegalHold` are MinIO's names for
/// lock changes (AWS has none, spec X1); `LifecycleExpiration:*` are AWS's;
/// `Replication:OperationFailedReplication` is AWS's (and MinIO's), `...CompletedReplication`
/// MinIO's: a version's replication status became COMPLETED or FAILED.
pub const EVENT_NAMES: &[&str] = &[
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectCreated:PutRetention",
    "s3:ObjectCreated:PutLegalHold",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:Replication:OperationCompletedReplication",
    "s3:Replication:OperationFailedReplication",
];

/// Whether a configuration may name `pattern`: one of [`EVENT_NAMES`] or a family wildcard
/// such as `s3:ObjectCreated:*`.
pub fn is_supported_event(pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(family) => family.ends_with(':') && EVENT_NAMES.iter().any(|n| n.starts_with(family)),
        None => EVENT_NAMES.contains(&pattern),
    }
}

fn event_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(family) => name.starts_with(family),
        None => pattern == name,
    }
}

/// Queue (SQS-style) or topic (SNS-style) configuration; both deliver the same records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    Queue,
    Topic,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRule {
    /// The configuration's `Id` (generated when the client sends none).
    pub id: String,
    pub kind: NotificationKind,
    /// Target ARN, e.g. `arn:holdfast:sqs::<id>:webhook`.
    pub target: String,
    /// Event names or family wildcards (`s3:ObjectCreated:*`).
    pub events: Vec<String>,
    pub prefix: String,
    pub suffix: String,
}

impl NotificationRule {
    pub fn matches(&self, event_name: &str, key: &str) -> bool {
        key.starts_with(&self.prefix)
            && key.ends_with(&self.suffix)
            && self.events.iter().any(|p| event_matches(p, event_name))
    }
}

/// A bucket's notification configuration (stored as JSON under
/// [`BucketConfigKind::Notification`](crate::BucketConfigKind)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationConfig {
    pub rules: Vec<NotificationRule>,
}

impl NotificationConfig {
    /// (configuration id, target ARN) of every rule the event matches.
    pub fn deliveries(&self, event: &ObjectEvent) -> Vec<(String, String)> {
        self.rules
            .iter()
            .filter(|r| r.matches(&event.name, &event.key))
            .map(|r| (r.id.clone(), r.target.clone()))
            .collect()
    }
}

/// One change of one version, as recorded in the transaction that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEvent {
    /// Full name, e.g. `s3:ObjectCreated:Put`.
    pub name: String,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    /// Absent for removals.
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub time: UtcMillis,
    /// The version's lock state after the change (empty for removals and markers).
    pub lock: LockState,
    /// Store-assigned, increasing with every event; the same for all deliveries of one event.
    pub sequencer: i64,
    /// `x-amz-replication-status` of the version, when the event is about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_status: Option<String>,
}

impl ObjectEvent {
    /// The event `name` for the version `rec` at `now`; `removed`: the version is gone (no size,
    /// no lock state). The store assigns the sequencer when it queues the event.
    pub fn of_version(name: &str, rec: &crate::model::VersionRecord, removed: bool, now: UtcMillis) -> Self {
        let object = rec.object.as_ref().filter(|_| !removed);
        Self {
            name: name.to_owned(),
            bucket: rec.bucket.clone(),
            key: rec.key.clone(),
            version_id: rec.version_id.clone(),
            size: object.map(|o| o.size),
            etag: object.map(|o| o.etag.clone()),
            time: now,
            lock: if removed { LockState::default() } else { rec.lock },
            sequencer: 0,
            replication_status: rec.replication.map(|s| s.as_str().to_owned()),
        }
    }
}

/// One delivery of an event to one target, as claimed from the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    pub id: i64,
    pub target: String,
    pub config_id: String,
    pub event: ObjectEvent,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// Deliveries waiting for one target (the console's backlog page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventBacklog {
    pub target: String,
    /// Deliveries queued, failed ones included.
    pub queued: u64,
    /// Of those, deliveries that failed at least once (waiting for their next attempt).
    pub retrying: u64,
    /// The most attempts any of them has failed.
    pub most_attempts: u32,
}

/// What became of a claimed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// The target acknowledged it: forget it.
    Delivered,
    /// Try again at this instant (one more failed attempt).
    RetryAt(UtcMillis),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_filters() {
        assert!(is_supported_event("s3:ObjectCreated:*"));
        assert!(is_supported_event("s3:ObjectRemoved:DeleteMarkerCreated"));
        assert!(is_supported_event("s3:ObjectCreated:PutLegalHold"));
        assert!(!is_supported_event("s3:ObjectRestore:Post"));
        assert!(!is_supported_event("s3:Object*"));
        let r = NotificationRule {
            id: "a".into(),
            kind: NotificationKind::Queue,
            target: "t".into(),
            events: vec!["s3:ObjectCreated:*".into()],
            prefix: "logs/".into(),
            suffix: ".gz".into(),
        };
        assert!(r.matches("s3:ObjectCreated:PutRetention", "logs/a.gz"));
        assert!(!r.matches("s3:ObjectRemoved:Delete", "logs/a.gz"));
        assert!(!r.matches("s3:ObjectCreated:Put", "logs/a.txt"));
        assert!(!r.matches("s3:ObjectCreated:Put", "other/a.gz"));
    }
}
