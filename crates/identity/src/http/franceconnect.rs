//! ID-5: signing in with FranceConnect, linking, creating an account from a
//! FranceConnect identity, unlinking; ID-6: the certified identity comes
//! with each FranceConnect sign-in. Every page exists only when FranceConnect
//! is configured (404 otherwise).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::web::error::{ErrorPage, Msg};
use kernel::web::lang::cookie;
use kernel::web::{ClientAddress, PageContext, SignedIn};
use serde::Deserialize;

use super::login::Credentials;
use crate::domain::franceconnect::{Identity, Refusal, random_value};
use crate::domain::{EmailAddress, safe_return_path};
use crate::franceconnect::FranceConnect;
use crate::store::franceconnect::{self as fc_store, LinkRefused, Purpose, UnlinkRefused};
use crate::{Error, session};

/// Binds a request to the browser that started it.
const BROWSER_COOKIE: &str = "mutualis_fc";
/// The `state` of a logout through FranceConnect.
const LOGOUT_COOKIE: &str = "mutualis_fc_sortie";
/// Names a verified identity waiting to be linked.
const PENDING_COOKIE: &str = "mutualis_fc_attente";

/// The node's FranceConnect relying party, when configured.
pub fn configured(app: &AppState) -> Option<&FranceConnect> {
    app.extensions.get::<FranceConnect>()
}

/// A page with a form that leads to FranceConnect (the button, "Relier"):
/// its `form-action` allows FranceConnect's origin, since browsers hold the
/// redirects that follow a form to it.
pub fn allow_form_to_franceconnect(app: &AppState, response: &mut Response) {
    if let Some(fc) = configured(app) {
        kernel::web::headers::allow_form_target(response, &fc.config.issuer);
    }
}

fn require(app: &AppState) -> Result<&FranceConnect, Error> {
    configured(app).ok_or(Error::NotFound)
}

/// A short-lived cookie for FranceConnect's round trip: `SameSite=Lax` so
/// that it comes back with FranceConnect's top-level redirect.
fn short_cookie(app: &AppState, name: &str, value: &str, max_age_s: i64) -> HeaderValue {
    let secure = if app.site.secure() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}"
    ))
    .expect("cookie values are URL-safe base64")
}

