//! The agreements area's error, and how it reaches people.

use axum::response::{IntoResponse, Response};
use kernel::web::ErrorPage;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            // Outside the reader's scope a commune is "not found" (OPS-7).
            Error::NotFound => ErrorPage::not_found().into_response(),
            Error::Database(e) => ErrorPage::internal(e).into_response(),
        }
    }
}
