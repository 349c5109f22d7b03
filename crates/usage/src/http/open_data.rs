//! DATA-4: the open data, for anyone and for the portals that harvest it:
//! `/opendata` (the page), `/opendata/catalog.jsonld` (DCAT),
//! `/opendata/{id}.csv` and `/opendata/{id}.schema.json`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::web::{PageContext, Scope};
use kernel::{AppState, clock};
use time::Date;

use crate::Error;
use crate::domain::open_data::{self, Coverage, DATASETS, Dataset, Entry, Source};
use crate::store;

/// A dataset as published today: its rows, what the catalogue says, and
/// the publisher.
struct Published {
    rows: Vec<Vec<String>>,
    entry: Entry,
    publisher: String,
}

/// How long a node serves a dataset it computed again. Each computation
/// reads the whole history (the help requests' medians, one row per
/// request): a portal harvesting, or many people downloading, must not
/// recompute it each time, and figures that change with late events and
/// answers need not be fresher than this.
const FRESH_MS: i64 = 10 * 60 * 1000;

/// A node's datasets as last computed, put in the state when the node is
/// composed. One computation at a time: requests that come meanwhile wait
/// for it rather than start their own.
#[derive(Clone, Default)]
pub struct Cache(Arc<tokio::sync::Mutex<HashMap<&'static str, Computed>>>);

/// When a dataset was computed (Unix ms), and what it gave.
type Computed = (i64, Arc<Published>);

/// Names by code: the communes' (INSEE) and the services'; and the
/// metropolis's name, the publisher.
struct Names {
    communes: BTreeMap<String, String>,
    services: BTreeMap<String, String>,
    publisher: String,
}

async fn names(app: &AppState) -> Result<Names, Error> {
    let organisations = agreements::store::organisations(&app.db, &Scope::All).await?;
    let publisher = organisations
        .iter()
        .find(|o| o.metropolis)
        .map_or_else(|| "Métropole".to_string(), |o| o.name.clone());
    Ok(Names {
        communes: organisations
            .into_iter()
            .filter_map(|o| Some((o.insee_code?, o.name)))
            .collect(),
        services: agreements::store::services(&app.db)
            .await?
            .into_iter()
            .map(|s| (s.code, s.name))
            .collect(),
        publisher,
    })
}

/// The dataset as published: this node's copy while fresh, computed
/// otherwise (and always when the node keeps no cache).
async fn published(app: &AppState, d: &'static Dataset) -> Result<Arc<Published>, Error> {
    let Some(cache) = app.extensions.get::<Cache>() else {
        return Ok(Arc::new(compute(app, d, &names(app).await?).await?));
    };
    let mut datasets = cache.0.lock().await;
    let now = clock::now_ms();
    if let Some((at, published)) = datasets.get(d.id)
        && now - at < FRESH_MS
    {
        return Ok(published.clone());
    }
    let published = Arc::new(compute(app, d, &names(app).await?).await?);
    datasets.insert(d.id, (now, published.clone()));
    Ok(published)
}

/// Monthly datasets hold the complete months only: before the first day of
/// the current month (Paris). Late events and answers may still change a
/// past month, so they are dated as modified today.
async fn compute(app: &AppState, d: &'static Dataset, names: &Names) -> Result<Published, Error> {
    let today = clock::paris_day(clock::now_ms());
    let this_month = today.replace_day(1).expect("day 1 exists");
    let monthly = |rows: Vec<Vec<String>>| {
        let coverage = match (rows.first(), rows.last()) {
            (Some(first), Some(last)) => Coverage::months(&first[0], &last[0]),
            _ => None,
        };
        Published {
            rows,
            entry: Entry {
                dataset: d,
                coverage,
                issued: coverage.map(|c| c.start + month_length(c.start)),
                modified: today,
            },
            publisher: names.publisher.clone(),
        }
    };
    Ok(match d.source {
        Source::Usage => {
            let usage = store::monthly_by_commune(&app.db, this_month).await?;
            monthly(open_data::usage_rows(
                &usage,
                &names.communes,
                &names.services,
            ))
        }
        Source::HelpRequests => {
            let cells = assistance::store::monthly_cells(&app.db, this_month).await?;
            monthly(open_data::help_rows(
                &cells,
                &names.communes,
                &names.services,
            ))
        }
        Source::Contributions => {
            let lines = agreements::store::contribution_lines(&app.db).await?;
            let coverage = match (lines.first(), lines.last()) {
                (Some(first), Some(last)) => Coverage::years(first.year, last.year),
                _ => None,
            };
            let issued = |at: i64| clock::paris_day(at);
            Published {
                entry: Entry {
                    dataset: d,
                    coverage,
                    issued: lines.iter().map(|l| l.issued_at).min().map(issued),
                    modified: lines
                        .iter()
                        .map(|l| l.issued_at)
                        .max()
                        .map_or(today, issued),
                },
                rows: open_data::contribution_rows(&lines),
                publisher: names.publisher.clone(),
            }
        }
    })
}

/// The length of the month of `day`.
fn month_length(day: Date) -> time::Duration {
    time::Duration::days(i64::from(day.month().length(day.year())))
}

/// Open data is for everyone, other sites' scripts included, and is
/// computed afresh at most hourly by caches.
fn open_headers(content_type: &'static str) -> [(header::HeaderName, &'static str); 3] {
    [
        (header::CONTENT_TYPE, content_type),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (header::CACHE_CONTROL, "public, max-age=3600"),
    ]
}

