//! FIN-5: the yearly contributions of every commune from the stored
//! agreements, issued as revenue orders. The amounts come from the same
//! computation as `billing simulate` ([`annex_years`]).

use std::collections::HashMap;

use kernel::web::Msg;
use kernel::{Db, web::Scope};
use rust_decimal::Decimal;
use serde_json::json;

use crate::domain::contribution::{
    AnnexBasis, AnnexPeriod, EndReason, Missing, PopulationSeries, Pricing, annex_years,
    collectable,
};
use crate::domain::money::cents;
use crate::store::{self, AgreementRow, AnnexRow};

/// One line of an order to issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftLine {
    pub service_code: String,
    pub service_name: String,
    /// The whole basis of computation (FIN-5), as stored and printed.
    pub basis: serde_json::Value,
    pub due: Decimal,
    pub refund: Decimal,
}

impl DraftLine {
    pub fn amount(&self) -> Decimal {
        self.due - self.refund
    }
}

/// A commune's order for a year, before it is issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftOrder {
    pub agreement: AgreementRow,
    pub lines: Vec<DraftLine>,
}

impl DraftOrder {
    pub fn total(&self) -> Decimal {
        self.lines.iter().map(DraftLine::amount).sum()
    }
    pub fn collectable(&self) -> bool {
        collectable(self.total())
    }
}

fn period(annex: &AnnexRow, agreement: &AgreementRow) -> Option<AnnexPeriod> {
    let start = annex.start(&agreement.dates)?;
    let last = annex.last_day(&agreement.dates)?;
    let reason = match (annex.end, agreement.dates.ended) {
        (Some((d, r)), _) if d == last => r,
        (_, Some((d, r))) if d == last => r,
        // The six-year end, billed like an end by notice.
        _ => EndReason::Notice,
    };
    Some(AnnexPeriod {
        start,
        continuing: annex.previous_annual_amount.is_some(),
        end: Some((last, reason)),
    })
}

fn missing_message(commune: &str, service: &str, m: &Missing) -> Msg {
    match m {
        Missing::Syntec(year) => Msg::new(
            format!(
                "{commune} — {service} : aucune valeur SYNTEC publiée au plus tard le {year}-01-01 ; ajoutez-la sur la page SYNTEC."
            ),
            format!(
                "{commune} — {service}: no SYNTEC value published on or before {year}-01-01; add it on the SYNTEC page."
            ),
        ),
        Missing::Population(year) => Msg::new(
            format!(
                "{commune} : aucune population légale en vigueur au 31/12/{} ; ajoutez-la sur la fiche de la commune.",
                year - 1
            ),
            format!(
                "{commune}: no legal population in force on {}-12-31; add it on the commune's page.",
                year - 1
            ),
        ),
        Missing::Units => Msg::new(
            format!("{commune} — {service} : le nombre d'unités de l'annexe manque."),
            format!("{commune} — {service}: the annex's number of units is missing."),
        ),
        Missing::NoBracket { population, year } => Msg::new(
            format!(
                "{commune} — {service} : aucune tranche ne couvre {population} habitants ({year})."
            ),
            format!("{commune} — {service}: no bracket covers {population} inhabitants ({year})."),
        ),
    }
}

