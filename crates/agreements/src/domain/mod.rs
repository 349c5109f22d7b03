//! Pure rules of the agreements area: organisations and their identifiers
//! (CONV-1), population series, the services catalogue (CONV-2).

pub mod agreement;
pub mod calendar;
pub mod communes_csv;
pub mod contribution;
pub mod documents;
pub mod money;
pub mod orders;
pub mod organisation;

pub use organisation::{InseeCode, Population, ServiceCode, Siren};
