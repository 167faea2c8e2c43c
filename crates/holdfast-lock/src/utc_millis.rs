//! UTC instants with millisecond precision (DP7), read and written as RFC 3339 (R15).

use std::fmt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct UtcMillis(pub i64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not an ISO 8601 timestamp: {0:?}")]
pub struct ParseUtcMillisError(pub String);

impl UtcMillis {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub fn from_offset_datetime(t: OffsetDateTime) -> Self {
        let nanos = t.unix_timestamp_nanos();
        // Truncate toward negative infinity so that sub-millisecond parts never round up.
        Self(i64::try_from(nanos.div_euclid(1_000_000)).unwrap_or(i64::MAX))
    }

    pub fn to_offset_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn now_system() -> Self {
        Self::from_offset_datetime(OffsetDateTime::now_utc())
    }

    pub fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// The one parser of dates in Holdfast: an RFC 3339 date-time (`2030-01-01T00:00:00Z`,
    /// fractional seconds, offsets normalised to UTC, R15; four-digit years), the form AWS's
    /// `timestampFormat: iso8601` means and the one [`Self::to_iso8601`] writes. A client's
    /// retain-until header goes through [`crate::parse_retain_until`], which words a failure
    /// as W4.
    pub fn parse(s: &str) -> Result<Self, ParseUtcMillisError> {
        OffsetDateTime::parse(s, &Rfc3339)
            .map(Self::from_offset_datetime)
            .map_err(|_| ParseUtcMillisError(s.to_owned()))
    }

    /// `YYYY-MM-DDTHH:MM:SS.sssZ` (R15, G4).
    pub fn to_iso8601(self) -> String {
        let t = self.to_offset_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

impl fmt::Display for UtcMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso8601())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r15_accepts_iso8601_forms_and_normalises_to_utc() {
        let z = UtcMillis::parse("2030-01-01T00:00:00Z").unwrap();
        assert_eq!(UtcMillis::parse("2030-01-01T00:00:00.000Z").unwrap(), z);
        assert_eq!(UtcMillis::parse("2030-01-01T01:00:00+01:00").unwrap(), z);
        assert_eq!(z.to_iso8601(), "2030-01-01T00:00:00.000Z");
        assert_eq!(UtcMillis::parse("2030-01-01T00:00:00.1239Z").unwrap().to_iso8601(), "2030-01-01T00:00:00.123Z");
    }

    #[test]
    fn r15_rejects_garbage() {
        // The last two: an extended (negative) year, found by `scripts/fuzz.sh retain_until`.
        for s in [
            "",
            "tomorrow",
            "2030-13-01T00:00:00Z",
            "Tue, 01 Jan 2030 00:00:00 GMT",
            "-008080W536T0035",
            "+0120300-01-01T00:00:00Z",
            // ISO 8601 forms outside RFC 3339, which the retain-until header always refused
            // (W4): no zone designator, the basic format, a week date.
            "2030-01-01T00:00:00",
            "20300101T000000Z",
            "2030-W01-1T00:00:00Z",
        ] {
            assert!(UtcMillis::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn what_parses_survives_the_form_holdfast_writes() {
        for s in ["2030-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"] {
            let i = UtcMillis::parse(s).unwrap();
            assert_eq!(UtcMillis::parse(&i.to_iso8601()), Ok(i), "{s}");
        }
    }
}
