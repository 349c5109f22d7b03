//! ID-3: the token endpoint (authorization_code with PKCE, refresh_token with
//! rotation and reuse detection, client_credentials) and userinfo.

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kernel::{AppState, Tx, clock, random};
use serde_json::{Value, json};

use super::clients::{self, Client};
use super::discovery::keys;
use super::store::{self as oidc_store, NewToken, Redeemed};
use super::{claims, jwt};

pub const ACCESS_TTL_MS: i64 = 10 * 60 * 1000;
pub const REFRESH_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// An OAuth error as JSON (RFC 6749 §5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"mutualis\""),
        );
    }
    response
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

type FormResult = Result<Form<Vec<(String, String)>>, axum::extract::rejection::FormRejection>;

/// The body of an API request: a URL-encoded form without control
/// characters (RFC 6749 §3.2); else what is wrong, for `invalid_request`.
fn api_form(form: FormResult) -> Result<Vec<(String, String)>, &'static str> {
    let Ok(Form(fields)) = form else {
        return Err("the body must be application/x-www-form-urlencoded");
    };
    let control = |t: &str| kernel::web::csrf::has_control(t);
    if fields.iter().any(|(k, v)| control(k) || control(v)) {
        return Err("control characters are not allowed");
    }
    Ok(fields)
}

/// Client authentication: `client_secret_basic`, `client_secret_post`, or
/// `none` (public clients). The secret is compared as a SHA-256 digest in
/// constant time: no slow hash caps this endpoint.
async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<Client, Response> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |s: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
                    .ok()?
                    .pop()
                    .map(|(_, v)| v)
            };
            Some((decode(id)?, decode(secret)?))
        })
        .filter(|(id, _)| !kernel::web::csrf::has_control(id));
    let (client_id, secret) = match (
        basic,
        field(fields, "client_id"),
        field(fields, "client_secret"),
    ) {
        (Some((id, secret)), _, _) => (id, Some(secret)),
        (None, Some(id), secret) => (id.to_string(), secret.map(str::to_string)),
        (None, None, _) => {
            return Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication is required",
            ));
        }
    };
    let client = match clients::cached(app, &client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client",
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "client lookup");
            return Err(oauth_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "try again",
            ));
        }
    };
    let ok = match (&client.public, secret) {
        (true, None) => true,
        (false, Some(s)) => client.secret_matches(&s),
        _ => false,
    };
    if ok {
        Ok(client)
    } else {
        Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ))
    }
}

/// RFC 7636: BASE64URL(SHA256(verifier)) == challenge.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let ok_len = (43..=128).contains(&verifier.len());
    let ok_chars = verifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    ok_len
        && ok_chars
        && random::same_secret(
            &jwt::b64(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref()),
            challenge,
        )
}

struct Issued {
    access_token: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
    scope: String,
}

/// What a grant gives tokens: who, for what, in which family.
struct Grant<'a> {
    sub: &'a str,
    account: Option<i64>,
    scope: &'a str,
    claims: &'a [String],
    family: &'a str,
    code_hash: Option<&'a str>,
    sid: Option<&'a str>,
    auth_time: Option<i64>,
    /// How the session was opened (ID-6), kept with the family.
    acr: Option<&'a str>,
}

/// Signs an access token (RFC 9068) named `jti`. A person's token is
/// recorded by [`record`] in the transaction that grants it; a client's own
/// token (client_credentials) names no person, lives 10 minutes and is not
/// recorded, so issuing it writes nothing (bench/oidc (a)): `lookup`
/// recognises it by its signature and a revocation records it.
async fn access_token(app: &AppState, client: &Client, g: &Grant<'_>, jti: &str) -> String {
    let ring = keys(app).ring().await;
    let key = ring
        .signing(&client.id_token_alg)
        .expect("an active key of each algorithm");
    let now = clock::now_ms() / 1000;
    let mut claims = json!({
        "iss": app.site.public_url,
        "sub": g.sub,
        "aud": client.client_id,
        "client_id": client.client_id,
        "scope": g.scope,
        "jti": jti,
        "iat": now,
        "exp": now + ACCESS_TTL_MS / 1000,
    });
    if let Some(t) = g.auth_time {
        claims["auth_time"] = json!(t / 1000);
    }
    jwt::sign(&key.pair, &key.kid, "at+jwt", &claims)
}

