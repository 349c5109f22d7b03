//! Persistence of the agreements area. One SQL path for SQLite and
//! PostgreSQL. Every read for staff takes a [`kernel::web::Scope`] (OPS-7).

mod agreements;
mod documents;
mod orders;
mod organisations;
mod references;

pub use agreements::*;
pub use documents::*;
pub use orders::*;
pub use organisations::*;
pub use references::*;

use time::Date;

/// Dates are stored as ISO text.
pub fn parse_date(text: &str) -> Result<Date, sqlx::Error> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format)
        .map_err(|e| sqlx::Error::Decode(format!("bad date {text:?}: {e}").into()))
}

pub(crate) fn parse_opt_date(text: Option<String>) -> Result<Option<Date>, sqlx::Error> {
    text.as_deref().map(parse_date).transpose()
}
