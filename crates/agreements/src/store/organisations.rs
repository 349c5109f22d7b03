//! Organisations, populations and the services catalogue. One SQL path for
//! SQLite and PostgreSQL. Every read for staff takes a [`Scope`] (OPS-7).

use kernel::audit::{self, Actor, Event};
use kernel::web::{Lang, Scope};
use kernel::{Db, Tx, clock};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::domain::communes_csv::CommuneRecord;
use crate::domain::contribution::{Pricing, Prorata, Terms};
use crate::domain::money::parse_decimal;
use crate::domain::{Population, ServiceCode};

/// The metropolis as stored.
pub const METROPOLIS_SIREN: &str = "200046977";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organisation {
    pub id: i64,
    pub metropolis: bool,
    pub insee_code: Option<String>,
    pub siren: String,
    pub name: String,
}

/// A commune with the population in force today.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommuneSummary {
    pub organisation: Organisation,
    pub population: Option<i64>,
    pub population_in_force_from: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PopulationRow {
    pub value: i64,
    pub vintage: i64,
    pub in_force_from: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub paid: bool,
    pub description: String,
    /// The default terms of its annexes.
    pub terms: Terms,
}

impl Service {
    pub fn pricing_label_fr(&self) -> String {
        pricing_label(&self.terms.pricing, Lang::Fr)
    }
    pub fn pricing_label_en(&self) -> String {
        pricing_label(&self.terms.pricing, Lang::En)
    }
}

/// A pricing model in words, for pages.
pub fn pricing_label(pricing: &Pricing, lang: Lang) -> String {
    match pricing {
        Pricing::Standard {
            base,
            per_inhabitant,
        } => match lang {
            Lang::Fr => format!("{base} € + {per_inhabitant} € par habitant"),
            Lang::En => format!("€{base} + €{per_inhabitant} per inhabitant"),
        },
        Pricing::PerUnit { price } => match lang {
            Lang::Fr => format!("{price} € par unité"),
            Lang::En => format!("€{price} per unit"),
        },
        Pricing::Brackets(brackets) => brackets
            .iter()
            .map(|b| match (b.up_to, lang) {
                (Some(n), Lang::Fr) => format!("≤ {n} hab. : {} €", b.amount),
                (None, Lang::Fr) => format!("au-delà : {} €", b.amount),
                (Some(n), Lang::En) => format!("≤ {n} inh.: €{}", b.amount),
                (None, Lang::En) => format!("above: €{}", b.amount),
            })
            .collect::<Vec<_>>()
            .join(" ; "),
        Pricing::Free => lang.pick("Gratuit", "Free").to_string(),
    }
}

/// Terms as stored: pricing as JSON text, decimals as text.
pub(crate) fn terms_from_row(row: &AnyRow) -> Result<Terms, sqlx::Error> {
    let bad = |what: &str, e: String| sqlx::Error::Decode(format!("stored {what}: {e}").into());
    let pricing: String = row.try_get("pricing")?;
    let pricing: serde_json::Value =
        serde_json::from_str(&pricing).map_err(|e| bad("pricing", e.to_string()))?;
    let pricing =
        crate::simulate::pricing_from_json(&pricing).map_err(|e| bad("pricing", e.join("; ")))?;
    let decimal = |name: &str| -> Result<rust_decimal::Decimal, sqlx::Error> {
        let text: String = row.try_get(name)?;
        parse_decimal(&text).map_err(|e| bad(name, e))
    };
    let prorata: String = row.try_get("prorata")?;
    Ok(Terms {
        pricing,
        s0: decimal("s0")?,
        fixed_part: decimal("fixed_part")?,
        prorata: Prorata::parse(&prorata).ok_or_else(|| bad("prorata", prorata.clone()))?,
    })
}

fn organisation(row: &AnyRow) -> Result<Organisation, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    Ok(Organisation {
        id: row.try_get("id")?,
        metropolis: kind == "metropolis",
        insee_code: row.try_get("insee_code")?,
        siren: row.try_get("siren")?,
        name: row.try_get("name")?,
    })
}

/// `SELECT` of an organisation's columns, followed by the rest of the query.
macro_rules! select_organisations {
    ($rest:literal) => {
        concat!(
            "SELECT id, kind, insee_code, siren, name FROM organisations ",
            $rest
        )
    };
}

