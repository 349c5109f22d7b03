//! ID-7: staff pages need a TOTP second factor — enrolment, codes used once,
//! recovery codes, back-off, reset by an operator — on SQLite and PostgreSQL.

use identity::domain::{EmailAddress, totp};
use kernel::audit::Actor;
use kernel::testing;
use kernel::web::{Role, Scope};
use reqwest::StatusCode;

use crate::support::*;

const NEWCOMER: &str = "nouvelle@villeurbanne.demo";

/// A referent of Villeurbanne who has never enrolled.
async fn newcomer(app: &TestApp) -> i64 {
    let villeurbanne = agreements::store::commune(&app.state.db, &Scope::All, "69266")
        .await
        .unwrap()
        .unwrap();
    let hash = app.state.hasher.hash(PASSWORD.to_string()).await;
    identity::store::create_account(
        &app.state.db,
        Actor::System,
        &EmailAddress::parse(NEWCOMER).unwrap(),
        "Nora Nouvelle",
        Some(&hash),
        Some((Role::Referent, villeurbanne.id)),
    )
    .await
    .unwrap()
    .unwrap()
}

fn current_code(secret: &[u8], offset: i64) -> String {
    let step = totp::step_of(kernel::clock::now_ms() / 1000) + offset;
    format!("{:06}", totp::code(secret, step))
}

async fn submit(b: &Browser, code: &str) -> Page {
    let form = b.get("/gestion/2fa").await;
    b.post_form(
        "/gestion/2fa",
        &[
            ("csrf_token", &form.csrf()),
            ("code", code),
            ("retour", "/gestion/communes/69266"),
        ],
    )
    .await
}

fn one_second() -> tokio::time::Sleep {
    // Past the back-off a refused code starts (1 s, ID-1).
    tokio::time::sleep(std::time::Duration::from_millis(1100))
}

#[tokio::test]
async fn staff_enrol_then_each_code_and_recovery_code_serves_once_id_7() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        newcomer(&app).await;
        let b = app.browser();
        b.sign_in(NEWCOMER, PASSWORD).await;

        // Every back-office page leads to enrolment first, keeping the target.
        let gate = b.get("/gestion/communes/69266").await;
        assert_eq!(gate.status, StatusCode::SEE_OTHER, "{}", t.name);
        assert_eq!(
            gate.location(),
            "/gestion/2fa?retour=/gestion/communes/69266"
        );
        let enrol = b.get(gate.location()).await;
        assert!(enrol.body.contains("<svg") && enrol.body.contains("QR code"));
        let secret = manual_key(&enrol.body);
        assert_eq!(secret.len(), 20, "160-bit key (RFC 4226 recommends it)");
        // Reloading keeps the same pending key (the app may already hold it).
        assert_eq!(manual_key(&b.get("/gestion/2fa").await.body), secret);

        // A wrong code: clear error, still enrolling, nothing granted.
        let wrong = submit(&b, "000000x").await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(wrong.body.contains("Code incorrect") && wrong.body.contains("aria-invalid"));
        // Straight away: the back-off answers 429 with Retry-After.
        let hurried = submit(&b, &current_code(&secret, 0)).await;
        assert_eq!(hurried.status, StatusCode::TOO_MANY_REQUESTS, "{}", t.name);
        assert!(hurried.body.contains("essais incorrects"));
        one_second().await;

        let done = submit(&b, &current_code(&secret, 0)).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        let codes = recovery_codes(&done.body);
        assert_eq!(codes.len(), 10, "{}", done.body);
        assert_eq!(
            b.get("/gestion/communes/69266").await.status,
            StatusCode::OK
        );

        // A second session: the code just used is refused (no replay).
        let other = app.browser();
        other.sign_in(NEWCOMER, PASSWORD).await;
        let replay = submit(&other, &current_code(&secret, 0)).await;
        assert_eq!(
            replay.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            t.name
        );
        assert!(
            !replay.body.contains("<svg"),
            "enrolled: no new key is shown"
        );
        one_second().await;
        // A recovery code opens it, once.
        let recovered = submit(&other, &codes[3]).await;
        assert_eq!(
            recovered.status,
            StatusCode::SEE_OTHER,
            "{}",
            recovered.body
        );
        assert_eq!(recovered.location(), "/gestion/communes/69266");
        let third = app.browser();
        third.sign_in(NEWCOMER, PASSWORD).await;
        assert_eq!(
            submit(&third, &codes[3]).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );

        let actions: Vec<String> = kernel::audit::latest(&app.state.db, None, 200)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        for action in ["2fa.enrol", "2fa.success", "2fa.failure"] {
            assert!(actions.iter().any(|a| a == action), "{action} journaled");
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn staff_past_the_password_only_see_no_back_office_page_id_7() {
    let t = testing::sqlite().await;
    let app = TestApp::spawn(&t).await;
    let b = app.browser();
    b.sign_in(COMMUNE_ADMIN, PASSWORD).await;
    // Signed in but not past the second factor: not even read access.
    let gate = b.get("/gestion/communes").await;
    assert_eq!(gate.status, StatusCode::SEE_OTHER);
    assert!(gate.location().starts_with("/gestion/2fa"));
    app.stop().await;
}

#[tokio::test]
async fn an_operator_resets_a_lost_second_factor_id_7() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let b = app.browser();
        b.login(COMMUNE_ADMIN, PASSWORD).await;
        assert_eq!(
            b.get("/gestion/communes/69266").await.status,
            StatusCode::OK
        );

        let dir = tempfile::tempdir().unwrap();
        let unknown = crate::cli::run(
            &t,
            dir.path(),
            &["admin", "reset-2fa", "--email", "personne@nulle.part"],
            None,
        );
        assert!(!unknown.status.success(), "{}", t.name);
        let out = crate::cli::run(
            &t,
            dir.path(),
            &["admin", "reset-2fa", "--email", COMMUNE_ADMIN],
            None,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // The open session lost its second factor; the account enrols anew
        // with a fresh key (the demo key no longer works).
        let gate = b.get("/gestion/communes/69266").await;
        assert_eq!(gate.status, StatusCode::SEE_OTHER, "{}", t.name);
        let enrol = b.get(gate.location()).await;
        let fresh = manual_key(&enrol.body);
        assert_ne!(fresh, server::demo::DEMO_TOTP_SECRET.to_vec());
        let codes = b.pass_second_factor(&fresh).await;
        assert_eq!(codes.len(), 10);
        assert!(
            kernel::audit::latest(&app.state.db, None, 50)
                .await
                .unwrap()
                .iter()
                .any(|e| e.action == "2fa.reset" && e.actor == "cli")
        );
        app.stop().await;
    }
}
