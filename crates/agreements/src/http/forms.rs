//! Reading form fields into the area's types, with messages people can act on.

use rust_decimal::Decimal;
use time::Date;

use crate::Error;
use crate::domain::agreement::Party;
use crate::domain::money::parse_decimal;

pub fn date(text: &str, label_fr: &str, label_en: &str) -> Result<Date, Error> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text.trim(), &format).map_err(|_| {
        Error::refused(
            format!("{label_fr} : saisissez une date valide (AAAA-MM-JJ)."),
            format!("{label_en}: enter a valid date (YYYY-MM-DD)."),
        )
    })
}

/// An optional amount: empty means none; otherwise a non-negative decimal
/// (a comma is accepted as the decimal separator).
pub fn amount(text: &str, label_fr: &str, label_en: &str) -> Result<Option<Decimal>, Error> {
    let t = text
        .trim()
        .replace(',', ".")
        .replace([' ', '\u{a0}', '\u{202f}'], "");
    if t.is_empty() {
        return Ok(None);
    }
    match parse_decimal(&t) {
        Ok(d) if !d.is_sign_negative() => Ok(Some(d)),
        _ => Err(Error::refused(
            format!("{label_fr} : saisissez un nombre positif, par exemple 3000,00."),
            format!("{label_en}: enter a positive number, e.g. 3000.00."),
        )),
    }
}

pub fn party(text: &str) -> Result<Party, Error> {
    Party::parse(text).ok_or_else(|| {
        Error::refused(
            "Choisissez la commune ou la Métropole.",
            "Choose the commune or the metropolis.",
        )
    })
}
