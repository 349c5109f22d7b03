//! CONV-7: when an agreement or an annex ends, the commune downloads all of
//! its own data: JSON and CSV files in a tar archive, with a manifest giving
//! each file's size and SHA-256.

use kernel::Db;
use kernel::web::Scope;
use kernel::web::csv::line as csv_line;
use serde_json::{Value, json};

use crate::domain::money::cents;
use crate::store::{self, AgreementRow};

/// Whether the archive may be downloaded: an end is recorded for the
/// agreement or one of its annexes.
pub async fn available(db: &Db, agreement: &AgreementRow) -> Result<bool, sqlx::Error> {
    if agreement.dates.ended.is_some() {
        return Ok(true);
    }
    Ok(store::annexes(db, agreement.id)
        .await?
        .iter()
        .any(|a| a.end.is_some()))
}

/// The files of a commune's archive, by name (the manifest last).
pub async fn files(
    db: &Db,
    commune_id: i64,
    generated_at: &str,
) -> Result<Vec<(String, Vec<u8>)>, sqlx::Error> {
    let scope = Scope::Organisations(vec![commune_id]);
    let commune = store::organisation_by_id(db, commune_id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let d = |x: Option<time::Date>| x.map(|d| d.to_string());
    let mut agreements = Vec::new();
    let mut annex_csv = csv_line(
        &[
            "agreement_id",
            "service",
            "start",
            "last_day",
            "end_reason",
            "pricing",
            "s0",
            "fixed_part",
            "prorata",
            "units",
            "previous_annual_amount",
        ]
        .map(String::from),
    );
    for a in store::agreements(db, &scope).await? {
        let annexes = store::annexes(db, a.id).await?;
        for x in &annexes {
            annex_csv += &csv_line(&[
                a.id.to_string(),
                x.service_code.clone(),
                d(x.start(&a.dates)).unwrap_or_default(),
                d(x.last_day(&a.dates)).unwrap_or_default(),
                x.end.map(|(_, r)| r.code().to_string()).unwrap_or_default(),
                crate::simulate::pricing_to_json(&x.terms.pricing).to_string(),
                x.terms.s0.to_string(),
                x.terms.fixed_part.to_string(),
                x.terms.prorata.code().to_string(),
                x.units.map(|u| u.to_string()).unwrap_or_default(),
                x.previous_annual_amount.map(cents).unwrap_or_default(),
            ]);
        }
        let amendments: Vec<Value> = store::amendments(db, a.id)
            .await?
            .iter()
            .map(|m| json!({"kind": m.kind.code(), "service": m.service_name, "effective_on": m.effective_on.to_string(),
                "commune_signed_on": d(m.commune_signed), "metropolis_signed_on": d(m.metropolis_signed)}))
            .collect();
        let notices: Vec<Value> = store::notices(db, a.id)
            .await?
            .iter()
            .map(|n| json!({"from": n.from.code(), "received_on": n.received_on.to_string(), "ends_on": n.ends_on.to_string()}))
            .collect();
        let breaches: Vec<Value> = store::breach_notices(db, a.id)
            .await?
            .iter()
            .map(|b| json!({"from": b.from.code(), "sent_on": b.sent_on.to_string(), "grounds": b.grounds}))
            .collect();
        let disputes: Vec<Value> = store::disputes(db, a.id)
            .await?
            .iter()
            .map(|x| json!({"claimant": x.claimant.code(), "received_on": x.received_on.to_string(), "subject": x.subject,
                "status": x.status.code(), "decided_on": d(x.decided_on), "decision": x.decision}))
            .collect();
        let documents: Vec<Value> = store::signed_documents(db, a.id)
            .await?
            .iter()
            .map(|s| json!({"filename": s.filename, "sha256": s.sha256, "size": s.size}))
            .collect();
        agreements.push(json!({
            "id": a.id,
            "commune_signed_on": d(a.dates.commune_signed),
            "metropolis_signed_on": d(a.dates.metropolis_signed),
            "effective_date": d(a.dates.effective()),
            "last_day": d(a.dates.last_day()),
            "end_reason": a.dates.ended.map(|(_, r)| r.code()),
            "annexes": annexes.iter().map(|x| x.service_code.clone()).collect::<Vec<_>>(),
            "amendments": amendments,
            "termination_notices": notices,
            "breach_notices": breaches,
            "disputes": disputes,
            "signed_documents": documents,
        }));
    }
    let mut orders_json = Vec::new();
    let mut orders_csv = String::new();
    for year in store::order_years(db).await? {
        let text = crate::exports::orders_json(db, &scope, year).await?;
        let value: Value = serde_json::from_str(&text).expect("our own JSON");
        if value["orders"].as_array().is_some_and(|o| !o.is_empty()) {
            orders_json.push(value);
            let csv = crate::exports::orders_csv(db, &scope, year).await?;
            if orders_csv.is_empty() {
                orders_csv = csv;
            } else {
                orders_csv.extend(csv.lines().skip(1).map(|l| format!("{l}\n")));
            }
        }
    }
    let mut referents_csv = csv_line(&["service", "name", "email"].map(String::from));
    for r in store::referents(db, &scope, Some(commune_id)).await? {
        referents_csv += &csv_line(&[r.service_name.unwrap_or_default(), r.name, r.email]);
    }
    let mut populations_csv = csv_line(&["in_force_from", "vintage", "value"].map(String::from));
    for p in store::populations(db, commune_id).await? {
        populations_csv +=
            &csv_line(&[p.in_force_from, p.vintage.to_string(), p.value.to_string()]);
    }
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).expect("JSON values serialise");
    let mut files = vec![
        (
            "agreements.json".to_string(),
            pretty(&json!({ "agreements": agreements })),
        ),
        ("annexes.csv".to_string(), annex_csv.into_bytes()),
        (
            "revenue_orders.json".to_string(),
            pretty(&json!({ "budget_years": orders_json })),
        ),
        ("revenue_orders.csv".to_string(), orders_csv.into_bytes()),
        ("referents.csv".to_string(), referents_csv.into_bytes()),
        ("populations.csv".to_string(), populations_csv.into_bytes()),
    ];
    let manifest = json!({
        "commune": { "insee_code": commune.insee_code, "siren": commune.siren, "name": commune.name },
        "generated_at": generated_at,
        "licence": "Données de la commune, remises au titre de l'article 12.3 de la convention-cadre (CONV-7).",
        "files": files.iter().map(|(name, bytes)| json!({ "name": name, "bytes": bytes.len(), "sha256": kernel::random::sha256_hex(bytes) })).collect::<Vec<_>>(),
    });
    files.push(("manifest.json".to_string(), pretty(&manifest)));
    Ok(files)
}

/// The files as a tar archive, under a folder named after the commune.
pub fn tar(folder: &str, files: &[(String, Vec<u8>)], mtime: u64) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_cksum();
        builder.append_data(&mut header, format!("{folder}/{name}"), bytes.as_slice())?;
    }
    builder.into_inner()
}
