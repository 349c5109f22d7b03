//! Organisations, populations and services on every backend (CONV-1, CONV-2, OPS-7).

use agreements::domain::ServiceCode;
use agreements::domain::agreement::{AgreementState, Party};
use agreements::domain::communes_csv;
use agreements::domain::contribution::{EndReason, Pricing, Prorata, Terms};
use agreements::domain::money::cents;
use agreements::store;
use agreements::store::{AmendmentKind, DisputeStatus, NewAnnex};
use kernel::audit::{self, Actor};
use kernel::testing;
use kernel::web::Scope;
use sqlx::Row;
use time::macros::date;

fn d(s: &str) -> rust_decimal::Decimal {
    agreements::domain::money::parse_decimal(s).unwrap()
}

fn toodego_terms() -> Terms {
    Terms {
        pricing: Pricing::Standard {
            base: d("2000.00"),
            per_inhabitant: d("0.04"),
        },
        s0: d("315.0"),
        fixed_part: d("0"),
        prorata: Prorata::Whole,
    }
}

fn laclasse_terms() -> Terms {
    Terms {
        pricing: Pricing::PerUnit { price: d("150.00") },
        s0: d("315.0"),
        fixed_part: d("0"),
        prorata: Prorata::Whole,
    }
}

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
        let s1 = store::ensure_service(&t.db, &code, "Toodego", "", &toodego_terms())
            .await
            .unwrap();
        let s2 = store::ensure_service(&t.db, &code, "Toodego", "", &toodego_terms())
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

/// Far enough ahead that every recorded fact is in the past.
const TODAY: time::Date = date!(2030 - 01 - 01);

struct Setup {
    bron: i64,
    villeurbanne: i64,
    toodego: i64,
    laclasse: i64,
}

async fn setup(db: &kernel::Db) -> Setup {
    store::import_communes(db, Actor::Cli, "test", &communes_csv::parse(FILE).unwrap())
        .await
        .unwrap();
    let id = |code: &'static str| async move {
        store::commune(db, &Scope::All, code)
            .await
            .unwrap()
            .unwrap()
            .id
    };
    let toodego = store::ensure_service(
        db,
        &ServiceCode::parse("toodego").unwrap(),
        "Toodego",
        "",
        &toodego_terms(),
    )
    .await
    .unwrap();
    let laclasse = store::ensure_service(
        db,
        &ServiceCode::parse("laclasse.com").unwrap(),
        "laclasse.com",
        "",
        &laclasse_terms(),
    )
    .await
    .unwrap();
    Setup {
        bron: id("69029").await,
        villeurbanne: id("69266").await,
        toodego,
        laclasse,
    }
}

