//! The framework agreement's calendar (CONV-3, CONV-5, CONV-6, CONV-8).
//!
//! Periods expressed in months or years end on the same day of the month;
//! when that day does not exist (29-31), on the last day of the month, as
//! French procedure counts them (code de procédure civile, art. 641).

use time::{Date, Duration, Month};

/// Adds (or subtracts) whole months, clamping to the end of the month.
pub fn add_months(date: Date, months: i32) -> Date {
    let index = date.year() * 12 + (date.month() as i32 - 1) + months;
    let year = index.div_euclid(12);
    let month = Month::try_from((index.rem_euclid(12) + 1) as u8).expect("1..=12");
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, date.day().min(last)).expect("day clamped to the month")
}

pub fn add_years(date: Date, years: i32) -> Date {
    add_months(date, years * 12)
}

pub fn days_in_year(year: i32) -> i64 {
    i64::from(time::util::days_in_year(year))
}

/// Days from `from` to `to`, both included (0 when `to` is before `from`).
pub fn days_inclusive(from: Date, to: Date) -> i64 {
    ((to - from).whole_days() + 1).max(0)
}

pub fn first_day(year: i32) -> Date {
    Date::from_calendar_date(year, Month::January, 1).expect("1 January exists")
}

pub fn last_day(year: i32) -> Date {
    Date::from_calendar_date(year, Month::December, 31).expect("31 December exists")
}

/// CONV-3: one year, renewed tacitly each year, six years at most.
pub const MAX_YEARS: i32 = 6;
/// CONV-5: notice received at least three months before the anniversary.
pub const NOTICE_MONTHS: i32 = 3;
/// CONV-6: a formal notice left without effect for two months.
pub const BREACH_NOTICE_MONTHS: i32 = 2;
/// CONV-8: one month to answer a claim.
pub const DISPUTE_ANSWER_MONTHS: i32 = 1;

/// CONV-3: the agreement takes effect on the later of the two signatures.
pub fn effective_date(
    commune_signed: Option<Date>,
    metropolis_signed: Option<Date>,
) -> Option<Date> {
    match (commune_signed, metropolis_signed) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    }
}

/// The calendar of an agreement in force from `effective`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdhesionCalendar {
    pub effective: Date,
}

/// An adhesion year: its number (1 to 6) and its first and last days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdhesionYear {
    pub number: i32,
    pub first_day: Date,
    pub last_day: Date,
}

impl AdhesionCalendar {
    pub fn new(effective: Date) -> AdhesionCalendar {
        AdhesionCalendar { effective }
    }

    /// The `k`-th anniversary (k ≥ 1): the day adhesion year k + 1 starts.
    pub fn anniversary(&self, k: i32) -> Date {
        add_years(self.effective, k)
    }

    /// The last day the agreement can be in force: six years after it took
    /// effect, less one day.
    pub fn final_end(&self) -> Date {
        self.anniversary(MAX_YEARS) - Duration::days(1)
    }

    pub fn year(&self, number: i32) -> Option<AdhesionYear> {
        (1..=MAX_YEARS).contains(&number).then(|| AdhesionYear {
            number,
            first_day: self.anniversary(number - 1),
            last_day: self.anniversary(number) - Duration::days(1),
        })
    }

    /// The adhesion year `on` falls in, if the agreement is in force then.
    pub fn year_on(&self, on: Date) -> Option<AdhesionYear> {
        (1..=MAX_YEARS)
            .filter_map(|k| self.year(k))
            .find(|y| y.first_day <= on && on <= y.last_day)
    }

    /// The next anniversary after `on` at which the agreement can still end
    /// (the last one is the six-year end), if any.
    pub fn next_anniversary(&self, on: Date) -> Option<Date> {
        (1..=MAX_YEARS)
            .map(|k| self.anniversary(k))
            .find(|a| *a > on)
    }

    /// CONV-5: the last receipt date for a notice to end the agreement at
    /// `anniversary`.
    pub fn notice_deadline(anniversary: Date) -> Date {
        add_months(anniversary, -NOTICE_MONTHS)
    }

