//! Staff pages for reference values: SYNTEC index values (FIN-1), population
//! series (CONV-1), referents and the steering committee (CONV-9).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::audit::Actor;
use kernel::clock;
use kernel::web::{PageContext, Role, Staff};
use serde::Deserialize;

use super::forms;
use crate::Error;
use crate::domain::Population;
use crate::domain::contribution::SyntecValue;
use crate::store::{self, Committee, Organisation, Referent, ReferentKind, Service, SyntecRow};

fn metropolis_staff_with(staff: &Staff, roles: &[Role]) -> Result<Actor, Error> {
    let ok = staff
        .viewer
        .grants
        .iter()
        .any(|g| g.metropolis && roles.contains(&g.role));
    if ok {
        Ok(Actor::Account(staff.viewer.account_id))
    } else {
        Err(Error::Forbidden)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "syntec.html")]
pub struct SyntecPage {
    ctx: PageContext,
    values: Vec<SyntecRow>,
    can_add: bool,
}

/// SYNTEC values are public figures: every staff member reads them.
pub async fn syntec(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<SyntecPage, Error> {
    let can_add = metropolis_staff_with(&staff, &[Role::MetropolisAdmin, Role::Finance]).is_ok();
    Ok(SyntecPage {
        ctx,
        values: store::syntec_rows(&app.db).await?,
        can_add,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SyntecForm {
    month: String,
    value: String,
    published_on: String,
    exact: String,
}

pub async fn add_syntec(
    State(app): State<AppState>,
    staff: Staff,
    Form(f): Form<SyntecForm>,
) -> Result<Response, Error> {
    let actor = metropolis_staff_with(&staff, &[Role::MetropolisAdmin, Role::Finance])?;
    let bad_month = || {
        Error::refused(
            "Mois : saisissez le mois de l'indice (AAAA-MM).",
            "Month: enter the index's month (YYYY-MM).",
        )
    };
    let (y, m) = f.month.trim().split_once('-').ok_or_else(bad_month)?;
    let (year, month) = (
        y.parse::<i32>().map_err(|_| bad_month())?,
        m.parse::<u8>().map_err(|_| bad_month())?,
    );
    if !(1..=12).contains(&month) || !(2000..=2200).contains(&year) {
        return Err(bad_month());
    }
    let value = forms::amount(&f.value, "Valeur de l'indice", "Index value")?
        .filter(|v| !v.is_zero())
        .ok_or_else(|| {
            Error::refused(
                "Valeur de l'indice : saisissez un nombre positif, par exemple 322,2.",
                "Index value: enter a positive number, e.g. 322.2.",
            )
        })?;
    let published_on = forms::date(&f.published_on, "Date de publication", "Publication date")?;
    let v = SyntecValue {
        year,
        month,
        value,
        published_on,
    };
    if !store::add_syntec(&app.db, actor, &v, !f.exact.is_empty()).await? {
        return Err(Error::refused(
            format!(
                "Le mois {:04}-{month:02} a déjà une valeur : un indice publié ne se modifie pas.",
                year
            ),
            format!(
                "Month {year:04}-{month:02} already has a value: a published index is not changed."
            ),
        ));
    }
    Ok(Redirect::to("/gestion/syntec").into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PopulationForm {
    value: String,
    vintage: String,
    in_force_from: String,
}

/// CONV-1: a new legal population for a commune (metropolis staff).
pub async fn add_population(
    State(app): State<AppState>,
    staff: Staff,
    Path(insee): Path<String>,
    Form(f): Form<PopulationForm>,
) -> Result<Response, Error> {
    let actor = metropolis_staff_with(&staff, &[Role::MetropolisAdmin])?;
    let commune = store::commune(&app.db, &staff.scope, &insee)
        .await?
        .ok_or(Error::NotFound)?;
    let value: i64 = f
        .value
        .trim()
        .replace([' ', '\u{a0}', '\u{202f}'], "")
        .parse()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| {
            Error::refused(
                "Population : saisissez un nombre entier d'habitants.",
                "Population: enter a whole number of inhabitants.",
            )
        })?;
    let vintage: i32 = f
        .vintage
        .trim()
        .parse()
        .ok()
        .filter(|y| (1990..=2200).contains(y))
        .ok_or_else(|| {
            Error::refused(
                "Millésime : saisissez une année, par exemple 2023.",
                "Vintage: enter a year, e.g. 2023.",
            )
        })?;
    let in_force_from = forms::date(&f.in_force_from, "En vigueur à partir du", "In force from")?;
    store::set_population(
        &app.db,
        actor,
        commune.id,
        &Population {
            value,
            vintage,
            in_force_from,
        },
    )
    .await?;
    Ok(Redirect::to(&format!("/gestion/communes/{insee}")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "referents.html")]
pub struct ReferentsPage {
    ctx: PageContext,
    referents: Vec<Referent>,
    organisations: Vec<Organisation>,
    services: Vec<Service>,
}

impl ReferentsPage {
    fn organisation_name(&self, id: &i64) -> &str {
        self.organisations
            .iter()
            .find(|o| o.id == *id)
            .map(|o| o.name.as_str())
            .unwrap_or("")
    }
}

/// Organisations whose referents `staff` may name.
async fn named_by(app: &AppState, staff: &Staff) -> Result<Vec<Organisation>, Error> {
    Ok(store::organisations(&app.db, &staff.scope)
        .await?
        .into_iter()
        .filter(|o| staff.administers(o.id))
        .collect())
}

pub async fn referents(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<ReferentsPage, Error> {
    let visible = store::organisations(&app.db, &staff.scope).await?;
    let referents = store::referents(&app.db, &staff.scope, None).await?;
    let mut organisations = named_by(&app, &staff).await?;
    // Names of every organisation shown, even those the reader cannot change.
    for o in visible {
        if referents.iter().any(|r| r.organisation_id == o.id)
            && !organisations.iter().any(|x| x.id == o.id)
        {
            organisations.push(o);
        }
    }
    Ok(ReferentsPage {
        ctx,
        referents,
        organisations,
        services: store::services(&app.db).await?,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReferentForm {
    organisation: String,
    /// `service:<id>`, `project` or `support`.
    role: String,
    name: String,
    email: String,
}

pub async fn set_referent(
    State(app): State<AppState>,
    staff: Staff,
    Form(f): Form<ReferentForm>,
) -> Result<Response, Error> {
    let organisation: i64 = f
        .organisation
        .parse()
        .map_err(|_| Error::refused("Choisissez une organisation.", "Choose an organisation."))?;
    let org = store::organisation_by_id(&app.db, organisation)
        .await?
        .ok_or(Error::NotFound)?;
    if !staff.scope.allows(org.id) || !staff.administers(org.id) {
        return Err(Error::Forbidden);
    }
    let (kind, service_id) = match f.role.split_once(':') {
        Some(("service", id)) => (
            ReferentKind::Service,
            Some(
                id.parse::<i64>()
                    .map_err(|_| Error::refused("Choisissez un service.", "Choose a service."))?,
            ),
        ),
        None if org.metropolis => (
            ReferentKind::parse(&f.role).ok_or_else(|| {
                Error::refused(
                    "Choisissez le rôle du référent.",
                    "Choose the referent's role.",
                )
            })?,
            None,
        ),
        _ => {
            return Err(Error::refused(
                "Une commune nomme un référent par service.",
                "A commune names a referent per service.",
            ));
        }
    };
    if kind == ReferentKind::Service && org.metropolis {
        return Err(Error::refused(
            "La Métropole nomme un référent projet et un contact support.",
            "The metropolis names a project referent and a support contact.",
        ));
    }
    let name = f.name.trim();
    let email = f.email.trim().to_lowercase();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(Error::refused(
            "Saisissez le nom du référent (120 caractères au plus).",
            "Enter the referent's name (120 characters at most).",
        ));
    }
    if !email.contains('@') || email.contains(char::is_whitespace) || email.len() > 254 {
        return Err(Error::refused(
            "Saisissez une adresse e-mail valide.",
            "Enter a valid e-mail address.",
        ));
    }
    let actor = Actor::Account(staff.viewer.account_id);
    store::set_referent(
        &app.db,
        actor,
        &Referent {
            organisation_id: org.id,
            service_id,
            service_name: None,
            kind,
            name: name.into(),
            email,
        },
    )
    .await?;
    Ok(Redirect::to("/gestion/referents").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "committees.html")]
pub struct CommitteesPage {
    ctx: PageContext,
    committees: Vec<Committee>,
    can_add: bool,
}

/// The steering committee's records concern every commune.
pub async fn committees(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
) -> Result<CommitteesPage, Error> {
    let can_add = metropolis_staff_with(&staff, &[Role::MetropolisAdmin]).is_ok();
    Ok(CommitteesPage {
        ctx,
        committees: store::committees(&app.db).await?,
        can_add,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CommitteeForm {
    held_on: String,
    attendees: String,
    minutes: String,
}

pub async fn add_committee(
    State(app): State<AppState>,
    staff: Staff,
    Form(f): Form<CommitteeForm>,
) -> Result<Response, Error> {
    let actor = metropolis_staff_with(&staff, &[Role::MetropolisAdmin])?;
    let held_on = forms::date(&f.held_on, "Date de la réunion", "Meeting date")?;
    if held_on > clock::today() {
        return Err(Error::refused(
            "On enregistre une réunion qui a eu lieu.",
            "Record a meeting that took place.",
        ));
    }
    let (attendees, minutes) = (f.attendees.trim(), f.minutes.trim());
    if attendees.is_empty()
        || minutes.is_empty()
        || attendees.len() > 5000
        || minutes.len() > 50_000
    {
        return Err(Error::refused(
            "Indiquez les participants et le compte rendu.",
            "Enter the attendees and the minutes.",
        ));
    }
    store::add_committee(&app.db, actor, held_on, attendees, minutes).await?;
    Ok(Redirect::to("/gestion/comite").into_response())
}
