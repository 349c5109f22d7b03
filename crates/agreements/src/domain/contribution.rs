//! Contributions (FIN-1 to FIN-4, FIN-6), with SPEC.md's Decisions:
//! population in force on 31 December N−1 (1), SYNTEC value published on or
//! before 1 January N (2), pro rata by days (3), the +10 % cap in the first
//! billing year whichever it is (4), rounding per line (5).

use rust_decimal::Decimal;
use time::{Date, Duration};

use super::calendar::{days_in_year, days_inclusive, first_day, last_day};
use super::money::{round_cent, round4};

/// One published value of the SYNTEC index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntecValue {
    pub year: i32,
    pub month: u8,
    pub value: Decimal,
    pub published_on: Date,
}

#[derive(Clone, Debug, Default)]
pub struct SyntecSeries {
    values: Vec<SyntecValue>,
}

impl SyntecSeries {
    pub fn new(values: Vec<SyntecValue>) -> SyntecSeries {
        SyntecSeries { values }
    }

    /// Decision 2: the most recent month among the values published on or
    /// before `date`.
    pub fn known_on(&self, date: Date) -> Option<&SyntecValue> {
        self.values
            .iter()
            .filter(|v| v.published_on <= date)
            .max_by_key(|v| (v.year, v.month, v.published_on))
    }

    /// FIN-1: S(N), known on 1 January N.
    pub fn for_year(&self, year: i32) -> Option<&SyntecValue> {
        self.known_on(first_day(year))
    }
}

/// A commune's legal populations: value in force from a date.
#[derive(Clone, Debug, Default)]
pub struct PopulationSeries {
    values: Vec<(Date, i64)>,
}

impl PopulationSeries {
    pub fn new(mut values: Vec<(Date, i64)>) -> PopulationSeries {
        values.sort_by_key(|(from, _)| *from);
        PopulationSeries { values }
    }

    pub fn in_force_on(&self, date: Date) -> Option<i64> {
        self.values
            .iter()
            .rev()
            .find(|(from, _)| *from <= date)
            .map(|(_, v)| *v)
    }

    /// Decision 1: population(N) is the one in force on 31 December N−1.
    pub fn for_year(&self, year: i32) -> Option<i64> {
        self.in_force_on(last_day(year - 1))
    }
}

/// A population bracket (FIN-6): applies when population ≤ `up_to`
/// (`None`: no upper bound).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bracket {
    pub up_to: Option<i64>,
    pub amount: Decimal,
}

/// The pricing model of an annex (FIN-1, FIN-6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pricing {
    Standard {
        base: Decimal,
        per_inhabitant: Decimal,
    },
    PerUnit {
        price: Decimal,
    },
    Brackets(Vec<Bracket>),
    Free,
}

impl Pricing {
    /// Whether the population enters the amount.
    pub fn needs_population(&self) -> bool {
        matches!(self, Pricing::Standard { .. } | Pricing::Brackets(_))
    }
}

/// What FIN-3's pro rata applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prorata {
    Whole,
    /// Only the base part of the standard model.
    BaseOnly,
}

/// An annex's financial terms (FIN-1, FIN-6): the services catalogue holds
/// the defaults, each annex keeps its own copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terms {
    pub pricing: Pricing,
    /// The SYNTEC reference value S0.
    pub s0: Decimal,
    pub fixed_part: Decimal,
    pub prorata: Prorata,
}

impl Prorata {
    pub fn code(self) -> &'static str {
        match self {
            Prorata::Whole => "whole",
            Prorata::BaseOnly => "base_only",
        }
    }
    pub fn parse(code: &str) -> Option<Prorata> {
        match code {
            "whole" => Some(Prorata::Whole),
            "base_only" => Some(Prorata::BaseOnly),
            _ => None,
        }
    }
}

/// FIN-1: `fixed_part + (1 − fixed_part) × S(N) / S0`, half-up to 4 decimals.
pub fn coefficient(fixed_part: Decimal, syntec: Decimal, s0: Decimal) -> Decimal {
    round4(fixed_part + (Decimal::ONE - fixed_part) * syntec / s0)
}

