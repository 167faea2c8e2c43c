//! The store-independent half of a delete (D1, D13, the `null`-version rules): what a
//! DELETE does, given the bucket's versioning, the selector, the version it names and the
//! lock rules' verdict (`holdfast_lock::check_delete`, D2..D6). Pure: each store looks up
//! the version [`target`] names and carries out the [`Plan`] inside the same transaction,
//! so the check and the change are one (as `listing` is the shared half of a listing).

use crate::model::{Bucket, DeleteOutcome, VersionRecord, VersionSelector, Versioning};
use holdfast_lock::{Bypass, LockDenied, UtcMillis, check_delete};

/// The version a delete must look at before it can be planned, if any.
pub fn target(versioning: Versioning, sel: &VersionSelector) -> Option<&str> {
    match (sel, versioning) {
        // D1: a delete without versionId in a versioned or suspended bucket looks at nothing.
        (VersionSelector::Latest, Versioning::Enabled | Versioning::Suspended) => None,
        // Unversioned: it removes the `null` version, the only one there is.
        (VersionSelector::Latest, Versioning::Unversioned) => Some("null"),
        (VersionSelector::Id(id), _) => Some(id),
    }
}

/// What the store does.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// D1: insert a delete marker with this id (`null` in a suspended bucket, which replaces
    /// the `null` version through [`replace_null`]).
    AddMarker(String),
    /// Remove this version or marker (the lock rules allowed it).
    Remove(Box<VersionRecord>),
    /// Nothing to remove: D13 (the named version does not exist), or an unversioned key
    /// without a `null` version.
    Nothing,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    pub step: Step,
    /// What the client is told.
    pub outcome: DeleteOutcome,
}

/// Plans a delete of `sel` in `bucket`; `found` is the version [`target`] named, as the
/// store read it in this transaction. A version the lock rules protect is refused.
pub fn plan(
    bucket: &Bucket,
    sel: &VersionSelector,
    found: Option<VersionRecord>,
    now: UtcMillis,
    bypass: Bypass,
) -> Result<Plan, LockDenied> {
    let id = match sel {
        VersionSelector::Latest if target(bucket.versioning, sel).is_none() => {
            let id = bucket.next_version_id();
            let outcome = DeleteOutcome { version_id: Some(id.clone()), delete_marker: true };
            return Ok(Plan { step: Step::AddMarker(id), outcome });
        }
        VersionSelector::Latest => None,
        VersionSelector::Id(id) => Some(id.clone()),
    };
    let Some(rec) = found else {
        return Ok(Plan { step: Step::Nothing, outcome: DeleteOutcome { version_id: id, delete_marker: false } });
    };
    check_delete(&rec.lock, now, bypass)?;
    // A named delete marker reports itself as one; the unversioned `null` removal reports nothing.
    let delete_marker = id.is_some() && rec.is_delete_marker();
    Ok(Plan { step: Step::Remove(Box::new(rec)), outcome: DeleteOutcome { version_id: id, delete_marker } })
}

/// A write whose new version id is `null` (unversioned and suspended buckets, markers
/// included) replaces the key's `null` version — only where the lock rules allow removing
/// it, and never with bypass. Whether to look the `null` version up at all.
pub fn replaces_null(new_version_id: &str) -> bool {
    new_version_id == "null"
}

