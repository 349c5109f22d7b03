//! DATA-3: the usage dashboard. The metropolis's staff see every commune
//! and compare them; a commune's staff see their commune only (another
//! organisation does not exist for them, OPS-7). Filters: organisation,
//! service, period; the same figures as CSV.

use agreements::store::Organisation;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::web::chart::{self, Bar};
use kernel::web::csv::field;
use kernel::web::{Msg, PageContext, Staff};
use kernel::{AppState, clock};
use serde::Deserialize;
use sqlx::Row;
use time::{Date, Duration};

use crate::Error;
use crate::store::{self, Filter, Totals};

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct DashboardQuery {
    organisation: Option<i64>,
    /// A service's code; empty: all.
    service: String,
    /// `YYYY-MM-DD`; by default the last 30 days.
    du: String,
    au: String,
}

/// A period longer than this is shown by month.
const DAYS_BY_DAY: i64 = 62;

struct Chosen {
    organisations: Vec<Organisation>,
    organisation: Organisation,
    services: Vec<(String, String)>,
    filter: Filter,
    from: String,
    to: String,
}

fn date(text: &str) -> Option<Date> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// The filter the viewer may see: the organisation among theirs, its
/// commune's code (none for the metropolis: every commune).
async fn choose(app: &AppState, staff: &Staff, q: &DashboardQuery) -> Result<Chosen, Error> {
    let organisations = agreements::store::organisations(&app.db, &staff.scope).await?;
    let organisation = match q.organisation {
        Some(id) => organisations.iter().find(|o| o.id == id).cloned(),
        None => organisations.first().cloned(),
    }
    .ok_or(Error::NotFound)?;
    let today = clock::paris_day(clock::now_ms());
    let to = if q.au.is_empty() {
        Some(today)
    } else {
        date(&q.au)
    };
    let from = if q.du.is_empty() {
        to.map(|t| t - Duration::days(29))
    } else {
        date(&q.du)
    };
    let (Some(from), Some(to)) = (from, to) else {
        return Err(Error::Invalid(Msg::new(
            "Les dates s'écrivent AAAA-MM-JJ.",
            "Dates are written YYYY-MM-DD.",
        )));
    };
    if from > to {
        return Err(Error::Invalid(Msg::new(
            "La période commence après sa fin.",
            "The period starts after its end.",
        )));
    }
    let services: Vec<(String, String)> =
        sqlx::query("SELECT code, name FROM services ORDER BY name")
            .fetch_all(app.db.pool())
            .await?
            .iter()
            .map(|r| Ok::<_, sqlx::Error>((r.try_get("code")?, r.try_get("name")?)))
            .collect::<Result<_, _>>()?;
    let service_id = match q.service.as_str() {
        "" => None,
        code => Some(
            agreements::store::service_id(&app.db, code)
                .await?
                .ok_or(Error::NotFound)?,
        ),
    };
    let commune = if organisation.metropolis {
        None
    } else {
        // A commune without a code has no events of its own.
        Some(organisation.insee_code.clone().unwrap_or_default())
    };
    Ok(Chosen {
        organisations,
        organisation,
        services,
        filter: Filter {
            from,
            to,
            service_id,
            commune,
        },
        from: from.to_string(),
        to: to.to_string(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "usage_dashboard.html")]
pub struct DashboardPage {
    ctx: PageContext,
    organisations: Vec<Organisation>,
    organisation: Organisation,
    services: Vec<(String, String)>,
    q: DashboardQuery,
    from: String,
    to: String,
    total: Totals,
    monthly: bool,
    trend: Vec<(String, Totals)>,
    chart: Vec<Bar>,
    chart_width: i64,
    /// The metropolis's comparison: (commune's name, INSEE code, totals).
    communes: Vec<(String, String, Totals)>,
    comparison: Vec<Bar>,
    comparison_width: i64,
    by_type: Vec<(String, Totals)>,
    csv: String,
}

pub async fn dashboard(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Query(q): Query<DashboardQuery>,
) -> Result<Response, Error> {
    let c = choose(&app, &staff, &q).await?;
    let monthly = (c.filter.to - c.filter.from).whole_days() >= DAYS_BY_DAY;
    let trend = store::by_period(&app.db, &c.filter, monthly).await?;
    let total = trend.iter().fold(Totals::default(), |a, (_, t)| Totals {
        events: a.events + t.events,
        visitors: a.visitors + t.visitors,
        visits: a.visits + t.visits,
    });
    let chart = chart::bars(
        &trend
            .iter()
            .map(|(k, t)| (k.clone(), t.events))
            .collect::<Vec<_>>(),
    );
    let communes: Vec<(String, String, Totals)> = if c.organisation.metropolis {
        let names = agreements::store::organisations(&app.db, &kernel::web::Scope::All).await?;
        store::by_commune(&app.db, &c.filter)
            .await?
            .into_iter()
            .map(|(code, t)| {
                let name = names
                    .iter()
                    .find(|o| o.insee_code.as_deref() == Some(code.as_str()))
                    .map(|o| o.name.clone())
                    .unwrap_or_else(|| "—".into());
                (name, code, t)
            })
            .collect()
    } else {
        Vec::new()
    };
    let comparison = chart::bars(
        &communes
            .iter()
            .filter(|(_, code, _)| !code.is_empty())
            .map(|(name, _, t)| (name.clone(), t.events))
            .collect::<Vec<_>>(),
    );
    let by_type = store::by_type(&app.db, &c.filter).await?;
    let csv = format!(
        "/gestion/usage/export.csv?organisation={}&service={}&du={}&au={}",
        c.organisation.id, q.service, c.from, c.to
    );
    Ok(DashboardPage {
        ctx,
        chart_width: chart::width(chart.len()),
        comparison_width: chart::width(comparison.len()),
        organisations: c.organisations,
        organisation: c.organisation,
        services: c.services,
        q,
        from: c.from,
        to: c.to,
        total,
        monthly,
        trend,
        chart,
        communes,
        comparison,
        by_type,
        csv,
    }
    .into_response())
}

/// The dashboard's aggregates as CSV (UTF-8, `,`, ISO dates).
pub async fn export(
    State(app): State<AppState>,
    staff: Staff,
    Query(q): Query<DashboardQuery>,
) -> Result<Response, Error> {
    let c = choose(&app, &staff, &q).await?;
    let mut out = String::from("jour,service,commune,type,evenements,visiteurs,visites\n");
    for a in store::aggregates(&app.db, &c.filter).await? {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            a.day,
            field(&a.service),
            a.commune,
            field(&a.kind),
            a.totals.events,
            a.totals.visitors,
            a.totals.visits
        ));
    }
    let name = format!(
        "attachment; filename=\"usage-{}-{}-{}.csv\"",
        c.organisation.insee_code.as_deref().unwrap_or("metropole"),
        c.from,
        c.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        out,
    )
        .into_response())
}