fn refused<T: std::fmt::Debug>(r: Result<T, agreements::Error>) -> String {
    match r {
        Err(agreements::Error::Refused(m)) => m.fr,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_agreement_from_draft_to_notice_conv_3_conv_4_conv_5() {
    for t in testing::databases().await {
        let s = setup(&t.db).await;
        let bron = [NewAnnex {
            service_id: s.toodego,
            units: None,
            previous_annual_amount: Some(d("3000.00")),
        }];
        let id = store::create_agreement(&t.db, Actor::Account(1), s.bron, &bron, TODAY)
            .await
            .unwrap();
        assert!(
            refused(store::create_agreement(&t.db, Actor::Account(1), s.bron, &bron, TODAY).await)
                .contains("déjà une convention")
        );
        let no_units = [NewAnnex {
            service_id: s.laclasse,
            units: None,
            previous_annual_amount: None,
        }];
        assert!(
            refused(
                store::create_agreement(&t.db, Actor::Account(1), s.villeurbanne, &no_units, TODAY)
                    .await
            )
            .contains("nombre d'unités")
        );

        let a = store::agreement(&t.db, &Scope::All, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.state(TODAY), AgreementState::Draft, "{}", t.name);
        assert!(
            store::agreement(&t.db, &Scope::Organisations(vec![s.villeurbanne]), id)
                .await
                .unwrap()
                .is_none(),
            "OPS-7"
        );

        store::sign(
            &t.db,
            Actor::Account(1),
            id,
            Party::Commune,
            date!(2026 - 03 - 02),
            TODAY,
        )
        .await
        .unwrap();
        assert!(
            refused(
                store::sign(
                    &t.db,
                    Actor::Account(1),
                    id,
                    Party::Metropolis,
                    date!(2031 - 01 - 01),
                    TODAY
                )
                .await
            )
            .contains("futur")
        );
        store::sign(
            &t.db,
            Actor::Account(1),
            id,
            Party::Metropolis,
            date!(2026 - 04 - 15),
            TODAY,
        )
        .await
        .unwrap();
        assert!(
            refused(
                store::sign(
                    &t.db,
                    Actor::Account(1),
                    id,
                    Party::Commune,
                    date!(2026 - 04 - 16),
                    TODAY
                )
                .await
            )
            .contains("déjà signée")
        );
        let a = store::agreement(&t.db, &Scope::All, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.dates.effective(), Some(date!(2026 - 04 - 15)));

        // CONV-4: joining laclasse.com from 01/09/2027, leaving Toodego from 01/01/2028.
        let join = store::propose_amendment(
            &t.db,
            Actor::Account(1),
            id,
            AmendmentKind::Join,
            s.laclasse,
            date!(2027 - 09 - 01),
            Some(d("12")),
        )
        .await
        .unwrap();
        assert!(
            refused(
                store::propose_amendment(
                    &t.db,
                    Actor::Account(1),
                    id,
                    AmendmentKind::Join,
                    s.toodego,
                    date!(2027 - 09 - 01),
                    None
                )
                .await
            )
            .contains("déjà le service")
        );
        store::sign_amendment(
            &t.db,
            Actor::Account(1),
            join,
            Party::Commune,
            date!(2027 - 06 - 01),
            TODAY,
        )
        .await
        .unwrap();
        assert_eq!(
            store::annexes(&t.db, id).await.unwrap().len(),
            1,
            "not applied before both signatures"
        );
        store::sign_amendment(
            &t.db,
            Actor::Account(1),
            join,
            Party::Metropolis,
            date!(2027 - 06 - 10),
            TODAY,
        )
        .await
        .unwrap();
        let leave = store::propose_amendment(
            &t.db,
            Actor::Account(1),
            id,
            AmendmentKind::Leave,
            s.toodego,
            date!(2028 - 01 - 01),
            None,
        )
        .await
        .unwrap();
        store::sign_amendment(
            &t.db,
            Actor::Account(1),
            leave,
            Party::Metropolis,
            date!(2027 - 10 - 01),
            TODAY,
        )
        .await
        .unwrap();
        store::sign_amendment(
            &t.db,
            Actor::Account(1),
            leave,
            Party::Commune,
            date!(2027 - 10 - 02),
            TODAY,
        )
        .await
        .unwrap();
        let annexes = store::annexes(&t.db, id).await.unwrap();
        let laclasse = annexes.iter().find(|x| x.service_id == s.laclasse).unwrap();
        assert_eq!(
            (laclasse.start_on, laclasse.units),
            (Some(date!(2027 - 09 - 01)), Some(d("12"))),
            "{}",
            t.name
        );
        let toodego = annexes.iter().find(|x| x.service_id == s.toodego).unwrap();
        assert_eq!(
            toodego.end,
            Some((date!(2027 - 12 - 31), EndReason::Notice))
        );
        assert_eq!(toodego.previous_annual_amount, Some(d("3000.00")));
        assert_eq!(
            toodego.terms,
            toodego_terms(),
            "terms copied into the annex"
        );

        // CONV-5: received 16/01/2028, one day after the deadline for
        // 15/04/2028: the agreement ends on 14/04/2029, and every annex with it.
        let ends = store::record_notice(
            &t.db,
            Actor::Account(1),
            id,
            Party::Commune,
            date!(2028 - 01 - 16),
            TODAY,
        )
        .await
        .unwrap();
        assert_eq!(ends, date!(2029 - 04 - 14), "{}", t.name);
        assert!(
            refused(
                store::record_notice(
                    &t.db,
                    Actor::Account(1),
                    id,
                    Party::Metropolis,
                    date!(2028 - 02 - 01),
                    TODAY
                )
                .await
            )
            .contains("déjà enregistrée")
        );
        let annexes = store::annexes(&t.db, id).await.unwrap();
        let laclasse = annexes.iter().find(|x| x.service_id == s.laclasse).unwrap();
        assert_eq!(
            laclasse.end,
            Some((date!(2029 - 04 - 14), EndReason::Notice))
        );
        let a = store::agreement(&t.db, &Scope::All, id)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(
            a.state(TODAY),
            AgreementState::Ended {
                reason: EndReason::Notice,
                ..
            }
        ));
        // A new agreement is possible once the old one ended.
        store::create_agreement(&t.db, Actor::Account(1), s.bron, &bron, TODAY)
            .await
            .unwrap();
        let actions: Vec<String> = audit::latest(&t.db, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        for action in [
            "agreement.create",
            "agreement.sign",
            "amendment.propose",
            "amendment.sign",
            "amendment.apply",
            "agreement.notice",
        ] {
            assert!(actions.iter().any(|a| a == action), "{action} journaled");
        }
        assert!(audit::verify(&t.db).await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn termination_for_breach_waits_two_months_conv_6() {
    for t in testing::databases().await {
        let s = setup(&t.db).await;
        let annexes = [NewAnnex {
            service_id: s.toodego,
            units: None,
            previous_annual_amount: None,
        }];
        let id = store::create_agreement(&t.db, Actor::Account(1), s.villeurbanne, &annexes, TODAY)
            .await
            .unwrap();
        assert!(
            refused(
                store::record_breach_notice(
                    &t.db,
                    Actor::Account(1),
                    id,
                    Party::Metropolis,
                    date!(2026 - 09 - 30),
                    "x",
                    TODAY
                )
                .await
            )
            .contains("pas encore signée")
        );
        store::sign(
            &t.db,
            Actor::Account(1),
            id,
            Party::Commune,
            date!(2026 - 01 - 05),
            TODAY,
        )
        .await
        .unwrap();
        store::sign(
            &t.db,
            Actor::Account(1),
            id,
            Party::Metropolis,
            date!(2026 - 01 - 05),
            TODAY,
        )
        .await
        .unwrap();
        assert!(
            refused(
                store::record_breach_notice(
                    &t.db,
                    Actor::Account(1),
                    id,
                    Party::Metropolis,
                    date!(2026 - 09 - 30),
                    "  ",
                    TODAY
                )
                .await
            )
            .contains("manquements")
        );
        let notice = store::record_breach_notice(
            &t.db,
            Actor::Account(1),
            id,
            Party::Metropolis,
            date!(2026 - 09 - 30),
            "Défaut de paiement du titre 2026",
            TODAY,
        )
        .await
        .unwrap();
        assert!(
            refused(
                store::terminate_for_breach(
                    &t.db,
                    Actor::Account(1),
                    notice,
                    date!(2026 - 11 - 29),
                    TODAY
                )
                .await
            )
            .contains("à partir du 2026-11-30")
        );
        store::terminate_for_breach(
            &t.db,
            Actor::Account(1),
            notice,
            date!(2026 - 11 - 30),
            TODAY,
        )
        .await
        .unwrap();
        let a = store::agreement(&t.db, &Scope::All, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            a.dates.ended,
            Some((date!(2026 - 11 - 30), EndReason::CommuneBreach)),
            "{}",
            t.name
        );
        let annex = &store::annexes(&t.db, id).await.unwrap()[0];
        assert_eq!(
            annex.end,
            Some((date!(2026 - 11 - 30), EndReason::CommuneBreach))
        );
    }
}

#[tokio::test]
async fn a_claim_without_decision_is_deemed_rejected_after_a_month_conv_8() {
    for t in testing::databases().await {
        let s = setup(&t.db).await;
        let id = store::create_agreement(&t.db, Actor::Account(1), s.bron, &[], TODAY)
            .await
            .unwrap();
        let late = store::record_dispute(
            &t.db,
            Actor::Account(1),
            id,
            Party::Commune,
            date!(2026 - 06 - 10),
            "Contestation du titre 2026",
            TODAY,
        )
        .await
        .unwrap();
        let answered = store::record_dispute(
            &t.db,
            Actor::Account(1),
            id,
            Party::Commune,
            date!(2026 - 06 - 12),
            "Nombre d'habitants",
            TODAY,
        )
        .await
        .unwrap();
        // Answer by 10/07: a decision on 11/07 is too late.
        assert!(
            refused(
                store::decide_dispute(
                    &t.db,
                    Actor::Account(1),
                    late,
                    false,
                    date!(2026 - 07 - 11),
                    "Rejet",
                    TODAY
                )
                .await
            )
            .contains("réputée rejetée")
        );
        store::decide_dispute(
            &t.db,
            Actor::Account(1),
            answered,
            true,
            date!(2026 - 07 - 01),
            "Population corrigée",
            TODAY,
        )
        .await
        .unwrap();
        let mut tx = t.db.begin().await.unwrap();
        assert_eq!(
            store::deem_rejected_disputes(&mut tx, date!(2026 - 07 - 10))
                .await
                .unwrap(),
            0,
            "not before the deadline has passed"
        );
        assert_eq!(
            store::deem_rejected_disputes(&mut tx, date!(2026 - 07 - 11))
                .await
                .unwrap(),
            1
        );
        tx.commit().await.unwrap();
        let statuses: Vec<DisputeStatus> = store::disputes(&t.db, id)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.status)
            .collect();
        assert_eq!(
            statuses,
            vec![DisputeStatus::DeemedRejected, DisputeStatus::Accepted],
            "{}",
            t.name
        );
        assert!(audit::verify(&t.db).await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn the_daily_job_runs_once_a_day_and_warns_referents_30_days_ahead_conv_5_conv_8() {
    use agreements::store::{Referent, ReferentKind};
    for t in testing::databases().await {
        let s = setup(&t.db).await;
        let metropolis = store::ensure_metropolis(&t.db, "Métropole de Lyon")
            .await
            .unwrap();
        let annexes = [NewAnnex {
            service_id: s.toodego,
            units: None,
            previous_annual_amount: None,
        }];
        let bron = store::create_agreement(&t.db, Actor::Account(1), s.bron, &annexes, TODAY)
            .await
            .unwrap();
        store::sign(
            &t.db,
            Actor::Account(1),
            bron,
            Party::Commune,
            date!(2026 - 04 - 15),
            TODAY,
        )
        .await
        .unwrap();
        store::sign(
            &t.db,
            Actor::Account(1),
            bron,
            Party::Metropolis,
            date!(2026 - 04 - 15),
            TODAY,
        )
        .await
        .unwrap();
        store::record_dispute(
            &t.db,
            Actor::Account(1),
            bron,
            Party::Commune,
            date!(2026 - 11 - 01),
            "Titre 2026",
            TODAY,
        )
        .await
        .unwrap();
        let referent = |org, service, kind, email: &str| Referent {
            organisation_id: org,
            service_id: service,
            service_name: None,
            kind,
            name: "Référent".into(),
            email: email.into(),
        };
        store::set_referent(
            &t.db,
            Actor::Account(1),
            &referent(
                s.bron,
                Some(s.toodego),
                ReferentKind::Service,
                "toodego@bron.fr",
            ),
        )
        .await
        .unwrap();
        store::set_referent(
            &t.db,
            Actor::Account(1),
            &referent(
                metropolis,
                None,
                ReferentKind::Project,
                "projet@grandlyon.fr",
            ),
        )
        .await
        .unwrap();
        store::set_referent(
            &t.db,
            Actor::Account(1),
            &referent(
                s.villeurbanne,
                Some(s.toodego),
                ReferentKind::Service,
                "toodego@villeurbanne.fr",
            ),
        )
        .await
        .unwrap();

        // Anniversary 15/04/2027, notice deadline 15/01/2027: warned from 16/12/2026.
        let before = agreements::jobs::daily(&t.db, date!(2026 - 12 - 15))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            before,
            agreements::jobs::DailyReport {
                deemed_rejected: 1,
                warnings_queued: 0
            },
            "{}",
            t.name
        );
        let first = agreements::jobs::daily(&t.db, date!(2026 - 12 - 16))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            first.warnings_queued, 2,
            "{}: Bron's referent and the project referent",
            t.name
        );
        assert_eq!(
            agreements::jobs::daily(&t.db, date!(2026 - 12 - 16))
                .await
                .unwrap(),
            None,
            "once a day"
        );
        let next = agreements::jobs::daily(&t.db, date!(2026 - 12 - 17))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(next.warnings_queued, 0, "each warning is sent once");
        let payloads: Vec<String> = sqlx::query("SELECT payload FROM outbox ORDER BY id")
            .fetch_all(t.db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| sqlx::Row::get(r, "payload"))
            .collect();
        assert_eq!(payloads.len(), 2);
        assert!(payloads.iter().all(|p| !p.contains("villeurbanne")));
        assert!(
            payloads[0].contains("au plus tard le 2027-01-15")
                && payloads[0].contains("2027-04-15"),
            "{}",
            payloads[0]
        );
    }
}

#[tokio::test]
async fn two_nodes_claiming_the_same_day_run_the_job_once_ops_5() {
    for t in testing::databases().await {
        let day = date!(2027 - 03 - 01);
        let (a, b) = tokio::join!(
            agreements::jobs::daily(&t.db, day),
            agreements::jobs::daily(&t.db, day)
        );
        let ran = [a.unwrap(), b.unwrap()]
            .iter()
            .filter(|r| r.is_some())
            .count();
        assert_eq!(ran, 1, "{}", t.name);
    }
}

async fn billed_world(db: &kernel::Db) -> (Setup, i64) {
    let s = setup(db).await;
    for (month, value, published) in [
        ("2024-10", "315.0", date!(2024 - 11 - 30)),
        ("2025-10", "322.2", date!(2025 - 11 - 28)),
    ] {
        let (y, m) = month.split_once('-').unwrap();
        let v = agreements::domain::contribution::SyntecValue {
            year: y.parse().unwrap(),
            month: m.parse().unwrap(),
            value: d(value),
            published_on: published,
        };
        store::add_syntec(db, Actor::Cli, &v, true).await.unwrap();
    }
    // Bron, the issue's example: paid 3000.00 before, effective 15/04/2026.
    let annexes = [NewAnnex {
        service_id: s.toodego,
        units: None,
        previous_annual_amount: Some(d("3000.00")),
    }];
    let bron = store::create_agreement(db, Actor::Cli, s.bron, &annexes, TODAY)
        .await
        .unwrap();
    store::sign(
        db,
        Actor::Cli,
        bron,
        Party::Commune,
        date!(2026 - 03 - 02),
        TODAY,
    )
    .await
    .unwrap();
    store::sign(
        db,
        Actor::Cli,
        bron,
        Party::Metropolis,
        date!(2026 - 04 - 15),
        TODAY,
    )
    .await
    .unwrap();
    // Villeurbanne: laclasse.com, 1 unit joined on 22/12/2026: 150 × 1.0229
    // = 153.44 (rounded 153.435 → 153.44), × 10/365 = 4.2038… → 4.20: not collectable.
    let annexes = [NewAnnex {
        service_id: s.laclasse,
        units: Some(d("1")),
        previous_annual_amount: None,
    }];
    let v = store::create_agreement(db, Actor::Cli, s.villeurbanne, &annexes, TODAY)
        .await
        .unwrap();
    store::sign(
        db,
        Actor::Cli,
        v,
        Party::Commune,
        date!(2026 - 12 - 22),
        TODAY,
    )
    .await
    .unwrap();
    store::sign(
        db,
        Actor::Cli,
        v,
        Party::Metropolis,
        date!(2026 - 12 - 22),
        TODAY,
    )
    .await
    .unwrap();
    (s, bron)
}

#[tokio::test]
async fn revenue_orders_are_issued_once_numbered_without_gaps_fin_5() {
    for t in testing::databases().await {
        let (s, _) = billed_world(&t.db).await;
        // Two nodes run the 2026 billing at once: each order is issued once.
        let (a, b) = tokio::join!(
            agreements::billing::run(&t.db, Actor::Cli, 2026, "Le Président, ordonnateur"),
            agreements::billing::run(&t.db, Actor::Cli, 2026, "Le Président, ordonnateur")
        );
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        let mut issued: Vec<String> = a.issued.iter().chain(&b.issued).cloned().collect();
        issued.sort();
        assert_eq!(issued, vec!["2026-000001", "2026-000002"], "{}", t.name);
        assert_eq!(a.already_issued + b.already_issued, 2);

        let orders = store::orders(&t.db, &Scope::All, 2026).await.unwrap();
        let bron = orders.iter().find(|o| o.commune_id == s.bron).unwrap();
        // Hand computation in agreements::simulate's tests: 3300.00 in 2026.
        assert_eq!(
            (cents(bron.amount), bron.collectable),
            ("3300.00".to_string(), true)
        );
        assert_eq!(bron.debtor_siren, "216900290");
        assert!(bron.legal_basis.contains("article 10") && bron.appeal.contains("deux mois"));
        let small = orders
            .iter()
            .find(|o| o.commune_id == s.villeurbanne)
            .unwrap();
        assert_eq!(
            (cents(small.amount), small.collectable),
            ("4.20".to_string(), false),
            "{}: under 15 €, flagged",
            t.name
        );
        let (_, lines, _) = store::order(&t.db, &Scope::All, bron.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lines[0].basis["transition_cap"], "3300.00");
        assert_eq!(lines[0].basis["population_vintage"], 2022);
        assert_eq!(lines[0].basis["syntec_month"], "2025-10");

        // Corrections: a reduction then a cancellation of the rest, numbered
        // in the same series; a second cancellation is refused.
        let r = store::correct_order(
            &t.db,
            Actor::Cli,
            bron.id,
            Some(d("300.00")),
            "Population rectifiée",
            2026,
        )
        .await
        .unwrap();
        assert_eq!(r, "2026-000003");
        assert!(
            refused(
                store::correct_order(&t.db, Actor::Cli, bron.id, Some(d("3000.01")), "Trop", 2026)
                    .await
            )
            .contains("au plus égale au reste dû (3000.00 €)")
        );
        let c = store::correct_order(
            &t.db,
            Actor::Cli,
            bron.id,
            None,
            "Convention résiliée",
            2026,
        )
        .await
        .unwrap();
        assert_eq!(c, "2026-000004", "{}: no gap after the refused one", t.name);
        assert!(
            refused(store::correct_order(&t.db, Actor::Cli, bron.id, None, "Encore", 2026).await)
                .contains("déjà entièrement annulé")
        );
        let (_, _, corrections) = store::order(&t.db, &Scope::All, bron.id)
            .await
            .unwrap()
            .unwrap();
        let amounts: Vec<String> = corrections.iter().map(|c| cents(c.amount)).collect();
        assert_eq!(amounts, vec!["300.00", "3000.00"]);
        // The original order itself never changed.
        let again = store::orders(&t.db, &Scope::All, 2026)
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.id == bron.id)
            .unwrap();
        assert_eq!(cents(again.amount), "3300.00");
        // A commune's scope sees its own orders only (OPS-7).
        let mine = store::orders(&t.db, &Scope::Organisations(vec![s.villeurbanne]), 2026)
            .await
            .unwrap();
        assert_eq!(mine.len(), 1);
        assert!(audit::verify(&t.db).await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn a_billing_run_without_the_years_syntec_value_issues_nothing_fin_1() {
    for t in testing::databases().await {
        billed_world(&t.db).await;
        let problems = agreements::billing::run(&t.db, Actor::Cli, 2027, "Ordonnateur")
            .await
            .unwrap();
        // 2027 uses the value published by 01/01/2027: still 322.2, so it works…
        assert!(problems.is_ok(), "{}", t.name);
        // …but a year before any publication cannot be billed.
        let s = store::ensure_service(
            &t.db,
            &ServiceCode::parse("ancien").unwrap(),
            "Ancien",
            "",
            &toodego_terms(),
        )
        .await
        .unwrap();
        let lyon = store::commune(&t.db, &Scope::All, "69123")
            .await
            .unwrap()
            .unwrap();
        let old = store::create_agreement(
            &t.db,
            Actor::Cli,
            lyon.id,
            &[NewAnnex {
                service_id: s,
                units: None,
                previous_annual_amount: None,
            }],
            TODAY,
        )
        .await
        .unwrap();
        store::sign(
            &t.db,
            Actor::Cli,
            old,
            Party::Commune,
            date!(2024 - 03 - 01),
            TODAY,
        )
        .await
        .unwrap();
        store::sign(
            &t.db,
            Actor::Cli,
            old,
            Party::Metropolis,
            date!(2024 - 03 - 01),
            TODAY,
        )
        .await
        .unwrap();
        let refused = agreements::billing::run(&t.db, Actor::Cli, 2024, "Ordonnateur")
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            refused[0]
                .fr
                .contains("aucune valeur SYNTEC publiée au plus tard le 2024-01-01"),
            "{:?}",
            refused
        );
        assert!(
            store::orders(&t.db, &Scope::All, 2024)
                .await
                .unwrap()
                .is_empty(),
            "{}: nothing issued",
            t.name
        );
    }
}
