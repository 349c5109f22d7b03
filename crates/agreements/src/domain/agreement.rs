//! Where a framework agreement stands (CONV-3 to CONV-6), from its dates.

use time::{Date, Duration};

use super::calendar::{
    AdhesionCalendar, AdhesionYear, MAX_YEARS, breach_termination_possible_from, effective_date,
};
use super::contribution::EndReason;

/// One of the two parties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Commune,
    Metropolis,
}

impl Party {
    pub fn code(self) -> &'static str {
        match self {
            Party::Commune => "commune",
            Party::Metropolis => "metropolis",
        }
    }
    pub fn parse(code: &str) -> Option<Party> {
        match code {
            "commune" => Some(Party::Commune),
            "metropolis" => Some(Party::Metropolis),
            _ => None,
        }
    }
    pub fn label_fr(self) -> &'static str {
        match self {
            Party::Commune => "la commune",
            Party::Metropolis => "la Métropole",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            Party::Commune => "the commune",
            Party::Metropolis => "the metropolis",
        }
    }
    /// CONV-6: a formal notice sent by one party names the other as the one
    /// in breach; terminating on it ends the agreement for that breach.
    pub fn breach_of_other(self) -> EndReason {
        match self {
            Party::Metropolis => EndReason::CommuneBreach,
            Party::Commune => EndReason::MetropolisBreach,
        }
    }
}

impl EndReason {
    pub fn code(self) -> &'static str {
        match self {
            EndReason::Notice => "notice",
            EndReason::CommuneBreach => "commune_breach",
            EndReason::MetropolisBreach => "metropolis_breach",
        }
    }
    pub fn parse(code: &str) -> Option<EndReason> {
        match code {
            "notice" => Some(EndReason::Notice),
            "commune_breach" => Some(EndReason::CommuneBreach),
            "metropolis_breach" => Some(EndReason::MetropolisBreach),
            _ => None,
        }
    }
    pub fn label_fr(self) -> &'static str {
        match self {
            EndReason::Notice => "résiliation à échéance (préavis) ou terme",
            EndReason::CommuneBreach => "résiliation pour manquement de la commune",
            EndReason::MetropolisBreach => "résiliation pour manquement de la Métropole",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            EndReason::Notice => "ended at an anniversary (notice) or at term",
            EndReason::CommuneBreach => "terminated for the commune's breach",
            EndReason::MetropolisBreach => "terminated for the metropolis's breach",
        }
    }
}

/// The facts recorded about an agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgreementDates {
    pub commune_signed: Option<Date>,
    pub metropolis_signed: Option<Date>,
    /// The last day in force when an end was recorded (notice, breach).
    pub ended: Option<(Date, EndReason)>,
}

/// Where the agreement stands on a given day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgreementState {
    /// Not signed by both parties yet.
    Draft,
    /// Signed; takes effect on the later signature's date, still ahead.
    Signed { effective: Date },
    /// In force: the adhesion year, and the next chance to end it by notice.
    InForce {
        effective: Date,
        year: AdhesionYear,
        /// The next anniversary at which a notice can still end it, and
        /// the last day for that notice to be received (CONV-5).
        next_notice: Option<(Date, Date)>,
        /// The last day in force: the recorded end or the six-year end.
        last_day: Date,
    },
    Ended {
        effective: Date,
        last_day: Date,
        reason: EndReason,
    },
}

impl AgreementDates {
    pub fn effective(&self) -> Option<Date> {
        effective_date(self.commune_signed, self.metropolis_signed)
    }

    /// The last day in force: the recorded end, or six years less a day.
    pub fn last_day(&self) -> Option<Date> {
        let effective = self.effective()?;
        let final_end = AdhesionCalendar::new(effective).final_end();
        Some(
            self.ended
                .map(|(d, _)| d.min(final_end))
                .unwrap_or(final_end),
        )
    }

