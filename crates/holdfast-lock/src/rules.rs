//! The decisions: may this version be removed, may its retention change (D-rules, R8).

use crate::{LockState, Mode, Retention, UtcMillis};

/// Whether governance retention may be bypassed for this request. It is `Governance` only
/// when the request carried `x-amz-bypass-governance-retention: true` *and* the caller is
/// allowed `s3:BypassGovernanceRetention` (P4). It never relaxes COMPLIANCE or a legal hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bypass {
    None,
    Governance,
}

/// Why a request for governance bypass was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BypassDenial {
    /// D7: the bypass header (any value) on a bucket without Object Lock, where AWS refuses it.
    #[error("x-amz-bypass-governance-retention on a bucket without Object Lock")]
    NotLockBucket,
    /// R10, DP3: bypass asked for without `s3:BypassGovernanceRetention`, refused outright
    /// even where nothing would need bypassing.
    #[error("governance bypass asked for without s3:BypassGovernanceRetention")]
    NotGranted,
}

/// The bypass a request gets (P4): `header` is `x-amz-bypass-governance-retention` as sent,
/// `granted` whether the caller is allowed `s3:BypassGovernanceRetention`. On a bucket
/// without Object Lock the header is refused (`refuse_on_plain_bucket`, AWS, D7) or ignored
/// (DP1 compatibility).
pub fn bypass(
    lock_enabled: bool,
    header: Option<bool>,
    granted: bool,
    refuse_on_plain_bucket: bool,
) -> Result<Bypass, BypassDenial> {
    match header {
        None => Ok(Bypass::None),
        Some(_) if !lock_enabled && refuse_on_plain_bucket => Err(BypassDenial::NotLockBucket),
        Some(_) if !lock_enabled => Ok(Bypass::None),
        Some(false) => Ok(Bypass::None),
        Some(true) if granted => Ok(Bypass::Governance),
        Some(true) => Err(BypassDenial::NotGranted),
    }
}

/// Why a change was refused. Every variant maps to 403 AccessDenied
/// "Access Denied because object protected by object lock." (§9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LockDenied {
    #[error("version is under legal hold")]
    LegalHold,
    #[error("version is under active COMPLIANCE retention")]
    Compliance,
    #[error("version is under active GOVERNANCE retention and bypass was not granted")]
    Governance,
}

/// May a version with `state` be permanently removed now (D2..D5)?
/// Delete markers carry an empty state and are always removable (D6).
pub fn check_delete(state: &LockState, now: UtcMillis, bypass: Bypass) -> Result<(), LockDenied> {
    if state.is_held() {
        return Err(LockDenied::LegalHold);
    }
    match state.retention {
        Some(r) if r.is_active(now) => match (r.mode, bypass) {
            (Mode::Compliance, _) => Err(LockDenied::Compliance),
            (Mode::Governance, Bypass::Governance) => Ok(()),
            (Mode::Governance, Bypass::None) => Err(LockDenied::Governance),
        },
        _ => Ok(()),
    }
}

/// May the retention of a version change from `current` to `requested` (`None` = remove)?
/// The R8 transition table; retention that has expired counts as absent (R9, DP5).
/// A legal hold does not affect retention changes (L4).
pub fn check_retention_change(
    current: Option<Retention>,
    requested: Option<Retention>,
    now: UtcMillis,
    bypass: Bypass,
) -> Result<(), LockDenied> {
    let Some(cur) = current.filter(|r| r.is_active(now)) else {
        return Ok(());
    };
    let weakens = match requested {
        None => true,
        Some(req) => req.until < cur.until || (cur.mode == Mode::Compliance && req.mode == Mode::Governance),
    };
    let raises_mode = matches!(requested, Some(req) if cur.mode == Mode::Governance && req.mode == Mode::Compliance);
    match cur.mode {
        Mode::Compliance if weakens => Err(LockDenied::Compliance),
        Mode::Compliance => Ok(()),
        // GOVERNANCE → COMPLIANCE also needs bypass (R8 row 3), as does any weakening.
        Mode::Governance if (weakens || raises_mode) && bypass == Bypass::None => Err(LockDenied::Governance),
        Mode::Governance => Ok(()),
    }
}

