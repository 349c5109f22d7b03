use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use kernel::AppState;
use kernel::audit::{self, Entry};
use kernel::clock::format_ms;
use kernel::web::{PageContext, Role, Staff};
use serde::Deserialize;

use crate::Error;

#[derive(Template, WebTemplate)]
#[template(path = "journal.html")]
pub struct JournalPage {
    ctx: PageContext,
    entries: Vec<Entry>,
    older: Option<i64>,
}

impl JournalPage {
    fn when(&self, e: &Entry) -> String {
        format_ms(e.at)
    }
}

#[derive(Deserialize)]
pub struct JournalQuery {
    avant: Option<i64>,
}

const PAGE: i64 = 50;

/// OPS-3: the journal covers every organisation, so only the metropolis's
/// administrators (the data protection officer among them) read it.
pub async fn page(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Query(q): Query<JournalQuery>,
) -> Result<JournalPage, Error> {
    staff.require(staff.viewer.has(Role::MetropolisAdmin))?;
    let entries = audit::latest(&app.db, q.avant, PAGE).await?;
    let older = if entries.len() as i64 == PAGE {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(JournalPage {
        ctx,
        entries,
        older,
    })
}
