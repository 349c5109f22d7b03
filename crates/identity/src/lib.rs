//! Identity: accounts, sessions and roles (ID-1, ID-7, OPS-7); later the
//! OpenID Connect provider, consents and FranceConnect.

pub mod domain;
pub mod error;
pub mod franceconnect;
pub mod http;
pub mod oidc;
pub mod session;
pub mod store;

pub use error::Error;
