//! The lock settings a client asks for outside a write: a version's retention
//! (PutObjectRetention, R5, R6) and a bucket's default rule (PutObjectLockConfiguration,
//! B7..B9). Pure, like the write rules: typed denials the API words once.

use crate::{DefaultRetention, MAX_DEFAULT_DAYS, MAX_DEFAULT_YEARS, Mode, Period, Retention, UtcMillis};

/// Why a requested retention was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RetentionDenial {
    /// R5: mode without date (or the reverse), or a mode other than GOVERNANCE/COMPLIANCE.
    #[error("malformed retention")]
    Malformed,
    /// R6: a retain-until date at or before now; the date sent.
    #[error("retain-until date {0} is not in the future")]
    InPast(UtcMillis),
}

/// Why a bucket's lock or versioning change was refused (409 InvalidBucketState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BucketDenial {
    /// B4: Object Lock is enabled only on a bucket whose versioning is Enabled.
    #[error("versioning must be Enabled to enable Object Lock")]
    VersioningNotEnabled,
    /// B13: a lock bucket's versioning stays Enabled.
    #[error("versioning of an Object Lock bucket cannot change")]
    VersioningLocked,
}

/// B4, B5: may this bucket take an Object Lock configuration? Once enabled it always may
/// (B10, changing the default rule).
pub fn check_lock_configuration(lock_enabled: bool, versioning_enabled: bool) -> Result<(), BucketDenial> {
    if lock_enabled || versioning_enabled { Ok(()) } else { Err(BucketDenial::VersioningNotEnabled) }
}

/// B13: may this bucket's versioning become `to_enabled` (Enabled) or not (Suspended)?
pub fn check_versioning_change(lock_enabled: bool, to_enabled: bool) -> Result<(), BucketDenial> {
    if lock_enabled && !to_enabled { Err(BucketDenial::VersioningLocked) } else { Ok(()) }
}

/// The retention a PutObjectRetention body asks for (`None`: remove it, R8), judged in the
/// order AWS reports: a past date (R6) before a bad mode (R5).
pub fn requested_retention(
    mode: Option<&str>,
    until: Option<UtcMillis>,
    now: UtcMillis,
) -> Result<Option<Retention>, RetentionDenial> {
    match (mode, until) {
        (None, None) => Ok(None),
        (Some(m), Some(until)) => {
            if until <= now {
                return Err(RetentionDenial::InPast(until));
            }
            let mode: Mode = m.parse().map_err(|_| RetentionDenial::Malformed)?;
            Ok(Some(Retention { mode, until }))
        }
        _ => Err(RetentionDenial::Malformed),
    }
}

/// The unit a default period was sent in (B11), as AWS names it in `ArgumentName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodUnit {
    Days,
    Years,
}

impl PeriodUnit {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Days => "Days",
            Self::Years => "Years",
        }
    }
}

/// Why a bucket's default rule was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DefaultDenial {
    /// B7: no mode, an unknown mode, or not exactly one of Days and Years.
    #[error("malformed default retention")]
    Malformed,
    /// B8: a period of zero or less; the unit and value sent.
    #[error("default retention period {1} {0:?} is not positive")]
    NotPositive(PeriodUnit, i32),
    /// B9: a period over 100 years (36 500 days); the unit and value sent.
    #[error("default retention period {1} {0:?} is too large")]
    TooLarge(PeriodUnit, i32),
}

/// A bucket's default rule from its parts as sent (B7..B9).
pub fn default_retention(
    mode: Option<&str>,
    days: Option<i32>,
    years: Option<i32>,
) -> Result<DefaultRetention, DefaultDenial> {
    let mode: Mode = mode.and_then(|m| m.parse().ok()).ok_or(DefaultDenial::Malformed)?;
    let (unit, value, max) = match (days, years) {
        (Some(d), None) => (PeriodUnit::Days, d, MAX_DEFAULT_DAYS),
        (None, Some(y)) => (PeriodUnit::Years, y, MAX_DEFAULT_YEARS),
        _ => return Err(DefaultDenial::Malformed),
    };
    if value <= 0 {
        return Err(DefaultDenial::NotPositive(unit, value));
    }
    if i64::from(value) > max {
        return Err(DefaultDenial::TooLarge(unit, value));
    }
    let n = u32::try_from(value).unwrap_or(0);
    let period = match unit {
        PeriodUnit::Days => Period::Days(n),
        PeriodUnit::Years => Period::Years(n),
    };
    Ok(DefaultRetention { mode, period })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UtcMillis = UtcMillis(1_000);

    #[test]
    fn r5_r6_requested_retention() {
        assert_eq!(requested_retention(None, None, NOW), Ok(None), "R8: empty <Retention/> removes");
        assert_eq!(requested_retention(Some("GOVERNANCE"), None, NOW), Err(RetentionDenial::Malformed));
        assert_eq!(requested_retention(None, Some(UtcMillis(2_000)), NOW), Err(RetentionDenial::Malformed));
        assert_eq!(
            requested_retention(Some("governance"), Some(UtcMillis(2_000)), NOW),
            Err(RetentionDenial::Malformed)
        );
        assert_eq!(
            requested_retention(Some("bad"), Some(NOW), NOW),
            Err(RetentionDenial::InPast(NOW)),
            "a past date is reported before a bad mode"
        );
        let want = Retention { mode: Mode::Compliance, until: UtcMillis(1_001) };
        assert_eq!(requested_retention(Some("COMPLIANCE"), Some(UtcMillis(1_001)), NOW), Ok(Some(want)));
    }

    #[test]
    fn b4_b5_b13_bucket_state() {
        assert_eq!(check_lock_configuration(false, false), Err(BucketDenial::VersioningNotEnabled));
        assert_eq!(check_lock_configuration(false, true), Ok(()), "B5");
        assert_eq!(check_lock_configuration(true, true), Ok(()), "B10");
        assert_eq!(check_versioning_change(true, false), Err(BucketDenial::VersioningLocked));
        assert_eq!(check_versioning_change(true, true), Ok(()), "Enabled again is a no-op");
        assert_eq!(check_versioning_change(false, false), Ok(()));
    }

    #[test]
    fn b7_b9_default_rule() {
        use DefaultDenial::*;
        use PeriodUnit::{Days, Years};
        assert_eq!(default_retention(None, Some(1), None), Err(Malformed));
        assert_eq!(default_retention(Some("governance"), Some(1), None), Err(Malformed));
        assert_eq!(default_retention(Some("GOVERNANCE"), Some(1), Some(1)), Err(Malformed));
        assert_eq!(default_retention(Some("GOVERNANCE"), None, None), Err(Malformed));
        assert_eq!(default_retention(Some("GOVERNANCE"), Some(0), None), Err(NotPositive(Days, 0)));
        assert_eq!(default_retention(Some("GOVERNANCE"), None, Some(-1)), Err(NotPositive(Years, -1)));
        assert_eq!(default_retention(Some("GOVERNANCE"), Some(36_501), None), Err(TooLarge(Days, 36_501)));
        assert_eq!(default_retention(Some("GOVERNANCE"), None, Some(101),), Err(TooLarge(Years, 101)));
        let d = default_retention(Some("COMPLIANCE"), None, Some(100)).unwrap();
        assert_eq!(d, DefaultRetention { mode: Mode::Compliance, period: Period::Years(100) });
        assert_eq!(default_retention(Some("GOVERNANCE"), Some(36_500), None).unwrap().period, Period::Days(36_500));
    }
}
