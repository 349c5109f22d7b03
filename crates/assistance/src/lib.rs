//! User assistance ("SAU", SPEC.md SAU-1 to SAU-8): help requests from any
//! shared service, routed to the competent body, tracked and answered.

pub mod domain;
mod error;
pub mod http;
pub mod store;

pub use error::Error;
