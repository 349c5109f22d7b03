//! Identifiers that cannot hold invalid values ("parse, don't validate").

use std::fmt;

/// A commune's INSEE code: five characters, digits, or `2A`/`2B` followed by
/// three digits for Corsica.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InseeCode(String);

impl InseeCode {
    pub fn parse(text: &str) -> Result<InseeCode, String> {
        let t = text.trim();
        let ok = t.len() == 5
            && (t.bytes().all(|b| b.is_ascii_digit())
                || ((t.starts_with("2A") || t.starts_with("2B"))
                    && t[2..].bytes().all(|b| b.is_ascii_digit())));
        if ok {
            Ok(InseeCode(t.to_string()))
        } else {
            Err(format!(
                "INSEE code {t:?} is not five digits (or 2A/2B and three digits)"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InseeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SIREN: nine digits whose Luhn checksum holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Siren(String);

impl Siren {
    pub fn parse(text: &str) -> Result<Siren, String> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if t.len() != 9 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("SIREN {t:?} is not nine digits"));
        }
        if !luhn(&t) {
            return Err(format!("SIREN {t} fails its checksum (Luhn)"));
        }
        Ok(Siren(t))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// One value of a commune's population series (CONV-1): the legal
/// population of INSEE vintage `vintage`, in force from `in_force_from`
/// (legal populations are in force from 1 January, three years after their
/// vintage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Population {
    pub value: i64,
    pub vintage: i32,
    pub in_force_from: time::Date,
}

/// A service's code: lowercase letters, digits, `.`, `-`; 2 to 40 characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceCode(String);

impl ServiceCode {
    pub fn parse(text: &str) -> Result<ServiceCode, String> {
        let t = text.trim();
        let ok = (2..=40).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if ok {
            Ok(ServiceCode(t.to_string()))
        } else {
            Err(format!(
                "service code {t:?} must be 2 to 40 lowercase letters, digits, '.' or '-'"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insee_codes_conv_1() {
        assert!(InseeCode::parse("69123").is_ok());
        assert!(InseeCode::parse("2A004").is_ok());
        assert!(InseeCode::parse("6912").is_err());
        assert!(InseeCode::parse("69A23").is_err());
        assert!(InseeCode::parse("691234").is_err());
    }

    #[test]
    fn siren_checksum_conv_1() {
        // Lyon and the Métropole de Lyon, from the real reference data.
        assert!(Siren::parse("216901231").is_ok());
        assert!(Siren::parse("200046977").is_ok());
        // One digit changed breaks the Luhn sum.
        assert!(Siren::parse("216901232").unwrap_err().contains("checksum"));
        assert!(
            Siren::parse("21690123")
                .unwrap_err()
                .contains("nine digits")
        );
    }

    #[test]
    fn service_codes() {
        assert!(ServiceCode::parse("laclasse.com").is_ok());
        assert!(ServiceCode::parse("toodego").is_ok());
        assert!(ServiceCode::parse("Toodego").is_err());
        assert!(ServiceCode::parse("a").is_err());
    }
}
