//! Bad input at every identity endpoint (ID-1 to ID-8, OPS-7): each malformed
//! or hostile request gets a clear error — a French page for people, JSON for
//! the OAuth API endpoints — never a 500, and creates nothing.

use kernel::testing;
use reqwest::StatusCode;
use sqlx::Row;

use crate::support::*;

/// Values a hostile or broken client sends, for every field.
fn hostile_values() -> Vec<String> {
    vec![
        String::new(),
        "é".repeat(50_000),
        "\0<script>alert(1)</script>'\"; DROP TABLE accounts; --".into(),
        "../../etc/passwd".into(),
        "https://evil.example/".into(),
        "-1".into(),
        "99999999999999999999999".into(),
    ]
}

/// The forms, each with its fields (by their real names).
const FORMS: &[(&str, &[&str])] = &[
    ("/connexion", &["email", "password", "retour"]),
    ("/inscription", &["email", "password", "confirmation"]),
    ("/inscription/verification", &["jeton"]),
    ("/mot-de-passe-oublie", &["email"]),
    (
        "/aide",
        &["topic", "subject", "message", "email", "commune", "page"],
    ),
    ("/aide/suivi/SAU-2026-000001", &["jeton", "message"]),
    (
        "/mot-de-passe/reinitialisation",
        &["jeton", "password", "confirmation"],
    ),
    (
        "/compte/identite",
        &[
            "given_name",
            "family_name",
            "birthdate",
            "gender",
            "phone_number",
            "commune",
        ],
    ),
    (
        "/compte/mot-de-passe",
        &["current", "password", "confirmation"],
    ),
    ("/compte/consentements/retrait", &["client_id"]),
    ("/compte/donnees/suppression", &["password", "confirm"]),
    ("/compte/verification/renvoyer", &[]),
    ("/oidc/consent", &["request", "claims", "decision"]),
    ("/gestion/2fa", &["code", "retour"]),
    (
        "/gestion/clients",
        &[
            "name",
            "redirect_uris",
            "post_logout_redirect_uris",
            "backchannel_logout_uri",
            "scope",
            "public",
            "sector",
            "id_token_alg",
        ],
    ),
    (
        "/gestion/comptes/nouveau",
        &["email", "display_name", "grant"],
    ),
    ("/gestion/comptes/abc/roles", &["grant"]),
    ("/gestion/comptes/1/roles", &["grant"]),
    ("/gestion/comptes/1/roles/retrait", &["grant"]),
    // Last: confirming a logout ends the session, whatever the request says.
    ("/oidc/logout", &["request"]),
];

const PAGES: &[&str] = &[
    "/connexion?retour=https%3A%2F%2Fevil.example",
    "/connexion?retour=%FF%FE",
    "/inscription/verification?jeton=%00%FF",
    "/mot-de-passe/reinitialisation?jeton=",
    "/compte?bienvenue=%FF",
    "/compte/consentements/abc/recu",
    "/compte/consentements/99999999999999999999/recu",
    "/compte/consentements/-1/recu",
    "/compte/donnees/export?x=%FF",
    "/gestion/comptes/abc",
    "/gestion/comptes/99999999999999999999",
    "/gestion/journal?avant=abc",
    "/gestion/2fa?retour=https%3A%2F%2Fevil.example",
    "/oidc/authorize",
    "/oidc/authorize?client_id=%FF%FE&redirect_uri=%00",
    "/oidc/authorize?response_type=code&client_id=toodego&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Ftoodego%2Fcallback&scope=openid&max_age=-5&state=s",
    "/oidc/authorize?response_type=code&client_id=toodego&client_id=laclasse",
    "/oidc/logout?id_token_hint=a.b.c&post_logout_redirect_uri=https%3A%2F%2Fevil.example",
    "/oidc/logout?id_token_hint=%FF",
    "/oidc/authorize?client_id=%00&redirect_uri=x",
    "/connexion?retour=%1B%5B2J",
    "/aide?service=%FF&page=javascript%3Aalert(1)",
    "/aide?page=http%3A%2F%2Fa%20b&service=toodego&category=%00",
    "/aide/suivi/SAU-2026-000001?jeton=%FF%FE",
    "/aide/suivi/..%2F..%2Fetc?jeton=x",
];

async fn counts(app: &TestApp) -> (i64, i64, i64, i64) {
    let one = |sql: &'static str| {
        let db = app.state.db.clone();
        async move {
            sqlx::query(sql)
                .fetch_one(db.pool())
                .await
                .unwrap()
                .get::<i64, _>(0)
        }
    };
    (
        one("SELECT COUNT(*) FROM accounts").await,
        one("SELECT COUNT(*) FROM consent_records").await,
        one("SELECT COUNT(*) FROM oidc_clients").await,
        one("SELECT COUNT(*) FROM oidc_tokens").await,
    )
}

/// A page answer: no server error; an error is a French HTML page.
fn assert_page(what: &str, status: StatusCode, content_type: &str, body: &str) {
    assert!(!status.is_server_error(), "{what}: {status}\n{body}");
    if status.is_client_error() {
        assert!(
            content_type.starts_with("text/html") && body.contains("lang=\"fr\""),
            "{what}: {status} answered {content_type:?}, not a French page"
        );
    }
}

