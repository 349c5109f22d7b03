//! ID-2: the identity sheet's fields, each checked at the edge.

use time::Date;

/// A field of the identity sheet (the e-mail is the account's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    GivenNames,
    FamilyName,
    UsageName,
    Birthdate,
    Birthplace,
    Birthcountry,
    Gender,
    Phone,
    Street,
    Postcode,
    City,
    /// The INSEE code of the commune of the postal address: it decides the
    /// user's commune for help routing (SAU-2); `hors` outside the metropolis.
    Commune,
}

impl Field {
    pub const ALL: [Field; 12] = [
        Field::GivenNames,
        Field::FamilyName,
        Field::UsageName,
        Field::Birthdate,
        Field::Birthplace,
        Field::Birthcountry,
        Field::Gender,
        Field::Phone,
        Field::Street,
        Field::Postcode,
        Field::City,
        Field::Commune,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Field::GivenNames => "given_names",
            Field::FamilyName => "family_name",
            Field::UsageName => "usage_name",
            Field::Birthdate => "birthdate",
            Field::Birthplace => "birthplace",
            Field::Birthcountry => "birthcountry",
            Field::Gender => "gender",
            Field::Phone => "phone",
            Field::Street => "street",
            Field::Postcode => "postcode",
            Field::City => "city",
            Field::Commune => "commune",
        }
    }

    pub fn parse(code: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.code() == code)
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            Field::GivenNames => "Prénoms",
            Field::FamilyName => "Nom de naissance",
            Field::UsageName => "Nom d'usage",
            Field::Birthdate => "Date de naissance",
            Field::Birthplace => "Commune de naissance (code INSEE)",
            Field::Birthcountry => "Pays de naissance (code INSEE, 99100 pour la France)",
            Field::Gender => "Sexe",
            Field::Phone => "Téléphone",
            Field::Street => "Adresse (numéro et voie)",
            Field::Postcode => "Code postal",
            Field::City => "Ville",
            Field::Commune => "Commune de résidence",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Field::GivenNames => "Given names",
            Field::FamilyName => "Birth family name",
            Field::UsageName => "Usage name",
            Field::Birthdate => "Birth date",
            Field::Birthplace => "Birth place (INSEE commune code)",
            Field::Birthcountry => "Birth country (INSEE code, 99100 for France)",
            Field::Gender => "Gender",
            Field::Phone => "Phone",
            Field::Street => "Address (number and street)",
            Field::Postcode => "Postcode",
            Field::City => "City",
            Field::Commune => "Commune of residence",
        }
    }

    /// Checks and normalises a value; the error says what to type, in
    /// French then English.
    pub fn check(self, raw: &str, today: Date) -> Result<String, (&'static str, &'static str)> {
        let v = raw.trim();
        let name_like = |max: usize| -> Result<String, (&'static str, &'static str)> {
            let ok = (1..=max).contains(&v.chars().count())
                && v.chars()
                    .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '’' | '.'));
            if ok {
                Ok(v.split_whitespace().collect::<Vec<_>>().join(" "))
            } else {
                Err((
                    "des lettres, espaces, tirets ou apostrophes",
                    "letters, spaces, hyphens or apostrophes",
                ))
            }
        };
        match self {
            Field::GivenNames | Field::FamilyName | Field::UsageName => name_like(100),
            Field::City => name_like(100),
            Field::Birthdate => {
                let format = time::macros::format_description!("[year]-[month]-[day]");
                match Date::parse(v, &format) {
                    Ok(d) if d <= today && d.year() >= 1900 => Ok(d.to_string()),
                    _ => Err((
                        "une date passée au format AAAA-MM-JJ",
                        "a past date as YYYY-MM-DD",
                    )),
                }
            }
            Field::Birthplace => {
                let ok = v.len() == 5
                    && (v.bytes().all(|b| b.is_ascii_digit())
                        || ((v.starts_with("2A") || v.starts_with("2B"))
                            && v[2..].bytes().all(|b| b.is_ascii_digit())));
                if ok {
                    Ok(v.to_string())
                } else {
                    Err((
                        "un code INSEE de 5 caractères, par exemple 69123",
                        "a 5-character INSEE code, e.g. 69123",
                    ))
                }
            }
            Field::Birthcountry => {
                if v.len() == 5 && v.starts_with("99") && v.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(v.to_string())
                } else {
                    Err((
                        "un code pays INSEE commençant par 99, par exemple 99100",
                        "an INSEE country code starting with 99, e.g. 99100",
                    ))
                }
            }
            Field::Gender => match v {
                "female" | "male" => Ok(v.to_string()),
                _ => Err(("« féminin » ou « masculin »", "“female” or “male”")),
            },
            Field::Phone => {
                let digits: String = v
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '.' | '-'))
                    .collect();
                let ok = (6..=16).contains(&digits.len())
                    && digits
                        .chars()
                        .enumerate()
                        .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == '+'));
                if ok {
                    Ok(digits)
                } else {
                    Err((
                        "un numéro de téléphone, par exemple 04 72 00 00 00",
                        "a phone number, e.g. +33 4 72 00 00 00",
                    ))
                }
            }
            Field::Street => {
                if (1..=200).contains(&v.chars().count()) && !v.chars().any(char::is_control) {
                    Ok(v.to_string())
                } else {
                    Err((
                        "une adresse de 200 caractères au plus",
                        "an address of at most 200 characters",
                    ))
                }
            }
            Field::Postcode => {
                if v.len() == 5 && v.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(v.to_string())
                } else {
                    Err(("un code postal de 5 chiffres", "a 5-digit postcode"))
                }
            }
            Field::Commune => {
                let ok =
                    v == "hors" || (v.len() == 5 && v.bytes().all(|b| b.is_ascii_alphanumeric()));
                if ok {
                    Ok(v.to_string())
                } else {
                    Err(("une commune de la liste", "a commune from the list"))
                }
            }
        }
    }
}

