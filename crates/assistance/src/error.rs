//! The assistance area's error, and how it reaches people.

use axum::response::{IntoResponse, Response};
use kernel::web::{ErrorPage, Msg};

use crate::domain::workflow::NotAllowed;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown, or outside the reader's organisations (OPS-7).
    #[error("not found")]
    NotFound,
    /// A staff page or action reserved to other roles.
    #[error("forbidden")]
    Forbidden,
    /// Input refused at the edge, with what to do instead.
    #[error("invalid: {}", .0.en)]
    Invalid(Msg),
    /// What the workflow does not allow in this status (SAU-3).
    #[error("not allowed in this status")]
    NotAllowed(NotAllowed),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::NotFound => ErrorPage::not_found().into_response(),
            Error::Forbidden => ErrorPage::forbidden().into_response(),
            Error::Invalid(msg) => ErrorPage::bad_request(msg).into_response(),
            Error::NotAllowed(NotAllowed::Closed) => ErrorPage::bad_request(Msg::new(
                "Cette demande est close : ouvrez une nouvelle demande.",
                "This request is closed: open a new request.",
            ))
            .into_response(),
            Error::NotAllowed(NotAllowed::Transition { from, to }) => {
                ErrorPage::bad_request(Msg::new(
                    format!(
                        "Une demande « {} » ne peut pas passer à « {} ».",
                        from.label_fr(),
                        to.label_fr()
                    ),
                    format!(
                        "A request “{}” cannot become “{}”.",
                        from.label_en(),
                        to.label_en()
                    ),
                ))
                .into_response()
            }
            Error::Database(e) => ErrorPage::internal(e).into_response(),
        }
    }
}
