//! ID-3: the relying parties (shared services). A confidential client's
//! secret is a high-entropy random string, stored as its SHA-256 and
//! compared in constant time; redirect URIs match exactly.

use kernel::audit::{self, Actor, Event};
use kernel::{Db, clock, random};
use serde_json::json;
use sqlx::Row;

/// The scopes a client may ask for, and the claims each one covers.
pub const SCOPES: &[(&str, &[&str])] = &[
    ("openid", &[]),
    (
        "profile",
        &["given_name", "family_name", "birthdate", "gender"],
    ),
    ("email", &["email", "email_verified"]),
    ("phone", &["phone_number"]),
    ("address", &["address"]),
    ("birth", &["birthplace", "birthcountry"]),
    ("offline_access", &[]),
    (USAGE_STATISTICS, &[USAGE_STATISTICS]),
];

/// DATA-2, ID-4: the consent to statistics of one's own use of a service
/// (its usage events kept with the person's `sub`). Asked like a claim, on
/// the consent screen, unticked until the person ticks it; never a claim in
/// a token (no value).
pub const USAGE_STATISTICS: &str = "usage_statistics";

/// The personal claims behind a list of scopes.
pub fn claims_of(scopes: &[String]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for s in scopes {
        if let Some((_, claims)) = SCOPES.iter().find(|(name, _)| name == s) {
            out.extend(claims.iter().copied());
        }
    }
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub secret_sha256: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub require_pkce: bool,
    pub sector: String,
    pub id_token_alg: String,
    pub consent_lifetime_days: i64,
    pub privacy_notice_version: String,
    pub purpose: String,
}

impl Client {
    /// PKCE is required for public clients and when the client says so.
    pub fn pkce_required(&self) -> bool {
        self.public || self.require_pkce
    }

    pub fn secret_matches(&self, presented: &str) -> bool {
        self.secret_sha256
            .as_deref()
            .is_some_and(|stored| random::same_secret(&random::sha256_hex(presented), stored))
    }
}

/// A client to register.
#[derive(Clone, Debug, Default)]
pub struct NewClient {
    /// A chosen id (demo), or a random one.
    pub client_id: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub require_pkce: bool,
    pub sector: Option<String>,
    pub id_token_alg: Option<String>,
    pub consent_lifetime_days: Option<i64>,
    pub purpose: Option<String>,
}

/// A registered URI: absolute, https (http only for this machine), no
/// fragment.
pub fn check_uri(uri: &str) -> Result<(), String> {
    let local = uri.starts_with("http://localhost")
        || uri.starts_with("http://127.0.0.1")
        || uri.starts_with("http://[::1]");
    if !(uri.starts_with("https://") || local) {
        return Err(format!(
            "{uri:?}: must start with https:// (http:// only for localhost)"
        ));
    }
    if uri.contains('#') || uri.chars().any(char::is_whitespace) || uri.len() > 2000 {
        return Err(format!(
            "{uri:?}: no fragment, no spaces, at most 2000 characters"
        ));
    }
    Ok(())
}

