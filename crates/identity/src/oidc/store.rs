//! Persistence of the provider: sectors (pairwise subjects), authorization
//! codes, tokens, consent records, the services of a browser session.

use kernel::{Db, Tx, clock, random};
use serde_json::json;
use sqlx::Row;

/// ID-3: the pairwise subject of an account in a sector: two sectors never
/// see the same `sub` for the same person.
pub async fn pairwise_sub(db: &Db, sector: &str, account_id: i64) -> Result<String, sqlx::Error> {
    Ok(pairwise(&sector_salt(db, sector).await?, account_id))
}

/// The subject of `account_id` in the sector of `salt`.
pub fn pairwise(salt: &str, account_id: i64) -> String {
    random::sha256_hex(format!("{salt}:{account_id}"))[..40].to_string()
}

/// SAU-7: keeps the subject issued to a sector, so that a service naming
/// the person by it (the digest cannot be reversed) finds the account.
pub async fn record_subject(
    tx: &mut Tx,
    sector: &str,
    sub: &str,
    account_id: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oidc_subjects (sector, sub, account_id) VALUES ($1, $2, $3) ON CONFLICT (sector, sub) DO NOTHING",
    )
    .bind(sector)
    .bind(sub)
    .bind(account_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The account behind a subject issued to `sector` (an account deleted
/// since has none).
pub async fn account_of_subject(
    db: &Db,
    sector: &str,
    sub: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT account_id FROM oidc_subjects WHERE sector = $1 AND sub = $2")
        .bind(sector)
        .bind(sub)
        .fetch_optional(db.pool())
        .await?
        .map(|r| r.try_get("account_id"))
        .transpose()
}

/// ID-8: every subject issued for an account, in any sector (what other
/// areas keep under those subjects is the account's too).
pub async fn subjects_of(
    conn: &mut sqlx::AnyConnection,
    account_id: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query("SELECT sub FROM oidc_subjects WHERE account_id = $1 ORDER BY sub")
        .bind(account_id)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|r| r.try_get("sub"))
        .collect()
}

/// A sector's salt, created at its first use.
pub async fn sector_salt(db: &Db, sector: &str) -> Result<String, sqlx::Error> {
    if let Some(r) = sqlx::query("SELECT salt FROM sectors WHERE name = $1")
        .bind(sector)
        .fetch_optional(db.pool())
        .await?
    {
        return r.try_get("salt");
    }
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO sectors (name, salt, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(sector)
        .bind(random::token(32))
        .bind(clock::now_ms())
        .execute(&mut *tx)
        .await?;
    let salt: String = sqlx::query("SELECT salt FROM sectors WHERE name = $1")
        .bind(sector)
        .fetch_one(&mut *tx)
        .await?
        .try_get("salt")?;
    tx.commit().await?;
    Ok(salt)
}

/// An authorization code's content.
#[derive(Clone, Debug)]
pub struct CodeGrant {
    pub client_id: String,
    pub account_id: i64,
    pub redirect_uri: String,
    pub scope: String,
    pub claims: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub acr: Option<String>,
    pub sid: String,
}

/// Codes live one minute and serve once.
pub const CODE_TTL_MS: i64 = 60 * 1000;

pub async fn issue_code(
    db: &Db,
    grant: &CodeGrant,
    session_hash: &str,
) -> Result<String, sqlx::Error> {
    let code = random::token(32);
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO authorization_codes (code_hash, client_id, account_id, redirect_uri, scope, claims, nonce, code_challenge, \
         auth_time, acr, sid, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(random::sha256_hex(&code))
    .bind(&grant.client_id)
    .bind(grant.account_id)
    .bind(&grant.redirect_uri)
    .bind(&grant.scope)
    .bind(json!(grant.claims).to_string())
    .bind(grant.nonce.as_deref())
    .bind(grant.code_challenge.as_deref())
    .bind(grant.auth_time)
    .bind(grant.acr.as_deref())
    .bind(&grant.sid)
    .bind(now)
    .bind(now + CODE_TTL_MS)
    .execute(&mut *tx)
    .await?;
    // Back-channel logout will reach every service of this browser session.
    sqlx::query(
        "INSERT INTO session_clients (session_hash, client_id, sid, account_id, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (session_hash, client_id) DO NOTHING",
    )
    .bind(session_hash)
    .bind(&grant.client_id)
    .bind(&grant.sid)
    .bind(grant.account_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(code)
}

/// What redeeming a code gives.
pub enum Redeemed {
    Grant(Box<CodeGrant>, String),
    /// Unknown or expired.
    Invalid,
    /// Already used: what the first use issued has been revoked.
    Reused,
}

/// Redeems a code once, in the caller's transaction (which records the
/// tokens the code gives, so that a code is used if and only if they exist;
/// the caller commits). A second use revokes every token the first issued
/// (RFC 6749 §4.1.2): commit that too.
pub async fn redeem_code(tx: &mut Tx, code: &str) -> Result<Redeemed, sqlx::Error> {
    let hash = random::sha256_hex(code);
    let now = clock::now_ms();
    let row = sqlx::query(
        "SELECT client_id, account_id, redirect_uri, scope, claims, nonce, code_challenge, auth_time, acr, sid, expires_at, used_at \
         FROM authorization_codes WHERE code_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(r) = row else {
        return Ok(Redeemed::Invalid);
    };
    let used: Option<i64> = r.try_get("used_at")?;
    if used.is_some() {
        sqlx::query(
            "UPDATE oidc_tokens SET revoked_at = $1 WHERE code_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
        kernel::audit::append(
            tx,
            &kernel::audit::Event::new(
                kernel::audit::Actor::Anonymous,
                "oidc.code_reuse",
                format!("client:{}", r.try_get::<String, _>("client_id")?),
            ),
        )
        .await?;
        return Ok(Redeemed::Reused);
    }
    let expires: i64 = r.try_get("expires_at")?;
    if expires <= now {
        return Ok(Redeemed::Invalid);
    }
    let marked = sqlx::query(
        "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    if marked.rows_affected() != 1 {
        return Ok(Redeemed::Reused);
    }
    let claims: String = r.try_get("claims")?;
    let grant = CodeGrant {
        client_id: r.try_get("client_id")?,
        account_id: r.try_get("account_id")?,
        redirect_uri: r.try_get("redirect_uri")?,
        scope: r.try_get("scope")?,
        claims: serde_json::from_str(&claims).unwrap_or_default(),
        nonce: r.try_get("nonce")?,
        code_challenge: r.try_get("code_challenge")?,
        auth_time: r.try_get("auth_time")?,
        acr: r.try_get("acr")?,
        sid: r.try_get("sid")?,
    };
    Ok(Redeemed::Grant(Box::new(grant), hash))
}

/// A token as stored (by `jti`; refresh tokens by their digest).
#[derive(Clone, Debug)]
pub struct TokenRow {
    pub jti: String,
    pub kind: String,
    pub client_id: String,
    pub account_id: Option<i64>,
    pub scope: String,
    pub claims: Vec<String>,
    pub family: String,
    pub sid: Option<String>,
    pub auth_time: Option<i64>,
    /// How the session the family was issued in was opened.
    pub acr: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// What a new token records.
pub struct NewToken<'a> {
    pub jti: &'a str,
    pub kind: &'a str,
    pub client_id: &'a str,
    pub account_id: Option<i64>,
    pub scope: &'a str,
    pub claims: &'a [String],
    pub family: &'a str,
    pub code_hash: Option<&'a str>,
    pub sid: Option<&'a str>,
    pub auth_time: Option<i64>,
    pub acr: Option<&'a str>,
    pub ttl_ms: i64,
}

pub async fn record_token(tx: &mut Tx, t: &NewToken<'_>) -> Result<(), sqlx::Error> {
    let now = clock::now_ms();
    sqlx::query(
        "INSERT INTO oidc_tokens (jti, kind, client_id, account_id, scope, claims, family, code_hash, sid, auth_time, acr, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(t.jti)
    .bind(t.kind)
    .bind(t.client_id)
    .bind(t.account_id)
    .bind(t.scope)
    .bind(json!(t.claims).to_string())
    .bind(t.family)
    .bind(t.code_hash)
    .bind(t.sid)
    .bind(t.auth_time)
    .bind(t.acr)
    .bind(now)
    .bind(now + t.ttl_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn token_row(r: &sqlx::any::AnyRow) -> Result<TokenRow, sqlx::Error> {
    let claims: String = r.try_get("claims")?;
    Ok(TokenRow {
        jti: r.try_get("jti")?,
        kind: r.try_get("kind")?,
        client_id: r.try_get("client_id")?,
        account_id: r.try_get("account_id")?,
        scope: r.try_get("scope")?,
        claims: serde_json::from_str(&claims).unwrap_or_default(),
        family: r.try_get("family")?,
        sid: r.try_get("sid")?,
        auth_time: r.try_get("auth_time")?,
        acr: r.try_get("acr")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

pub async fn token(db: &Db, jti: &str) -> Result<Option<TokenRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT jti, kind, client_id, account_id, scope, claims, family, sid, auth_time, acr, expires_at, used_at, revoked_at FROM oidc_tokens WHERE jti = $1",
    )
    .bind(jti)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(token_row).transpose()
}

/// Marks a refresh token used (rotation); false when it already was.
pub async fn use_refresh(tx: &mut Tx, jti: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE oidc_tokens SET used_at = $1 WHERE jti = $2 AND used_at IS NULL AND revoked_at IS NULL")
        .bind(clock::now_ms())
        .bind(jti)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every token of a family (refresh reuse detected).
pub async fn revoke_family(db: &Db, family: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oidc_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
    )
    .bind(clock::now_ms())
    .bind(family)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected())
}

/// Revokes an access token. A client's own token was never recorded (see
/// `token::access_token`): revoking it records it, revoked, until it expires.
pub async fn revoke_access(db: &Db, t: &TokenRow) -> Result<(), sqlx::Error> {
    let now = clock::now_ms();
    sqlx::query(
        "INSERT INTO oidc_tokens (jti, kind, client_id, account_id, scope, claims, family, sid, auth_time, created_at, expires_at, revoked_at) \
         VALUES ($1, 'access', $2, $3, $4, $5, $6, $7, $8, $9, $10, $9) \
         ON CONFLICT (jti) DO UPDATE SET revoked_at = COALESCE(oidc_tokens.revoked_at, excluded.revoked_at)",
    )
    .bind(&t.jti)
    .bind(&t.client_id)
    .bind(t.account_id)
    .bind(&t.scope)
    .bind(json!(t.claims).to_string())
    .bind(&t.family)
    .bind(t.sid.as_deref())
    .bind(t.auth_time)
    .bind(now)
    .bind(t.expires_at)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// ID-4: revoking a consent kills the service's refresh tokens (and what
/// they gave) for that user.
pub async fn revoke_client_tokens(
    tx: &mut Tx,
    account_id: i64,
    client_id: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("UPDATE oidc_tokens SET revoked_at = $1 WHERE account_id = $2 AND client_id = $3 AND revoked_at IS NULL")
        .bind(clock::now_ms())
        .bind(account_id)
        .bind(client_id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

/// The services a browser session logged into: (client, sid, account).
pub async fn session_clients(
    db: &Db,
    session_hash: &str,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT client_id, sid, account_id FROM session_clients WHERE session_hash = $1",
    )
    .bind(session_hash)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("client_id")?,
                r.try_get("sid")?,
                r.try_get("account_id")?,
            ))
        })
        .collect()
}

pub async fn forget_session_clients(tx: &mut Tx, session_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM session_clients WHERE session_hash = $1")
        .bind(session_hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
