//! Pages of the identity area: login and logout, the staff home, staff
//! accounts and roles, the audit journal.

mod accounts;
mod journal;
mod login;

use axum::Router;
use axum::routing::{get, post};
use kernel::AppState;

/// Staff pages reachable by GET, for the route walk and the page list.
pub const STAFF_PAGES: &[&str] = &[
    "/gestion",
    "/gestion/comptes",
    "/gestion/comptes/nouveau",
    "/gestion/comptes/{id}",
    "/gestion/journal",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/connexion", get(login::form).post(login::submit))
        .route("/deconnexion", post(login::logout))
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
}
