//! The write rules (W2..W7, W9): what lock state a new version asks for, whether its bucket
//! accepts it, and what it gets. Pure: the request's header values and the compliance
//! clock's "now" come in, a [`LockState`] or a [`WriteDenial`] naming the rule goes out; the
//! API words each denial as an S3 error in one place.

use crate::{DefaultRetention, LegalHold, LockState, Mode, Retention, UtcMillis};

/// Why a write's lock request was refused, by rule (spec §2). Every variant is a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteDenial {
    /// W2: a mode without a retain-until date.
    #[error("x-amz-object-lock-mode without x-amz-object-lock-retain-until-date")]
    ModeWithoutDate,
    /// W2: a retain-until date without a mode.
    #[error("x-amz-object-lock-retain-until-date without x-amz-object-lock-mode")]
    DateWithoutMode,
    /// W3: a mode other than `GOVERNANCE` or `COMPLIANCE` (case-sensitive); the value sent.
    #[error("unknown retention mode {0:?}")]
    UnknownMode(String),
    /// W4: a retain-until date that is not an RFC 3339 timestamp.
    #[error("retain-until date is not an ISO 8601 timestamp")]
    RetainUntilNotIso8601,
    /// W4: a retain-until date at or before now.
    #[error("retain-until date is not in the future")]
    RetainUntilInPast,
    /// W5: a legal-hold value other than `ON` or `OFF`; the value sent.
    #[error("unknown legal hold status {0:?}")]
    UnknownLegalHold(String),
    /// W6: lock headers on a bucket without Object Lock.
    #[error("lock headers on a bucket without Object Lock")]
    BucketWithoutLock,
    /// W7: a locked write (or part of one) without Content-MD5 or an x-amz-checksum-*.
    #[error("a locked write needs an integrity header")]
    IntegrityHeaderMissing,
}

/// The three lock headers of a write (PutObject, CopyObject, CreateMultipartUpload); an
/// empty header counts as absent. The mode and the legal hold as sent; the date as
/// [`retain_until_header`] parsed it, once per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockHeaders<'a> {
    pub mode: Option<&'a str>,
    pub retain_until: Option<Result<UtcMillis, WriteDenial>>,
    pub legal_hold: Option<&'a str>,
}

/// What Object Lock knows of the bucket a version is written to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketLock {
    /// One-way switch (B12).
    pub enabled: bool,
    pub default_retention: Option<DefaultRetention>,
}

/// The one parser of retain-until dates sent by a client, [`UtcMillis::parse`] (RFC 3339,
/// offsets normalised to UTC, R15: the form AWS's `timestampFormat: iso8601` means and the
/// only one the S3 layer lets through), with a failure worded as W4.
pub fn parse_retain_until(value: &str) -> Result<UtcMillis, WriteDenial> {
    UtcMillis::parse(value).map_err(|_| WriteDenial::RetainUntilNotIso8601)
}

/// An `x-amz-object-lock-retain-until-date` header's value parsed: `None` when absent or
/// empty, else the instant or W4. The api calls it once per request, before anything reads
/// the date (the W4 check, the policy's condition key, [`requested_lock`]).
pub fn retain_until_header(value: Option<&str>) -> Option<Result<UtcMillis, WriteDenial>> {
    present(value).map(parse_retain_until)
}

/// The lock state a write asks for (W2..W5), judged in the order AWS reports: mode and date
/// together, then the mode's value, then the date's, then the legal hold. Whether the
/// bucket accepts it is [`check_write`].
pub fn requested_lock(h: LockHeaders<'_>, now: UtcMillis) -> Result<LockState, WriteDenial> {
    let (mode, until, hold) = (present(h.mode), h.retain_until, present(h.legal_hold));
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(_), None) => return Err(WriteDenial::ModeWithoutDate),
        (None, Some(_)) => return Err(WriteDenial::DateWithoutMode),
        (Some(m), Some(u)) => {
            let mode: Mode = m.parse().map_err(|_| WriteDenial::UnknownMode(m.to_owned()))?;
            let until = u?;
            if until <= now {
                return Err(WriteDenial::RetainUntilInPast);
            }
            Some(Retention { mode, until })
        }
    };
    let legal_hold = match hold {
        None => None,
        Some(v) => Some(LegalHold::parse(v).ok_or_else(|| WriteDenial::UnknownLegalHold(v.to_owned()))?),
    };
    Ok(LockState { retention, legal_hold })
}

fn present(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty())
}

/// W6 and W7: lock headers need a lock bucket, and a locked write an integrity header.
/// `has_integrity` is `None` where the request carries no body to check (CopyObject,
/// CreateMultipartUpload): W7 is then judged on each part.
pub fn check_write(bucket: BucketLock, requested: &LockState, has_integrity: Option<bool>) -> Result<(), WriteDenial> {
    let asks = requested.retention.is_some() || requested.legal_hold.is_some();
    if asks && !bucket.enabled {
        return Err(WriteDenial::BucketWithoutLock);
    }
    if has_integrity == Some(false) && bucket.enabled && (asks || bucket.default_retention.is_some()) {
        return Err(WriteDenial::IntegrityHeaderMissing);
    }
    Ok(())
}

