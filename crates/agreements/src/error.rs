//! The agreements area's error, and how it reaches people.

use axum::response::{IntoResponse, Response};
use kernel::web::{ErrorPage, Msg};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// Input or an action the rules do not allow, with what to do instead.
    #[error("refused: {}", .0.en)]
    Refused(Msg),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Error {
    pub fn refused(fr: impl Into<String>, en: impl Into<String>) -> Error {
        Error::Refused(Msg::new(fr, en))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            // Outside the reader's scope a commune is "not found" (OPS-7).
            Error::NotFound => ErrorPage::not_found().into_response(),
            Error::Forbidden => ErrorPage::forbidden().into_response(),
            Error::Refused(msg) => ErrorPage::bad_request(msg).into_response(),
            Error::Database(e) => ErrorPage::internal(e).into_response(),
        }
    }
}

impl From<ErrorPage> for Error {
    fn from(page: ErrorPage) -> Error {
        match page.status.as_u16() {
            404 => Error::NotFound,
            403 => Error::Forbidden,
            _ => Error::Refused(page.message),
        }
    }
}
