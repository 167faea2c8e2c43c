//! "Why can't I delete this?": the refusal of a removal explained from the same rules that
//! refuse it ([`bypass`], [`check_delete`]), with the S3 words the API answers and the time
//! the removal will be allowed. The API takes its refusal words from [`S3Refusal`] too, so
//! an explanation and the wire answer cannot differ.

use crate::{Bypass, BypassDenial, LockDenied, LockState, Mode, UtcMillis, bypass, check_delete};

/// An S3 error answer: HTTP status, error code and message, as the API sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S3Refusal {
    pub status: u16,
    pub code: &'static str,
    pub message: &'static str,
}

/// D2, D8, R8: a removal, a shortening or a downgrade the lock refuses (§9).
pub const LOCKED: S3Refusal =
    S3Refusal { status: 403, code: "AccessDenied", message: "Access Denied because object protected by object lock." };

/// R10, DP3: bypass asked for without `s3:BypassGovernanceRetention` (§9).
pub const BYPASS_NOT_GRANTED: S3Refusal = S3Refusal { status: 403, code: "AccessDenied", message: "Access Denied" };

/// D7: the bypass header on a bucket without Object Lock (with `ArgumentName`
/// `x-amz-bypass-governance-retention`, which the API adds).
pub const BYPASS_ON_PLAIN_BUCKET: S3Refusal = S3Refusal {
    status: 400,
    code: "InvalidArgument",
    message: "x-amz-bypass-governance-retention is only applicable to Object Lock enabled buckets.",
};

impl LockDenied {
    /// The API's answer: every lock denial is the same 403 (§9).
    pub const fn s3(self) -> S3Refusal {
        LOCKED
    }
}

impl BypassDenial {
    /// The API's answer to a refused bypass.
    pub const fn s3(self) -> S3Refusal {
        match self {
            Self::NotLockBucket => BYPASS_ON_PLAIN_BUCKET,
            Self::NotGranted => BYPASS_NOT_GRANTED,
        }
    }
}

/// What the caller wants to do to the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// DeleteObject with a versionId (DeleteObjects entries, lifecycle alike).
    Delete,
    /// A write whose new version replaces the `null` version (unversioned or suspended
    /// bucket, W15): judged as a delete that never bypasses.
    Overwrite,
}

/// The rule that refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Legal hold ON: nothing removes the version, bypass included, until the hold is lifted.
    LegalHold,
    /// Active COMPLIANCE retention: nobody, root included, before retain-until.
    Compliance,
    /// Active GOVERNANCE retention and no bypass in effect.
    GovernanceWithoutBypass,
    /// Bypass asked for without `s3:BypassGovernanceRetention`: refused whatever the
    /// version's state.
    BypassNotGranted,
}

impl Refusal {
    /// The rule ids of `docs/spec/object-lock.md`.
    pub const fn rules(self) -> &'static [&'static str] {
        match self {
            Self::LegalHold => &["D2", "D4", "L4"],
            Self::Compliance => &["D2", "P5", "DP9"],
            Self::GovernanceWithoutBypass => &["D2", "D3", "P4"],
            Self::BypassNotGranted => &["R10", "D10", "DP3"],
        }
    }

    /// The words the API answers with.
    pub const fn s3(self) -> S3Refusal {
        match self {
            Self::BypassNotGranted => BypassDenial::NotGranted.s3(),
            Self::LegalHold => LockDenied::LegalHold.s3(),
            Self::Compliance => LockDenied::Compliance.s3(),
            Self::GovernanceWithoutBypass => LockDenied::Governance.s3(),
        }
    }

    const fn of(d: LockDenied) -> Self {
        match d {
            LockDenied::LegalHold => Self::LegalHold,
            LockDenied::Compliance => Self::Compliance,
            LockDenied::Governance => Self::GovernanceWithoutBypass,
        }
    }
}

/// Why a removal is refused now, and when it will be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Explanation {
    pub refusal: Refusal,
    /// What the API answers (the same constant the API builds its error from).
    pub s3: S3Refusal,
    /// The first instant at which the same removal without bypass is allowed if nothing
    /// changes (retain-until: protection ends when `now >= retain_until`, DP7); `now` when
    /// only the refused bypass stood in the way; `None` while a legal hold is on ("until
    /// the hold is lifted").
    pub allowed_from: Option<UtcMillis>,
    /// Under a legal hold: the retention still in force once the hold is lifted.
    pub retained_after_hold: Option<(Mode, UtcMillis)>,
    /// A caller holding `s3:BypassGovernanceRetention` who sends the bypass header may delete
    /// the version now (active GOVERNANCE, no hold; never for an overwrite).
    pub bypass_allows_now: bool,
}