/// Records a person's token (`kind` access or refresh, by `jti`; a refresh
/// token by its digest) in `tx`.
async fn record(
    tx: &mut Tx,
    client: &Client,
    g: &Grant<'_>,
    kind: &str,
    jti: &str,
) -> Result<(), sqlx::Error> {
    let record = NewToken {
        jti,
        kind,
        client_id: &client.client_id,
        account_id: g.account,
        scope: g.scope,
        claims: g.claims,
        family: g.family,
        code_hash: g.code_hash,
        sid: g.sid,
        auth_time: g.auth_time,
        acr: g.acr,
        ttl_ms: if kind == "refresh" {
            REFRESH_TTL_MS
        } else {
            ACCESS_TTL_MS
        },
    };
    oidc_store::record_token(tx, &record).await
}

/// A new access token's `jti` and a new refresh token with its digest,
/// recorded in `tx` for the grant `g`.
async fn record_pair(
    tx: &mut Tx,
    client: &Client,
    g: &Grant<'_>,
) -> Result<(String, String), sqlx::Error> {
    let jti = random::token(16);
    let refresh = random::token(32);
    record(tx, client, g, "access", &jti).await?;
    record(tx, client, g, "refresh", &random::sha256_hex(&refresh)).await?;
    Ok((jti, refresh))
}

/// The ID token (OpenID Connect Core §2).
fn id_token(
    app: &AppState,
    ring: &super::keys::KeyRing,
    client: &Client,
    g: &Grant<'_>,
    nonce: Option<&str>,
    acr: Option<&str>,
    certified_at_ms: Option<i64>,
) -> String {
    let key = ring
        .signing(&client.id_token_alg)
        .expect("an active key of each algorithm");
    let now = clock::now_ms() / 1000;
    let mut claims = json!({
        "iss": app.site.public_url,
        "sub": g.sub,
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": now,
        "exp": now + ACCESS_TTL_MS / 1000,
        "auth_time": g.auth_time.unwrap_or_else(clock::now_ms) / 1000,
        "sid": g.sid.unwrap_or(""),
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    if let Some(a) = acr {
        claims["acr"] = json!(a);
    }
    if let Some(at) = certified_at_ms {
        claims["certified_at"] = json!(at / 1000);
    }
    jwt::sign(&key.pair, &key.kid, "JWT", &claims)
}

fn success(issued: Issued) -> Response {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL_MS / 1000,
        "scope": issued.scope,
    });
    if let Some(r) = issued.refresh_token {
        body["refresh_token"] = json!(r);
    }
    if let Some(i) = issued.id_token {
        body["id_token"] = json!(i);
    }
    (
        StatusCode::OK,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

fn internal(e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "token endpoint");
    oauth_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "try again",
    )
}

/// POST /oidc/token.
pub async fn token(State(app): State<AppState>, headers: HeaderMap, form: FormResult) -> Response {
    let fields = match api_form(form) {
        Ok(f) => f,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let client = match authenticate(&app, &headers, &fields).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match field(&fields, "grant_type") {
        Some("authorization_code") => authorization_code(&app, &client, &fields).await,
        Some("refresh_token") => refresh(&app, &client, &fields).await,
        Some("client_credentials") => client_credentials(&app, &client, &fields).await,
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "authorization_code, refresh_token or client_credentials",
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is missing",
        ),
    }
}

