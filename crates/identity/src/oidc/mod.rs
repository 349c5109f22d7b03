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

/// ID-3: a session opened with a password.
pub const ACR_PASSWORD: &str = "urn:mutualis:acr:password";
/// ID-6: a session opened through FranceConnect: the person's identity is
/// certified (the ID token then carries `certified_at`). A service asks for
/// it with `acr_values`.
pub const ACR_CERTIFIED: &str = "urn:mutualis:acr:certified";

/// The endpoints that services call from their servers with their own
/// credentials, never from a browser: no CSRF check, and no browser session
/// is looked up for them (a cookie sent there by mistake is ignored).
pub const SERVICE_ENDPOINTS: &[&str] = &[
    "/oidc/token",
    "/oidc/revoke",
    "/oidc/introspect",
    "/oidc/userinfo",
];
