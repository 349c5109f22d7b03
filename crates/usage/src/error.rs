//! The usage area's error, and how it reaches people.

use axum::response::{IntoResponse, Response};
use kernel::web::{ErrorPage, Msg};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown, or outside the reader's organisations (OPS-7).
    #[error("not found")]
    NotFound,
    /// Input refused at the edge, with what to do instead.
    #[error("invalid: {}", .0.en)]
    Invalid(Msg),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The help requests' figures, read for the open data (DATA-4).
    #[error(transparent)]
    Assistance(#[from] assistance::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::NotFound => ErrorPage::not_found().into_response(),
            Error::Invalid(msg) => ErrorPage::bad_request(msg).into_response(),
            Error::Database(e) => ErrorPage::internal(e).into_response(),
            Error::Assistance(e) => e.into_response(),
        }
    }
}
