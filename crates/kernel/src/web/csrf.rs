//! OPS-7: CSRF protection for every form, in one place. A random token lives
//! in an `HttpOnly`, `SameSite=Lax` cookie and is repeated in each form's
//! hidden `csrf_token` field (double submit). Unsafe requests must carry the
//! matching token, and are refused outright when the browser says they come
//! from another site (`Sec-Fetch-Site: cross-site`) or from another origin.
//! Paths authenticated by bearer tokens (APIs) are exempt: they carry no
//! ambient credentials.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::lang::cookie;
use super::{ErrorPage, Msg, PageContext, Site, page_context};
use crate::random;

pub const COOKIE: &str = "mutualis_csrf";
pub const FIELD: &str = "csrf_token";

/// The reader's token, for templates (`ctx.csrf`).
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

#[derive(Clone, Debug)]
pub struct CsrfConfig {
    pub site: Site,
    /// Path prefixes that are not cookie-authenticated (bearer APIs, OAuth
    /// endpoints called by services).
    pub exempt_prefixes: Vec<&'static str>,
    /// Largest form body read to find the token.
    pub max_form_bytes: usize,
}

/// Rendered here, not by `render_errors`, which runs inside this layer.
fn refused(ctx: &PageContext) -> Response {
    ErrorPage {
        status: StatusCode::FORBIDDEN,
        message: Msg::new(
            "Cette demande a été refusée : elle ne provient pas d'un formulaire de cette plateforme ou le formulaire a expiré (protection contre la falsification de requête). Rechargez la page et recommencez.",
            "This request was refused: it does not come from a form of this platform or the form expired (cross-site request forgery protection). Reload the page and try again.",
        ),
        cause: None,
    }
    .render(ctx)
}

fn valid_token(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// C0 control characters other than tab and line breaks, and DEL.
pub fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) && (c as u32) < 0xa0)
}

fn control_characters(ctx: &super::PageContext) -> Response {
    ErrorPage::bad_request(Msg::new(
        "Le formulaire contient des caractères invisibles non autorisés : retapez le texte au lieu de le coller, puis recommencez.",
        "The form holds invisible characters that are not allowed: type the text instead of pasting it, then try again.",
    ))
    .render(ctx)
}

pub async fn layer(State(config): State<CsrfConfig>, mut request: Request, next: Next) -> Response {
    let existing = cookie(request.headers(), COOKIE)
        .filter(|t| valid_token(t))
        .map(str::to_string);
    let token = existing.clone().unwrap_or_else(|| random::token(32));
    request.extensions_mut().insert(CsrfToken(token.clone()));

    // Same rule for every query string (see the forms below).
    if let Some(query) = request.uri().query()
        && serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .is_ok_and(|pairs| pairs.iter().any(|(k, v)| has_control(k) || has_control(v)))
    {
        return control_characters(&page_context(request.extensions(), request.uri()));
    }
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let exempt = config
        .exempt_prefixes
        .iter()
        .any(|p| request.uri().path().starts_with(p));
    if unsafe_method && !exempt {
        let ctx = page_context(request.extensions(), request.uri());
        let headers = request.headers();
        if headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site")
        {
            return refused(&ctx);
        }
        if let Some(origin) = headers.get(header::ORIGIN)
            && origin.as_bytes() != config.site.origin().as_bytes()
        {
            return refused(&ctx);
        }
        let Some(expected) = existing.as_deref() else {
            return refused(&ctx);
        };
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            let (parts, body) = request.into_parts();
            let Ok(bytes) = to_bytes(body, config.max_form_bytes).await else {
                return ErrorPage {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: Msg::new(
                        "Le formulaire envoyé est trop volumineux : raccourcissez vos textes et recommencez.",
                        "The submitted form is too large: shorten your texts and try again.",
                    ),
                    cause: None,
                }
                .render(&ctx);
            };
            let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes).ok();
            let sent = pairs
                .as_ref()
                .and_then(|pairs| pairs.iter().find(|(k, _)| k == FIELD).map(|(_, v)| v));
            if !sent.is_some_and(|s| random::same_secret(s, expected)) {
                return refused(&ctx);
            }
            // This layer reads every form anyway: control characters (a NUL
            // that PostgreSQL refuses in text, terminal escapes) have no
            // place in any field, so they stop here for every form at once.
            if pairs
                .iter()
                .flatten()
                .any(|(k, v)| has_control(k) || has_control(v))
            {
                return control_characters(&ctx);
            }
            request = Request::from_parts(parts, Body::from(bytes));
        } else {
            // Multipart forms (attachments) carry the token in the query
            // string of their action; anything else is not a form of ours.
            let sent = request.uri().query().and_then(|q| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                    .ok()?
                    .into_iter()
                    .find(|(k, _)| k == FIELD)
                    .map(|(_, v)| v)
            });
            if !(content_type.starts_with("multipart/form-data")
                && sent.is_some_and(|s| random::same_secret(&s, expected)))
            {
                return refused(&ctx);
            }
        }
    }

    let mut response = next.run(request).await;
    // APIs read no cookie: they set none either.
    if existing.is_none() && !exempt {
        let secure = if config.site.secure() { "; Secure" } else { "" };
        let value = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}");
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}
