//! ID-4: consent records, append-only. A service receives a personal claim
//! only under a live consent of the user to that service for that claim.

use kernel::audit::{self, Actor, Event};
use kernel::{Db, clock};
use serde_json::json;
use sqlx::Row;

use super::clients::Client;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRecord {
    pub id: i64,
    pub account_id: i64,
    pub client_id: String,
    pub event: String,
    pub method: String,
    /// The claims the service asked for, and those the user granted.
    pub asked: Vec<String>,
    pub granted: Vec<String>,
    pub purpose: String,
    pub notice_version: String,
    pub at: i64,
    pub expires_at: Option<i64>,
}

impl ConsentRecord {
    pub fn live(&self, now: i64) -> bool {
        matches!(self.event.as_str(), "given" | "changed")
            && self.expires_at.is_none_or(|e| e > now)
    }
}

fn record(r: &sqlx::any::AnyRow) -> Result<ConsentRecord, sqlx::Error> {
    let claims: String = r.try_get("claims")?;
    let claims: serde_json::Value =
        serde_json::from_str(&claims).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let list = |k: &str| {
        claims[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(ConsentRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        client_id: r.try_get("client_id")?,
        event: r.try_get("event")?,
        method: r.try_get("method")?,
        asked: list("asked"),
        granted: list("granted"),
        purpose: r.try_get("purpose")?,
        notice_version: r.try_get("notice_version")?,
        at: r.try_get("at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

const COLUMNS: &str =
    "id, account_id, client_id, event, method, claims, purpose, notice_version, at, expires_at";

/// The latest record of a user for a service.
pub async fn latest(
    db: &Db,
    account_id: i64,
    client_id: &str,
) -> Result<Option<ConsentRecord>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM consent_records WHERE account_id = $1 AND client_id = $2 ORDER BY id DESC LIMIT 1"
    )))
    .bind(account_id)
    .bind(client_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(record).transpose()
}

/// Every record of a user, newest first (history, receipts).
pub async fn history(db: &Db, account_id: i64) -> Result<Vec<ConsentRecord>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM consent_records WHERE account_id = $1 ORDER BY id DESC"
    )))
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(record).collect()
}

/// DATA-2, ID-4: among `subjects` (the `sub`s a service's client `client`
/// received), those whose person has a live consent to that client that
/// grants [`USAGE_STATISTICS`](super::clients::USAGE_STATISTICS), each
/// with the time of that consent's record (what happened before it is not
/// covered). A subject of another sector, of a deleted account, or never
/// issued is not among them.
pub async fn consenting_to_usage_statistics(
    db: &Db,
    client: &Client,
    subjects: &[&str],
    now: i64,
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    let mut out = std::collections::HashMap::new();
    // Well under both databases' limits on bound parameters.
    for chunk in subjects.chunks(500) {
        let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT s.sub, {columns} FROM oidc_subjects s JOIN consent_records c ON c.account_id = s.account_id \
             WHERE s.sector = $1 AND c.client_id = $2 AND s.sub IN ({list}) \
             AND c.id = (SELECT MAX(id) FROM consent_records l WHERE l.account_id = s.account_id AND l.client_id = $2)",
            columns = COLUMNS
                .split(", ")
                .map(|c| format!("c.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            list = list.join(", "),
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&client.sector)
            .bind(&client.client_id);
        for sub in chunk {
            query = query.bind(*sub);
        }
        for row in query.fetch_all(db.pool()).await? {
            let consent = record(&row)?;
            if consent.live(now)
                && consent
                    .granted
                    .iter()
                    .any(|g| g == super::clients::USAGE_STATISTICS)
            {
                out.insert(row.try_get("sub")?, consent.at);
            }
        }
    }
    Ok(out)
}

/// ID-4: a consent is asked again when there is no live one, when the
/// service asks for claims it did not ask for before, or when its privacy
/// notice changed.
pub fn needs_asking(
    latest: Option<&ConsentRecord>,
    client: &Client,
    asked: &[String],
    now: i64,
) -> bool {
    if asked.is_empty() {
        return false;
    }
    match latest {
        Some(c) if c.live(now) => {
            c.notice_version != client.privacy_notice_version
                || asked.iter().any(|a| !c.asked.contains(a))
        }
        _ => true,
    }
}

/// ID-4 across areas: tells each registered area, in `tx`, how the
/// account's consent to `client_id` stands now, with the subjects that
/// client's sector knows the account by (e.g. the usage statistics kept
/// under them, DATA-2, are erased when no longer granted).
async fn tell_areas(
    tx: &mut kernel::Tx,
    account_id: i64,
    client_id: &str,
    granted: &[String],
) -> Result<(), sqlx::Error> {
    let subjects = sqlx::query(
        "SELECT s.sub FROM oidc_subjects s JOIN oidc_clients c ON c.sector = s.sector \
         WHERE c.client_id = $1 AND s.account_id = $2",
    )
    .bind(client_id)
    .bind(account_id)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| r.try_get("sub"))
    .collect::<Result<Vec<String>, _>>()?;
    let change = kernel::personal_data::ConsentChange {
        account_id,
        client_id: client_id.to_string(),
        subjects,
        granted: granted.to_vec(),
    };
    for part in kernel::personal_data::parts() {
        (part.consent_changed)(tx, &change).await?;
    }
    Ok(())
}

