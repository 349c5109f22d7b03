//! Staff pages of the framework agreements (CONV-3 to CONV-8): the list, a
//! new agreement, and one page per agreement with its annexes, amendments,
//! notices, formal notices and claims. Metropolis administrators record;
//! commune staff read their own commune's (OPS-7).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::audit::Actor;
use kernel::clock;
use kernel::web::{PageContext, Role, Scope, Staff};
use serde::Deserialize;
use time::Date;

use super::forms;
use crate::Error;
use crate::domain::agreement::AgreementState;
use crate::store::{
    self, AgreementRow, AmendmentKind, AmendmentRow, AnnexRow, BreachNoticeRow, CommuneSummary,
    DisputeRow, NewAnnex, NoticeRow, Referent, Service,
};

/// Recording agreements' events is the metropolis administrators' work.
fn recorder(staff: &Staff) -> Result<Actor, Error> {
    if staff.viewer.has(Role::MetropolisAdmin) {
        Ok(Actor::Account(staff.viewer.account_id))
    } else {
        Err(Error::Forbidden)
    }
}

fn to_detail(id: i64, anchor: &str) -> Response {
    Redirect::to(&format!("/gestion/conventions/{id}#{anchor}")).into_response()
}

/// An agreement with where it stands today.
pub struct AgreementView {
    pub row: AgreementRow,
    pub state: AgreementState,
}

impl AgreementView {
    fn new(row: AgreementRow, today: Date) -> AgreementView {
        let state = row.state(today);
        AgreementView { row, state }
    }

    /// Where it stands, in plain words.
    pub fn status(&self, lang: kernel::web::Lang) -> String {
        use kernel::web::Lang::*;
        match (self.state, lang) {
            (AgreementState::Draft, Fr) => "Brouillon : en attente des deux signatures".into(),
            (AgreementState::Draft, En) => "Draft: awaiting both signatures".into(),
            (AgreementState::Signed { effective }, Fr) => {
                format!("Signée, prend effet le {effective}")
            }
            (AgreementState::Signed { effective }, En) => {
                format!("Signed, takes effect on {effective}")
            }
            (AgreementState::InForce { year, .. }, Fr) => {
                format!(
                    "En vigueur : année d'adhésion {} sur 6 (du {} au {})",
                    year.number, year.first_day, year.last_day
                )
            }
            (AgreementState::InForce { year, .. }, En) => {
                format!(
                    "In force: adhesion year {} of 6 ({} to {})",
                    year.number, year.first_day, year.last_day
                )
            }
            (
                AgreementState::Ended {
                    last_day, reason, ..
                },
                Fr,
            ) => format!("Terminée le {last_day} ({})", reason.label_fr()),
            (
                AgreementState::Ended {
                    last_day, reason, ..
                },
                En,
            ) => format!("Ended on {last_day} ({})", reason.label_en()),
        }
    }

    pub fn effective(&self) -> String {
        self.row
            .dates
            .effective()
            .map(|d| d.to_string())
            .unwrap_or_else(|| "—".into())
    }

    pub fn last_day(&self) -> String {
        self.row
            .dates
            .last_day()
            .map(|d| d.to_string())
            .unwrap_or_else(|| "—".into())
    }

    /// CONV-5, shown plainly: the last day for a notice, and the
    /// anniversary it would end the agreement at.
    pub fn next_notice(&self) -> Option<(Date, Date)> {
        match self.state {
            AgreementState::InForce {
                next_notice: Some((anniversary, deadline)),
                ..
            } => Some((deadline, anniversary)),
            _ => None,
        }
    }

    pub fn insee(&self) -> &str {
        self.row.commune.insee_code.as_deref().unwrap_or_default()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "agreements.html")]
pub struct AgreementsPage {
    ctx: PageContext,
    agreements: Vec<AgreementView>,
    can_record: bool,
}

