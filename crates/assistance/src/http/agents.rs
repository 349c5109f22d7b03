//! SAU-2, SAU-3: the agents' inbox and a request's page. An agent sees the
//! requests routed to the organisations of their roles (metropolis staff:
//! every organisation); elsewhere a request does not exist (OPS-7).

use agreements::store::Organisation;
use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::web::{Msg, PageContext, Staff};
use kernel::{AppState, clock};
use serde::Deserialize;

use crate::Error;
use crate::domain::workflow::Status;
use crate::domain::working_days;
use crate::store::{self, Filters, InboxRow, Reader, Routing, ThreadMessage};

async fn visible_organisations(app: &AppState, staff: &Staff) -> Result<Vec<Organisation>, Error> {
    Ok(agreements::store::organisations(&app.db, &staff.scope).await?)
}

/// The organisations the agent sees, and the one asked for (by default the
/// first: the metropolis for its staff, their commune for a commune's);
/// one they do not see does not exist.
async fn chosen(
    app: &AppState,
    staff: &Staff,
    asked: Option<i64>,
) -> Result<(Vec<Organisation>, Organisation), Error> {
    let organisations = visible_organisations(app, staff).await?;
    let organisation = match asked {
        Some(id) => organisations.iter().find(|o| o.id == id).cloned(),
        None => organisations.first().cloned(),
    }
    .ok_or(Error::NotFound)?;
    Ok((organisations, organisation))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InboxQuery {
    organisation: Option<i64>,
    statut: Option<String>,
    service: Option<String>,
    categorie: Option<String>,
    retard: Option<String>,
    moi: Option<String>,
    /// `created_at:id` of the last line of the previous page.
    apres: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "help_inbox.html")]
pub struct InboxPage {
    ctx: PageContext,
    organisations: Vec<Organisation>,
    organisation: Organisation,
    counts: Vec<(Status, i64)>,
    rows: Vec<InboxRow>,
    q: InboxQuery,
    next: Option<String>,
    services: Vec<(String, String)>,
}

impl InboxPage {
    fn label(&self, s: &Status) -> &'static str {
        if self.ctx.lang.code() == "fr" {
            s.label_fr()
        } else {
            s.label_en()
        }
    }
    fn statuses(&self) -> [Status; 5] {
        Status::ALL
    }
    fn selected_status(&self, s: &Status) -> bool {
        self.q.statut.as_deref() == Some(s.code())
    }
    fn next_link(&self, after: &str) -> String {
        let mut q = vec![("organisation", self.organisation.id.to_string())];
        for (k, v) in [
            ("statut", &self.q.statut),
            ("service", &self.q.service),
            ("categorie", &self.q.categorie),
            ("retard", &self.q.retard),
            ("moi", &self.q.moi),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                q.push((k, v.clone()));
            }
        }
        q.push(("apres", after.to_string()));
        format!(
            "/gestion/aide?{}",
            serde_urlencoded::to_string(q).expect("strings encode")
        )
    }
}

/// SAU-3: the inbox, with its filters and keyset pagination.
pub async fn inbox(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Query(q): Query<InboxQuery>,
) -> Result<Response, Error> {
    let (organisations, organisation) = chosen(&app, &staff, q.organisation).await?;
    let filters = Filters {
        status: q.statut.as_deref().and_then(Status::parse),
        service: q.service.clone().filter(|s| !s.is_empty()),
        category: q.categorie.clone().filter(|s| !s.is_empty()),
        overdue: q.retard.is_some(),
        assigned_to: q.moi.as_ref().map(|_| staff.viewer.account_id),
    };
    let after = q.apres.as_deref().and_then(|a| {
        let (created, id) = a.split_once(':')?;
        Some((created.parse().ok()?, id.parse().ok()?))
    });
    let today = working_days::paris_day(clock::now_ms()).to_string();
    let rows = store::inbox(&app.db, organisation.id, &filters, after, &today).await?;
    let next = (rows.len() as i64 == store::PAGE)
        .then(|| {
            rows.last()
                .map(|r| format!("{}:{}", r.request.created_at, r.request.id))
        })
        .flatten();
    let counts = store::counts(&app.db, organisation.id).await?;
    let services = store::services_with_categories(&app.db)
        .await?
        .into_iter()
        .map(|s| (s.code, s.name))
        .collect();
    Ok(InboxPage {
        ctx,
        organisations,
        organisation,
        counts,
        rows,
        q,
        next,
        services,
    }
    .into_response())
}

/// The request of `reference` if it is routed to an organisation the agent
/// sees.
async fn visible(app: &AppState, staff: &Staff, reference: &str) -> Result<store::Request, Error> {
    store::for_scope(&app.db, &staff.scope, reference)
        .await?
        .ok_or(Error::NotFound)
}

