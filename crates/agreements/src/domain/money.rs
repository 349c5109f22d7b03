//! Euros, exactly (FIN, Decision 5): decimals, never binary floating point;
//! amounts rounded half-up to the cent per line, coefficients to 4 decimals.

use rust_decimal::{Decimal, RoundingStrategy};

/// Half-up to the cent (amounts are never negative, so half-up is "away
/// from zero").
pub fn round_cent(amount: Decimal) -> Decimal {
    let mut rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded
}

/// Half-up to 4 decimals (the revision coefficient, FIN-1).
pub fn round4(value: Decimal) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(4);
    rounded
}

/// `12.5` → `"12.50"`.
pub fn cents(amount: Decimal) -> String {
    round_cent(amount).to_string()
}

/// A decimal written as text (`"2000.00"`, `"0.04"`), exactly.
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let t = text.trim();
    if t.is_empty() || t.contains(['e', 'E']) {
        return Err(format!("{text:?} is not a decimal number"));
    }
    t.parse::<Decimal>()
        .map_err(|_| format!("{text:?} is not a decimal number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        parse_decimal(s).unwrap()
    }

    #[test]
    fn rounding_is_half_up_decision_5() {
        assert_eq!(cents(d("1082.465")), "1082.47");
        assert_eq!(cents(d("1082.4649")), "1082.46");
        assert_eq!(cents(d("3300")), "3300.00");
        assert_eq!(round4(d("1.02285714")).to_string(), "1.0229");
        assert_eq!(round4(d("1.00005")).to_string(), "1.0001");
        assert_eq!(round4(d("1")).to_string(), "1.0000");
    }

    #[test]
    fn decimals_are_parsed_exactly() {
        assert_eq!(d("0.1") + d("0.2"), d("0.3"));
        assert!(parse_decimal("1e3").is_err());
        assert!(parse_decimal("abc").is_err());
        assert!(parse_decimal("").is_err());
    }
}
