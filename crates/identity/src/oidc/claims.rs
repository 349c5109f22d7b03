//! The personal claims of an account, named as OpenID Connect names them
//! (plus FranceConnect's `birthplace` and `birthcountry`).

use std::collections::HashMap;

use kernel::Db;
use serde_json::{Value, json};

use crate::domain::sheet::Field;
use crate::store;

pub async fn values(db: &Db, account_id: i64) -> Result<HashMap<String, Value>, sqlx::Error> {
    let mut out = HashMap::new();
    let Some(account) = store::account_by_id(db, account_id).await? else {
        return Ok(out);
    };
    out.insert("email".into(), json!(account.email));
    out.insert(
        "email_verified".into(),
        json!(store::email_verified(db, account_id).await?),
    );
    let sheet = store::sheet(db, account_id).await?;
    let get = |f: Field| sheet.iter().find(|v| v.field == f).map(|v| v.value.clone());
    for (claim, field) in [
        ("given_name", Field::GivenNames),
        ("family_name", Field::FamilyName),
        ("birthdate", Field::Birthdate),
        ("gender", Field::Gender),
        ("phone_number", Field::Phone),
        ("birthplace", Field::Birthplace),
        ("birthcountry", Field::Birthcountry),
    ] {
        if let Some(v) = get(field) {
            out.insert(claim.into(), json!(v));
        }
    }
    if get(Field::Street).is_some() || get(Field::Postcode).is_some() || get(Field::City).is_some()
    {
        let parts: Vec<String> = [
            get(Field::Street),
            [get(Field::Postcode), get(Field::City)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
                .into(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
        out.insert(
            "address".into(),
            json!({
                "formatted": parts.join("\n"),
                "street_address": get(Field::Street),
                "postal_code": get(Field::Postcode),
                "locality": get(Field::City),
                "country": "France",
            }),
        );
    }
    Ok(out)
}

/// The claims a service receives: only those granted (ID-4).
pub async fn granted(
    db: &Db,
    account_id: i64,
    granted: &[String],
) -> Result<serde_json::Map<String, Value>, sqlx::Error> {
    let all = values(db, account_id).await?;
    Ok(granted
        .iter()
        .filter_map(|c| all.get(c).map(|v| (c.clone(), v.clone())))
        .collect())
}