#[derive(Template, WebTemplate)]
#[template(path = "help_request.html")]
pub struct RequestPage {
    ctx: PageContext,
    request: store::Request,
    thread: Vec<ThreadMessage>,
    routings: Vec<(Routing, String)>,
    organisations: Vec<Organisation>,
    mine: bool,
    canned: Vec<store::CannedAnswer>,
    /// The reply's text: a canned answer chosen, or empty.
    draft: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RequestQuery {
    /// A canned answer to start the reply with (works without JavaScript).
    #[serde(rename = "reponse-type")]
    canned: Option<i64>,
}

impl RequestPage {
    fn label(&self, s: &Status) -> &'static str {
        if self.ctx.lang.code() == "fr" {
            s.label_fr()
        } else {
            s.label_en()
        }
    }
    fn statuses(&self) -> Vec<Status> {
        Status::ALL
            .into_iter()
            .filter(|s| *s != Status::New)
            .collect()
    }
    fn when(&self, at: &i64) -> String {
        clock::format_ms(*at)[..16].replace('T', " ")
    }
    fn reason(&self, code: &str) -> String {
        use crate::domain::routing::Reason::*;
        let reason = [
            MetropolisCompetence,
            CommuneJoined,
            CommuneNotJoined,
            CommuneUnknown,
            UnknownCategory,
        ]
        .into_iter()
        .find(|r| r.code() == code);
        match (reason, self.ctx.lang.code()) {
            (Some(r), "fr") => r.explanation_fr().to_string(),
            (Some(r), _) => r.explanation_en().to_string(),
            (None, "fr") => "Transfert".to_string(),
            (None, _) => "Transfer".to_string(),
        }
    }
}

/// SAU-1: a file of a request, for the agents who see the request.
pub async fn attachment(
    State(app): State<AppState>,
    staff: Staff,
    Path((reference, id)): Path<(String, i64)>,
) -> Result<Response, Error> {
    let request = visible(&app, &staff, &reference).await?;
    super::public::download(&app, request.id, id, Reader::Agent).await
}

