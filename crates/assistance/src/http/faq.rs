//! SAU-6: the FAQ, written by the metropolis's staff for every category and
//! by a commune's staff for the categories that are communes' competence.

use agreements::store::Organisation;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::web::{Msg, PageContext, Staff};
use serde::Deserialize;

use crate::Error;
use crate::domain::routing::Competence;
use crate::store::{self, FaqEntry, HelpService};

#[derive(Template, WebTemplate)]
#[template(path = "help_faq_staff.html")]
pub struct FaqPage {
    ctx: PageContext,
    services: Vec<HelpService>,
    entries: Vec<FaqEntry>,
    /// Who writes: the organisations of the staff member's roles.
    authors: Vec<Organisation>,
    errors: Vec<Msg>,
    saved: bool,
}

async fn authors(app: &AppState, staff: &Staff) -> Result<Vec<Organisation>, Error> {
    let ids: Vec<i64> = staff
        .viewer
        .grants
        .iter()
        .map(|g| g.organisation_id)
        .collect();
    Ok(
        agreements::store::organisations(&app.db, &kernel::web::Scope::All)
            .await?
            .into_iter()
            .filter(|o| ids.contains(&o.id))
            .collect(),
    )
}

async fn page(
    app: &AppState,
    staff: &Staff,
    ctx: PageContext,
    errors: Vec<Msg>,
    saved: bool,
) -> Result<FaqPage, Error> {
    let services = store::services_with_categories(&app.db).await?;
    let mut entries = Vec::new();
    for s in &services {
        entries.extend(store::faq(&app.db, &s.code, "", 200).await?);
    }
    Ok(FaqPage {
        ctx,
        services,
        entries,
        authors: authors(app, staff).await?,
        errors,
        saved,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FaqQuery {
    enregistre: Option<String>,
}

pub async fn show(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Query(q): Query<FaqQuery>,
) -> Result<Response, Error> {
    Ok(page(&app, &staff, ctx, vec![], q.enregistre.is_some())
        .await?
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EntryForm {
    /// `service/category`, or `service/` for the whole service.
    topic: String,
    organisation: String,
    question: String,
    answer: String,
}

pub async fn add(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Form(f): Form<EntryForm>,
) -> Result<Response, Error> {
    let authors = authors(&app, &staff).await?;
    let author = f
        .organisation
        .parse::<i64>()
        .ok()
        .and_then(|id| authors.iter().find(|o| o.id == id))
        .cloned()
        .ok_or(Error::Forbidden)?;
    let services = store::services_with_categories(&app.db).await?;
    let mut errors = Vec::new();
    let (service, category) = f.topic.split_once('/').unwrap_or((&f.topic, ""));
    let known = services.iter().find(|s| s.code == service);
    let category_row = known.and_then(|s| s.categories.iter().find(|c| c.code == category));
    if known.is_none() || (!category.is_empty() && category_row.is_none()) {
        errors.push(Msg::new(
            "Sujet : choisissez un service (et une catégorie) dans la liste.",
            "Topic: choose a service (and a category) from the list.",
        ));
    }
    // A commune writes only for the categories that are communes' competence.
    if !author.metropolis && category_row.is_none_or(|c| c.competence != Competence::Commune) {
        errors.push(Msg::new(
            "Une commune rédige les questions des catégories de compétence communale seulement.",
            "A commune writes the questions of the categories that are communes' competence only.",
        ));
    }
    if !(1..=300).contains(&f.question.trim().chars().count())
        || !(1..=5_000).contains(&f.answer.trim().chars().count())
    {
        errors.push(Msg::new(
            "Question (300 caractères au plus) et réponse (5 000 au plus) sont à remplir.",
            "Question (at most 300 characters) and answer (at most 5,000) are required.",
        ));
    }
    if !errors.is_empty() {
        let page = page(&app, &staff, ctx, errors, false).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    store::add_faq_entry(
        &app.db,
        service,
        Some(category).filter(|c| !c.is_empty()),
        author.id,
        f.question.trim(),
        f.answer.trim(),
    )
    .await?;
    Ok(Redirect::to("/gestion/aide/faq?enregistre=1").into_response())
}
