//! Agreements and contributions: organisations and populations (CONV-1), the
//! services catalogue (CONV-2); later the framework agreements and
//! contributions (CONV, FIN).

pub mod archive;
pub mod billing;
pub mod domain;
pub mod error;
pub mod exports;
pub mod http;
pub mod jobs;
pub mod pdf;
pub mod simulate;
pub mod store;

pub use error::Error;
