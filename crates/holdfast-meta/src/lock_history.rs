//! A version's lock history: one entry per audited change of its lock state (written with a
//! lock or the bucket's default, retention set / extended / shortened / removed, legal hold
//! on / off, a replica's lock growing, a lock job's task). The store derives each entry from
//! the change's audit record ([`entry_of`]) and inserts it beside that record, in the
//! change's own transaction: the history and the hash-chained trail cannot disagree, and a
//! refused change (rolled back, no record) leaves no entry. Entries go with their version
//! (the trail keeps the record for good), so the table stays as large as the live versions'
//! histories and a removal is never held up by it.

use crate::VersionRecord;
use holdfast_audit::{AuditRecord, LockSnapshot};
use holdfast_lock::{LegalHold, LockState, Mode, Retention, UtcMillis};

/// Most entries one read returns.
pub const MAX_LOCK_HISTORY_PAGE: usize = 1000;

/// What one change did to the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAction {
    /// The version was written with this lock (explicit headers or the bucket's default).
    Written,
    /// Retention where none was in force (never set, removed or expired: R9, DP5).
    RetentionSet,
    /// The same mode until a later date (R8).
    RetentionExtended,
    /// An earlier date (GOVERNANCE with bypass, R8).
    RetentionShortened,
    /// Another mode (GOVERNANCE → COMPLIANCE with bypass, or a replica's, X2).
    RetentionModeChanged,
    /// Retention removed (GOVERNANCE with bypass, R8).
    RetentionRemoved,
    LegalHoldOn,
    LegalHoldOff,
    /// Asked for, and the lock was already so (an idempotent extension, a hold put twice).
    Unchanged,
}

impl LockAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Written => "written",
            Self::RetentionSet => "retention-set",
            Self::RetentionExtended => "retention-extended",
            Self::RetentionShortened => "retention-shortened",
            Self::RetentionModeChanged => "retention-mode-changed",
            Self::RetentionRemoved => "retention-removed",
            Self::LegalHoldOn => "legal-hold-on",
            Self::LegalHoldOff => "legal-hold-off",
            Self::Unchanged => "unchanged",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Written,
            Self::RetentionSet,
            Self::RetentionExtended,
            Self::RetentionShortened,
            Self::RetentionModeChanged,
            Self::RetentionRemoved,
            Self::LegalHoldOn,
            Self::LegalHoldOff,
            Self::Unchanged,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// What a change from `before` to `after` did, at the time `at` it was made; `written` when
/// the lock came with the version the change wrote.
pub fn lock_actions(before: &LockState, after: &LockState, written: bool, at: UtcMillis) -> Vec<LockAction> {
    if written {
        return vec![LockAction::Written];
    }
    let mut out = Vec::new();
    match (before.retention.filter(|r| r.is_active(at)), after.retention) {
        (None, Some(_)) if before.retention != after.retention => out.push(LockAction::RetentionSet),
        (Some(_), None) => out.push(LockAction::RetentionRemoved),
        (Some(b), Some(a)) if b.mode != a.mode => out.push(LockAction::RetentionModeChanged),
        (Some(b), Some(a)) if a.until > b.until => out.push(LockAction::RetentionExtended),
        (Some(b), Some(a)) if a.until < b.until => out.push(LockAction::RetentionShortened),
        _ => {}
    }
    if before.legal_hold != after.legal_hold {
        match after.legal_hold {
            Some(LegalHold::On) => out.push(LockAction::LegalHoldOn),
            Some(LegalHold::Off) | None => out.push(LockAction::LegalHoldOff),
        }
    }
    if out.is_empty() {
        out.push(LockAction::Unchanged);
    }
    out
}

/// The lock state a trail snapshot describes (the snapshot is written from a [`LockState`],
/// so nothing is lost; a part that does not parse reads as absent).
pub fn state_of(s: &LockSnapshot) -> LockState {
    let retention = match (&s.mode, &s.retain_until) {
        (Some(m), Some(u)) => match (m.parse::<Mode>(), UtcMillis::parse(u)) {
            (Ok(mode), Ok(until)) => Some(Retention { mode, until }),
            _ => None,
        },
        _ => None,
    };
    LockState { retention, legal_hold: s.legal_hold.as_deref().and_then(LegalHold::parse) }
}