/// Why a target cannot be computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    MissingUnits,
    NoBracket(i64),
}

/// FIN-1 and FIN-6: the target contribution of year N, before the transition
/// regime and any pro rata.
pub fn target(
    pricing: &Pricing,
    population: Option<i64>,
    units: Option<Decimal>,
    coefficient: Decimal,
) -> Result<Decimal, TargetError> {
    let population = Decimal::from(population.unwrap_or(0));
    let amount = match pricing {
        Pricing::Standard {
            base,
            per_inhabitant,
        } => (base + per_inhabitant * population) * coefficient,
        Pricing::PerUnit { price } => price * units.ok_or(TargetError::MissingUnits)? * coefficient,
        Pricing::Brackets(brackets) => {
            let p = population.try_into().unwrap_or(i64::MAX);
            let bracket = brackets
                .iter()
                .find(|b| b.up_to.is_none_or(|up_to| p <= up_to))
                .ok_or(TargetError::NoBracket(p))?;
            bracket.amount * coefficient
        }
        Pricing::Free => Decimal::ZERO,
    };
    Ok(round_cent(amount))
}

/// FIN-2: the transition regime of a commune that already paid `previous`
/// for the service before the agreement. Feed it the targets year after
/// year, from the annex's first year.
#[derive(Clone, Debug)]
pub struct Transition {
    previous: Option<Decimal>,
    /// Last year's annual amount (before pro rata), once there is one.
    last: Option<Decimal>,
    ended: bool,
}

/// The annual amount of a year and the FIN-2 cap applied to it (`None`
/// outside the regime).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Annual {
    pub amount: Decimal,
    pub cap: Option<Decimal>,
}

impl Transition {
    pub fn new(previous: Option<Decimal>) -> Transition {
        Transition {
            previous,
            last: None,
            ended: previous.is_none(),
        }
    }

    pub fn next(&mut self, target: Decimal) -> Annual {
        let Some(previous) = self.previous.filter(|_| !self.ended) else {
            return Annual {
                amount: target,
                cap: None,
            };
        };
        let cap = match self.last {
            // First billing year: the target when it does not exceed what
            // was paid, otherwise at most +10 %.
            None if target <= previous => {
                self.ended = true;
                return Annual {
                    amount: target,
                    cap: None,
                };
            }
            None => round_cent(previous * Decimal::new(110, 2)),
            // Following years: at most +5 % on last year.
            Some(last) => round_cent(last * Decimal::new(105, 2)),
        };
        let amount = target.min(cap);
        // The regime ends with the first year whose amount is the target.
        self.ended = amount == target;
        self.last = Some(amount);
        Annual {
            amount,
            cap: Some(cap),
        }
    }
}

/// Why an annex ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Notice at an anniversary (CONV-5), or the six-year end.
    Notice,
    CommuneBreach,
    MetropolisBreach,
}

/// When an annex is in force: from `start` (or from 1 January of its first
/// year when it continues a service paid before the agreement) to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnexPeriod {
    pub start: Date,
    pub continuing: bool,
    /// The last day in force, and why.
    pub end: Option<(Date, EndReason)>,
}

impl AnnexPeriod {
    pub fn first_year(&self) -> i32 {
        self.start.year()
    }
    /// The last year billed.
    pub fn last_year(&self) -> Option<i32> {
        self.end.map(|(date, _)| date.year())
    }
    fn in_force_from(&self) -> Date {
        if self.continuing {
            first_day(self.start.year())
        } else {
            self.start
        }
    }
}

/// How a year is billed (FIN-3, FIN-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YearBill {
    /// Days billed when not the whole year.
    pub prorata_days: Option<i64>,
    pub days_in_year: i64,
    pub due: Decimal,
    pub refund: Decimal,
}

/// The standard model's parts, for a pro rata on the base only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseOnly {
    pub base: Decimal,
    pub per_inhabitant: Decimal,
    pub population: i64,
    pub coefficient: Decimal,
}

