//! The identity area's error, and how it reaches people.

use axum::response::{IntoResponse, Response};
use kernel::web::{ErrorPage, Msg};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("invalid input: {}", .0.en)]
    Invalid(Msg),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A sealed secret that does not open, or no random source: a server fault.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::NotFound => ErrorPage::not_found().into_response(),
            Error::Forbidden => ErrorPage::forbidden().into_response(),
            Error::Invalid(msg) => ErrorPage::bad_request(msg).into_response(),
            Error::Database(e) => ErrorPage::internal(e).into_response(),
            Error::Internal(e) => ErrorPage::internal(e).into_response(),
        }
    }
}

impl From<kernel::web::ErrorPage> for Error {
    fn from(page: ErrorPage) -> Error {
        match page.status.as_u16() {
            404 => Error::NotFound,
            403 => Error::Forbidden,
            _ => Error::Invalid(page.message),
        }
    }
}