async fn authorization_code(
    app: &AppState,
    client: &Client,
    fields: &[(String, String)],
) -> Response {
    let Some(code) = field(fields, "code") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is missing",
        );
    };
    // Read (or create) the sector's salt before the write transaction.
    let salt = match oidc_store::sector_salt(&app.db, &client.sector).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    // One transaction: the code is used if and only if its tokens exist.
    let mut tx = match app.db.begin().await {
        Ok(tx) => tx,
        Err(e) => return internal(e),
    };
    let (grant, code_hash) = match oidc_store::redeem_code(&mut tx, code).await {
        Ok(Redeemed::Grant(g, h)) => (g, h),
        Ok(Redeemed::Reused) => {
            if let Err(e) = tx.commit().await {
                return internal(e);
            }
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "the code was already used; what it gave is revoked",
            );
        }
        Ok(Redeemed::Invalid) => {
            let _ = tx.rollback().await;
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "unknown or expired code",
            );
        }
        Err(e) => return internal(e),
    };
    if let Some(problem) = code_mismatch(client, &grant, fields) {
        // A code presented wrongly is spent all the same (RFC 6749 §4.1.2:
        // it serves once).
        if let Err(e) = tx.commit().await {
            return internal(e);
        }
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", problem);
    }
    let sub = oidc_store::pairwise(&salt, grant.account_id);
    let family = random::token(16);
    let g = Grant {
        sub: &sub,
        account: Some(grant.account_id),
        scope: &grant.scope,
        claims: &grant.claims,
        family: &family,
        code_hash: Some(&code_hash),
        sid: Some(&grant.sid),
        auth_time: Some(grant.auth_time),
        acr: grant.acr.as_deref(),
    };
    let (jti, refresh) = match record_pair(&mut tx, client, &g).await {
        Ok(pair) => pair,
        Err(e) => return internal(e),
    };
    if let Err(e) =
        oidc_store::record_subject(&mut tx, &client.sector, &sub, grant.account_id).await
    {
        return internal(e);
    }
    if let Err(e) = tx.commit().await {
        return internal(e);
    }
    let access = access_token(app, client, &g, &jti).await;
    let ring = keys(app).ring().await;
    let certified_at = match certified_at(app, &g).await {
        Ok(at) => at,
        Err(e) => return internal(e),
    };
    let id = id_token(
        app,
        &ring,
        client,
        &g,
        grant.nonce.as_deref(),
        grant.acr.as_deref(),
        certified_at,
    );
    success(Issued {
        access_token: access,
        refresh_token: Some(refresh),
        id_token: Some(id),
        scope: grant.scope,
    })
}

/// ID-6: for a certified session, since when the identity is certified (the
/// last FranceConnect sign-in).
async fn certified_at(app: &AppState, g: &Grant<'_>) -> Result<Option<i64>, sqlx::Error> {
    match (g.acr, g.account) {
        (Some(super::ACR_CERTIFIED), Some(account)) => {
            Ok(crate::store::franceconnect::link_of(&app.db, account)
                .await?
                .map(|l| l.certified_at))
        }
        _ => Ok(None),
    }
}

/// Why a redeemed code does not fit the request that presents it: another
/// client, another redirect URI, or a PKCE verifier that does not match.
fn code_mismatch(
    client: &Client,
    grant: &oidc_store::CodeGrant,
    fields: &[(String, String)],
) -> Option<&'static str> {
    if grant.client_id != client.client_id {
        return Some("the code was issued to another client");
    }
    if field(fields, "redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Some("redirect_uri does not match the authorization request");
    }
    match (&grant.code_challenge, field(fields, "code_verifier")) {
        (Some(challenge), Some(verifier)) if pkce_matches(verifier, challenge) => None,
        (Some(_), _) => Some("code_verifier does not match the code_challenge"),
        (None, Some(_)) => Some("no code_challenge was sent with the authorization request"),
        (None, None) => None,
    }
}