/// FIN-3 and FIN-4: what is due for `year` on an annual amount.
pub fn bill_year(
    year: i32,
    period: &AnnexPeriod,
    annual: Decimal,
    base_only: Option<BaseOnly>,
) -> YearBill {
    let diy = days_in_year(year);
    let first = period.in_force_from().max(first_day(year));
    let mut last = last_day(year);
    let mut after_end = 0;
    if let Some((end, reason)) = period.end.filter(|(end, _)| end.year() == year) {
        match reason {
            // The last year is billed up to the end date.
            EndReason::Notice => last = end,
            // Fully due.
            EndReason::CommuneBreach => {}
            // Due as if there were no end, then refunded after the end.
            EndReason::MetropolisBreach => {
                after_end = days_inclusive(end + Duration::days(1), last_day(year))
            }
        }
    }
    let days = days_inclusive(first, last);
    let prorata_days = (days != diy).then_some(days);
    let due = match (prorata_days, base_only) {
        (None, _) => annual,
        (Some(days), None) => round_cent(annual * Decimal::from(days) / Decimal::from(diy)),
        (Some(days), Some(p)) => {
            let base = p.base * Decimal::from(days) / Decimal::from(diy);
            // Never more than the (possibly capped) annual amount.
            round_cent((base + p.per_inhabitant * Decimal::from(p.population)) * p.coefficient)
                .min(annual)
        }
    };
    let refund = round_cent(due * Decimal::from(after_end) / Decimal::from(diy));
    YearBill {
        prorata_days,
        days_in_year: diy,
        due,
        refund,
    }
}

/// What an annex costs in one year, with its whole basis of computation
/// (FIN-5's line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct YearLine {
    pub year: i32,
    pub population: Option<i64>,
    pub syntec: Decimal,
    pub coefficient: Decimal,
    pub target: Decimal,
    pub transition_cap: Option<Decimal>,
    pub annual_amount: Decimal,
    pub prorata_days: Option<i64>,
    pub days_in_year: i64,
    pub due: Decimal,
    pub refund: Decimal,
}

/// What the computation lacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No SYNTEC value published on or before 1 January of that year.
    Syntec(i32),
    /// No population in force on 31 December before that year.
    Population(i32),
    Units,
    NoBracket {
        population: i64,
        year: i32,
    },
}

/// An annex as the computation needs it.
#[derive(Clone, Copy, Debug)]
pub struct AnnexBasis<'a> {
    pub terms: &'a Terms,
    pub period: AnnexPeriod,
    pub previous: Option<Decimal>,
    pub units: Option<Decimal>,
}

/// FIN-1 to FIN-4 for every year of an annex from its first to `to` (or its
/// end), in order: the transition regime of a year depends on the years
/// before it.
pub fn annex_years(
    annex: &AnnexBasis<'_>,
    populations: &PopulationSeries,
    syntec: impl Fn(i32) -> Option<Decimal>,
    to: i32,
    mut emit: impl FnMut(&YearLine),
) -> Result<(), Missing> {
    let terms = annex.terms;
    let mut transition = Transition::new(annex.previous);
    let last = annex.period.last_year().unwrap_or(to).min(to);
    for year in annex.period.first_year()..=last {
        let s = syntec(year).ok_or(Missing::Syntec(year))?;
        let population = populations.for_year(year);
        if terms.pricing.needs_population() && population.is_none() {
            return Err(Missing::Population(year));
        }
        let coefficient = coefficient(terms.fixed_part, s, terms.s0);
        let target =
            target(&terms.pricing, population, annex.units, coefficient).map_err(|e| match e {
                TargetError::MissingUnits => Missing::Units,
                TargetError::NoBracket(population) => Missing::NoBracket { population, year },
            })?;
        let annual = transition.next(target);
        let base_only = match (&terms.pricing, terms.prorata) {
            (
                Pricing::Standard {
                    base,
                    per_inhabitant,
                },
                Prorata::BaseOnly,
            ) => Some(BaseOnly {
                base: *base,
                per_inhabitant: *per_inhabitant,
                population: population.unwrap_or(0),
                coefficient,
            }),
            _ => None,
        };
        let bill = bill_year(year, &annex.period, annual.amount, base_only);
        emit(&YearLine {
            year,
            population,
            syntec: s,
            coefficient,
            target,
            transition_cap: annual.cap,
            annual_amount: annual.amount,
            prorata_days: bill.prorata_days,
            days_in_year: bill.days_in_year,
            due: bill.due,
            refund: bill.refund,
        });
    }
    Ok(())
}

