//! ID-3: the OpenID Connect provider of the shared services.

pub mod jwt;
pub mod keys;
