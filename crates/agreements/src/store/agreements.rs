//! Framework agreements (CONV-3), annexes and amendments (CONV-4), notices
//! (CONV-5), breaches (CONV-6) and disputes (CONV-8). Every change is
//! journaled in its own transaction (OPS-3).

use kernel::audit::{self, Actor, Event};
use kernel::web::Scope;
use kernel::{Db, Tx, clock};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::{Date, Duration};

use super::{Organisation, parse_date, parse_opt_date, service_by_id, terms_from_row};
use crate::Error;
use crate::domain::agreement::{AgreementDates, AgreementState, Party, may_terminate_for_breach};
use crate::domain::calendar::{
    AdhesionCalendar, breach_termination_possible_from, dispute_answer_deadline,
};
use crate::domain::contribution::{EndReason, Terms};
use crate::domain::money::parse_decimal;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgreementRow {
    pub id: i64,
    pub commune: Organisation,
    pub dates: AgreementDates,
}

impl AgreementRow {
    pub fn state(&self, today: Date) -> AgreementState {
        self.dates.state(today)
    }
    /// Not ended yet (draft, signed or in force) on `today`.
    pub fn current(&self, today: Date) -> bool {
        !matches!(self.state(today), AgreementState::Ended { .. })
    }
}

macro_rules! select_agreements {
    ($rest:literal) => {
        concat!(
            "SELECT a.id, a.commune_signed_on, a.metropolis_signed_on, a.ended_on, a.end_reason, ",
            "o.id AS org_id, o.kind, o.insee_code, o.siren, o.name ",
            "FROM agreements a JOIN organisations o ON o.id = a.commune_id ",
            $rest
        )
    };
}

fn agreement_row(r: &AnyRow) -> Result<AgreementRow, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    let ended_on = parse_opt_date(r.try_get("ended_on")?)?;
    let reason: Option<String> = r.try_get("end_reason")?;
    let ended = match (ended_on, reason.as_deref().and_then(EndReason::parse)) {
        (Some(d), Some(reason)) => Some((d, reason)),
        _ => None,
    };
    Ok(AgreementRow {
        id: r.try_get("id")?,
        commune: Organisation {
            id: r.try_get("org_id")?,
            metropolis: kind == "metropolis",
            insee_code: r.try_get("insee_code")?,
            siren: r.try_get("siren")?,
            name: r.try_get("name")?,
        },
        dates: AgreementDates {
            commune_signed: parse_opt_date(r.try_get("commune_signed_on")?)?,
            metropolis_signed: parse_opt_date(r.try_get("metropolis_signed_on")?)?,
            ended,
        },
    })
}

/// Agreements visible in `scope`, by commune, newest first.
pub async fn agreements(db: &Db, scope: &Scope) -> Result<Vec<AgreementRow>, sqlx::Error> {
    let rows = sqlx::query(select_agreements!("ORDER BY o.name, a.id DESC"))
        .fetch_all(db.pool())
        .await?;
    let all: Result<Vec<_>, _> = rows.iter().map(agreement_row).collect();
    Ok(all?
        .into_iter()
        .filter(|a| scope.allows(a.commune.id))
        .collect())
}

