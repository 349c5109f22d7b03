//! SAU-2: each service's competence matrix (category → metropolis or
//! commune) and each category's deadlines, read by every staff member and
//! edited by the metropolis's administrators.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::web::{Msg, PageContext, Role, Staff};
use serde::Deserialize;

use crate::Error;
use crate::domain::routing::Competence;
use crate::store::{self, Category, HelpService};

#[derive(Template, WebTemplate)]
#[template(path = "help_matrix.html")]
pub struct MatrixPage {
    ctx: PageContext,
    services: Vec<HelpService>,
    /// Every service (a service without categories yet can get its first).
    all_services: Vec<(String, String)>,
    can_edit: bool,
    errors: Vec<Msg>,
    saved: bool,
}

pub(super) fn editor(staff: &Staff) -> bool {
    staff
        .viewer
        .grants
        .iter()
        .any(|g| g.metropolis && g.role == Role::MetropolisAdmin)
}

async fn page(
    app: &AppState,
    staff: &Staff,
    ctx: PageContext,
    errors: Vec<Msg>,
    saved: bool,
) -> Result<MatrixPage, Error> {
    let services = store::services_with_categories(&app.db).await?;
    let all_services = agreements::store::services(&app.db)
        .await?
        .into_iter()
        .map(|s| (s.code, s.name))
        .collect();
    Ok(MatrixPage {
        ctx,
        services,
        all_services,
        can_edit: editor(staff),
        errors,
        saved,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MatrixQuery {
    enregistre: Option<String>,
}

pub async fn show(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    axum::extract::Query(q): axum::extract::Query<MatrixQuery>,
) -> Result<Response, Error> {
    Ok(page(&app, &staff, ctx, vec![], q.enregistre.is_some())
        .await?
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CategoryForm {
    service: String,
    code: String,
    label: String,
    competence: String,
    first_answer_days: String,
    resolution_days: String,
}

/// Adds or changes a category: code of lowercase letters, digits and
/// hyphens; deadlines of 1 to 60 working days, resolution not before the
/// first answer.
fn check(f: &CategoryForm) -> Result<Category, Vec<Msg>> {
    let mut errors = Vec::new();
    let code_ok = (1..=40).contains(&f.code.len())
        && f.code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !code_ok {
        errors.push(Msg::new(
            "Code : 40 caractères au plus, lettres minuscules sans accent, chiffres et tirets.",
            "Code: at most 40 characters, lowercase letters without accents, digits and hyphens.",
        ));
    }
    if !(1..=100).contains(&f.label.trim().chars().count()) {
        errors.push(Msg::new(
            "Libellé : 100 caractères au plus.",
            "Label: at most 100 characters.",
        ));
    }
    let competence = Competence::parse(&f.competence);
    if competence.is_none() {
        errors.push(Msg::new(
            "Compétence : la Métropole ou la commune.",
            "Competence: the metropolis or the commune.",
        ));
    }
    let days = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|d| (1..=60).contains(d))
    };
    let (first, resolution) = (days(&f.first_answer_days), days(&f.resolution_days));
    match (first, resolution) {
        (Some(a), Some(b)) if a <= b => {}
        _ => errors.push(Msg::new(
            "Délais : de 1 à 60 jours ouvrés, la résolution au plus tôt avec la première réponse.",
            "Deadlines: 1 to 60 working days, resolution no sooner than the first answer.",
        )),
    }
    match (competence, first, resolution, errors.is_empty()) {
        (Some(competence), Some(first_answer_days), Some(resolution_days), true) => Ok(Category {
            code: f.code.clone(),
            label: f.label.trim().to_string(),
            competence,
            first_answer_days,
            resolution_days,
        }),
        _ => Err(errors),
    }
}

pub async fn save(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Form(f): Form<CategoryForm>,
) -> Result<Response, Error> {
    if !editor(&staff) {
        return Err(Error::Forbidden);
    }
    let category = match check(&f) {
        Ok(c) => c,
        Err(errors) => {
            let page = page(&app, &staff, ctx, errors, false).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    store::set_category(&app.db, &f.service, &category).await?;
    kernel::audit::record(
        &app.db,
        &kernel::audit::Event::new(
            kernel::audit::Actor::Account(staff.viewer.account_id),
            "help.category",
            format!("service:{}", f.service),
        )
        .with(serde_json::json!({
            "category": category.code,
            "competence": category.competence.code(),
            "first_answer_days": category.first_answer_days,
            "resolution_days": category.resolution_days,
        })),
    )
    .await?;
    Ok(Redirect::to("/gestion/aide/competences?enregistre=1").into_response())
}