/// One entry as the store keeps it: a projection of the change's audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewLockEntry {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub time: UtcMillis,
    pub principal: Option<String>,
    pub op: String,
    /// [`LockAction`]s, comma-separated.
    pub actions: String,
    pub bypass: bool,
    /// The record's `lock_before` / `lock_after`, as JSON.
    pub before: String,
    pub after: String,
    pub request_id: Option<String>,
}

/// The history entry of an audit record made at `at`, when it records a lock change of a version.
pub(crate) fn entry_of(r: &AuditRecord, at: UtcMillis, written: bool) -> Option<NewLockEntry> {
    let (Some(before), Some(after)) = (&r.lock_before, &r.lock_after) else { return None };
    let actions = lock_actions(&state_of(before), &state_of(after), written, at);
    Some(NewLockEntry {
        bucket: r.bucket.clone()?,
        key: r.key.clone()?,
        version_id: r.version_id.clone()?,
        time: at,
        principal: r.principal.clone(),
        op: r.op.clone(),
        actions: actions.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(","),
        bypass: r.bypass,
        before: serde_json::to_string(before).ok()?,
        after: serde_json::to_string(after).ok()?,
        request_id: r.request_id.clone(),
    })
}

/// One change of a version's lock, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHistoryEntry {
    /// The entry's position (grows with every entry): the cursor of the next page.
    pub id: i64,
    pub time: UtcMillis,
    /// As the audit record names it: `arn:aws:iam::<account>:root`, `...:user/<name>`,
    /// `holdfast:<component>`.
    pub principal: Option<String>,
    /// The operation (`PutObject`, `PutObjectRetention`, `PutObjectLegalHold`, a replica's
    /// write, a lock job's task ...).
    pub op: String,
    pub actions: Vec<LockAction>,
    /// Governance bypass was asked for and granted.
    pub bypass: bool,
    pub before: LockState,
    pub after: LockState,
    pub request_id: Option<String>,
    /// The id of the change's audit record in the outbox: its `rid` in the trail's files.
    pub audit_id: i64,
}

impl LockHistoryEntry {
    /// Reads a stored row (the store's columns, in [`NewLockEntry`]'s order).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_row(
        id: i64,
        time_ms: i64,
        principal: Option<String>,
        op: String,
        actions: &str,
        bypass: bool,
        before: &str,
        after: &str,
        request_id: Option<String>,
        audit_id: i64,
    ) -> crate::MetaResult<Self> {
        let snap = |s: &str| serde_json::from_str::<LockSnapshot>(s).map(|s| state_of(&s));
        Ok(Self {
            id,
            time: UtcMillis(time_ms),
            principal,
            op,
            actions: actions.split(',').filter_map(LockAction::parse).collect(),
            bypass,
            before: snap(before)?,
            after: snap(after)?,
            request_id,
            audit_id,
        })
    }
}

/// Oldest or newest entries first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryOrder {
    #[default]
    OldestFirst,
    NewestFirst,
}

/// A page of a version's history: entries after the cursor `after` (an entry's `id`, in
/// the page's order), at most `limit` (capped at [`MAX_LOCK_HISTORY_PAGE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockHistoryQuery {
    pub order: HistoryOrder,
    pub after: Option<i64>,
    pub limit: usize,
}

impl Default for LockHistoryQuery {
    fn default() -> Self {
        Self { order: HistoryOrder::OldestFirst, after: None, limit: MAX_LOCK_HISTORY_PAGE }
    }
}

impl LockHistoryQuery {
    pub fn capped_limit(&self) -> usize {
        self.limit.clamp(1, MAX_LOCK_HISTORY_PAGE)
    }
}

