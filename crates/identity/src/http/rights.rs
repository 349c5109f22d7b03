//! ID-8: "Mes données": export everything, delete the account.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::audit::{self, Actor, Event};
use kernel::web::{Msg, PageContext, SignedIn};
use serde::Deserialize;

use crate::store::{self, rights};
use crate::{Error, session};

#[derive(Template, WebTemplate)]
#[template(path = "data.html")]
pub struct DataPage {
    ctx: PageContext,
    error: Option<Msg>,
}

pub async fn page(_user: SignedIn, ctx: PageContext) -> DataPage {
    DataPage { ctx, error: None }
}

pub async fn export(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
) -> Result<Response, Error> {
    let data = rights::export(&app.db, viewer.account_id).await?;
    audit::record(
        &app.db,
        &Event::new(
            Actor::Account(viewer.account_id),
            "data.export",
            format!("account:{}", viewer.account_id),
        ),
    )
    .await?;
    let body = serde_json::to_string_pretty(&data).expect("JSON");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"mes-donnees-mutualis.json\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteForm {
    password: String,
    confirm: String,
}

/// Deleting needs the password again and an explicit tick.
pub async fn delete(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    headers: HeaderMap,
    ctx: PageContext,
    Form(f): Form<DeleteForm>,
) -> Result<Response, Error> {
    let again = |ctx, error: Msg| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            DataPage {
                ctx,
                error: Some(error),
            },
        )
            .into_response()
    };
    let account = store::account_by_id(&app.db, viewer.account_id)
        .await?
        .ok_or(Error::NotFound)?;
    if f.confirm != "oui" {
        return Ok(again(
            ctx,
            Msg::new(
                "Cochez la case pour confirmer la suppression.",
                "Tick the box to confirm the deletion.",
            ),
        ));
    }
    if !app
        .hasher
        .verify(f.password, account.password_hash.clone())
        .await
    {
        return Ok(again(
            ctx,
            Msg::new(
                "Le mot de passe est incorrect : le compte n'a pas été supprimé.",
                "Wrong password: the account was not deleted.",
            ),
        ));
    }
    // The services of this session are told first (back-channel logout).
    if let Some(token) = session::token(&headers) {
        crate::oidc::logout::end_session(&app, &token).await?;
    }
    rights::delete_account(
        &app.db,
        account.id,
        Actor::Account(account.id),
        "requested by the user",
    )
    .await?;
    let mut response = Redirect::to("/?compte-supprime=1").into_response();
    response
        .headers_mut()
        .append(session::SET_COOKIE, session::clear_cookie(&app));
    Ok(response)
}
