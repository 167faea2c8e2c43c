//! Lock state of one object version and of a bucket's default rule (spec §0.3).

use crate::UtcMillis;
use std::fmt;
use std::str::FromStr;

/// Retention mode. Parsing is case-sensitive, as the AWS enum is (W3, R5, B7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Mode {
    Governance,
    Compliance,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown retention mode {0:?}")]
pub struct ParseModeError(pub String);

impl Mode {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Governance => "GOVERNANCE",
            Self::Compliance => "COMPLIANCE",
        }
    }
}

impl FromStr for Mode {
    type Err = ParseModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "GOVERNANCE" => Ok(Self::Governance),
            "COMPLIANCE" => Ok(Self::Compliance),
            other => Err(ParseModeError(other.to_owned())),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A retention period on one version: protected while `now < until` (DP7, strict).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retention {
    pub mode: Mode,
    pub until: UtcMillis,
}

impl Retention {
    pub fn is_active(&self, now: UtcMillis) -> bool {
        now < self.until
    }
}

/// Legal hold status. `None` in [`LockState`] means "never set" (G3, L6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LegalHold {
    On,
    Off,
}

impl LegalHold {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::On => "ON",
            Self::Off => "OFF",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ON" => Some(Self::On),
            "OFF" => Some(Self::Off),
            _ => None,
        }
    }
}

/// Everything Object Lock knows about one version. Delete markers always have the default
/// (empty) state and are never protected (D6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockState {
    pub retention: Option<Retention>,
    pub legal_hold: Option<LegalHold>,
}

impl LockState {
    pub fn has_active_retention(&self, now: UtcMillis) -> bool {
        self.retention.is_some_and(|r| r.is_active(now))
    }

    pub fn is_held(&self) -> bool {
        self.legal_hold == Some(LegalHold::On)
    }

    /// Protected ⇔ active retention or legal hold ON (§0.3).
    pub fn is_protected(&self, now: UtcMillis) -> bool {
        self.is_held() || self.has_active_retention(now)
    }
}

/// The unit a bucket's default period was given in; preserved on read-back (B11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Period {
    Days(u32),
    Years(u32),
}

/// Largest default period AWS accepts (B9): 100 years.
pub const MAX_DEFAULT_DAYS: i64 = 36_500;
pub const MAX_DEFAULT_YEARS: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DefaultRetention {
    pub mode: Mode,
    pub period: Period,
}

const DAY_MS: i64 = 86_400_000;

impl DefaultRetention {
    /// Retention for a version created at `created` (W9): exact, not rounded to a day.
    /// Days are n × 86 400 s; Years are calendar years in UTC, and Feb 29 + 1 year lands
    /// on Feb 28 (DP6).
    pub fn retention_for(&self, created: UtcMillis) -> Retention {
        let until = match self.period {
            Period::Days(n) => created.plus_millis(i64::from(n) * DAY_MS),
            Period::Years(n) => add_years(created, n),
        };
        Retention { mode: self.mode, until }
    }
}

fn add_years(at: UtcMillis, years: u32) -> UtcMillis {
    let t = at.to_offset_datetime();
    let year = t.year() + i32::try_from(years).unwrap_or(i32::MAX - t.year());
    let date = t.date();
    let day = date.day().min(time::util::days_in_month(date.month(), year));
    match time::Date::from_calendar_date(year, date.month(), day) {
        Ok(d) => UtcMillis::from_offset_datetime(t.replace_date(d)),
        Err(_) => UtcMillis(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_is_case_sensitive() {
        assert_eq!("GOVERNANCE".parse(), Ok(Mode::Governance));
        assert_eq!("COMPLIANCE".parse(), Ok(Mode::Compliance));
        assert!("governance".parse::<Mode>().is_err());
    }

    #[test]
    fn w9_default_days_are_exact() {
        let created = UtcMillis::parse("2026-03-01T10:11:12.345Z").unwrap();
        let d = DefaultRetention { mode: Mode::Governance, period: Period::Days(2) };
        assert_eq!(d.retention_for(created).until.to_iso8601(), "2026-03-03T10:11:12.345Z");
    }

    #[test]
    fn dp6_years_are_calendar_years_and_feb29_lands_on_feb28() {
        let d = DefaultRetention { mode: Mode::Compliance, period: Period::Years(1) };
        let leap = UtcMillis::parse("2028-02-29T12:00:00Z").unwrap();
        assert_eq!(d.retention_for(leap).until.to_iso8601(), "2029-02-28T12:00:00.000Z");
        let plain = UtcMillis::parse("2026-07-04T00:00:00Z").unwrap();
        assert_eq!(d.retention_for(plain).until.to_iso8601(), "2027-07-04T00:00:00.000Z");
    }

    #[test]
    fn protection_is_retention_or_hold() {
        let now = UtcMillis(1000);
        let mut s = LockState::default();
        assert!(!s.is_protected(now));
        s.legal_hold = Some(LegalHold::Off);
        assert!(!s.is_protected(now));
        s.retention = Some(Retention { mode: Mode::Governance, until: UtcMillis(1000) });
        assert!(!s.is_protected(now), "retain-until equal to now has expired (strict <)");
        s.retention = Some(Retention { mode: Mode::Governance, until: UtcMillis(1001) });
        assert!(s.is_protected(now));
        s.retention = None;
        s.legal_hold = Some(LegalHold::On);
        assert!(s.is_protected(now));
    }
}