impl Explanation {
    /// One sentence for a person, naming the rule and when it will allow.
    pub fn sentence(&self) -> String {
        let rules = self.refusal.rules().join(", ");
        let when = |t: UtcMillis| t.to_iso8601();
        match self.refusal {
            Refusal::LegalHold => match self.retained_after_hold {
                Some((mode, until)) => format!(
                    "A legal hold is on: nothing removes this version until the hold is lifted, and then its {mode} \
                     retention still runs until {} ({rules}).",
                    when(until)
                ),
                None => format!("A legal hold is on: nothing removes this version until the hold is lifted ({rules})."),
            },
            Refusal::Compliance => format!(
                "COMPLIANCE retention until {}: nobody, root included, can remove this version before then ({rules}).",
                self.allowed_from.map(when).unwrap_or_default()
            ),
            Refusal::GovernanceWithoutBypass => format!(
                "GOVERNANCE retention until {}: removable before then only with x-amz-bypass-governance-retention by a \
                 caller allowed s3:BypassGovernanceRetention ({rules}).",
                self.allowed_from.map(when).unwrap_or_default()
            ),
            Refusal::BypassNotGranted => format!(
                "Governance bypass was asked for by a caller without s3:BypassGovernanceRetention, which is refused \
                 whatever the version's lock ({rules})."
            ),
        }
    }
}

