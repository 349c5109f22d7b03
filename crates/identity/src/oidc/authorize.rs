//! ID-3, ID-4: the authorization endpoint (code flow, PKCE, state, nonce,
//! prompt, max_age, login_hint, RFC 9207's `iss`) and the consent screen.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::web::{ErrorPage, Msg, PageContext, Viewer, auth::encode_component, headers};
use kernel::{AppState, clock, random};
use serde::Deserialize;

use super::clients::{self, Client, claims_of};
use super::consents;
use super::store::{self as oidc_store, CodeGrant};
use crate::{session, store};

/// The authorization request, as received (GET query or the consent form).
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(default)]
pub struct AuthRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub acr_values: Option<String>,
    pub login_hint: Option<String>,
    /// Set by this endpoint when it sends the user to log in again
    /// (`prompt=login`, `max_age`): the session must have started after it.
    pub login_after: Option<String>,
}

impl AuthRequest {
    fn query(&self) -> String {
        let pairs: Vec<(&str, &Option<String>)> = vec![
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("nonce", &self.nonce),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("prompt", &self.prompt),
            ("max_age", &self.max_age),
            ("acr_values", &self.acr_values),
            ("login_hint", &self.login_hint),
            ("login_after", &self.login_after),
        ];
        let present: Vec<(&str, &str)> = pairs
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
            .collect();
        serde_urlencoded::to_string(present).unwrap_or_default()
    }
}

/// Errors shown to the person: the client or its redirect URI cannot be
/// trusted, so nothing is sent back to it (RFC 6749 §4.1.2.1).
fn error_page(fr: &str, en: &str) -> Response {
    ErrorPage::bad_request(Msg::new(
        format!(
            "{fr} Revenez au service et recommencez ; si le problème persiste, prévenez son équipe."
        ),
        format!("{en} Go back to the service and try again; if it persists, tell its team."),
    ))
    .into_response()
}