/// SAU-2, SAU-3: a request with its thread (notes included), routing
/// history and reasons, and the agent's actions.
pub async fn request(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Path(reference): Path<String>,
    Query(q): Query<RequestQuery>,
) -> Result<Response, Error> {
    let request = visible(&app, &staff, &reference).await?;
    let thread = store::thread(&app.db, request.id, Reader::Agent).await?;
    let canned = store::canned_answers(&app.db, request.organisation_id).await?;
    let draft = q
        .canned
        .and_then(|id| canned.iter().find(|c| c.id == id))
        .map(|c| c.body.clone())
        .unwrap_or_default();
    let all = agreements::store::organisations(&app.db, &kernel::web::Scope::All).await?;
    let name = |id: i64| {
        all.iter()
            .find(|o| o.id == id)
            .map(|o| o.name.clone())
            .unwrap_or_default()
    };
    let routings = store::routings(&app.db, request.id)
        .await?
        .into_iter()
        .map(|r| {
            let n = name(r.organisation_id);
            (r, n)
        })
        .collect();
    let mine = request.assigned_to == Some(staff.viewer.account_id);
    Ok(RequestPage {
        ctx,
        request,
        thread,
        routings,
        organisations: all,
        mine,
        canned,
        draft,
    }
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MessageForm {
    message: String,
    interne: Option<String>,
}

fn back(reference: &str) -> Response {
    Redirect::to(&format!("/gestion/aide/{reference}")).into_response()
}

pub async fn message(
    State(app): State<AppState>,
    staff: Staff,
    Path(reference): Path<String>,
    Form(f): Form<MessageForm>,
) -> Result<Response, Error> {
    let request = visible(&app, &staff, &reference).await?;
    if !(1..=10_000).contains(&f.message.trim().chars().count()) {
        return Err(Error::Invalid(Msg::new(
            "Écrivez un message de 10 000 caractères au plus.",
            "Write a message of at most 10,000 characters.",
        )));
    }
    store::agent_message(
        &app.db,
        request.id,
        staff.viewer.account_id,
        f.message.trim(),
        f.interne.is_some(),
        &app.site.public_url,
    )
    .await?;
    Ok(back(&reference))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct StatusForm {
    statut: String,
}

pub async fn status(
    State(app): State<AppState>,
    staff: Staff,
    Path(reference): Path<String>,
    Form(f): Form<StatusForm>,
) -> Result<Response, Error> {
    let request = visible(&app, &staff, &reference).await?;
    let status = Status::parse(&f.statut).ok_or(Error::Invalid(Msg::new(
        "Choisissez un état de la liste.",
        "Choose a status from the list.",
    )))?;
    store::set_status(&app.db, request.id, status, &app.site.public_url).await?;
    Ok(back(&reference))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TransferForm {
    organisation: String,
    motif: String,
}

pub async fn transfer(
    State(app): State<AppState>,
    staff: Staff,
    Path(reference): Path<String>,
    Form(f): Form<TransferForm>,
) -> Result<Response, Error> {
    let request = visible(&app, &staff, &reference).await?;
    let to: i64 = f.organisation.parse().map_err(|_| {
        Error::Invalid(Msg::new(
            "Choisissez un organisme de la liste.",
            "Choose a body from the list.",
        ))
    })?;
    if to == request.organisation_id || !(1..=1000).contains(&f.motif.trim().chars().count()) {
        return Err(Error::Invalid(Msg::new(
            "Choisissez un autre organisme et donnez le motif du transfert (1 000 caractères au plus).",
            "Choose another body and give the reason for the transfer (at most 1,000 characters).",
        )));
    }
    store::transfer(
        &app.db,
        request.id,
        staff.viewer.account_id,
        to,
        f.motif.trim(),
        &app.site.public_url,
    )
    .await?;
    // The request may now be outside this agent's organisations.
    Ok(Redirect::to("/gestion/aide").into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AssignForm {
    /// `moi` or `personne`.
    agent: String,
}

pub async fn assign(
    State(app): State<AppState>,
    staff: Staff,
    Path(reference): Path<String>,
    Form(f): Form<AssignForm>,
) -> Result<Response, Error> {
    let request = visible(&app, &staff, &reference).await?;
    let agent = match f.agent.as_str() {
        "moi" => Some(staff.viewer.account_id),
        "personne" => None,
        _ => {
            return Err(Error::Invalid(Msg::new(
                "Choix d'attribution inconnu.",
                "Unknown assignment choice.",
            )));
        }
    };
    store::assign(&app.db, request.id, agent, &app.site.public_url).await?;
    Ok(back(&reference))
}

#[derive(Template, WebTemplate)]
#[template(path = "help_canned.html")]
pub struct CannedPage {
    ctx: PageContext,
    organisations: Vec<Organisation>,
    organisation: Organisation,
    answers: Vec<store::CannedAnswer>,
    saved: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CannedQuery {
    organisation: Option<i64>,
    enregistre: Option<String>,
}

/// SAU-3: an organisation's canned answers.
pub async fn canned(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Query(q): Query<CannedQuery>,
) -> Result<Response, Error> {
    let (organisations, organisation) = chosen(&app, &staff, q.organisation).await?;
    let answers = store::canned_answers(&app.db, organisation.id).await?;
    Ok(CannedPage {
        ctx,
        organisations,
        organisation,
        answers,
        saved: q.enregistre.is_some(),
    }
    .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CannedForm {
    organisation: String,
    title: String,
    body: String,
}

pub async fn add_canned(
    State(app): State<AppState>,
    staff: Staff,
    Form(f): Form<CannedForm>,
) -> Result<Response, Error> {
    let organisation: i64 = f.organisation.parse().map_err(|_| Error::NotFound)?;
    if !visible_organisations(&app, &staff)
        .await?
        .iter()
        .any(|o| o.id == organisation)
    {
        return Err(Error::NotFound);
    }
    if !(1..=100).contains(&f.title.trim().chars().count())
        || !(1..=10_000).contains(&f.body.trim().chars().count())
    {
        return Err(Error::Invalid(Msg::new(
            "Donnez un titre (100 caractères au plus) et un texte (10 000 au plus).",
            "Give a title (at most 100 characters) and a text (at most 10,000).",
        )));
    }
    store::add_canned_answer(&app.db, organisation, f.title.trim(), f.body.trim()).await?;
    Ok(Redirect::to(&format!(
        "/gestion/aide/reponses-types?organisation={organisation}&enregistre=1"
    ))
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "help_figures.html")]
pub struct FiguresPage {
    ctx: PageContext,
    organisations: Vec<Organisation>,
    organisation: Organisation,
    figures: store::Figures,
    chart: Vec<kernel::web::chart::Bar>,
}

impl FiguresPage {
    fn hours(&self, h: &Option<f64>) -> String {
        match h {
            Some(h) if *h < 48.0 => format!("{h:.1} h"),
            Some(h) => format!("{:.1} j", h / 24.0),
            None => "—".to_string(),
        }
    }
    fn share(&self) -> String {
        self.figures
            .within_deadline
            .map(|s| format!("{:.0} %", s * 100.0))
            .unwrap_or_else(|| "—".to_string())
    }
}

/// SAU-8: an organisation's figures, as a table and a chart.
pub async fn figures(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Query(q): Query<CannedQuery>,
) -> Result<Response, Error> {
    let (organisations, organisation) = chosen(&app, &staff, q.organisation).await?;
    let figures = store::figures(&app.db, organisation.id, clock::now_ms()).await?;
    let chart = kernel::web::chart::bars(&figures.by_month);
    Ok(FiguresPage {
        ctx,
        organisations,
        organisation,
        figures,
        chart,
    }
    .into_response())
}
