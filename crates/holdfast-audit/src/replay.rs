//! The lock state the trail vouches for. Every committed change carries its
//! record, and records of versions written with protection or of lock changes
//! carry `lock_after`; replaying them gives, for each such version, the protection it must
//! still have. `holdfast admin audit verify` compares that with the metadata store: a
//! protected version deleted, shortened, downgraded or released from a hold outside the API
//! has no record that explains it.

use crate::LockSnapshot;
use holdfast_lock::UtcMillis;
use serde_json::Value;
use std::collections::BTreeMap;

/// The record of a discrepancy the operator accepted at start: from it on the trail vouches
/// for what the store held (its `lock_after`, or the version gone when it has none).
pub const TAMPER_ACCEPTED_OP: &str = "LockStateTamperAccepted";

/// A version the trail names: (bucket, key, version id).
pub type VersionRef = (String, String, String);

/// What the trail says a version's protection is now.
pub fn vouched_locks<'a>(records: impl IntoIterator<Item = &'a Value>) -> BTreeMap<VersionRef, LockSnapshot> {
    let mut state: BTreeMap<VersionRef, LockSnapshot> = BTreeMap::new();
    for r in records {
        let succeeded = r["status"].as_u64().is_none_or(|s| (200..300).contains(&s));
        let (Some(bucket), Some(key), Some(version)) =
            (r["bucket"].as_str(), r["key"].as_str(), r["version_id"].as_str())
        else {
            continue;
        };
        if !succeeded {
            continue;
        }
        let id = (bucket.to_owned(), key.to_owned(), version.to_owned());
        if let Some(after) = r.get("lock_after").and_then(|v| serde_json::from_value::<LockSnapshot>(v.clone()).ok()) {
            state.insert(id, after);
        } else if matches!(
            r["op"].as_str(),
            Some("DeleteObject" | "DeleteObjects" | "LifecycleExpiration" | TAMPER_ACCEPTED_OP)
        ) {
            // A removal of the version itself (a delete marker is a version of its own id).
            state.remove(&id);
        }
    }
    state
}

/// Whether `lock` still protects its version at `now`.
pub fn protects(lock: &LockSnapshot, now: UtcMillis) -> bool {
    let held = lock.legal_hold.as_deref() == Some("ON");
    let retained = lock.retain_until.as_deref().and_then(|u| UtcMillis::parse(u).ok()).is_some_and(|until| until > now);
    held || retained
}

/// How `found` (the store's state, `None` for a missing version) falls short of `vouched`
/// at `now`; `None` when it does not.
pub fn shortfall(vouched: &LockSnapshot, found: Option<&LockSnapshot>, now: UtcMillis) -> Option<String> {
    if !protects(vouched, now) {
        return None;
    }
    let Some(found) = found else {
        return Some("deleted, but the trail has no removal of it".into());
    };
    let mut why = Vec::new();
    if vouched.legal_hold.as_deref() == Some("ON") && found.legal_hold.as_deref() != Some("ON") {
        why.push("legal hold released outside the API".to_owned());
    }
    let until = |l: &LockSnapshot| l.retain_until.as_deref().and_then(|u| UtcMillis::parse(u).ok());
    if let Some(v_until) = until(vouched).filter(|u| *u > now) {
        match until(found) {
            None => why.push("retention removed outside the API".into()),
            Some(f) if f < v_until => why.push(format!(
                "retention shortened outside the API ({} instead of {})",
                f.to_iso8601(),
                v_until.to_iso8601()
            )),
            Some(_) => {}
        }
        if vouched.mode.as_deref() == Some("COMPLIANCE") && found.mode.as_deref() != Some("COMPLIANCE") {
            why.push(format!("COMPLIANCE downgraded to {} outside the API", found.mode.as_deref().unwrap_or("none")));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snap(mode: Option<&str>, until: Option<&str>, hold: Option<&str>) -> LockSnapshot {
        LockSnapshot {
            mode: mode.map(str::to_owned),
            retain_until: until.map(str::to_owned),
            legal_hold: hold.map(str::to_owned),
        }
    }

    #[test]
    fn replay_follows_writes_changes_and_removals() {
        let records = [
            json!({"op":"PutObject","status":200,"bucket":"b","key":"k","version_id":"v1",
                   "lock_after":{"mode":"COMPLIANCE","retain_until":"2100-01-01T00:00:00.000Z"}}),
            json!({"op":"PutObject","status":200,"bucket":"b","key":"k","version_id":"v2",
                   "lock_after":{"legal_hold":"ON"}}),
            json!({"op":"PutObjectLegalHold","status":200,"bucket":"b","key":"k","version_id":"v2",
                   "lock_before":{"legal_hold":"ON"},"lock_after":{"legal_hold":"OFF"}}),
            json!({"op":"PutObject","status":200,"bucket":"b","key":"k","version_id":"v3",
                   "lock_after":{"mode":"GOVERNANCE","retain_until":"2100-01-01T00:00:00.000Z"}}),
            json!({"op":"DeleteObject","status":204,"bucket":"b","key":"k","version_id":"v3","bypass":true}),
            json!({"op":"DeleteObject","status":403,"bucket":"b","key":"k","version_id":"v1","code":"AccessDenied"}),
        ];
        let state = vouched_locks(records.iter());
        let now = UtcMillis::parse("2030-01-01T00:00:00Z").unwrap();
        let v = |id: &str| ("b".to_owned(), "k".to_owned(), id.to_owned());
        assert!(protects(&state[&v("v1")], now));
        assert!(!protects(&state[&v("v2")], now), "the hold was released through the API");
        assert!(!state.contains_key(&v("v3")), "removed with a record");
        let vouched = &state[&v("v1")];
        assert_eq!(shortfall(vouched, Some(vouched), now), None);
        assert!(shortfall(vouched, None, now).unwrap().contains("deleted"));
        let shorter = snap(Some("COMPLIANCE"), Some("2040-01-01T00:00:00.000Z"), None);
        assert!(shortfall(vouched, Some(&shorter), now).unwrap().contains("shortened"));
        let downgraded = snap(Some("GOVERNANCE"), Some("2100-01-01T00:00:00.000Z"), None);
        assert!(shortfall(vouched, Some(&downgraded), now).unwrap().contains("downgraded"));
        let held = snap(None, None, Some("ON"));
        assert!(shortfall(&held, Some(&snap(None, None, Some("OFF"))), now).unwrap().contains("released"));
        let later = UtcMillis::parse("2101-01-01T00:00:00Z").unwrap();
        assert_eq!(shortfall(vouched, None, later), None, "expired protection vouches for nothing");
    }
}
