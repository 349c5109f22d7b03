//! Usage data and open data (DATA-1 to DATA-4): the services' usage events,
//! counted without tracking people; daily aggregates and the dashboards
//! shared with each commune; and what leaves the platform as open data,
//! with small counts hidden.

pub mod domain;
mod error;
pub mod http;
pub mod store;

pub use error::Error;
