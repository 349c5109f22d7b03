use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use kernel::AppState;
use kernel::web::{PageContext, Staff};

use crate::Error;
use crate::store::{self, CommuneSummary, Organisation, PopulationRow};

#[derive(Template, WebTemplate)]
#[template(path = "communes.html")]
pub struct CommunesPage {
    ctx: PageContext,
    communes: Vec<CommuneSummary>,
    total: i64,
}

pub fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

pub async fn list(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<CommunesPage, Error> {
    let communes = store::list_communes(&app.db, &staff.scope, &today()).await?;
    let total = communes.iter().filter_map(|c| c.population).sum();
    Ok(CommunesPage {
        ctx,
        communes,
        total,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "commune.html")]
pub struct CommunePage {
    ctx: PageContext,
    commune: Organisation,
    populations: Vec<PopulationRow>,
    can_edit: bool,
}

pub async fn show(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Path(insee): Path<String>,
) -> Result<CommunePage, Error> {
    let commune = store::commune(&app.db, &staff.scope, &insee)
        .await?
        .ok_or(Error::NotFound)?;
    let populations = store::populations(&app.db, commune.id).await?;
    let can_edit = staff.viewer.has(kernel::web::Role::MetropolisAdmin);
    Ok(CommunePage {
        ctx,
        commune,
        populations,
        can_edit,
    })
}
