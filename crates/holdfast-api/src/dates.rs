//! Instants as s3s carries them and as AWS writes them in headers and error details. Apart
//! from `convert` so that the error mapping can use them without depending on it.

use holdfast_lock::UtcMillis;
use s3s::dto::{Timestamp, TimestampFormat};

pub fn ts(i: UtcMillis) -> Timestamp {
    Timestamp::from(i.to_offset_datetime())
}

pub fn instant(t: Timestamp) -> UtcMillis {
    UtcMillis::from_offset_datetime(t.into())
}

pub fn http_date(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

/// `instant` as Java's `Date.toString()` shows it in US Pacific time, e.g.
/// `Tue Dec 31 16:00:00 PST 2019`: the form AWS puts in the ArgumentValue of a past
/// RetainUntilDate (R6). Daylight time follows the US rules (since 2007: second Sunday of
/// March to first Sunday of November; 1987-2006: first Sunday of April to last Sunday of
/// October), switching at 02:00 local time.
pub fn java_pacific_date(instant: UtcMillis) -> String {
    use time::{Date, Month, Weekday};
    fn sunday_on_or_after(year: i32, month: Month, day: u8) -> Option<Date> {
        let d = Date::from_calendar_date(year, month, day).ok()?;
        let skip = (7 - d.weekday().number_days_from_sunday()) % 7;
        d.checked_add(time::Duration::days(i64::from(skip)))
    }
    let utc = instant.to_offset_datetime();
    let year = utc.year();
    let (start, end) = if year >= 2007 {
        (sunday_on_or_after(year, Month::March, 8), sunday_on_or_after(year, Month::November, 1))
    } else {
        (sunday_on_or_after(year, Month::April, 1), sunday_on_or_after(year, Month::October, 25))
    };
    // 02:00 PST is 10:00 UTC; 02:00 PDT is 09:00 UTC.
    let dst = match (start, end) {
        (Some(s), Some(e)) => {
            utc >= s.with_hms(10, 0, 0).map(|t| t.assume_utc()).unwrap_or(utc)
                && utc < e.with_hms(9, 0, 0).map(|t| t.assume_utc()).unwrap_or(utc)
        }
        _ => false,
    };
    let (hours, zone) = if dst { (-7, "PDT") } else { (-8, "PST") };
    let local = utc.to_offset(time::UtcOffset::from_hms(hours, 0, 0).unwrap_or(time::UtcOffset::UTC));
    let day = match local.weekday() {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    };
    let month = local.month().to_string();
    format!(
        "{day} {} {:02} {:02}:{:02}:{:02} {zone} {}",
        &month[..3],
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        local.year()
    )
}