    pub fn state(&self, today: Date) -> AgreementState {
        let Some(effective) = self.effective() else {
            return AgreementState::Draft;
        };
        if today < effective {
            return AgreementState::Signed { effective };
        }
        let calendar = AdhesionCalendar::new(effective);
        let last_day = self.last_day().expect("effective");
        if today > last_day {
            let reason = self.ended.map(|(_, r)| r).unwrap_or(EndReason::Notice);
            return AgreementState::Ended {
                effective,
                last_day,
                reason,
            };
        }
        let year = calendar.year_on(today).expect("in force within six years");
        // No notice is useful once an end is recorded.
        let next_notice = if self.ended.is_some() {
            None
        } else {
            (1..=MAX_YEARS)
                .map(|k| calendar.anniversary(k))
                .map(|a| (a, AdhesionCalendar::notice_deadline(a)))
                .find(|(_, deadline)| *deadline >= today)
                .filter(|(a, _)| *a - Duration::days(1) <= last_day)
        };
        AgreementState::InForce {
            effective,
            year,
            next_notice,
            last_day,
        }
    }
}

/// CONV-6: whether a termination for breach may be recorded on `on` after a
/// formal notice sent on `sent`.
pub fn may_terminate_for_breach(sent: Date, on: Date) -> bool {
    on >= breach_termination_possible_from(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn signed(c: Date, m: Date) -> AgreementDates {
        AgreementDates {
            commune_signed: Some(c),
            metropolis_signed: Some(m),
            ended: None,
        }
    }

    #[test]
    fn a_draft_until_both_signed_then_in_force_from_the_later_conv_3() {
        let draft = AgreementDates {
            commune_signed: Some(date!(2026 - 03 - 02)),
            metropolis_signed: None,
            ended: None,
        };
        assert_eq!(draft.state(date!(2026 - 06 - 01)), AgreementState::Draft);
        let a = signed(date!(2026 - 03 - 02), date!(2026 - 04 - 15));
        assert_eq!(
            a.state(date!(2026 - 04 - 14)),
            AgreementState::Signed {
                effective: date!(2026 - 04 - 15)
            }
        );
        match a.state(date!(2026 - 11 - 28)) {
            AgreementState::InForce {
                year,
                next_notice,
                last_day,
                ..
            } => {
                assert_eq!(year.number, 1);
                // Next anniversary 15/04/2027, notice by 15/01/2027.
                assert_eq!(
                    next_notice,
                    Some((date!(2027 - 04 - 15), date!(2027 - 01 - 15)))
                );
                assert_eq!(last_day, date!(2032 - 04 - 14));
            }
            other => panic!("{other:?}"),
        }
        // After 15/01/2027 the next useful deadline is 15/01/2028.
        match a.state(date!(2027 - 01 - 16)) {
            AgreementState::InForce { next_notice, .. } => {
                assert_eq!(
                    next_notice,
                    Some((date!(2028 - 04 - 15), date!(2028 - 01 - 15)))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            a.state(date!(2032 - 04 - 15)),
            AgreementState::Ended {
                reason: EndReason::Notice,
                ..
            }
        ));
    }

    #[test]
    fn a_recorded_end_stops_the_notices_and_ends_it_conv_5() {
        let mut a = signed(date!(2026 - 01 - 05), date!(2026 - 01 - 05));
        a.ended = Some((date!(2028 - 01 - 04), EndReason::Notice));
        match a.state(date!(2027 - 06 - 01)) {
            AgreementState::InForce {
                next_notice,
                last_day,
                ..
            } => {
                assert_eq!(next_notice, None);
                assert_eq!(last_day, date!(2028 - 01 - 04));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            a.state(date!(2028 - 01 - 05)),
            AgreementState::Ended {
                effective: date!(2026 - 01 - 05),
                last_day: date!(2028 - 01 - 04),
                reason: EndReason::Notice
            }
        );
    }

    #[test]
    fn a_formal_notice_names_the_other_party_in_breach_conv_6() {
        assert_eq!(
            Party::Metropolis.breach_of_other(),
            EndReason::CommuneBreach
        );
        assert_eq!(
            Party::Commune.breach_of_other(),
            EndReason::MetropolisBreach
        );
        assert!(!may_terminate_for_breach(
            date!(2026 - 09 - 30),
            date!(2026 - 11 - 29)
        ));
        assert!(may_terminate_for_breach(
            date!(2026 - 09 - 30),
            date!(2026 - 11 - 30)
        ));
    }
}
