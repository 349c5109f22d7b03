use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use kernel::AppState;
use kernel::web::{PageContext, Staff};

use crate::Error;
use crate::store::{self, Service};

#[derive(Template, WebTemplate)]
#[template(path = "services.html")]
pub struct ServicesPage {
    ctx: PageContext,
    services: Vec<Service>,
}

/// The services catalogue (CONV-2) is the same for every staff member.
pub async fn list(
    State(app): State<AppState>,
    _staff: Staff,
    ctx: PageContext,
) -> Result<ServicesPage, Error> {
    Ok(ServicesPage {
        ctx,
        services: store::services(&app.db).await?,
    })
}
