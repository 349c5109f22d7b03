//! Accounts, roles and sessions on every backend (ID-1, ID-7, OPS-3, OPS-7),
//! and FranceConnect's links (ID-5, ID-6).

#[path = "stories/franceconnect.rs"]
mod franceconnect;

use agreements::domain::communes_csv;
use identity::domain::EmailAddress;
use identity::store;
use kernel::audit::{self, Actor};
use kernel::testing;
use kernel::web::{Role, Scope};

const FILE: &[u8] = include_bytes!("../../../data/metropole-lyon-communes.csv");

struct World {
    metropolis: i64,
    lyon: i64,
    villeurbanne: i64,
}

async fn world(db: &kernel::Db) -> World {
    let metropolis = agreements::store::ensure_metropolis(db, "Métropole de Lyon")
        .await
        .unwrap();
    agreements::store::import_communes(db, Actor::Cli, "test", &communes_csv::parse(FILE).unwrap())
        .await
        .unwrap();
    let id = |code: &'static str| async move {
        agreements::store::commune(db, &Scope::All, code)
            .await
            .unwrap()
            .unwrap()
            .id
    };
    World {
        metropolis,
        lyon: id("69123").await,
        villeurbanne: id("69266").await,
    }
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

#[tokio::test]
async fn an_account_is_unique_by_email_whatever_the_case() {
    for t in testing::databases().await {
        let w = world(&t.db).await;
        let id = store::create_account(
            &t.db,
            Actor::Cli,
            &email("Agent@Lyon.fr"),
            "Agent",
            Some("h"),
            Some((Role::HelpAgent, w.lyon)),
        )
        .await
        .unwrap();
        assert!(id.is_some(), "{}", t.name);
        let again =
            store::create_account(&t.db, Actor::Cli, &email("agent@lyon.FR"), "", None, None)
                .await
                .unwrap();
        assert_eq!(again, None, "{}: same address, other case", t.name);
        let found = store::account_by_email(&t.db, &email("AGENT@lyon.fr"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(Some(found.id), id);
    }
}

#[tokio::test]
async fn sessions_carry_roles_and_end_at_logout_or_expiry() {
    for t in testing::databases().await {
        let w = world(&t.db).await;
        let id = store::create_account(
            &t.db,
            Actor::Cli,
            &email("a@metropole.fr"),
            "A",
            Some("h"),
            Some((Role::MetropolisAdmin, w.metropolis)),
        )
        .await
        .unwrap()
        .unwrap();
        let token = store::open_session(&t.db, id).await.unwrap();
        let viewer = store::viewer(&t.db, &token)
            .await
            .unwrap()
            .expect("live session");
        assert_eq!(viewer.account_id, id);
        assert_eq!(viewer.scope(), Scope::All, "{}", t.name);
        assert!(store::viewer(&t.db, "not-a-token").await.unwrap().is_none());
        assert_eq!(store::close_session(&t.db, &token).await.unwrap(), Some(id));
        assert!(
            store::viewer(&t.db, &token).await.unwrap().is_none(),
            "{}: logged out",
            t.name
        );

        let expiring = store::open_session(&t.db, id).await.unwrap();
        sqlx::query("UPDATE sessions SET expires_at = 0")
            .execute(t.db.pool())
            .await
            .unwrap();
        assert!(
            store::viewer(&t.db, &expiring).await.unwrap().is_none(),
            "{}: expired",
            t.name
        );
        // The token itself is never stored.
        let stored: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sessions WHERE token_hash = $1")
            .bind(&expiring)
            .fetch_one(t.db.pool())
            .await
            .map(|r| sqlx::Row::get(&r, "n"))
            .unwrap();
        assert_eq!(stored, 0);
    }
}

#[tokio::test]
async fn role_changes_are_journaled_and_scoped_listing_hides_other_communes_ops_7() {
    for t in testing::databases().await {
        let w = world(&t.db).await;
        let lyon_agent = store::create_account(
            &t.db,
            Actor::Cli,
            &email("agent@lyon.fr"),
            "",
            None,
            Some((Role::HelpAgent, w.lyon)),
        )
        .await
        .unwrap()
        .unwrap();
        let both = store::create_account(
            &t.db,
            Actor::Cli,
            &email("both@exemple.fr"),
            "",
            None,
            Some((Role::Referent, w.villeurbanne)),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(
            store::grant_role(&t.db, Actor::Account(1), both, w.lyon, Role::Finance)
                .await
                .unwrap()
        );
        assert!(
            !store::grant_role(&t.db, Actor::Account(1), both, w.lyon, Role::Finance)
                .await
                .unwrap(),
            "idempotent"
        );

        let villeurbanne = Scope::Organisations(vec![w.villeurbanne]);
        let listed = store::staff_accounts(&t.db, &villeurbanne).await.unwrap();
        assert_eq!(listed.len(), 1, "{}", t.name);
        assert_eq!(listed[0].account.id, both);
        assert!(
            listed[0]
                .grants
                .iter()
                .all(|g| g.organisation_id == w.villeurbanne),
            "Lyon's role of the same person hidden"
        );
        assert!(
            store::staff_account(&t.db, &villeurbanne, lyon_agent)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store::staff_accounts(&t.db, &Scope::All)
                .await
                .unwrap()
                .len(),
            2
        );

        assert!(
            store::revoke_role(&t.db, Actor::Account(1), both, w.lyon, Role::Finance)
                .await
                .unwrap()
        );
        let actions: Vec<String> = audit::latest(&t.db, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .filter(|a| a.starts_with("role."))
            .collect();
        assert_eq!(
            actions,
            vec!["role.revoke", "role.grant", "role.grant", "role.grant"],
            "{}",
            t.name
        );
        assert!(audit::verify(&t.db).await.unwrap().is_ok());
    }
}
