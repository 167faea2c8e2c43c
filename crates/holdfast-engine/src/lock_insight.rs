//! What the console shows about locks (issue #16): a version's lock timeline (its creation and
//! every audited lock change, by whom), why removing it is refused and when that will be
//! allowed, and when a bucket could be emptied. Reads only; the verdicts are the lock rules'
//! own (`holdfast_lock::explain_removal`) at the compliance clock's "now".

use crate::{Engine, EngineResult};
use holdfast_lock::{Explanation, LockState, Removal, UtcMillis};
use holdfast_meta::{
    Emptiable, HistoryOrder, LockAction, LockHistoryEntry, LockHistoryQuery, LockReport, MetaError, VersionRecord,
    VersionSelector,
};

/// One line of a version's lock timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineEvent {
    /// The version was written (its Last-Modified). `lock` is what it was written with; `by`
    /// and `op` come from its history's "written" entry, when it had a lock to record.
    Created { time: UtcMillis, lock: LockState, by: Option<String>, op: Option<String> },
    /// An audited lock change.
    Change(LockHistoryEntry),
}

impl TimelineEvent {
    pub fn time(&self) -> UtcMillis {
        match self {
            Self::Created { time, .. } => *time,
            Self::Change(e) => e.time,
        }
    }

    /// One line for a person: "2026-12-07T10:00:00.000Z legal hold placed by arn:...:user/alice
    /// (PutObjectLegalHold)".
    pub fn describe(&self) -> String {
        let by = |p: &Option<String>| p.as_deref().map(|p| format!(" by {p}")).unwrap_or_default();
        match self {
            Self::Created { time, lock, by: who, op } => {
                let with = match lock_words(lock) {
                    w if w.is_empty() => " without a lock".to_owned(),
                    w => format!(" with {w}"),
                };
                let op = op.as_deref().map(|o| format!(" ({o})")).unwrap_or_default();
                format!("{} written{with}{}{op}", time.to_iso8601(), by(who))
            }
            Self::Change(e) => {
                let what: Vec<String> = e.actions.iter().map(|a| action_words(*a, e)).collect();
                let bypass = if e.bypass { " with governance bypass" } else { "" };
                format!("{} {}{}{bypass} ({})", e.time.to_iso8601(), what.join(", "), by(&e.principal), e.op)
            }
        }
    }
}

fn lock_words(l: &LockState) -> String {
    let mut parts = Vec::new();
    if let Some(r) = l.retention {
        parts.push(format!("{} retention until {}", r.mode, r.until.to_iso8601()));
    }
    if let Some(h) = l.legal_hold {
        parts.push(format!("legal hold {}", h.as_str()));
    }
    parts.join(" and ")
}

fn action_words(a: LockAction, e: &LockHistoryEntry) -> String {
    let until = |l: &LockState| l.retention.map(|r| format!("{} until {}", r.mode, r.until.to_iso8601()));
    let (before, after) = (until(&e.before).unwrap_or_default(), until(&e.after).unwrap_or_default());
    match a {
        LockAction::Written => format!("written with {}", lock_words(&e.after)),
        LockAction::RetentionSet => format!("retention set to {after}"),
        LockAction::RetentionExtended => format!("retention extended from {before} to {after}"),
        LockAction::RetentionShortened => format!("retention shortened from {before} to {after}"),
        LockAction::RetentionModeChanged => format!("retention changed from {before} to {after}"),
        LockAction::RetentionRemoved => format!("retention {before} removed"),
        LockAction::LegalHoldOn => "legal hold placed".to_owned(),
        LockAction::LegalHoldOff => "legal hold lifted".to_owned(),
        LockAction::Unchanged => format!("lock set again, unchanged ({})", lock_words(&e.after)),
    }
}

/// A page of a version's lock timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTimeline {
    pub version: VersionRecord,
    /// In the query's order. The creation comes first (oldest first) or last (newest first),
    /// on the page that reaches it.
    pub events: Vec<TimelineEvent>,
    /// The cursor of the next page of changes, when there is more.
    pub next: Option<i64>,
}