/// W9, W10: the lock state a new version gets — the request's, with the bucket's default
/// filling in retention when none was asked for (a legal-hold header does not suppress it).
/// `created` is the version's Last-Modified.
pub fn lock_for_new_version(bucket: BucketLock, requested: LockState, created: UtcMillis) -> LockState {
    let mut lock = requested;
    if bucket.enabled
        && lock.retention.is_none()
        && let Some(default) = bucket.default_retention
    {
        lock.retention = Some(default.retention_for(created));
    }
    lock
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Period;

    const NOW: UtcMillis = UtcMillis(1_893_456_000_000); // 2030-01-01T00:00:00Z

    fn headers<'a>(mode: Option<&'a str>, until: Option<&'a str>, hold: Option<&'a str>) -> LockHeaders<'a> {
        LockHeaders { mode, retain_until: retain_until_header(until), legal_hold: hold }
    }

    #[test]
    fn w2_mode_and_date_travel_together() {
        assert_eq!(requested_lock(headers(Some("GOVERNANCE"), None, None), NOW), Err(WriteDenial::ModeWithoutDate));
        let later = "2031-01-01T00:00:00Z";
        assert_eq!(requested_lock(headers(None, Some(later), None), NOW), Err(WriteDenial::DateWithoutMode));
        assert_eq!(requested_lock(headers(Some(""), Some(later), None), NOW), Err(WriteDenial::DateWithoutMode));
        assert_eq!(requested_lock(LockHeaders::default(), NOW), Ok(LockState::default()));
    }

    #[test]
    fn w3_mode_is_checked_before_the_date() {
        let r = requested_lock(headers(Some("governance"), Some("2020-01-01T00:00:00Z"), None), NOW);
        assert_eq!(r, Err(WriteDenial::UnknownMode("governance".into())));
    }

    #[test]
    fn w4_date_must_parse_and_lie_in_the_future() {
        for bad in
            ["tomorrow", "2030-13-01T00:00:00Z", "Tue, 01 Jan 2030 00:00:00 GMT", "1893456000", "20300101T000000Z"]
        {
            assert_eq!(parse_retain_until(bad), Err(WriteDenial::RetainUntilNotIso8601), "{bad}");
        }
        let now = headers(Some("COMPLIANCE"), Some("2030-01-01T00:00:00Z"), None);
        assert_eq!(requested_lock(now, NOW), Err(WriteDenial::RetainUntilInPast), "equal to now is not future");
        let later = requested_lock(headers(Some("COMPLIANCE"), Some("2030-01-01T01:00:00.001+01:00"), None), NOW);
        let want = Retention { mode: Mode::Compliance, until: UtcMillis(NOW.0 + 1) };
        assert_eq!(later, Ok(LockState { retention: Some(want), legal_hold: None }), "R15: offsets normalised");
    }

    #[test]
    fn w5_legal_hold_is_on_or_off() {
        assert_eq!(
            requested_lock(headers(None, None, Some("on")), NOW),
            Err(WriteDenial::UnknownLegalHold("on".into()))
        );
        let held = requested_lock(headers(None, None, Some("ON")), NOW).unwrap();
        assert_eq!(held, LockState { retention: None, legal_hold: Some(LegalHold::On) });
    }

    #[test]
    fn w6_w7_bucket_acceptance() {
        let plain = BucketLock::default();
        let lock = BucketLock { enabled: true, default_retention: None };
        let defaulted = BucketLock {
            enabled: true,
            default_retention: Some(DefaultRetention { mode: Mode::Governance, period: Period::Days(1) }),
        };
        let asks = LockState { retention: None, legal_hold: Some(LegalHold::Off) };
        let none = LockState::default();
        assert_eq!(check_write(plain, &asks, Some(true)), Err(WriteDenial::BucketWithoutLock));
        assert_eq!(check_write(plain, &none, Some(false)), Ok(()));
        assert_eq!(check_write(lock, &asks, Some(false)), Err(WriteDenial::IntegrityHeaderMissing));
        assert_eq!(check_write(lock, &asks, None), Ok(()), "judged on the parts");
        assert_eq!(check_write(lock, &none, Some(false)), Ok(()));
        assert_eq!(check_write(defaulted, &none, Some(false)), Err(WriteDenial::IntegrityHeaderMissing));
        assert_eq!(check_write(defaulted, &none, Some(true)), Ok(()));
    }

    #[test]
    fn w9_w10_default_fills_in_only_missing_retention() {
        let d = DefaultRetention { mode: Mode::Compliance, period: Period::Days(1) };
        let bucket = BucketLock { enabled: true, default_retention: Some(d) };
        let hold_only = LockState { retention: None, legal_hold: Some(LegalHold::On) };
        let got = lock_for_new_version(bucket, hold_only, NOW);
        assert_eq!(got.retention, Some(d.retention_for(NOW)), "a legal-hold header does not suppress it");
        assert_eq!(got.legal_hold, Some(LegalHold::On));
        let explicit = LockState {
            retention: Some(Retention { mode: Mode::Governance, until: UtcMillis(NOW.0 + 5) }),
            legal_hold: None,
        };
        assert_eq!(lock_for_new_version(bucket, explicit, NOW), explicit, "W10: explicit beats default");
        let off = BucketLock { enabled: false, ..bucket };
        assert_eq!(lock_for_new_version(off, LockState::default(), NOW), LockState::default());
    }
}