/// Every dataset's catalogue entry, and the publisher.
async fn entries(app: &AppState) -> Result<(Vec<Entry>, String), Error> {
    let mut entries = Vec::new();
    let mut publisher = String::new();
    for d in DATASETS {
        let published = published(app, d).await?;
        entries.push(published.entry);
        publisher.clone_from(&published.publisher);
    }
    Ok((entries, publisher))
}

/// `/opendata/catalog.jsonld`: the DCAT catalogue.
pub async fn catalog(State(app): State<AppState>) -> Result<Response, Error> {
    let (entries, publisher) = entries(&app).await?;
    let body = open_data::catalog(&app.site.public_url, &publisher, &entries);
    Ok((open_headers("application/ld+json"), body.to_string()).into_response())
}

/// `/opendata/{id}.csv` and `/opendata/{id}.schema.json`.
pub async fn file(
    State(app): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, Error> {
    if let Some(id) = file.strip_suffix(".schema.json") {
        let d = open_data::find(id).ok_or(Error::NotFound)?;
        let schema = open_data::table_schema(d, &app.site.public_url);
        return Ok((open_headers("application/json"), schema.to_string()).into_response());
    }
    let id = file.strip_suffix(".csv").ok_or(Error::NotFound)?;
    let d = open_data::find(id).ok_or(Error::NotFound)?;
    let published = published(&app, d).await?;
    let mut response = (
        open_headers("text/csv; charset=utf-8"),
        open_data::csv(d, &published.rows),
    )
        .into_response();
    let disposition = format!("attachment; filename=\"{}.csv\"", d.id);
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        disposition.parse().expect("a dataset id is a header value"),
    );
    Ok(response)
}

#[derive(Template, WebTemplate)]
#[template(path = "open_data.html")]
pub struct OpenDataPage {
    ctx: PageContext,
    datasets: Vec<Entry>,
    publisher: String,
    licence_url: &'static str,
}

/// `/opendata`: the datasets, for people.
pub async fn page(State(app): State<AppState>, ctx: PageContext) -> Result<OpenDataPage, Error> {
    let (datasets, publisher) = entries(&app).await?;
    Ok(OpenDataPage {
        ctx,
        datasets,
        publisher,
        licence_url: open_data::LICENCE_URL,
    })
}
