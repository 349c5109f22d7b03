//! Pages of user assistance: the help form and the requester's tracking
//! page (public), later the agents' inbox.

mod public;

use axum::Router;
use axum::routing::get;
use kernel::AppState;

/// Public pages (no login), for the route walk and the page list.
pub const PUBLIC_PAGES: &[&str] = &[
    "/aide",
    "/aide?service=toodego&page=https%3A%2F%2Ftoodego.example%2F",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/aide", get(public::form).post(public::submit))
        .route(
            "/aide/suivi/{reference}",
            get(public::tracking).post(public::reply),
        )
}
