//! The usage area's HTTP side: the ingestion API (DATA-1).

mod api;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::post;
use kernel::AppState;

/// A batch of 10,000 events of about a kilobyte each, with room.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/usage/events",
        post(api::ingest.layer(DefaultBodyLimit::max(BODY_LIMIT))),
    )
}
