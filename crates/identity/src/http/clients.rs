//! ID-3: the shared services' OpenID Connect clients, for the metropolis's
//! administrators.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kernel::AppState;
use kernel::audit::Actor;
use kernel::web::{Msg, PageContext, Role, Staff};
use serde::Deserialize;

use crate::Error;
use crate::oidc::clients::{self, Client, NewClient};

#[derive(Template, WebTemplate)]
#[template(path = "clients.html")]
pub struct ClientsPage {
    ctx: PageContext,
    clients: Vec<Client>,
    can_create: bool,
    errors: Vec<String>,
    created: Option<(String, Option<String>)>,
    /// ID-5: the platform's FranceConnect registration (environment,
    /// issuer, client id), or `None` when FranceConnect is off.
    franceconnect: Option<(&'static str, String, String)>,
}

fn franceconnect(app: &AppState) -> Option<(&'static str, String, String)> {
    super::franceconnect::configured(app).map(|fc| {
        (
            fc.config.environment.name(),
            fc.config.issuer.clone(),
            fc.config.client_id.clone(),
        )
    })
}

fn admin(staff: &Staff) -> bool {
    staff.viewer.has(Role::MetropolisAdmin)
}

/// The list is for the metropolis's staff: clients are the platform's.
pub async fn list(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<ClientsPage, Error> {
    if !staff.viewer.grants.iter().any(|g| g.metropolis) {
        return Err(Error::Forbidden);
    }
    Ok(ClientsPage {
        ctx,
        clients: clients::all(&app.db).await?,
        can_create: admin(&staff),
        errors: vec![],
        created: None,
        franceconnect: franceconnect(&app),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ClientForm {
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    backchannel_logout_uri: String,
    scope: String,
    public: String,
    sector: String,
    id_token_alg: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn create(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Form(f): Form<ClientForm>,
) -> Result<Response, Error> {
    if !admin(&staff) {
        return Err(Error::Forbidden);
    }
    let new = NewClient {
        client_id: None,
        name: f.name.trim().to_string(),
        redirect_uris: lines(&f.redirect_uris),
        post_logout_redirect_uris: lines(&f.post_logout_redirect_uris),
        backchannel_logout_uri: Some(f.backchannel_logout_uri.trim().to_string())
            .filter(|s| !s.is_empty()),
        scopes: f.scope.split_whitespace().map(str::to_string).collect(),
        public: !f.public.is_empty(),
        require_pkce: true,
        sector: Some(f.sector.trim().to_string()).filter(|s| !s.is_empty()),
        id_token_alg: Some(f.id_token_alg.clone()).filter(|s| !s.is_empty()),
        consent_lifetime_days: None,
        purpose: None,
    };
    let all = clients::all(&app.db).await?;
    if let Err(errors) = new.check() {
        let page = ClientsPage {
            ctx,
            clients: all,
            can_create: true,
            errors,
            created: None,
            franceconnect: franceconnect(&app),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let created = clients::create(&app.db, Actor::Account(staff.viewer.account_id), &new)
        .await?
        .ok_or_else(|| Error::Invalid(Msg::new("Identifiant déjà pris.", "Id already taken.")))?;
    let page = ClientsPage {
        ctx,
        clients: clients::all(&app.db).await?,
        can_create: true,
        errors: vec![],
        created: Some(created),
        franceconnect: franceconnect(&app),
    };
    Ok((StatusCode::CREATED, page).into_response())
}