/// Explains why `removal` of a version with `state` is refused at `now` for a caller who
/// asked for governance bypass (`bypass_asked`, the header `true`) and does or does not hold
/// `s3:BypassGovernanceRetention` (`bypass_granted`); `None` when it is allowed. The verdict
/// is [`bypass`] and [`check_delete`]'s, the functions the store and the API run, on a
/// bucket with Object Lock (a version with lock state is in one). An overwrite never
/// bypasses, so the bypass inputs do not count for it.
pub fn explain_removal(
    state: &LockState,
    now: UtcMillis,
    removal: Removal,
    bypass_asked: bool,
    bypass_granted: bool,
) -> Option<Explanation> {
    let by = match removal {
        Removal::Overwrite => Bypass::None,
        Removal::Delete => match bypass(true, bypass_asked.then_some(true), bypass_granted, true) {
            Ok(b) => b,
            Err(_) => {
                // Only the header stood in the way when nothing else refuses a plain delete.
                let after = explain_removal(state, now, Removal::Delete, false, false);
                return Some(Explanation {
                    refusal: Refusal::BypassNotGranted,
                    s3: Refusal::BypassNotGranted.s3(),
                    allowed_from: after.map_or(Some(now), |e| e.allowed_from),
                    retained_after_hold: after.and_then(|e| e.retained_after_hold),
                    bypass_allows_now: false,
                });
            }
        },
    };
    let denied = check_delete(state, now, by).err()?;
    let refusal = Refusal::of(denied);
    let active = state.retention.filter(|r| r.is_active(now));
    let (allowed_from, retained_after_hold) = match refusal {
        Refusal::LegalHold => (None, active.map(|r| (r.mode, r.until))),
        _ => (active.map(|r| r.until), None),
    };
    Some(Explanation {
        refusal,
        s3: refusal.s3(),
        allowed_from,
        retained_after_hold,
        bypass_allows_now: removal == Removal::Delete
            && !state.is_held()
            && active.is_some_and(|r| r.mode == Mode::Governance),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LegalHold, Retention};

    const NOW: UtcMillis = UtcMillis(1_000_000);
    const LATER: UtcMillis = UtcMillis(2_000_000);

    fn st(mode: Option<Mode>, until: UtcMillis, hold: Option<LegalHold>) -> LockState {
        LockState { retention: mode.map(|mode| Retention { mode, until }), legal_hold: hold }
    }
    const G: Option<Mode> = Some(Mode::Governance);
    const C: Option<Mode> = Some(Mode::Compliance);
    const ON: Option<LegalHold> = Some(LegalHold::On);
    const OFF: Option<LegalHold> = Some(LegalHold::Off);
    use Removal::{Delete, Overwrite};

    #[test]
    fn d2_compliance_until_its_date_whatever_the_bypass() {
        for (asked, granted) in [(false, false), (true, true), (false, true)] {
            let e = explain_removal(&st(C, LATER, None), NOW, Delete, asked, granted).unwrap();
            assert_eq!(e.refusal, Refusal::Compliance);
            assert_eq!(e.s3, LOCKED);
            assert_eq!(e.allowed_from, Some(LATER));
            assert!(!e.bypass_allows_now);
            assert_eq!(e.refusal.rules(), ["D2", "P5", "DP9"]);
        }
        assert_eq!(LOCKED.code, "AccessDenied");
        assert_eq!(LOCKED.message, "Access Denied because object protected by object lock.");
    }

    #[test]
    fn d2_d3_governance_without_bypass_and_bypass_allows_now() {
        let s = st(G, LATER, OFF);
        let e = explain_removal(&s, NOW, Delete, false, true).unwrap();
        assert_eq!(
            (e.refusal, e.s3, e.allowed_from, e.bypass_allows_now),
            (Refusal::GovernanceWithoutBypass, LOCKED, Some(LATER), true)
        );
        assert_eq!(explain_removal(&s, NOW, Delete, true, true), None, "D3: bypass granted deletes now");
        assert!(e.sentence().contains("GOVERNANCE retention until 1970-01-01T00:33:20.000Z"), "{}", e.sentence());
    }

    #[test]
    fn r10_dp3_bypass_without_permission_is_refused_first_even_when_unprotected() {
        let e = explain_removal(&st(G, LATER, None), NOW, Delete, true, false).unwrap();
        assert_eq!(e.refusal, Refusal::BypassNotGranted);
        assert_eq!(e.s3, BYPASS_NOT_GRANTED);
        assert_eq!((e.s3.status, e.s3.code, e.s3.message), (403, "AccessDenied", "Access Denied"));
        assert_eq!(e.allowed_from, Some(LATER), "without the header: after retain-until");
        let free = explain_removal(&LockState::default(), NOW, Delete, true, false).unwrap();
        assert_eq!((free.refusal, free.allowed_from), (Refusal::BypassNotGranted, Some(NOW)));
        let held = explain_removal(&st(C, LATER, ON), NOW, Delete, true, false).unwrap();
        assert_eq!((held.allowed_from, held.retained_after_hold), (None, Some((Mode::Compliance, LATER))));
    }

    #[test]
    fn d4_legal_hold_until_lifted_bypass_or_not() {
        for (asked, granted) in [(false, false), (true, true)] {
            let e = explain_removal(&st(G, LATER, ON), NOW, Delete, asked, granted).unwrap();
            assert_eq!(e.refusal, Refusal::LegalHold);
            assert_eq!(e.s3, LOCKED);
            assert_eq!(e.allowed_from, None, "until the hold is lifted");
            assert_eq!(e.retained_after_hold, Some((Mode::Governance, LATER)));
            assert!(!e.bypass_allows_now);
        }
        let only_hold = explain_removal(&st(C, NOW, ON), NOW, Delete, false, false).unwrap();
        assert_eq!(only_hold.retained_after_hold, None, "expired retention does not outlast the hold");
        assert!(only_hold.sentence().starts_with("A legal hold is on"), "{}", only_hold.sentence());
    }

    #[test]
    fn dp7_retain_until_equal_to_now_has_expired() {
        for mode in [G, C] {
            assert_eq!(explain_removal(&st(mode, NOW, OFF), NOW, Delete, false, false), None);
            assert_eq!(explain_removal(&st(mode, NOW, None), NOW, Overwrite, false, false), None);
            let e = explain_removal(&st(mode, UtcMillis(NOW.0 + 1), None), NOW, Delete, false, false).unwrap();
            assert_eq!(e.allowed_from, Some(UtcMillis(NOW.0 + 1)), "one millisecond later it allows");
        }
        assert_eq!(explain_removal(&LockState::default(), NOW, Delete, false, false), None, "D6");
    }

    #[test]
    fn w15_an_overwrite_never_bypasses() {
        let e = explain_removal(&st(G, LATER, None), NOW, Overwrite, true, true).unwrap();
        assert_eq!(
            (e.refusal, e.allowed_from, e.bypass_allows_now),
            (Refusal::GovernanceWithoutBypass, Some(LATER), false)
        );
        let e = explain_removal(&st(None, NOW, ON), NOW, Overwrite, true, false).unwrap();
        assert_eq!(e.refusal, Refusal::LegalHold, "the bypass header plays no part in a write");
    }

    #[test]
    fn the_verdict_is_the_rules_verdict() {
        let states = [
            LockState::default(),
            st(G, LATER, None),
            st(G, NOW, None),
            st(C, LATER, OFF),
            st(C, UtcMillis(NOW.0 - 1), None),
            st(None, NOW, ON),
            st(G, LATER, ON),
        ];
        for s in &states {
            for (asked, granted) in [(false, false), (false, true), (true, false), (true, true)] {
                let rules = bypass(true, asked.then_some(true), granted, true)
                    .map_err(|_| ())
                    .and_then(|b| check_delete(s, NOW, b).map_err(|_| ()));
                let e = explain_removal(s, NOW, Delete, asked, granted);
                assert_eq!(e.is_none(), rules.is_ok(), "{s:?} asked {asked} granted {granted}");
                if let Some(e) = e {
                    assert_eq!(e.s3, e.refusal.s3());
                }
            }
        }
    }
}
