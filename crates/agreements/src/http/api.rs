//! The staff JSON API of agreements (read-only), scoped like the pages
//! (OPS-7). Dates are ISO, amounts strings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kernel::AppState;
use kernel::clock;
use kernel::web::Staff;
use serde_json::{Value, json};

use crate::domain::agreement::AgreementState;
use crate::store::{self, AgreementRow, AnnexRow};

fn agreement_json(a: &AgreementRow, annexes: Option<&[AnnexRow]>) -> Value {
    let today = clock::today();
    let state = a.state(today);
    let (status, year, next_notice) = match state {
        AgreementState::Draft => ("draft", None, None),
        AgreementState::Signed { .. } => ("signed", None, None),
        AgreementState::InForce {
            year, next_notice, ..
        } => ("in_force", Some(year.number), next_notice),
        AgreementState::Ended { .. } => ("ended", None, None),
    };
    let d = |x: Option<time::Date>| x.map(|d| d.to_string());
    let mut out = json!({
        "id": a.id,
        "commune": { "insee_code": a.commune.insee_code, "siren": a.commune.siren, "name": a.commune.name },
        "status": status,
        "commune_signed_on": d(a.dates.commune_signed),
        "metropolis_signed_on": d(a.dates.metropolis_signed),
        "effective_date": d(a.dates.effective()),
        "adhesion_year": year,
        "next_notice_deadline": d(next_notice.map(|(_, deadline)| deadline)),
        "next_anniversary": d(next_notice.map(|(anniversary, _)| anniversary)),
        "last_day": d(a.dates.last_day()),
        "end_reason": a.dates.ended.map(|(_, r)| r.code()),
    });
    if let Some(annexes) = annexes {
        out["annexes"] = annexes
            .iter()
            .map(|x| {
                json!({
                    "service": x.service_code,
                    "start": d(x.start(&a.dates)),
                    "last_day": d(x.last_day(&a.dates)),
                    "end_reason": x.end.map(|(_, r)| r.code()),
                    "pricing": crate::simulate::pricing_to_json(&x.terms.pricing),
                    "s0": x.terms.s0.to_string(),
                    "fixed_part": x.terms.fixed_part.to_string(),
                    "prorata": x.terms.prorata.code(),
                    "units": x.units.map(|u| u.to_string()),
                    "previous_annual_amount": x.previous_annual_amount.map(|p| p.to_string()),
                })
            })
            .collect();
    }
    out
}

fn failure(e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "agreements API");
    (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({ "error": "internal", "message": "Erreur interne ; réessayez. / Internal error; try again." })))
        .into_response()
}

pub async fn list(State(app): State<AppState>, staff: Staff) -> Response {
    match store::agreements(&app.db, &staff.scope).await {
        Ok(rows) => Json(json!({ "agreements": rows.iter().map(|a| agreement_json(a, None)).collect::<Vec<_>>() })).into_response(),
        Err(e) => failure(e),
    }
}

pub async fn show(State(app): State<AppState>, staff: Staff, Path(id): Path<i64>) -> Response {
    let row = match store::agreement(&app.db, &staff.scope, id).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            return (StatusCode::NOT_FOUND, Json(json!({ "error": "not_found", "message": "Convention introuvable. / Agreement not found." })))
                .into_response();
        }
        Err(e) => return failure(e),
    };
    match store::annexes(&app.db, id).await {
        Ok(annexes) => Json(agreement_json(&row, Some(&annexes))).into_response(),
        Err(e) => failure(e),
    }
}