/// Rotation: each refresh token serves once; a second use revokes the whole
/// family (it was stolen or replayed).
async fn refresh(app: &AppState, client: &Client, fields: &[(String, String)]) -> Response {
    let Some(presented) = field(fields, "refresh_token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is missing",
        );
    };
    let jti = random::sha256_hex(presented);
    let row = match oidc_store::token(&app.db, &jti).await {
        Ok(Some(r)) if r.kind == "refresh" && r.client_id == client.client_id => r,
        Ok(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "unknown refresh token",
            );
        }
        Err(e) => return internal(e),
    };
    if row.used_at.is_some() && row.revoked_at.is_none() {
        let _ = oidc_store::revoke_family(&app.db, &row.family).await;
        let _ = kernel::audit::record(
            &app.db,
            &kernel::audit::Event::new(
                kernel::audit::Actor::Anonymous,
                "oidc.refresh_reuse",
                format!("client:{}", client.client_id),
            ),
        )
        .await;
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "refresh token reused: every token of this grant is revoked",
        );
    }
    if row.revoked_at.is_some() || row.expires_at <= clock::now_ms() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the refresh token is revoked or expired",
        );
    }
    let Some(account) = row.account_id else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown refresh token",
        );
    };
    let sub = match oidc_store::pairwise_sub(&app.db, &client.sector, account).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let g = Grant {
        sub: &sub,
        account: Some(account),
        scope: &row.scope,
        claims: &row.claims,
        family: &row.family,
        code_hash: None,
        sid: row.sid.as_deref(),
        auth_time: row.auth_time,
        // Families issued before the acr was kept had password sessions.
        acr: Some(row.acr.as_deref().unwrap_or(super::ACR_PASSWORD)),
    };
    // One transaction: the presented token is used if and only if the next
    // ones exist.
    let rotated = async {
        let mut tx = app.db.begin().await?;
        if !oidc_store::use_refresh(&mut tx, &jti).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        let pair = record_pair(&mut tx, client, &g).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(Some(pair))
    }
    .await;
    let (jti, next) = match rotated {
        Ok(Some(pair)) => pair,
        Ok(None) => {
            let _ = oidc_store::revoke_family(&app.db, &row.family).await;
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "refresh token reused: every token of this grant is revoked",
            );
        }
        Err(e) => return internal(e),
    };
    let access = access_token(app, client, &g, &jti).await;
    let ring = keys(app).ring().await;
    let certified_at = match certified_at(app, &g).await {
        Ok(at) => at,
        Err(e) => return internal(e),
    };
    let id = id_token(app, &ring, client, &g, None, g.acr, certified_at);
    success(Issued {
        access_token: access,
        refresh_token: Some(next),
        id_token: Some(id),
        scope: row.scope,
    })
}

/// Service-to-service calls: a confidential client gets an access token for
/// itself (no user, no personal claim).
async fn client_credentials(
    app: &AppState,
    client: &Client,
    fields: &[(String, String)],
) -> Response {
    if client.public {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "a public client cannot use client_credentials",
        );
    }
    let requested: Vec<String> = field(fields, "scope")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if let Some(s) = requested.iter().find(|s| {
        !client.scopes.contains(s)
            || !clients::claims_of(&[(*s).clone()]).is_empty()
            || *s == "openid"
    }) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("scope {s} cannot be granted to a client for itself"),
        );
    }
    let scope = requested.join(" ");
    let family = random::token(16);
    let g = Grant {
        sub: &client.client_id,
        account: None,
        scope: &scope,
        claims: &[],
        family: &family,
        code_hash: None,
        sid: None,
        auth_time: None,
        acr: None,
    };
    let access = access_token(app, client, &g, &random::token(16)).await;
    success(Issued {
        access_token: access,
        refresh_token: None,
        id_token: None,
        scope,
    })
}

