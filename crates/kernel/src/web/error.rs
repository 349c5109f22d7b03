//! Errors as people see them: a page in their language with the right status.
//! Internal causes are logged with their chain and never shown.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{Lang, PageContext};

/// A sentence in both languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    pub fr: String,
    pub en: String,
}

impl Msg {
    pub fn new(fr: impl Into<String>, en: impl Into<String>) -> Msg {
        Msg {
            fr: fr.into(),
            en: en.into(),
        }
    }
    pub fn get(&self, lang: Lang) -> &str {
        lang.pick(&self.fr, &self.en)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    ctx: &'a PageContext,
    title: &'a str,
    message: &'a str,
}

/// An error page: status, and what to tell the reader.
#[derive(Debug)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub message: Msg,
    /// Present for 500s; logged, never rendered.
    pub cause: Option<anyhow::Error>,
}

impl ErrorPage {
    pub fn not_found() -> ErrorPage {
        ErrorPage {
            status: StatusCode::NOT_FOUND,
            message: Msg::new(
                "Cette page n'existe pas ou vous n'y avez pas accès. Vérifiez l'adresse ou revenez à l'accueil.",
                "This page does not exist or you have no access to it. Check the address or go back to the home page.",
            ),
            cause: None,
        }
    }
    pub fn forbidden() -> ErrorPage {
        ErrorPage {
            status: StatusCode::FORBIDDEN,
            message: Msg::new(
                "Vous n'avez pas les droits nécessaires pour cette action. Demandez-les à l'administrateur de votre organisation.",
                "You do not have the rights for this action. Ask your organisation's administrator.",
            ),
            cause: None,
        }
    }
    pub fn bad_request(message: Msg) -> ErrorPage {
        ErrorPage {
            status: StatusCode::BAD_REQUEST,
            message,
            cause: None,
        }
    }
    pub fn internal(cause: impl Into<anyhow::Error>) -> ErrorPage {
        ErrorPage {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: Msg::new(
                "Une erreur inattendue s'est produite ; rien n'a été enregistré. Réessayez dans un instant.",
                "An unexpected error occurred; nothing was saved. Try again in a moment.",
            ),
            cause: Some(cause.into()),
        }
    }

    /// Renders with the reader's context (language, header).
    pub fn render(&self, ctx: &PageContext) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => ctx.tr("Page introuvable", "Page not found"),
            StatusCode::FORBIDDEN => ctx.tr("Accès refusé", "Access denied"),
            StatusCode::INTERNAL_SERVER_ERROR => ctx.tr("Erreur du serveur", "Server error"),
            StatusCode::PAYLOAD_TOO_LARGE => ctx.tr("Envoi trop volumineux", "Request too large"),
            _ => ctx.tr("Demande incorrecte", "Bad request"),
        };
        let page = ErrorTemplate {
            ctx,
            title,
            message: self.message.get(ctx.lang),
        };
        (self.status, page).into_response()
    }
}

impl From<sqlx::Error> for ErrorPage {
    fn from(e: sqlx::Error) -> ErrorPage {
        ErrorPage::internal(e)
    }
}

/// What travels from a handler to [`render_errors`]: status and message.
#[derive(Clone, Debug)]
struct PendingError {
    status: StatusCode,
    message: Msg,
}

/// A handler's error becomes an empty response carrying the error; the
/// [`render_errors`] middleware, which knows the reader, renders the page.
impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(error = %format!("{cause:#}"), "internal error");
        }
        let mut response = self.status.into_response();
        response.extensions_mut().insert(PendingError {
            status: self.status,
            message: self.message,
        });
        response
    }
}

/// Middleware: renders pending errors as pages in the reader's language.
pub async fn render_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let ctx = super::page_context(&parts.extensions, &parts.uri);
    let mut response = next
        .run(axum::extract::Request::from_parts(parts, body))
        .await;
    match response.extensions_mut().remove::<PendingError>() {
        Some(pending) => ErrorPage {
            status: pending.status,
            message: pending.message,
            cause: None,
        }
        .render(&ctx),
        // A request the framework refused before any handler ran (a query
        // or form that does not parse, a wrong method, a body too large)
        // answers plain English text: people get a page in their language.
        None if response.status().is_client_error() && is_plain_text(&response) => {
            let status = response.status();
            tracing::debug!(%status, "request refused before its handler");
            ErrorPage {
                status,
                message: refusal(status),
                cause: None,
            }
            .render(&ctx)
        }
        None => response,
    }
}

fn is_plain_text(response: &Response) -> bool {
    response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}

fn refusal(status: StatusCode) -> Msg {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => Msg::new(
            "Cette adresse ne s'utilise pas de cette façon. Revenez à la page précédente.",
            "This address is not used this way. Go back to the previous page.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => Msg::new(
            "Le contenu envoyé est trop volumineux.",
            "What was sent is too large.",
        ),
        _ => Msg::new(
            "La demande est mal formée : un champ manque ou n'a pas le format attendu. Revenez à la page précédente et réessayez.",
            "The request is malformed: a field is missing or not in the expected format. Go back to the previous page and try again.",
        ),
    }
}