    /// CONV-5: the anniversary at which a notice received on `received`
    /// ends the agreement: the first one at least three months away; a late
    /// notice moves to the next anniversary. `None` when no anniversary is
    /// left (the agreement ends at its six-year end anyway).
    pub fn notice_takes_effect(&self, received: Date) -> Option<Date> {
        (1..=MAX_YEARS)
            .map(|k| self.anniversary(k))
            .find(|a| received <= Self::notice_deadline(*a))
    }

    /// The last day in force after a notice received on `received` (the day
    /// before the anniversary), or the six-year end.
    pub fn end_after_notice(&self, received: Date) -> Date {
        match self.notice_takes_effect(received) {
            Some(anniversary) => anniversary - Duration::days(1),
            None => self.final_end(),
        }
    }
}

/// CONV-6: the first day a party may terminate after a formal notice sent
/// on `sent` stayed without effect.
pub fn breach_termination_possible_from(sent: Date) -> Date {
    add_months(sent, BREACH_NOTICE_MONTHS)
}

/// CONV-8: the last day to notify a decision on a claim received on
/// `received`; without one, the claim is deemed rejected the day after.
pub fn dispute_answer_deadline(received: Date) -> Date {
    add_months(received, DISPUTE_ANSWER_MONTHS)
}

pub fn dispute_deemed_rejected_on(received: Date) -> Date {
    dispute_answer_deadline(received) + Duration::days(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    #[test]
    fn months_clamp_to_the_end_of_the_month() {
        assert_eq!(add_months(date!(2026 - 05 - 31), -3), date!(2026 - 02 - 28));
        assert_eq!(add_months(date!(2028 - 05 - 31), -3), date!(2028 - 02 - 29));
        assert_eq!(add_months(date!(2026 - 01 - 31), 1), date!(2026 - 02 - 28));
        assert_eq!(add_years(date!(2028 - 02 - 29), 1), date!(2029 - 02 - 28));
        assert_eq!(add_months(date!(2026 - 11 - 15), 2), date!(2027 - 01 - 15));
    }

    #[test]
    fn the_later_signature_sets_the_effective_date_conv_3() {
        let commune = date!(2026 - 03 - 02);
        let metropolis = date!(2026 - 04 - 15);
        assert_eq!(
            effective_date(Some(commune), Some(metropolis)),
            Some(metropolis)
        );
        assert_eq!(
            effective_date(Some(metropolis), Some(commune)),
            Some(metropolis)
        );
        assert_eq!(
            effective_date(Some(commune), None),
            None,
            "a draft signed by one party is not in force"
        );
    }

    #[test]
    fn adhesion_years_anniversaries_and_the_six_year_end_conv_3() {
        // Effective 15 April 2026: year 1 is 15/04/2026–14/04/2027, the
        // anniversaries fall on 15 April, year 6 ends on 14/04/2032.
        let c = AdhesionCalendar::new(date!(2026 - 04 - 15));
        let y1 = c.year(1).unwrap();
        assert_eq!(
            (y1.first_day, y1.last_day),
            (date!(2026 - 04 - 15), date!(2027 - 04 - 14))
        );
        assert_eq!(c.year_on(date!(2027 - 04 - 14)).unwrap().number, 1);
        assert_eq!(c.year_on(date!(2027 - 04 - 15)).unwrap().number, 2);
        assert_eq!(c.year_on(date!(2032 - 04 - 14)).unwrap().number, 6);
        assert_eq!(c.year_on(date!(2032 - 04 - 15)), None);
        assert_eq!(c.year_on(date!(2026 - 04 - 14)), None);
        assert_eq!(c.final_end(), date!(2032 - 04 - 14));
        assert_eq!(
            c.next_anniversary(date!(2026 - 11 - 28)),
            Some(date!(2027 - 04 - 15))
        );
        assert_eq!(c.next_anniversary(date!(2032 - 04 - 15)), None);
    }

    #[test]
    fn a_late_notice_moves_to_the_next_anniversary_conv_5() {
        // Anniversary 15/04/2027: deadline 15/01/2027 (three months before).
        let c = AdhesionCalendar::new(date!(2026 - 04 - 15));
        assert_eq!(
            AdhesionCalendar::notice_deadline(date!(2027 - 04 - 15)),
            date!(2027 - 01 - 15)
        );
        // Received on the deadline: ends at that anniversary (last day 14/04/2027).
        assert_eq!(
            c.notice_takes_effect(date!(2027 - 01 - 15)),
            Some(date!(2027 - 04 - 15))
        );
        assert_eq!(
            c.end_after_notice(date!(2027 - 01 - 15)),
            date!(2027 - 04 - 14)
        );
        // One day late: tacit renewal, ends a year later.
        assert_eq!(
            c.notice_takes_effect(date!(2027 - 01 - 16)),
            Some(date!(2028 - 04 - 15))
        );
        assert_eq!(
            c.end_after_notice(date!(2027 - 01 - 16)),
            date!(2028 - 04 - 14)
        );
        // Too late for the last anniversary: the six-year end.
        assert_eq!(c.notice_takes_effect(date!(2032 - 01 - 16)), None);
        assert_eq!(
            c.end_after_notice(date!(2032 - 01 - 16)),
            date!(2032 - 04 - 14)
        );
    }

    #[test]
    fn breach_notices_wait_two_months_conv_6() {
        assert_eq!(
            breach_termination_possible_from(date!(2026 - 12 - 31)),
            date!(2027 - 02 - 28)
        );
        assert_eq!(
            breach_termination_possible_from(date!(2026 - 03 - 10)),
            date!(2026 - 05 - 10)
        );
    }

    #[test]
    fn disputes_are_deemed_rejected_after_one_month_conv_8() {
        // Received 31 January 2027: answer by 28 February, rejected from 1 March.
        assert_eq!(
            dispute_answer_deadline(date!(2027 - 01 - 31)),
            date!(2027 - 02 - 28)
        );
        assert_eq!(
            dispute_deemed_rejected_on(date!(2027 - 01 - 31)),
            date!(2027 - 03 - 01)
        );
        assert_eq!(
            dispute_deemed_rejected_on(date!(2026 - 06 - 10)),
            date!(2026 - 07 - 11)
        );
    }

    fn any_date() -> impl Strategy<Value = Date> {
        (2000i32..2090, 1u16..=365).prop_map(|(y, d)| Date::from_ordinal_date(y, d).unwrap())
    }

    proptest! {
        #[test]
        fn the_notice_deadline_is_three_months_before_the_end_conv_5(effective in any_date(), offset in 0i64..2400) {
            let c = AdhesionCalendar::new(effective);
            let received = effective + Duration::days(offset);
            let end = c.end_after_notice(received);
            prop_assert!(end <= c.final_end());
            if let Some(anniversary) = c.notice_takes_effect(received) {
                prop_assert!(received <= AdhesionCalendar::notice_deadline(anniversary));
                prop_assert_eq!(end + Duration::days(1), anniversary);
                // No earlier anniversary would have accepted it.
                let k = (1..=MAX_YEARS).find(|k| c.anniversary(*k) == anniversary).unwrap();
                if k > 1 {
                    prop_assert!(received > AdhesionCalendar::notice_deadline(c.anniversary(k - 1)));
                }
            }
        }

        #[test]
        fn adhesion_years_tile_the_six_years(effective in any_date()) {
            let c = AdhesionCalendar::new(effective);
            let mut next = effective;
            let mut total = 0;
            for k in 1..=MAX_YEARS {
                let y = c.year(k).unwrap();
                prop_assert_eq!(y.first_day, next);
                total += days_inclusive(y.first_day, y.last_day);
                next = y.last_day + Duration::days(1);
            }
            prop_assert_eq!(next - Duration::days(1), c.final_end());
            prop_assert_eq!(total, days_inclusive(effective, c.final_end()));
        }
    }
}
