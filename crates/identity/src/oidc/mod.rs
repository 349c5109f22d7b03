//! ID-3: the OpenID Connect provider of the shared services.

pub mod clients;
pub mod discovery;
pub mod jwt;
pub mod keys;