/// One agreement, only inside `scope` (elsewhere it does not exist, OPS-7).
pub async fn agreement(
    db: &Db,
    scope: &Scope,
    id: i64,
) -> Result<Option<AgreementRow>, sqlx::Error> {
    let row = sqlx::query(select_agreements!("WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(row
        .as_ref()
        .map(agreement_row)
        .transpose()?
        .filter(|a| scope.allows(a.commune.id)))
}

async fn agreement_in(tx: &mut Tx, id: i64) -> Result<AgreementRow, Error> {
    let row = sqlx::query(select_agreements!("WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref()
        .map(agreement_row)
        .transpose()?
        .ok_or(Error::NotFound)
}

/// A service joined at creation, with its annex's particulars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAnnex {
    pub service_id: i64,
    pub units: Option<Decimal>,
    /// FIN-2: what the commune paid yearly before the agreement.
    pub previous_annual_amount: Option<Decimal>,
}

fn journal(
    actor: &Actor,
    action: &'static str,
    agreement_id: i64,
    details: serde_json::Value,
) -> Event {
    Event::new(actor.clone(), action, format!("agreement:{agreement_id}")).with(details)
}

/// Copies the service's current terms into a new annex (a later change of
/// the catalogue does not touch signed annexes).
async fn insert_annex(
    tx: &mut Tx,
    agreement_id: i64,
    annex: &NewAnnex,
    terms: &Terms,
    start_on: Option<Date>,
    joined_by: Option<i64>,
) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "INSERT INTO annexes (agreement_id, service_id, start_on, pricing, s0, fixed_part, prorata, units, \
         previous_annual_amount, joined_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(agreement_id)
    .bind(annex.service_id)
    .bind(start_on.map(|d| d.to_string()))
    .bind(crate::simulate::pricing_to_json(&terms.pricing).to_string())
    .bind(terms.s0.to_string())
    .bind(terms.fixed_part.to_string())
    .bind(terms.prorata.code())
    .bind(annex.units.map(|u| u.to_string()))
    .bind(annex.previous_annual_amount.map(|p| p.to_string()))
    .bind(joined_by)
    .bind(clock::now_ms())
    .fetch_one(&mut **tx)
    .await?;
    row.try_get("id")
}

/// CONV-3: a draft agreement for a commune with its initial annexes. A
/// commune has one current agreement at a time.
pub async fn create_agreement(
    db: &Db,
    actor: Actor,
    commune_id: i64,
    annexes: &[NewAnnex],
    today: Date,
) -> Result<i64, Error> {
    let mut seen = std::collections::HashSet::new();
    let mut terms = Vec::new();
    for a in annexes {
        if !seen.insert(a.service_id) {
            return Err(Error::refused(
                "Un service ne peut figurer qu'une fois dans la convention.",
                "A service can appear only once in the agreement.",
            ));
        }
        let service = service_by_id(db, a.service_id)
            .await?
            .ok_or(Error::NotFound)?;
        if matches!(
            service.terms.pricing,
            crate::domain::contribution::Pricing::PerUnit { .. }
        ) && a.units.is_none()
        {
            return Err(Error::refused(
                format!(
                    "Le service {} est facturé à l'unité : indiquez le nombre d'unités.",
                    service.name
                ),
                format!(
                    "Service {} is priced per unit: give the number of units.",
                    service.name
                ),
            ));
        }
        terms.push(service.terms);
    }
    let mut tx = db.begin().await?;
    let existing = sqlx::query(select_agreements!("WHERE a.commune_id = $1"))
        .bind(commune_id)
        .fetch_all(&mut *tx)
        .await?;
    for row in &existing {
        if agreement_row(row)?.current(today) {
            return Err(Error::refused(
                "Cette commune a déjà une convention en cours : modifiez-la par avenant.",
                "This commune already has a current agreement: change it by amendment.",
            ));
        }
    }
    let now = clock::now_ms();
    let id: i64 = sqlx::query("INSERT INTO agreements (commune_id, created_at, updated_at) VALUES ($1, $2, $2) RETURNING id")
        .bind(commune_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
    for (a, t) in annexes.iter().zip(&terms) {
        insert_annex(&mut tx, id, a, t, None, None).await?;
    }
    let services: Vec<i64> = annexes.iter().map(|a| a.service_id).collect();
    audit::append(
        &mut tx,
        &journal(
            &actor,
            "agreement.create",
            id,
            json!({ "commune_id": commune_id, "services": services }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

fn no_future(on: Date, today: Date) -> Result<(), Error> {
    if on > today {
        return Err(Error::refused(
            format!("La date {on} est dans le futur : on n'enregistre qu'un fait accompli."),
            format!("The date {on} is in the future: only what happened can be recorded."),
        ));
    }
    Ok(())
}

/// CONV-3: records one party's signature; the agreement takes effect on the
/// later one. Signatures are final once both are there.
pub async fn sign(
    db: &Db,
    actor: Actor,
    id: i64,
    party: Party,
    on: Date,
    today: Date,
) -> Result<(), Error> {
    no_future(on, today)?;
    let mut tx = db.begin().await?;
    let a = agreement_in(&mut tx, id).await?;
    if a.dates.effective().is_some() {
        return Err(Error::refused(
            "La convention est déjà signée par les deux parties.",
            "The agreement is already signed by both parties.",
        ));
    }
    let sql = match party {
        Party::Commune => {
            "UPDATE agreements SET commune_signed_on = $1, updated_at = $2 WHERE id = $3"
        }
        Party::Metropolis => {
            "UPDATE agreements SET metropolis_signed_on = $1, updated_at = $2 WHERE id = $3"
        }
    };
    sqlx::query(sql)
        .bind(on.to_string())
        .bind(clock::now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &journal(
            &actor,
            "agreement.sign",
            id,
            json!({ "party": party.code(), "on": on.to_string() }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An annex as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnexRow {
    pub id: i64,
    pub service_id: i64,
    pub service_code: String,
    pub service_name: String,
    /// `None`: from the agreement's effective date.
    pub start_on: Option<Date>,
    pub end: Option<(Date, EndReason)>,
    pub terms: Terms,
    pub units: Option<Decimal>,
    pub previous_annual_amount: Option<Decimal>,
}

impl AnnexRow {
    pub fn start(&self, dates: &AgreementDates) -> Option<Date> {
        annex_start(self.start_on, dates)
    }
    /// The annex's last day: its own end, or the agreement's.
    pub fn last_day(&self, dates: &AgreementDates) -> Option<Date> {
        annex_last_day(self.end.map(|(d, _)| d), dates)
    }
    pub fn in_force_on(&self, dates: &AgreementDates, day: Date) -> bool {
        annex_in_force(self.start_on, self.end.map(|(d, _)| d), dates, day)
    }
}

fn annex_start(start_on: Option<Date>, dates: &AgreementDates) -> Option<Date> {
    start_on.or(dates.effective())
}

fn annex_last_day(end_on: Option<Date>, dates: &AgreementDates) -> Option<Date> {
    match (end_on, dates.last_day()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// CONV-4: an annex is in force from its start (or the agreement's
/// effective date) to its last day (its end or the agreement's).
fn annex_in_force(
    start_on: Option<Date>,
    end_on: Option<Date>,
    dates: &AgreementDates,
    day: Date,
) -> bool {
    match (annex_start(start_on, dates), annex_last_day(end_on, dates)) {
        (Some(s), Some(e)) => s <= day && day <= e,
        _ => false,
    }
}

fn decimal_opt(r: &AnyRow, name: &str) -> Result<Option<Decimal>, sqlx::Error> {
    let text: Option<String> = r.try_get(name)?;
    text.map(|t| parse_decimal(&t).map_err(|e| sqlx::Error::Decode(e.into())))
        .transpose()
}

/// CONV-4, for SAU-2's routing: whether the commune of `insee_code` has an
/// annex in force for the service `service_code` on `day`. One statement:
/// it runs for every help request opened (bench/assistance).
pub async fn service_in_force(
    db: &Db,
    insee_code: &str,
    service_code: &str,
    day: Date,
) -> Result<bool, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT a.id, a.commune_signed_on, a.metropolis_signed_on, a.ended_on, a.end_reason, o.id AS org_id, \
         o.kind, o.insee_code, o.siren, o.name, x.start_on AS annex_start_on, x.end_on AS annex_end_on, \
         x.end_reason AS annex_end_reason \
         FROM agreements a JOIN organisations o ON o.id = a.commune_id \
         JOIN annexes x ON x.agreement_id = a.id JOIN services s ON s.id = x.service_id \
         WHERE o.insee_code = $1 AND s.code = $2",
    )
    .bind(insee_code)
    .bind(service_code)
    .fetch_all(db.pool())
    .await?;
    for row in &rows {
        let agreement = agreement_row(row)?;
        let start_on = parse_opt_date(row.try_get("annex_start_on")?)?;
        // As in `annexes`: an end without its reason is no end.
        let reason: Option<String> = row.try_get("annex_end_reason")?;
        let end_on = parse_opt_date(row.try_get("annex_end_on")?)?
            .filter(|_| reason.as_deref().and_then(EndReason::parse).is_some());
        if annex_in_force(start_on, end_on, &agreement.dates, day) {
            return Ok(true);
        }
    }
    Ok(false)
}

pub async fn annexes(db: &Db, agreement_id: i64) -> Result<Vec<AnnexRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT x.id, x.service_id, s.code, s.name, x.start_on, x.end_on, x.end_reason, x.pricing, x.s0, x.fixed_part, \
         x.prorata, x.units, x.previous_annual_amount FROM annexes x JOIN services s ON s.id = x.service_id \
         WHERE x.agreement_id = $1 ORDER BY s.name, x.id",
    )
    .bind(agreement_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let end_on = parse_opt_date(r.try_get("end_on")?)?;
            let reason: Option<String> = r.try_get("end_reason")?;
            Ok(AnnexRow {
                id: r.try_get("id")?,
                service_id: r.try_get("service_id")?,
                service_code: r.try_get("code")?,
                service_name: r.try_get("name")?,
                start_on: parse_opt_date(r.try_get("start_on")?)?,
                end: end_on.zip(reason.as_deref().and_then(EndReason::parse)),
                terms: terms_from_row(r)?,
                units: decimal_opt(r, "units")?,
                previous_annual_amount: decimal_opt(r, "previous_annual_amount")?,
            })
        })
        .collect()
}

/// Joining or leaving a service after signature (CONV-4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmendmentKind {
    Join,
    Leave,
}

impl AmendmentKind {
    pub fn code(self) -> &'static str {
        match self {
            AmendmentKind::Join => "join",
            AmendmentKind::Leave => "leave",
        }
    }
    pub fn parse(code: &str) -> Option<AmendmentKind> {
        match code {
            "join" => Some(AmendmentKind::Join),
            "leave" => Some(AmendmentKind::Leave),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmendmentRow {
    pub id: i64,
    pub agreement_id: i64,
    pub kind: AmendmentKind,
    pub service_id: i64,
    pub service_name: String,
    pub effective_on: Date,
    pub commune_signed: Option<Date>,
    pub metropolis_signed: Option<Date>,
    pub units: Option<Decimal>,
}

impl AmendmentRow {
    pub fn signed(&self) -> bool {
        self.commune_signed.is_some() && self.metropolis_signed.is_some()
    }
}

fn amendment_row(r: &AnyRow) -> Result<AmendmentRow, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    let effective: String = r.try_get("effective_on")?;
    Ok(AmendmentRow {
        id: r.try_get("id")?,
        agreement_id: r.try_get("agreement_id")?,
        kind: AmendmentKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("bad kind {kind}").into()))?,
        service_id: r.try_get("service_id")?,
        service_name: r.try_get("name")?,
        effective_on: parse_date(&effective)?,
        commune_signed: parse_opt_date(r.try_get("commune_signed_on")?)?,
        metropolis_signed: parse_opt_date(r.try_get("metropolis_signed_on")?)?,
        units: decimal_opt(r, "units")?,
    })
}

macro_rules! select_amendments {
    ($rest:literal) => {
        concat!(
            "SELECT m.id, m.agreement_id, m.kind, m.service_id, s.name, m.effective_on, m.commune_signed_on, ",
            "m.metropolis_signed_on, m.units FROM amendments m JOIN services s ON s.id = m.service_id ",
            $rest
        )
    };
}

pub async fn amendments(db: &Db, agreement_id: i64) -> Result<Vec<AmendmentRow>, sqlx::Error> {
    let rows = sqlx::query(select_amendments!(
        "WHERE m.agreement_id = $1 ORDER BY m.effective_on, m.id"
    ))
    .bind(agreement_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(amendment_row).collect()
}

/// CONV-4: proposes an amendment; it applies once both parties signed it.
pub async fn propose_amendment(
    db: &Db,
    actor: Actor,
    agreement_id: i64,
    kind: AmendmentKind,
    service_id: i64,
    effective_on: Date,
    units: Option<Decimal>,
) -> Result<i64, Error> {
    let service = service_by_id(db, service_id)
        .await?
        .ok_or(Error::NotFound)?;
    let current = annexes(db, agreement_id).await?;
    let mut tx = db.begin().await?;
    let a = agreement_in(&mut tx, agreement_id).await?;
    let (Some(effective), Some(last)) = (a.dates.effective(), a.dates.last_day()) else {
        return Err(Error::refused(
            "Un avenant ne se fait qu'après la signature de la convention par les deux parties.",
            "An amendment comes only after both parties signed the agreement.",
        ));
    };
    if effective_on <= effective || effective_on > last {
        return Err(Error::refused(
            format!(
                "La date d'effet doit être après le {effective} et au plus tard le {last} (fin de la convention)."
            ),
            format!(
                "The effective date must be after {effective} and no later than {last} (end of the agreement)."
            ),
        ));
    }
    let active = current
        .iter()
        .find(|x| x.service_id == service_id && x.in_force_on(&a.dates, effective_on));
    match (kind, active) {
        (AmendmentKind::Join, Some(_)) => {
            return Err(Error::refused(
                format!(
                    "La commune a déjà le service {} à cette date.",
                    service.name
                ),
                format!(
                    "The commune already has the service {} on that date.",
                    service.name
                ),
            ));
        }
        (AmendmentKind::Leave, None) => {
            return Err(Error::refused(
                format!(
                    "La commune n'a pas le service {} à cette date.",
                    service.name
                ),
                format!(
                    "The commune does not have the service {} on that date.",
                    service.name
                ),
            ));
        }
        _ => {}
    }
    if kind == AmendmentKind::Join
        && matches!(
            service.terms.pricing,
            crate::domain::contribution::Pricing::PerUnit { .. }
        )
        && units.is_none()
    {
        return Err(Error::refused(
            format!(
                "Le service {} est facturé à l'unité : indiquez le nombre d'unités.",
                service.name
            ),
            format!(
                "Service {} is priced per unit: give the number of units.",
                service.name
            ),
        ));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO amendments (agreement_id, kind, service_id, effective_on, units, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(agreement_id)
    .bind(kind.code())
    .bind(service_id)
    .bind(effective_on.to_string())
    .bind(units.map(|u| u.to_string()))
    .bind(clock::now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    audit::append(
        &mut tx,
        &journal(&actor, "amendment.propose", agreement_id, json!({ "amendment": id, "kind": kind.code(), "service_id": service_id, "effective_on": effective_on.to_string() })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Records a party's signature of an amendment; with both, it applies: a
/// join opens an annex from its effective date, a leave ends the annex the
/// day before (billed like an end by notice, FIN-4).
pub async fn sign_amendment(
    db: &Db,
    actor: Actor,
    amendment_id: i64,
    party: Party,
    on: Date,
    today: Date,
) -> Result<(), Error> {
    no_future(on, today)?;
    let mut tx = db.begin().await?;
    let row = sqlx::query(select_amendments!("WHERE m.id = $1"))
        .bind(amendment_id)
        .fetch_optional(&mut *tx)
        .await?;
    let m = row
        .as_ref()
        .map(amendment_row)
        .transpose()?
        .ok_or(Error::NotFound)?;
    if m.signed() {
        return Err(Error::refused(
            "L'avenant est déjà signé par les deux parties.",
            "The amendment is already signed by both parties.",
        ));
    }
    let sql = match party {
        Party::Commune => "UPDATE amendments SET commune_signed_on = $1 WHERE id = $2",
        Party::Metropolis => "UPDATE amendments SET metropolis_signed_on = $1 WHERE id = $2",
    };
    sqlx::query(sql)
        .bind(on.to_string())
        .bind(amendment_id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &journal(
            &actor,
            "amendment.sign",
            m.agreement_id,
            json!({ "amendment": amendment_id, "party": party.code(), "on": on.to_string() }),
        ),
    )
    .await?;
    let both = match party {
        Party::Commune => m.metropolis_signed.is_some(),
        Party::Metropolis => m.commune_signed.is_some(),
    };
    if both {
        match m.kind {
            AmendmentKind::Join => {
                let service = sqlx::query(
                    "SELECT pricing, s0, fixed_part, prorata FROM services WHERE id = $1",
                )
                .bind(m.service_id)
                .fetch_one(&mut *tx)
                .await?;
                let terms = terms_from_row(&service)?;
                let annex = NewAnnex {
                    service_id: m.service_id,
                    units: m.units,
                    previous_annual_amount: None,
                };
                insert_annex(
                    &mut tx,
                    m.agreement_id,
                    &annex,
                    &terms,
                    Some(m.effective_on),
                    Some(amendment_id),
                )
                .await?;
            }
            AmendmentKind::Leave => {
                let last = m.effective_on - Duration::days(1);
                sqlx::query(
                    "UPDATE annexes SET end_on = $1, end_reason = 'notice', left_by = $2 WHERE agreement_id = $3 \
                     AND service_id = $4 AND end_on IS NULL",
                )
                .bind(last.to_string())
                .bind(amendment_id)
                .bind(m.agreement_id)
                .bind(m.service_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        audit::append(
            &mut tx,
            &journal(
                &actor,
                "amendment.apply",
                m.agreement_id,
                json!({ "amendment": amendment_id }),
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends the agreement and every annex still running on `last_day` (CONV-4).
async fn end_agreement(
    tx: &mut Tx,
    id: i64,
    last_day: Date,
    reason: EndReason,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE agreements SET ended_on = $1, end_reason = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(last_day.to_string())
    .bind(reason.code())
    .bind(clock::now_ms())
    .bind(id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE annexes SET end_on = $1, end_reason = $2 WHERE agreement_id = $3 AND (end_on IS NULL OR end_on > $1)")
        .bind(last_day.to_string())
        .bind(reason.code())
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRow {
    pub from: Party,
    pub received_on: Date,
    pub ends_on: Date,
}

pub async fn notices(db: &Db, agreement_id: i64) -> Result<Vec<NoticeRow>, sqlx::Error> {
    let rows = sqlx::query("SELECT from_party, received_on, ends_on FROM termination_notices WHERE agreement_id = $1 ORDER BY id")
        .bind(agreement_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            let from: String = r.try_get("from_party")?;
            let received: String = r.try_get("received_on")?;
            let ends: String = r.try_get("ends_on")?;
            Ok(NoticeRow {
                from: Party::parse(&from).ok_or_else(|| sqlx::Error::Decode("bad party".into()))?,
                received_on: parse_date(&received)?,
                ends_on: parse_date(&ends)?,
            })
        })
        .collect()
}

fn must_be_running(a: &AgreementRow, on: Date) -> Result<Date, Error> {
    let Some(effective) = a.dates.effective() else {
        return Err(Error::refused(
            "La convention n'est pas encore signée par les deux parties.",
            "The agreement is not signed by both parties yet.",
        ));
    };
    if a.dates.ended.is_some() {
        return Err(Error::refused(
            "Une fin de convention est déjà enregistrée.",
            "An end of the agreement is already recorded.",
        ));
    }
    if on < effective {
        return Err(Error::refused(
            format!("La date est antérieure à l'entrée en vigueur ({effective})."),
            format!("The date is before the agreement took effect ({effective})."),
        ));
    }
    Ok(effective)
}

/// CONV-5: a registered letter received on `received_on` ends the agreement
/// at the first anniversary at least three months later. Returns the last
/// day in force.
pub async fn record_notice(
    db: &Db,
    actor: Actor,
    agreement_id: i64,
    from: Party,
    received_on: Date,
    today: Date,
) -> Result<Date, Error> {
    no_future(received_on, today)?;
    let mut tx = db.begin().await?;
    let a = agreement_in(&mut tx, agreement_id).await?;
    let effective = must_be_running(&a, received_on)?;
    let ends_on = AdhesionCalendar::new(effective).end_after_notice(received_on);
    sqlx::query("INSERT INTO termination_notices (agreement_id, from_party, received_on, ends_on, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(agreement_id)
        .bind(from.code())
        .bind(received_on.to_string())
        .bind(ends_on.to_string())
        .bind(clock::now_ms())
        .execute(&mut *tx)
        .await?;
    end_agreement(&mut tx, agreement_id, ends_on, EndReason::Notice).await?;
    audit::append(
        &mut tx,
        &journal(&actor, "agreement.notice", agreement_id, json!({ "from": from.code(), "received_on": received_on.to_string(), "ends_on": ends_on.to_string() })),
    )
    .await?;
    tx.commit().await?;
    Ok(ends_on)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreachNoticeRow {
    pub id: i64,
    pub agreement_id: i64,
    pub from: Party,
    pub sent_on: Date,
    pub grounds: String,
}

impl BreachNoticeRow {
    /// CONV-6: two months without effect.
    pub fn termination_possible_from(&self) -> Date {
        breach_termination_possible_from(self.sent_on)
    }
}

fn breach_row(r: &AnyRow) -> Result<BreachNoticeRow, sqlx::Error> {
    let from: String = r.try_get("from_party")?;
    let sent: String = r.try_get("sent_on")?;
    Ok(BreachNoticeRow {
        id: r.try_get("id")?,
        agreement_id: r.try_get("agreement_id")?,
        from: Party::parse(&from).ok_or_else(|| sqlx::Error::Decode("bad party".into()))?,
        sent_on: parse_date(&sent)?,
        grounds: r.try_get("grounds")?,
    })
}

pub async fn breach_notices(
    db: &Db,
    agreement_id: i64,
) -> Result<Vec<BreachNoticeRow>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, agreement_id, from_party, sent_on, grounds FROM breach_notices WHERE agreement_id = $1 ORDER BY id")
        .bind(agreement_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(breach_row).collect()
}

fn required_text(text: &str, fr: &str, en: &str) -> Result<String, Error> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 5000 {
        return Err(Error::refused(fr, en));
    }
    Ok(t.to_string())
}

/// CONV-6: a formal notice (mise en demeure) sent by `from`.
pub async fn record_breach_notice(
    db: &Db,
    actor: Actor,
    agreement_id: i64,
    from: Party,
    sent_on: Date,
    grounds: &str,
    today: Date,
) -> Result<i64, Error> {
    no_future(sent_on, today)?;
    let grounds = required_text(
        grounds,
        "Indiquez les manquements reprochés (5000 caractères au plus).",
        "State the breaches (5000 characters at most).",
    )?;
    let mut tx = db.begin().await?;
    let a = agreement_in(&mut tx, agreement_id).await?;
    must_be_running(&a, sent_on)?;
    let id: i64 = sqlx::query(
        "INSERT INTO breach_notices (agreement_id, from_party, sent_on, grounds, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(agreement_id)
    .bind(from.code())
    .bind(sent_on.to_string())
    .bind(&grounds)
    .bind(clock::now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    audit::append(
        &mut tx,
        &journal(
            &actor,
            "agreement.breach_notice",
            agreement_id,
            json!({ "notice": id, "from": from.code(), "sent_on": sent_on.to_string() }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// CONV-6: terminates for breach on `on` (the last day in force), two
/// months at least after the formal notice.
pub async fn terminate_for_breach(
    db: &Db,
    actor: Actor,
    breach_notice_id: i64,
    on: Date,
    today: Date,
) -> Result<(), Error> {
    no_future(on, today)?;
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "SELECT id, agreement_id, from_party, sent_on, grounds FROM breach_notices WHERE id = $1",
    )
    .bind(breach_notice_id)
    .fetch_optional(&mut *tx)
    .await?;
    let notice = row
        .as_ref()
        .map(breach_row)
        .transpose()?
        .ok_or(Error::NotFound)?;
    let a = agreement_in(&mut tx, notice.agreement_id).await?;
    must_be_running(&a, on)?;
    if !may_terminate_for_breach(notice.sent_on, on) {
        let from = notice.termination_possible_from();
        return Err(Error::refused(
            format!(
                "La mise en demeure du {} doit rester sans effet deux mois : résiliation possible à partir du {from}.",
                notice.sent_on
            ),
            format!(
                "The formal notice of {} must stay without effect for two months: termination possible from {from}.",
                notice.sent_on
            ),
        ));
    }
    let reason = notice.from.breach_of_other();
    end_agreement(&mut tx, notice.agreement_id, on, reason).await?;
    audit::append(
        &mut tx,
        &journal(
            &actor,
            "agreement.terminate",
            notice.agreement_id,
            json!({ "notice": breach_notice_id, "on": on.to_string(), "reason": reason.code() }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// CONV-8: the status of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeStatus {
    Open,
    Accepted,
    Rejected,
    DeemedRejected,
}

impl DisputeStatus {
    pub fn code(self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Accepted => "accepted",
            DisputeStatus::Rejected => "rejected",
            DisputeStatus::DeemedRejected => "deemed_rejected",
        }
    }
    pub fn parse(code: &str) -> Option<DisputeStatus> {
        [
            DisputeStatus::Open,
            DisputeStatus::Accepted,
            DisputeStatus::Rejected,
            DisputeStatus::DeemedRejected,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }
    pub fn label_fr(self) -> &'static str {
        match self {
            DisputeStatus::Open => "en attente de décision",
            DisputeStatus::Accepted => "acceptée",
            DisputeStatus::Rejected => "rejetée",
            DisputeStatus::DeemedRejected => "réputée rejetée (sans décision dans le mois)",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            DisputeStatus::Open => "awaiting a decision",
            DisputeStatus::Accepted => "accepted",
            DisputeStatus::Rejected => "rejected",
            DisputeStatus::DeemedRejected => "deemed rejected (no decision within a month)",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisputeRow {
    pub id: i64,
    pub agreement_id: i64,
    pub claimant: Party,
    pub received_on: Date,
    pub subject: String,
    pub status: DisputeStatus,
    pub decided_on: Option<Date>,
    pub decision: Option<String>,
}

impl DisputeRow {
    pub fn answer_deadline(&self) -> Date {
        dispute_answer_deadline(self.received_on)
    }
}

fn dispute_row(r: &AnyRow) -> Result<DisputeRow, sqlx::Error> {
    let claimant: String = r.try_get("claimant")?;
    let received: String = r.try_get("received_on")?;
    let status: String = r.try_get("status")?;
    Ok(DisputeRow {
        id: r.try_get("id")?,
        agreement_id: r.try_get("agreement_id")?,
        claimant: Party::parse(&claimant).ok_or_else(|| sqlx::Error::Decode("bad party".into()))?,
        received_on: parse_date(&received)?,
        subject: r.try_get("subject")?,
        status: DisputeStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode("bad status".into()))?,
        decided_on: parse_opt_date(r.try_get("decided_on")?)?,
        decision: r.try_get("decision")?,
    })
}

const DISPUTE_COLUMNS: &str =
    "id, agreement_id, claimant, received_on, subject, status, decided_on, decision";

pub async fn disputes(db: &Db, agreement_id: i64) -> Result<Vec<DisputeRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DISPUTE_COLUMNS} FROM disputes WHERE agreement_id = $1 ORDER BY received_on, id"
    )))
    .bind(agreement_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(dispute_row).collect()
}

/// CONV-8: a written claim received on `received_on`.
pub async fn record_dispute(
    db: &Db,
    actor: Actor,
    agreement_id: i64,
    claimant: Party,
    received_on: Date,
    subject: &str,
    today: Date,
) -> Result<i64, Error> {
    no_future(received_on, today)?;
    let subject = required_text(
        subject,
        "Résumez l'objet de la réclamation (5000 caractères au plus).",
        "Summarise the claim (5000 characters at most).",
    )?;
    let mut tx = db.begin().await?;
    agreement_in(&mut tx, agreement_id).await?;
    let id: i64 = sqlx::query(
        "INSERT INTO disputes (agreement_id, claimant, received_on, subject, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(agreement_id)
    .bind(claimant.code())
    .bind(received_on.to_string())
    .bind(&subject)
    .bind(clock::now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    audit::append(&mut tx, &journal(&actor, "dispute.record", agreement_id, json!({ "dispute": id, "claimant": claimant.code(), "received_on": received_on.to_string() }))).await?;
    tx.commit().await?;
    Ok(id)
}

/// CONV-8: the other party's decision, within the month.
pub async fn decide_dispute(
    db: &Db,
    actor: Actor,
    dispute_id: i64,
    accepted: bool,
    decided_on: Date,
    decision: &str,
    today: Date,
) -> Result<(), Error> {
    no_future(decided_on, today)?;
    let decision = required_text(
        decision,
        "Indiquez la décision notifiée (5000 caractères au plus).",
        "State the decision notified (5000 characters at most).",
    )?;
    let mut tx = db.begin().await?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DISPUTE_COLUMNS} FROM disputes WHERE id = $1"
    )))
    .bind(dispute_id)
    .fetch_optional(&mut *tx)
    .await?;
    let d = row
        .as_ref()
        .map(dispute_row)
        .transpose()?
        .ok_or(Error::NotFound)?;
    if d.status != DisputeStatus::Open {
        return Err(Error::refused(
            "Cette réclamation a déjà une issue.",
            "This claim already has an outcome.",
        ));
    }
    if decided_on > d.answer_deadline() {
        return Err(Error::refused(
            format!(
                "Le délai d'un mois a expiré le {} : la réclamation est réputée rejetée.",
                d.answer_deadline()
            ),
            format!(
                "The one-month period ended on {}: the claim is deemed rejected.",
                d.answer_deadline()
            ),
        ));
    }
    if decided_on < d.received_on {
        return Err(Error::refused(
            "La décision ne peut précéder la réception de la réclamation.",
            "The decision cannot precede the claim's receipt.",
        ));
    }
    let status = if accepted {
        DisputeStatus::Accepted
    } else {
        DisputeStatus::Rejected
    };
    sqlx::query("UPDATE disputes SET status = $1, decided_on = $2, decision = $3 WHERE id = $4")
        .bind(status.code())
        .bind(decided_on.to_string())
        .bind(&decision)
        .bind(dispute_id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &journal(
            &actor,
            "dispute.decide",
            d.agreement_id,
            json!({ "dispute": dispute_id, "status": status.code() }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// CONV-8: marks the open claims whose month has passed as deemed rejected
/// (run by the daily job, inside its transaction). Returns how many.
pub async fn deem_rejected_disputes(tx: &mut Tx, today: Date) -> Result<usize, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DISPUTE_COLUMNS} FROM disputes WHERE status = 'open'"
    )))
    .fetch_all(&mut **tx)
    .await?;
    let mut n = 0;
    for r in &rows {
        let d = dispute_row(r)?;
        if today > d.answer_deadline() {
            sqlx::query(
                "UPDATE disputes SET status = 'deemed_rejected' WHERE id = $1 AND status = 'open'",
            )
            .bind(d.id)
            .execute(&mut **tx)
            .await?;
            audit::append(
                tx,
                &journal(
                    &Actor::System,
                    "dispute.deemed_rejected",
                    d.agreement_id,
                    json!({ "dispute": d.id, "deadline": d.answer_deadline().to_string() }),
                ),
            )
            .await?;
            n += 1;
        }
    }
    Ok(n)
}
