//! ID-8: personal-data rights: export everything held about a person,
//! delete the account (a tombstone stays for the journal), and the
//! inactive-account rule (warned at 730 days, deleted at 760).

use kernel::audit::{self, Actor, Event};
use kernel::mail::Email;
use kernel::outbox::{self, Message};
use kernel::{Db, clock};
use serde_json::{Value, json};
use sqlx::Row;

/// Everything the platform holds about an account, machine-readable.
pub async fn export(db: &Db, account_id: i64) -> Result<Value, sqlx::Error> {
    let account = sqlx::query("SELECT email, display_name, created_at, last_login_at, email_verified_at FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_one(db.pool())
        .await?;
    let t = |v: Option<i64>| v.map(clock::format_ms);
    let sheet: Vec<Value> = super::sheet(db, account_id)
        .await?
        .into_iter()
        .map(|v| json!({ "field": v.field.code(), "value": v.value, "source": v.source.code(), "set_at": clock::format_ms(v.set_at) }))
        .collect();
    let consents: Vec<Value> = sqlx::query("SELECT client_id, event, method, claims, purpose, notice_version, at, expires_at FROM consent_records WHERE account_id = $1 ORDER BY id")
        .bind(account_id)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| {
            let claims: String = r.get("claims");
            json!({
                "service": r.get::<String, _>("client_id"),
                "event": r.get::<String, _>("event"),
                "method": r.get::<String, _>("method"),
                "claims": serde_json::from_str::<Value>(&claims).unwrap_or(Value::Null),
                "purpose": r.get::<String, _>("purpose"),
                "privacy_notice_version": r.get::<String, _>("notice_version"),
                "at": clock::format_ms(r.get("at")),
                "expires_at": r.get::<Option<i64>, _>("expires_at").map(clock::format_ms),
            })
        })
        .collect();
    let sessions: Vec<Value> = sqlx::query("SELECT created_at, expires_at, revoked_at FROM sessions WHERE account_id = $1 ORDER BY created_at")
        .bind(account_id)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| json!({ "started": clock::format_ms(r.get("created_at")), "expires": clock::format_ms(r.get("expires_at")), "ended": r.get::<Option<i64>, _>("revoked_at").map(clock::format_ms) }))
        .collect();
    let services: Vec<Value> = sqlx::query("SELECT client_id, kind, scope, created_at, expires_at, revoked_at FROM oidc_tokens WHERE account_id = $1 ORDER BY created_at")
        .bind(account_id)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| json!({ "service": r.get::<String, _>("client_id"), "token": r.get::<String, _>("kind"), "scope": r.get::<String, _>("scope"), "issued": clock::format_ms(r.get("created_at")), "revoked": r.get::<Option<i64>, _>("revoked_at").map(clock::format_ms) }))
        .collect();
    let me = format!("account:{account_id}");
    let journal: Vec<Value> = sqlx::query("SELECT seq, at, actor, action, target FROM audit_journal WHERE actor = $1 OR target = $1 ORDER BY seq")
        .bind(&me)
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(|r| json!({ "seq": r.get::<i64, _>("seq"), "at": clock::format_ms(r.get("at")), "actor": r.get::<String, _>("actor"), "action": r.get::<String, _>("action"), "target": r.get::<String, _>("target") }))
        .collect();
    let roles: Vec<Value> = super::grants(db, account_id)
        .await?
        .into_iter()
        .map(|g| json!({ "organisation": g.organisation_name, "role": g.role.code() }))
        .collect();
    // ID-5: the link to FranceConnect (its subject identifies the person
    // at FranceConnect for this platform).
    let franceconnect = sqlx::query(
        "SELECT sub, linked_at, certified_at FROM franceconnect_links WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(db.pool())
    .await?
    .map(|r| json!({ "sub": r.get::<String, _>("sub"), "linked_at": clock::format_ms(r.get("linked_at")), "certified_at": clock::format_ms(r.get("certified_at")) }));
    let mut data = json!({
        "generated_at": clock::format_ms(clock::now_ms()),
        "controller": "Métropole de Lyon",
        "account": {
            "email": account.get::<String, _>("email"),
            "display_name": account.get::<String, _>("display_name"),
            "created_at": clock::format_ms(account.get("created_at")),
            "last_login_at": t(account.get("last_login_at")),
            "email_verified_at": t(account.get("email_verified_at")),
        },
        "identity_sheet": sheet,
        "franceconnect": franceconnect,
        "staff_roles": roles,
        "consents": consents,
        "sessions": sessions,
        "service_tokens": services,
        "journal_entries_about_me": journal,
    });
    // The other areas' shares (help requests…), registered at start.
    for part in kernel::personal_data::parts() {
        data[part.name] = (part.export)(db.clone(), account_id).await?;
    }
    Ok(data)
}

