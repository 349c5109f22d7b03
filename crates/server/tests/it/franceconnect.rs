//! ID-5 at the edge: FranceConnect's pages with bad or hostile input, and
//! with FranceConnect unreachable, on both databases. The journeys with a
//! real provider are in tests/interop/franceconnect.

use kernel::testing;
use sqlx::Row;

use crate::support::TestApp;

/// Nothing listens there: FranceConnect is down.
const DOWN: &str = "http://127.0.0.1:1/api/v2";

async fn count(t: &testing::TestDb, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(t.db.pool())
        .await
        .unwrap()
        .get::<i64, _>("n")
}

#[tokio::test]
async fn without_franceconnect_its_button_and_pages_are_absent_id_5() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let b = app.browser();
        let login = b.get("/connexion").await;
        assert!(!login.body.contains("franceconnect"), "{}", t.name);
        assert!(login.body.contains("name=\"password\""));
        let start = b
            .post_form("/franceconnect/connexion", &[("csrf_token", &login.csrf())])
            .await;
        assert_eq!(start.status, 404, "{}", t.name);
        assert_eq!(
            b.get("/franceconnect/retour?state=x&code=y").await.status,
            404
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_callbacks_get_a_french_page_and_change_nothing_id_5() {
    for t in testing::databases().await {
        let app = TestApp::spawn_with_franceconnect(&t, DOWN).await;
        let b = app.browser();
        let login = b.get("/connexion").await;
        // The button, and FranceConnect allowed as the form's target.
        assert!(
            login.body.contains("action=\"/franceconnect/connexion\""),
            "{}",
            t.name
        );
        assert!(login.body.contains("Qu’est-ce que FranceConnect ?"));
        let csp = login.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("form-action 'self' http://127.0.0.1:1;"),
            "{csp}"
        );

        // FranceConnect unreachable: a French page, no request kept.
        let start = b
            .post_form("/franceconnect/connexion", &[("csrf_token", &login.csrf())])
            .await;
        assert_eq!(start.status, 502, "{}", t.name);
        assert!(
            start.body.contains("FranceConnect ne répond pas"),
            "{}",
            start.body
        );
        assert_eq!(
            count(&t, "SELECT COUNT(*) AS n FROM franceconnect_requests").await,
            0
        );

        let long = "a".repeat(5000);
        for query in [
            "",
            "?code=abc",
            "?state=unknown&code=abc&iss=http%3A%2F%2F127.0.0.1%3A1%2Fapi%2Fv2",
            "?state=unknown&error=access_denied&error_description=User+auth+aborted",
            &format!("?state={long}&code={long}"),
            "?state=%C3%A9%F0%9F%98%80&code=%00",
            "?state=a&state=b&code=c",
        ] {
            let page = b.get(&format!("/franceconnect/retour{query}")).await;
            assert!(
                page.status == 400,
                "{}: {query:.80} gave {}",
                t.name,
                page.status
            );
            assert!(page.body.contains("lang=\"fr\""), "{query:.80}");
        }
        // The refusals are journaled (the control character is refused before).
        let refused = count(
            &t,
            "SELECT COUNT(*) AS n FROM audit_journal WHERE action = 'franceconnect.refused'",
        )
        .await;
        assert!(refused >= 5, "{}: {refused}", t.name);
        assert_eq!(
            count(&t, "SELECT COUNT(*) AS n FROM franceconnect_links").await,
            0
        );

        // No pending identity: the link pages say the time is over.
        let page = b.get("/franceconnect/rattachement").await;
        assert_eq!(page.status, 400, "{}", t.name);
        assert!(
            page.body
                .contains("Le délai pour relier votre identité FranceConnect est dépassé")
        );
        let csrf = b.get("/connexion").await.csrf();
        for path in [
            "/franceconnect/rattachement/compte-existant",
            "/franceconnect/rattachement/nouveau-compte",
        ] {
            let page = b
                .post_form(
                    path,
                    &[
                        ("csrf_token", &csrf),
                        ("email", "a@b.fr"),
                        ("password", "x"),
                    ],
                )
                .await;
            assert_eq!(page.status, 400, "{}: {path}", t.name);
        }
        // Linking and unlinking need a signed-in person.
        for path in [
            "/compte/franceconnect/relier",
            "/compte/franceconnect/delier",
        ] {
            let page = b.post_form(path, &[("csrf_token", &csrf)]).await;
            assert_eq!(page.status, 303, "{}: {path}", t.name);
            assert!(page.location().starts_with("/connexion"), "{path}");
        }
        assert_eq!(
            count(
                &t,
                "SELECT COUNT(*) AS n FROM accounts WHERE email = 'a@b.fr'"
            )
            .await,
            0
        );
        app.stop().await;
    }
}
