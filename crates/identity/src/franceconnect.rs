//! ID-5: the platform as a FranceConnect v2 relying party ("fournisseur de
//! service"): configuration, FranceConnect's discovery document and keys,
//! the code exchange and the signed userinfo. The rules of what is accepted
//! are in `domain::franceconnect`; the pages in `http::franceconnect`.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::domain::franceconnect::{self as rules, Expected, IdToken, Identity, Refusal};
use crate::oidc::jwt;

/// The scopes asked for by default: the pivot identity, the e-mail and the
/// usage name.
pub const DEFAULT_SCOPES: &str = "openid given_name family_name birthdate gender birthplace birthcountry email preferred_username";

/// Which FranceConnect platform the configuration points at, shown to staff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Integration,
    Sandbox,
    Production,
}

impl Environment {
    pub fn parse(name: &str) -> Option<Environment> {
        match name {
            "integration" => Some(Environment::Integration),
            "sandbox" => Some(Environment::Sandbox),
            "production" => Some(Environment::Production),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Environment::Integration => "integration",
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }
}

/// What the platform was given when it registered with FranceConnect.
#[derive(Clone)]
pub struct Config {
    /// FranceConnect's issuer, e.g. `https://oidc.franceconnect.gouv.fr/api/v2`;
    /// its discovery document is read from there.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The platform's callback, as registered.
    pub redirect_uri: String,
    /// Where FranceConnect sends the browser back after a logout, as
    /// registered.
    pub post_logout_redirect_uri: String,
    pub scopes: String,
    pub environment: Environment,
}

impl std::fmt::Debug for Config {
    // The secret never reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("post_logout_redirect_uri", &self.post_logout_redirect_uri)
            .field("scopes", &self.scopes)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

/// FranceConnect's endpoints, from its discovery document.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub userinfo: String,
    pub end_session: String,
    pub jwks: String,
}

/// How long the discovery document and the keys are kept before being read
/// again (an unknown key id triggers a refetch sooner).
const CACHE: Duration = Duration::from_secs(3600);
/// At most one read of the keys caused by an unknown key id in this
/// interval, so that forged tokens cannot make the platform hammer
/// FranceConnect.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(10);

type Cached<T> = Arc<RwLock<Option<(Instant, T)>>>;

/// The relying party: the configuration, an HTTP client and what was read
/// from FranceConnect. Cheap to clone; one per node.
#[derive(Clone)]
pub struct FranceConnect {
    pub config: Arc<Config>,
    http: reqwest::Client,
    endpoints: Cached<Endpoints>,
    keys: Cached<Vec<Value>>,
    /// When an unknown key id last made the keys be read again.
    refetched: Arc<RwLock<Option<Instant>>>,
}

impl std::fmt::Debug for FranceConnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FranceConnect")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What the callback obtains: the accepted ID token (and its compact form,
/// the logout's `id_token_hint`) and the identity of the signed userinfo.
#[derive(Clone, Debug)]
pub struct Login {
    pub id_token: IdToken,
    pub id_token_jwt: String,
    pub identity: Identity,
}

impl FranceConnect {
    pub fn new(config: Config) -> FranceConnect {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client builds");
        FranceConnect {
            config: Arc::new(config),
            http,
            endpoints: Default::default(),
            keys: Default::default(),
            refetched: Default::default(),
        }
    }

    fn fresh<T: Clone>(cache: &Cached<T>, max_age: Duration) -> Option<T> {
        let guard = cache.read().expect("cache lock");
        guard
            .as_ref()
            .filter(|(at, _)| at.elapsed() < max_age)
            .map(|(_, v)| v.clone())
    }

    async fn get_json(&self, url: &str) -> Result<Value, Refusal> {
        let response = self.http.get(url).send().await.map_err(|e| {
            tracing::warn!(error = %e, url, "FranceConnect unreachable");
            Refusal::Unavailable
        })?;
        if !response.status().is_success() {
            tracing::warn!(status = %response.status(), url, "FranceConnect answered an error");
            return Err(Refusal::Unavailable);
        }
        response.json().await.map_err(|_| Refusal::Unavailable)
    }

