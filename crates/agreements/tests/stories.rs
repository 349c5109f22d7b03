//! Organisations, populations and services on every backend (CONV-1, CONV-2, OPS-7).

use agreements::domain::ServiceCode;
use agreements::domain::communes_csv;
use agreements::store;
use kernel::audit::{self, Actor};
use kernel::testing;
use kernel::web::Scope;
use sqlx::Row;

const FILE: &[u8] = include_bytes!("../../../data/metropole-lyon-communes.csv");

#[tokio::test]
async fn importing_the_reference_file_twice_changes_nothing_the_second_time_conv_1() {
    let records = communes_csv::parse(FILE).unwrap();
    for t in testing::databases().await {
        let first = store::import_communes(&t.db, Actor::Cli, "test", &records)
            .await
            .unwrap();
        assert_eq!(
            (first.created, first.updated, first.unchanged),
            (58, 0, 0),
            "{}",
            t.name
        );
        let again = store::import_communes(&t.db, Actor::Cli, "test", &records)
            .await
            .unwrap();
        assert_eq!(
            (again.created, again.updated, again.unchanged),
            (0, 0, 58),
            "{}",
            t.name
        );

        let all = store::list_communes(&t.db, &Scope::All, "2026-06-30")
            .await
            .unwrap();
        assert_eq!(all.len(), 58);
        let total: i64 = all.iter().filter_map(|c| c.population).sum();
        assert_eq!(total, 1_436_354, "{}: populations in force in 2026", t.name);
        let in_2025: i64 = store::list_communes(&t.db, &Scope::All, "2025-12-31")
            .await
            .unwrap()
            .iter()
            .filter_map(|c| c.population)
            .sum();
        assert_eq!(in_2025, 1_433_613, "{}: the series keeps 2025", t.name);
        // Each import is journaled (OPS-3).
        let imports: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM audit_journal WHERE action = 'communes.import'")
                .fetch_one(t.db.pool())
                .await
                .unwrap()
                .get("n");
        assert_eq!(imports, 2);
        assert_eq!(audit::verify(&t.db).await.unwrap(), Ok(2));
    }
}

#[tokio::test]
async fn an_updated_population_and_name_are_counted_as_updates() {
    let records = communes_csv::parse(FILE).unwrap();
    for t in testing::databases().await {
        store::import_communes(&t.db, Actor::Cli, "test", &records)
            .await
            .unwrap();
        let changed = communes_csv::parse(
            b"insee_code,siren,name,population_in_force_2026,population_in_force_2027\n69123,216901231,Lyon,519127,521000\n",
        )
        .unwrap();
        let outcome = store::import_communes(&t.db, Actor::Cli, "test", &changed)
            .await
            .unwrap();
        assert_eq!((outcome.created, outcome.updated), (0, 1), "{}", t.name);
        let lyon = store::commune(&t.db, &Scope::All, "69123")
            .await
            .unwrap()
            .unwrap();
        let series = store::populations(&t.db, lyon.id).await.unwrap();
        let latest = &series[0];
        assert_eq!(
            (latest.in_force_from.as_str(), latest.value, latest.vintage),
            ("2027-01-01", 521_000, 2024)
        );
        assert_eq!(series.len(), 3, "2025, 2026 and 2027 kept");
    }
}

#[tokio::test]
async fn a_commune_scope_sees_its_own_commune_only_ops_7() {
    let records = communes_csv::parse(FILE).unwrap();
    for t in testing::databases().await {
        store::import_communes(&t.db, Actor::Cli, "test", &records)
            .await
            .unwrap();
        let villeurbanne = store::commune(&t.db, &Scope::All, "69266")
            .await
            .unwrap()
            .unwrap();
        let scope = Scope::Organisations(vec![villeurbanne.id]);
        let visible = store::list_communes(&t.db, &scope, "2026-06-30")
            .await
            .unwrap();
        assert_eq!(visible.len(), 1, "{}", t.name);
        assert_eq!(visible[0].organisation.name, "Villeurbanne");
        assert!(
            store::commune(&t.db, &scope, "69123")
                .await
                .unwrap()
                .is_none(),
            "{}: Lyon hidden",
            t.name
        );
        assert!(
            store::commune(&t.db, &scope, "69266")
                .await
                .unwrap()
                .is_some()
        );
        let orgs = store::organisations(&t.db, &scope).await.unwrap();
        assert_eq!(
            orgs.iter().map(|o| o.id).collect::<Vec<_>>(),
            vec![villeurbanne.id]
        );
    }
}

#[tokio::test]
async fn metropolis_and_services_are_created_once_conv_2() {
    for t in testing::databases().await {
        let a = store::ensure_metropolis(&t.db, "Métropole de Lyon")
            .await
            .unwrap();
        let b = store::ensure_metropolis(&t.db, "Métropole de Lyon")
            .await
            .unwrap();
        assert_eq!(a, b, "{}", t.name);
        let code = ServiceCode::parse("toodego").unwrap();
        let s1 = store::ensure_service(&t.db, &code, "Toodego", true, "")
            .await
            .unwrap();
        let s2 = store::ensure_service(&t.db, &code, "Toodego", true, "")
            .await
            .unwrap();
        assert_eq!(s1, s2);
        let services = store::services(&t.db).await.unwrap();
        assert_eq!(services.len(), 1);
        assert!(services[0].paid);
        let orgs = store::organisations(&t.db, &Scope::All).await.unwrap();
        assert!(orgs[0].metropolis && orgs[0].siren == store::METROPOLIS_SIREN);
    }
}
