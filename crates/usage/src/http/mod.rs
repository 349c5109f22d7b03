//! The usage area's HTTP side: the ingestion API (DATA-1) and the page
//! that says what is measured (DATA-2).

mod api;
mod beacon;
mod dashboard;
mod open_data;
mod pages;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{get, post};
use kernel::AppState;

pub use api::ApiDoc;
pub use open_data::Cache as OpenDataCache;

/// A batch of 10,000 events of about a kilobyte each, with room.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Staff pages reachable by GET, for the route walk and the page list.
pub const STAFF_PAGES: &[&str] = &[
    "/gestion/usage",
    "/gestion/usage?du=2026-01-01&au=2026-12-31&service=toodego",
];

/// Public pages (no login), for the route walk and the page list.
pub const PUBLIC_PAGES: &[&str] = &["/mesure-d-audience", "/opendata"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mesure-d-audience", get(pages::audience))
        // Read only: `/opendata/` is exempt from the CSRF cookie (the
        // server's router) so that harvesters get no cookie; a form under
        // it would need the exemption narrowed first.
        .route("/opendata", get(open_data::page))
        .route("/opendata/catalog.jsonld", get(open_data::catalog))
        .route("/opendata/{file}", get(open_data::file))
        .route("/gestion/usage", get(dashboard::dashboard))
        .route("/gestion/usage/export.csv", get(dashboard::export))
        .route("/usage.js", get(beacon::script))
        // One event: a few hundred bytes.
        .route(
            "/api/v1/usage/beacon",
            post(beacon::beacon.layer(DefaultBodyLimit::max(4096))),
        )
        .route(
            "/api/v1/usage/events",
            post(api::ingest.layer(DefaultBodyLimit::max(BODY_LIMIT))),
        )
        .route(
            "/api/v1/usage/subjects/{sub}/events",
            get(api::person_events),
        )
}

/// The node's salt of the day (DATA-2), put in the state when the node is
/// composed; a fresh copy otherwise (it reads the same salt from the
/// database).
fn salts(app: &AppState) -> crate::store::Salts {
    app.extensions
        .get::<crate::store::Salts>()
        .cloned()
        .unwrap_or_default()
}