/// A bearer access token, checked: signature, expiry, not revoked.
pub async fn bearer(
    app: &AppState,
    headers: &HeaderMap,
    form: Option<&[(String, String)]>,
) -> Result<(Value, oidc_store::TokenRow), Response> {
    let unauthorized = |error: &str| {
        let challenge = format!("Bearer error=\"{error}\"");
        let mut r = (StatusCode::UNAUTHORIZED, Json(json!({ "error": error }))).into_response();
        if let Ok(v) = header::HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string)
        .or_else(|| form.and_then(|f| field(f, "access_token").map(str::to_string)));
    let Some(token) = token else {
        return Err(unauthorized("invalid_request"));
    };
    let Some(parsed) = jwt::parse(&token) else {
        return Err(unauthorized("invalid_token"));
    };
    let ring = keys(app).ring().await;
    let key = parsed.header["kid"].as_str().and_then(|k| ring.by_kid(k));
    if !key.is_some_and(|k| jwt::verify(&parsed, &k.public_jwk)) || parsed.header["typ"] != "at+jwt"
    {
        return Err(unauthorized("invalid_token"));
    }
    let Some(jti) = parsed.claims["jti"].as_str() else {
        return Err(unauthorized("invalid_token"));
    };
    let row = match access_row(app, jti, &parsed).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err(unauthorized("invalid_token")),
        Err(e) => return Err(internal(e)),
    };
    if row.revoked_at.is_some()
        || row.expires_at <= clock::now_ms()
        || parsed.claims["iss"] != app.site.public_url.as_str()
    {
        return Err(unauthorized("invalid_token"));
    }
    Ok((parsed.claims, row))
}

/// GET or POST /oidc/userinfo: the granted claims only (ID-4).
pub async fn userinfo(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: FormResult,
) -> Response {
    let form = body.ok().map(|Form(f)| f);
    let (claims, row) = match bearer(&app, &headers, form.as_deref()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(account) = row.account_id else {
        return (StatusCode::FORBIDDEN, Json(json!({ "error": "insufficient_scope", "error_description": "a client's own token has no user" }))).into_response();
    };
    if !row.scope.split_whitespace().any(|s| s == "openid") {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "insufficient_scope" })),
        )
            .into_response();
    }
    let mut out = match claims::granted(&app.db, account, &row.claims).await {
        Ok(m) => m,
        Err(e) => return internal(e),
    };
    out.insert("sub".into(), claims["sub"].clone());
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(Value::Object(out)),
    )
        .into_response()
}

/// Finds a presented token: an access token JWT (by its `jti`) or a
/// refresh token (by its digest).
/// The record of a verified access token: from the database, or, for a
/// client's own token (never recorded unless revoked), from its claims.
async fn access_row(
    app: &AppState,
    jti: &str,
    parsed: &jwt::Parsed,
) -> Result<Option<oidc_store::TokenRow>, sqlx::Error> {
    Ok(match oidc_store::token(&app.db, jti).await? {
        Some(r) => Some(r),
        None => client_token(&parsed.header, &parsed.claims),
    })
}

/// A client's own access token: `at+jwt`, subject = client.
fn client_token(header: &Value, claims: &Value) -> Option<oidc_store::TokenRow> {
    let client_id = claims["client_id"].as_str()?;
    if header["typ"] != "at+jwt" || claims["sub"].as_str() != Some(client_id) {
        return None;
    }
    Some(oidc_store::TokenRow {
        jti: claims["jti"].as_str()?.to_string(),
        kind: "access".into(),
        client_id: client_id.to_string(),
        account_id: None,
        scope: claims["scope"].as_str().unwrap_or("").to_string(),
        claims: vec![],
        family: String::new(),
        sid: None,
        auth_time: None,
        acr: None,
        expires_at: claims["exp"].as_i64()? * 1000,
        used_at: None,
        revoked_at: None,
    })
}

async fn lookup(
    app: &AppState,
    token: &str,
) -> Result<Option<(oidc_store::TokenRow, Option<Value>)>, sqlx::Error> {
    if let Some(parsed) = jwt::parse(token) {
        let ring = keys(app).ring().await;
        let key = parsed.header["kid"].as_str().and_then(|k| ring.by_kid(k));
        if !key.is_some_and(|k| jwt::verify(&parsed, &k.public_jwk)) {
            return Ok(None);
        }
        let Some(jti) = parsed.claims["jti"].as_str() else {
            return Ok(None);
        };
        let row = access_row(app, jti, &parsed).await?;
        return Ok(row.map(|r| (r, Some(parsed.claims))));
    }
    Ok(oidc_store::token(&app.db, &random::sha256_hex(token))
        .await?
        .filter(|r| r.kind == "refresh")
        .map(|r| (r, None)))
}