/// ID-8: deletes an account: identity and sessions erased, tokens revoked,
/// consents recorded as ended by deletion, roles removed; the row stays as a
/// tombstone (the journal refers to it) without any personal data.
pub async fn delete_account(
    db: &Db,
    account_id: i64,
    actor: Actor,
    reason: &str,
) -> Result<(), sqlx::Error> {
    let now = clock::now_ms();
    let live: Vec<(String, String, String, String)> = sqlx::query(
        "SELECT c.client_id, c.claims, c.purpose, c.notice_version FROM consent_records c WHERE c.account_id = $1 AND c.id IN \
         (SELECT MAX(id) FROM consent_records WHERE account_id = $1 GROUP BY client_id) AND c.event IN ('given', 'changed')",
    )
    .bind(account_id)
    .fetch_all(db.pool())
    .await?
    .iter()
    .map(|r| (r.get("client_id"), r.get("claims"), r.get("purpose"), r.get("notice_version")))
    .collect();
    let mut tx = db.begin().await?;
    for (client, claims, purpose, version) in &live {
        sqlx::query(
            "INSERT INTO consent_records (account_id, client_id, event, method, claims, purpose, notice_version, at) \
             VALUES ($1, $2, 'ended_by_deletion', 'account_deletion', $3, $4, $5, $6)",
        )
        .bind(account_id)
        .bind(client)
        .bind(claims)
        .bind(purpose)
        .bind(version)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for sql in [
        "UPDATE oidc_tokens SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        "UPDATE account_tokens SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL",
    ] {
        sqlx::query(sql)
            .bind(now)
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
    }
    // The other areas first: they find the account's data through its
    // subjects (the usage statistics it consented to), removed just after.
    for part in kernel::personal_data::parts() {
        (part.erase)(&mut tx, account_id).await?;
    }
    for sql in [
        "DELETE FROM identity_fields WHERE account_id = $1",
        "DELETE FROM roles WHERE account_id = $1",
        "DELETE FROM franceconnect_links WHERE account_id = $1",
        "DELETE FROM oidc_subjects WHERE account_id = $1",
    ] {
        sqlx::query(sql).bind(account_id).execute(&mut *tx).await?;
    }
    sqlx::query(
        "UPDATE accounts SET email = $1, display_name = '', password_hash = NULL, disabled = 1, email_verified_at = NULL WHERE id = $2",
    )
    .bind(format!("supprime-{account_id}@compte-supprime.invalid"))
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &Event::new(actor, "account.deleted", format!("account:{account_id}"))
            .with(json!({ "reason": reason, "consents_ended": live.len() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub const WARN_DAYS: i64 = 730;
pub const DELETE_DAYS: i64 = 760;
const DAY_MS: i64 = 24 * 3600 * 1000;

fn inactivity_email(to: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Votre compte Mutualis sera supprimé dans 30 jours".into(),
        text: "Bonjour,\n\nVous ne vous êtes pas connecté à votre compte Mutualis depuis deux ans. Sans connexion de votre part \
               dans les 30 jours, il sera supprimé avec les données qu'il contient, comme le prévoit notre politique de protection \
               des données.\n\nPour le garder, il suffit de vous connecter.\n\nMutualis\n\n---\n\
               You have not signed in for two years: without a sign-in within 30 days, your account will be deleted.\n"
            .into(),
        html: None,
    }
}

/// ID-8's daily rule, once a day across nodes: warn the inhabitants
/// inactive for 730 days (once per period of inactivity), delete those
/// inactive for 760. Staff accounts are kept (their organisation manages
/// them). Then ID-4's consent expiry. `None` when another node already
/// ran it today.
pub async fn daily(db: &Db, today: time::Date) -> anyhow::Result<Option<DailyReport>> {
    let now = clock::now_ms();
    let rows = sqlx::query(
        "SELECT id, email, COALESCE(last_login_at, created_at) AS active FROM accounts \
         WHERE disabled = 0 AND id NOT IN (SELECT account_id FROM roles)",
    )
    .fetch_all(db.pool())
    .await?;
    let mut tx = db.begin().await?;
    if !kernel::jobs::claim_day(&mut tx, JOB, today).await? {
        return Ok(None);
    }
    let (mut warned, mut doomed) = (0, Vec::new());
    for r in &rows {
        let id: i64 = r.get("id");
        let active: i64 = r.get("active");
        let idle = now - active;
        if idle >= DELETE_DAYS * DAY_MS {
            doomed.push(id);
        } else if idle >= WARN_DAYS * DAY_MS {
            let email: String = r.get("email");
            if outbox::enqueue(
                &mut tx,
                &format!("inactive-warning:{id}:{active}"),
                &Message::Email(inactivity_email(&email)),
            )
            .await?
            {
                warned += 1;
            }
        }
    }
    tx.commit().await?;
    // Each deletion in its own transaction; one left over by a crash is
    // still due tomorrow.
    for id in &doomed {
        delete_account(db, *id, Actor::System, "inactive for 760 days").await?;
    }
    let consents_expired = crate::oidc::consents::expire_due(db, now).await?;
    Ok(Some(DailyReport {
        warned,
        deleted: doomed.len(),
        consents_expired,
    }))
}

/// What the identity area's daily job did.
#[derive(Debug, PartialEq, Eq)]
pub struct DailyReport {
    /// Inactive accounts warned (730 days) and deleted (760 days), ID-8.
    pub warned: usize,
    pub deleted: usize,
    /// Consents past their lifetime, ID-4.
    pub consents_expired: usize,
}

pub const JOB: &str = "identity.daily";

pub fn daily_job(
    db: Db,
    today: time::Date,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + Send>> {
    Box::pin(async move {
        if let Some(r) = daily(&db, today).await? {
            tracing::info!(
                warned = r.warned,
                deleted = r.deleted,
                consents_expired = r.consents_expired,
                "identity daily job done"
            );
        }
        Ok(())
    })
}
