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

/// The endpoints that services call from their servers with their own
/// credentials, never from a browser: no CSRF check, and no browser session
/// is looked up for them (a cookie sent there by mistake is ignored).
pub const SERVICE_ENDPOINTS: &[&str] = &[
    "/oidc/token",
    "/oidc/revoke",
    "/oidc/introspect",
    "/oidc/userinfo",
];
