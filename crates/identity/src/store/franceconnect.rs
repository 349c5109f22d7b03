//! ID-5, ID-6: FranceConnect requests, links between FranceConnect
//! identities and accounts, the certified identity, and the identities
//! waiting to be linked. Every change is journaled; the journal names
//! accounts and events, never the identity's values.

use kernel::audit::{self, Actor, Event};
use kernel::mail::Email;
use kernel::outbox::{self, Message};
use kernel::{Db, Tx, clock, random};
use serde_json::json;
use sqlx::Row;

use crate::domain::EmailAddress;
use crate::domain::franceconnect::{Identity, Refusal};

/// An authorization request lives as long as a person may take to sign in
/// at FranceConnect.
pub const REQUEST_TTL_MS: i64 = 15 * 60 * 1000;
/// A verified identity waits this long for its holder to link it or create
/// an account.
pub const PENDING_TTL_MS: i64 = 15 * 60 * 1000;

/// Why a request went to FranceConnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To sign in (or sign up).
    Login,
    /// To link the signed-in account to a FranceConnect identity.
    Link,
}

impl Purpose {
    fn code(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Link => "link",
        }
    }
}

/// A request taken back at the callback.
#[derive(Clone, Debug)]
pub struct Request {
    pub nonce: String,
    pub purpose: Purpose,
    pub return_to: String,
}

pub async fn save_request(
    db: &Db,
    state: &str,
    nonce: &str,
    browser: &str,
    purpose: Purpose,
    return_to: &str,
) -> Result<(), sqlx::Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    // Expired requests go as new ones come.
    sqlx::query("DELETE FROM franceconnect_requests WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO franceconnect_requests (state_hash, nonce, browser_hash, purpose, return_to, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(random::sha256_hex(state))
    .bind(nonce)
    .bind(random::sha256_hex(browser))
    .bind(purpose.code())
    .bind(return_to)
    .bind(now)
    .bind(now + REQUEST_TTL_MS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The request of this `state` started by this browser, once: a second
/// answer with the same `state` (a replayed callback), one from another
/// browser or an expired one finds nothing.
pub async fn take_request(
    db: &Db,
    state: &str,
    browser: &str,
) -> Result<Option<Request>, sqlx::Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let row = sqlx::query(
        "UPDATE franceconnect_requests SET used_at = $1 \
         WHERE state_hash = $2 AND browser_hash = $3 AND used_at IS NULL AND expires_at > $1 \
         RETURNING nonce, purpose, return_to",
    )
    .bind(now)
    .bind(random::sha256_hex(state))
    .bind(random::sha256_hex(browser))
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    let Some(r) = row else { return Ok(None) };
    let purpose: String = r.try_get("purpose")?;
    Ok(Some(Request {
        nonce: r.try_get("nonce")?,
        purpose: if purpose == "link" {
            Purpose::Link
        } else {
            Purpose::Login
        },
        return_to: r.try_get("return_to")?,
    }))
}

/// A refused answer, journaled with its reason (nothing else is written).
pub async fn record_refusal(db: &Db, refusal: Refusal) -> Result<(), sqlx::Error> {
    audit::record(
        db,
        &Event::new(Actor::Anonymous, "franceconnect.refused", "franceconnect")
            .with(json!({ "reason": refusal.code() })),
    )
    .await?;
    Ok(())
}

/// The account a FranceConnect identity is linked to.
pub async fn linked_account(db: &Db, sub: &str) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query("SELECT account_id FROM franceconnect_links WHERE sub = $1")
        .bind(sub)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get("account_id")).transpose()
}

/// The account's link, if any: when it was made and when the identity was
/// last certified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub linked_at: i64,
    pub certified_at: i64,
}

pub async fn link_of(db: &Db, account_id: i64) -> Result<Option<Link>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT linked_at, certified_at FROM franceconnect_links WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Link {
            linked_at: r.try_get("linked_at")?,
            certified_at: r.try_get("certified_at")?,
        })
    })
    .transpose()
}

