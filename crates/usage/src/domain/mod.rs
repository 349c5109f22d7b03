//! Pure rules of open-data publication.

pub mod suppression;