async fn sweep_forms(b: &Browser, who: &str) {
    for path in PAGES {
        let p = b.get(path).await;
        let ct = p
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert_page(&format!("{who} GET {path}"), p.status, &ct, &p.body);
    }
    let csrf = b.get("/connexion").await.csrf();
    for (path, fields) in FORMS {
        let mut bodies: Vec<String> = Vec::new();
        for value in hostile_values() {
            let mut pairs: Vec<(&str, &str)> = vec![("csrf_token", &csrf)];
            pairs.extend(fields.iter().map(|f| (*f, value.as_str())));
            bodies.push(serde_urlencoded::to_string(&pairs).unwrap());
        }
        // Invalid UTF-8, a field given twice, no field at all, no token.
        let raw: String = fields.iter().map(|f| format!("&{f}=%FF%FE")).collect();
        bodies.push(format!("csrf_token={csrf}{raw}"));
        let twice: String = fields.iter().map(|f| format!("&{f}=a&{f}=b")).collect();
        bodies.push(format!("csrf_token={csrf}{twice}"));
        bodies.push(format!("csrf_token={csrf}"));
        bodies.push("a=%%%&&==".into());
        for body in bodies {
            let r = b
                .client
                .post(format!("{}{path}", b.base))
                .header("origin", &b.base)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let (status, ct) = (r.status(), content_type(&r));
            let text = r.text().await.unwrap();
            let what = format!("{who} POST {path} {}", &body[..body.len().min(80)]);
            assert_page(&what, status, &ct, &text);
        }
        // A JSON body where a form is expected.
        let r = b
            .client
            .post(format!("{}{path}", b.base))
            .header("origin", &b.base)
            .header("content-type", "application/json")
            .body("{\"email\": []}")
            .send()
            .await
            .unwrap();
        let (status, ct) = (r.status(), content_type(&r));
        let text = r.text().await.unwrap();
        assert_page(&format!("{who} JSON to {path}"), status, &ct, &text);
    }
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The OAuth endpoints answer JSON errors (RFC 6749 §5.2, RFC 7009, RFC
/// 7662, RFC 6750 §3).
async fn sweep_api(app: &TestApp) {
    let http = reqwest::Client::new();
    for path in ["/oidc/token", "/oidc/revoke", "/oidc/introspect"] {
        let mut bodies: Vec<(String, &str)> = hostile_values()
            .into_iter()
            .map(|v| {
                let pairs = [
                    ("grant_type", v.as_str()),
                    ("code", v.as_str()),
                    ("token", v.as_str()),
                    ("client_id", v.as_str()),
                    ("client_secret", v.as_str()),
                    ("redirect_uri", v.as_str()),
                    ("code_verifier", v.as_str()),
                    ("refresh_token", v.as_str()),
                    ("scope", v.as_str()),
                ];
                (
                    serde_urlencoded::to_string(pairs).unwrap(),
                    "application/x-www-form-urlencoded",
                )
            })
            .collect();
        bodies.push((
            "grant_type=%FF&client_id=%FE".into(),
            "application/x-www-form-urlencoded",
        ));
        bodies.push(("{\"grant_type\": 1}".into(), "application/json"));
        bodies.push((String::new(), "text/plain"));
        for auth in [None, Some("Basic %%%"), Some("Basic dG9vZGVnbzp3cm9uZw==")] {
            for (body, ct) in &bodies {
                let mut request = http
                    .post(app.url(path))
                    .header("content-type", *ct)
                    .body(body.clone());
                if let Some(a) = auth {
                    request = request.header("authorization", a);
                }
                let r = request.send().await.unwrap();
                let status = r.status();
                let ctype = content_type(&r);
                let text = r.text().await.unwrap();
                let what = format!("POST {path} ({auth:?}) {}", &body[..body.len().min(60)]);
                assert!(!status.is_server_error(), "{what}: {status} {text}");
                if status.is_client_error() {
                    let json: serde_json::Value = serde_json::from_str(&text)
                        .unwrap_or_else(|_| panic!("{what}: {status} not JSON: {text}"));
                    assert!(json["error"].is_string(), "{what}: {json}");
                    assert!(ctype.starts_with("application/json"), "{what}: {ctype}");
                }
            }
        }
    }
    for auth in [
        "Bearer",
        "Bearer ",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
        "Basic dG9vZGVnbzp4",
        "Bearer \u{7f}",
    ] {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let Ok(r) = http
                .request(method.clone(), app.url("/oidc/userinfo"))
                .header("authorization", auth)
                .send()
                .await
            else {
                continue; // a header value reqwest itself refuses to send
            };
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "{method} userinfo with {auth:?}"
            );
            assert!(
                r.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "RFC 6750 §3"
            );
        }
    }
}

#[tokio::test]
async fn hostile_input_at_every_identity_endpoint_is_refused_cleanly() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let before = counts(&app).await;

        sweep_forms(&app.browser(), "anonymous").await;
        let staff = app.browser();
        staff.login(METROPOLIS_ADMIN, PASSWORD).await;
        sweep_forms(&staff, "metropolis admin").await;
        sweep_api(&app).await;

        // Nothing was created: no account, consent, client or token, and
        // the only sessions are the staff member's.
        assert_eq!(counts(&app).await, before, "{}", t.name);
        let sessions: i64 = sqlx::query("SELECT COUNT(*) FROM sessions")
            .fetch_one(t.db.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            sessions, 1,
            "{}: only the staff login opened a session",
            t.name
        );
        assert!(kernel::audit::verify(&t.db).await.unwrap().is_ok());
        app.stop().await;
    }
}