/// FIN-5 and CGCT D1611-1: a debt under 15 € is not put into collection.
pub fn collectable(total: Decimal) -> bool {
    total >= Decimal::new(15, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::parse_decimal;
    use proptest::prelude::*;
    use time::macros::date;

    fn d(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    fn syntec() -> SyntecSeries {
        let v = |year, month, value: &str, published_on| SyntecValue {
            year,
            month,
            value: d(value),
            published_on,
        };
        SyntecSeries::new(vec![
            v(2024, 10, "315.0", date!(2024 - 11 - 30)),
            v(2024, 12, "314.8", date!(2025 - 01 - 31)),
            v(2025, 9, "321.7", date!(2025 - 10 - 31)),
            v(2025, 10, "322.2", date!(2025 - 11 - 28)),
        ])
    }

    #[test]
    fn syntec_is_the_value_known_on_1_january_decision_2() {
        // Published on 31/01/2025, the December 2024 value is not known on
        // 1 January 2025: S(2025) is October 2024's 315.0.
        assert_eq!(syntec().for_year(2025).unwrap().value, d("315.0"));
        assert_eq!(syntec().for_year(2026).unwrap().value, d("322.2"));
        assert_eq!(syntec().for_year(2027).unwrap().value, d("322.2"));
        assert!(syntec().for_year(2024).is_none());
    }

    #[test]
    fn population_is_the_one_in_force_on_31_december_n_minus_1_decision_1() {
        let p = PopulationSeries::new(vec![
            (date!(2026 - 01 - 01), 163_684),
            (date!(2025 - 01 - 01), 162_207),
        ]);
        assert_eq!(
            p.for_year(2026),
            Some(162_207),
            "2026 uses the population in force on 31/12/2025"
        );
        assert_eq!(p.for_year(2027), Some(163_684));
        assert_eq!(p.for_year(2025), None);
    }

    #[test]
    fn standard_target_fin_1() {
        // Bron, Toodego: coefficient = 322.2 / 315.0 = 1.022857… → 1.0229;
        // (2000 + 0.04 × 42 850) × 1.0229 = 3714 × 1.0229 = 3799.0506 → 3799.05.
        let coef = coefficient(d("0"), d("322.2"), d("315.0"));
        assert_eq!(coef.to_string(), "1.0229");
        let pricing = Pricing::Standard {
            base: d("2000.00"),
            per_inhabitant: d("0.04"),
        };
        assert_eq!(
            target(&pricing, Some(42_850), None, coef)
                .unwrap()
                .to_string(),
            "3799.05"
        );
    }

    #[test]
    fn the_fixed_part_damps_the_revision_fin_1() {
        // 0.15 + 0.85 × 322.2 / 315.0 = 0.15 + 0.869428… = 1.019428… → 1.0194.
        assert_eq!(
            coefficient(d("0.15"), d("322.2"), d("315.0")).to_string(),
            "1.0194"
        );
        // A fully fixed price is never revised.
        assert_eq!(
            coefficient(d("1"), d("400"), d("315.0")).to_string(),
            "1.0000"
        );
    }

    #[test]
    fn other_pricing_models_fin_6() {
        let coef = d("1.0229");
        // 150 € × 12 school groups × 1.0229 = 1841.22.
        let per_unit = Pricing::PerUnit { price: d("150") };
        assert_eq!(
            target(&per_unit, None, Some(d("12")), coef)
                .unwrap()
                .to_string(),
            "1841.22"
        );
        assert_eq!(
            target(&per_unit, None, None, coef),
            Err(TargetError::MissingUnits)
        );
        // Brackets: ≤ 5000 → 500, then 2000; 5000 inhabitants is the first
        // bracket (500 × 1.0229 = 511.45), 5001 the second (2045.80).
        let brackets = Pricing::Brackets(vec![
            Bracket {
                up_to: Some(5000),
                amount: d("500.00"),
            },
            Bracket {
                up_to: None,
                amount: d("2000.00"),
            },
        ]);
        assert_eq!(
            target(&brackets, Some(5000), None, coef)
                .unwrap()
                .to_string(),
            "511.45"
        );
        assert_eq!(
            target(&brackets, Some(5001), None, coef)
                .unwrap()
                .to_string(),
            "2045.80"
        );
        let closed = Pricing::Brackets(vec![Bracket {
            up_to: Some(10),
            amount: d("1"),
        }]);
        assert_eq!(
            target(&closed, Some(11), None, coef),
            Err(TargetError::NoBracket(11))
        );
        assert_eq!(
            target(&Pricing::Free, Some(1), None, coef)
                .unwrap()
                .to_string(),
            "0.00"
        );
    }

    #[test]
    fn the_transition_regime_caps_then_grows_by_5_percent_fin_2() {
        // Bron paid 3000.00; target 3799.05 every year.
        // 2026: cap 3000 × 1.10 = 3300.00 → 3300.00
        // 2027: cap 3300 × 1.05 = 3465.00 → 3465.00
        // 2028: cap 3465 × 1.05 = 3638.25 → 3638.25
        // 2029: cap 3638.25 × 1.05 = 3820.1625 → 3820.16 > 3799.05 → the
        //       target, and the regime ends; 2030: the target, no cap.
        let mut t = Transition::new(Some(d("3000.00")));
        let target = d("3799.05");
        let years: Vec<(String, Option<String>)> = (0..5)
            .map(|_| t.next(target))
            .map(|a| (a.amount.to_string(), a.cap.map(|c| c.to_string())))
            .collect();
        let s = |a: &str, c: Option<&str>| (a.to_string(), c.map(str::to_string));
        assert_eq!(
            years,
            vec![
                s("3300.00", Some("3300.00")),
                s("3465.00", Some("3465.00")),
                s("3638.25", Some("3638.25")),
                s("3799.05", Some("3820.16")),
                s("3799.05", None),
            ]
        );
    }

    #[test]
    fn a_lower_target_applies_at_once_fin_2() {
        // Paid 4000.00 before; the target 3799.05 is lower: it applies, no cap.
        let mut t = Transition::new(Some(d("4000.00")));
        assert_eq!(
            t.next(d("3799.05")),
            Annual {
                amount: d("3799.05"),
                cap: None
            }
        );
        assert_eq!(
            t.next(d("3900.00")),
            Annual {
                amount: d("3900.00"),
                cap: None
            },
            "the regime is over"
        );
        // No previous amount: no regime at all.
        assert_eq!(Transition::new(None).next(d("10.00")).cap, None);
    }

    #[test]
    fn a_service_joined_in_april_is_billed_from_its_start_fin_3() {
        // Start 15/04/2026: 365 − 105 + 1 = 261 days;
        // 3799.05 × 261 / 365 = 991552.05 / 365 = 2716.5809… → 2716.58.
        let period = AnnexPeriod {
            start: date!(2026 - 04 - 15),
            continuing: false,
            end: None,
        };
        let bill = bill_year(2026, &period, d("3799.05"), None);
        assert_eq!(
            bill,
            YearBill {
                prorata_days: Some(261),
                days_in_year: 365,
                due: d("2716.58"),
                refund: d("0.00")
            }
        );
        let next = bill_year(2027, &period, d("3799.05"), None);
        assert_eq!((next.prorata_days, next.due), (None, d("3799.05")));
    }

    #[test]
    fn leap_years_count_366_days_fin_3() {
        // Start 01/03/2028 (leap year): 366 − 61 + 1 = 306 days;
        // 1000.00 × 306 / 366 = 836.0655… → 836.07.
        let period = AnnexPeriod {
            start: date!(2028 - 03 - 01),
            continuing: false,
            end: None,
        };
        let bill = bill_year(2028, &period, d("1000.00"), None);
        assert_eq!(
            (bill.prorata_days, bill.days_in_year, bill.due),
            (Some(306), 366, d("836.07"))
        );
    }

    #[test]
    fn pro_rata_on_the_base_only_fin_3() {
        // 261 days of 365: (2000 × 261/365 + 0.04 × 42 850) × 1.0229
        // = (1430.1369… + 1714) × 1.0229 = 3144.1369… × 1.0229 = 3216.1417… → 3216.14.
        let period = AnnexPeriod {
            start: date!(2026 - 04 - 15),
            continuing: false,
            end: None,
        };
        let parts = BaseOnly {
            base: d("2000.00"),
            per_inhabitant: d("0.04"),
            population: 42_850,
            coefficient: d("1.0229"),
        };
        assert_eq!(
            bill_year(2026, &period, d("3799.05"), Some(parts)).due,
            d("3216.14")
        );
    }

    #[test]
    fn a_continuing_service_is_not_pro_rated_in_its_first_year_fin_2() {
        let period = AnnexPeriod {
            start: date!(2026 - 04 - 15),
            continuing: true,
            end: None,
        };
        assert_eq!(
            bill_year(2026, &period, d("3300.00"), None).prorata_days,
            None
        );
    }

    #[test]
    fn the_last_year_after_notice_is_pro_rated_to_the_end_fin_4() {
        // Ends 14/04/2029 by notice: 31 + 28 + 31 + 14 = 104 days;
        // 3799.05 × 104 / 365 = 395101.2 / 365 = 1082.4690… → 1082.47.
        let period = AnnexPeriod {
            start: date!(2026 - 04 - 15),
            continuing: true,
            end: Some((date!(2029 - 04 - 14), EndReason::Notice)),
        };
        let bill = bill_year(2029, &period, d("3799.05"), None);
        assert_eq!(
            (bill.prorata_days, bill.due, bill.refund),
            (Some(104), d("1082.47"), d("0.00"))
        );
    }

    #[test]
    fn a_commune_breach_leaves_the_year_fully_due_fin_4() {
        let period = AnnexPeriod {
            start: date!(2026 - 01 - 01),
            continuing: false,
            end: Some((date!(2027 - 06 - 30), EndReason::CommuneBreach)),
        };
        let bill = bill_year(2027, &period, d("3799.05"), None);
        assert_eq!(
            (bill.prorata_days, bill.due, bill.refund),
            (None, d("3799.05"), d("0.00"))
        );
        // Joined and ended the same year: the FIN-3 pro rata stays due.
        let joined = AnnexPeriod {
            start: date!(2026 - 04 - 15),
            continuing: false,
            end: Some((date!(2026 - 09 - 30), EndReason::CommuneBreach)),
        };
        let bill = bill_year(2026, &joined, d("3799.05"), None);
        assert_eq!((bill.prorata_days, bill.due), (Some(261), d("2716.58")));
    }

    #[test]
    fn a_metropolis_breach_refunds_after_the_end_fin_4() {
        // Ends 30/06/2027 for the metropolis's breach: due 3799.05, refunded
        // for 01/07–31/12 = 184 days: 3799.05 × 184 / 365 = 699025.2 / 365
        // = 1915.1375… → 1915.14.
        let period = AnnexPeriod {
            start: date!(2026 - 01 - 01),
            continuing: false,
            end: Some((date!(2027 - 06 - 30), EndReason::MetropolisBreach)),
        };
        let bill = bill_year(2027, &period, d("3799.05"), None);
        assert_eq!(
            (bill.prorata_days, bill.due, bill.refund),
            (None, d("3799.05"), d("1915.14"))
        );
    }

    #[test]
    fn debts_under_15_euros_are_not_collected_fin_5() {
        assert!(!collectable(d("14.99")));
        assert!(collectable(d("15.00")));
    }

    fn cents() -> impl Strategy<Value = Decimal> {
        (0i64..2_000_000).prop_map(|c| Decimal::new(c, 2))
    }

    proptest! {
        #[test]
        fn transition_amounts_never_exceed_their_caps_fin_2(previous in cents(), targets in proptest::collection::vec(cents(), 1..8)) {
            let mut t = Transition::new(Some(previous));
            let mut last: Option<Decimal> = None;
            let mut ended = false;
            for target in targets {
                let a = t.next(target);
                prop_assert!(a.amount <= target);
                match last {
                    None if target > previous => prop_assert!(a.amount <= round_cent(previous * Decimal::new(110, 2))),
                    None => prop_assert_eq!(a.amount, target),
                    Some(l) if !ended => prop_assert!(a.amount <= round_cent(l * Decimal::new(105, 2))),
                    Some(_) => prop_assert_eq!(a.amount, target),
                }
                ended |= a.amount == target;
                if ended { prop_assert!(a.cap.is_none() || a.amount == target); }
                last = Some(a.amount);
            }
        }

        #[test]
        fn pro_rata_days_of_a_split_year_sum_to_the_year_fin_3_fin_4(year in 2000i32..2100, day in 2u16..=365) {
            // Leaving on the day before `split`, and joining on `split`.
            let split = Date::from_ordinal_date(year, day).unwrap();
            let leaving = AnnexPeriod { start: first_day(year - 1), continuing: false, end: Some((split - Duration::days(1), EndReason::Notice)) };
            let joining = AnnexPeriod { start: split, continuing: false, end: None };
            let a = bill_year(year, &leaving, Decimal::new(100_000, 2), None);
            let b = bill_year(year, &joining, Decimal::new(100_000, 2), None);
            prop_assert_eq!(a.prorata_days.unwrap() + b.prorata_days.unwrap(), days_in_year(year));
            // Each part is at most the annual amount; the two halves differ
            // from it by at most a cent of rounding.
            prop_assert!(a.due <= Decimal::new(100_000, 2) && b.due <= Decimal::new(100_000, 2));
            prop_assert!((a.due + b.due - Decimal::new(100_000, 2)).abs() <= Decimal::new(1, 2));
        }

        #[test]
        fn a_refund_never_exceeds_what_is_due_fin_4(annual in cents(), day in 1u16..=365) {
            let end = Date::from_ordinal_date(2027, day).unwrap();
            let period = AnnexPeriod { start: date!(2026 - 01 - 01), continuing: false, end: Some((end, EndReason::MetropolisBreach)) };
            let bill = bill_year(2027, &period, annual, None);
            prop_assert!(bill.refund <= bill.due);
            prop_assert_eq!(bill.due, annual);
        }
    }
}

/// FIN-7: the SYNTEC value assumed `years_ahead` years after the last known
/// one, growing by `growth_percent` a year; index values have one decimal.
pub fn projected_index(known: Decimal, growth_percent: Decimal, years_ahead: i32) -> Decimal {
    let factor = Decimal::ONE + growth_percent / Decimal::ONE_HUNDRED;
    let mut value = known;
    for _ in 0..years_ahead.max(0) {
        value *= factor;
    }
    value.round_dp_with_strategy(1, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod projection_tests {
    use super::*;

    #[test]
    fn the_index_grows_by_the_assumed_rate_fin_7() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        // 322.2 × 1.02 = 328.644 → 328.6; × 1.02² = 335.21688 → 335.2.
        assert_eq!(projected_index(d("322.2"), d("2"), 1), d("328.6"));
        assert_eq!(projected_index(d("322.2"), d("2"), 2), d("335.2"));
        assert_eq!(projected_index(d("322.2"), d("0"), 5), d("322.2"));
        assert_eq!(projected_index(d("322.2"), d("2"), 0), d("322.2"));
    }
}
