//! Pure rules of user assistance.

pub mod attachment;
pub mod reference;
pub mod routing;
pub mod workflow;
pub mod working_days;
