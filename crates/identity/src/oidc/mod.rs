//! ID-3: the OpenID Connect provider of the shared services.

pub mod authorize;
pub mod claims;
pub mod clients;
pub mod consents;
pub mod discovery;
pub mod jwt;
pub mod keys;
pub mod logout;
pub mod store;
pub mod token;
