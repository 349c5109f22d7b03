//! SAU-3: deadlines in French working days. A working day is a weekday that
//! is not a public holiday (Code du travail L3133-1: 1 January, Easter
//! Monday, 1 May, 8 May, Ascension, Whit Monday, 14 July, 15 August,
//! 1 November, 11 November, 25 December). Days are Paris days.

use time::{Date, Duration, Month, Weekday};

/// Easter Sunday of `year` (Gregorian calendar; the anonymous algorithm
/// published by Meeus, valid for every Gregorian year).
pub fn easter_sunday(year: i32) -> Date {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::from_calendar_date(
        year,
        Month::try_from(month as u8).expect("March or April"),
        day as u8,
    )
    .expect("a valid date")
}

/// The eleven public holidays of `year`.
pub fn public_holidays(year: i32) -> [Date; 11] {
    let date = |m: Month, d: u8| Date::from_calendar_date(year, m, d).expect("a valid date");
    let easter = easter_sunday(year);
    [
        date(Month::January, 1),
        easter + Duration::days(1),
        date(Month::May, 1),
        date(Month::May, 8),
        // Ascension: the Thursday 39 days after Easter.
        easter + Duration::days(39),
        // Whit Monday: 50 days after Easter.
        easter + Duration::days(50),
        date(Month::July, 14),
        date(Month::August, 15),
        date(Month::November, 1),
        date(Month::November, 11),
        date(Month::December, 25),
    ]
}

pub fn is_working_day(day: Date) -> bool {
    !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
        && !public_holidays(day.year()).contains(&day)
}

pub use kernel::clock::{paris_day, paris_offset};

/// The `n`-th working day after the day of `received_ms` (that day is not
/// counted, whatever the hour): a request received on Friday with two
/// working days is due on Tuesday.
pub fn due_day(received_ms: i64, n: u32) -> Date {
    let mut day = paris_day(received_ms);
    let mut left = n;
    while left > 0 {
        day = day.next_day().expect("in range");
        if is_working_day(day) {
            left -= 1;
        }
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::OffsetDateTime;
    use time::macros::{date, datetime};

    fn ms(at: OffsetDateTime) -> i64 {
        (at.unix_timestamp_nanos() / 1_000_000) as i64
    }

    #[test]
    fn easter_is_right_on_known_years() {
        // Dates from the Paris Observatory's tables.
        for (year, easter) in [
            (2000, date!(2000 - 04 - 23)),
            (2008, date!(2008 - 03 - 23)),
            (2011, date!(2011 - 04 - 24)),
            (2024, date!(2024 - 03 - 31)),
            (2025, date!(2025 - 04 - 20)),
            (2026, date!(2026 - 04 - 05)),
            (2027, date!(2027 - 03 - 28)),
            (2038, date!(2038 - 04 - 25)),
        ] {
            assert_eq!(easter_sunday(year), easter, "{year}");
        }
    }

    #[test]
    fn the_movable_holidays_of_2026_sau_3() {
        let h = public_holidays(2026);
        assert!(h.contains(&date!(2026 - 04 - 06)), "Easter Monday");
        assert!(h.contains(&date!(2026 - 05 - 14)), "Ascension");
        assert!(h.contains(&date!(2026 - 05 - 25)), "Whit Monday");
        assert!(!is_working_day(date!(2026 - 07 - 14)));
        assert!(!is_working_day(date!(2026 - 11 - 28)), "a Saturday");
        assert!(is_working_day(date!(2026 - 11 - 27)));
    }

    #[test]
    fn deadlines_skip_weekends_and_holidays_sau_3() {
        // Friday 27 November 2026, 16:00 in Paris; 2 working days: Monday
        // 30 November, Tuesday 1 December.
        let friday = ms(datetime!(2026-11-27 15:00 UTC));
        assert_eq!(due_day(friday, 2), date!(2026 - 12 - 01));
        // Received Saturday: Monday is the first working day.
        assert_eq!(
            due_day(ms(datetime!(2026-11-28 10:00 UTC)), 1),
            date!(2026 - 11 - 30)
        );
        // Wednesday 13 May 2026 with 2 days: Thursday 14 (Ascension) and the
        // weekend do not count: Friday 15 and Monday 18.
        assert_eq!(
            due_day(ms(datetime!(2026-05-13 09:00 UTC)), 2),
            date!(2026 - 05 - 18)
        );
        // Thursday 24 December 2026, 3 days: 25 is Christmas, then Monday
        // 28, Tuesday 29, Wednesday 30.
        assert_eq!(
            due_day(ms(datetime!(2026-12-24 09:00 UTC)), 3),
            date!(2026 - 12 - 30)
        );
        // Easter 2026: Friday 3 April + 1 day = Tuesday 7 (Monday 6 is a holiday).
        assert_eq!(
            due_day(ms(datetime!(2026-04-03 09:00 UTC)), 1),
            date!(2026 - 04 - 07)
        );
        // Overdue only once the due day is over in Paris (the inbox compares
        // the stored due day with Paris's today).
        assert!(
            paris_day(ms(datetime!(2026-12-01 22:30 UTC))) <= due_day(friday, 2),
            "23:30 in Paris"
        );
        assert!(
            paris_day(ms(datetime!(2026-12-01 23:30 UTC))) > due_day(friday, 2),
            "00:30 on the 2nd"
        );
    }

    #[test]
    fn paris_days_follow_summer_time() {
        // 22:30 UTC is already the next day in Paris in summer (UTC+2)…
        assert_eq!(
            paris_day(ms(datetime!(2026-07-13 22:30 UTC))),
            date!(2026 - 07 - 14)
        );
        // …but not in winter (UTC+1).
        assert_eq!(
            paris_day(ms(datetime!(2026-01-13 22:30 UTC))),
            date!(2026 - 01 - 13)
        );
        // The switches of 2026: 29 March and 25 October at 01:00 UTC.
        assert_eq!(
            paris_offset(datetime!(2026-03-29 00:59 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            paris_offset(datetime!(2026-03-29 01:00 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            paris_offset(datetime!(2026-10-25 00:59 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            paris_offset(datetime!(2026-10-25 01:00 UTC)).whole_hours(),
            1
        );
    }

    proptest! {
        #[test]
        fn easter_is_a_sunday_between_22_march_and_25_april(year in 1583i32..4000) {
            let e = easter_sunday(year);
            prop_assert_eq!(e.weekday(), Weekday::Sunday);
            prop_assert!(e >= Date::from_calendar_date(year, Month::March, 22).unwrap());
            prop_assert!(e <= Date::from_calendar_date(year, Month::April, 25).unwrap());
        }

        #[test]
        fn a_due_day_is_a_working_day_with_exactly_n_working_days_after_receipt(
            at in 1_700_000_000_000i64..2_200_000_000_000, n in 1u32..30
        ) {
            let due = due_day(at, n);
            prop_assert!(is_working_day(due));
            let mut count = 0;
            let mut d = paris_day(at);
            while d < due {
                d = d.next_day().unwrap();
                if is_working_day(d) { count += 1; }
            }
            prop_assert_eq!(count, n);
            // Never more than n working days plus the longest run of days off
            // (a long weekend around a holiday and the Christmas week).
            prop_assert!((due - paris_day(at)).whole_days() <= i64::from(n) * 2 + 4);
        }
    }
}
