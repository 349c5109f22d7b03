//! Inhabitants' accounts (ID-1, ID-2): sign-up and e-mail verification,
//! password reset and change, brute-force back-off, the identity sheet.

use kernel::audit::{self, Actor, Event};
use kernel::mail::Email;
use kernel::outbox::{self, Message};
use kernel::{Db, Tx, clock, random};
use serde_json::json;
use sqlx::Row;

use crate::Error;
use crate::domain::EmailAddress;
use crate::domain::sheet::{Field, Source};
use crate::domain::throttle::delay_ms;

/// ID-1: a verification link lasts 24 hours, a reset link one hour.
pub const VERIFY_TTL_MS: i64 = 24 * 3600 * 1000;
pub const RESET_TTL_MS: i64 = 3600 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl TokenPurpose {
    fn code(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::ResetPassword => "reset_password",
        }
    }
    fn ttl(self) -> i64 {
        match self {
            TokenPurpose::VerifyEmail => VERIFY_TTL_MS,
            TokenPurpose::ResetPassword => RESET_TTL_MS,
        }
    }
}

async fn issue_token(
    tx: &mut Tx,
    account_id: i64,
    purpose: TokenPurpose,
) -> Result<String, sqlx::Error> {
    let token = random::token(32);
    let now = clock::now_ms();
    sqlx::query("INSERT INTO account_tokens (token_hash, account_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(random::sha256_hex(&token))
        .bind(account_id)
        .bind(purpose.code())
        .bind(now)
        .bind(now + purpose.ttl())
        .execute(&mut **tx)
        .await?;
    Ok(token)
}

/// Uses a link once: the account it names, if the link is live.
async fn consume_token(
    tx: &mut Tx,
    token: &str,
    purpose: TokenPurpose,
) -> Result<Option<i64>, sqlx::Error> {
    let now = clock::now_ms();
    let row = sqlx::query(
        "UPDATE account_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
         RETURNING account_id",
    )
    .bind(now)
    .bind(random::sha256_hex(token))
    .bind(purpose.code())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| r.try_get("account_id")).transpose()
}

fn verification_email(to: &str, link: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Confirmez votre adresse e-mail — Mutualis".into(),
        text: format!(
            "Bonjour,\n\nVous venez de créer un compte sur Mutualis, le compte unique des services numériques de la \
             Métropole de Lyon et de ses communes.\n\nPour confirmer votre adresse e-mail, ouvrez ce lien (valable 24 heures) :\n{link}\n\n\
             Si vous n'êtes pas à l'origine de cette inscription, ignorez ce message.\n\nMutualis\n\n---\n\
             To confirm your e-mail address, open this link (valid for 24 hours): {link}\n"
        ),
        html: None,
    }
}

fn reset_email(to: &str, link: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Réinitialisation de votre mot de passe — Mutualis".into(),
        text: format!(
            "Bonjour,\n\nUne réinitialisation du mot de passe de votre compte Mutualis a été demandée.\n\n\
             Pour choisir un nouveau mot de passe, ouvrez ce lien (valable une heure, utilisable une seule fois) :\n{link}\n\n\
             Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot de passe reste inchangé.\n\nMutualis\n\n---\n\
             To choose a new password, open this link (valid for one hour, once): {link}\n"
        ),
        html: None,
    }
}

fn password_changed_email(to: &str) -> Email {
    Email {
        to: to.into(),
        subject: "Votre mot de passe a été modifié — Mutualis".into(),
        text: "Bonjour,\n\nLe mot de passe de votre compte Mutualis vient d'être modifié. Si vous n'êtes pas à l'origine de ce \
               changement, réinitialisez-le sans attendre depuis la page « Mot de passe oublié » et prévenez l'assistance.\n\nMutualis\n\n---\n\
               Your Mutualis password was just changed. If it was not you, reset it now from the “Forgotten password” page.\n"
            .into(),
        html: None,
    }
}