    /// The endpoints, from FranceConnect's discovery document (whose
    /// `issuer` must be the configured one, OpenID Connect Discovery §4.3).
    pub async fn endpoints(&self) -> Result<Endpoints, Refusal> {
        if let Some(e) = Self::fresh(&self.endpoints, CACHE) {
            return Ok(e);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let doc = self.get_json(&url).await?;
        if doc["issuer"].as_str() != Some(self.config.issuer.as_str()) {
            tracing::warn!(url, "FranceConnect's discovery names another issuer");
            return Err(Refusal::WrongIssuer);
        }
        let field = |k: &str| {
            doc[k]
                .as_str()
                .map(str::to_string)
                .ok_or(Refusal::Unavailable)
        };
        let endpoints = Endpoints {
            authorization: field("authorization_endpoint")?,
            token: field("token_endpoint")?,
            userinfo: field("userinfo_endpoint")?,
            end_session: field("end_session_endpoint")?,
            jwks: field("jwks_uri")?,
        };
        *self.endpoints.write().expect("cache lock") = Some((Instant::now(), endpoints.clone()));
        Ok(endpoints)
    }

    async fn fetch_keys(&self) -> Result<Vec<Value>, Refusal> {
        let jwks = self.get_json(&self.endpoints().await?.jwks).await?;
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        *self.keys.write().expect("cache lock") = Some((Instant::now(), keys.clone()));
        Ok(keys)
    }

    /// The public key named `kid`. FranceConnect rotates its keys: a key id
    /// not in the cached set makes one new read of the JWKS (at most every
    /// few seconds), as its documentation asks.
    async fn key(&self, kid: &str) -> Result<Option<Value>, Refusal> {
        let find = |keys: &[Value]| {
            keys.iter()
                .find(|k| k["kid"].as_str() == Some(kid))
                .cloned()
        };
        if let Some(keys) = Self::fresh(&self.keys, CACHE) {
            if let Some(k) = find(&keys) {
                return Ok(Some(k));
            }
            let recently = self
                .refetched
                .read()
                .expect("cache lock")
                .is_some_and(|at| at.elapsed() < REFETCH_AT_MOST_EVERY);
            if recently {
                return Ok(None);
            }
            *self.refetched.write().expect("cache lock") = Some(Instant::now());
        }
        Ok(find(&self.fetch_keys().await?))
    }

    /// A JWT signed by FranceConnect: its claims once the signature verified
    /// (ES256 or RS256 only, with the key its header names).
    async fn verified_claims(&self, token: &str) -> Result<Value, Refusal> {
        let parsed = jwt::parse(token.trim()).ok_or(Refusal::BadSignature)?;
        if !rules::signing_alg_accepted(&parsed.header) {
            return Err(Refusal::BadSignature);
        }
        let kid = parsed.header["kid"].as_str().unwrap_or_default();
        let key = self.key(kid).await?.ok_or(Refusal::BadSignature)?;
        if jwt::verify(&parsed, &key) {
            Ok(parsed.claims)
        } else {
            Err(Refusal::BadSignature)
        }
    }

    /// The authorization request (ID-5): `acr_values=eidas1`, and the given
    /// `state` and `nonce`.
    pub async fn authorization_url(&self, state: &str, nonce: &str) -> Result<String, Refusal> {
        let endpoints = self.endpoints().await?;
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", self.config.redirect_uri.as_str()),
            ("scope", self.config.scopes.as_str()),
            ("acr_values", rules::ACR_EIDAS1),
            ("state", state),
            ("nonce", nonce),
        ])
        .expect("strings encode");
        Ok(format!("{}?{query}", endpoints.authorization))
    }

    /// The logout through FranceConnect: its end-session endpoint with the
    /// ID token of the session, a `state` and the registered return address.
    pub async fn logout_url(&self, id_token: &str, state: &str) -> Result<String, Refusal> {
        let endpoints = self.endpoints().await?;
        let query = serde_urlencoded::to_string([
            ("id_token_hint", id_token),
            ("state", state),
            (
                "post_logout_redirect_uri",
                self.config.post_logout_redirect_uri.as_str(),
            ),
        ])
        .expect("strings encode");
        Ok(format!("{}?{query}", endpoints.end_session))
    }

    /// The callback's second half: the code exchanged (client_secret_post,
    /// as FranceConnect v2 documents), the ID token verified, the userinfo
    /// fetched and verified as a signed JWT.
    pub async fn finish(&self, code: &str, nonce: &str) -> Result<Login, Refusal> {
        let endpoints = self.endpoints().await?;
        let response = self
            .http
            .post(&endpoints.token)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.config.redirect_uri.as_str()),
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "FranceConnect's token endpoint unreachable");
                Refusal::Unavailable
            })?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|_| Refusal::Unavailable)?;
        if !status.is_success() {
            // An unknown, expired or already used code.
            tracing::warn!(%status, error = %body["error"], "FranceConnect refused the code");
            return Err(Refusal::ProviderError);
        }
        let (Some(id_token_jwt), Some(access_token)) =
            (body["id_token"].as_str(), body["access_token"].as_str())
        else {
            return Err(Refusal::Unavailable);
        };
        let want = Expected {
            issuer: &self.config.issuer,
            client_id: &self.config.client_id,
            nonce,
            now_s: kernel::clock::now_ms() / 1000,
        };
        let claims = self.verified_claims(id_token_jwt).await?;
        let id_token = rules::check_id_token(&claims, &want)?;

        let response = self
            .http
            .get(&endpoints.userinfo)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|_| Refusal::Unavailable)?;
        if !response.status().is_success() {
            return Err(Refusal::Unavailable);
        }
        let signed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/jwt"));
        if !signed {
            // FranceConnect v2 signs the userinfo; an unsigned one is refused.
            return Err(Refusal::BadSignature);
        }
        let text = response.text().await.map_err(|_| Refusal::Unavailable)?;
        let userinfo = self.verified_claims(&text).await?;
        let today = kernel::clock::today();
        let identity = rules::check_userinfo(&userinfo, &id_token, &want, today)?;
        Ok(Login {
            id_token,
            id_token_jwt: id_token_jwt.to_string(),
            identity,
        })
    }
}