/// The orders of `year`: one per commune with an annex in force that year.
/// Every problem is reported; nothing is computed half-way.
pub async fn draft_orders(
    db: &Db,
    year: i32,
) -> Result<Result<Vec<DraftOrder>, Vec<Msg>>, sqlx::Error> {
    let syntec = store::syntec_series(db).await?;
    let syntec_of = |y: i32| syntec.for_year(y).map(|v| (v.value, v.year, v.month));
    let mut orders = Vec::new();
    let mut problems = Vec::new();
    let mut populations: HashMap<i64, (PopulationSeries, Vec<store::PopulationRow>)> =
        HashMap::new();
    for agreement in store::agreements(db, &Scope::All).await? {
        if agreement.dates.effective().is_none() {
            continue;
        }
        let commune = agreement.commune.name.clone();
        let (series, rows) = match populations.entry(agreement.commune.id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let rows = store::populations(db, agreement.commune.id).await?;
                let series = PopulationSeries::new(
                    rows.iter()
                        .filter_map(|r| Some((store::parse_date(&r.in_force_from).ok()?, r.value)))
                        .collect(),
                );
                e.insert((series, rows))
            }
        };
        let (series, rows) = (&*series, &*rows);
        let mut lines = Vec::new();
        for annex in store::annexes(db, agreement.id).await? {
            let Some(period) = period(&annex, &agreement) else {
                continue;
            };
            if period.first_year() > year || period.last_year().is_some_and(|l| l < year) {
                continue;
            }
            let basis = AnnexBasis {
                terms: &annex.terms,
                period,
                previous: annex.previous_annual_amount,
                units: annex.units,
            };
            let mut found = None;
            let result = annex_years(
                &basis,
                series,
                |y| syntec_of(y).map(|s| s.0),
                year,
                |l| {
                    if l.year == year {
                        found = Some(*l);
                    }
                },
            );
            match (result, found) {
                (Err(m), _) => problems.push(missing_message(&commune, &annex.service_name, &m)),
                (Ok(()), Some(l)) => {
                    let vintage = rows
                        .iter()
                        .find(|r| r.in_force_from <= format!("{}-12-31", year - 1))
                        .map(|r| r.vintage);
                    let (_, syntec_year, syntec_month) = syntec_of(year).expect("found above");
                    let pricing = crate::simulate::pricing_to_json(&annex.terms.pricing);
                    let units = match annex.terms.pricing {
                        Pricing::PerUnit { .. } => annex.units.map(|u| u.to_string()),
                        _ => None,
                    };
                    lines.push(DraftLine {
                        service_code: annex.service_code.clone(),
                        service_name: annex.service_name.clone(),
                        basis: json!({
                            "year": year,
                            "population": l.population,
                            "population_vintage": vintage,
                            "pricing": pricing,
                            "units": units,
                            "syntec": l.syntec.to_string(),
                            "syntec_month": format!("{syntec_year:04}-{syntec_month:02}"),
                            "s0": annex.terms.s0.to_string(),
                            "fixed_part": annex.terms.fixed_part.to_string(),
                            "coefficient": l.coefficient.to_string(),
                            "target": cents(l.target),
                            "previous_annual_amount": annex.previous_annual_amount.map(cents),
                            "transition_cap": l.transition_cap.map(cents),
                            "annual_amount": cents(l.annual_amount),
                            "prorata_days": l.prorata_days,
                            "days_in_year": l.days_in_year,
                            "due": cents(l.due),
                            "refund": cents(l.refund),
                        }),
                        due: l.due,
                        refund: l.refund,
                    });
                }
                (Ok(()), None) => {}
            }
        }
        if !lines.is_empty() {
            orders.push(DraftOrder { agreement, lines });
        }
    }
    Ok(if problems.is_empty() {
        Ok(orders)
    } else {
        Err(problems)
    })
}

/// FIN-5: computes and issues the year's orders; the problems instead when
/// any order cannot be computed (then nothing is issued).
pub async fn run(
    db: &Db,
    actor: kernel::audit::Actor,
    year: i32,
    issuer: &str,
) -> Result<Result<store::IssueReport, Vec<Msg>>, sqlx::Error> {
    match draft_orders(db, year).await? {
        Ok(drafts) => Ok(Ok(
            store::issue_orders(db, actor, year, &drafts, issuer).await?
        )),
        Err(problems) => Ok(Err(problems)),
    }
}

pub const JOB: &str = "billing.june";

/// FIN-5: orders are issued in June; the daily job issues the year's orders
/// on the first day of June it runs (issuing is idempotent, and the day's
/// claim keeps it to one node).
pub fn june_job(
    db: Db,
    today: time::Date,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>> {
    Box::pin(async move {
        if today.month() != time::Month::June {
            return Ok(());
        }
        let mut tx = db.begin().await?;
        let claimed = kernel::jobs::claim_day(&mut tx, JOB, today).await?;
        tx.commit().await?;
        if !claimed {
            return Ok(());
        }
        match run(
            &db,
            kernel::audit::Actor::System,
            today.year(),
            crate::domain::orders::DEFAULT_ISSUER,
        )
        .await?
        {
            Ok(report) => tracing::info!(issued = report.issued.len(), "June billing run"),
            Err(problems) => {
                for p in &problems {
                    tracing::error!(problem = %p.en, "June billing run cannot issue");
                }
            }
        }
        Ok(())
    })
}
