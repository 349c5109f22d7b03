//! The session cookie, resolved into a [`Viewer`] for every request.
//! Sessions live in the database, so that every node shares them (OPS-5)
//! and a logout ends them everywhere.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use kernel::AppState;
use kernel::web::lang::cookie;

use crate::store;

pub const COOKIE: &str = "mutualis_session";

pub async fn layer(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if crate::oidc::SERVICE_ENDPOINTS
        .iter()
        .any(|p| path.starts_with(p))
    {
        return next.run(request).await;
    }
    if let Some(token) = cookie(request.headers(), COOKIE).map(str::to_string) {
        match store::viewer(&app.db, &token).await {
            Ok(Some(viewer)) => {
                request.extensions_mut().insert(viewer);
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "session lookup failed"),
        }
    }
    next.run(request).await
}

/// `Set-Cookie` for a new session: `HttpOnly`, `SameSite=Lax`, `Secure` over HTTPS.
pub fn set_cookie(app: &AppState, token: &str) -> HeaderValue {
    let secure = if app.site.secure() { "; Secure" } else { "" };
    let max_age = store::SESSION_MS / 1000;
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("token is URL-safe base64")
}

pub fn clear_cookie(app: &AppState) -> HeaderValue {
    let secure = if app.site.secure() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .expect("static cookie")
}

pub fn token(headers: &axum::http::HeaderMap) -> Option<String> {
    cookie(headers, COOKIE).map(str::to_string)
}

pub const SET_COOKIE: header::HeaderName = header::SET_COOKIE;