/// ID-1: creates an inhabitant's account and queues the verification
/// e-mail in the same transaction. `None` when the address is taken.
pub async fn sign_up(
    db: &Db,
    email: &EmailAddress,
    password_hash: &str,
    public_url: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "INSERT INTO accounts (email, display_name, password_hash, created_at, password_changed_at) VALUES ($1, '', $2, $3, $3) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email.as_str())
    .bind(password_hash)
    .bind(clock::now_ms())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id: i64 = row.try_get("id")?;
    let token = issue_token(&mut tx, id, TokenPurpose::VerifyEmail).await?;
    let link = format!("{public_url}/inscription/verification?jeton={token}");
    outbox::enqueue(
        &mut tx,
        &format!("verify-email:{id}:{}", &random::sha256_hex(&token)[..16]),
        &Message::Email(verification_email(email.as_str(), &link)),
    )
    .await?;
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Account(id),
            "account.sign_up",
            format!("account:{id}"),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Sends a new verification link (the old ones stay valid until they expire).
pub async fn resend_verification(
    db: &Db,
    account_id: i64,
    public_url: &str,
) -> Result<(), sqlx::Error> {
    let Some(account) = super::account_by_id(db, account_id).await? else {
        return Ok(());
    };
    let mut tx = db.begin().await?;
    let token = issue_token(&mut tx, account_id, TokenPurpose::VerifyEmail).await?;
    let link = format!("{public_url}/inscription/verification?jeton={token}");
    outbox::enqueue(
        &mut tx,
        &format!(
            "verify-email:{account_id}:{}",
            &random::sha256_hex(&token)[..16]
        ),
        &Message::Email(verification_email(&account.email, &link)),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// ID-1: confirms the address behind a live verification link.
pub async fn verify_email(db: &Db, token: &str) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let Some(id) = consume_token(&mut tx, token, TokenPurpose::VerifyEmail).await? else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE accounts SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2",
    )
    .bind(clock::now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Account(id),
            "account.email_verified",
            format!("account:{id}"),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// ID-1: queues a reset link when the address has an account; the answer is
/// the same either way, so the page reveals nothing.
pub async fn request_password_reset(
    db: &Db,
    email: &EmailAddress,
    public_url: &str,
) -> Result<(), sqlx::Error> {
    let Some(account) = super::account_by_email(db, email).await? else {
        return Ok(());
    };
    if account.disabled {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    let token = issue_token(&mut tx, account.id, TokenPurpose::ResetPassword).await?;
    let link = format!("{public_url}/mot-de-passe/reinitialisation?jeton={token}");
    outbox::enqueue(
        &mut tx,
        &format!("reset:{}:{}", account.id, &random::sha256_hex(&token)[..16]),
        &Message::Email(reset_email(&account.email, &link)),
    )
    .await?;
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Anonymous,
            "account.reset_requested",
            format!("account:{}", account.id),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a new password: every session of the account ends (a reset is
/// often a sign of takeover), a notice is e-mailed, the back-off is cleared.
async fn set_password_in(
    tx: &mut Tx,
    account_id: i64,
    email: &str,
    password_hash: &str,
    action: &'static str,
) -> Result<(), sqlx::Error> {
    let now = clock::now_ms();
    sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now)
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM login_throttle WHERE key = $1")
        .bind(format!("account:{account_id}"))
        .execute(&mut **tx)
        .await?;
    outbox::enqueue(
        tx,
        &format!("password-changed:{account_id}:{now}"),
        &Message::Email(password_changed_email(email)),
    )
    .await?;
    audit::append(
        tx,
        &Event::new(
            Actor::Account(account_id),
            action,
            format!("account:{account_id}"),
        ),
    )
    .await?;
    Ok(())
}

/// ID-1: a live reset link sets a new password; `None` when the link is
/// unknown, used or expired. Resetting also proves the address.
pub async fn reset_password(
    db: &Db,
    token: &str,
    password_hash: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let Some(id) = consume_token(&mut tx, token, TokenPurpose::ResetPassword).await? else {
        return Ok(None);
    };
    let email: String = sqlx::query("SELECT email FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("email")?;
    set_password_in(&mut tx, id, &email, password_hash, "account.password_reset").await?;
    sqlx::query(
        "UPDATE accounts SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2",
    )
    .bind(clock::now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// ID-1: a logged-in user changes their password (after re-entering the
/// current one, checked by the caller); other sessions end.
pub async fn change_password(
    db: &Db,
    account_id: i64,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    let email: String = sqlx::query("SELECT email FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get("email")?;
    set_password_in(
        &mut tx,
        account_id,
        &email,
        password_hash,
        "account.password_change",
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// ID-1: the back-off standing over some keys (the account, the client
/// address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// How long the caller must still wait (ms, 0 if not blocked).
    pub wait_ms: i64,
    /// Whether any key has failures on record (a success then clears them;
    /// without any, the success writes nothing).
    pub recorded: bool,
}

/// ID-1: the back-off over `keys`.
pub async fn throttle(db: &Db, keys: &[String]) -> Result<Throttle, sqlx::Error> {
    let now = clock::now_ms();
    let mut throttle = Throttle {
        wait_ms: 0,
        recorded: false,
    };
    for key in keys {
        let row = sqlx::query("SELECT blocked_until FROM login_throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
        if let Some(r) = row {
            let until: i64 = r.try_get("blocked_until")?;
            throttle.wait_ms = throttle.wait_ms.max(until - now);
            throttle.recorded = true;
        }
    }
    Ok(throttle)
}

/// Counts a failure for each key and blocks it for the back-off delay.
pub async fn record_failure(db: &Db, keys: &[String]) -> Result<(), sqlx::Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    for key in keys {
        let row = sqlx::query(
            "INSERT INTO login_throttle (key, failures, blocked_until, updated_at) VALUES ($1, 1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at, \
             failures = CASE WHEN login_throttle.updated_at < $4 THEN 1 ELSE login_throttle.failures + 1 END \
             RETURNING failures",
        )
        .bind(key)
        .bind(now + delay_ms(1))
        .bind(now)
        // A day without failure starts the count again.
        .bind(now - 24 * 3600 * 1000)
        .fetch_one(&mut *tx)
        .await?;
        let failures: i64 = row.try_get("failures")?;
        sqlx::query("UPDATE login_throttle SET blocked_until = $1 WHERE key = $2")
            .bind(now + delay_ms(failures))
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn clear_failures(db: &Db, keys: &[String]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for key in keys {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One value of the identity sheet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SheetValue {
    pub field: Field,
    pub value: String,
    pub source: Source,
    pub set_at: i64,
}

pub async fn sheet(db: &Db, account_id: i64) -> Result<Vec<SheetValue>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT field, value, source, set_at FROM identity_fields WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let field: String = r.try_get("field")?;
        let source: String = r.try_get("source")?;
        if let (Some(field), Some(source)) = (Field::parse(&field), Source::parse(&source)) {
            out.push(SheetValue {
                field,
                value: r.try_get("value")?,
                source,
                set_at: r.try_get("set_at")?,
            });
        }
    }
    Ok(out)
}

/// ID-2: the user's changes (`None` clears a field). Certified fields
/// (FranceConnect, ID-6) cannot be changed by the user.
pub async fn update_sheet(
    db: &Db,
    account_id: i64,
    changes: &[(Field, Option<String>)],
) -> Result<usize, Error> {
    let current = sheet(db, account_id).await?;
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let mut changed = Vec::new();
    for (field, value) in changes {
        let existing = current.iter().find(|v| v.field == *field);
        if existing.map(|v| Some(&v.value)) == Some(value.as_ref())
            || (existing.is_none() && value.is_none())
        {
            continue;
        }
        if existing.is_some_and(|v| v.source == Source::FranceConnect) {
            return Err(Error::Invalid(kernel::web::Msg::new(
                format!(
                    "« {} » est certifié par FranceConnect : il ne peut pas être modifié ici.",
                    field.label_fr()
                ),
                format!(
                    "“{}” is certified by FranceConnect: it cannot be changed here.",
                    field.label_en()
                ),
            )));
        }
        match value {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO identity_fields (account_id, field, value, source, set_at) VALUES ($1, $2, $3, 'user', $4) \
                     ON CONFLICT (account_id, field) DO UPDATE SET value = excluded.value, source = 'user', set_at = excluded.set_at",
                )
                .bind(account_id)
                .bind(field.code())
                .bind(v)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM identity_fields WHERE account_id = $1 AND field = $2")
                    .bind(account_id)
                    .bind(field.code())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        changed.push(field.code());
    }
    if !changed.is_empty() {
        // The journal names the fields, never their values (personal data).
        audit::append(
            &mut tx,
            &Event::new(
                Actor::Account(account_id),
                "identity.update",
                format!("account:{account_id}"),
            )
            .with(json!({ "fields": changed })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(changed.len())
}

/// Whether the account's address is confirmed.
pub async fn email_verified(db: &Db, account_id: i64) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT email_verified_at FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<Option<i64>, _>("email_verified_at")?.is_some(),
        None => false,
    })
}

/// `user create` (operators): an inhabitant's account, verified or not, with
/// optional names and commune.
pub async fn create_inhabitant(
    db: &Db,
    email: &EmailAddress,
    password_hash: &str,
    verified: bool,
    fields: &[(Field, String)],
) -> Result<Option<i64>, sqlx::Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "INSERT INTO accounts (email, display_name, password_hash, created_at, password_changed_at, email_verified_at) \
         VALUES ($1, '', $2, $3, $3, $4) ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email.as_str())
    .bind(password_hash)
    .bind(now)
    .bind(verified.then_some(now))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let id: i64 = row.try_get("id")?;
    for (field, value) in fields {
        sqlx::query("INSERT INTO identity_fields (account_id, field, value, source, set_at) VALUES ($1, $2, $3, 'user', $4)")
            .bind(id)
            .bind(field.code())
            .bind(value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    audit::append(
        &mut tx,
        &Event::new(Actor::Cli, "account.create", format!("account:{id}"))
            .with(json!({ "inhabitant": true, "verified": verified })),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}
