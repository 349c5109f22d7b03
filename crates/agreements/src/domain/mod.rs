//! Pure rules of the agreements area: organisations and their identifiers
//! (CONV-1), population series, the services catalogue (CONV-2).

pub mod communes_csv;
pub mod organisation;

pub use organisation::{InseeCode, Population, ServiceCode, Siren};
