//! DATA-4: the open data as a portal harvests it. The figures published are
//! worked by hand here; the catalogue and the CSVs are then read by the
//! registry tools a portal uses (tests/opendata/check.py: rdflib parses the
//! JSON-LD, frictionless validates each CSV against its schema.json).

use std::path::Path;
use std::process::Command;

use kernel::testing;
use kernel::web::Scope;
use serde_json::Value;
use sqlx::Row;
use time::Date;

use crate::support::TestApp;

/// `python3` with frictionless and rdflib, or `None` (outside CI) when
/// they are missing.
fn checker() -> Option<std::path::PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/opendata/check.py");
    let available = Command::new("python3")
        .args(["-c", "import frictionless, rdflib"])
        .status()
        .is_ok_and(|s| s.success());
    if available {
        return Some(script);
    }
    if testing::ci() {
        panic!(
            "CI=true but frictionless and rdflib are missing: pip install -r tests/opendata/requirements.txt"
        );
    }
    eprintln!(
        "\n*** frictionless/rdflib unavailable: open-data checks SKIPPED (pip install -r tests/opendata/requirements.txt) ***\n"
    );
    None
}

/// Runs check.py (without blocking the runtime: the node under test
/// answers its requests meanwhile).
async fn run_checker(args: &[&str]) -> (bool, Value) {
    let script = checker().expect("checked before");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("python3 runs");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check.py printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

/// The first day of the month before `day`'s.
fn previous_month(day: Date) -> Date {
    day.replace_day(1)
        .unwrap()
        .previous_day()
        .unwrap()
        .replace_day(1)
        .unwrap()
}

async fn service_id(t: &testing::TestDb, code: &str) -> i64 {
    agreements::store::service_id(&t.db, code)
        .await
        .unwrap()
        .unwrap()
}

/// The usage aggregates of last month, as the refresher writes them
/// (DATA-3), and two that stay out of the dataset: this month's (not
/// complete) and one without a commune.
async fn seed_usage(t: &testing::TestDb, last_month: Date, this_month: Date) {
    let laclasse = service_id(t, "laclasse.com").await;
    let toodego = service_id(t, "toodego").await;
    let day = |d: Date, n: u8| d.replace_day(n).unwrap().to_string();
    // (day, service, commune, type, events, visitors, visits)
    let rows = [
        // Lyon/laclasse over two days and two types: 25+15 events, 6+6 visits.
        (day(last_month, 3), laclasse, "69123", "page", 25, 5, 6),
        (day(last_month, 17), laclasse, "69123", "search", 15, 6, 6),
        (day(last_month, 4), toodego, "69123", "page", 500, 50, 60),
        (day(last_month, 5), laclasse, "69266", "page", 7, 7, 15),
        (day(last_month, 6), toodego, "69266", "page", 300, 25, 30),
        (day(last_month, 6), toodego, "", "page", 900, 90, 90),
        (day(this_month, 1), toodego, "69123", "page", 1000, 100, 100),
    ];
    for (d, service, commune, kind, events, visitors, visits) in rows {
        sqlx::query(
            "INSERT INTO usage_daily (day, service_id, commune, type, events, visitors, visits) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(d)
        .bind(service)
        .bind(commune)
        .bind(kind)
        .bind(events as i64)
        .bind(visitors as i64)
        .bind(visits as i64)
        .execute(t.db.pool())
        .await
        .unwrap();
    }
}

/// Help requests of last month. Toodego: Lyon 3 État civil, Villeurbanne 12
/// État civil and 20 Voirie. laclasse.com: Villeurbanne 15 "Mon compte", of
/// which 15 answered after 1, 2, … 15 hours (median 8) and 11 resolved after
/// 10, 11, … 20 hours (median 15).
async fn seed_help_requests(app: &TestApp, t: &testing::TestDb, last_month: Date) {
    let start = kernel::clock::paris_midnight(last_month.replace_day(2).unwrap());
    let hour = 3_600_000_i64;
    let mut n = 0;
    for (service_code, commune, category, count) in [
        ("toodego", "69123", "etat-civil", 3),
        ("toodego", "69266", "etat-civil", 12),
        ("toodego", "69266", "voirie", 20),
        ("laclasse.com", "69266", "compte", 15),
    ] {
        for i in 0..count {
            let created = assistance::store::create(
                &t.db,
                &assistance::store::NewRequest {
                    service_code,
                    category,
                    subject: "Demande",
                    message: "Une demande pour les données ouvertes.",
                    page_url: None,
                    email: "usager@example.fr",
                    account_id: None,
                    commune: Some(commune),
                    attachments: &[],
                    topic: None,
                },
                &app.base,
            )
            .await
            .unwrap();
            let at = start + n * 60_000;
            n += 1;
            let timed = category == "compte";
            let answered = (timed && i < 15).then(|| at + (i + 1) * hour);
            let resolved = (timed && i < 11).then(|| at + (10 + i) * hour);
            sqlx::query(
                "UPDATE help_requests SET created_at = $1, first_answer_at = $2, resolved_at = $3 WHERE id = $4",
            )
            .bind(at)
            .bind(answered)
            .bind(resolved)
            .bind(created.id)
            .execute(t.db.pool())
            .await
            .unwrap();
        }
    }
}

async fn get_text(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let response = reqwest::get(app.url(path)).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

#[tokio::test]
async fn open_data_is_published_with_small_counts_hidden_and_harvestable_data_4() {
    let check = checker().is_some();
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let today = kernel::clock::paris_day(kernel::clock::now_ms());
        let this_month = today.replace_day(1).unwrap();
        let last_month = previous_month(today);
        let m = &last_month.to_string()[..7];
        seed_usage(&t, last_month, this_month).await;
        seed_help_requests(&app, &t, last_month).await;

        // Usage: the worked example of usage::domain::suppression's test
        // data_4_a_commune_cannot_recompute_the_other_row. Events (Lyon
        // 40/500, Villeurbanne 7/300): the 7 is hidden, and so is every other
        // figure, totals included, or Villeurbanne (knowing its 7 and 300)
        // or a service (knowing its column) would get the others back.
        // Visits (12, 60, 15, 30): nothing under 11, all shown. The events
        // without a commune and this month's are not in the dataset.
        let (status, csv, headers) = get_text(&app, "/opendata/usage-services.csv").await;
        assert_eq!(status, 200, "{}", t.name);
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(
            headers.get("set-cookie").is_none(),
            "open data sets no cookie"
        );
        assert_eq!(
            csv,
            format!(
                "mois,code_insee,commune,service,libelle_service,evenements,visites\n\
                 {m},69123,Lyon,laclasse.com,laclasse.com,,12\n\
                 {m},69123,Lyon,toodego,Toodego,,60\n\
                 {m},69266,Villeurbanne,laclasse.com,laclasse.com,,15\n\
                 {m},69266,Villeurbanne,toodego,Toodego,,30\n"
            ),
            "{}",
            t.name
        );

        // The node serves what it computed for ten minutes: a figure that
        // arrives meanwhile waits (DATA-4 reads the whole history each time).
        sqlx::query("UPDATE usage_daily SET visits = visits + 1000 WHERE commune = '69123'")
            .execute(t.db.pool())
            .await
            .unwrap();
        let (_, again, _) = get_text(&app, "/opendata/usage-services.csv").await;
        assert_eq!(again, csv, "{}: served again from the node's copy", t.name);

        // Help requests, one table per month and service. laclasse.com's has
        // one cell, 15, nothing under 11: shown, with its medians (8 h,
        // 15 h). Toodego's is Lyon 3, 0 / Villeurbanne 12, 20 (État civil,
        // Voirie): Lyon's 3 is hidden, and then everything but Lyon's Voirie
        // zero, as worked by hand in usage::domain::suppression's test
        // data_4_an_insider_may_recompute_what_is_only_its_own: the public's
        // cheapest cycle hides Villeurbanne's 12 and its total; Lyon, knowing
        // its own row, would get the 12 back from the État civil total, so
        // that total and the grand total go; the État civil column, known to
        // whoever reads that category's requests, with Villeurbanne's shown
        // 20 would give Villeurbanne's total, so the 20 and the Voirie total
        // go. Medians of a hidden count are hidden.
        let (status, csv, _) = get_text(&app, "/opendata/demandes-assistance.csv").await;
        assert_eq!(status, 200, "{}", t.name);
        assert_eq!(
            csv,
            format!(
                "mois,code_insee,commune,service,libelle_service,categorie,libelle_categorie,demandes,\
                 delai_median_premiere_reponse_heures,delai_median_resolution_heures\n\
                 {m},69266,Villeurbanne,laclasse.com,laclasse.com,compte,Mon compte,15,8.0,15.0\n\
                 {m},69123,Lyon,toodego,Toodego,etat-civil,État civil,,,\n\
                 {m},69123,Lyon,toodego,Toodego,voirie,Voirie et propreté,0,,\n\
                 {m},69266,Villeurbanne,toodego,Toodego,etat-civil,État civil,,,\n\
                 {m},69266,Villeurbanne,toodego,Toodego,voirie,Voirie et propreté,,,\n"
            ),
            "{}",
            t.name
        );

        // Contributions: every line of the demo's issued orders, whole; one
        // order reduced after it was issued (flagged), one cancelled (gone:
        // nothing of it is due).
        let orders = agreements::store::orders(&t.db, &Scope::All, 2026)
            .await
            .unwrap();
        assert!(orders.len() >= 3, "the demo issues 2026's orders");
        let (reduced, cancelled) = (orders[0].id, orders[1].id);
        agreements::store::correct_order(
            &t.db,
            kernel::audit::Actor::Cli,
            reduced,
            Some("1.00".parse().unwrap()),
            "Erreur de population",
            2026,
        )
        .await
        .unwrap();
        agreements::store::correct_order(
            &t.db,
            kernel::audit::Actor::Cli,
            cancelled,
            None,
            "Émis par erreur",
            2026,
        )
        .await
        .unwrap();
        let (status, csv, _) = get_text(&app, "/opendata/contributions-communes.csv").await;
        assert_eq!(status, 200);
        let mut expected = vec![
            "annee,code_insee,commune,service,libelle_service,montant_du,remboursement,montant,titre,titre_reduit"
                .to_string(),
        ];
        let mut rows = Vec::new();
        for o in orders.iter().filter(|o| o.id != cancelled) {
            let (order, lines, _) = agreements::store::order(&t.db, &Scope::All, o.id)
                .await
                .unwrap()
                .unwrap();
            let name: String = sqlx::query("SELECT name FROM organisations WHERE id = $1")
                .bind(order.commune_id)
                .fetch_one(t.db.pool())
                .await
                .unwrap()
                .get("name");
            for l in lines {
                rows.push((
                    order.insee_code.clone(),
                    format!(
                        "2026,{},{name},{},{},{:.2},{:.2},{:.2},{},{}",
                        order.insee_code,
                        l.service_code,
                        l.service_name,
                        l.due,
                        l.refund,
                        l.amount,
                        order.reference(),
                        order.id == reduced,
                    ),
                ));
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        expected.extend(rows.into_iter().map(|r| r.1));
        assert_eq!(csv, expected.join("\n") + "\n", "{}", t.name);
        assert!(csv.contains(",true\n"), "{csv}");

        // The catalogue (DCAT, JSON-LD), as served.
        let (status, body, headers) = get_text(&app, "/opendata/catalog.jsonld").await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/ld+json");
        let catalog: Value = serde_json::from_str(&body).unwrap();
        let datasets = catalog["dcat:dataset"].as_array().unwrap();
        assert_eq!(datasets.len(), 3);
        let usage = &datasets[0];
        assert_eq!(usage["dct:identifier"], "usage-services");
        let end = this_month.previous_day().unwrap().to_string();
        assert_eq!(
            usage["dct:temporal"]["dcat:startDate"]["@value"],
            last_month.to_string()
        );
        assert_eq!(usage["dct:temporal"]["dcat:endDate"]["@value"], end);
        assert_eq!(
            usage["dcat:distribution"][0]["dcat:downloadURL"]["@id"],
            app.url("/opendata/usage-services.csv")
        );
        assert_eq!(
            datasets[2]["dct:temporal"]["dcat:startDate"]["@value"],
            "2026-01-01"
        );

        // An unknown dataset, and the page for people.
        let (status, _, _) = get_text(&app, "/opendata/inconnu.csv").await;
        assert_eq!(status, 404);
        let (status, page, _) = get_text(&app, "/opendata").await;
        assert_eq!(status, 200);
        assert!(page.contains("Licence Ouverte"), "{page}");
        assert!(page.contains("/opendata/demandes-assistance.schema.json"));

        if check {
            let (ok, report) = run_checker(&[&app.base]).await;
            assert!(ok, "{}: {report:#}", t.name);
            let rows = |id: &str| report["datasets"][id]["csv"]["rows"].as_u64();
            assert_eq!(rows("usage-services"), Some(4), "{report:#}");
            assert_eq!(rows("demandes-assistance"), Some(5), "{report:#}");
            assert_eq!(
                rows("contributions-communes"),
                Some(expected.len() as u64 - 1)
            );
            assert_eq!(
                report["datasets"]["usage-services"]["license"],
                usage::domain::open_data::LICENCE_URL
            );
            assert_eq!(
                report["datasets"]["usage-services"]["temporal"],
                serde_json::json!([last_month.to_string(), end])
            );
        }
        app.stop().await;
    }
}

/// The schema check can fail: a count below zero, a commune code of four
/// digits and a month that does not exist are each refused by frictionless.
#[tokio::test]
async fn a_csv_that_breaks_its_schema_is_refused_data_4() {
    if checker().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        usage::domain::open_data::table_schema(&usage::domain::open_data::USAGE, "http://x")
            .to_string(),
    )
    .unwrap();
    let header = "mois,code_insee,commune,service,libelle_service,evenements,visites\n";
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        format!("{header}2026-10,69123,Lyon,toodego,Toodego,,12\n"),
    )
    .unwrap();
    let (ok, report) =
        run_checker(&["--files", schema.to_str().unwrap(), good.to_str().unwrap()]).await;
    assert!(ok, "{report:#}");
    for bad_row in [
        "2026-10,69123,Lyon,toodego,Toodego,-4,12",
        "2026-10,6912,Lyon,toodego,Toodego,40,12",
        "2026-13,69123,Lyon,toodego,Toodego,40,12",
    ] {
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, format!("{header}{bad_row}\n")).unwrap();
        let (ok, report) =
            run_checker(&["--files", schema.to_str().unwrap(), bad.to_str().unwrap()]).await;
        assert!(!ok, "{bad_row} should be refused: {report:#}");
        assert_eq!(report["valid"], false);
    }
}
