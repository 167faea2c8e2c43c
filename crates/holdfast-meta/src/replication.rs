//! Bucket replication as records: a bucket's replication configuration (AWS's V2 rules), the
//! items a store queues inside the transaction that makes a change (the outbox pattern the
//! events use), what the delivery worker claims, and the status a version shows.
//!
//! A store calls [`ReplicationConfig::destinations`] in every transaction that writes a new
//! version, a delete marker, a lock change or a tag change, and queues one item per
//! destination, so an acknowledged change always has its replication queued. A version
//! delete (DeleteObject with a `versionId`) is never queued: AWS does not replicate it, so that
//! a malicious delete on the source cannot reach the copy.

use crate::TagSet;
use holdfast_lock::{LockState, UtcMillis};
use serde::{Deserialize, Serialize};

/// Which versions a rule applies to (AWS `Filter`, `Filter/And`, or the V1 `Prefix`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationFilter {
    pub prefix: String,
    /// The version must carry every one of these tags, key and value exactly.
    #[serde(default, skip_serializing_if = "TagSet::is_empty")]
    pub tags: TagSet,
    /// How the client wrote it, so that GetBucketReplication answers the same form.
    pub form: FilterForm,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterForm {
    /// V1 schema: `<Prefix>` directly in the rule (no Priority, no DeleteMarkerReplication).
    Legacy,
    /// `<Filter/>`
    #[default]
    Empty,
    Prefix,
    Tag,
    And,
}

impl ReplicationFilter {
    /// Whether a version of `key` carrying `tags` is in scope. A delete marker has no tags:
    /// a rule with a tag filter never applies to one.
    pub fn applies(&self, key: &str, tags: Option<&TagSet>) -> bool {
        if !key.starts_with(&self.prefix) {
            return false;
        }
        match tags {
            None => self.tags.is_empty(),
            Some(tags) => self.tags.iter().all(|(k, v)| tags.get(k) == Some(v)),
        }
    }
}

/// Where a rule copies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationDestination {
    /// As the client wrote it: `arn:aws:s3:::<bucket>` (a bucket of this Holdfast, or of
    /// the same PostgreSQL cluster) or `arn:holdfast:s3:<target>::<bucket>` (a bucket behind
    /// the remote target `[replication.target.<target>]`).
    pub arn: String,
    pub storage_class: Option<String>,
}

/// Where a destination ARN points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationRef<'a> {
    Local { bucket: &'a str },
    Remote { target: &'a str, bucket: &'a str },
}

impl ReplicationDestination {
    /// `None` when the ARN has neither form.
    pub fn parse(arn: &str) -> Option<DestinationRef<'_>> {
        if let Some(bucket) = arn.strip_prefix("arn:aws:s3:::") {
            return (!bucket.is_empty() && !bucket.contains('/')).then_some(DestinationRef::Local { bucket });
        }
        let rest = arn.strip_prefix("arn:holdfast:s3:")?;
        let (target, bucket) = rest.split_once("::")?;
        (!target.is_empty() && !bucket.is_empty() && !bucket.contains('/') && !target.contains(':'))
            .then_some(DestinationRef::Remote { target, bucket })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationRule {
    pub id: String,
    /// Absent only in the V1 schema.
    pub priority: Option<i32>,
    pub enabled: bool,
    pub filter: ReplicationFilter,
    /// `DeleteMarkerReplication/Status`: `None` in the V1 schema (which replicates markers).
    pub delete_markers: Option<bool>,
    pub destination: ReplicationDestination,
}

impl ReplicationRule {
    fn replicates_markers(&self) -> bool {
        self.delete_markers.unwrap_or(self.filter.form == FilterForm::Legacy)
    }
}

/// A bucket's replication configuration (stored as JSON under
/// [`BucketConfigKind::Replication`](crate::BucketConfigKind)).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationConfig {
    /// The `Role` element, kept as given (Holdfast assumes no role).
    pub role: String,
    pub rules: Vec<ReplicationRule>,
}

/// What changed, and so what a delivery copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplicationKind {
    /// A new object version: bytes, headers, tags, checksums and lock state.
    Object,
    /// A delete marker (rules with DeleteMarkerReplication enabled).
    DeleteMarker,
    /// The version's retention or legal hold changed.
    Lock,
    /// The version's tags changed.
    Tags,
}