/// Records the user's decision on the consent screen (the only way a
/// consent is given: no staff page or API creates one).
pub async fn record_decision(
    db: &Db,
    account_id: i64,
    client: &Client,
    asked: &[String],
    granted: &[String],
) -> Result<(), sqlx::Error> {
    let now = clock::now_ms();
    let previous = latest(db, account_id, &client.client_id).await?;
    let event = if previous.is_some_and(|p| p.live(now)) {
        "changed"
    } else {
        "given"
    };
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO consent_records (account_id, client_id, event, method, claims, purpose, notice_version, at, expires_at) \
         VALUES ($1, $2, $3, 'screen', $4, $5, $6, $7, $8)",
    )
    .bind(account_id)
    .bind(&client.client_id)
    .bind(event)
    .bind(json!({ "asked": asked, "granted": granted }).to_string())
    .bind(&client.purpose)
    .bind(&client.privacy_notice_version)
    .bind(now)
    .bind(now + client.consent_lifetime_days * 24 * 3600 * 1000)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Account(account_id),
            "consent.given",
            format!("client:{}", client.client_id),
        )
        .with(json!({ "event": event, "granted": granted })),
    )
    .await?;
    tell_areas(&mut tx, account_id, &client.client_id, granted).await?;
    tx.commit().await?;
    Ok(())
}

/// ID-4: the user withdraws a consent: recorded, the service's tokens for
/// that user revoked, and (when the service listens) a back-channel logout
/// token queued. False when there was no live consent.
pub async fn revoke(
    db: &Db,
    account_id: i64,
    client: &Client,
    logout: Option<kernel::outbox::Message>,
) -> Result<bool, sqlx::Error> {
    let now = clock::now_ms();
    let Some(current) = latest(db, account_id, &client.client_id)
        .await?
        .filter(|c| c.live(now))
    else {
        return Ok(false);
    };
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO consent_records (account_id, client_id, event, method, claims, purpose, notice_version, at, expires_at) \
         VALUES ($1, $2, 'revoked', 'revocation', $3, $4, $5, $6, NULL)",
    )
    .bind(account_id)
    .bind(&client.client_id)
    .bind(json!({ "asked": current.asked, "granted": current.granted }).to_string())
    .bind(&current.purpose)
    .bind(&current.notice_version)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let revoked =
        super::store::revoke_client_tokens(&mut tx, account_id, &client.client_id).await?;
    if let Some(message) = logout {
        kernel::outbox::enqueue(
            &mut tx,
            &format!("backchannel-logout:{}:{account_id}:{now}", client.client_id),
            &message,
        )
        .await?;
    }
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Account(account_id),
            "consent.revoked",
            format!("client:{}", client.client_id),
        )
        .with(json!({ "tokens_revoked": revoked })),
    )
    .await?;
    tell_areas(&mut tx, account_id, &client.client_id, &[]).await?;
    tx.commit().await?;
    Ok(true)
}