/// Why removing a version is refused for a caller, at the compliance clock's "now".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalVerdict {
    pub version: VersionRecord,
    pub now: UtcMillis,
    /// `None`: allowed now.
    pub refused: Option<Explanation>,
    /// Under a legal hold: the change that placed the hold in force (who and when), from the
    /// version's history; `None` when the history does not hold it (a hold placed by a
    /// change without a recorded actor, or before histories were kept).
    pub hold_placed: Option<LockHistoryEntry>,
}

/// Whether and when a bucket could be emptied, with the report it is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEmptiable {
    pub report: LockReport,
    pub emptiable: Emptiable,
    pub now: UtcMillis,
}

impl Engine {
    /// A page of the lock timeline of the version `sel` names: its creation and its lock
    /// history (at most [`holdfast_meta::MAX_LOCK_HISTORY_PAGE`] changes a page).
    pub async fn lock_timeline(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        q: LockHistoryQuery,
    ) -> EngineResult<LockTimeline> {
        let h = self.meta.lock_history(bucket, key, sel, q).await?;
        let written = h.entries.iter().find(|e| e.actions.contains(&LockAction::Written));
        let reaches_creation = match q.order {
            HistoryOrder::OldestFirst => q.after.is_none(),
            HistoryOrder::NewestFirst => h.next.is_none(),
        };
        // The version's first lock: what it was written with, else (no written entry)
        // the state before its first recorded change, else its lock now.
        let first = match written {
            Some(w) => w.after,
            None => h.entries.iter().min_by_key(|e| e.id).map_or(h.version.lock, |e| e.before),
        };
        let created = reaches_creation.then(|| TimelineEvent::Created {
            time: h.version.last_modified,
            lock: first,
            by: written.and_then(|w| w.principal.clone()),
            op: written.map(|w| w.op.clone()),
        });
        let changes = h.entries.into_iter().filter(|e| e.actions != [LockAction::Written]).map(TimelineEvent::Change);
        let events = match (q.order, created) {
            (HistoryOrder::OldestFirst, Some(c)) => std::iter::once(c).chain(changes).collect(),
            (HistoryOrder::NewestFirst, Some(c)) => changes.chain(std::iter::once(c)).collect(),
            (_, None) => changes.collect(),
        };
        Ok(LockTimeline { version: h.version, events, next: h.next })
    }

    /// Why a versioned DELETE of the version `sel` names is refused for a caller who does or
    /// does not send the bypass header (`bypass_asked`) and does or does not hold
    /// `s3:BypassGovernanceRetention` (`bypass_granted`), and when it will be allowed: the
    /// verdict the delete itself would reach now (DP3, D2..D6).
    pub async fn explain_delete(
        &self,
        bucket: &str,
        key: &str,
        sel: &VersionSelector,
        bypass_asked: bool,
        bypass_granted: bool,
    ) -> EngineResult<RemovalVerdict> {
        let newest = LockHistoryQuery { order: HistoryOrder::NewestFirst, after: None, limit: 100 };
        let h = self.meta.lock_history(bucket, key, sel, newest).await?;
        let now = self.clock.now();
        let refused =
            holdfast_lock::explain_removal(&h.version.lock, now, Removal::Delete, bypass_asked, bypass_granted);
        // The newest change that put the hold in force (a hold placed, or written with one).
        let placed = |e: &LockHistoryEntry| e.after.is_held() && !e.before.is_held();
        let hold_placed = if h.version.lock.is_held() { h.entries.into_iter().find(placed) } else { None };
        Ok(RemovalVerdict { version: h.version, now, refused, hold_placed })
    }

    /// Whether and when every version of `bucket` could be removed (its lock report at the
    /// compliance clock's "now").
    pub async fn bucket_emptiable(&self, bucket: &str) -> EngineResult<BucketEmptiable> {
        let now = self.clock.now();
        let report = self.meta.lock_report(Some(bucket), now).await?.pop().ok_or(MetaError::NoSuchBucket)?;
        Ok(BucketEmptiable { emptiable: report.emptiable(), report, now })
    }
}
