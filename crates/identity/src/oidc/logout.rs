//! ID-3: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and
//! back-channel logout of every service of the browser session.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use kernel::web::{ErrorPage, PageContext};
use kernel::{AppState, random};
use serde::Deserialize;

use super::clients;
use super::discovery::keys;
use super::{jwt, store as oidc_store};
use crate::{session, store};

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct LogoutRequest {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

/// Ends the platform session behind `token` and queues a back-channel
/// logout token to every service that session logged into. Used by the
/// platform's own logout too.
pub async fn end_session(app: &AppState, token: &str) -> Result<(), sqlx::Error> {
    let hash = random::sha256_hex(token);
    let mut messages = Vec::new();
    for (client_id, sid, account) in oidc_store::session_clients(&app.db, &hash).await? {
        if let Some(client) = clients::get(&app.db, &client_id).await?
            && let Some(m) =
                super::token::backchannel_logout(app, &client, account, Some(&sid)).await?
        {
            messages.push((client_id, m));
        }
    }
    store::close_session(&app.db, token).await?;
    let mut tx = app.db.begin().await?;
    for (client_id, m) in &messages {
        kernel::outbox::enqueue(
            &mut tx,
            &format!("backchannel-logout:{client_id}:{}", &hash[..16]),
            m,
        )
        .await?;
    }
    oidc_store::forget_session_clients(&mut tx, &hash).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Template, WebTemplate)]
#[template(path = "logout.html")]
pub struct LogoutPage {
    ctx: PageContext,
    done: bool,
    client_name: Option<String>,
    request: String,
}

/// The hint's client and subject, when its signature is ours.
async fn hint(app: &AppState, token: Option<&str>) -> Option<(String, String)> {
    let parsed = jwt::parse(token?)?;
    let ring = keys(app).ring().await;
    let key = ring.by_kid(parsed.header["kid"].as_str()?)?;
    if !jwt::verify(&parsed, &key.public_jwk)
        || parsed.claims["iss"] != app.site.public_url.as_str()
    {
        return None;
    }
    Some((
        parsed.claims["aud"].as_str()?.to_string(),
        parsed.claims["sub"].as_str()?.to_string(),
    ))
}

/// Where to send the browser afterwards: only a URI registered for the
/// client, with the state.
fn after(req: &LogoutRequest, client: Option<&clients::Client>) -> Option<String> {
    let uri = req.post_logout_redirect_uri.as_deref()?;
    if !client?.post_logout_redirect_uris.iter().any(|u| u == uri) {
        return None;
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    Some(match &req.state {
        Some(s) => format!(
            "{uri}{sep}{}",
            serde_urlencoded::to_string([("state", s)]).unwrap_or_default()
        ),
        None => uri.to_string(),
    })
}

async fn finish(
    app: &AppState,
    ctx: PageContext,
    headers: &HeaderMap,
    req: &LogoutRequest,
    client: Option<&clients::Client>,
) -> Response {
    if let Some(token) = session::token(headers)
        && let Err(e) = end_session(app, &token).await
    {
        return ErrorPage::internal(e).into_response();
    }
    let mut response = match after(req, client) {
        Some(target) => Redirect::to(&target).into_response(),
        None => LogoutPage {
            ctx,
            done: true,
            client_name: None,
            request: String::new(),
        }
        .into_response(),
    };
    response
        .headers_mut()
        .append(session::SET_COOKIE, session::clear_cookie(app));
    response
}

/// GET /oidc/logout: a valid hint for the current user ends the session at
/// once; otherwise the user confirms (a third party cannot log them out).
pub async fn logout(
    State(app): State<AppState>,
    headers: HeaderMap,
    ctx: PageContext,
    Query(req): Query<LogoutRequest>,
) -> Response {
    let hinted = hint(&app, req.id_token_hint.as_deref()).await;
    let client_id = hinted
        .as_ref()
        .map(|(c, _)| c.clone())
        .or(req.client_id.clone());
    let client = match client_id {
        Some(id) => clients::get(&app.db, &id).await.ok().flatten(),
        None => None,
    };
    let Some(viewer) = ctx.viewer.clone() else {
        // Nothing to end here.
        return finish(&app, ctx, &headers, &req, client.as_ref()).await;
    };
    let same_user = match (&hinted, &client) {
        (Some((_, sub)), Some(c)) => {
            oidc_store::pairwise_sub(&app.db, &c.sector, viewer.account_id)
                .await
                .is_ok_and(|s| &s == sub)
        }
        _ => false,
    };
    if same_user {
        return finish(&app, ctx, &headers, &req, client.as_ref()).await;
    }
    let query = serde_urlencoded::to_string([
        (
            "id_token_hint",
            req.id_token_hint.clone().unwrap_or_default(),
        ),
        (
            "post_logout_redirect_uri",
            req.post_logout_redirect_uri.clone().unwrap_or_default(),
        ),
        ("state", req.state.clone().unwrap_or_default()),
        (
            "client_id",
            client
                .as_ref()
                .map(|c| c.client_id.clone())
                .unwrap_or_default(),
        ),
    ])
    .unwrap_or_default();
    let target = after(&req, client.as_ref());
    let mut response = LogoutPage {
        ctx,
        done: false,
        client_name: client.map(|c| c.name),
        request: query,
    }
    .into_response();
    if let Some(target) = target {
        kernel::web::headers::allow_form_target(&mut response, &target);
    }
    response
}

/// POST /oidc/logout: the confirmation.
pub async fn confirm(
    State(app): State<AppState>,
    headers: HeaderMap,
    ctx: PageContext,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let req: LogoutRequest =
        serde_urlencoded::from_str(&get("request").unwrap_or_default()).unwrap_or_default();
    let empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let req = LogoutRequest {
        id_token_hint: empty(req.id_token_hint),
        post_logout_redirect_uri: empty(req.post_logout_redirect_uri),
        state: empty(req.state),
        client_id: empty(req.client_id),
    };
    let client = match &req.client_id {
        Some(id) => clients::get(&app.db, id).await.ok().flatten(),
        None => None,
    };
    finish(&app, ctx, &headers, &req, client.as_ref()).await
}