/// ID-4: consents past their lifetime get an `expired` record (method
/// `expiry`) and the service's tokens for that user are revoked, so that the
/// history says when each consent ended. The service asks again at the next
/// sign-in. Returns how many consents expired; running it again does nothing.
pub async fn expire_due(db: &Db, now: i64) -> Result<usize, sqlx::Error> {
    let due = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM consent_records c WHERE event IN ('given', 'changed')          AND expires_at <= $1 AND id = (SELECT MAX(id) FROM consent_records l          WHERE l.account_id = c.account_id AND l.client_id = c.client_id)"
    )))
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    let mut expired = 0;
    for row in &due {
        let c = record(row)?;
        // One transaction per consent; the latest-record check inside it
        // keeps a decision the user just made from being expired.
        let mut tx = db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO consent_records (account_id, client_id, event, method, claims, purpose, notice_version, at, expires_at) \
             SELECT $1, $2, 'expired', 'expiry', $3, $4, $5, $6, NULL \
             WHERE (SELECT MAX(id) FROM consent_records WHERE account_id = $1 AND client_id = $2) = $7",
        )
        .bind(c.account_id)
        .bind(&c.client_id)
        .bind(json!({ "asked": c.asked, "granted": c.granted }).to_string())
        .bind(&c.purpose)
        .bind(&c.notice_version)
        .bind(now)
        .bind(c.id)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            continue;
        }
        let revoked =
            super::store::revoke_client_tokens(&mut tx, c.account_id, &c.client_id).await?;
        audit::append(
            &mut tx,
            &Event::new(
                Actor::System,
                "consent.expired",
                format!("client:{}", c.client_id),
            )
            .with(json!({ "account": c.account_id, "tokens_revoked": revoked })),
        )
        .await?;
        tell_areas(&mut tx, c.account_id, &c.client_id, &[]).await?;
        tx.commit().await?;
        expired += 1;
    }
    Ok(expired)
}

/// ID-4: a consent receipt after the Kantara Initiative's Consent Receipt
/// Specification (v1.1) fields.
pub fn receipt(
    record: &ConsentRecord,
    client: &Client,
    principal: &str,
    issuer: &str,
) -> serde_json::Value {
    json!({
        "version": "KI-CR-v1.1.0",
        "jurisdiction": "FR",
        "consentTimestamp": record.at / 1000,
        "collectionMethod": match record.method.as_str() {
            "screen" => "écran de consentement de la plateforme",
            "revocation" => "retrait par l'usager",
            "expiry" => "expiration",
            _ => "suppression du compte",
        },
        "consentReceiptID": format!("{issuer}/compte/consentements/{}", record.id),
        "language": "fr",
        "piiPrincipalId": principal,
        "piiControllers": [{
            "piiController": "Métropole de Lyon",
            "onBehalf": false,
            "contact": "Délégué à la protection des données",
            "address": { "streetAddress": "20 rue du Lac", "postalCode": "69003", "addressLocality": "Lyon", "addressCountry": "FR" },
            "email": "dpo@mutualis.example",
            "piiControllerUrl": issuer,
        }],
        "policyUrl": format!("{issuer}/confidentialite"),
        "services": [{
            "service": client.name,
            "purposes": [{
                "purpose": record.purpose,
                "purposeCategory": ["core function"],
                "consentType": "EXPLICIT",
                "piiCategory": record.granted,
                "primaryPurpose": true,
                "termination": record.expires_at.map(|e| format!("expire le {}", &kernel::clock::format_ms(e)[..10])).unwrap_or_else(|| "retrait par l'usager".into()),
                "thirdPartyDisclosure": false,
            }],
        }],
        "sensitive": false,
        "spiCat": [],
        "event": record.event,
        "privacyNoticeVersion": record.notice_version,
        "claimsAsked": record.asked,
    })
}
