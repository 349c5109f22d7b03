//! Revenue orders (FIN-5): issued in one continuous, gap-free series per
//! budget year, never edited, corrected by orders that refer to them.

use kernel::audit::{self, Actor, Event};
use kernel::web::Scope;
use kernel::{Db, Tx, clock};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Error;
use crate::billing::DraftOrder;
use crate::domain::contribution::collectable;
use crate::domain::money::{cents, parse_decimal};
use crate::domain::orders::{APPEAL, OrderKind, legal_basis, reference, remaining};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRow {
    pub id: i64,
    pub budget_year: i32,
    pub number: i64,
    pub kind: OrderKind,
    pub commune_id: i64,
    pub insee_code: String,
    pub contribution_year: i32,
    pub refers_to: Option<i64>,
    pub amount: Decimal,
    pub collectable: bool,
    pub debtor_name: String,
    pub debtor_siren: String,
    pub legal_basis: String,
    pub issuer: String,
    pub appeal: String,
    pub reason: Option<String>,
    pub issued_at: i64,
}

impl OrderRow {
    pub fn reference(&self) -> String {
        reference(self.budget_year, self.number)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderLine {
    pub service_code: String,
    pub service_name: String,
    pub basis: serde_json::Value,
    pub due: Decimal,
    pub refund: Decimal,
    pub amount: Decimal,
}

fn decimal(r: &AnyRow, name: &str) -> Result<Decimal, sqlx::Error> {
    let t: String = r.try_get(name)?;
    parse_decimal(&t).map_err(|e| sqlx::Error::Decode(e.into()))
}

macro_rules! select_orders {
    ($rest:literal) => {
        concat!(
            "SELECT r.id, r.budget_year, r.number, r.kind, r.commune_id, o.insee_code, r.contribution_year, r.refers_to, ",
            "r.amount, r.collectable, r.debtor_name, r.debtor_siren, r.legal_basis, r.issuer, r.appeal, r.reason, r.issued_at ",
            "FROM revenue_orders r JOIN organisations o ON o.id = r.commune_id ",
            $rest
        )
    };
}

fn order_row(r: &AnyRow) -> Result<OrderRow, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    let collectable: i64 = r.try_get("collectable")?;
    let budget_year: i64 = r.try_get("budget_year")?;
    let contribution_year: i64 = r.try_get("contribution_year")?;
    Ok(OrderRow {
        id: r.try_get("id")?,
        budget_year: budget_year as i32,
        number: r.try_get("number")?,
        kind: OrderKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("bad kind {kind}").into()))?,
        commune_id: r.try_get("commune_id")?,
        insee_code: r
            .try_get::<Option<String>, _>("insee_code")?
            .unwrap_or_default(),
        contribution_year: contribution_year as i32,
        refers_to: r.try_get("refers_to")?,
        amount: decimal(r, "amount")?,
        collectable: collectable == 1,
        debtor_name: r.try_get("debtor_name")?,
        debtor_siren: r.try_get("debtor_siren")?,
        legal_basis: r.try_get("legal_basis")?,
        issuer: r.try_get("issuer")?,
        appeal: r.try_get("appeal")?,
        reason: r.try_get("reason")?,
        issued_at: r.try_get("issued_at")?,
    })
}

/// Takes the next number of `budget_year`'s series. The counter row stays
/// locked until the transaction ends, so issuers on several nodes queue, and
/// a rolled-back transaction gives its number back: no gaps.
async fn next_number(tx: &mut Tx, budget_year: i32) -> Result<i64, sqlx::Error> {
    sqlx::query("INSERT INTO order_counters (budget_year, last) VALUES ($1, 0) ON CONFLICT (budget_year) DO NOTHING")
        .bind(i64::from(budget_year))
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE order_counters SET last = last + 1 WHERE budget_year = $1 RETURNING last")
        .bind(i64::from(budget_year))
        .fetch_one(&mut **tx)
        .await?
        .try_get("last")
}

/// What a billing run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssueReport {
    pub issued: Vec<String>,
    /// Communes whose order of that year already existed.
    pub already_issued: usize,
}

