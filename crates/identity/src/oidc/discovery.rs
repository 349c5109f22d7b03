//! ID-3: the discovery document (OpenID Connect Discovery 1.0) and the JWKS.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::AppState;
use serde_json::json;

use super::clients::SCOPES;
use super::keys::KeyStore;

/// The `acr` values this provider knows.
pub const ACR_VALUES: &[&str] = &[super::ACR_PASSWORD, super::ACR_CERTIFIED];

pub fn keys(app: &AppState) -> &KeyStore {
    app.extensions
        .get::<KeyStore>()
        .expect("the node composes the identity area with its key store")
}

pub async fn configuration(State(app): State<AppState>) -> Response {
    let issuer = &app.site.public_url;
    let claims: Vec<&str> = ["sub", "iss", "auth_time", "acr", "sid"]
        .into_iter()
        .chain(SCOPES.iter().flat_map(|(_, c)| c.iter().copied()))
        // A purpose the person consents to, not a claim a token carries.
        .filter(|c| *c != super::clients::USAGE_STATISTICS)
        .collect();
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oidc/authorize"),
        "token_endpoint": format!("{issuer}/oidc/token"),
        "userinfo_endpoint": format!("{issuer}/oidc/userinfo"),
        "jwks_uri": format!("{issuer}/oidc/jwks"),
        "revocation_endpoint": format!("{issuer}/oidc/revoke"),
        "introspection_endpoint": format!("{issuer}/oidc/introspect"),
        "end_session_endpoint": format!("{issuer}/oidc/logout"),
        "scopes_supported": SCOPES.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "acr_values_supported": ACR_VALUES,
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "ui_locales_supported": ["fr", "en"],
    });
    (
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        Json(doc),
    )
        .into_response()
}

pub async fn jwks(State(app): State<AppState>) -> Response {
    let ring = keys(&app).ring().await;
    (
        [
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        Json(ring.jwks()),
    )
        .into_response()
}
