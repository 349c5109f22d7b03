//! SAU-4: public references `SAU-YYYY-NNNNNN`, numbered per year.

/// The reference of the `number`-th request of `year`.
pub fn format(year: i32, number: i64) -> String {
    format!("SAU-{year:04}-{number:06}")
}

/// The year and number of a reference, when it is one.
pub fn parse(reference: &str) -> Option<(i32, i64)> {
    let rest = reference.strip_prefix("SAU-")?;
    let (year, number) = rest.split_once('-')?;
    let digits = |s: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(year, 4..=4) || !digits(number, 6..=9) {
        return None;
    }
    let number: i64 = number.parse().ok()?;
    (number > 0).then_some((year.parse().ok()?, number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_of_sau_4() {
        assert_eq!(format(2026, 123), "SAU-2026-000123");
        assert_eq!(parse("SAU-2026-000123"), Some((2026, 123)));
        // Past a million requests in a year, the number grows.
        assert_eq!(format(2026, 1_234_567), "SAU-2026-1234567");
        assert_eq!(parse("SAU-2026-1234567"), Some((2026, 1_234_567)));
        for bad in [
            "",
            "SAU-2026-",
            "SAU-26-000123",
            "SAU-2026-00012",
            "sau-2026-000123",
            "SAU-2026-000000",
            "SAU-2026-00012a",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