impl ReplicationKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::DeleteMarker => "marker",
            Self::Lock => "lock",
            Self::Tags => "tags",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Object, Self::DeleteMarker, Self::Lock, Self::Tags].into_iter().find(|k| k.as_str() == s)
    }
}

impl ReplicationConfig {
    /// (rule id, destination ARN) for a change of `kind` to a version of `key` carrying `tags`
    /// (`None` for a delete marker): one per destination, by the enabled rule of highest
    /// priority among those that apply (AWS: "the higher the number, the higher the
    /// priority"). Delete markers only where the rule replicates them.
    pub fn destinations(&self, kind: ReplicationKind, key: &str, tags: Option<&TagSet>) -> Vec<(String, String)> {
        let mut best: Vec<&ReplicationRule> = Vec::new();
        for rule in self.rules.iter().filter(|r| r.enabled && r.filter.applies(key, tags)) {
            if kind == ReplicationKind::DeleteMarker && !rule.replicates_markers() {
                continue;
            }
            match best.iter_mut().find(|b| b.destination.arn == rule.destination.arn) {
                Some(b) if b.priority.unwrap_or(0) < rule.priority.unwrap_or(0) => *b = rule,
                Some(_) => {}
                None => best.push(rule),
            }
        }
        best.into_iter().map(|r| (r.id.clone(), r.destination.arn.clone())).collect()
    }
}

/// `x-amz-replication-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicationStatus {
    Pending,
    Completed,
    Failed,
    /// The version is itself a replica.
    Replica,
}

impl ReplicationStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Replica => "REPLICA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Completed, Self::Failed, Self::Replica].into_iter().find(|k| k.as_str() == s)
    }
}

/// One queued replication, as claimed by a delivery worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedReplication {
    pub id: i64,
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub rule_id: String,
    /// The destination ARN.
    pub destination: String,
    pub kind: ReplicationKind,
    /// The version's size when it was queued (0 for markers and metadata changes).
    pub size: u64,
    pub queued: UtcMillis,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// What became of a claimed item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationOutcome {
    /// The destination has it: forget the item.
    Done,
    /// A passing failure (destination unreachable, 5xx): try again at this instant.
    RetryAt(UtcMillis, String),
    /// The destination refused it for good (no such bucket, access denied): the version
    /// shows FAILED and the item waits for `holdfast admin replicate`.
    Failed(String),
}

/// A version as a replica is written: the source's id, last-modified, content, tags and lock.
#[derive(Debug, Clone)]
pub struct ReplicaVersion {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub last_modified: UtcMillis,
    /// `None` for a delete marker.
    pub object: Option<crate::ObjectData>,
    pub tags: TagSet,
    pub lock: LockState,
}

/// What a replica write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaWrite {
    /// The version was new and is now recorded.
    Created,
    /// The version was already there (a delivery repeated): its lock and tags were brought
    /// up to date, nothing else changed.
    Existing,
}

/// Backlog of one rule of one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationBacklog {
    pub bucket: String,
    pub rule_id: String,
    pub destination: String,
    pub pending: u64,
    pub pending_bytes: u64,
    pub failed: u64,
    pub failed_bytes: u64,
    /// When the oldest pending item was queued.
    pub oldest_pending: Option<UtcMillis>,
}

/// The audit record of a version's replication status becoming COMPLETED or FAILED (written by
/// the store in the settle's transaction): actor `holdfast:replication`, op
/// `ReplicationCompleted` / `ReplicationFailed`, the version, and `replicationStatus` and
/// `destination` in its detail.
pub(crate) fn transition_record(
    q: &QueuedReplication,
    status: ReplicationStatus,
) -> (holdfast_audit::Actor, holdfast_audit::ChangeFacts) {
    let op = if status == ReplicationStatus::Failed { "ReplicationFailed" } else { "ReplicationCompleted" };
    let actor = holdfast_audit::Actor {
        principal: Some("holdfast:replication".into()),
        op: Some(op.into()),
        ..holdfast_audit::Actor::default()
    };
    let facts = holdfast_audit::ChangeFacts {
        bucket: Some(q.bucket.clone()),
        key: Some(q.key.clone()),
        version_id: Some(q.version_id.clone()),
        detail: vec![
            ("replicationStatus".into(), serde_json::json!(status.as_str())),
            ("destination".into(), serde_json::json!(q.destination)),
        ],
        ..holdfast_audit::ChangeFacts::default()
    };
    (actor, facts)
}

