//! The OpenID Connect provider (ID-3) from outside.

use kernel::testing;
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn discovery_and_jwks_describe_the_provider_id_3() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let b = app.browser();
        let doc = b.get("/.well-known/openid-configuration").await;
        assert_eq!(doc.status, StatusCode::OK, "{}", t.name);
        let doc: serde_json::Value = serde_json::from_str(&doc.body).unwrap();
        assert_eq!(doc["issuer"], app.base);
        assert_eq!(doc["jwks_uri"], format!("{}/oidc/jwks", app.base));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            doc["subject_types_supported"],
            serde_json::json!(["pairwise"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        for claim in [
            "given_name",
            "family_name",
            "birthdate",
            "gender",
            "email",
            "email_verified",
            "phone_number",
            "address",
            "birthplace",
            "birthcountry",
        ] {
            assert!(
                doc["claims_supported"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == claim),
                "{claim}"
            );
        }
        // DATA-2: statistics of one's use are a scope the person consents
        // to, never a claim a token carries.
        assert!(
            doc["scopes_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "usage_statistics")
        );
        assert!(
            !doc["claims_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == "usage_statistics")
        );
        let jwks: serde_json::Value =
            serde_json::from_str(&b.get("/oidc/jwks").await.body).unwrap();
        let algs: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap())
            .collect();
        assert_eq!(algs.len(), 2, "{}: one RS256 and one ES256 key", t.name);
        assert!(algs.contains(&"RS256") && algs.contains(&"ES256"));
        assert!(
            jwks.to_string().find("\"d\"").is_none(),
            "no private part in the JWKS"
        );
        // Private keys are sealed at rest: the stored bytes are not DER.
        let sealed: Vec<u8> = sqlx::Row::get(
            &sqlx::query("SELECT private_key FROM signing_keys LIMIT 1")
                .fetch_one(t.db.pool())
                .await
                .unwrap(),
            0,
        );
        // (It opens with the master key, and the stored bytes do not contain
        // the key in clear.)
        let opened = app
            .state
            .master_key
            .open(&sealed)
            .expect("sealed with the master key");
        assert!(
            !sealed.windows(opened.len()).any(|w| w == opened.as_slice()),
            "the private key is not stored in clear"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn rotation_keeps_the_old_public_keys_for_the_overlap_id_3() {
    let t = testing::sqlite().await;
    let app = TestApp::spawn(&t).await;
    let before = identity::oidc::keys::load(&t.db, &app.state.master_key)
        .await
        .unwrap()
        .jwks();
    let new = identity::oidc::keys::rotate(&t.db, &app.state.master_key)
        .await
        .unwrap();
    let ring = identity::oidc::keys::load(&t.db, &app.state.master_key)
        .await
        .unwrap();
    let after = ring.jwks();
    assert_eq!(
        after["keys"].as_array().unwrap().len(),
        4,
        "two new, two retired but still published"
    );
    for k in before["keys"].as_array().unwrap() {
        assert!(after["keys"].as_array().unwrap().contains(k));
    }
    assert_eq!(ring.signing("ES256").unwrap().kid, new[1]);
    assert_eq!(ring.signing("RS256").unwrap().kid, new[0]);
    app.stop().await;
}

const CLIENT: &str = "toodego";
const SECRET: &str = "demo-secret-toodego-0123456789abcdef";
const REDIRECT: &str = "http://localhost:3000/toodego/callback";

/// What a browser does with an attribute value.
fn html_unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

fn pkce() -> (String, String) {
    let verifier = kernel::random::token(48);
    let challenge = identity::oidc::jwt::b64(
        ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    (verifier, challenge)
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let q = location.split_once('?').map(|(_, q)| q).unwrap_or("");
    serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .unwrap()
        .into_iter()
        .collect()
}

fn authorize_path(challenge: &str, extra: &str) -> String {
    format!(
        "/oidc/authorize?response_type=code&client_id={CLIENT}&redirect_uri={}&scope=openid%20email%20profile&state=etat-123&nonce=nonce-456&code_challenge={challenge}&code_challenge_method=S256{extra}",
        kernel::web::auth::encode_component(REDIRECT)
    )
}

pub(crate) async fn token_request(
    app: &TestApp,
    fields: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, serde_json::Value) {
    let client = reqwest::Client::new();
    let mut r = client
        .post(app.url("/oidc/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap());
    if let Some((id, secret)) = basic {
        r = r.basic_auth(id, Some(secret));
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

async fn userinfo(app: &TestApp, access: &str) -> (StatusCode, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(app.url("/oidc/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or_default())
}

/// ID-3, ID-4: the authorization code flow with PKCE, consent with an
/// unticked claim, tokens, userinfo, single-use codes, refresh rotation and
/// reuse detection, client credentials.
#[tokio::test]
async fn the_code_flow_with_consent_tokens_and_userinfo_id_3_id_4() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let email = identity::domain::EmailAddress::parse("usager@exemple.fr").unwrap();
        let hash = kernel::password::hash_blocking("une phrase de passe");
        let fields = [(
            identity::domain::sheet::Field::GivenNames,
            "Camille".to_string(),
        )];
        let account = identity::store::create_inhabitant(&t.db, &email, &hash, true, &fields)
            .await
            .unwrap()
            .unwrap();
        let b = app.browser();
        let (verifier, challenge) = pkce();

        // Not logged in: to the login form, coming back afterwards.
        let first = b.get(&authorize_path(&challenge, "")).await;
        assert_eq!(first.status, StatusCode::SEE_OTHER);
        assert!(
            first
                .location()
                .starts_with("/connexion?retour=/oidc/authorize%3F"),
            "{}",
            first.location()
        );
        // The login page on the way to a service allows that service's origin
        // as a form target (Chromium applies form-action to the redirects
        // after a form); any other login page allows only itself.
        let csp = |p: &Page| {
            p.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .to_string()
        };
        let login = b.get(first.location()).await;
        assert!(
            csp(&login).contains("form-action 'self' http://localhost:3000;"),
            "{}",
            csp(&login)
        );
        assert!(csp(&b.get("/connexion?retour=/compte").await).contains("form-action 'self';"));
        b.login("usager@exemple.fr", "une phrase de passe").await;
        // ID-3: acr_values is a voluntary request (OpenID Connect Core
        // §3.1.2.1): eIDAS needs FranceConnect, so the ID token says what
        // this sign-in really was.
        let consent = b
            .get(&authorize_path(
                &challenge,
                "&acr_values=eidas1%20urn%3Amutualis%3Aacr%3Apassword",
            ))
            .await;
        assert!(csp(&consent).contains("form-action 'self' http://localhost:3000;"));
        assert_eq!(
            consent.status,
            StatusCode::OK,
            "{}: {}",
            t.name,
            consent.body
        );
        assert!(
            consent.body.contains("Toodego demande")
                && consent.body.contains("usager@exemple.fr")
                && consent.body.contains("Camille")
        );
        assert!(
            consent.body.contains("name=\"decision\" value=\"allow\"")
                && consent.body.contains("name=\"decision\" value=\"deny\"")
        );
        let request = {
            let marker = "name=\"request\" value=\"";
            let start = consent.body.find(marker).unwrap() + marker.len();
            html_unescape(&consent.body[start..start + consent.body[start..].find('"').unwrap()])
        };
        // Only the e-mail is ticked: the given name is not shared.
        let allowed = b
            .post_form(
                "/oidc/consent",
                &[
                    ("csrf_token", &consent.csrf()),
                    ("request", &request),
                    ("claims", "email"),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert_eq!(allowed.status, StatusCode::SEE_OTHER, "{}", allowed.body);
        let back = query_of(allowed.location());
        assert!(allowed.location().starts_with(REDIRECT));
        assert_eq!(back["state"], "etat-123");
        assert_eq!(back["iss"], app.base, "RFC 9207");
        let code = back["code"].clone();

        let wrong = token_request(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
            Some((CLIENT, "not-the-secret")),
        )
        .await;
        assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.1["error"], "invalid_client");
        let (status, tokens) = token_request(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}: {tokens}", t.name);
        let id_token = tokens["id_token"].as_str().unwrap();
        let parsed = identity::oidc::jwt::parse(id_token).unwrap();
        let jwks: serde_json::Value =
            serde_json::from_str(&app.browser().get("/oidc/jwks").await.body).unwrap();
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == parsed.header["kid"])
            .unwrap();
        assert!(
            identity::oidc::jwt::verify(&parsed, jwk),
            "the ID token verifies with the published key"
        );
        assert_eq!(parsed.header["alg"], "RS256");
        assert_eq!(parsed.claims["iss"], app.base);
        assert_eq!(parsed.claims["aud"], CLIENT);
        assert_eq!(parsed.claims["nonce"], "nonce-456");
        assert_eq!(parsed.claims["acr"], "urn:mutualis:acr:password");
        let sub = parsed.claims["sub"].as_str().unwrap().to_string();
        assert_ne!(sub, account.to_string(), "pairwise, not the account number");
        let other_sector = identity::oidc::store::pairwise_sub(&t.db, "laclasse", account)
            .await
            .unwrap();
        assert_ne!(sub, other_sector, "another sector sees another subject");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        assert_eq!(
            identity::oidc::jwt::parse(&access).unwrap().header["typ"],
            "at+jwt",
            "RFC 9068"
        );

        let (status, info) = userinfo(&app, &access).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(info["sub"], sub.as_str());
        assert_eq!(info["email"], "usager@exemple.fr");
        assert!(
            info.get("given_name").is_none(),
            "{}: the unticked claim is not given: {info}",
            t.name
        );

        // A second use of the code fails and revokes what the first gave.
        let reuse = token_request(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(reuse.1["error"], "invalid_grant");
        assert_eq!(userinfo(&app, &access).await.0, StatusCode::UNAUTHORIZED);

        // Consent given: a new authorization goes straight back with a code.
        let (verifier, challenge) = pkce();
        let again = b.get(&authorize_path(&challenge, "")).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER);
        let code = query_of(again.location())["code"].clone();
        let bad_pkce = token_request(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &pkce().0),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(
            bad_pkce.1["error"], "invalid_grant",
            "a verifier that does not match the challenge"
        );
        let (verifier2, challenge2) = pkce();
        let code =
            query_of(b.get(&authorize_path(&challenge2, "")).await.location())["code"].clone();
        let _ = verifier;
        let (_, tokens) = token_request(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier2),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
            ],
            None,
        )
        .await;
        let refresh1 = tokens["refresh_token"]
            .as_str()
            .expect("client_secret_post works")
            .to_string();
        let (status, rotated) = token_request(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh1),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        let refresh2 = rotated["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(refresh1, refresh2, "rotation");
        let replay = token_request(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh1),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(replay.1["error"], "invalid_grant");
        let after = token_request(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh2),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(
            after.1["error"], "invalid_grant",
            "{}: reuse revoked the whole family",
            t.name
        );
        assert_eq!(
            userinfo(&app, rotated["access_token"].as_str().unwrap())
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );

        // Service to service.
        let (status, own) = token_request(
            &app,
            &[("grant_type", "client_credentials")],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{own}");
        assert!(own.get("id_token").is_none() && own.get("refresh_token").is_none());
        assert_eq!(
            userinfo(&app, own["access_token"].as_str().unwrap())
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        // Not recorded (nothing written to issue it), yet introspection
        // knows it from its signature, and a revocation sticks.
        let own_token = own["access_token"].as_str().unwrap();
        let jti = identity::oidc::jwt::parse(own_token).unwrap().claims["jti"]
            .as_str()
            .unwrap()
            .to_string();
        let recorded = |jti: String| {
            let db = t.db.clone();
            async move {
                sqlx::query("SELECT revoked_at FROM oidc_tokens WHERE jti = $1")
                    .bind(jti)
                    .fetch_optional(db.pool())
                    .await
                    .unwrap()
                    .map(|r| sqlx::Row::get::<Option<i64>, _>(&r, 0))
            }
        };
        assert_eq!(recorded(jti.clone()).await, None, "{}", t.name);
        let active = introspect(&app, own_token, (CLIENT, SECRET)).await;
        assert_eq!(active["active"], true, "{active}");
        assert_eq!(active["sub"], CLIENT);
        assert_eq!(
            revoke(&app, own_token, (CLIENT, SECRET)).await,
            StatusCode::OK
        );
        assert!(
            recorded(jti).await.is_some_and(|r| r.is_some()),
            "recorded, revoked"
        );
        assert_eq!(
            introspect(&app, own_token, (CLIENT, SECRET)).await,
            serde_json::json!({ "active": false })
        );
        let personal = token_request(
            &app,
            &[("grant_type", "client_credentials"), ("scope", "email")],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(personal.1["error"], "invalid_scope");
        app.stop().await;
    }
}

/// Errors as the specifications say: to the person when the client or its
/// redirect URI cannot be trusted, to the redirect URI (with `state` and
/// `iss`) otherwise; JSON errors from the token endpoint; never a 500.
#[tokio::test]
async fn malformed_authorization_and_token_requests_get_the_specified_errors_id_3() {
    let t = testing::sqlite().await;
    let app = TestApp::spawn(&t).await;
    let b = app.browser();
    let unknown = b.get("/oidc/authorize?response_type=code&client_id=inconnu&redirect_uri=https%3A%2F%2Fevil.example%2Fcb").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body.contains("pas connu"));
    let unregistered = b.get(&format!("/oidc/authorize?response_type=code&client_id={CLIENT}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&scope=openid")).await;
    assert_eq!(
        unregistered.status,
        StatusCode::BAD_REQUEST,
        "never redirect to an unregistered URI"
    );
    let r = kernel::web::auth::encode_component(REDIRECT);
    for (query, error) in [
        (
            format!("response_type=token&client_id={CLIENT}&redirect_uri={r}&scope=openid&state=s"),
            "unsupported_response_type",
        ),
        (
            format!("response_type=code&client_id={CLIENT}&redirect_uri={r}&scope=email&state=s"),
            "invalid_scope",
        ),
        (
            format!(
                "response_type=code&client_id={CLIENT}&redirect_uri={r}&scope=openid%20admin&state=s"
            ),
            "invalid_scope",
        ),
        (
            format!(
                "response_type=code&client_id={CLIENT}&redirect_uri={r}&scope=openid&state=s&code_challenge=abc&code_challenge_method=plain"
            ),
            "invalid_request",
        ),
        (
            format!(
                "response_type=code&client_id={CLIENT}&redirect_uri={r}&scope=openid&state=s&prompt=bogus"
            ),
            "invalid_request",
        ),
        (
            format!(
                "response_type=code&client_id={CLIENT}&redirect_uri={r}&scope=openid&state=s&prompt=none"
            ),
            "login_required",
        ),
    ] {
        let page = b.get(&format!("/oidc/authorize?{query}")).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{query}");
        let back = query_of(page.location());
        assert_eq!(back["error"], error, "{query}");
        assert_eq!(back["state"], "s");
        assert_eq!(back["iss"], app.base);
    }
    for (fields, status, error) in [
        (
            vec![("grant_type", "authorization_code")],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
            ],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("client_id", CLIENT),
                ("client_secret", SECRET),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        ),
    ] {
        let (s, body) = token_request(&app, &fields, None).await;
        assert_eq!(
            (s, body["error"].as_str().unwrap()),
            (status, error),
            "{fields:?}"
        );
    }
    let raw = reqwest::Client::new()
        .post(app.url("/oidc/token"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let (s, _) = userinfo(&app, "not.a.token").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let none = reqwest::Client::new()
        .get(app.url("/oidc/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(
        none.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    app.stop().await;
}

/// A test peer that keeps what is POSTed to it (a service's back-channel
/// logout endpoint).
pub(crate) async fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/logout",
        axum::routing::post(move |body: String| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/logout"), got)
}

/// Logs `b` in (already logged in is fine), authorizes with consent, and
/// redeems the code. Returns the token response.
pub(crate) async fn code_flow(
    app: &TestApp,
    b: &Browser,
    client_id: &str,
    secret: &str,
    redirect: &str,
) -> serde_json::Value {
    code_flow_with(
        app,
        b,
        (client_id, secret, redirect),
        "openid email",
        &["email"],
    )
    .await
    .1
}

/// The code flow asking for `scope`, ticking `ticked` on the consent
/// screen. Returns the consent screen (empty when it was not shown) and the
/// token response.
pub(crate) async fn code_flow_with(
    app: &TestApp,
    b: &Browser,
    (client_id, secret, redirect): (&str, &str, &str),
    scope: &str,
    ticked: &[&str],
) -> (String, serde_json::Value) {
    let (verifier, challenge) = pkce();
    let path = format!(
        "/oidc/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope={}&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256",
        kernel::web::auth::encode_component(redirect),
        kernel::web::auth::encode_component(scope)
    );
    let mut page = b.get(&path).await;
    let mut screen = String::new();
    if page.status == StatusCode::OK {
        let marker = "name=\"request\" value=\"";
        let start = page.body.find(marker).unwrap() + marker.len();
        let request =
            html_unescape(&page.body[start..start + page.body[start..].find('"').unwrap()]);
        let csrf = page.csrf();
        let mut fields = vec![("csrf_token", csrf.as_str()), ("request", request.as_str())];
        fields.extend(ticked.iter().map(|c| ("claims", *c)));
        fields.push(("decision", "allow"));
        screen = std::mem::take(&mut page.body);
        page = b.post_form("/oidc/consent", &fields).await;
    }
    let code = query_of(page.location())["code"].clone();
    let tokens = token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ],
        Some((client_id, secret)),
    )
    .await
    .1;
    (screen, tokens)
}

async fn introspect(app: &TestApp, token: &str, client: (&str, &str)) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(app.url("/oidc/introspect"))
        .basic_auth(client.0, Some(client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("token", token)]).unwrap())
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

async fn revoke(app: &TestApp, token: &str, client: (&str, &str)) -> StatusCode {
    reqwest::Client::new()
        .post(app.url("/oidc/revoke"))
        .basic_auth(client.0, Some(client.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("token", token)]).unwrap())
        .send()
        .await
        .unwrap()
        .status()
}

/// RFC 7009 and RFC 7662, then ID-4's withdrawal: the service's tokens die,
/// it receives a signed back-channel logout token, and a receipt records it.
#[tokio::test]
async fn revocation_introspection_and_withdrawn_consent_id_3_id_4() {
    let t = testing::sqlite().await;
    let app = TestApp::spawn(&t).await;
    let (logout_uri, received) = receiver().await;
    let new = identity::oidc::clients::NewClient {
        name: "Service de test".into(),
        redirect_uris: vec!["http://localhost:4000/cb".into()],
        backchannel_logout_uri: Some(logout_uri),
        scopes: vec!["openid".into(), "email".into()],
        id_token_alg: Some("ES256".into()),
        ..Default::default()
    };
    let (id, secret) = identity::oidc::clients::create(&t.db, kernel::audit::Actor::Cli, &new)
        .await
        .unwrap()
        .unwrap();
    let secret = secret.unwrap();
    let b = app.browser();
    b.login(HELP_AGENT, PASSWORD).await;
    let tokens = code_flow(&app, &b, &id, &secret, "http://localhost:4000/cb").await;
    let id_token = identity::oidc::jwt::parse(tokens["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(id_token.header["alg"], "ES256", "ES256 per client");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let active = introspect(&app, access, (&id, &secret)).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], id.as_str());
    assert_eq!(
        introspect(&app, refresh, (&id, &secret)).await["token_type"],
        "refresh_token"
    );
    assert_eq!(
        introspect(&app, "nonsense", (&id, &secret)).await,
        serde_json::json!({ "active": false })
    );
    assert_eq!(revoke(&app, access, (&id, &secret)).await, StatusCode::OK);
    assert_eq!(
        introspect(&app, access, (&id, &secret)).await["active"],
        false
    );
    assert_eq!(
        revoke(&app, "unknown-token", (&id, &secret)).await,
        StatusCode::OK,
        "RFC 7009: unknown tokens too"
    );
    assert_eq!(
        revoke(&app, access, (&id, "wrong")).await,
        StatusCode::UNAUTHORIZED
    );

    // A second grant, then the user withdraws the consent.
    let tokens = code_flow(&app, &b, &id, &secret, "http://localhost:4000/cb").await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let page = b.get("/compte/consentements").await;
    assert!(page.body.contains("Service de test") && page.body.contains("Retirer mon accord"));
    let done = b
        .post_form(
            "/compte/consentements/retrait",
            &[("csrf_token", &page.csrf()), ("client_id", &id)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let after = token_request(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        Some((&id, &secret)),
    )
    .await;
    assert_eq!(
        after.1["error"], "invalid_grant",
        "withdrawing kills the service's refresh tokens"
    );
    // The outbox delivers the back-channel logout token to the service.
    let deliverer = kernel::outbox::Deliverer::new(
        t.db.clone(),
        kernel::mail::MailConfig::new(None, "a@b.fr", tempfile::tempdir().unwrap().path()).unwrap(),
    );
    deliverer.run_once(10).await.unwrap();
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let token = bodies[0].strip_prefix("logout_token=").unwrap();
    let logout = identity::oidc::jwt::parse(token).unwrap();
    let jwks: serde_json::Value =
        serde_json::from_str(&app.browser().get("/oidc/jwks").await.body).unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == logout.header["kid"])
        .unwrap();
    assert!(identity::oidc::jwt::verify(&logout, jwk));
    assert_eq!(logout.header["typ"], "logout+jwt");
    assert_eq!(logout.claims["aud"], id.as_str());
    assert!(
        logout.claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object()
    );
    assert_eq!(logout.claims["sub"], id_token.claims["sub"]);
    assert!(logout.claims.get("nonce").is_none());

    // The history keeps both records, each with a receipt.
    let page = b.get("/compte/consentements").await;
    assert!(
        page.body.contains("Aucun accord en cours")
            && page.body.contains("retiré")
            && page.body.contains("donné")
    );
    let history = identity::oidc::consents::history(
        &t.db,
        identity::store::account_by_email(
            &t.db,
            &identity::domain::EmailAddress::parse(HELP_AGENT).unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .id,
    )
    .await
    .unwrap();
    let receipt: serde_json::Value = serde_json::from_str(
        &b.get(&format!("/compte/consentements/{}/recu", history[1].id))
            .await
            .body,
    )
    .unwrap();
    for field in [
        "version",
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "piiPrincipalId",
        "piiControllers",
        "policyUrl",
        "services",
        "sensitive",
    ] {
        assert!(
            !receipt[field].is_null(),
            "{field} missing from the receipt"
        );
    }
    assert_eq!(
        receipt["services"][0]["purposes"][0]["piiCategory"],
        serde_json::json!(["email"])
    );
    let other = app.browser();
    other.login(COMMUNE_ADMIN, PASSWORD).await;
    assert_eq!(
        other
            .get(&format!("/compte/consentements/{}/recu", history[1].id))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "another user's receipt"
    );
    app.stop().await;
}

/// ID-3: RP-initiated logout with `id_token_hint` and a registered
/// `post_logout_redirect_uri`; every service of the session gets a
/// back-channel logout token with the session's `sid`.
#[tokio::test]
async fn rp_initiated_logout_ends_the_session_everywhere_id_3() {
    let t = testing::sqlite().await;
    let app = TestApp::spawn(&t).await;
    let (logout_uri, received) = receiver().await;
    let new = identity::oidc::clients::NewClient {
        name: "Service à l'écoute".into(),
        redirect_uris: vec!["http://localhost:4000/cb".into()],
        post_logout_redirect_uris: vec!["http://localhost:4000/au-revoir".into()],
        backchannel_logout_uri: Some(logout_uri),
        scopes: vec!["openid".into(), "email".into()],
        ..Default::default()
    };
    let (id, secret) = identity::oidc::clients::create(&t.db, kernel::audit::Actor::Cli, &new)
        .await
        .unwrap()
        .unwrap();
    let secret = secret.unwrap();
    let b = app.browser();
    b.login(HELP_AGENT, PASSWORD).await;
    let tokens = code_flow(&app, &b, &id, &secret, "http://localhost:4000/cb").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let sid = identity::oidc::jwt::parse(id_token).unwrap().claims["sid"].clone();

    // An unregistered post-logout URI is never followed.
    let stranger = app.browser();
    let page = stranger
        .get("/oidc/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Vous êtes déconnecté"));

    let done = b
        .get(&format!(
            "/oidc/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=au-revoir-1",
            kernel::web::auth::encode_component("http://localhost:4000/au-revoir")
        ))
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(
        done.location(),
        "http://localhost:4000/au-revoir?state=au-revoir-1"
    );
    assert_eq!(
        b.get("/compte").await.status,
        StatusCode::SEE_OTHER,
        "the platform session is over"
    );
    let deliverer = kernel::outbox::Deliverer::new(
        t.db.clone(),
        kernel::mail::MailConfig::new(None, "a@b.fr", tempfile::tempdir().unwrap().path()).unwrap(),
    );
    deliverer.run_once(10).await.unwrap();
    let bodies = received.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let logout =
        identity::oidc::jwt::parse(bodies[0].strip_prefix("logout_token=").unwrap()).unwrap();
    assert_eq!(logout.claims["sid"], sid, "the session's sid");

    // Without a hint the user confirms before being signed out.
    let c = app.browser();
    c.login(COMMUNE_ADMIN, PASSWORD).await;
    let ask = c.get(&format!("/oidc/logout?client_id={id}")).await;
    assert!(ask.body.contains("Me déconnecter"), "{}", ask.body);
    assert_eq!(
        c.get("/compte").await.status,
        StatusCode::OK,
        "not signed out before confirming"
    );
    let marker = "name=\"request\" value=\"";
    let start = ask.body.find(marker).unwrap() + marker.len();
    let request = html_unescape(&ask.body[start..start + ask.body[start..].find('"').unwrap()]);
    let confirmed = c
        .post_form(
            "/oidc/logout",
            &[("csrf_token", &ask.csrf()), ("request", &request)],
        )
        .await;
    assert!(confirmed.body.contains("Vous êtes déconnecté"));
    assert_eq!(c.get("/compte").await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

/// ID-3: the metropolis's administrators register services from the staff
/// pages; the secret is shown once; communes' staff cannot.
#[tokio::test]
async fn staff_register_clients_from_the_back_office_id_3() {
    let t = testing::sqlite().await;
    let app = TestApp::spawn(&t).await;
    let admin = app.browser();
    admin.login(METROPOLIS_ADMIN, PASSWORD).await;
    let page = admin.get("/gestion/clients").await;
    assert!(page.body.contains("toodego") && page.body.contains("laclasse"));
    let bad = admin
        .post_form(
            "/gestion/clients",
            &[
                ("csrf_token", &page.csrf()),
                ("name", "Mauvais"),
                ("redirect_uris", "http://evil.example/cb"),
                ("scope", "openid"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Rien n&#39;a été créé") || bad.body.contains("Rien n'a été créé"));
    let ok = admin
        .post_form(
            "/gestion/clients",
            &[
                ("csrf_token", &page.csrf()),
                ("name", "Démarches"),
                ("redirect_uris", "https://demarches.example/cb"),
                ("scope", "openid email"),
                ("id_token_alg", "ES256"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert!(ok.body.contains("Secret, affiché une seule fois"));
    let all = identity::oidc::clients::all(&t.db).await.unwrap();
    let created = all.iter().find(|c| c.name == "Démarches").unwrap();
    assert_eq!(created.id_token_alg, "ES256");
    assert!(created.secret_sha256.is_some());
    let commune = app.browser();
    commune.login(COMMUNE_ADMIN, PASSWORD).await;
    assert_eq!(
        commune.get("/gestion/clients").await.status,
        StatusCode::FORBIDDEN
    );
    app.stop().await;
}

/// ID-8: the export holds the sheet, consents, sessions and journal entries;
/// deleting needs the password, ends consents, revokes tokens, erases the
/// personal data and leaves a tombstone; inactive inhabitants are warned at
/// 730 days and deleted at 760.
#[tokio::test]
async fn export_and_deletion_of_an_account_id_8() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let email = identity::domain::EmailAddress::parse("partant@exemple.fr").unwrap();
        let hash = kernel::password::hash_blocking("une phrase de passe");
        let fields = [(
            identity::domain::sheet::Field::FamilyName,
            "Départ".to_string(),
        )];
        let id = identity::store::create_inhabitant(&t.db, &email, &hash, true, &fields)
            .await
            .unwrap()
            .unwrap();
        let b = app.browser();
        b.login("partant@exemple.fr", "une phrase de passe").await;
        let tokens = code_flow(&app, &b, CLIENT, SECRET, REDIRECT).await;
        let export = b
            .client
            .get(app.url("/compte/donnees/export"))
            .send()
            .await
            .unwrap();
        assert!(
            export.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("attachment")
        );
        let data: serde_json::Value = export.json().await.unwrap();
        assert_eq!(data["account"]["email"], "partant@exemple.fr");
        assert_eq!(data["identity_sheet"][0]["value"], "Départ");
        assert_eq!(data["consents"][0]["event"], "given");
        assert!(!data["sessions"].as_array().unwrap().is_empty());
        assert!(
            data["journal_entries_about_me"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["action"] == "login.success")
        );

        let page = b.get("/compte/donnees").await;
        let wrong = b
            .post_form(
                "/compte/donnees/suppression",
                &[
                    ("csrf_token", &page.csrf()),
                    ("password", "pas le bon"),
                    ("confirm", "oui"),
                ],
            )
            .await;
        assert!(
            wrong.body.contains("n&#39;a pas été supprimé")
                || wrong.body.contains("n'a pas été supprimé"),
            "{}",
            wrong.body
        );
        let gone = b
            .post_form(
                "/compte/donnees/suppression",
                &[
                    ("csrf_token", &page.csrf()),
                    ("password", "une phrase de passe"),
                    ("confirm", "oui"),
                ],
            )
            .await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER);
        assert!(
            identity::store::account_by_email(&t.db, &email)
                .await
                .unwrap()
                .is_none(),
            "{}: the address is gone",
            t.name
        );
        assert!(identity::store::sheet(&t.db, id).await.unwrap().is_empty());
        assert_eq!(
            identity::oidc::consents::latest(&t.db, id, CLIENT)
                .await
                .unwrap()
                .unwrap()
                .event,
            "ended_by_deletion"
        );
        let refresh = token_request(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(refresh.1["error"], "invalid_grant");
        let journal = kernel::audit::latest(&t.db, None, 5).await.unwrap();
        assert!(
            journal
                .iter()
                .any(|e| e.action == "account.deleted" && e.target == format!("account:{id}")),
            "the tombstone"
        );
        assert!(kernel::audit::verify(&t.db).await.unwrap().is_ok());

        // Inactivity: one idle for 731 days is warned, one for 761 deleted.
        let make = |mail: &'static str| {
            let db = t.db.clone();
            async move {
                let e = identity::domain::EmailAddress::parse(mail).unwrap();
                identity::store::create_inhabitant(&db, &e, "x", true, &[])
                    .await
                    .unwrap()
                    .unwrap()
            }
        };
        let (idle, gone_idle) = (
            make("dormeur@exemple.fr").await,
            make("absent@exemple.fr").await,
        );
        let day = 24 * 3600 * 1000_i64;
        let now = kernel::clock::now_ms();
        for (account, days) in [(idle, 731), (gone_idle, 761)] {
            sqlx::query("UPDATE accounts SET last_login_at = $1 WHERE id = $2")
                .bind(now - days * day)
                .bind(account)
                .execute(t.db.pool())
                .await
                .unwrap();
        }
        let today = kernel::clock::today();
        assert_eq!(
            identity::store::rights::daily(&t.db, today).await.unwrap(),
            Some(identity::store::rights::DailyReport {
                warned: 1,
                deleted: 1,
                consents_expired: 0
            }),
            "{}",
            t.name
        );
        assert_eq!(
            identity::store::rights::daily(&t.db, today).await.unwrap(),
            None,
            "once a day"
        );
        assert!(
            identity::store::account_by_email(
                &t.db,
                &identity::domain::EmailAddress::parse("absent@exemple.fr").unwrap()
            )
            .await
            .unwrap()
            .is_none()
        );
        assert!(
            identity::store::account_by_email(
                &t.db,
                &identity::domain::EmailAddress::parse("dormeur@exemple.fr").unwrap()
            )
            .await
            .unwrap()
            .is_some()
        );
        let warnings: i64 = sqlx::Row::get(
            &sqlx::query(
                "SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'inactive-warning:%'",
            )
            .fetch_one(t.db.pool())
            .await
            .unwrap(),
            0,
        );
        assert_eq!(warnings, 1);
        app.stop().await;
    }
}

/// ID-4: a consent past its lifetime gets an `expired` record from the daily
/// job, the service's tokens die, and the next sign-in asks again.
#[tokio::test]
async fn consents_expire_after_their_lifetime_id_4() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let b = app.browser();
        b.login(HELP_AGENT, PASSWORD).await;
        let tokens = code_flow(&app, &b, CLIENT, SECRET, REDIRECT).await;
        let agent = identity::store::account_by_email(
            &t.db,
            &identity::domain::EmailAddress::parse(HELP_AGENT).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        let given = identity::oidc::consents::latest(&t.db, agent.id, CLIENT)
            .await
            .unwrap()
            .unwrap();
        // The demo clients keep the default lifetime: 12 months (365 days).
        assert_eq!(given.expires_at, Some(given.at + 365 * 24 * 3600 * 1000));

        // Not yet due: nothing happens.
        let day_before = given.expires_at.unwrap() - 1;
        assert_eq!(
            identity::oidc::consents::expire_due(&t.db, day_before)
                .await
                .unwrap(),
            0
        );
        // Due: the daily job records the expiry, once.
        sqlx::query("UPDATE consent_records SET expires_at = $1 WHERE id = $2")
            .bind(kernel::clock::now_ms() - 1)
            .bind(given.id)
            .execute(t.db.pool())
            .await
            .unwrap();
        let report = identity::store::rights::daily(&t.db, kernel::clock::today())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.consents_expired, 1, "{}", t.name);
        let now = kernel::clock::now_ms();
        assert_eq!(
            identity::oidc::consents::expire_due(&t.db, now)
                .await
                .unwrap(),
            0,
            "already recorded"
        );
        let latest = identity::oidc::consents::latest(&t.db, agent.id, CLIENT)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (latest.event.as_str(), latest.method.as_str()),
            ("expired", "expiry")
        );
        assert_eq!(latest.granted, given.granted, "what ended is recorded");
        let refresh = token_request(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
            Some((CLIENT, SECRET)),
        )
        .await;
        assert_eq!(refresh.1["error"], "invalid_grant", "{}", t.name);
        // The next authorization shows the consent screen again.
        let (_, challenge) = pkce();
        let again = b.get(&authorize_path(&challenge, "")).await;
        assert_eq!(again.status, StatusCode::OK);
        assert!(again.body.contains("name=\"decision\" value=\"allow\""));
        // The user's page lists it among past consents, with its receipt.
        let page = b.get("/compte/consentements").await;
        assert!(page.body.contains("<td>expiré</td>"), "{}", page.body);
        app.stop().await;
    }
}

/// ID-3 and ID-4, the request parameters one by one: `prompt=consent` and
/// `prompt=login` ask again, `max_age` bounds the session's age,
/// `login_hint` fills the login form, PKCE is required for public clients
/// and clients set so; a consent is asked again for more claims or a new
/// privacy-notice version, and not otherwise.
#[tokio::test]
async fn prompt_max_age_login_hint_pkce_and_consent_renewal_id_3_id_4() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let b = app.browser();
        b.login(HELP_AGENT, PASSWORD).await;
        code_flow(&app, &b, CLIENT, SECRET, REDIRECT).await; // consent to email
        let (_, challenge) = pkce();
        let path = |scope: &str, extra: &str| {
            format!(
                "/oidc/authorize?response_type=code&client_id={CLIENT}&redirect_uri={}&scope={scope}&state=s&code_challenge={challenge}&code_challenge_method=S256{extra}",
                kernel::web::auth::encode_component(REDIRECT)
            )
        };
        let is_code = |p: &Page| {
            p.status == StatusCode::SEE_OTHER && query_of(p.location()).contains_key("code")
        };
        let is_consent = |p: &Page| {
            p.status == StatusCode::OK && p.body.contains("name=\"decision\" value=\"allow\"")
        };
        let is_login = |p: &Page| {
            p.status == StatusCode::SEE_OTHER && p.location().starts_with("/connexion?retour=")
        };

        // Remembered consent: straight back with a code.
        assert!(
            is_code(&b.get(&path("openid%20email", "")).await),
            "{}",
            t.name
        );
        // prompt=consent asks again anyway.
        assert!(is_consent(
            &b.get(&path("openid%20email", "&prompt=consent")).await
        ));
        // More claims than consented: asked again.
        assert!(is_consent(
            &b.get(&path("openid%20email%20profile", "")).await
        ));
        // prompt=login and a max_age the session exceeds send to the login
        // form; a max_age it meets does not.
        assert!(is_login(
            &b.get(&path("openid%20email", "&prompt=login")).await
        ));
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert!(is_login(
            &b.get(&path("openid%20email", "&max_age=0")).await
        ));
        assert!(is_code(
            &b.get(&path("openid%20email", "&max_age=3600")).await
        ));
        // A new version of the service's privacy notice: asked again.
        sqlx::query("UPDATE oidc_clients SET privacy_notice_version = 'v2' WHERE client_id = $1")
            .bind(CLIENT)
            .execute(t.db.pool())
            .await
            .unwrap();
        assert!(
            is_consent(&b.get(&path("openid%20email", "")).await),
            "{}",
            t.name
        );

        // login_hint fills the login form of someone not signed in.
        let stranger = app.browser();
        let hinted = stranger
            .get(&path("openid%20email", "&login_hint=camille%40exemple.fr"))
            .await;
        assert!(is_login(&hinted));
        assert!(
            hinted.location().ends_with("&email=camille%40exemple.fr"),
            "{}",
            hinted.location()
        );
        let form = stranger.get(hinted.location()).await;
        assert!(
            form.body.contains("value=\"camille@exemple.fr\""),
            "the form is filled"
        );

        // PKCE: required for a public client and a client set so; optional
        // for the others.
        for (public, require_pkce, required) in [
            (true, false, true),
            (false, true, true),
            (false, false, false),
        ] {
            let new = identity::oidc::clients::NewClient {
                name: format!("Service {public} {require_pkce}"),
                redirect_uris: vec!["http://localhost:4000/cb".into()],
                scopes: vec!["openid".into()],
                public,
                require_pkce,
                ..Default::default()
            };
            let (id, _) = identity::oidc::clients::create(&t.db, kernel::audit::Actor::Cli, &new)
                .await
                .unwrap()
                .unwrap();
            let page = b
                .get(&format!(
                    "/oidc/authorize?response_type=code&client_id={id}&redirect_uri=http%3A%2F%2Flocalhost%3A4000%2Fcb&scope=openid&state=s"
                ))
                .await;
            assert_eq!(page.status, StatusCode::SEE_OTHER);
            let back = query_of(page.location());
            assert_eq!(
                back.get("error").map(String::as_str),
                required.then_some("invalid_request"),
                "public {public}, require_pkce {require_pkce}: {}",
                page.location()
            );
        }
        app.stop().await;
    }
}