impl NewClient {
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() || self.name.len() > 100 {
            problems.push("name: 1 to 100 characters".to_string());
        }
        if self.redirect_uris.is_empty() {
            problems.push("at least one redirect URI".into());
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
            .chain(&self.backchannel_logout_uri)
        {
            if let Err(e) = check_uri(uri) {
                problems.push(e);
            }
        }
        for s in &self.scopes {
            if !SCOPES.iter().any(|(name, _)| name == s) {
                problems.push(format!(
                    "unknown scope {s:?} (known: {})",
                    SCOPES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(" ")
                ));
            }
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            problems.push("the scopes must include openid".into());
        }
        if let Some(alg) = &self.id_token_alg
            && alg != "RS256"
            && alg != "ES256"
        {
            problems.push("id token algorithm: RS256 or ES256".into());
        }
        if self
            .consent_lifetime_days
            .is_some_and(|d| !(1..=3650).contains(&d))
        {
            problems.push("consent lifetime: 1 to 3650 days".into());
        }
        if let Some(id) = &self.client_id
            && (id.is_empty()
                || id.len() > 64
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)))
        {
            problems.push("client id: letters, digits, '-', '.', '_'".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Registers a client; returns its id and, for a confidential client, its
/// secret (shown once, stored only as a digest). `None` when the id exists.
pub async fn create(
    db: &Db,
    actor: Actor,
    new: &NewClient,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    let client_id = new.client_id.clone().unwrap_or_else(|| random::token(12));
    let secret = (!new.public).then(|| random::token(32));
    let sector = new.sector.clone().unwrap_or_else(|| client_id.clone());
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "INSERT INTO oidc_clients (client_id, name, secret_sha256, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, \
         scopes, public_client, require_pkce, sector, id_token_alg, consent_lifetime_days, privacy_notice_version, purpose, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT (client_id) DO NOTHING",
    )
    .bind(&client_id)
    .bind(new.name.trim())
    .bind(secret.as_deref().map(random::sha256_hex))
    .bind(json!(new.redirect_uris).to_string())
    .bind(json!(new.post_logout_redirect_uris).to_string())
    .bind(new.backchannel_logout_uri.as_deref())
    .bind(new.scopes.join(" "))
    .bind(i64::from(new.public))
    .bind(i64::from(new.require_pkce || new.public))
    .bind(&sector)
    .bind(new.id_token_alg.as_deref().unwrap_or("RS256"))
    .bind(new.consent_lifetime_days.unwrap_or(365))
    .bind("1")
    .bind(new.purpose.as_deref().unwrap_or("Vous connecter au service et le personnaliser."))
    .bind(clock::now_ms())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    audit::append(
        &mut tx,
        &Event::new(actor, "client.create", format!("client:{client_id}"))
            .with(json!({ "name": new.name, "public": new.public, "sector": sector })),
    )
    .await?;
    tx.commit().await?;
    Ok(Some((client_id, secret)))
}

fn client_row(r: &sqlx::any::AnyRow) -> Result<Client, sqlx::Error> {
    let list = |name: &str| -> Result<Vec<String>, sqlx::Error> {
        let text: String = r.try_get(name)?;
        serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    let scopes: String = r.try_get("scopes")?;
    let public: i64 = r.try_get("public_client")?;
    let pkce: i64 = r.try_get("require_pkce")?;
    Ok(Client {
        client_id: r.try_get("client_id")?,
        name: r.try_get("name")?,
        secret_sha256: r.try_get("secret_sha256")?,
        redirect_uris: list("redirect_uris")?,
        post_logout_redirect_uris: list("post_logout_redirect_uris")?,
        backchannel_logout_uri: r.try_get("backchannel_logout_uri")?,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        public: public == 1,
        require_pkce: pkce == 1,
        sector: r.try_get("sector")?,
        id_token_alg: r.try_get("id_token_alg")?,
        consent_lifetime_days: r.try_get("consent_lifetime_days")?,
        privacy_notice_version: r.try_get("privacy_notice_version")?,
        purpose: r.try_get("purpose")?,
    })
}

const COLUMNS: &str = "client_id, name, secret_sha256, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, scopes, \
public_client, require_pkce, sector, id_token_alg, consent_lifetime_days, privacy_notice_version, purpose";

/// Registered clients kept in memory for a few seconds: the token endpoint
/// authenticates a client at every request, and a database read each time
/// was most of its cost (bench/oidc). Unknown ids are not kept (a caller
/// could fill the cache with them); the cache is emptied when it grows past
/// a bound. A client registered or changed on another node is seen within
/// `CLIENT_CACHE_MS`.
#[derive(Clone, Default)]
pub struct ClientCache(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (i64, Client)>>>,
);

pub const CLIENT_CACHE_MS: i64 = 10_000;
const CLIENT_CACHE_MAX: usize = 10_000;

/// A client, from the node's cache when it has one (see [`ClientCache`]).
pub async fn cached(
    app: &kernel::AppState,
    client_id: &str,
) -> Result<Option<Client>, sqlx::Error> {
    let Some(cache) = app.extensions.get::<ClientCache>() else {
        return get(&app.db, client_id).await;
    };
    let now = clock::now_ms();
    if let Ok(map) = cache.0.lock()
        && let Some((at, client)) = map.get(client_id)
        && now - at < CLIENT_CACHE_MS
    {
        return Ok(Some(client.clone()));
    }
    let found = get(&app.db, client_id).await?;
    if let (Some(client), Ok(mut map)) = (&found, cache.0.lock()) {
        if map.len() >= CLIENT_CACHE_MAX {
            map.clear();
        }
        map.insert(client_id.to_string(), (now, client.clone()));
    }
    Ok(found)
}

pub async fn get(db: &Db, client_id: &str) -> Result<Option<Client>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM oidc_clients WHERE client_id = $1"
    )))
    .bind(client_id)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(client_row).transpose()
}

pub async fn all(db: &Db) -> Result<Vec<Client>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM oidc_clients ORDER BY name"
    )))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(client_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_checked_before_registration_id_3() {
        let mut c = NewClient {
            name: "Toodego".into(),
            redirect_uris: vec!["https://toodego.example/callback".into()],
            scopes: vec!["openid".into(), "email".into()],
            ..Default::default()
        };
        assert!(c.check().is_ok());
        c.redirect_uris.push("http://evil.example/cb".into());
        c.scopes.push("admin".into());
        let problems = c.check().unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("https://")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("unknown scope")),
            "{problems:?}"
        );
        assert!(check_uri("http://localhost:3000/cb").is_ok());
        assert!(check_uri("https://a.example/cb#x").is_err());
        assert_eq!(
            claims_of(&["openid".into(), "profile".into(), "birth".into()]),
            vec![
                "given_name",
                "family_name",
                "birthdate",
                "gender",
                "birthplace",
                "birthcountry"
            ]
        );
    }
}