/// The `null` version a write replaces, if the lock rules allow it to go.
pub fn replace_null(old: &VersionRecord, now: UtcMillis) -> Result<(), LockDenied> {
    check_delete(&old.lock, now, Bypass::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObjectData, ObjectHeaders};
    use holdfast_lock::{LegalHold, LockState, Mode, Retention};

    const NOW: UtcMillis = UtcMillis(1_000);

    fn bucket(versioning: Versioning) -> Bucket {
        Bucket {
            name: "b".into(),
            created: UtcMillis(0),
            versioning,
            lock_enabled: versioning == Versioning::Enabled,
            default_retention: None,
        }
    }

    fn version(id: &str, marker: bool, lock: LockState) -> VersionRecord {
        VersionRecord {
            seq: 1,
            bucket: "b".into(),
            key: "k".into(),
            version_id: id.into(),
            last_modified: UtcMillis(0),
            is_latest: true,
            object: (!marker).then(|| ObjectData {
                size: 0,
                etag: String::new(),
                headers: ObjectHeaders::default(),
                checksum: None,
                segments: Vec::new(),
                parts: Vec::new(),
                inline: None,
            }),
            lock,
            replication: None,
        }
    }

    fn held() -> LockState {
        LockState { retention: None, legal_hold: Some(LegalHold::On) }
    }

    fn governed() -> LockState {
        LockState {
            retention: Some(Retention { mode: Mode::Governance, until: UtcMillis(NOW.0 + 1) }),
            legal_hold: None,
        }
    }

    #[test]
    fn d1_without_version_id_a_versioned_bucket_only_adds_a_marker() {
        for v in [Versioning::Enabled, Versioning::Suspended] {
            let b = bucket(v);
            assert_eq!(target(v, &VersionSelector::Latest), None);
            let p = plan(&b, &VersionSelector::Latest, None, NOW, Bypass::None).unwrap();
            let Step::AddMarker(id) = &p.step else { panic!("{p:?}") };
            assert_eq!(id == "null", v == Versioning::Suspended);
            assert_eq!(p.outcome, DeleteOutcome { version_id: Some(id.clone()), delete_marker: true });
        }
    }

    #[test]
    fn unversioned_without_version_id_removes_the_null_version_through_the_lock_rules() {
        let b = bucket(Versioning::Unversioned);
        let sel = VersionSelector::Latest;
        assert_eq!(target(b.versioning, &sel), Some("null"));
        let gone = DeleteOutcome { version_id: None, delete_marker: false };
        assert_eq!(plan(&b, &sel, None, NOW, Bypass::None), Ok(Plan { step: Step::Nothing, outcome: gone.clone() }));
        let free = version("null", false, LockState::default());
        assert_eq!(
            plan(&b, &sel, Some(free.clone()), NOW, Bypass::None),
            Ok(Plan { step: Step::Remove(Box::new(free)), outcome: gone })
        );
        assert_eq!(
            plan(&b, &sel, Some(version("null", false, held())), NOW, Bypass::Governance),
            Err(LockDenied::LegalHold)
        );
    }

    #[test]
    fn d13_a_named_version_that_does_not_exist_is_simply_gone() {
        let sel = VersionSelector::Id("v1".into());
        for v in [Versioning::Enabled, Versioning::Suspended, Versioning::Unversioned] {
            assert_eq!(target(v, &sel), Some("v1"));
            let p = plan(&bucket(v), &sel, None, NOW, Bypass::None).unwrap();
            assert_eq!(
                p,
                Plan {
                    step: Step::Nothing,
                    outcome: DeleteOutcome { version_id: Some("v1".into()), delete_marker: false }
                }
            );
        }
    }

    #[test]
    fn d2_d3_d6_a_named_version_goes_only_if_the_lock_rules_allow() {
        let b = bucket(Versioning::Enabled);
        let sel = VersionSelector::Id("v1".into());
        let g = version("v1", false, governed());
        assert_eq!(plan(&b, &sel, Some(g.clone()), NOW, Bypass::None), Err(LockDenied::Governance));
        let p = plan(&b, &sel, Some(g.clone()), NOW, Bypass::Governance).unwrap();
        assert_eq!(p.step, Step::Remove(Box::new(g)));
        assert_eq!(p.outcome, DeleteOutcome { version_id: Some("v1".into()), delete_marker: false });
        let marker = version("v1", true, LockState::default());
        let p = plan(&b, &sel, Some(marker), NOW, Bypass::None).unwrap();
        assert!(p.outcome.delete_marker, "D6: a named marker is removed and reported as one");
    }

    #[test]
    fn a_null_write_replaces_the_null_version_without_bypass() {
        assert!(replaces_null("null"));
        assert!(!replaces_null("0190a0b0c0d0e0f00000000000000000"));
        assert_eq!(replace_null(&version("null", false, governed()), NOW), Err(LockDenied::Governance));
        assert_eq!(replace_null(&version("null", false, LockState::default()), NOW), Ok(()));
    }
}
