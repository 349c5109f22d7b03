//! Staff pages of the agreements area.

mod communes;
mod services;

use axum::Router;
use axum::routing::get;
use kernel::AppState;

/// Staff pages (all behind the [`kernel::web::Staff`] extractor), as
/// `(pattern, example path)` for the route walk tests and the page list.
pub const STAFF_PAGES: &[&str] = &[
    "/gestion/communes",
    "/gestion/communes/{insee}",
    "/gestion/services",
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/gestion/communes", get(communes::list))
        .route("/gestion/communes/{insee}", get(communes::show))
        .route("/gestion/services", get(services::list))
}