fn refused(ctx: &PageContext, refusal: Refusal) -> Response {
    let status = match refusal {
        Refusal::Unavailable => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut page = ErrorPage::bad_request(Msg::new(
        format!(
            "{} Aucun compte n'a été relié ni créé. Vous pouvez recommencer depuis la page de connexion.",
            refusal.message_fr()
        ),
        format!(
            "{} No account was linked or created. You may start again from the sign-in page.",
            refusal.message_en()
        ),
    ));
    page.status = status;
    page.render(ctx)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StartForm {
    retour: Option<String>,
}

/// The "S'identifier avec FranceConnect" button: a request bound to this
/// browser, then FranceConnect's authorization endpoint.
pub async fn start(
    State(app): State<AppState>,
    ctx: PageContext,
    Form(f): Form<StartForm>,
) -> Result<Response, Error> {
    let fc = require(&app)?;
    let retour = safe_return_path(f.retour.as_deref());
    send_to_franceconnect(&app, fc, &ctx, Purpose::Login, &retour).await
}

/// "Relier mon compte à FranceConnect", from the signed-in person's account.
pub async fn start_link(
    State(app): State<AppState>,
    // Only a signed-in person links (the callback links the session's account).
    _: SignedIn,
    ctx: PageContext,
) -> Result<Response, Error> {
    let fc = require(&app)?;
    send_to_franceconnect(&app, fc, &ctx, Purpose::Link, "/compte/identite").await
}

async fn send_to_franceconnect(
    app: &AppState,
    fc: &FranceConnect,
    ctx: &PageContext,
    purpose: Purpose,
    retour: &str,
) -> Result<Response, Error> {
    let (state, nonce, browser) = (random_value(), random_value(), random_value());
    let url = match fc.authorization_url(&state, &nonce).await {
        Ok(url) => url,
        Err(refusal) => return Ok(refused(ctx, refusal)),
    };
    fc_store::save_request(&app.db, &state, &nonce, &browser, purpose, retour).await?;
    let mut response = Redirect::to(&url).into_response();
    let max_age = fc_store::REQUEST_TTL_MS / 1000;
    response.headers_mut().append(
        header::SET_COOKIE,
        short_cookie(app, BROWSER_COOKIE, &browser, max_age),
    );
    Ok(response)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// FranceConnect's answer: the request of this browser (by `state`, once),
/// then the error parameters, `iss`, and the code's tokens, each checked.
/// Any refusal is journaled and leaves nothing linked or created.
pub async fn callback(
    State(app): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, Error> {
    let fc = require(&app)?;
    let browser = cookie(&headers, BROWSER_COOKIE).unwrap_or_default();
    let request = match q.state.as_deref() {
        Some(state) if !browser.is_empty() => {
            fc_store::take_request(&app.db, state, browser).await?
        }
        _ => None,
    };
    let Some(request) = request else {
        return journal_refusal(&app, &ctx, Refusal::UnknownState).await;
    };
    let checked = if q.error.is_some() {
        Err(Refusal::ProviderError)
    } else if q.iss.as_deref() != Some(fc.config.issuer.as_str()) {
        Err(Refusal::WrongIssuer)
    } else {
        match q.code.as_deref() {
            Some(code) => fc.finish(code, &request.nonce).await,
            None => Err(Refusal::ProviderError),
        }
    };
    let login = match checked {
        Ok(login) => login,
        Err(refusal) => return journal_refusal(&app, &ctx, refusal).await,
    };
    let mut response = match request.purpose {
        Purpose::Login => signed_in_or_pending(&app, login, &request.return_to).await?,
        Purpose::Link => link_from_account(&app, &ctx, login).await?,
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        short_cookie(&app, BROWSER_COOKIE, "", 0),
    );
    Ok(response)
}

/// A refused answer: journaled, and a French page.
async fn journal_refusal(
    app: &AppState,
    ctx: &PageContext,
    refusal: Refusal,
) -> Result<Response, Error> {
    fc_store::record_refusal(&app.db, refusal).await?;
    Ok(refused(ctx, refusal))
}

async fn signed_in_or_pending(
    app: &AppState,
    login: crate::franceconnect::Login,
    return_to: &str,
) -> Result<Response, Error> {
    if let Some(account_id) = fc_store::linked_account(&app.db, &login.identity.sub).await? {
        let token =
            fc_store::sign_in(&app.db, account_id, &login.identity, &login.id_token_jwt).await?;
        let mut response = Redirect::to(return_to).into_response();
        response
            .headers_mut()
            .append(session::SET_COOKIE, session::set_cookie(app, &token));
        return Ok(response);
    }
    let token =
        fc_store::save_pending(&app.db, &login.identity, &login.id_token_jwt, return_to).await?;
    let mut response = Redirect::to("/franceconnect/rattachement").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        short_cookie(app, PENDING_COOKIE, &token, fc_store::PENDING_TTL_MS / 1000),
    );
    Ok(response)
}

async fn link_from_account(
    app: &AppState,
    ctx: &PageContext,
    login: crate::franceconnect::Login,
) -> Result<Response, Error> {
    let Some(viewer) = ctx.viewer.as_ref() else {
        // The session ended meanwhile: nothing to link to.
        return Ok(Redirect::to("/connexion?retour=/compte/identite").into_response());
    };
    match fc_store::link_signed_in(&app.db, viewer.account_id, &login.identity).await? {
        Ok(()) => Ok(Redirect::to("/compte/identite?franceconnect=relie").into_response()),
        Err(reason) => Ok(link_refused(ctx, reason)),
    }
}

fn link_refused(ctx: &PageContext, reason: LinkRefused) -> Response {
    let message = match reason {
        LinkRefused::IdentityTaken => Msg::new(
            "Cette identité FranceConnect est déjà reliée à un autre compte Mutualis : une identité ne peut être reliée qu'à un seul compte. Connectez-vous avec FranceConnect pour accéder à ce compte, ou déliez-le d'abord.",
            "This FranceConnect identity is already linked to another Mutualis account: an identity links to one account only. Sign in with FranceConnect to reach that account, or unlink it first.",
        ),
        LinkRefused::AccountTaken => Msg::new(
            "Ce compte est déjà relié à une autre identité FranceConnect. Déliez-la d'abord depuis « Mon identité ».",
            "This account is already linked to another FranceConnect identity. Unlink it first on “My identity”.",
        ),
    };
    let mut page = ErrorPage::bad_request(message);
    page.status = StatusCode::CONFLICT;
    page.render(ctx)
}

#[derive(Template, WebTemplate)]
#[template(path = "franceconnect_link.html")]
pub struct LinkPage {
    ctx: PageContext,
    identity: Identity,
    email: String,
    error: Option<&'static str>,
}

async fn pending_of(
    app: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(String, fc_store::Pending)>, Error> {
    let Some(token) = cookie(headers, PENDING_COOKIE) else {
        return Ok(None);
    };
    Ok(fc_store::pending(&app.db, token)
        .await?
        .map(|p| (token.to_string(), p)))
}

fn expired(ctx: &PageContext) -> Response {
    ErrorPage::bad_request(Msg::new(
        "Le délai pour relier votre identité FranceConnect est dépassé. Recommencez depuis la page de connexion.",
        "The time to link your FranceConnect identity is over. Start again from the sign-in page.",
    ))
    .render(ctx)
}

/// First FranceConnect sign-in: link to an existing account, or create one.
pub async fn link_page(
    State(app): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
) -> Result<Response, Error> {
    require(&app)?;
    let Some((_, pending)) = pending_of(&app, &headers).await? else {
        return Ok(expired(&ctx));
    };
    let email = pending.identity.email.clone().unwrap_or_default();
    Ok(LinkPage {
        ctx,
        identity: pending.identity,
        email,
        error: None,
    }
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ExistingForm {
    email: String,
    password: String,
}

/// "J'ai déjà un compte": its password proves it is theirs; failures count
/// in the same back-off as the login form (ID-1).
pub async fn link_existing(
    State(app): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    Form(f): Form<ExistingForm>,
) -> Result<Response, Error> {
    require(&app)?;
    let Some((token, pending)) = pending_of(&app, &headers).await? else {
        return Ok(expired(&ctx));
    };
    let page = |ctx, error| LinkPage {
        ctx,
        email: pending.identity.email.clone().unwrap_or_default(),
        identity: pending.identity.clone(),
        error: Some(error),
    };
    let Ok(email) = EmailAddress::parse(&f.email) else {
        return Ok((StatusCode::UNAUTHORIZED, page(ctx, "wrong_credentials")).into_response());
    };
    let account = match super::login::credentials(
        &app,
        &email,
        f.password,
        &address,
        "franceconnect.link_failure",
    )
    .await?
    {
        Credentials::Valid(account) => account,
        Credentials::Throttled(wait) => {
            return Ok(super::too_many_attempts(wait, page(ctx, "throttled")));
        }
        Credentials::Wrong => {
            return Ok((StatusCode::UNAUTHORIZED, page(ctx, "wrong_credentials")).into_response());
        }
    };
    match fc_store::link_and_sign_in(&app.db, &token, account.id, &pending).await? {
        Ok(session_token) => Ok(signed_in(&app, &session_token, &pending.return_to)),
        Err(reason) => Ok(link_refused(&ctx, reason)),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NewAccountForm {
    email: String,
}

/// "Créer mon compte" from the FranceConnect identity (no password).
pub async fn create_account(
    State(app): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
    Form(f): Form<NewAccountForm>,
) -> Result<Response, Error> {
    require(&app)?;
    let Some((token, pending)) = pending_of(&app, &headers).await? else {
        return Ok(expired(&ctx));
    };
    let page = |ctx, error| LinkPage {
        ctx,
        email: f.email.clone(),
        identity: pending.identity.clone(),
        error: Some(error),
    };
    let Ok(email) = EmailAddress::parse(&f.email) else {
        return Ok((StatusCode::BAD_REQUEST, page(ctx, "invalid_email")).into_response());
    };
    match fc_store::create_account(&app.db, &token, &pending, &email, &app.site.public_url).await? {
        Some((_, session_token)) => Ok(signed_in(&app, &session_token, &pending.return_to)),
        None => Ok((StatusCode::CONFLICT, page(ctx, "email_taken")).into_response()),
    }
}

/// The session cookie set, the pending identity forgotten, on to `return_to`.
fn signed_in(app: &AppState, session_token: &str, return_to: &str) -> Response {
    let mut response = Redirect::to(return_to).into_response();
    let headers = response.headers_mut();
    headers.append(session::SET_COOKIE, session::set_cookie(app, session_token));
    headers.append(header::SET_COOKIE, short_cookie(app, PENDING_COOKIE, "", 0));
    response
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct UnlinkForm {
    password: String,
    password_confirmation: String,
}

/// Unlinking needs a password: the account's own, or one set in the same
/// step (ID-5).
pub async fn unlink(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    Form(f): Form<UnlinkForm>,
) -> Result<Response, Error> {
    require(&app)?;
    let new_hash = if f.password.is_empty() {
        None
    } else {
        if f.password != f.password_confirmation {
            return Err(Error::Invalid(Msg::new(
                crate::domain::password::MISMATCH.0,
                crate::domain::password::MISMATCH.1,
            )));
        }
        if let Err(w) = crate::domain::password::check(&f.password, &viewer.email) {
            return Err(Error::Invalid(Msg::new(w.fr(), w.en())));
        }
        Some(app.hasher.hash(f.password).await)
    };
    match fc_store::unlink(&app.db, viewer.account_id, new_hash.as_deref()).await? {
        Ok(()) => Ok(Redirect::to("/compte/identite?franceconnect=delie").into_response()),
        Err(UnlinkRefused::NoPassword) => Err(Error::Invalid(Msg::new(
            "Votre compte n'a pas de mot de passe : choisissez-en un pour pouvoir vous connecter sans FranceConnect.",
            "Your account has no password: choose one so that you can sign in without FranceConnect.",
        ))),
        Err(UnlinkRefused::NotLinked) => Ok(Redirect::to("/compte/identite").into_response()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "franceconnect_leaving.html")]
pub struct LeavingPage {
    ctx: PageContext,
    url: String,
}

/// The platform session is already ended (see `login::logout`); the browser
/// goes on to FranceConnect's end-session endpoint, which ends the
/// FranceConnect session and comes back to `/franceconnect/deconnexion`.
/// It goes there from a page of its own (an immediate refresh, and a link):
/// a redirect would follow the logout form, and browsers hold such redirects
/// to the page's `form-action`, which names no other site. FranceConnect
/// unreachable: the platform session is ended all the same.
pub async fn logout_through_franceconnect(
    app: &AppState,
    ctx: PageContext,
    id_token: &str,
) -> Response {
    let Some(fc) = configured(app) else {
        return Redirect::to("/").into_response();
    };
    let state = random_value();
    let Ok(url) = fc.logout_url(id_token, &state).await else {
        return Redirect::to("/franceconnect/deconnexion?injoignable=1").into_response();
    };
    let mut response = LeavingPage { ctx, url }.into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        short_cookie(app, LOGOUT_COOKIE, &state, 600),
    );
    response
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LogoutReturn {
    state: Option<String>,
    injoignable: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "franceconnect_logout.html")]
pub struct LogoutPage {
    ctx: PageContext,
    /// FranceConnect confirmed the end of its session (the `state` matched).
    confirmed: bool,
}

/// Back from FranceConnect's logout.
pub async fn logout_return(
    State(app): State<AppState>,
    ctx: PageContext,
    headers: HeaderMap,
    Query(q): Query<LogoutReturn>,
) -> Result<Response, Error> {
    require(&app)?;
    let expected = cookie(&headers, LOGOUT_COOKIE).unwrap_or_default();
    let confirmed =
        q.injoignable.is_none() && !expected.is_empty() && q.state.as_deref() == Some(expected);
    let mut response = LogoutPage { ctx, confirmed }.into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, short_cookie(&app, LOGOUT_COOKIE, "", 0));
    Ok(response)
}