/// The version (resolved as a read resolves it) and a page of its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHistory {
    pub version: VersionRecord,
    pub entries: Vec<LockHistoryEntry>,
    /// The cursor of the next page, when there is more.
    pub next: Option<i64>,
}

/// Cuts a page read with one row more than asked for.
pub(crate) fn page(mut entries: Vec<LockHistoryEntry>, limit: usize) -> (Vec<LockHistoryEntry>, Option<i64>) {
    if entries.len() > limit {
        entries.truncate(limit);
        let next = entries.last().map(|e| e.id);
        (entries, next)
    } else {
        (entries, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: UtcMillis = UtcMillis(1_000);

    fn st(mode: Option<Mode>, until: i64, hold: Option<LegalHold>) -> LockState {
        LockState { retention: mode.map(|mode| Retention { mode, until: UtcMillis(until) }), legal_hold: hold }
    }
    const G: Option<Mode> = Some(Mode::Governance);
    const C: Option<Mode> = Some(Mode::Compliance);
    use LockAction as A;

    #[test]
    fn actions_name_what_changed() {
        let none = LockState::default();
        let on = Some(LegalHold::On);
        let off = Some(LegalHold::Off);
        for (before, after, written, want) in [
            (none, st(G, 5_000, None), true, vec![A::Written]),
            (none, st(G, 5_000, None), false, vec![A::RetentionSet]),
            (st(G, 5_000, None), st(G, 6_000, None), false, vec![A::RetentionExtended]),
            (st(G, 5_000, None), st(G, 4_000, None), false, vec![A::RetentionShortened]),
            (st(G, 5_000, None), st(C, 5_000, None), false, vec![A::RetentionModeChanged]),
            (st(G, 5_000, None), none, false, vec![A::RetentionRemoved]),
            (st(C, 500, None), st(G, 5_000, None), false, vec![A::RetentionSet]),
            (st(C, 5_000, None), st(C, 5_000, on), false, vec![A::LegalHoldOn]),
            (st(C, 5_000, on), st(C, 5_000, off), false, vec![A::LegalHoldOff]),
            (st(G, 5_000, on), st(G, 5_000, on), false, vec![A::Unchanged]),
            (st(G, 5_000, None), st(G, 6_000, on), false, vec![A::RetentionExtended, A::LegalHoldOn]),
        ] {
            assert_eq!(lock_actions(&before, &after, written, AT), want, "{before:?} -> {after:?}");
        }
        for a in want_all() {
            assert_eq!(LockAction::parse(a.as_str()), Some(a));
        }
    }

    fn want_all() -> [LockAction; 9] {
        [
            A::Written,
            A::RetentionSet,
            A::RetentionExtended,
            A::RetentionShortened,
            A::RetentionModeChanged,
            A::RetentionRemoved,
            A::LegalHoldOn,
            A::LegalHoldOff,
            A::Unchanged,
        ]
    }

    #[test]
    fn an_entry_is_the_records_projection() {
        let lock = st(C, 86_400_000, Some(LegalHold::On));
        let mut r = AuditRecord::new("PutObjectLegalHold", AT);
        r.principal = Some("arn:aws:iam::000000000000:user/alice".into());
        r.bucket = Some("b".into());
        r.key = Some("k".into());
        r.version_id = Some("v".into());
        r.lock_before = Some(LockSnapshot::from(&st(C, 86_400_000, None)));
        r.lock_after = Some(LockSnapshot::from(&lock));
        let e = entry_of(&r, AT, false).unwrap();
        assert_eq!((e.op.as_str(), e.actions.as_str(), e.time), ("PutObjectLegalHold", "legal-hold-on", AT));
        let back =
            LockHistoryEntry::from_row(1, 0, None, e.op, &e.actions, false, &e.before, &e.after, None, 9).unwrap();
        assert_eq!(back.after, lock, "the snapshot reads back as the state it was made of");
        assert_eq!(back.actions, [A::LegalHoldOn]);
        r.lock_after = None;
        assert_eq!(entry_of(&r, AT, false), None, "a record without a lock change has no entry");
    }
}
