//! Pure rules of usage data and open data.

pub mod suppression;
pub mod visitor;