/// ID-6: the certified fields take FranceConnect's values (a field it no
/// longer sends, such as a birth commune, is removed) and the certification
/// time is now.
async fn certify(tx: &mut Tx, account_id: i64, identity: &Identity) -> Result<(), sqlx::Error> {
    let now = clock::now_ms();
    sqlx::query("DELETE FROM identity_fields WHERE account_id = $1 AND source = 'franceconnect'")
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    for (field, value) in identity.certified_fields() {
        sqlx::query(
            "INSERT INTO identity_fields (account_id, field, value, source, set_at) VALUES ($1, $2, $3, 'franceconnect', $4) \
             ON CONFLICT (account_id, field) DO UPDATE SET value = excluded.value, source = 'franceconnect', set_at = excluded.set_at",
        )
        .bind(account_id)
        .bind(field.code())
        .bind(value)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE franceconnect_links SET certified_at = $1 WHERE account_id = $2")
        .bind(now)
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Signs in the account linked to `identity`: the certified identity is
/// refreshed and a session opened, in one transaction; returns the session
/// token.
pub async fn sign_in(
    db: &Db,
    account_id: i64,
    identity: &Identity,
    id_token: &str,
) -> Result<String, sqlx::Error> {
    let mut tx = db.begin().await?;
    certify(&mut tx, account_id, identity).await?;
    let token = super::insert_session(&mut tx, account_id, Some(id_token)).await?;
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Account(account_id),
            "login.success",
            format!("account:{account_id}"),
        )
        .with(json!({ "method": "franceconnect" })),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// A verified identity waiting for its holder's choice.
#[derive(Clone, Debug)]
pub struct Pending {
    pub identity: Identity,
    pub id_token: String,
    pub return_to: String,
}

/// Keeps a verified identity for a few minutes; returns the cookie's token.
pub async fn save_pending(
    db: &Db,
    identity: &Identity,
    id_token: &str,
    return_to: &str,
) -> Result<String, sqlx::Error> {
    let token = random::token(32);
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM franceconnect_pending WHERE expires_at < $1")
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO franceconnect_pending (token_hash, sub, identity, id_token, return_to, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(random::sha256_hex(&token))
    .bind(&identity.sub)
    .bind(serde_json::to_string(identity).expect("an identity serialises"))
    .bind(id_token)
    .bind(return_to)
    .bind(now)
    .bind(now + PENDING_TTL_MS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(token)
}

pub async fn pending(db: &Db, token: &str) -> Result<Option<Pending>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT identity, id_token, return_to FROM franceconnect_pending WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(random::sha256_hex(token))
    .bind(clock::now_ms())
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let identity: String = r.try_get("identity")?;
    let Ok(identity) = serde_json::from_str(&identity) else {
        return Ok(None);
    };
    Ok(Some(Pending {
        identity,
        id_token: r.try_get("id_token")?,
        return_to: r.try_get("return_to")?,
    }))
}

/// Why a link is refused (ID-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRefused {
    /// This FranceConnect identity is already linked to another account.
    IdentityTaken,
    /// This account is already linked to another FranceConnect identity.
    AccountTaken,
}

async fn insert_link(
    tx: &mut Tx,
    account_id: i64,
    identity: &Identity,
    actor: Actor,
) -> Result<Result<(), LinkRefused>, sqlx::Error> {
    let holder: Option<i64> =
        sqlx::query("SELECT account_id FROM franceconnect_links WHERE sub = $1")
            .bind(&identity.sub)
            .fetch_optional(&mut **tx)
            .await?
            .map(|r| r.try_get("account_id"))
            .transpose()?;
    let refused = match holder {
        Some(a) if a == account_id => None,
        Some(_) => Some(LinkRefused::IdentityTaken),
        None => sqlx::query("SELECT 1 AS one FROM franceconnect_links WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(&mut **tx)
            .await?
            .map(|_| LinkRefused::AccountTaken),
    };
    if let Some(reason) = refused {
        audit::append(
            tx,
            &Event::new(
                actor,
                "franceconnect.link_refused",
                format!("account:{account_id}"),
            )
            .with(json!({ "reason": match reason {
                    LinkRefused::IdentityTaken => "identity_linked_elsewhere",
                    LinkRefused::AccountTaken => "account_linked_elsewhere",
                } })),
        )
        .await?;
        return Ok(Err(reason));
    }
    let now = clock::now_ms();
    sqlx::query(
        "INSERT INTO franceconnect_links (sub, account_id, linked_at, certified_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (sub) DO NOTHING",
    )
    .bind(&identity.sub)
    .bind(account_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    audit::append(
        tx,
        &Event::new(actor, "franceconnect.link", format!("account:{account_id}")),
    )
    .await?;
    Ok(Ok(()))
}

/// Links `account_id` to the pending identity (its holder proved the
/// account is theirs: password, or an open session), certifies the identity
/// and opens a FranceConnect session; the pending identity is used up.
/// A refusal is journaled and leaves everything else as it was.
pub async fn link_and_sign_in(
    db: &Db,
    pending_token: &str,
    account_id: i64,
    pending: &Pending,
) -> Result<Result<String, LinkRefused>, sqlx::Error> {
    let mut tx = db.begin().await?;
    if let Err(refused) = insert_link(
        &mut tx,
        account_id,
        &pending.identity,
        Actor::Account(account_id),
    )
    .await?
    {
        tx.commit().await?;
        return Ok(Err(refused));
    }
    certify(&mut tx, account_id, &pending.identity).await?;
    drop_pending(&mut tx, pending_token).await?;
    let token = super::insert_session(&mut tx, account_id, Some(&pending.id_token)).await?;
    tx.commit().await?;
    Ok(Ok(token))
}

/// Links the signed-in account to a FranceConnect identity just verified
/// (from the account page) and certifies it.
pub async fn link_signed_in(
    db: &Db,
    account_id: i64,
    identity: &Identity,
) -> Result<Result<(), LinkRefused>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let result = insert_link(&mut tx, account_id, identity, Actor::Account(account_id)).await?;
    if result.is_ok() {
        certify(&mut tx, account_id, identity).await?;
    }
    tx.commit().await?;
    Ok(result)
}

async fn drop_pending(tx: &mut Tx, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM franceconnect_pending WHERE token_hash = $1")
        .bind(random::sha256_hex(token))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Creates an account from the pending identity (no password: it signs in
/// with FranceConnect until it sets one), linked and certified, with a
/// welcome e-mail; `None` when the e-mail already has an account.
pub async fn create_account(
    db: &Db,
    pending_token: &str,
    pending: &Pending,
    email: &EmailAddress,
    public_url: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    // FranceConnect's e-mail comes from an identity provider that checked
    // it; another address must be verified as usual.
    let verified = pending.identity.email.as_deref() == Some(email.as_str());
    let row = sqlx::query(
        "INSERT INTO accounts (email, display_name, created_at, email_verified_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email.as_str())
    .bind(pending.identity.display_name())
    .bind(now)
    .bind(verified.then_some(now))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let account_id: i64 = row.try_get("id")?;
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Account(account_id),
            "franceconnect.account_create",
            format!("account:{account_id}"),
        ),
    )
    .await?;
    if insert_link(
        &mut tx,
        account_id,
        &pending.identity,
        Actor::Account(account_id),
    )
    .await?
    .is_err()
    {
        // The identity was linked meanwhile (another tab): nothing is kept.
        tx.rollback().await?;
        return Ok(None);
    }
    certify(&mut tx, account_id, &pending.identity).await?;
    drop_pending(&mut tx, pending_token).await?;
    outbox::enqueue(
        &mut tx,
        &format!("franceconnect-welcome:{account_id}"),
        &Message::Email(welcome_email(email.as_str(), public_url, verified)),
    )
    .await?;
    let token = super::insert_session(&mut tx, account_id, Some(&pending.id_token)).await?;
    tx.commit().await?;
    Ok(Some((account_id, token)))
}

fn welcome_email(to: &str, public_url: &str, verified: bool) -> Email {
    let check = if verified {
        String::new()
    } else {
        "\nPour confirmer votre adresse, demandez un lien depuis « Mon compte ».\n\
         To confirm your address, ask for a link on “My account”.\n"
            .to_string()
    };
    Email {
        to: to.to_string(),
        subject: "Bienvenue sur Mutualis — votre compte FranceConnect".into(),
        html: None,
        text: format!(
            "Bonjour,\n\nVotre compte Mutualis a été créé avec FranceConnect. Vous vous connectez \
             avec le bouton « S'identifier avec FranceConnect » ; vous pouvez aussi choisir un mot \
             de passe dans « Mon compte » : {public_url}/compte\n{check}\n\
             Hello,\n\nYour Mutualis account was created with FranceConnect. You sign in with the \
             “S'identifier avec FranceConnect” button; you can also choose a password on “My \
             account”: {public_url}/compte\n"
        ),
    }
}

/// Why an unlink is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnlinkRefused {
    /// Without a password, the account could no longer be signed in to.
    NoPassword,
    NotLinked,
}

/// Ends the account's link to FranceConnect, setting a password in the same
/// step when it has none (ID-5). The certified fields become ordinary ones
/// (the person may then change them).
pub async fn unlink(
    db: &Db,
    account_id: i64,
    new_password_hash: Option<&str>,
) -> Result<Result<(), UnlinkRefused>, sqlx::Error> {
    let mut tx = db.begin().await?;
    let has_password = sqlx::query("SELECT password_hash FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<Option<String>, _>("password_hash")?
        .is_some();
    if !has_password && new_password_hash.is_none() {
        return Ok(Err(UnlinkRefused::NoPassword));
    }
    let gone = sqlx::query("DELETE FROM franceconnect_links WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Ok(Err(UnlinkRefused::NotLinked));
    }
    if let Some(hash) = new_password_hash {
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3",
        )
        .bind(hash)
        .bind(clock::now_ms())
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE identity_fields SET source = 'user' WHERE account_id = $1 AND source = 'franceconnect'",
    )
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &Event::new(
            Actor::Account(account_id),
            "franceconnect.unlink",
            format!("account:{account_id}"),
        )
        .with(json!({ "password_set": new_password_hash.is_some() })),
    )
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}
