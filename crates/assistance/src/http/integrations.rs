//! SAU-7: how each service uses the help API — its OpenID Connect client
//! (for `client_credentials`) and its status-change webhook with the
//! signing secret, shown once. Read by every staff member, set by the
//! metropolis's administrators (like the competence matrices).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kernel::web::{Msg, PageContext, Staff};
use kernel::{AppState, random};
use serde::Deserialize;

use super::matrix::editor;
use crate::Error;
use crate::store::{self, ServiceLink};

#[derive(Template, WebTemplate)]
#[template(path = "help_integrations.html")]
pub struct IntegrationsPage {
    ctx: PageContext,
    links: Vec<ServiceLink>,
    /// Registered clients: id and name.
    clients: Vec<(String, String)>,
    can_edit: bool,
    errors: Vec<Msg>,
    /// The service just saved, and its new signing secret (shown once).
    saved: Option<(String, Option<String>)>,
}

async fn page(
    app: &AppState,
    staff: &Staff,
    ctx: PageContext,
    errors: Vec<Msg>,
    saved: Option<(String, Option<String>)>,
) -> Result<IntegrationsPage, Error> {
    Ok(IntegrationsPage {
        ctx,
        links: store::service_links(&app.db).await?,
        clients: identity::oidc::clients::all(&app.db)
            .await?
            .into_iter()
            .filter(|c| !c.public)
            .map(|c| (c.client_id, c.name))
            .collect(),
        can_edit: editor(staff),
        errors,
        saved,
    })
}

pub async fn show(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<Response, Error> {
    Ok(page(&app, &staff, ctx, vec![], None).await?.into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LinkForm {
    service: String,
    client_id: String,
    webhook_url: String,
    /// `1` to make a new signing secret.
    new_secret: String,
}

pub async fn save(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Form(f): Form<LinkForm>,
) -> Result<Response, Error> {
    if !editor(&staff) {
        return Err(Error::Forbidden);
    }
    let current = page(&app, &staff, ctx, vec![], None).await?;
    let mut errors = Vec::new();
    let link = current.links.iter().find(|l| l.service_code == f.service);
    if link.is_none() {
        errors.push(Msg::new(
            "Service : choisissez un service de la liste.",
            "Service: choose a service from the list.",
        ));
    }
    let client = Some(f.client_id.as_str()).filter(|c| !c.is_empty());
    if client.is_some_and(|c| !current.clients.iter().any(|(id, _)| id == c)) {
        errors.push(Msg::new(
            "Client : choisissez un client confidentiel enregistré.",
            "Client: choose a registered confidential client.",
        ));
    }
    let url = Some(f.webhook_url.trim()).filter(|u| !u.is_empty());
    if url.is_some_and(|u| identity::oidc::clients::check_uri(u).is_err() || u.len() > 500) {
        errors.push(Msg::new(
            "Adresse du webhook : une adresse https (http seulement vers cette machine), sans fragment.",
            "Webhook address: an https address (http only to this machine), without a fragment.",
        ));
    }
    // A webhook is always signed: its first address comes with a secret.
    let secret = (f.new_secret == "1" || (url.is_some() && !link.is_some_and(|l| l.has_secret)))
        .then(|| random::token(32));
    let mut current = current;
    if !errors.is_empty() {
        current.errors = errors;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, current).into_response());
    }
    let result = store::set_service_link(
        &app.db,
        &f.service,
        client,
        url,
        secret.as_deref(),
        kernel::audit::Actor::Account(staff.viewer.account_id),
    )
    .await;
    match result {
        Ok(()) => {}
        Err(Error::Invalid(msg)) => {
            current.errors = vec![msg];
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, current).into_response());
        }
        Err(e) => return Err(e),
    }
    let ctx = current.ctx;
    Ok(page(&app, &staff, ctx, vec![], Some((f.service, secret)))
        .await?
        .into_response())
}
