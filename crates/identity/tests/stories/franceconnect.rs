//! ID-5, ID-6: FranceConnect requests, links and the certified identity, on
//! every backend.

use identity::domain::EmailAddress;
use identity::domain::franceconnect::Identity;
use identity::store;
use identity::store::franceconnect::{self as fc, LinkRefused, Purpose, UnlinkRefused};
use kernel::audit::Actor;
use kernel::testing;
use sqlx::Row;

fn identity(sub: &str) -> Identity {
    Identity {
        sub: sub.into(),
        given_name: "Angela Claire".into(),
        family_name: "DUBOIS".into(),
        birthdate: "1962-08-24".into(),
        gender: "female".into(),
        birthplace: "75107".into(),
        birthcountry: "99100".into(),
        email: Some("angela@example.fr".into()),
        preferred_username: None,
    }
}

async fn password_account(db: &kernel::Db, address: &str) -> i64 {
    store::create_account(
        db,
        Actor::Cli,
        &EmailAddress::parse(address).unwrap(),
        "",
        Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"),
        None,
    )
    .await
    .unwrap()
    .unwrap()
}

async fn sources(db: &kernel::Db, account: i64) -> Vec<(String, String)> {
    sqlx::query("SELECT field, source FROM identity_fields WHERE account_id = $1 ORDER BY field")
        .bind(account)
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("field"), r.get("source")))
        .collect()
}

async fn count(db: &kernel::Db, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(db.pool())
        .await
        .unwrap()
        .get::<i64, _>("n")
}

#[tokio::test]
async fn a_request_answers_once_to_the_browser_that_made_it_id_5() {
    for t in testing::databases().await {
        let (state, nonce, browser) = ("s".repeat(43), "n".repeat(43), "b".repeat(43));
        fc::save_request(&t.db, &state, &nonce, &browser, Purpose::Login, "/compte")
            .await
            .unwrap();
        // Another browser, another state: nothing, and the request stays.
        assert!(
            fc::take_request(&t.db, &state, &"x".repeat(43))
                .await
                .unwrap()
                .is_none(),
            "{}",
            t.name
        );
        assert!(
            fc::take_request(&t.db, &"t".repeat(43), &browser)
                .await
                .unwrap()
                .is_none()
        );
        let request = fc::take_request(&t.db, &state, &browser)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(request.nonce, nonce);
        assert_eq!(request.purpose, Purpose::Login);
        assert_eq!(request.return_to, "/compte");
        // A replayed callback finds nothing.
        assert!(
            fc::take_request(&t.db, &state, &browser)
                .await
                .unwrap()
                .is_none()
        );
        // Only digests of the state and the browser's cookie are kept.
        let stored = count(
            &t.db,
            "SELECT COUNT(*) AS n FROM franceconnect_requests WHERE state_hash LIKE 'sss%' OR browser_hash LIKE 'bbb%'",
        )
        .await;
        assert_eq!(stored, 0, "{}", t.name);
    }
}

#[tokio::test]
async fn one_identity_links_to_one_account_and_certifies_it_id_5_id_6() {
    for t in testing::databases().await {
        let nadia = password_account(&t.db, "nadia@example.org").await;
        let luc = password_account(&t.db, "luc@example.org").await;
        let pending_token = fc::save_pending(&t.db, &identity("fc-1"), "id.token.jwt", "/")
            .await
            .unwrap();
        let pending = fc::pending(&t.db, &pending_token).await.unwrap().unwrap();
        assert_eq!(pending.identity, identity("fc-1"));
        let session = fc::link_and_sign_in(&t.db, &pending_token, nadia, &pending)
            .await
            .unwrap()
            .unwrap();
        assert!(!session.is_empty());
        assert_eq!(
            fc::linked_account(&t.db, "fc-1").await.unwrap(),
            Some(nadia)
        );
        assert!(
            fc::pending(&t.db, &pending_token).await.unwrap().is_none(),
            "used up"
        );
        // The session remembers FranceConnect's ID token for the logout.
        assert_eq!(
            store::session_franceconnect_id_token(&t.db, &session)
                .await
                .unwrap()
                .as_deref(),
            Some("id.token.jwt")
        );
        // The six certified fields.
        let certified = sources(&t.db, nadia).await;
        assert_eq!(certified.len(), 6, "{}: {certified:?}", t.name);
        assert!(certified.iter().all(|(_, s)| s == "franceconnect"));

        // The same identity to another account; another identity to Nadia's.
        let again = fc::save_pending(&t.db, &identity("fc-1"), "t", "/")
            .await
            .unwrap();
        let p = fc::pending(&t.db, &again).await.unwrap().unwrap();
        assert_eq!(
            fc::link_and_sign_in(&t.db, &again, luc, &p).await.unwrap(),
            Err(LinkRefused::IdentityTaken),
            "{}",
            t.name
        );
        assert_eq!(
            fc::link_signed_in(&t.db, nadia, &identity("fc-2"))
                .await
                .unwrap(),
            Err(LinkRefused::AccountTaken)
        );
        assert_eq!(fc::linked_account(&t.db, "fc-2").await.unwrap(), None);
        assert!(
            sources(&t.db, luc).await.is_empty(),
            "nothing certified for Luc"
        );
        // Both refusals are in the journal.
        let refused = count(
            &t.db,
            "SELECT COUNT(*) AS n FROM audit_journal WHERE action = 'franceconnect.link_refused'",
        )
        .await;
        assert_eq!(refused, 2, "{}", t.name);

        // A new sign-in refreshes the certification: born abroad now, the
        // commune goes.
        let mut abroad = identity("fc-1");
        abroad.birthplace = String::new();
        abroad.birthcountry = "99134".into();
        fc::sign_in(&t.db, nadia, &abroad, "t2").await.unwrap();
        let fields = sources(&t.db, nadia).await;
        assert_eq!(fields.len(), 5, "{}: {fields:?}", t.name);
        assert!(!fields.iter().any(|(f, _)| f == "birthplace"));
    }
}