/// FIN-5: issues the year's orders in one transaction. Running it again
/// issues nothing new; two nodes running it at once issue each order once.
pub async fn issue_orders(
    db: &Db,
    actor: Actor,
    year: i32,
    drafts: &[DraftOrder],
    issuer: &str,
) -> Result<IssueReport, sqlx::Error> {
    let mut tx = db.begin().await?;
    let mut report = IssueReport::default();
    // Lock the series first: whoever comes second sees the first's orders.
    sqlx::query("INSERT INTO order_counters (budget_year, last) VALUES ($1, 0) ON CONFLICT (budget_year) DO NOTHING")
        .bind(i64::from(year))
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE order_counters SET last = last WHERE budget_year = $1")
        .bind(i64::from(year))
        .execute(&mut *tx)
        .await?;
    let now = clock::now_ms();
    for d in drafts {
        let existing = sqlx::query("SELECT id FROM revenue_orders WHERE kind = 'order' AND commune_id = $1 AND contribution_year = $2")
            .bind(d.agreement.commune.id)
            .bind(i64::from(year))
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_some() {
            report.already_issued += 1;
            continue;
        }
        let number = next_number(&mut tx, year).await?;
        let total = d.total();
        let effective = d
            .agreement
            .dates
            .effective()
            .expect("only signed agreements are billed");
        let id: i64 = sqlx::query(
            "INSERT INTO revenue_orders (budget_year, number, kind, commune_id, contribution_year, amount, collectable, \
             debtor_name, debtor_siren, legal_basis, issuer, appeal, issued_at) \
             VALUES ($1, $2, 'order', $3, $1, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(i64::from(year))
        .bind(number)
        .bind(d.agreement.commune.id)
        .bind(cents(total))
        .bind(i64::from(collectable(total)))
        .bind(&d.agreement.commune.name)
        .bind(&d.agreement.commune.siren)
        .bind(legal_basis(effective))
        .bind(issuer)
        .bind(APPEAL)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        for (position, line) in d.lines.iter().enumerate() {
            sqlx::query(
                "INSERT INTO revenue_order_lines (order_id, position, service_code, service_name, basis, due, refund, amount) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id)
            .bind(position as i64)
            .bind(&line.service_code)
            .bind(&line.service_name)
            .bind(line.basis.to_string())
            .bind(cents(line.due))
            .bind(cents(line.refund))
            .bind(cents(line.amount()))
            .execute(&mut *tx)
            .await?;
        }
        let reference = reference(year, number);
        audit::append(
            &mut tx,
            &Event::new(
                actor.clone(),
                "revenue_order.issue",
                format!("revenue_order:{reference}"),
            )
            .with(json!({
                "commune": d.agreement.commune.insee_code,
                "amount": cents(total),
                "collectable": collectable(total),
            })),
        )
        .await?;
        report.issued.push(reference);
    }
    tx.commit().await?;
    Ok(report)
}

/// Orders visible in `scope`, of a budget year, in number order.
pub async fn orders(
    db: &Db,
    scope: &Scope,
    budget_year: i32,
) -> Result<Vec<OrderRow>, sqlx::Error> {
    let rows = sqlx::query(select_orders!("WHERE r.budget_year = $1 ORDER BY r.number"))
        .bind(i64::from(budget_year))
        .fetch_all(db.pool())
        .await?;
    let all: Result<Vec<_>, _> = rows.iter().map(order_row).collect();
    Ok(all?
        .into_iter()
        .filter(|o| scope.allows(o.commune_id))
        .collect())
}

/// DATA-4: one service's contribution of a commune for a year, as its
/// revenue order stated it (FIN-5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContributionLine {
    pub year: i32,
    pub insee_code: String,
    pub commune: String,
    pub service_code: String,
    pub service_name: String,
    pub due: Decimal,
    pub refund: Decimal,
    pub amount: Decimal,
    /// The order's reference (`2026-000012`) and when it was issued.
    pub order: String,
    pub issued_at: i64,
    /// The order was reduced after it was issued (a reduction is for the
    /// whole order, not for a line).
    pub reduced: bool,
}

/// DATA-4: every line of every issued order that a correction has not
/// cancelled, by year, commune and service. Public money is public:
/// published whole, for every commune.
pub async fn contribution_lines(db: &Db) -> Result<Vec<ContributionLine>, sqlx::Error> {
    let mut corrections: std::collections::HashMap<i64, Vec<Decimal>> = Default::default();
    for r in sqlx::query("SELECT refers_to, amount FROM revenue_orders WHERE kind <> 'order'")
        .fetch_all(db.pool())
        .await?
    {
        corrections
            .entry(r.try_get("refers_to")?)
            .or_default()
            .push(decimal(&r, "amount")?);
    }
    let rows = sqlx::query(
        "SELECT r.id, r.amount AS order_amount, r.contribution_year, r.budget_year, r.number, r.issued_at, \
         o.insee_code, o.name, l.service_code, l.service_name, l.due, l.refund, l.amount \
         FROM revenue_orders r JOIN organisations o ON o.id = r.commune_id \
         JOIN revenue_order_lines l ON l.order_id = r.id \
         WHERE r.kind = 'order' AND o.insee_code IS NOT NULL \
         ORDER BY r.contribution_year, o.insee_code, l.position",
    )
    .fetch_all(db.pool())
    .await?;
    let mut lines = Vec::new();
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let corrected = corrections.get(&id).map(Vec::as_slice).unwrap_or_default();
        if remaining(decimal(r, "order_amount")?, corrected) <= Decimal::ZERO {
            // Cancelled: nothing of it is due.
            continue;
        }
        let year: i64 = r.try_get("contribution_year")?;
        let budget_year: i64 = r.try_get("budget_year")?;
        lines.push(ContributionLine {
            year: year as i32,
            insee_code: r.try_get("insee_code")?,
            commune: r.try_get("name")?,
            service_code: r.try_get("service_code")?,
            service_name: r.try_get("service_name")?,
            due: decimal(r, "due")?,
            refund: decimal(r, "refund")?,
            amount: decimal(r, "amount")?,
            order: reference(budget_year as i32, r.try_get("number")?),
            issued_at: r.try_get("issued_at")?,
            reduced: !corrected.is_empty(),
        });
    }
    Ok(lines)
}

