//! FIN-7: a commune's contributions over the remaining years of its
//! agreement, for its services and for one it might join, with an assumed
//! yearly SYNTEC growth it can change. A table, and a chart drawn on the
//! server (SVG, no script).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use kernel::AppState;
use kernel::clock;
use kernel::web::{PageContext, Staff};
use rust_decimal::Decimal;
use serde::Deserialize;
use time::Date;

use super::forms;
use crate::Error;
use crate::domain::contribution::{
    AnnexBasis, AnnexPeriod, EndReason, PopulationSeries, Pricing, annex_years, projected_index,
};
use crate::domain::money::cents;
use crate::store::{self, AgreementRow, Service};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProjectionQuery {
    croissance: String,
    service: String,
    unites: String,
}

/// One projected service: its name and an amount per year.
pub struct Row {
    pub name: String,
    pub hypothetical: bool,
    pub amounts: Vec<Option<Decimal>>,
}

/// A bar of the chart.
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub height: i64,
    pub year: i32,
    pub label: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "projections.html")]
pub struct ProjectionsPage {
    ctx: PageContext,
    agreement: AgreementRow,
    growth: String,
    years: Vec<i32>,
    rows: Vec<Row>,
    totals: Vec<String>,
    candidates: Vec<Service>,
    candidate: Option<i64>,
    units: String,
    bars: Vec<Bar>,
    problem: Option<String>,
}

impl ProjectionsPage {
    fn is_candidate(&self, id: &i64) -> bool {
        self.candidate == Some(*id)
    }
    fn amount(&self, a: &Option<Decimal>) -> String {
        a.map(cents).unwrap_or_else(|| "—".into())
    }
}

const CHART_HEIGHT: i64 = 200;

pub async fn page(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Path(id): Path<i64>,
    Query(q): Query<ProjectionQuery>,
) -> Result<ProjectionsPage, Error> {
    let agreement = store::agreement(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let growth = forms::amount(
        if q.croissance.is_empty() {
            "2"
        } else {
            &q.croissance
        },
        "Croissance annuelle de l'indice SYNTEC",
        "Yearly SYNTEC growth",
    )?
    .unwrap_or(Decimal::ZERO);
    if growth > Decimal::from(50) {
        return Err(Error::refused(
            "Indiquez une croissance annuelle entre 0 et 50 %.",
            "Give a yearly growth between 0 and 50%.",
        ));
    }
    let today = clock::today();
    let annexes = store::annexes(&app.db, id).await?;
    let services = store::services(&app.db).await?;
    let candidates: Vec<Service> = services
        .into_iter()
        .filter(|s| !annexes.iter().any(|a| a.service_id == s.id))
        .collect();
    let candidate = q
        .service
        .parse::<i64>()
        .ok()
        .filter(|c| candidates.iter().any(|s| s.id == *c))
        .or(candidates.first().map(|s| s.id));
    let units = forms::amount(
        if q.unites.is_empty() { "1" } else { &q.unites },
        "Unités",
        "Units",
    )?
    .unwrap_or(Decimal::ONE);

    let syntec = store::syntec_series(&app.db).await?;
    let known = syntec.known_on(today).map(|v| v.value);
    let index = |year: i32| -> Option<Decimal> {
        if Date::from_calendar_date(year, time::Month::January, 1).is_ok_and(|d| d <= today) {
            syntec.for_year(year).map(|v| v.value)
        } else {
            known.map(|k| projected_index(k, growth, year - today.year()))
        }
    };
    let populations = PopulationSeries::new(
        store::populations(&app.db, agreement.commune.id)
            .await?
            .iter()
            .filter_map(|r| Some((store::parse_date(&r.in_force_from).ok()?, r.value)))
            .collect(),
    );
    let (first, last) = match (agreement.dates.effective(), agreement.dates.last_day()) {
        (Some(_), Some(last)) => (
            today.year().max(
                agreement
                    .dates
                    .effective()
                    .map(|d| d.year())
                    .unwrap_or(today.year()),
            ),
            last.year(),
        ),
        _ => (today.year(), today.year() + 5),
    };
    let years: Vec<i32> = (first..=last.max(first)).collect();
    let mut rows = Vec::new();
    let mut problem = None;
    let mut project = |name: String, hypothetical: bool, basis: AnnexBasis<'_>| {
        let mut amounts = vec![None; years.len()];
        let result = annex_years(
            &basis,
            &populations,
            index,
            *years.last().expect("a year"),
            |l| {
                if let Some(i) = years.iter().position(|y| *y == l.year) {
                    amounts[i] = Some(l.due - l.refund);
                }
            },
        );
        if let Err(e) = result {
            problem = Some(format!("{name} : {e:?}"));
        }
        rows.push(Row {
            name,
            hypothetical,
            amounts,
        });
    };
    for a in &annexes {
        let Some(start) = a.start(&agreement.dates) else {
            continue;
        };
        let Some(end) = a.last_day(&agreement.dates) else {
            continue;
        };
        let period = AnnexPeriod {
            start,
            continuing: a.previous_annual_amount.is_some(),
            end: Some((end, a.end.map(|(_, r)| r).unwrap_or(EndReason::Notice))),
        };
        let basis = AnnexBasis {
            terms: &a.terms,
            period,
            previous: a.previous_annual_amount,
            units: a.units,
        };
        project(a.service_name.clone(), false, basis);
    }
    let candidate_service = candidates.iter().find(|s| Some(s.id) == candidate);
    if let Some(s) = candidate_service {
        // Joining on 1 January next year, until the agreement ends.
        let start =
            Date::from_calendar_date(today.year() + 1, time::Month::January, 1).expect("1 January");
        let end = agreement.dates.last_day().unwrap_or(
            Date::from_calendar_date(last, time::Month::December, 31).expect("31 December"),
        );
        if start <= end {
            let units = matches!(s.terms.pricing, Pricing::PerUnit { .. }).then_some(units);
            let basis = AnnexBasis {
                terms: &s.terms,
                period: AnnexPeriod {
                    start,
                    continuing: false,
                    end: Some((end, EndReason::Notice)),
                },
                previous: None,
                units,
            };
            project(
                format!(
                    "{} ({})",
                    s.name,
                    ctx.tr("si la commune y adhère", "if the commune joins")
                ),
                true,
                basis,
            );
        }
    }
    let totals_dec: Vec<Decimal> = (0..years.len())
        .map(|i| {
            rows.iter()
                .filter(|r| !r.hypothetical)
                .filter_map(|r| r.amounts[i])
                .sum()
        })
        .collect();
    let max = totals_dec
        .iter()
        .copied()
        .max()
        .unwrap_or(Decimal::ZERO)
        .max(Decimal::ONE);
    let bars = totals_dec
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let height = (t * Decimal::from(CHART_HEIGHT) / max)
                .round()
                .try_into()
                .unwrap_or(0i64);
            Bar {
                x: 40 + i as i64 * 70,
                y: 10 + CHART_HEIGHT - height,
                height,
                year: years[i],
                label: cents(*t),
            }
        })
        .collect();
    Ok(ProjectionsPage {
        ctx,
        agreement,
        growth: growth.normalize().to_string(),
        totals: totals_dec.iter().map(|t| cents(*t)).collect(),
        years,
        rows,
        candidates,
        candidate,
        units: units.normalize().to_string(),
        bars,
        problem,
    })
}
