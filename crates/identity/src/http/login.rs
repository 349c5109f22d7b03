use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::audit::{self, Actor, Event};
use kernel::web::PageContext;
use serde::Deserialize;
use serde_json::json;

use crate::domain::{EmailAddress, safe_return_path};
use crate::{Error, session, store};

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    ctx: PageContext,
    email: String,
    retour: String,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    retour: Option<String>,
}

pub async fn form(ctx: PageContext, Query(q): Query<LoginQuery>) -> LoginPage {
    LoginPage {
        ctx,
        email: String::new(),
        retour: safe_return_path(q.retour.as_deref()),
        error: None,
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    retour: Option<String>,
}

/// ID-1: e-mail and password. The answer is the same whether the e-mail is
/// unknown or the password wrong, and takes as long (a decoy hash).
pub async fn submit(
    State(app): State<AppState>,
    ctx: PageContext,
    Form(f): Form<LoginForm>,
) -> Result<Response, Error> {
    let retour = safe_return_path(f.retour.as_deref());
    let failed = |ctx: PageContext, email: String, retour: String, error: &'static str| {
        (
            StatusCode::UNAUTHORIZED,
            LoginPage {
                ctx,
                email,
                retour,
                error: Some(error),
            },
        )
            .into_response()
    };
    let Ok(email) = EmailAddress::parse(&f.email) else {
        return Ok(failed(ctx, f.email, retour, "invalid_email"));
    };
    let account = store::account_by_email(&app.db, &email).await?;
    let hash = account
        .as_ref()
        .filter(|a| !a.disabled)
        .and_then(|a| a.password_hash.clone());
    let ok = app.hasher.verify(f.password, hash).await;
    match account {
        Some(a) if ok && !a.disabled => {
            let token = store::open_session(&app.db, a.id).await?;
            let mut response = Redirect::to(&retour).into_response();
            response
                .headers_mut()
                .append(session::SET_COOKIE, session::set_cookie(&app, &token));
            Ok(response)
        }
        _ => {
            audit::record(
                &app.db,
                &Event::new(
                    Actor::Anonymous,
                    "login.failure",
                    format!("email:{}", email.as_str()),
                )
                .with(json!({ "known_account": account.is_some() })),
            )
            .await?;
            Ok(failed(ctx, email.to_string(), retour, "wrong_credentials"))
        }
    }
}

pub async fn logout(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, Error> {
    if let Some(token) = session::token(&headers) {
        store::close_session(&app.db, &token).await?;
    }
    let mut response = Redirect::to("/").into_response();
    response
        .headers_mut()
        .append(session::SET_COOKIE, session::clear_cookie(&app));
    Ok(response)
}