/// POST /oidc/revoke (RFC 7009): always 200 for an authenticated client; a
/// refresh token takes its whole grant with it.
pub async fn revoke(State(app): State<AppState>, headers: HeaderMap, form: FormResult) -> Response {
    let fields = match api_form(form) {
        Ok(f) => f,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let client = match authenticate(&app, &headers, &fields).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(token) = field(&fields, "token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is missing",
        );
    };
    match lookup(&app, token).await {
        Ok(Some((row, _))) if row.client_id == client.client_id => {
            let done = if row.kind == "refresh" {
                oidc_store::revoke_family(&app.db, &row.family)
                    .await
                    .map(|_| ())
            } else {
                oidc_store::revoke_access(&app.db, &row).await
            };
            if let Err(e) = done {
                return internal(e);
            }
        }
        Ok(_) => {}
        Err(e) => return internal(e),
    }
    (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response()
}

/// POST /oidc/introspect (RFC 7662), for the services' APIs: a confidential
/// client learns whether a token is active and what it carries.
pub async fn introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    form: FormResult,
) -> Response {
    let fields = match api_form(form) {
        Ok(f) => f,
        Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why),
    };
    let client = match authenticate(&app, &headers, &fields).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if client.public {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "a public client cannot introspect",
        );
    }
    let Some(token) = field(&fields, "token") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is missing",
        );
    };
    let inactive = || {
        (
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "active": false })),
        )
            .into_response()
    };
    let (row, claims) = match lookup(&app, token).await {
        Ok(Some(x)) => x,
        Ok(None) => return inactive(),
        Err(e) => return internal(e),
    };
    if row.revoked_at.is_some()
        || row.expires_at <= clock::now_ms()
        || (row.kind == "refresh" && row.used_at.is_some())
    {
        return inactive();
    }
    let mut body = json!({
        "active": true,
        "client_id": row.client_id,
        "scope": row.scope,
        "token_type": if row.kind == "refresh" { "refresh_token" } else { "Bearer" },
        "exp": row.expires_at / 1000,
        "iss": app.site.public_url,
    });
    if let Some(c) = claims {
        for k in ["sub", "aud", "iat", "jti", "auth_time"] {
            if !c[k].is_null() {
                body[k] = c[k].clone();
            }
        }
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// A back-channel logout token (OpenID Connect Back-Channel Logout 1.0),
/// as the outbox message that POSTs it to the service.
pub async fn backchannel_logout(
    app: &AppState,
    client: &Client,
    account_id: i64,
    sid: Option<&str>,
) -> Result<Option<kernel::outbox::Message>, sqlx::Error> {
    let Some(uri) = client.backchannel_logout_uri.clone() else {
        return Ok(None);
    };
    let sub = oidc_store::pairwise_sub(&app.db, &client.sector, account_id).await?;
    let ring = keys(app).ring().await;
    let key = ring
        .signing(&client.id_token_alg)
        .expect("an active key of each algorithm");
    let now = clock::now_ms() / 1000;
    let mut claims = json!({
        "iss": app.site.public_url,
        "aud": client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": random::token(16),
        "sub": sub,
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    if let Some(s) = sid {
        claims["sid"] = json!(s);
    }
    let token = jwt::sign(&key.pair, &key.kid, "logout+jwt", &claims);
    Ok(Some(kernel::outbox::Message::Webhook(
        kernel::outbox::Webhook {
            url: uri,
            body: serde_urlencoded::to_string([("logout_token", token)]).expect("form encoding"),
            secret: None,
            content_type: Some("application/x-www-form-urlencoded".into()),
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_as_rfc_7636_appendix_b() {
        // RFC 7636, appendix B.
        assert!(pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
