//! FIN-5 exports of a year's revenue orders: CSV (one row per order line)
//! and JSON (orders with their lines and basis).

use kernel::Db;
use kernel::web::Scope;
use kernel::web::csv::field as csv_field;
use serde_json::json;

use crate::domain::money::cents;
use crate::store;

pub async fn orders_csv(db: &Db, scope: &Scope, year: i32) -> Result<String, sqlx::Error> {
    let mut out = String::from(
        "reference,kind,refers_to,commune_insee,commune,siren,contribution_year,service,population,syntec,s0,coefficient,target,transition_cap,annual_amount,prorata_days,days_in_year,due,refund,line_amount,order_amount,collectable\n",
    );
    let all = store::orders(db, scope, year).await?;
    for o in &all {
        let (_, lines, _) = store::order(db, scope, o.id)
            .await?
            .expect("listed in scope");
        let refers = o
            .refers_to
            .and_then(|id| all.iter().find(|x| x.id == id))
            .map(|x| x.reference())
            .unwrap_or_default();
        let head = [
            o.reference(),
            o.kind.code().to_string(),
            refers,
            o.insee_code.clone(),
            csv_field(&o.debtor_name).into_owned(),
            o.debtor_siren.clone(),
            o.contribution_year.to_string(),
        ]
        .join(",");
        let tail = format!("{},{}", cents(o.amount), o.collectable);
        if lines.is_empty() {
            out.push_str(&format!("{head},,,,,,,,,,,,,,{tail}\n"));
        }
        for l in &lines {
            let b = |k: &str| match &l.basis[k] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!(
                "{head},{},{},{},{},{},{},{},{},{},{},{},{},{},{tail}\n",
                l.service_code,
                b("population"),
                b("syntec"),
                b("s0"),
                b("coefficient"),
                b("target"),
                b("transition_cap"),
                b("annual_amount"),
                b("prorata_days"),
                b("days_in_year"),
                cents(l.due),
                cents(l.refund),
                cents(l.amount),
            ));
        }
    }
    Ok(out)
}

pub async fn orders_json(db: &Db, scope: &Scope, year: i32) -> Result<String, sqlx::Error> {
    let mut orders = Vec::new();
    for o in store::orders(db, scope, year).await? {
        let (_, lines, corrections) = store::order(db, scope, o.id)
            .await?
            .expect("listed in scope");
        orders.push(json!({
            "reference": o.reference(),
            "kind": o.kind.code(),
            "budget_year": o.budget_year,
            "contribution_year": o.contribution_year,
            "commune": { "insee_code": o.insee_code, "name": o.debtor_name, "siren": o.debtor_siren },
            "amount": cents(o.amount),
            "collectable": o.collectable,
            "legal_basis": o.legal_basis,
            "issuer": o.issuer,
            "appeal": o.appeal,
            "reason": o.reason,
            "issued_at": kernel::clock::format_ms(o.issued_at),
            "corrections": corrections.iter().map(|c| c.reference()).collect::<Vec<_>>(),
            "lines": lines.iter().map(|l| json!({
                "service": l.service_code,
                "service_name": l.service_name,
                "basis": l.basis,
                "due": cents(l.due),
                "refund": cents(l.refund),
                "amount": cents(l.amount),
            })).collect::<Vec<_>>(),
        }));
    }
    let text = serde_json::to_string_pretty(&json!({ "budget_year": year, "orders": orders }))
        .expect("JSON values serialise");
    Ok(text + "\n")
}
