//! ID-7: the staff's second factor (TOTP) and recovery codes. Secrets are
//! sealed with the master key; a code's time step is used once (no replay).

use kernel::audit::{self, Actor, Event};
use kernel::secrets::MasterKey;
use kernel::{Db, clock, random};
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::Row;

use crate::domain::totp;

/// Where an account stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Enrolment {
    None,
    /// A secret was shown but not confirmed yet.
    Pending(Vec<u8>),
    Enrolled,
}

pub async fn enrolment(db: &Db, master: &MasterKey, account_id: i64) -> anyhow::Result<Enrolment> {
    let row = sqlx::query("SELECT secret, enrolled_at FROM totp_secrets WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(match row {
        None => Enrolment::None,
        Some(r) => match r.try_get::<Option<i64>, _>("enrolled_at")? {
            Some(_) => Enrolment::Enrolled,
            None => Enrolment::Pending(master.open(&r.try_get::<Vec<u8>, _>("secret")?)?),
        },
    })
}

/// A new secret to show (replaces an unconfirmed one).
pub async fn start(db: &Db, master: &MasterKey, account_id: i64) -> anyhow::Result<Vec<u8>> {
    let mut secret = vec![0u8; 20];
    SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| anyhow::anyhow!("no random source"))?;
    set_secret(db, master, account_id, &secret, false).await?;
    Ok(secret)
}

/// Stores a secret, enrolled or not (the demo enrols its accounts with a
/// known one).
pub async fn set_secret(
    db: &Db,
    master: &MasterKey,
    account_id: i64,
    secret: &[u8],
    enrolled: bool,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "DELETE FROM totp_secrets WHERE account_id = $1 AND (enrolled_at IS NULL OR $2 = 1)",
    )
    .bind(account_id)
    .bind(i64::from(enrolled))
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO totp_secrets (account_id, secret, enrolled_at) VALUES ($1, $2, $3) ON CONFLICT (account_id) DO NOTHING")
        .bind(account_id)
        .bind(master.seal(secret))
        .bind(enrolled.then(clock::now_ms))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn now_seconds() -> i64 {
    clock::now_ms() / 1000
}

/// Confirms enrolment with a first code; returns the recovery codes, shown
/// once (only their digests are kept).
pub async fn confirm(
    db: &Db,
    master: &MasterKey,
    account_id: i64,
    typed: &str,
) -> anyhow::Result<Option<Vec<String>>> {
    let Enrolment::Pending(secret) = enrolment(db, master, account_id).await? else {
        return Ok(None);
    };
    let Some(step) = totp::matching_step(&secret, typed, now_seconds()) else {
        return Ok(None);
    };
    let codes: Vec<String> = (0..10)
        .map(|_| random::token(8).replace(['-', '_'], "x")[..10].to_lowercase())
        .collect();
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE totp_secrets SET enrolled_at = $1, last_step = $2 WHERE account_id = $3")
        .bind(clock::now_ms())
        .bind(step)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    for c in &codes {
        sqlx::query("INSERT INTO recovery_codes (code_hash, account_id) VALUES ($1, $2)")
            .bind(random::sha256_hex(c))
            .bind(account_id)
            .execute(&mut *tx)
            .await?;
    }
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Account(account_id),
            "2fa.enrol",
            format!("account:{account_id}"),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(codes))
}

/// Checks a code (or a recovery code, spent once); a code's step serves once.
pub async fn verify(
    db: &Db,
    master: &MasterKey,
    account_id: i64,
    typed: &str,
) -> anyhow::Result<bool> {
    let row = sqlx::query("SELECT secret, last_step FROM totp_secrets WHERE account_id = $1 AND enrolled_at IS NOT NULL")
        .bind(account_id)
        .fetch_optional(db.pool())
        .await?;
    let Some(r) = row else { return Ok(false) };
    let secret = master.open(&r.try_get::<Vec<u8>, _>("secret")?)?;
    let last: i64 = r.try_get("last_step")?;
    let ok = match totp::matching_step(&secret, typed, now_seconds()) {
        Some(step) if step > last => {
            let done = sqlx::query(
                "UPDATE totp_secrets SET last_step = $1 WHERE account_id = $2 AND last_step < $1",
            )
            .bind(step)
            .bind(account_id)
            .execute(db.pool())
            .await?;
            done.rows_affected() == 1
        }
        Some(_) => false,
        None => {
            let code = typed.trim().to_lowercase();
            let done = sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE code_hash = $2 AND account_id = $3 AND used_at IS NULL")
                .bind(clock::now_ms())
                .bind(random::sha256_hex(&code))
                .bind(account_id)
                .execute(db.pool())
                .await?;
            done.rows_affected() == 1
        }
    };
    let action = if ok { "2fa.success" } else { "2fa.failure" };
    audit::record(
        db,
        &Event::new(
            Actor::Account(account_id),
            action,
            format!("account:{account_id}"),
        ),
    )
    .await?;
    Ok(ok)
}

/// The session's second factor is verified.
pub async fn mark_session(db: &Db, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET second_factor_at = $1 WHERE token_hash = $2")
        .bind(clock::now_ms())
        .bind(random::sha256_hex(token))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// `mutualis admin reset-2fa`: the account enrols again at its next staff
/// page; its sessions lose their second factor.
pub async fn reset(db: &Db, actor: Actor, account_id: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM totp_secrets WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE sessions SET second_factor_at = NULL WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        &Event::new(actor, "2fa.reset", format!("account:{account_id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