pub async fn list(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<AgreementsPage, Error> {
    let today = clock::today();
    let agreements = store::agreements(&app.db, &staff.scope)
        .await?
        .into_iter()
        .map(|a| AgreementView::new(a, today))
        .collect();
    Ok(AgreementsPage {
        ctx,
        agreements,
        can_record: recorder(&staff).is_ok(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "agreement_new.html")]
pub struct NewAgreementPage {
    ctx: PageContext,
    communes: Vec<CommuneSummary>,
    services: Vec<Service>,
}

pub async fn new_form(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<NewAgreementPage, Error> {
    recorder(&staff)?;
    let communes = store::list_communes(&app.db, &Scope::All, &clock::today().to_string()).await?;
    let services = store::services(&app.db).await?;
    Ok(NewAgreementPage {
        ctx,
        communes,
        services,
    })
}

/// Fields: `commune` (organisation id), and per service `join_<id>`,
/// `units_<id>`, `previous_<id>`.
pub async fn create(
    State(app): State<AppState>,
    staff: Staff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, Error> {
    let actor = recorder(&staff)?;
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let commune: i64 = get("commune").parse().map_err(|_| {
        Error::refused(
            "Choisissez une commune dans la liste.",
            "Choose a commune from the list.",
        )
    })?;
    let commune = store::organisation_by_id(&app.db, commune)
        .await?
        .filter(|o| !o.metropolis)
        .ok_or(Error::NotFound)?;
    let mut annexes = Vec::new();
    for service in store::services(&app.db).await? {
        if get(&format!("join_{}", service.id)).is_empty() {
            continue;
        }
        let label = format!("{} ({})", service.name, "unités");
        let units = forms::amount(
            get(&format!("units_{}", service.id)),
            &label,
            &format!("{} (units)", service.name),
        )?;
        let previous = forms::amount(
            get(&format!("previous_{}", service.id)),
            &format!("{} (montant annuel déjà payé)", service.name),
            &format!("{} (yearly amount already paid)", service.name),
        )?;
        annexes.push(NewAnnex {
            service_id: service.id,
            units,
            previous_annual_amount: previous,
        });
    }
    let id = store::create_agreement(&app.db, actor, commune.id, &annexes, clock::today()).await?;
    Ok(to_detail(id, "signatures"))
}

#[derive(Template, WebTemplate)]
#[template(path = "agreement.html")]
pub struct AgreementPage {
    ctx: PageContext,
    view: AgreementView,
    annexes: Vec<AnnexRow>,
    amendments: Vec<AmendmentRow>,
    notices: Vec<NoticeRow>,
    breaches: Vec<BreachNoticeRow>,
    disputes: Vec<DisputeRow>,
    referents: Vec<Referent>,
    services: Vec<Service>,
    documents: Vec<store::SignedDocument>,
    can_record: bool,
}

impl AgreementPage {
    fn annex_start(&self, a: &AnnexRow) -> String {
        a.start(&self.view.row.dates)
            .map(|d| d.to_string())
            .unwrap_or_else(|| "—".into())
    }
    fn annex_end(&self, a: &AnnexRow) -> String {
        a.last_day(&self.view.row.dates)
            .map(|d| d.to_string())
            .unwrap_or_else(|| "—".into())
    }
    fn pricing(&self, a: &AnnexRow) -> String {
        store::pricing_label(&a.terms.pricing, self.ctx.lang)
    }
    fn document_of(&self, d: &store::SignedDocument) -> String {
        match d
            .amendment_id
            .and_then(|id| self.amendments.iter().position(|m| m.id == id))
        {
            Some(i) => format!("{} {}", self.ctx.tr("Avenant n°", "Amendment no."), i + 1),
            None => self
                .ctx
                .tr("Convention-cadre", "Framework agreement")
                .to_string(),
        }
    }
    /// CONV-7: an end is recorded for the agreement or one of its annexes.
    fn ending(&self) -> bool {
        self.view.row.dates.ended.is_some() || self.annexes.iter().any(|a| a.end.is_some())
    }
    fn signed(&self) -> bool {
        self.view.row.dates.effective().is_some()
    }
    fn running(&self) -> bool {
        self.signed() && self.view.row.dates.ended.is_none()
    }
}

pub async fn show(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Path(id): Path<i64>,
) -> Result<AgreementPage, Error> {
    let row = store::agreement(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let today = clock::today();
    let referents = store::referents(&app.db, &staff.scope, Some(row.commune.id)).await?;
    Ok(AgreementPage {
        annexes: store::annexes(&app.db, id).await?,
        amendments: store::amendments(&app.db, id).await?,
        notices: store::notices(&app.db, id).await?,
        breaches: store::breach_notices(&app.db, id).await?,
        disputes: store::disputes(&app.db, id).await?,
        services: store::services(&app.db).await?,
        documents: store::signed_documents(&app.db, id).await?,
        can_record: recorder(&staff).is_ok(),
        view: AgreementView::new(row, today),
        referents,
        ctx,
    })
}

/// Loads the agreement for an action, inside the recorder's scope.
async fn for_action(
    app: &AppState,
    staff: &Staff,
    id: i64,
) -> Result<(Actor, AgreementRow), Error> {
    let actor = recorder(staff)?;
    let row = store::agreement(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    Ok((actor, row))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignatureForm {
    party: String,
    on: String,
}

pub async fn sign(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<SignatureForm>,
) -> Result<Response, Error> {
    let (actor, _) = for_action(&app, &staff, id).await?;
    let on = forms::date(&f.on, "Date de signature", "Signature date")?;
    store::sign(
        &app.db,
        actor,
        id,
        forms::party(&f.party)?,
        on,
        clock::today(),
    )
    .await?;
    Ok(to_detail(id, "signatures"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AmendmentForm {
    kind: String,
    service: String,
    effective_on: String,
    units: String,
}

pub async fn propose_amendment(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<AmendmentForm>,
) -> Result<Response, Error> {
    let (actor, _) = for_action(&app, &staff, id).await?;
    let kind = AmendmentKind::parse(&f.kind).ok_or_else(|| {
        Error::refused(
            "Choisissez l'adhésion ou le retrait.",
            "Choose joining or leaving.",
        )
    })?;
    let service: i64 = f
        .service
        .parse()
        .map_err(|_| Error::refused("Choisissez un service.", "Choose a service."))?;
    let effective_on = forms::date(&f.effective_on, "Date d'effet", "Effective date")?;
    let units = forms::amount(&f.units, "Unités", "Units")?;
    store::propose_amendment(&app.db, actor, id, kind, service, effective_on, units).await?;
    Ok(to_detail(id, "avenants"))
}

pub async fn sign_amendment(
    State(app): State<AppState>,
    staff: Staff,
    Path((id, amendment)): Path<(i64, i64)>,
    Form(f): Form<SignatureForm>,
) -> Result<Response, Error> {
    let (actor, _) = for_action(&app, &staff, id).await?;
    if !store::amendments(&app.db, id)
        .await?
        .iter()
        .any(|m| m.id == amendment)
    {
        return Err(Error::NotFound);
    }
    let on = forms::date(&f.on, "Date de signature", "Signature date")?;
    store::sign_amendment(
        &app.db,
        actor,
        amendment,
        forms::party(&f.party)?,
        on,
        clock::today(),
    )
    .await?;
    Ok(to_detail(id, "avenants"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeForm {
    party: String,
    received_on: String,
}

pub async fn notice(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<NoticeForm>,
) -> Result<Response, Error> {
    let (actor, _) = for_action(&app, &staff, id).await?;
    let received = forms::date(&f.received_on, "Date de réception", "Receipt date")?;
    store::record_notice(
        &app.db,
        actor,
        id,
        forms::party(&f.party)?,
        received,
        clock::today(),
    )
    .await?;
    Ok(to_detail(id, "fin"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BreachForm {
    party: String,
    sent_on: String,
    grounds: String,
}

pub async fn breach_notice(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<BreachForm>,
) -> Result<Response, Error> {
    let (actor, _) = for_action(&app, &staff, id).await?;
    let sent = forms::date(&f.sent_on, "Date d'envoi", "Date sent")?;
    store::record_breach_notice(
        &app.db,
        actor,
        id,
        forms::party(&f.party)?,
        sent,
        &f.grounds,
        clock::today(),
    )
    .await?;
    Ok(to_detail(id, "manquements"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TerminationForm {
    on: String,
}

pub async fn terminate(
    State(app): State<AppState>,
    staff: Staff,
    Path((id, notice)): Path<(i64, i64)>,
    Form(f): Form<TerminationForm>,
) -> Result<Response, Error> {
    let (actor, _) = for_action(&app, &staff, id).await?;
    if !store::breach_notices(&app.db, id)
        .await?
        .iter()
        .any(|n| n.id == notice)
    {
        return Err(Error::NotFound);
    }
    let on = forms::date(&f.on, "Date de résiliation", "Termination date")?;
    store::terminate_for_breach(&app.db, actor, notice, on, clock::today()).await?;
    Ok(to_detail(id, "fin"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DisputeForm {
    party: String,
    received_on: String,
    subject: String,
}

pub async fn dispute(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<DisputeForm>,
) -> Result<Response, Error> {
    let (actor, _) = for_action(&app, &staff, id).await?;
    let received = forms::date(&f.received_on, "Date de réception", "Receipt date")?;
    store::record_dispute(
        &app.db,
        actor,
        id,
        forms::party(&f.party)?,
        received,
        &f.subject,
        clock::today(),
    )
    .await?;
    Ok(to_detail(id, "reclamations"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DecisionForm {
    outcome: String,
    decided_on: String,
    decision: String,
}

pub async fn decide(
    State(app): State<AppState>,
    staff: Staff,
    Path((id, dispute)): Path<(i64, i64)>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, Error> {
    let (actor, _) = for_action(&app, &staff, id).await?;
    if !store::disputes(&app.db, id)
        .await?
        .iter()
        .any(|d| d.id == dispute)
    {
        return Err(Error::NotFound);
    }
    let accepted = match f.outcome.as_str() {
        "accepted" => true,
        "rejected" => false,
        _ => {
            return Err(Error::refused(
                "Choisissez « acceptée » ou « rejetée ».",
                "Choose “accepted” or “rejected”.",
            ));
        }
    };
    let on = forms::date(&f.decided_on, "Date de la décision", "Decision date")?;
    store::decide_dispute(
        &app.db,
        actor,
        dispute,
        accepted,
        on,
        &f.decision,
        clock::today(),
    )
    .await?;
    Ok(to_detail(id, "reclamations"))
}
