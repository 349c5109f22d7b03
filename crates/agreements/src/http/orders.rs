//! FIN-5 pages: a year's revenue orders, each order printable and as PDF,
//! CSV and JSON exports, corrections. Scoped: a commune's finance officer
//! sees its own orders only (OPS-7).

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use kernel::AppState;
use kernel::audit::Actor;
use kernel::clock;
use kernel::web::{PageContext, Role, Staff};
use serde::Deserialize;

use super::forms;
use crate::Error;
use crate::domain::money::cents;
use crate::store::{self, OrderLine, OrderRow};

fn corrector(staff: &Staff) -> Result<Actor, Error> {
    let ok = staff
        .viewer
        .grants
        .iter()
        .any(|g| g.metropolis && matches!(g.role, Role::MetropolisAdmin | Role::Finance));
    if ok {
        Ok(Actor::Account(staff.viewer.account_id))
    } else {
        Err(Error::Forbidden)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "orders.html")]
pub struct OrdersPage {
    ctx: PageContext,
    years: Vec<i32>,
    year: i32,
    orders: Vec<OrderRow>,
}

impl OrdersPage {
    fn amount(&self, o: &OrderRow) -> String {
        cents(o.amount)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct YearQuery {
    annee: Option<i32>,
}

pub async fn list(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Query(q): Query<YearQuery>,
) -> Result<OrdersPage, Error> {
    let years = store::order_years(&app.db).await?;
    let year = q
        .annee
        .or(years.first().copied())
        .unwrap_or(clock::today().year());
    let orders = store::orders(&app.db, &staff.scope, year).await?;
    Ok(OrdersPage {
        ctx,
        years,
        year,
        orders,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "order.html")]
pub struct OrderPage {
    ctx: PageContext,
    order: OrderRow,
    lines: Vec<OrderLine>,
    corrections: Vec<OrderRow>,
    refers_to: Option<String>,
    can_correct: bool,
}

impl OrderPage {
    fn basis(&self, l: &OrderLine, key: &str) -> String {
        match &l.basis[key] {
            serde_json::Value::Null => "—".into(),
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        }
    }
    fn pricing(&self, l: &OrderLine) -> String {
        crate::simulate::pricing_from_json(&l.basis["pricing"])
            .map(|p| store::pricing_label(&p, self.ctx.lang))
            .unwrap_or_default()
    }
    fn money(&self, d: &rust_decimal::Decimal) -> String {
        cents(*d)
    }
    fn issued_on(&self) -> String {
        clock::format_ms(self.order.issued_at)[..10].to_string()
    }
}

async fn load(
    app: &AppState,
    staff: &Staff,
    id: i64,
) -> Result<(OrderRow, Vec<OrderLine>, Vec<OrderRow>, Option<String>), Error> {
    let (order, lines, corrections) = store::order(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let refers_to = match order.refers_to {
        Some(r) => store::order(&app.db, &staff.scope, r)
            .await?
            .map(|(o, _, _)| o.reference()),
        None => None,
    };
    Ok((order, lines, corrections, refers_to))
}

pub async fn show(
    State(app): State<AppState>,
    staff: Staff,
    ctx: PageContext,
    Path(id): Path<i64>,
) -> Result<OrderPage, Error> {
    let (order, lines, corrections, refers_to) = load(&app, &staff, id).await?;
    let can_correct =
        corrector(&staff).is_ok() && order.kind == crate::domain::orders::OrderKind::Order;
    Ok(OrderPage {
        ctx,
        order,
        lines,
        corrections,
        refers_to,
        can_correct,
    })
}

pub async fn pdf(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    let (order, lines, _, refers_to) = load(&app, &staff, id).await?;
    let bytes = crate::pdf::order_pdf(&order, &lines, refers_to.as_deref());
    let disposition = format!("inline; filename=\"titre-{}.pdf\"", order.reference());
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

pub async fn export_csv(
    State(app): State<AppState>,
    staff: Staff,
    Path(year): Path<i32>,
) -> Result<Response, Error> {
    let text = crate::exports::orders_csv(&app.db, &staff.scope, year).await?;
    let disposition = format!("attachment; filename=\"titres-{year}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}

pub async fn export_json(
    State(app): State<AppState>,
    staff: Staff,
    Path(year): Path<i32>,
) -> Result<Response, Error> {
    let text = crate::exports::orders_json(&app.db, &staff.scope, year).await?;
    let disposition = format!("attachment; filename=\"titres-{year}.json\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        text,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CorrectionForm {
    /// Empty: cancel what remains; otherwise the amount to reduce by.
    reduction: String,
    reason: String,
}

pub async fn correct(
    State(app): State<AppState>,
    staff: Staff,
    Path(id): Path<i64>,
    Form(f): Form<CorrectionForm>,
) -> Result<Response, Error> {
    let actor = corrector(&staff)?;
    store::order(&app.db, &staff.scope, id)
        .await?
        .ok_or(Error::NotFound)?;
    let reduction = forms::amount(&f.reduction, "Montant de la réduction", "Reduction amount")?;
    store::correct_order(
        &app.db,
        actor,
        id,
        reduction,
        &f.reason,
        clock::today().year(),
    )
    .await?;
    Ok(Redirect::to(&format!("/gestion/titres/{id}#corrections")).into_response())
}
