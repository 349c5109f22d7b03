//! Wall-clock time as the platform stores it: Unix milliseconds.

use time::{Date, Month, OffsetDateTime, UtcOffset, Weekday};

pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A stored timestamp, for display (UTC, ISO 8601).
pub fn format_ms(ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Today's date (UTC) for the rules that count days.
pub fn today() -> time::Date {
    OffsetDateTime::now_utc().date()
}

/// The offset of Paris at `utc`: UTC+2 from the last Sunday of March 01:00
/// UTC to the last Sunday of October 01:00 UTC (the European rule since
/// 1996), UTC+1 otherwise.
pub fn paris_offset(utc: OffsetDateTime) -> UtcOffset {
    let last_sunday = |month: Month| {
        let mut d = Date::from_calendar_date(utc.year(), month, 31).expect("31 March/October");
        while d.weekday() != Weekday::Sunday {
            d = d.previous_day().expect("in range");
        }
        d.with_hms(1, 0, 0).expect("valid").assume_utc()
    };
    let summer = utc >= last_sunday(Month::March) && utc < last_sunday(Month::October);
    UtcOffset::from_hms(if summer { 2 } else { 1 }, 0, 0).expect("valid offset")
}

/// The Paris calendar day of an instant (milliseconds since the epoch).
pub fn paris_day(at_ms: i64) -> Date {
    let utc = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .expect("a representable instant");
    utc.to_offset(paris_offset(utc)).date()
}

/// The instant (milliseconds since the epoch) Paris's day `day` begins.
/// Summer time changes at 01:00 UTC, so Paris's midnight never falls on a
/// change and the offset at UTC midnight of that date is the right one.
pub fn paris_midnight(day: Date) -> i64 {
    let utc_midnight = day.midnight().assume_utc();
    let offset = paris_offset(utc_midnight).whole_seconds();
    let start = utc_midnight - time::Duration::seconds(i64::from(offset));
    start.unix_timestamp() * 1000
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn paris_midnight_follows_summer_time() {
        // 2026-01-01 00:00 in Paris is 2025-12-31 23:00 UTC.
        assert_eq!(paris_midnight(date!(2026 - 01 - 01)), 1_767_222_000_000);
        // 2026-07-01 00:00 in Paris is 2026-06-30 22:00 UTC.
        assert_eq!(paris_midnight(date!(2026 - 07 - 01)), 1_782_856_800_000);
        // Around the spring change (Sunday 29 March 2026).
        for d in [
            date!(2026 - 03 - 29),
            date!(2026 - 03 - 30),
            date!(2026 - 10 - 25),
        ] {
            let start = paris_midnight(d);
            assert_eq!(paris_day(start), d);
            assert_eq!(paris_day(start - 1), d.previous_day().unwrap());
        }
    }
}
