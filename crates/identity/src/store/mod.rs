//! Accounts, roles and sessions. One SQL path for both databases.

pub mod franceconnect;
mod inhabitants;
pub mod rights;
pub mod second_factor;

pub use inhabitants::*;

use kernel::audit::{self, Actor, Event};
use kernel::web::{Grant, Role, Scope, Viewer};
use kernel::{Db, clock, random};
use serde_json::json;
use sqlx::Row;

use crate::domain::EmailAddress;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub last_login_at: Option<i64>,
}

fn account(row: &sqlx::any::AnyRow) -> Result<Account, sqlx::Error> {
    let disabled: i64 = row.try_get("disabled")?;
    Ok(Account {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        disabled: disabled == 1,
        last_login_at: row.try_get("last_login_at")?,
    })
}

macro_rules! select_accounts {
    ($rest:literal) => {
        concat!(
            "SELECT id, email, display_name, password_hash, disabled, last_login_at FROM accounts ",
            $rest
        )
    };
}

/// Creates an account, or returns `None` when the e-mail is taken.
pub async fn create_account(
    db: &Db,
    actor: Actor,
    email: &EmailAddress,
    display_name: &str,
    password_hash: Option<&str>,
    initial_role: Option<(Role, i64)>,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO accounts (email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email.as_str())
    .bind(display_name)
    .bind(password_hash)
    .bind(clock::now_ms())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = inserted else {
        return Ok(None);
    };
    let id: i64 = row.try_get("id")?;
    audit::append(
        &mut tx,
        &Event::new(actor.clone(), "account.create", format!("account:{id}"))
            .with(json!({ "email": email.as_str() })),
    )
    .await?;
    if let Some((role, org)) = initial_role {
        insert_grant(&mut tx, &actor, id, org, role).await?;
    }
    tx.commit().await?;
    Ok(Some(id))
}

async fn insert_grant(
    tx: &mut kernel::Tx,
    actor: &Actor,
    account_id: i64,
    organisation_id: i64,
    role: Role,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO roles (account_id, organisation_id, role, granted_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account_id, organisation_id, role) DO NOTHING",
    )
    .bind(account_id)
    .bind(organisation_id)
    .bind(role.code())
    .bind(clock::now_ms())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        audit::append(
            tx,
            &Event::new(actor.clone(), "role.grant", format!("account:{account_id}"))
                .with(json!({ "organisation_id": organisation_id, "role": role.code() })),
        )
        .await?;
    }
    Ok(done.rows_affected() == 1)
}

/// Grants a role (idempotent); journaled when it changes something.
pub async fn grant_role(
    db: &Db,
    actor: Actor,
    account_id: i64,
    organisation_id: i64,
    role: Role,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let changed = insert_grant(&mut tx, &actor, account_id, organisation_id, role).await?;
    tx.commit().await?;
    Ok(changed)
}

pub async fn revoke_role(
    db: &Db,
    actor: Actor,
    account_id: i64,
    organisation_id: i64,
    role: Role,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "DELETE FROM roles WHERE account_id = $1 AND organisation_id = $2 AND role = $3",
    )
    .bind(account_id)
    .bind(organisation_id)
    .bind(role.code())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        audit::append(
            &mut tx,
            &Event::new(actor, "role.revoke", format!("account:{account_id}"))
                .with(json!({ "organisation_id": organisation_id, "role": role.code() })),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

pub async fn account_by_email(
    db: &Db,
    email: &EmailAddress,
) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query(select_accounts!("WHERE email = $1"))
        .bind(email.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(account).transpose()
}

pub async fn account_by_id(db: &Db, id: i64) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query(select_accounts!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(account).transpose()
}

pub async fn grants(db: &Db, account_id: i64) -> Result<Vec<Grant>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT r.organisation_id, r.role, o.name, o.kind FROM roles r JOIN organisations o ON o.id = r.organisation_id \
         WHERE r.account_id = $1 ORDER BY o.name, r.role",
    )
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let code: String = r.try_get("role")?;
        let kind: String = r.try_get("kind")?;
        if let Some(role) = Role::parse(&code) {
            out.push(Grant {
                organisation_id: r.try_get("organisation_id")?,
                organisation_name: r.try_get("name")?,
                metropolis: kind == "metropolis",
                role,
            });
        }
    }
    Ok(out)
}

/// A staff account as listed for administrators.
#[derive(Clone, Debug)]
pub struct StaffAccount {
    pub account: Account,
    pub grants: Vec<Grant>,
}

