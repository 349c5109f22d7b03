//! Pure rules of usage data and open data.

pub mod event;
pub mod open_data;
pub mod suppression;
pub mod visitor;