#[tokio::test]
async fn unlinking_needs_a_password_id_5() {
    for t in testing::databases().await {
        // An account created from FranceConnect has no password.
        let token = fc::save_pending(&t.db, &identity("fc-3"), "t", "/")
            .await
            .unwrap();
        let pending = fc::pending(&t.db, &token).await.unwrap().unwrap();
        let (account, _) = fc::create_account(
            &t.db,
            &token,
            &pending,
            &EmailAddress::parse("angela@example.fr").unwrap(),
            "https://mutualis.example",
        )
        .await
        .unwrap()
        .unwrap();
        // Its e-mail came from FranceConnect: verified; a welcome e-mail waits.
        assert!(
            store::email_verified(&t.db, account).await.unwrap(),
            "{}",
            t.name
        );
        let queued = count(
            &t.db,
            "SELECT COUNT(*) AS n FROM outbox WHERE idempotency_key LIKE 'franceconnect-welcome:%'",
        )
        .await;
        assert_eq!(queued, 1, "{}", t.name);
        // A second account with the same e-mail: none.
        let other = fc::save_pending(&t.db, &identity("fc-4"), "t", "/")
            .await
            .unwrap();
        let p = fc::pending(&t.db, &other).await.unwrap().unwrap();
        assert!(
            fc::create_account(
                &t.db,
                &other,
                &p,
                &EmailAddress::parse("angela@example.fr").unwrap(),
                ""
            )
            .await
            .unwrap()
            .is_none()
        );

        assert_eq!(
            fc::unlink(&t.db, account, None).await.unwrap(),
            Err(UnlinkRefused::NoPassword),
            "{}",
            t.name
        );
        assert_eq!(
            fc::linked_account(&t.db, "fc-3").await.unwrap(),
            Some(account)
        );
        fc::unlink(&t.db, account, Some("$argon2id$v=19$new"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(fc::linked_account(&t.db, "fc-3").await.unwrap(), None);
        // The fields stay, no longer certified; the password is set.
        let fields = sources(&t.db, account).await;
        assert_eq!(fields.len(), 6);
        assert!(fields.iter().all(|(_, s)| s == "user"), "{fields:?}");
        assert!(
            store::account_by_id(&t.db, account)
                .await
                .unwrap()
                .unwrap()
                .password_hash
                .is_some()
        );
        assert_eq!(
            fc::unlink(&t.db, account, None).await.unwrap(),
            Err(UnlinkRefused::NotLinked)
        );
    }
}

#[tokio::test]
async fn deleting_an_account_ends_its_link_id_8() {
    for t in testing::databases().await {
        let account = password_account(&t.db, "leaving@example.org").await;
        fc::link_signed_in(&t.db, account, &identity("fc-5"))
            .await
            .unwrap()
            .unwrap();
        let export = store::rights::export(&t.db, account).await.unwrap();
        assert_eq!(export["franceconnect"]["sub"], "fc-5", "{}", t.name);
        store::rights::delete_account(&t.db, account, Actor::Account(account), "user")
            .await
            .unwrap();
        assert_eq!(
            fc::linked_account(&t.db, "fc-5").await.unwrap(),
            None,
            "{}",
            t.name
        );
    }
}
