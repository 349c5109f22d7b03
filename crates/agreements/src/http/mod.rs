//! Staff pages and JSON API of the agreements area.

mod agreements;
mod api;
mod communes;
mod documents;
mod forms;
mod orders;
mod projections;
mod references;
mod services;

use axum::Router;
use axum::routing::{get, post};
use kernel::AppState;

/// Staff pages reachable by GET (all behind the [`kernel::web::Staff`]
/// extractor), for the route walk tests and the page list.
pub const STAFF_PAGES: &[&str] = &[
    "/gestion/communes",
    "/gestion/communes/{insee}",
    "/gestion/services",
    "/gestion/conventions",
    "/gestion/conventions/nouvelle",
    "/gestion/conventions/{agreement}",
    "/gestion/conventions/{agreement}/document",
    "/gestion/conventions/{agreement}/projections",
    "/gestion/syntec",
    "/gestion/referents",
    "/gestion/comite",
    "/gestion/titres",
    "/gestion/titres/{order}",
];

/// The staff JSON API, for the same walk.
pub const STAFF_API: &[&str] = &["/api/v1/conventions", "/api/v1/conventions/{agreement}"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/gestion/communes", get(communes::list))
        .route("/gestion/communes/{insee}", get(communes::show))
        .route(
            "/gestion/communes/{insee}/populations",
            post(references::add_population),
        )
        .route("/gestion/services", get(services::list))
        .route("/gestion/conventions", get(agreements::list))
        .route(
            "/gestion/conventions/nouvelle",
            get(agreements::new_form).post(agreements::create),
        )
        .route("/gestion/conventions/{id}", get(agreements::show))
        .route(
            "/gestion/conventions/{id}/document",
            get(documents::agreement),
        )
        .route(
            "/gestion/conventions/{id}/projections",
            get(projections::page),
        )
        .route("/gestion/conventions/{id}/archive", get(documents::archive))
        .route(
            "/gestion/conventions/{id}/pieces",
            post(documents::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::domain::documents::MAX_SCAN_BYTES + 64 * 1024,
            )),
        )
        .route(
            "/gestion/conventions/{id}/pieces/{doc}",
            get(documents::download),
        )
        .route(
            "/gestion/conventions/{id}/document/pdf",
            get(documents::agreement_pdf),
        )
        .route(
            "/gestion/conventions/{id}/avenants/{amendment}/document",
            get(documents::amendment),
        )
        .route(
            "/gestion/conventions/{id}/avenants/{amendment}/document/pdf",
            get(documents::amendment_pdf),
        )
        .route(
            "/gestion/conventions/{id}/signature",
            post(agreements::sign),
        )
        .route(
            "/gestion/conventions/{id}/avenants",
            post(agreements::propose_amendment),
        )
        .route(
            "/gestion/conventions/{id}/avenants/{amendment}/signature",
            post(agreements::sign_amendment),
        )
        .route(
            "/gestion/conventions/{id}/preavis",
            post(agreements::notice),
        )
        .route(
            "/gestion/conventions/{id}/mises-en-demeure",
            post(agreements::breach_notice),
        )
        .route(
            "/gestion/conventions/{id}/mises-en-demeure/{notice}/resiliation",
            post(agreements::terminate),
        )
        .route(
            "/gestion/conventions/{id}/reclamations",
            post(agreements::dispute),
        )
        .route(
            "/gestion/conventions/{id}/reclamations/{dispute}/decision",
            post(agreements::decide),
        )
        .route(
            "/gestion/syntec",
            get(references::syntec).post(references::add_syntec),
        )
        .route(
            "/gestion/referents",
            get(references::referents).post(references::set_referent),
        )
        .route(
            "/gestion/comite",
            get(references::committees).post(references::add_committee),
        )
        .route("/gestion/titres", get(orders::list))
        .route("/gestion/titres/{id}", get(orders::show))
        .route("/gestion/titres/{id}/pdf", get(orders::pdf))
        .route("/gestion/titres/{id}/correction", post(orders::correct))
        .route(
            "/gestion/titres/exercice/{year}/csv",
            get(orders::export_csv),
        )
        .route(
            "/gestion/titres/exercice/{year}/json",
            get(orders::export_json),
        )
        .route("/api/v1/conventions", get(api::list))
        .route("/api/v1/conventions/{id}", get(api::show))
}