/// Where a field's value came from (ID-2, ID-6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    User,
    /// Certified: read-only for the user (ID-6).
    FranceConnect,
}

impl Source {
    pub fn code(self) -> &'static str {
        match self {
            Source::User => "user",
            Source::FranceConnect => "franceconnect",
        }
    }
    pub fn parse(code: &str) -> Option<Source> {
        match code {
            "user" => Some(Source::User),
            "franceconnect" => Some(Source::FranceConnect),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn fields_are_checked_and_normalised_id_2() {
        let today = date!(2026 - 11 - 29);
        assert_eq!(
            Field::GivenNames.check("  Marie   Claire ", today),
            Ok("Marie Claire".into())
        );
        assert!(Field::FamilyName.check("<script>", today).is_err());
        assert_eq!(
            Field::FamilyName.check("D'Ornano-Lévêque", today),
            Ok("D'Ornano-Lévêque".into())
        );
        assert_eq!(
            Field::Birthdate.check("1980-02-29", today),
            Ok("1980-02-29".into())
        );
        assert!(
            Field::Birthdate.check("2027-01-01", today).is_err(),
            "not in the future"
        );
        assert!(
            Field::Birthdate.check("1981-02-29", today).is_err(),
            "not a date"
        );
        assert_eq!(Field::Birthplace.check("2A004", today), Ok("2A004".into()));
        assert!(Field::Birthcountry.check("12345", today).is_err());
        assert_eq!(
            Field::Phone.check("04 72 00 00 00", today),
            Ok("0472000000".into())
        );
        assert_eq!(
            Field::Phone.check("+33 4.72.00.00.00", today),
            Ok("+33472000000".into())
        );
        assert!(Field::Phone.check("appelez-moi", today).is_err());
        assert!(Field::Postcode.check("6900", today).is_err());
        assert!(Field::Gender.check("autre", today).is_err());
        for f in Field::ALL {
            assert_eq!(Field::parse(f.code()), Some(f));
        }
    }
}