/// Errors sent back to the client's registered redirect URI, with `state`
/// and `iss` (RFC 9207).
fn redirect_error(
    app: &AppState,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut params = vec![
        ("error", error),
        ("error_description", description),
        ("iss", app.site.public_url.as_str()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    Redirect::to(&format!(
        "{redirect_uri}{sep}{}",
        serde_urlencoded::to_string(params).unwrap_or_default()
    ))
    .into_response()
}

/// The checked request: which client, where to answer, what is asked.
struct Checked {
    client: Client,
    redirect_uri: String,
    scopes: Vec<String>,
    asked: Vec<String>,
}

/// Validates the request; `Err` is the response to give (page or redirect).
async fn check(app: &AppState, req: &AuthRequest) -> Result<Checked, Response> {
    let Some(client_id) = req.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return Err(error_page(
            "La demande de connexion ne dit pas de quel service elle vient.",
            "The sign-in request does not say which service it comes from.",
        ));
    };
    let client = match clients::get(&app.db, client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(error_page(
                "Ce service n'est pas connu de la plateforme.",
                "This service is not known to the platform.",
            ));
        }
        Err(e) => return Err(ErrorPage::internal(e).into_response()),
    };
    // Exact match only (ID-3); otherwise never redirect anywhere.
    let Some(redirect_uri) = req
        .redirect_uri
        .clone()
        .filter(|r| client.redirect_uris.contains(r))
    else {
        return Err(error_page(
            "L'adresse de retour de ce service n'est pas enregistrée.",
            "This service's return address is not registered.",
        ));
    };
    let state = req.state.as_deref();
    let fail = |error: &str, description: &str| {
        redirect_error(app, &redirect_uri, state, error, description)
    };
    if req.response_type.as_deref() != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let scopes: Vec<String> = req
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(fail("invalid_scope", "the scope must include openid"));
    }
    if let Some(s) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(fail(
            "invalid_scope",
            &format!("scope {s} is not allowed for this client"),
        ));
    }
    match (
        req.code_challenge.as_deref(),
        req.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256"))
            if c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {}
        (Some(_), Some("S256")) => {
            return Err(fail(
                "invalid_request",
                "code_challenge must be a base64url SHA-256 (43 characters)",
            ));
        }
        (Some(_), _) => {
            return Err(fail(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        (None, _) if client.pkce_required() => {
            return Err(fail(
                "invalid_request",
                "PKCE (S256) is required for this client",
            ));
        }
        (None, _) => {}
    }
    if let Some(p) = req.prompt.as_deref()
        && p.split_whitespace()
            .any(|v| !matches!(v, "none" | "login" | "consent"))
    {
        return Err(fail(
            "invalid_request",
            "prompt must be none, login or consent",
        ));
    }
    if req
        .max_age
        .as_deref()
        .is_some_and(|m| m.parse::<u64>().is_err())
    {
        return Err(fail(
            "invalid_request",
            "max_age must be a number of seconds",
        ));
    }
    let asked = claims_of(&scopes).into_iter().map(str::to_string).collect();
    Ok(Checked {
        client,
        redirect_uri,
        scopes,
        asked,
    })
}

fn prompts(req: &AuthRequest, value: &str) -> bool {
    req.prompt
        .as_deref()
        .is_some_and(|p| p.split_whitespace().any(|v| v == value))
}

/// GET /oidc/authorize.
pub async fn authorize(
    State(app): State<AppState>,
    headers: HeaderMap,
    ctx: PageContext,
    Query(req): Query<AuthRequest>,
) -> Response {
    let checked = match check(&app, &req).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let state = req.state.as_deref();
    let fail = |error: &str, description: &str| {
        redirect_error(&app, &checked.redirect_uri, state, error, description)
    };
    let now = clock::now_ms();
    let token = session::token(&headers);
    let session = match &token {
        Some(t) => store::session_started(&app.db, t).await.unwrap_or(None),
        None => None,
    };
    let started = session.map(|s| s.at);
    // ID-6: a service asking for a certified identity gets people through
    // FranceConnect first (when the platform has FranceConnect).
    let certified_needed = req
        .acr_values
        .as_deref()
        .is_some_and(|v| v.split_whitespace().any(|a| a == super::ACR_CERTIFIED))
        && crate::http::franceconnect::configured(&app).is_some()
        && !session.is_some_and(|s| s.franceconnect);
    let login_after: i64 = req
        .login_after
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let too_old = req
        .max_age
        .as_deref()
        .and_then(|m| m.parse::<i64>().ok())
        .is_some_and(|max| started.is_some_and(|s| now - s > max * 1000));
    let must_login = ctx.viewer.is_none()
        || started.is_none_or(|s| s < login_after)
        || (prompts(&req, "login") && login_after == 0)
        || too_old
        || certified_needed;
    if must_login {
        if prompts(&req, "none") {
            return fail("login_required", "the user is not logged in");
        }
        // Back here after logging in, without asking again for a fresh login.
        let mut again = req.clone();
        again.prompt = req
            .prompt
            .as_deref()
            .map(|p| {
                p.split_whitespace()
                    .filter(|v| *v != "login")
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|p| !p.is_empty());
        if prompts(&req, "login") || too_old {
            again.login_after = Some(now.to_string());
            again.max_age = None;
        }
        let back = format!("/oidc/authorize?{}", again.query());
        let hint = req
            .login_hint
            .as_deref()
            .map(|h| format!("&email={}", encode_component(h)))
            .unwrap_or_default();
        let certified = if certified_needed { "&certifie=1" } else { "" };
        return Redirect::to(&format!(
            "/connexion?retour={}{hint}{certified}",
            encode_component(&back)
        ))
        .into_response();
    }
    let viewer = ctx.viewer.clone().expect("logged in");
    let latest = match consents::latest(&app.db, viewer.account_id, &checked.client.client_id).await
    {
        Ok(l) => l,
        Err(e) => return ErrorPage::internal(e).into_response(),
    };
    if prompts(&req, "consent")
        || consents::needs_asking(latest.as_ref(), &checked.client, &checked.asked, now)
    {
        if prompts(&req, "none") {
            return fail(
                "consent_required",
                "the user has not consented to the requested claims",
            );
        }
        return consent_page(&app, ctx, viewer, &checked, &req).await;
    }
    let granted = latest.map(|c| c.granted).unwrap_or_default();
    finish(
        &app,
        &viewer,
        &checked,
        &req,
        session.unwrap_or(store::SessionStart {
            at: now,
            franceconnect: false,
        }),
        token.as_deref().unwrap_or(""),
        granted,
    )
    .await
}

/// Issues the code and sends the browser back with `code`, `state`, `iss`.
async fn finish(
    app: &AppState,
    viewer: &Viewer,
    checked: &Checked,
    req: &AuthRequest,
    session: store::SessionStart,
    session_token: &str,
    granted: Vec<String>,
) -> Response {
    let session_hash = random::sha256_hex(session_token);
    let grant = CodeGrant {
        client_id: checked.client.client_id.clone(),
        account_id: viewer.account_id,
        redirect_uri: checked.redirect_uri.clone(),
        scope: checked.scopes.join(" "),
        claims: granted,
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time: session.at,
        // What the session proves, asked for or not (OpenID Connect Core §2).
        acr: Some(
            if session.franceconnect {
                super::ACR_CERTIFIED
            } else {
                super::ACR_PASSWORD
            }
            .into(),
        ),
        sid: random::sha256_hex(format!("sid:{session_hash}"))[..32].to_string(),
    };
    let code = match oidc_store::issue_code(&app.db, &grant, &session_hash).await {
        Ok(c) => c,
        Err(e) => return ErrorPage::internal(e).into_response(),
    };
    let mut params = vec![
        ("code", code.as_str()),
        ("iss", app.site.public_url.as_str()),
    ];
    if let Some(s) = req.state.as_deref() {
        params.push(("state", s));
    }
    let sep = if checked.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    Redirect::to(&format!(
        "{}{sep}{}",
        checked.redirect_uri,
        serde_urlencoded::to_string(params).unwrap_or_default()
    ))
    .into_response()
}

/// A claim on the consent screen: its name, label and the user's value.
pub struct ClaimRow {
    pub name: String,
    pub label_fr: &'static str,
    pub label_en: &'static str,
    pub value: String,
    /// Ticked when the screen opens: personal claims are (the service asks
    /// for them to work); statistics of one's use are not (DATA-2: only
    /// with a consent the person gives by ticking it).
    pub ticked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    ctx: PageContext,
    client_name: String,
    purpose: String,
    claims: Vec<ClaimRow>,
    request: String,
}

fn claim_label(name: &str) -> (&'static str, &'static str) {
    match name {
        "given_name" => ("Prénoms", "Given names"),
        "family_name" => ("Nom", "Family name"),
        "birthdate" => ("Date de naissance", "Birth date"),
        "gender" => ("Sexe", "Gender"),
        "email" => ("Adresse e-mail", "E-mail address"),
        "email_verified" => ("Adresse e-mail confirmée", "E-mail confirmed"),
        "phone_number" => ("Téléphone", "Phone"),
        "address" => ("Adresse postale", "Postal address"),
        "birthplace" => ("Commune de naissance", "Birth place"),
        "birthcountry" => ("Pays de naissance", "Birth country"),
        super::clients::USAGE_STATISTICS => (
            "Statistiques d'usage à votre nom",
            "Statistics of your use, in your name",
        ),
        _ => ("Autre information", "Other information"),
    }
}

async fn consent_page(
    app: &AppState,
    ctx: PageContext,
    viewer: Viewer,
    checked: &Checked,
    req: &AuthRequest,
) -> Response {
    let values = match super::claims::values(&app.db, viewer.account_id).await {
        Ok(v) => v,
        Err(e) => return ErrorPage::internal(e).into_response(),
    };
    let claims = checked
        .asked
        .iter()
        .map(|name| {
            let (label_fr, label_en) = claim_label(name);
            let usage = name == super::clients::USAGE_STATISTICS;
            let value = match values.get(name) {
                _ if usage => ctx
                    .tr(
                        "ce service garde vos pages vues et actions avec votre identifiant, pour vous proposer un suivi personnalisé ; sans cet accord, il les compte sans savoir qui vous êtes",
                        "this service keeps the pages you view and your actions with your identifier, to offer you a personal follow-up; without this consent, it counts them without knowing who you are",
                    )
                    .to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Bool(b)) => if *b { "oui" } else { "non" }.to_string(),
                Some(serde_json::Value::Object(o)) => o
                    .get("formatted")
                    .and_then(|f| f.as_str())
                    .unwrap_or("")
                    .to_string(),
                _ => String::new(),
            };
            ClaimRow {
                name: name.clone(),
                label_fr,
                label_en,
                value,
                ticked: !usage,
            }
        })
        .collect();
    let page = ConsentPage {
        ctx,
        client_name: checked.client.name.clone(),
        purpose: checked.client.purpose.clone(),
        claims,
        request: req.query(),
    };
    let mut response = (StatusCode::OK, page).into_response();
    headers::allow_form_target(&mut response, &checked.redirect_uri);
    response
}

/// The service's redirect URI when `retour` (a page's return path) is a
/// valid authorization request: the login page's form may end up there.
pub async fn redirect_target(app: &AppState, retour: &str) -> Option<String> {
    let query = retour.strip_prefix("/oidc/authorize?")?;
    let req: AuthRequest = serde_urlencoded::from_str(query).ok()?;
    check(app, &req).await.ok().map(|c| c.redirect_uri)
}

/// The consent form: `decision` (`allow`/`deny`), the ticked claims, and the
/// original request (checked again).
pub async fn decide(
    State(app): State<AppState>,
    headers: HeaderMap,
    ctx: PageContext,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let req: AuthRequest =
        serde_urlencoded::from_str(&get("request").unwrap_or_default()).unwrap_or_default();
    let checked = match check(&app, &req).await {
        Ok(c) => c,
        Err(response) => return response,
    };
    let Some(viewer) = ctx.viewer.clone() else {
        return Redirect::to(&format!(
            "/connexion?retour={}",
            encode_component(&format!("/oidc/authorize?{}", req.query()))
        ))
        .into_response();
    };
    if get("decision").as_deref() != Some("allow") {
        return redirect_error(
            &app,
            &checked.redirect_uri,
            req.state.as_deref(),
            "access_denied",
            "the user refused",
        );
    }
    let granted: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "claims")
        .map(|(_, v)| v.clone())
        .filter(|c| checked.asked.contains(c))
        .collect();
    if let Err(e) = consents::record_decision(
        &app.db,
        viewer.account_id,
        &checked.client,
        &checked.asked,
        &granted,
    )
    .await
    {
        return ErrorPage::internal(e).into_response();
    }
    let token = session::token(&headers).unwrap_or_default();
    let session = store::session_started(&app.db, &token)
        .await
        .ok()
        .flatten()
        .unwrap_or(store::SessionStart {
            at: clock::now_ms(),
            franceconnect: false,
        });
    finish(&app, &viewer, &checked, &req, session, &token, granted).await
}
