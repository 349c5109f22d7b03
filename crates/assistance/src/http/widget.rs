//! SAU-1: the help widget a service adds to its pages with one `<script>`
//! tag. It is a client of the public help API (`api.rs`): the FAQ first,
//! then the form, in an accessible dialog.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const SCRIPT: &str = include_str!("../../static/widget.js");
const STYLESHEET: &str = include_str!("../../static/widget.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            // Loaded by the services' pages, on other origins.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            // Pages with Cross-Origin-Embedder-Policy may load it.
            (
                header::HeaderName::from_static("cross-origin-resource-policy"),
                "cross-origin",
            ),
        ],
        body,
    )
        .into_response()
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", STYLESHEET)
}