/// Creates the metropolis once; returns its id.
pub async fn ensure_metropolis(db: &Db, name: &str) -> Result<i64, sqlx::Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let existing = sqlx::query("SELECT id FROM organisations WHERE kind = 'metropolis'")
        .fetch_optional(&mut *tx)
        .await?;
    let id = match existing {
        Some(row) => row.try_get("id")?,
        None => {
            let id: i64 = sqlx::query(
                "INSERT INTO organisations (kind, insee_code, siren, name, created_at, updated_at) \
                 VALUES ('metropolis', NULL, $1, $2, $3, $3) RETURNING id",
            )
            .bind(METROPOLIS_SIREN)
            .bind(name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            audit::append(
                &mut tx,
                &Event::new(
                    Actor::System,
                    "organisation.create",
                    format!("organisation:{id}"),
                )
                .with(json!({ "name": name, "kind": "metropolis" })),
            )
            .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(id)
}

/// What an import changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Loads or updates communes and their population series in one transaction,
/// journaled as one import (OPS-3).
pub async fn import_communes(
    db: &Db,
    actor: Actor,
    source: &str,
    records: &[CommuneRecord],
) -> Result<ImportOutcome, sqlx::Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let mut outcome = ImportOutcome::default();
    for r in records {
        let existing =
            sqlx::query("SELECT id, siren, name FROM organisations WHERE insee_code = $1")
                .bind(r.insee_code.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let existed = existing.is_some();
        let (id, mut changed) = match existing {
            Some(row) => {
                let id: i64 = row.try_get("id")?;
                let siren: String = row.try_get("siren")?;
                let name: String = row.try_get("name")?;
                let changed = siren != r.siren.as_str() || name != r.name;
                if changed {
                    sqlx::query("UPDATE organisations SET siren = $1, name = $2, updated_at = $3 WHERE id = $4")
                        .bind(r.siren.as_str())
                        .bind(&r.name)
                        .bind(now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                (id, changed)
            }
            None => {
                let id: i64 = sqlx::query(
                    "INSERT INTO organisations (kind, insee_code, siren, name, created_at, updated_at) \
                     VALUES ('commune', $1, $2, $3, $4, $4) RETURNING id",
                )
                .bind(r.insee_code.as_str())
                .bind(r.siren.as_str())
                .bind(&r.name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
                outcome.created += 1;
                (id, false)
            }
        };
        for p in &r.populations {
            changed |= upsert_population(&mut tx, id, p).await?;
        }
        if existed && changed {
            outcome.updated += 1;
        }
    }
    outcome.unchanged = records.len() - outcome.created - outcome.updated;
    audit::append(
        &mut tx,
        &Event::new(actor, "communes.import", source.to_string()).with(json!({
            "rows": records.len(),
            "created": outcome.created,
            "updated": outcome.updated,
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Returns whether the series changed.
async fn upsert_population(
    tx: &mut Tx,
    organisation_id: i64,
    p: &Population,
) -> Result<bool, sqlx::Error> {
    let from = p.in_force_from.to_string();
    let current = sqlx::query(
        "SELECT value, vintage FROM populations WHERE organisation_id = $1 AND in_force_from = $2",
    )
    .bind(organisation_id)
    .bind(&from)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = &current {
        let value: i64 = row.try_get("value")?;
        let vintage: i64 = row.try_get("vintage")?;
        if value == p.value && vintage == i64::from(p.vintage) {
            return Ok(false);
        }
    }
    sqlx::query(
        "INSERT INTO populations (organisation_id, in_force_from, value, vintage) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (organisation_id, in_force_from) DO UPDATE SET value = excluded.value, vintage = excluded.vintage",
    )
    .bind(organisation_id)
    .bind(&from)
    .bind(p.value)
    .bind(i64::from(p.vintage))
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Communes visible in `scope`, by name, with the population in force on `today`.
pub async fn list_communes(
    db: &Db,
    scope: &Scope,
    today: &str,
) -> Result<Vec<CommuneSummary>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT o.id, o.kind, o.insee_code, o.siren, o.name, \
           (SELECT p.value FROM populations p WHERE p.organisation_id = o.id AND p.in_force_from <= $1 \
              ORDER BY p.in_force_from DESC LIMIT 1) AS population, \
           (SELECT p.in_force_from FROM populations p WHERE p.organisation_id = o.id AND p.in_force_from <= $1 \
              ORDER BY p.in_force_from DESC LIMIT 1) AS population_from \
         FROM organisations o WHERE o.kind = 'commune' ORDER BY o.name",
    )
    .bind(today)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for row in &rows {
        let organisation = organisation(row)?;
        if !scope.allows(organisation.id) {
            continue;
        }
        out.push(CommuneSummary {
            organisation,
            population: row.try_get("population")?,
            population_in_force_from: row.try_get("population_from")?,
        });
    }
    Ok(out)
}

/// A commune by INSEE code, only when `scope` allows it: outside the scope
/// it does not exist (no hint that it does, OPS-7).
pub async fn commune(
    db: &Db,
    scope: &Scope,
    insee_code: &str,
) -> Result<Option<Organisation>, sqlx::Error> {
    let row = sqlx::query(select_organisations!(
        "WHERE kind = 'commune' AND insee_code = $1"
    ))
    .bind(insee_code)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        Some(row) => Some(organisation(&row)?).filter(|o| scope.allows(o.id)),
        None => None,
    })
}

pub async fn organisation_by_id(db: &Db, id: i64) -> Result<Option<Organisation>, sqlx::Error> {
    let row = sqlx::query(select_organisations!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(organisation).transpose()
}

/// Organisations in `scope` (for role forms): the metropolis first.
pub async fn organisations(db: &Db, scope: &Scope) -> Result<Vec<Organisation>, sqlx::Error> {
    let rows = sqlx::query(select_organisations!(
        "ORDER BY CASE WHEN kind = 'metropolis' THEN 0 ELSE 1 END, name"
    ))
    .fetch_all(db.pool())
    .await?;
    let all: Result<Vec<_>, _> = rows.iter().map(organisation).collect();
    Ok(all?.into_iter().filter(|o| scope.allows(o.id)).collect())
}

pub async fn populations(db: &Db, organisation_id: i64) -> Result<Vec<PopulationRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT value, vintage, in_force_from FROM populations WHERE organisation_id = $1 ORDER BY in_force_from DESC",
    )
    .bind(organisation_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PopulationRow {
                value: r.try_get("value")?,
                vintage: r.try_get("vintage")?,
                in_force_from: r.try_get("in_force_from")?,
            })
        })
        .collect()
}

/// The id of the service of `code`, if the catalogue has it.
pub async fn service_id(db: &Db, code: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT id FROM services WHERE code = $1")
        .bind(code)
        .fetch_optional(db.pool())
        .await?
        .map(|r| r.try_get("id"))
        .transpose()
}

/// Creates a service once (by code); returns its id. Its terms are the
/// defaults of its future annexes; a service is paid unless it is free.
pub async fn ensure_service(
    db: &Db,
    code: &ServiceCode,
    name: &str,
    description: &str,
    terms: &Terms,
) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let existing = sqlx::query("SELECT id FROM services WHERE code = $1")
        .bind(code.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let id = match existing {
        Some(row) => row.try_get("id")?,
        None => {
            let pricing = crate::simulate::pricing_to_json(&terms.pricing).to_string();
            let id: i64 = sqlx::query(
                "INSERT INTO services (code, name, paid, description, created_at, pricing, s0, fixed_part, prorata) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(code.as_str())
            .bind(name)
            .bind(i64::from(terms.pricing != Pricing::Free))
            .bind(description)
            .bind(clock::now_ms())
            .bind(&pricing)
            .bind(terms.s0.to_string())
            .bind(terms.fixed_part.to_string())
            .bind(terms.prorata.code())
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            audit::append(
                &mut tx,
                &Event::new(
                    Actor::System,
                    "service.create",
                    format!("service:{}", code.as_str()),
                )
                .with(json!({ "name": name, "pricing": pricing })),
            )
            .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(id)
}

const SERVICE_COLUMNS: &str = "id, code, name, paid, description, pricing, s0, fixed_part, prorata";

fn service(r: &AnyRow) -> Result<Service, sqlx::Error> {
    let paid: i64 = r.try_get("paid")?;
    Ok(Service {
        id: r.try_get("id")?,
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        paid: paid == 1,
        description: r.try_get("description")?,
        terms: terms_from_row(r)?,
    })
}

pub async fn services(db: &Db) -> Result<Vec<Service>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SERVICE_COLUMNS} FROM services ORDER BY name"
    )))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(service).collect()
}

pub async fn service_by_id(db: &Db, id: i64) -> Result<Option<Service>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SERVICE_COLUMNS} FROM services WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(service).transpose()
}

/// CONV-1: adds or corrects a value of a commune's population series
/// (journaled).
pub async fn set_population(
    db: &Db,
    actor: Actor,
    organisation_id: i64,
    population: &Population,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    upsert_population(&mut tx, organisation_id, population).await?;
    audit::append(
        &mut tx,
        &Event::new(
            actor,
            "population.set",
            format!("organisation:{organisation_id}"),
        )
        .with(json!({
            "value": population.value,
            "vintage": population.vintage,
            "in_force_from": population.in_force_from.to_string(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
