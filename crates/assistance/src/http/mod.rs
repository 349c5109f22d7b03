//! Pages of user assistance: the help form and the requester's tracking
//! page (public), the agents' inbox and request pages.

mod agents;
pub mod api;
mod faq;
mod integrations;
mod matrix;
mod public;
mod submission;
pub mod upload;
mod widget;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{get, post};
use kernel::AppState;

/// Public pages (no login), for the route walk and the page list.
pub const PUBLIC_PAGES: &[&str] = &[
    "/aide",
    "/aide?service=toodego&page=https%3A%2F%2Ftoodego.example%2F",
];

/// Pages of a signed-in person's own account.
pub const ACCOUNT_PAGES: &[&str] = &["/compte/demandes"];

/// Staff pages reachable by GET, for the route walk and the page list.
pub const STAFF_PAGES: &[&str] = &[
    "/gestion/aide",
    "/gestion/aide?retard=1&statut=new",
    "/gestion/aide/{reference}",
    "/gestion/aide/competences",
    "/gestion/aide/services",
    "/gestion/aide/reponses-types",
    "/gestion/aide/faq",
    "/gestion/aide/chiffres",
];

/// SAU-7: the help API; any origin may call it (it reads no cookie: a
/// service authenticates with its bearer token).
fn api_router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/help/services/{code}", get(api::service))
        .route("/api/v1/help/faq", get(api::faq))
        .route("/api/v1/help/faq/{id}/feedback", post(api::faq_feedback))
        .route(
            "/api/v1/help-requests",
            post(api::create.layer(DefaultBodyLimit::max(upload::BODY_LIMIT))),
        )
        .route("/api/v1/help-requests/{reference}", get(api::show))
        .layer(axum::middleware::map_response(any_origin))
}

async fn any_origin(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        axum::http::HeaderValue::from_static("*"),
    );
    response
}

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(api_router())
        .route(
            "/aide",
            get(public::form).post(public::submit.layer(DefaultBodyLimit::max(upload::BODY_LIMIT))),
        )
        .route("/aide/faq/{id}/avis", post(public::rate))
        .route("/aide/widget.js", get(widget::script))
        .route("/aide/widget.css", get(widget::stylesheet))
        .route(
            "/aide/suivi/{reference}",
            get(public::tracking)
                .post(public::reply.layer(DefaultBodyLimit::max(upload::BODY_LIMIT))),
        )
        .route(
            "/aide/suivi/{reference}/pieces/{id}",
            get(public::attachment),
        )
        .route("/compte/demandes", get(public::mine))
        .route("/gestion/aide", get(agents::inbox))
        .route(
            "/gestion/aide/competences",
            get(matrix::show).post(matrix::save),
        )
        .route(
            "/gestion/aide/services",
            get(integrations::show).post(integrations::save),
        )
        .route("/gestion/aide/faq", get(faq::show).post(faq::add))
        .route("/gestion/aide/chiffres", get(agents::figures))
        .route(
            "/gestion/aide/reponses-types",
            get(agents::canned).post(agents::add_canned),
        )
        .route("/gestion/aide/{reference}", get(agents::request))
        .route("/gestion/aide/{reference}/message", post(agents::message))
        .route(
            "/gestion/aide/{reference}/pieces/{id}",
            get(agents::attachment),
        )
        .route("/gestion/aide/{reference}/statut", post(agents::status))
        .route(
            "/gestion/aide/{reference}/transfert",
            post(agents::transfer),
        )
        .route(
            "/gestion/aide/{reference}/attribution",
            post(agents::assign),
        )
}
