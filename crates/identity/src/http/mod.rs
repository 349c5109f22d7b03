//! Pages of the identity area: login and logout, the staff home, staff
//! accounts and roles, the audit journal.

mod accounts;
mod clients;
mod consents;
pub mod franceconnect;
mod inhabitants;
mod journal;
mod login;
mod rights;
mod second_factor;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kernel::AppState;

/// Public pages of the identity area (no login).
pub const PUBLIC_PAGES: &[&str] = &[
    "/connexion",
    "/inscription",
    "/mot-de-passe-oublie",
    "/inscription/verification?jeton=x",
    "/mot-de-passe/reinitialisation?jeton=x",
];

/// Pages of a logged-in person's own account.
pub const ACCOUNT_PAGES: &[&str] = &[
    "/compte",
    "/compte/identite",
    "/compte/mot-de-passe",
    "/compte/consentements",
    "/compte/donnees",
];

/// Staff pages reachable by GET, for the route walk and the page list.
pub const STAFF_PAGES: &[&str] = &[
    "/gestion",
    "/gestion/comptes",
    "/gestion/comptes/nouveau",
    "/gestion/comptes/{id}",
    "/gestion/journal",
    "/gestion/clients",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/connexion", get(login::form).post(login::submit))
        .route("/franceconnect/connexion", post(franceconnect::start))
        .route("/franceconnect/retour", get(franceconnect::callback))
        .route(
            "/franceconnect/deconnexion",
            get(franceconnect::logout_return),
        )
        .route("/franceconnect/rattachement", get(franceconnect::link_page))
        .route(
            "/franceconnect/rattachement/compte-existant",
            post(franceconnect::link_existing),
        )
        .route(
            "/franceconnect/rattachement/nouveau-compte",
            post(franceconnect::create_account),
        )
        .route(
            "/compte/franceconnect/relier",
            post(franceconnect::start_link),
        )
        .route("/compte/franceconnect/delier", post(franceconnect::unlink))
        .route("/deconnexion", post(login::logout))
        .route(
            "/inscription",
            get(inhabitants::signup_form).post(inhabitants::signup),
        )
        .route(
            "/inscription/verification",
            get(inhabitants::verify_form).post(inhabitants::verify),
        )
        .route(
            "/mot-de-passe-oublie",
            get(inhabitants::forgot_form).post(inhabitants::forgot),
        )
        .route(
            "/mot-de-passe/reinitialisation",
            get(inhabitants::reset_form).post(inhabitants::reset),
        )
        .route("/compte", get(inhabitants::account))
        .route("/compte/donnees", get(rights::page))
        .route("/compte/donnees/export", get(rights::export))
        .route("/compte/donnees/suppression", post(rights::delete))
        .route("/compte/consentements", get(consents::page))
        .route("/compte/consentements/retrait", post(consents::revoke))
        .route("/compte/consentements/{id}/recu", get(consents::receipt))
        .route("/compte/verification/renvoyer", post(inhabitants::resend))
        .route(
            "/compte/identite",
            get(inhabitants::identity).post(inhabitants::save_identity),
        )
        .route(
            "/compte/mot-de-passe",
            get(inhabitants::password_form).post(inhabitants::change_password),
        )
        .route("/gestion", get(accounts::home))
        .route("/gestion/comptes", get(accounts::list))
        .route(
            "/gestion/comptes/nouveau",
            get(accounts::new_form).post(accounts::create),
        )
        .route("/gestion/comptes/{id}", get(accounts::show))
        .route("/gestion/comptes/{id}/roles", post(accounts::grant))
        .route(
            "/gestion/comptes/{id}/roles/retrait",
            post(accounts::revoke),
        )
        .route("/gestion/journal", get(journal::page))
        .route(
            "/gestion/2fa",
            get(second_factor::form).post(second_factor::submit),
        )
        .route(
            "/.well-known/openid-configuration",
            get(crate::oidc::discovery::configuration),
        )
        .route("/oidc/jwks", get(crate::oidc::discovery::jwks))
        .route("/oidc/authorize", get(crate::oidc::authorize::authorize))
        .route("/oidc/consent", post(crate::oidc::authorize::decide))
        .route("/oidc/token", post(crate::oidc::token::token))
        .route("/gestion/clients", get(clients::list).post(clients::create))
        .route(
            "/oidc/logout",
            get(crate::oidc::logout::logout).post(crate::oidc::logout::confirm),
        )
        .route("/oidc/revoke", post(crate::oidc::token::revoke))
        .route("/oidc/introspect", post(crate::oidc::token::introspect))
        .route(
            "/oidc/userinfo",
            get(crate::oidc::token::userinfo).post(crate::oidc::token::userinfo),
        )
}

/// ID-1: the back-off's answer: 429 with `Retry-After` (whole seconds) and
/// the page saying when to retry.
pub(crate) fn too_many_attempts(wait_ms: i64, page: impl IntoResponse) -> Response {
    let seconds = ((wait_ms + 999) / 1000).to_string();
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, seconds)],
        page,
    )
        .into_response()
}
