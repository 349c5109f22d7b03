//! ID-4: "Mes consentements": live consents and their history; revoking;
//! receipts.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::clock;
use kernel::web::{PageContext, SignedIn};
use serde::Deserialize;

use crate::Error;
use crate::oidc::clients::{self, Client};
use crate::oidc::consents::{self, ConsentRecord};

pub struct Row {
    pub record: ConsentRecord,
    pub client_name: String,
}

impl Row {
    pub fn at(&self) -> String {
        clock::format_ms(self.record.at)[..10].to_string()
    }
    pub fn until(&self) -> String {
        self.record
            .expires_at
            .map(|e| clock::format_ms(e)[..10].to_string())
            .unwrap_or_else(|| "—".into())
    }
    pub fn event_fr(&self) -> &'static str {
        match self.record.event.as_str() {
            "given" => "donné",
            "changed" => "modifié",
            "revoked" => "retiré",
            "expired" => "expiré",
            _ => "clos (suppression du compte)",
        }
    }
    pub fn event_en(&self) -> &'static str {
        match self.record.event.as_str() {
            "given" => "given",
            "changed" => "changed",
            "revoked" => "withdrawn",
            "expired" => "expired",
            _ => "ended (account deleted)",
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "consents.html")]
pub struct ConsentsPage {
    ctx: PageContext,
    active: Vec<Row>,
    history: Vec<Row>,
}

async fn rows(app: &AppState, account_id: i64) -> Result<(Vec<Row>, Vec<Row>), Error> {
    let history = consents::history(&app.db, account_id).await?;
    let all = clients::all(&app.db).await?;
    let name = |id: &str| {
        all.iter()
            .find(|c| c.client_id == id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let now = clock::now_ms();
    let mut active = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in &history {
        // The newest record of each service says whether a consent is live.
        if seen.insert(r.client_id.clone()) && r.live(now) {
            active.push(Row {
                record: r.clone(),
                client_name: name(&r.client_id),
            });
        }
    }
    let history = history
        .into_iter()
        .map(|r| Row {
            client_name: name(&r.client_id),
            record: r,
        })
        .collect();
    Ok((active, history))
}

pub async fn page(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    ctx: PageContext,
) -> Result<ConsentsPage, Error> {
    let (active, history) = rows(&app, viewer.account_id).await?;
    Ok(ConsentsPage {
        ctx,
        active,
        history,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RevokeForm {
    client_id: String,
}

async fn client(app: &AppState, id: &str) -> Result<Client, Error> {
    clients::get(&app.db, id).await?.ok_or(Error::NotFound)
}

/// Withdraws a consent: the service's tokens die and it is told by
/// back-channel logout.
pub async fn revoke(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    Form(f): Form<RevokeForm>,
) -> Result<Response, Error> {
    let client = client(&app, &f.client_id).await?;
    let logout =
        crate::oidc::token::backchannel_logout(&app, &client, viewer.account_id, None).await?;
    consents::revoke(&app.db, viewer.account_id, &client, logout).await?;
    Ok(Redirect::to("/compte/consentements").into_response())
}

/// A consent receipt as JSON (Kantara Consent Receipt fields).
pub async fn receipt(
    State(app): State<AppState>,
    SignedIn(viewer): SignedIn,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let history = consents::history(&app.db, viewer.account_id).await?;
    let record = history
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(Error::NotFound)?;
    let client = client(&app, &record.client_id).await?;
    let body = consents::receipt(&record, &client, &viewer.email, &app.site.public_url);
    let disposition = format!("attachment; filename=\"recu-consentement-{id}.json\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        serde_json::to_string_pretty(&body).expect("JSON"),
    )
        .into_response())
}