/// Accounts that hold a role inside `scope`, with those roles only: a
/// commune administrator sees the roles at their commune, not what the same
/// person may hold elsewhere (OPS-7).
pub async fn staff_accounts(db: &Db, scope: &Scope) -> Result<Vec<StaffAccount>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "SELECT a.id, a.email, a.display_name, a.password_hash, a.disabled, a.last_login_at, ",
        "r.organisation_id, r.role, o.name AS organisation_name, o.kind ",
        "FROM accounts a JOIN roles r ON r.account_id = a.id JOIN organisations o ON o.id = r.organisation_id ",
        "ORDER BY a.email, o.name, r.role"
    ))
    .fetch_all(db.pool())
    .await?;
    let mut out: Vec<StaffAccount> = Vec::new();
    for row in &rows {
        let id: i64 = row.try_get("id")?;
        let code: String = row.try_get("role")?;
        let kind: String = row.try_get("kind")?;
        let organisation_id: i64 = row.try_get("organisation_id")?;
        let (Some(role), true) = (Role::parse(&code), scope.allows(organisation_id)) else {
            continue;
        };
        let grant = Grant {
            organisation_id,
            organisation_name: row.try_get("organisation_name")?,
            metropolis: kind == "metropolis",
            role,
        };
        match out.last_mut() {
            Some(last) if last.account.id == id => last.grants.push(grant),
            _ => out.push(StaffAccount {
                account: account(row)?,
                grants: vec![grant],
            }),
        }
    }
    Ok(out)
}

/// One staff account, only when it holds a role inside `scope` (the
/// metropolis's staff also see accounts without any role).
pub async fn staff_account(
    db: &Db,
    scope: &Scope,
    id: i64,
) -> Result<Option<StaffAccount>, sqlx::Error> {
    let Some(account) = account_by_id(db, id).await? else {
        return Ok(None);
    };
    let visible: Vec<Grant> = grants(db, id)
        .await?
        .into_iter()
        .filter(|g| scope.allows(g.organisation_id))
        .collect();
    if visible.is_empty() && *scope != Scope::All {
        return Ok(None);
    }
    Ok(Some(StaffAccount {
        account,
        grants: visible,
    }))
}

/// How long a session lasts (absolute): a working day.
pub const SESSION_MS: i64 = 12 * 3600 * 1000;

/// Opens a session after a successful login; returns the cookie's token.
/// Only the token's SHA-256 is stored.
pub async fn open_session(db: &Db, account_id: i64) -> Result<String, sqlx::Error> {
    let mut tx = db.begin().await?;
    let token = insert_session(&mut tx, account_id, None).await?;
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Account(account_id),
            "login.success",
            format!("account:{account_id}"),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// A new session of `account_id` in `tx` (its login time recorded), with the
/// FranceConnect ID token when it was opened through FranceConnect (ID-5's
/// logout needs it); returns the cookie's token.
pub(crate) async fn insert_session(
    tx: &mut kernel::Tx,
    account_id: i64,
    franceconnect_id_token: Option<&str>,
) -> Result<String, sqlx::Error> {
    let token = random::token(32);
    let now = clock::now_ms();
    sqlx::query(
        "INSERT INTO sessions (token_hash, account_id, created_at, expires_at, franceconnect_id_token) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(random::sha256_hex(&token))
    .bind(account_id)
    .bind(now)
    .bind(now + SESSION_MS)
    .bind(franceconnect_id_token)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE accounts SET last_login_at = $1 WHERE id = $2")
        .bind(now)
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    Ok(token)
}

/// The FranceConnect ID token of a live session opened through FranceConnect
/// (the `id_token_hint` of its logout, ID-5).
pub async fn session_franceconnect_id_token(
    db: &Db,
    token: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT franceconnect_id_token FROM sessions WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(random::sha256_hex(token))
    .fetch_optional(db.pool())
    .await?;
    Ok(row.and_then(|r| r.try_get("franceconnect_id_token").ok().flatten()))
}

/// The person behind a session token, if the session is live.
pub async fn viewer(db: &Db, token: &str) -> Result<Option<Viewer>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT a.id, a.email, a.display_name, s.second_factor_at FROM sessions s JOIN accounts a ON a.id = s.account_id \
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND a.disabled = 0",
    )
    .bind(random::sha256_hex(token))
    .bind(clock::now_ms())
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let account_id: i64 = row.try_get("id")?;
    Ok(Some(Viewer {
        account_id,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        grants: grants(db, account_id).await?,
        second_factor: row.try_get::<Option<i64>, _>("second_factor_at")?.is_some(),
    }))
}

/// Ends a session (logout); every node sees it at the next request.
pub async fn close_session(db: &Db, token: &str) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL RETURNING account_id",
    )
    .bind(clock::now_ms())
    .bind(random::sha256_hex(token))
    .fetch_optional(&mut *tx)
    .await?;
    let account_id = match row {
        Some(r) => {
            let id: i64 = r.try_get("account_id")?;
            audit::append(
                &mut tx,
                &Event::new(Actor::Account(id), "logout", format!("account:{id}")),
            )
            .await?;
            Some(id)
        }
        None => None,
    };
    tx.commit().await?;
    Ok(account_id)
}

/// When a live session began (its `auth_time`, ID-3).
/// When a live session started, and whether through FranceConnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStart {
    pub at: i64,
    pub franceconnect: bool,
}

pub async fn session_started(db: &Db, token: &str) -> Result<Option<SessionStart>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT created_at, franceconnect_id_token FROM sessions \
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(random::sha256_hex(token))
    .bind(clock::now_ms())
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(SessionStart {
            at: r.try_get("created_at")?,
            franceconnect: r
                .try_get::<Option<String>, _>("franceconnect_id_token")?
                .is_some(),
        })
    })
    .transpose()
}