/// The event of a version's replication status becoming COMPLETED or FAILED.
pub(crate) fn transition_event(status: ReplicationStatus) -> &'static str {
    if status == ReplicationStatus::Failed {
        "s3:Replication:OperationFailedReplication"
    } else {
        "s3:Replication:OperationCompletedReplication"
    }
}

/// Whether a lock job's `S3ReplicateObject` task may queue `rec` (`tags`: the version's, `None`
/// for a delete marker): its bucket must have a replication configuration with an enabled
/// rule that applies to it, as for a change made now. Refused with `InvalidRequest` (AWS does
/// not document the code its Batch Replication gives), nothing queued.
pub(crate) fn check_replicable(
    config: Option<&ReplicationConfig>,
    rec: &crate::model::VersionRecord,
    tags: Option<&TagSet>,
) -> crate::MetaResult<()> {
    let Some(config) = config else {
        return Err(crate::MetaError::InvalidRequest(format!(
            "The bucket {} has no replication configuration",
            rec.bucket
        )));
    };
    let kind = if rec.is_delete_marker() { ReplicationKind::DeleteMarker } else { ReplicationKind::Object };
    if config.destinations(kind, &rec.key, tags).is_empty() {
        return Err(crate::MetaError::InvalidRequest(format!(
            "No enabled replication rule of bucket {} applies to this object",
            rec.bucket
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, priority: i32, prefix: &str, dest: &str, markers: bool) -> ReplicationRule {
        ReplicationRule {
            id: id.into(),
            priority: Some(priority),
            enabled: true,
            filter: ReplicationFilter { prefix: prefix.into(), form: FilterForm::Prefix, ..Default::default() },
            delete_markers: Some(markers),
            destination: ReplicationDestination { arn: dest.into(), storage_class: None },
        }
    }

    #[test]
    fn destinations_by_priority_and_kind() {
        let mut tagged = rule("t", 9, "", "arn:aws:s3:::c", true);
        tagged.filter.tags.insert("k".into(), "v".into());
        let c = ReplicationConfig {
            role: String::new(),
            rules: vec![
                rule("low", 1, "", "arn:aws:s3:::a", false),
                rule("high", 2, "docs/", "arn:aws:s3:::a", true),
                rule("other", 1, "", "arn:aws:s3:::b", false),
                tagged,
            ],
        };
        let none = TagSet::new();
        let d = c.destinations(ReplicationKind::Object, "docs/x", Some(&none));
        assert_eq!(d, vec![("high".into(), "arn:aws:s3:::a".into()), ("other".into(), "arn:aws:s3:::b".into())]);
        let d = c.destinations(ReplicationKind::Object, "logs/x", Some(&none));
        assert_eq!(d, vec![("low".into(), "arn:aws:s3:::a".into()), ("other".into(), "arn:aws:s3:::b".into())]);
        // Markers: only rules that replicate them, never a tag-filtered one.
        let d = c.destinations(ReplicationKind::DeleteMarker, "docs/x", None);
        assert_eq!(d, vec![("high".into(), "arn:aws:s3:::a".into())]);
        let tags: TagSet = [("k".to_owned(), "v".to_owned())].into();
        assert_eq!(c.destinations(ReplicationKind::Lock, "z", Some(&tags)).len(), 3);
    }

    #[test]
    fn destination_arns() {
        assert_eq!(ReplicationDestination::parse("arn:aws:s3:::dst"), Some(DestinationRef::Local { bucket: "dst" }));
        assert_eq!(
            ReplicationDestination::parse("arn:holdfast:s3:dr::dst"),
            Some(DestinationRef::Remote { target: "dr", bucket: "dst" })
        );
        for bad in ["dst", "arn:aws:s3:::", "arn:aws:s3:::a/b", "arn:holdfast:s3:::dst", "arn:holdfast:s3:dr::"] {
            assert_eq!(ReplicationDestination::parse(bad), None, "{bad}");
        }
    }
}