/// The budget years that have orders.
pub async fn order_years(db: &Db) -> Result<Vec<i32>, sqlx::Error> {
    let rows =
        sqlx::query("SELECT DISTINCT budget_year FROM revenue_orders ORDER BY budget_year DESC")
            .fetch_all(db.pool())
            .await?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>("budget_year").map(|y| y as i32))
        .collect()
}

/// One order with its lines and its corrections, inside `scope` only.
pub async fn order(
    db: &Db,
    scope: &Scope,
    id: i64,
) -> Result<Option<(OrderRow, Vec<OrderLine>, Vec<OrderRow>)>, sqlx::Error> {
    let row = sqlx::query(select_orders!("WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let Some(order) = row
        .as_ref()
        .map(order_row)
        .transpose()?
        .filter(|o| scope.allows(o.commune_id))
    else {
        return Ok(None);
    };
    let lines = sqlx::query(
        "SELECT service_code, service_name, basis, due, refund, amount FROM revenue_order_lines WHERE order_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| {
        let basis: String = r.try_get("basis")?;
        Ok(OrderLine {
            service_code: r.try_get("service_code")?,
            service_name: r.try_get("service_name")?,
            basis: serde_json::from_str(&basis).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
            due: decimal(r, "due")?,
            refund: decimal(r, "refund")?,
            amount: decimal(r, "amount")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let corrections = sqlx::query(select_orders!("WHERE r.refers_to = $1 ORDER BY r.id"))
        .bind(id)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(order_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some((order, lines, corrections)))
}

/// FIN-5: a cancellation (the whole remaining amount) or a reduction of an
/// order, issued as a new order in the current budget year's series.
pub async fn correct_order(
    db: &Db,
    actor: Actor,
    order_id: i64,
    reduction: Option<Decimal>,
    reason: &str,
    budget_year: i32,
) -> Result<String, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 2000 {
        return Err(Error::refused(
            "Indiquez le motif de la correction (2000 caractères au plus).",
            "State the reason for the correction (2000 characters at most).",
        ));
    }
    let mut tx = db.begin().await?;
    let number_lock = next_number(&mut tx, budget_year).await?;
    let row = sqlx::query(select_orders!("WHERE r.id = $1"))
        .bind(order_id)
        .fetch_optional(&mut *tx)
        .await?;
    let original = row
        .as_ref()
        .map(order_row)
        .transpose()?
        .ok_or(Error::NotFound)?;
    if original.kind != OrderKind::Order {
        return Err(Error::refused(
            "On corrige un titre de recette, pas une correction.",
            "Only a revenue order can be corrected, not a correction.",
        ));
    }
    let previous: Vec<Decimal> =
        sqlx::query("SELECT amount FROM revenue_orders WHERE refers_to = $1")
            .bind(order_id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| decimal(r, "amount"))
            .collect::<Result<_, _>>()?;
    let left = remaining(original.amount, &previous);
    let (kind, amount) = match reduction {
        None => (OrderKind::Cancellation, left),
        Some(r) if r > Decimal::ZERO && r < left => (OrderKind::Reduction, r),
        Some(r) if r == left => (OrderKind::Cancellation, r),
        Some(_) => {
            return Err(Error::refused(
                format!(
                    "La réduction doit être positive et au plus égale au reste dû ({} €).",
                    cents(left)
                ),
                format!(
                    "The reduction must be positive and at most the amount still due (€{}).",
                    cents(left)
                ),
            ));
        }
    };
    if left <= Decimal::ZERO {
        return Err(Error::refused(
            "Ce titre est déjà entièrement annulé.",
            "This order is already fully cancelled.",
        ));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO revenue_orders (budget_year, number, kind, commune_id, contribution_year, refers_to, amount, collectable, \
         debtor_name, debtor_siren, legal_basis, issuer, appeal, reason, issued_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
    )
    .bind(i64::from(budget_year))
    .bind(number_lock)
    .bind(kind.code())
    .bind(original.commune_id)
    .bind(i64::from(original.contribution_year))
    .bind(order_id)
    .bind(cents(amount))
    .bind(i64::from(collectable(left - amount)))
    .bind(&original.debtor_name)
    .bind(&original.debtor_siren)
    .bind(&original.legal_basis)
    .bind(&original.issuer)
    .bind(&original.appeal)
    .bind(reason)
    .bind(clock::now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    let reference = reference(budget_year, number_lock);
    audit::append(
        &mut tx,
        &Event::new(
            actor,
            "revenue_order.correct",
            format!("revenue_order:{reference}"),
        )
        .with(json!({
            "id": id,
            "kind": kind.code(),
            "refers_to": original.reference(),
            "amount": cents(amount),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(reference)
}
