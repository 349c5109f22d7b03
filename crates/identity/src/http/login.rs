use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::audit::{self, Actor, Event};
use kernel::web::{ClientAddress, PageContext};
use serde::Deserialize;
use serde_json::json;

use crate::domain::throttle::retry_in;
use crate::domain::{EmailAddress, safe_return_path};
use crate::{Error, session, store};

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    ctx: PageContext,
    email: String,
    retour: String,
    error: Option<&'static str>,
    /// When to retry (French, English) while the back-off lasts.
    wait: Option<(String, String)>,
    /// Whether to show the FranceConnect button (ID-5: only when configured).
    franceconnect: bool,
    /// The service asks for a certified identity (ID-6): FranceConnect only.
    certified_required: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    retour: Option<String>,
    /// Prefilled address (a service's `login_hint`, ID-3).
    email: Option<String>,
    /// Set when a service asks for a certified identity (ID-6).
    certifie: Option<String>,
}

pub async fn form(
    State(app): State<AppState>,
    ctx: PageContext,
    Query(q): Query<LoginQuery>,
) -> Response {
    let retour = safe_return_path(q.retour.as_deref());
    let franceconnect = super::franceconnect::configured(&app).is_some();
    let page = LoginPage {
        franceconnect,
        certified_required: franceconnect && q.certifie.is_some(),
        ctx,
        email: q.email.unwrap_or_default(),
        retour: retour.clone(),
        error: None,
        wait: None,
    };
    with_form_target(&app, &retour, page.into_response()).await
}

/// Signing in on the way to a service may send the browser straight on to
/// it (consent already given): its origin is then allowed as a form target.
/// With FranceConnect, the button's form leads to FranceConnect (ID-5).
async fn with_form_target(app: &AppState, retour: &str, mut response: Response) -> Response {
    if let Some(target) = crate::oidc::authorize::redirect_target(app, retour).await {
        kernel::web::headers::allow_form_target(&mut response, &target);
    }
    super::franceconnect::allow_form_to_franceconnect(app, &mut response);
    response
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    retour: Option<String>,
}

/// ID-1: e-mail and password. The answer is the same whether the e-mail is
/// unknown or the password wrong, and takes as long (a decoy hash). Failures
/// back off per account and per client address, in the database so that
/// every node applies them; while blocked, no password is even checked.
pub async fn submit(
    State(app): State<AppState>,
    ctx: PageContext,
    client: ClientAddress,
    Form(f): Form<LoginForm>,
) -> Result<Response, Error> {
    let retour = safe_return_path(f.retour.as_deref());
    let response = check_password(&app, ctx, client, f, retour.clone()).await?;
    Ok(with_form_target(&app, &retour, response).await)
}

async fn check_password(
    app: &AppState,
    ctx: PageContext,
    ClientAddress(address): ClientAddress,
    f: LoginForm,
    retour: String,
) -> Result<Response, Error> {
    let Ok(email) = EmailAddress::parse(&f.email) else {
        let page = LoginPage {
            franceconnect: super::franceconnect::configured(app).is_some(),
            certified_required: false,
            ctx,
            email: f.email,
            retour,
            error: Some("invalid_email"),
            wait: None,
        };
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    };
    let page = |ctx, error, wait| LoginPage {
        franceconnect: super::franceconnect::configured(app).is_some(),
        certified_required: false,
        ctx,
        email: email.to_string(),
        retour: retour.clone(),
        error: Some(error),
        wait,
    };
    match credentials(app, &email, f.password, &address, "login.failure").await? {
        Credentials::Valid(account) => {
            let token = store::open_session(&app.db, account.id).await?;
            let mut response = Redirect::to(&retour).into_response();
            response
                .headers_mut()
                .append(session::SET_COOKIE, session::set_cookie(app, &token));
            Ok(response)
        }
        Credentials::Throttled(wait) => {
            let when = (retry_in(wait, true), retry_in(wait, false));
            Ok(super::too_many_attempts(
                wait,
                page(ctx, "throttled", Some(when)),
            ))
        }
        Credentials::Wrong => Ok((
            StatusCode::UNAUTHORIZED,
            page(ctx, "wrong_credentials", None),
        )
            .into_response()),
    }
}

/// What an e-mail and a password prove.
pub(crate) enum Credentials {
    Valid(store::Account),
    /// The back-off still runs (ms): no password was checked.
    Throttled(i64),
    /// Unknown e-mail, wrong password or disabled account (one answer).
    Wrong,
}

/// ID-1, for every form that takes a password to sign in or to prove an
/// account is one's own: the back-off per account and per client address
/// (in the database, so that every node applies it), a decoy hash when the
/// e-mail is unknown (same time either way), failures counted and journaled
/// as `failure_event`.
pub(crate) async fn credentials(
    app: &AppState,
    email: &EmailAddress,
    password: String,
    address: &str,
    failure_event: &'static str,
) -> Result<Credentials, Error> {
    let account = store::account_by_email(&app.db, email).await?;
    let keys = [
        match &account {
            Some(a) => format!("account:{}", a.id),
            None => format!("email:{}", email.as_str()),
        },
        format!("address:{address}"),
    ];
    let throttle = store::throttle(&app.db, &keys).await?;
    if throttle.wait_ms > 0 {
        return Ok(Credentials::Throttled(throttle.wait_ms));
    }
    let hash = account
        .as_ref()
        .filter(|a| !a.disabled)
        .and_then(|a| a.password_hash.clone());
    let ok = app.hasher.verify(password, hash).await;
    match account {
        Some(a) if ok && !a.disabled => {
            if throttle.recorded {
                store::clear_failures(&app.db, &keys).await?;
            }
            Ok(Credentials::Valid(a))
        }
        _ => {
            store::record_failure(&app.db, &keys).await?;
            audit::record(
                &app.db,
                &Event::new(
                    Actor::Anonymous,
                    failure_event,
                    format!("email:{}", email.as_str()),
                )
                .with(json!({ "known_account": account.is_some() })),
            )
            .await?;
            Ok(Credentials::Wrong)
        }
    }
}

pub async fn logout(
    State(app): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let mut response = Redirect::to("/").into_response();
    if let Some(token) = session::token(&headers) {
        let franceconnect = store::session_franceconnect_id_token(&app.db, &token).await?;
        // Ends the platform session and tells every service of it (ID-3).
        crate::oidc::logout::end_session(&app, &token).await?;
        // A session opened through FranceConnect ends there too (ID-5).
        if let Some(id_token) = franceconnect {
            response =
                super::franceconnect::logout_through_franceconnect(&app, ctx, &id_token).await;
        }
    }
    response
        .headers_mut()
        .append(session::SET_COOKIE, session::clear_cookie(&app));
    Ok(response)
}