/// The lock state a replica takes when its source version's state `source` arrives (X2): a
/// replica's protection only ever grows through replication. Retention is taken when the
/// replica has none in force, or when the source's does not weaken it (a later date, the same
/// or a stronger mode; GOVERNANCE → COMPLIANCE counts as stronger here, since no client asks
/// for it); otherwise the replica keeps its own. A source without retention never removes
/// the replica's. The legal hold follows the source, placed or lifted, as a client with
/// `s3:PutObjectLegalHold` may do it at any time (L4).
pub fn replica_lock(replica: LockState, source: LockState, now: UtcMillis) -> LockState {
    let retention = match (replica.retention.filter(|r| r.is_active(now)), source.retention) {
        (_, None) => replica.retention,
        (None, Some(src)) => Some(src),
        (Some(cur), Some(src)) => {
            let weakens = src.until < cur.until || (cur.mode == Mode::Compliance && src.mode == Mode::Governance);
            if weakens { Some(cur) } else { Some(src) }
        }
    };
    let legal_hold = source.legal_hold.or(replica.legal_hold);
    LockState { retention, legal_hold }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LegalHold;

    #[test]
    fn x2_replica_lock_only_grows() {
        let gov = |t| Some(ret(Mode::Governance, t));
        let comp = |t| Some(ret(Mode::Compliance, t));
        let st = |retention, legal_hold| LockState { retention, legal_hold };
        // A first copy takes the source's state.
        assert_eq!(replica_lock(st(None, None), st(comp(5_000_000), None), NOW), st(comp(5_000_000), None));
        // An extension arrives; a shortening or a downgrade does not.
        assert_eq!(replica_lock(st(gov(2_000_000), None), st(gov(3_000_000), None), NOW), st(gov(3_000_000), None));
        assert_eq!(replica_lock(st(gov(3_000_000), None), st(gov(2_000_000), None), NOW), st(gov(3_000_000), None));
        assert_eq!(replica_lock(st(comp(3_000_000), None), st(gov(4_000_000), None), NOW), st(comp(3_000_000), None));
        assert_eq!(replica_lock(st(gov(3_000_000), None), st(comp(3_000_000), None), NOW), st(comp(3_000_000), None));
        // A removed retention stays on the replica; an expired one is replaced.
        assert_eq!(replica_lock(st(gov(3_000_000), None), st(None, None), NOW), st(gov(3_000_000), None));
        assert_eq!(replica_lock(st(comp(10), None), st(gov(2_000_000), None), NOW), st(gov(2_000_000), None));
        // The legal hold follows the source both ways, and is kept when the source never set one.
        let on = Some(LegalHold::On);
        let off = Some(LegalHold::Off);
        assert_eq!(replica_lock(st(None, None), st(None, on), NOW), st(None, on));
        assert_eq!(replica_lock(st(None, on), st(None, off), NOW), st(None, off));
        assert_eq!(replica_lock(st(None, on), st(None, None), NOW), st(None, on));
    }

    const NOW: UtcMillis = UtcMillis(1_000_000);
    fn ret(mode: Mode, until: i64) -> Retention {
        Retention { mode, until: UtcMillis(until) }
    }
    fn gov(until: i64) -> Option<Retention> {
        Some(ret(Mode::Governance, until))
    }
    fn comp(until: i64) -> Option<Retention> {
        Some(ret(Mode::Compliance, until))
    }
    use Bypass::{Governance as B, None as N};

    #[test]
    fn r8_transition_table() {
        let d0 = 2_000_000;
        // (current, requested, bypass, allowed)
        let table = [
            (gov(d0), gov(d0), N, true),        // same date (idempotent extend)
            (gov(d0), gov(d0 + 1), N, true),    // extend
            (gov(d0), gov(d0 - 1), N, false),   // shorten
            (gov(d0), gov(d0 - 1), B, true),    // shorten with bypass
            (gov(d0), comp(d0), N, false),      // GOVERNANCE -> COMPLIANCE
            (gov(d0), comp(d0 + 5), B, true),   // ... with bypass
            (gov(d0), None, N, false),          // remove
            (gov(d0), None, B, true),           // remove with bypass
            (comp(d0), comp(d0), N, true),      // same
            (comp(d0), comp(d0 + 1), N, true),  // extend
            (comp(d0), comp(d0 - 1), N, false), // shorten
            (comp(d0), comp(d0 - 1), B, false), // shorten with bypass
            (comp(d0), gov(d0 + 10), N, false), // downgrade
            (comp(d0), gov(d0 + 10), B, false), // downgrade with bypass
            (comp(d0), None, B, false),         // remove
            (None, gov(d0), N, true),           // R9: none -> any
            (None, comp(d0), N, true),
            (comp(NOW.0), gov(NOW.0 + 1), N, true), // DP5: expired counts as absent
            (gov(NOW.0 - 5), None, N, true),
        ];
        for (i, (cur, req, bypass, allowed)) in table.into_iter().enumerate() {
            assert_eq!(
                check_retention_change(cur, req, NOW, bypass).is_ok(),
                allowed,
                "row {i}: {cur:?} -> {req:?} {bypass:?}"
            );
        }
    }

    #[test]
    fn d7_r10_dp1_dp3_bypass() {
        for (lock, header, granted, strict, want) in [
            (true, None, true, true, Ok(N)),
            (true, Some(false), false, true, Ok(N)),
            (true, Some(true), true, true, Ok(B)),
            (true, Some(true), false, true, Err(BypassDenial::NotGranted)),
            (false, Some(false), true, true, Err(BypassDenial::NotLockBucket)),
            (false, Some(true), true, false, Ok(N)),
            (false, None, false, true, Ok(N)),
        ] {
            assert_eq!(bypass(lock, header, granted, strict), want, "{lock} {header:?} {granted} {strict}");
        }
    }

    #[test]
    fn d2_d5_delete_decisions() {
        let held = LockState { retention: None, legal_hold: Some(LegalHold::On) };
        let g = LockState { retention: gov(NOW.0 + 1), legal_hold: None };
        let g_held = LockState { retention: gov(NOW.0 + 1), legal_hold: Some(LegalHold::On) };
        let c = LockState { retention: comp(NOW.0 + 1), legal_hold: Some(LegalHold::Off) };
        let expired = LockState { retention: comp(NOW.0), legal_hold: Some(LegalHold::Off) };
        assert_eq!(check_delete(&held, NOW, B), Err(LockDenied::LegalHold));
        assert_eq!(check_delete(&g, NOW, N), Err(LockDenied::Governance));
        assert_eq!(check_delete(&g, NOW, B), Ok(()));
        assert_eq!(check_delete(&g_held, NOW, B), Err(LockDenied::LegalHold), "D4");
        assert_eq!(check_delete(&c, NOW, B), Err(LockDenied::Compliance));
        assert_eq!(check_delete(&expired, NOW, N), Ok(()), "D5");
        assert_eq!(check_delete(&LockState::default(), NOW, N), Ok(()), "D6");
    }
}
