//! DATA-1, DATA-2: usage events sent by a service, checked one by one and
//! counted without keeping anything that identifies a person.

use reqwest::Method;
use serde_json::json;
use sqlx::Row;

use crate::assistance::api_json;
use crate::support::TestApp;
use kernel::testing;

const EVENTS: &str = "/api/v1/usage/events";

/// A `client_credentials` token of the demo's Toodego client, which the
/// demo links to the `toodego` service.
async fn toodego_token(app: &TestApp) -> String {
    let (id, _, secret) = server::demo::DEMO_CLIENTS
        .iter()
        .find(|c| c.0 == "toodego")
        .unwrap();
    let (status, body) = crate::oidc::token_request(
        app,
        &[("grant_type", "client_credentials")],
        Some((id, secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn toodego_id(t: &testing::TestDb) -> i64 {
    sqlx::query("SELECT id FROM services WHERE code = 'toodego'")
        .fetch_one(t.db.pool())
        .await
        .unwrap()
        .get("id")
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn events_are_checked_one_by_one_and_the_valid_ones_kept_data_1() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let token = toodego_token(&app).await;
        let now = now_rfc3339();
        let batch = json!({"events": [
            {"type": "page", "time": now, "page": "https://toodego.example/stationnement?email=a@b.fr",
             "commune": "69266", "user_agent": "Mozilla/5.0 (X11)", "client_address": "198.51.100.23"},
            {"type": "Page", "time": now, "page": "/x"},
            {"type": "search", "time": now, "feature": "recherche-demarche"},
            {"type": "page", "time": now, "page": "/y", "commune": "75056"},
            {"type": "page", "time": 12, "page": "/z"},
            {"type": "page", "time": now, "page": "/w", "client_address": "198.51.100.99",
             "user_agent": "Mozilla/5.0 (X11)"},
        ]});
        let (status, _, answer) =
            api_json(&app, Method::POST, EVENTS, Some(&token), Some(batch)).await;
        assert_eq!(status, 200, "{}: {answer}", t.name);
        assert_eq!(answer["accepted"], 3, "{}: {answer}", t.name);
        let rejected: Vec<(u64, &str)> = answer["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap()))
            .collect();
        assert_eq!(rejected, [(1, "type"), (3, "commune"), (4, "event")]);
        assert!(
            answer["rejected"][1]["reason"]
                .as_str()
                .unwrap()
                .contains("commune membre")
        );
        let rows = sqlx::query(
            "SELECT type, page, feature, commune, visitor FROM usage_events ORDER BY id",
        )
        .fetch_all(t.db.pool())
        .await
        .unwrap();
        assert_eq!(rows.len(), 3, "{}", t.name);
        let get = |i: usize, c: &str| rows[i].get::<Option<String>, _>(c);
        // DATA-2: the path only, no query string.
        assert_eq!(get(0, "page").as_deref(), Some("/stationnement"));
        assert_eq!(get(0, "commune").as_deref(), Some("69266"));
        assert_eq!(get(1, "feature").as_deref(), Some("recherche-demarche"));
        assert_eq!(get(1, "visitor"), None, "no address, no visitor");
        // The same /24 and browser the same day: one visitor, 128 bits.
        let visitor = get(0, "visitor").unwrap();
        assert_eq!(visitor.len(), 32);
        assert_eq!(get(2, "visitor").as_deref(), Some(visitor.as_str()));
        app.stop().await;
    }
}

#[tokio::test]
async fn only_a_linked_service_sends_events_and_batches_are_bounded_data_1() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let one = json!({"events": [{"type": "page", "time": now_rfc3339(), "page": "/"}]});
        let (status, _, _) = api_json(&app, Method::POST, EVENTS, None, Some(one.clone())).await;
        assert_eq!(status, 401, "{}: no token", t.name);
        let (status, _, _) = api_json(
            &app,
            Method::POST,
            EVENTS,
            Some("forged"),
            Some(one.clone()),
        )
        .await;
        assert_eq!(status, 401, "{}: a forged token", t.name);
        // A client linked to no service.
        let new = identity::oidc::clients::NewClient {
            name: "Sans service".into(),
            redirect_uris: vec!["http://localhost:4000/cb".into()],
            scopes: vec!["openid".into()],
            ..Default::default()
        };
        let (client, secret) =
            identity::oidc::clients::create(&t.db, kernel::audit::Actor::Cli, &new)
                .await
                .unwrap()
                .unwrap();
        let (status, body) = crate::oidc::token_request(
            &app,
            &[("grant_type", "client_credentials")],
            Some((&client, &secret.unwrap())),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let unlinked = body["access_token"].as_str().unwrap();
        let (status, _, answer) = api_json(
            &app,
            Method::POST,
            EVENTS,
            Some(unlinked),
            Some(one.clone()),
        )
        .await;
        assert_eq!(status, 403, "{}: {answer}", t.name);
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("Intégration des services")
        );
        let token = toodego_token(&app).await;
        let too_many = json!({"events": vec![json!({}); 10_001]});
        let (status, _, answer) =
            api_json(&app, Method::POST, EVENTS, Some(&token), Some(too_many)).await;
        assert_eq!(status, 413, "{}: {answer}", t.name);
        let (status, _, answer) = api_json(
            &app,
            Method::POST,
            EVENTS,
            Some(&token),
            Some(json!([1, 2])),
        )
        .await;
        assert_eq!(status, 422, "{}: {answer}", t.name);
        let stored: i64 = sqlx::query("SELECT COUNT(*) AS n FROM usage_events")
            .fetch_one(t.db.pool())
            .await
            .unwrap()
            .get("n");
        assert_eq!(stored, 0, "{}: nothing kept from refused batches", t.name);
        app.stop().await;
    }
}

/// DATA-2: once a day, past days' salts are destroyed and events older
/// than 25 months deleted; a second run the same day does nothing.
#[tokio::test]
async fn the_daily_job_destroys_old_salts_and_purges_old_events_data_2() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let now = kernel::clock::now_ms();
        let today = kernel::clock::paris_day(now);
        let oldest = usage::domain::event::oldest_day(today);
        let day_before = oldest.previous_day().unwrap();
        let yesterday = today.previous_day().unwrap();
        let service = toodego_id(&t).await;
        for (day, page) in [
            (day_before, "/trop-vieux"),
            (oldest, "/garde"),
            (today, "/jour"),
        ] {
            sqlx::query(
                "INSERT INTO usage_events (service_id, type, occurred_at, day, page, received_at) \
                 VALUES ($1, 'page', $2, $3, $4, $2)",
            )
            .bind(service)
            .bind(now)
            .bind(day.to_string())
            .bind(page)
            .execute(t.db.pool())
            .await
            .unwrap();
        }
        for day in [yesterday, today] {
            sqlx::query("INSERT INTO usage_salts (day, salt) VALUES ($1, 'sel')")
                .bind(day.to_string())
                .execute(t.db.pool())
                .await
                .unwrap();
        }
        let done = usage::store::daily(&t.db, now).await.unwrap();
        assert_eq!(done, Some((1, 1)), "{}", t.name);
        let pages: Vec<String> = sqlx::query("SELECT page FROM usage_events ORDER BY day")
            .fetch_all(t.db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("page"))
            .collect();
        assert_eq!(pages, ["/garde", "/jour"], "{}", t.name);
        let salts: Vec<String> = sqlx::query("SELECT day FROM usage_salts")
            .fetch_all(t.db.pool())
            .await
            .unwrap()
            .iter()
            .map(|r| r.get("day"))
            .collect();
        assert_eq!(salts, [today.to_string()], "{}", t.name);
        assert_eq!(usage::store::daily(&t.db, now).await.unwrap(), None);
        app.stop().await;
    }
}

/// Every file under `dir` (recursively), modified since `since`, that
/// contains one of `needles`.
fn files_containing(
    dir: &std::path::Path,
    needles: &[&str],
    since: std::time::SystemTime,
) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap().flatten() {
                stack.push(entry.path());
            }
            continue;
        }
        let recent = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m >= since);
        if !recent {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&path) {
            for needle in needles {
                if memchr::memmem::find(&bytes, needle.as_bytes()).is_some() {
                    found.push(format!("{} contains {needle}", path.display()));
                }
            }
        }
    }
    found
}

/// DATA-2: after a real node has ingested events with a client address,
/// a user agent, a person's subject and an e-mail in a page's query
/// string, none of them is in any file of the database (SQLite's file and
/// its WAL; PostgreSQL's data directory, WAL included) nor in the node's
/// logs, at debug level.
#[tokio::test]
async fn no_address_agent_or_subject_reaches_the_disk_or_the_logs_data_2() {
    const ADDRESS: &str = "198.51.100.213";
    const AGENT: &str = "CanaryBrowser/7.7 (canary-ua-5c1f)";
    const SUB: &str = "sub-canary-7d2e";
    const EMAIL: &str = "canary.person@example.org";
    // The /24 the hash is made from must not be stored either.
    const NETWORK: &str = "198.51.100.";
    let needles = [ADDRESS, AGENT, "canary-ua-5c1f", SUB, EMAIL, NETWORK];
    // Files written before the test cannot hold what it sent (the shared
    // test cluster holds every other test's databases and WAL).
    let start = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
    let postgres = testing::postgres().await;
    let mut backends: Vec<Option<&testing::TestDb>> = vec![None];
    backends.extend(postgres.as_ref().map(Some));
    for pg in backends {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("node.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let data = dir.path().join("data");
        let mut args = vec!["--demo", "--log-format", "json"];
        if let Some(pg) = pg {
            args.extend(["--database-url", pg.url.as_str()]);
        }
        let node =
            crate::nodes::serve_logging(&args, &data, log.into(), &[("MUTUALIS_LOG", "debug")]);
        node.ready().await;
        let base = format!("http://127.0.0.1:{}", node.port);
        let (id, _, secret) = server::demo::DEMO_CLIENTS
            .iter()
            .find(|c| c.0 == "toodego")
            .unwrap();
        let http = reqwest::Client::new();
        let token: serde_json::Value = http
            .post(format!("{base}/oidc/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap();
        let events: Vec<serde_json::Value> = (0..50)
            .map(|i| {
                json!({"type": "page", "time": now_rfc3339(), "commune": "69266",
                       "page": format!("https://toodego.example/p{i}?email={EMAIL}"),
                       "client_address": ADDRESS, "user_agent": AGENT, "sub": SUB})
            })
            .collect();
        let answer: serde_json::Value = http
            .post(format!("{base}/api/v1/usage/events"))
            .bearer_auth(token)
            .json(&json!({ "events": events }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["accepted"], 50, "{answer}");
        assert!(node.terminate().success());
        let mut leaks = files_containing(dir.path(), &needles, start);
        if let Some(pg) = pg {
            // What PostgreSQL wrote: tables, indexes and WAL.
            sqlx::query("CHECKPOINT")
                .execute(pg.db.pool())
                .await
                .unwrap();
            let data_dir: String = sqlx::query("SHOW data_directory")
                .fetch_one(pg.db.pool())
                .await
                .unwrap()
                .get(0);
            let oid: String =
                sqlx::query("SELECT oid::text FROM pg_database WHERE datname = current_database()")
                    .fetch_one(pg.db.pool())
                    .await
                    .unwrap()
                    .get(0);
            let readable = std::fs::read_dir(&data_dir).is_ok();
            if !readable && kernel::testing::ci() {
                panic!("CI=true but PostgreSQL's data directory {data_dir} is not readable");
            }
            if readable {
                // This database's tables and indexes, the shared catalogs
                // and the WAL.
                let data_dir = std::path::Path::new(&data_dir);
                for part in [
                    data_dir.join("base").join(&oid),
                    data_dir.join("global"),
                    data_dir.join("pg_wal"),
                ] {
                    leaks.extend(files_containing(&part, &needles, start));
                }
            } else {
                eprintln!("\n*** {data_dir} not readable: PostgreSQL's files NOT checked ***\n");
            }
        }
        assert!(leaks.is_empty(), "{leaks:#?}");
        // The check can fail: the hint is in what the test sent, and the
        // log has the node's requests.
        let logs = std::fs::read_to_string(&log_path).unwrap();
        assert!(
            logs.contains("/api/v1/usage/events"),
            "the log has the request"
        );
    }
}

/// DATA-2: "Mesure d'audience" says what is measured, in French (and in
/// English), and every page's footer links to it.
#[tokio::test]
async fn the_audience_page_is_linked_from_every_footer_data_2() {
    let t = testing::sqlite().await;
    let app = TestApp::spawn(&t).await;
    let b = app.browser();
    let page = b.get("/mesure-d-audience").await;
    assert_eq!(page.status, 200);
    for said in [
        "Mesure d&#39;audience",
        "adresse IP n&#39;est jamais enregistrée",
        "Global Privacy Control",
        "25 mois",
        "inférieur à 11",
    ] {
        assert!(page.body.contains(said), "{said}");
    }
    for path in [
        "/",
        "/aide",
        "/connexion",
        "/confidentialite",
        "/page-inconnue",
    ] {
        let page = b.get(path).await;
        assert!(
            page.body.contains("href=\"/mesure-d-audience\""),
            "{path}: no link in the footer"
        );
    }
    b.get("/langue/en?retour=/mesure-d-audience").await;
    let english = b.get("/mesure-d-audience").await;
    assert!(english.body.contains("Your IP address is never recorded"));
    app.stop().await;
}

/// DATA-1 from a page: `usage.js` and its beacon (no token, no cookie);
/// DATA-2: `DNT: 1` or `Sec-GPC: 1` and nothing is kept.
#[tokio::test]
async fn a_page_beacon_counts_unless_the_browser_opts_out_data_1_data_2() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let http = reqwest::Client::new();
        let script = http.get(app.url("/usage.js")).send().await.unwrap();
        assert_eq!(script.status(), 200);
        assert_eq!(
            script.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        assert!(script.headers().get("set-cookie").is_none());
        let js = script.text().await.unwrap();
        assert!(js.contains("globalPrivacyControl") && js.contains("doNotTrack"));
        let send = |body: &'static str, opt_out: Option<(&'static str, &'static str)>| {
            let mut r = http
                .post(app.url("/api/v1/usage/beacon"))
                .header("content-type", "text/plain;charset=UTF-8")
                .header("user-agent", "Mozilla/5.0 (Beacon)")
                .header("origin", "https://toodego.example")
                .body(body);
            if let Some((h, v)) = opt_out {
                r = r.header(h, v);
            }
            r.send()
        };
        let page = r#"{"service":"toodego","type":"page","page":"/demarches?nom=Dupont","commune":"69266"}"#;
        let kept = send(page, None).await.unwrap();
        assert_eq!(kept.status(), 204, "{}", t.name);
        assert_eq!(kept.headers()["access-control-allow-origin"], "*");
        assert!(kept.headers().get("set-cookie").is_none(), "no cookie");
        for opt_out in [("dnt", "1"), ("sec-gpc", "1")] {
            assert_eq!(send(page, Some(opt_out)).await.unwrap().status(), 204);
        }
        let unknown = send(r#"{"service":"inconnu","type":"page","page":"/"}"#, None)
            .await
            .unwrap();
        assert_eq!(unknown.headers()["access-control-allow-origin"], "*");
        let said: serde_json::Value = unknown.json().await.unwrap();
        assert!(
            said["message"].as_str().unwrap().contains("data-service"),
            "{said}"
        );
        assert!(
            said["message_en"]
                .as_str()
                .unwrap()
                .contains("data-service"),
            "{said}"
        );
        for bad in [
            r#"{"service":"inconnu","type":"page","page":"/"}"#,
            r#"{"service":"toodego","type":"Page","page":"/"}"#,
            r#"{"service":"toodego","type":"page","page":"/","ip":"1.2.3.4"}"#,
        ] {
            assert_eq!(send(bad, None).await.unwrap().status(), 422, "{bad}");
        }
        let rows = sqlx::query("SELECT page, commune, visitor FROM usage_events")
            .fetch_all(t.db.pool())
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{}: the opted-out ones are not kept", t.name);
        assert_eq!(rows[0].get::<String, _>("page"), "/demarches");
        assert_eq!(rows[0].get::<String, _>("commune"), "69266");
        // The peer address (loopback here) makes the visitor of the day.
        assert_eq!(
            rows[0].get::<Option<String>, _>("visitor").unwrap().len(),
            32
        );
        app.stop().await;
    }
}

/// The aggregates as stored: (day, commune, type) -> (events, visitors, visits).
async fn daily_rows(
    t: &testing::TestDb,
) -> std::collections::BTreeMap<(String, String, String), (i64, i64, i64)> {
    sqlx::query("SELECT day, commune, type, events, visitors, visits FROM usage_daily")
        .fetch_all(t.db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r.get("day"), r.get("commune"), r.get("type")),
                (r.get("events"), r.get("visitors"), r.get("visits")),
            )
        })
        .collect()
}

/// DATA-3: daily aggregates per service × commune × type, worked by hand:
/// events, distinct visitors, and visits (split after 30 minutes without an
/// event); refreshed incrementally for the days that received events, and
/// equal to a full rebuild.
#[tokio::test]
async fn daily_aggregates_count_events_visitors_and_visits_data_3() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let db = &app.state.db;
        let service = toodego_id(&t).await;
        let now = kernel::clock::now_ms();
        let today = kernel::clock::paris_day(now).to_string();
        let yesterday = kernel::clock::paris_day(now - 86_400_000).to_string();
        const MIN: i64 = 60_000;
        let t0 = 1_000_000;
        let insert = |day: String,
                      at: i64,
                      kind: &'static str,
                      commune: Option<&'static str>,
                      visitor: Option<&'static str>| {
            let pool = t.db.pool().clone();
            async move {
                sqlx::query(
                    "INSERT INTO usage_events (service_id, type, occurred_at, day, page, commune, visitor, received_at) \
                     VALUES ($1, $2, $3, $4, '/', $5, $6, $7)",
                )
                .bind(service)
                .bind(kind)
                .bind(at)
                .bind(day)
                .bind(commune)
                .bind(visitor)
                .bind(kernel::clock::now_ms())
                .execute(&pool)
                .await
                .unwrap();
            }
        };
        let v = Some("69266");
        // Visitor A: two pages 10 minutes apart (one visit), then a search
        // 40 minutes later (a second visit). B: one page in Lyon. One page
        // without a visitor (no address). C yesterday, commune unknown.
        insert(today.clone(), t0, "page", v, Some("aaaa")).await;
        insert(today.clone(), t0 + 10 * MIN, "page", v, Some("aaaa")).await;
        insert(today.clone(), t0 + 50 * MIN, "search", v, Some("aaaa")).await;
        insert(
            today.clone(),
            t0 + 5 * MIN,
            "page",
            Some("69123"),
            Some("bbbb"),
        )
        .await;
        insert(today.clone(), t0, "page", v, None).await;
        insert(yesterday.clone(), t0, "page", None, Some("cccc")).await;
        let days = usage::store::refresh(db).await.unwrap();
        assert_eq!(days, [yesterday.clone(), today.clone()], "{}", t.name);
        let key = |d: &str, c: &str, k: &str| (d.to_string(), c.to_string(), k.to_string());
        let expected = std::collections::BTreeMap::from([
            (key(&today, "69266", "page"), (3, 1, 1)),
            (key(&today, "69266", "search"), (1, 1, 1)),
            (key(&today, "69123", "page"), (1, 1, 1)),
            (key(&yesterday, "", "page"), (1, 1, 1)),
        ]);
        assert_eq!(daily_rows(&t).await, expected, "{}", t.name);
        // A comes back 5 minutes after the search: the same second visit,
        // which now has a page too.
        insert(today.clone(), t0 + 55 * MIN, "page", v, Some("aaaa")).await;
        let days = usage::store::refresh(db).await.unwrap();
        assert!(days.contains(&today), "{}", t.name);
        let mut expected = expected;
        expected.insert(key(&today, "69266", "page"), (4, 1, 2));
        assert_eq!(daily_rows(&t).await, expected, "{}", t.name);
        usage::store::rebuild(db).await.unwrap();
        assert_eq!(daily_rows(&t).await, expected, "{}: rebuilt alike", t.name);
        app.stop().await;
    }
}

/// DATA-3: the dashboard and its CSV. The metropolis sees every commune and
/// compares them; Villeurbanne's staff see Villeurbanne's figures only, and
/// Lyon's do not exist for them (OPS-7).
#[tokio::test]
async fn dashboards_show_each_commune_its_own_figures_data_3() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let token = toodego_token(&app).await;
        let now = now_rfc3339();
        let mut events = Vec::new();
        for (commune, n, address) in [("69266", 3, "198.51.100.1"), ("69123", 5, "198.51.100.2")] {
            for _ in 0..n {
                events.push(
                    json!({"type": "page", "time": now, "page": "/", "commune": commune,
                                   "client_address": address, "user_agent": "UA"}),
                );
            }
        }
        let (status, _, answer) = api_json(
            &app,
            Method::POST,
            EVENTS,
            Some(&token),
            Some(json!({"events": events})),
        )
        .await;
        assert_eq!(
            (status.as_u16(), answer["accepted"].as_u64()),
            (200, Some(8))
        );
        usage::store::refresh(&app.state.db).await.unwrap();
        let lyon: i64 = sqlx::query("SELECT id FROM organisations WHERE insee_code = '69123'")
            .fetch_one(t.db.pool())
            .await
            .unwrap()
            .get("id");

        let metropolis = app.browser();
        metropolis
            .login(crate::support::METROPOLIS_ADMIN, crate::support::PASSWORD)
            .await;
        let page = metropolis.get("/gestion/usage").await;
        assert_eq!(page.status, 200, "{}", t.name);
        assert!(page.body.contains("Comparaison des communes"));
        assert!(
            page.body
                .contains("<td>Villeurbanne</td><td>69266</td><td>3</td><td>1</td><td>1</td>"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains("<td>Lyon</td><td>69123</td><td>5</td><td>1</td><td>1</td>")
        );
        assert!(
            page.body.contains("<title id=\"tendance-titre\">"),
            "a chart with its title"
        );
        let csv = metropolis.get("/gestion/usage/export.csv").await;
        assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
        let lines: Vec<&str> = csv.body.lines().collect();
        assert_eq!(
            lines[0],
            "jour,service,commune,type,evenements,visiteurs,visites"
        );
        let today = kernel::clock::paris_day(kernel::clock::now_ms());
        assert_eq!(
            lines[1..],
            [
                format!("{today},toodego,69123,page,5,1,1"),
                format!("{today},toodego,69266,page,3,1,1"),
            ]
        );

        let villeurbanne = app.browser();
        villeurbanne
            .login(crate::support::COMMUNE_ADMIN, crate::support::PASSWORD)
            .await;
        let own = villeurbanne.get("/gestion/usage").await;
        assert_eq!(own.status, 200);
        assert!(!own.body.contains("Comparaison des communes"));
        assert!(own.body.contains("<dd>3</dd>"), "Villeurbanne's 3 events");
        assert!(!own.body.contains("69123") && !own.body.contains(">5<"));
        let csv = villeurbanne.get("/gestion/usage/export.csv").await;
        assert_eq!(csv.body.lines().count(), 2, "{}", csv.body);
        assert!(csv.body.contains(",69266,") && !csv.body.contains(",69123,"));
        for path in [
            format!("/gestion/usage?organisation={lyon}"),
            format!("/gestion/usage/export.csv?organisation={lyon}"),
        ] {
            assert_eq!(villeurbanne.get(&path).await.status, 404, "{path}");
        }
        let bad = villeurbanne.get("/gestion/usage?du=hier").await;
        assert_eq!(bad.status, 400);
        assert!(bad.body.contains("AAAA-MM-JJ"));
        // Signed out: the sign-in page, not the figures.
        let anonymous = app.browser().get("/gestion/usage").await;
        assert_ne!(anonymous.status, 200);
        app.stop().await;
    }
}

/// ID-4, DATA-2: an event keeps the person's `sub` only under their live
/// consent to statistics of their use of that service. The consent screen
/// asks for it unticked; without it (or for a subject the platform never
/// issued) the `sub` is dropped and the event counted like anybody's.
/// Withdrawing the consent erases the subject at the daily job; deleting the
/// account, at once. The person's export lists their events.
#[tokio::test]
async fn events_keep_the_subject_only_under_consent_id_4_data_2() {
    for t in testing::databases().await {
        let app = TestApp::spawn(&t).await;
        let (id, _, secret) = server::demo::DEMO_CLIENTS
            .iter()
            .find(|c| c.0 == "toodego")
            .unwrap();
        let client = (*id, *secret, "http://localhost:3000/toodego/callback");
        let hash = kernel::password::hash_blocking("une phrase de passe");
        let mut people = Vec::new();
        for (email, statistics) in [
            ("oui@exemple.fr", true),
            ("non@exemple.fr", false),
            ("parti@exemple.fr", true),
        ] {
            let address = identity::domain::EmailAddress::parse(email).unwrap();
            let account = identity::store::create_inhabitant(&t.db, &address, &hash, true, &[])
                .await
                .unwrap()
                .unwrap();
            let b = app.browser();
            b.login(email, "une phrase de passe").await;
            let ticked: &[&str] = if statistics {
                &["email", "usage_statistics"]
            } else {
                &["email"]
            };
            let (screen, tokens) = crate::oidc::code_flow_with(
                &app,
                &b,
                client,
                "openid email usage_statistics",
                ticked,
            )
            .await;
            assert!(tokens["id_token"].is_string(), "{tokens}");
            // Asked, and unticked until the person ticks it.
            assert!(
                screen.contains("Statistiques d&#39;usage à votre nom"),
                "{screen}"
            );
            assert!(screen.contains("name=\"claims\" value=\"usage_statistics\">"));
            assert!(screen.contains("name=\"claims\" value=\"email\" checked>"));
            let sub = identity::oidc::store::pairwise_sub(&t.db, id, account)
                .await
                .unwrap();
            people.push((account, sub));
        }
        let token = toodego_token(&app).await;
        let now = now_rfc3339();
        let event = |sub: &str| json!({"type": "page", "time": now, "page": "/compte", "sub": sub});
        // An hour ago: before the consent, so not covered by it.
        let before = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let batch = json!({"events": [
            event(&people[0].1), event(&people[1].1), event("jamais-emis"), event(&people[2].1),
            {"type": "page", "time": before, "page": "/avant", "sub": people[0].1},
        ]});
        let (status, _, answer) =
            api_json(&app, Method::POST, EVENTS, Some(&token), Some(batch)).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["accepted"], 5, "{answer}");
        let subjects = || async {
            sqlx::query("SELECT subject FROM usage_events ORDER BY id")
                .fetch_all(t.db.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<Option<String>, _>("subject"))
                .collect::<Vec<_>>()
        };
        // people[1] did not tick the statistics: their event has no subject.
        let (yes, gone) = (&people[0], &people[2]);
        assert_eq!(
            subjects().await,
            [Some(yes.1.clone()), None, None, Some(gone.1.clone()), None],
            "{}",
            t.name
        );

        // The service reads back what it kept under a consenting person's
        // subject (the purpose they agreed to); nothing for the others.
        let read = |sub: String| {
            let token = token.clone();
            let app = &app;
            async move {
                api_json(
                    app,
                    Method::GET,
                    &format!("/api/v1/usage/subjects/{sub}/events"),
                    Some(&token),
                    None,
                )
                .await
            }
        };
        let (status, _, kept) = read(yes.1.clone()).await;
        assert_eq!(status, 200, "{kept}");
        assert_eq!(kept["events"].as_array().unwrap().len(), 1, "{kept}");
        assert_eq!(kept["events"][0]["page"], "/compte");
        assert_eq!(read(people[1].1.clone()).await.0, 404);
        assert_eq!(read("jamais-emis".into()).await.0, 404);

        // ID-8: the person's export holds their events.
        let export = identity::store::rights::export(&t.db, yes.0).await.unwrap();
        let events = export["usage_statistics"]["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{export}");
        assert_eq!(events[0]["service"], "toodego");
        assert_eq!(events[0]["page"], "/compte");

        // Deleting the account erases its subject at once.
        identity::store::rights::delete_account(
            &t.db,
            gone.0,
            kernel::audit::Actor::Account(gone.0),
            "test",
        )
        .await
        .unwrap();
        assert_eq!(
            subjects().await,
            [Some(yes.1.clone()), None, None, None, None],
            "{}",
            t.name
        );

        // Withdrawing the consent erases the subject at once, in the
        // withdrawal's own transaction.
        let toodego = identity::oidc::clients::get(&t.db, id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            usage::store::forget_withdrawn(&t.db, kernel::clock::now_ms())
                .await
                .unwrap(),
            0,
            "a live consent keeps its subject"
        );
        assert!(
            identity::oidc::consents::revoke(&t.db, yes.0, &toodego, None)
                .await
                .unwrap()
        );
        assert_eq!(
            subjects().await,
            [None, None, None, None, None],
            "{}",
            t.name
        );
        assert_eq!(read(yes.1.clone()).await.0, 404, "withdrawn");
        // A batch checked just before the withdrawal and committed just after
        // it: the daily job's pass erases what slipped through.
        sqlx::query("UPDATE usage_events SET subject = $1 WHERE page = '/avant'")
            .bind(&yes.1)
            .execute(t.db.pool())
            .await
            .unwrap();
        assert_eq!(
            usage::store::forget_withdrawn(&t.db, kernel::clock::now_ms())
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            subjects().await,
            [None, None, None, None, None],
            "{}",
            t.name
        );
        // The events themselves stay, counted like anybody's.
        app.stop().await;
    }
}

/// DATA-1: the usage API is in the platform's OpenAPI spec, beside the
/// assistance's, with its token, its event's fields and its answers.
#[tokio::test]
async fn the_usage_api_is_in_the_openapi_spec_data_1() {
    let t = testing::sqlite().await;
    let app = TestApp::spawn(&t).await;
    let (status, _, spec) = api_json(&app, Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 200);
    let events = &spec["paths"]["/api/v1/usage/events"]["post"];
    assert_eq!(
        events["security"][0]["service_token"],
        json!([]),
        "{events:#}"
    );
    for code in ["200", "401", "403", "413", "422"] {
        assert!(
            events["responses"].get(code).is_some(),
            "{code}: {events:#}"
        );
    }
    assert!(spec["paths"]["/api/v1/usage/beacon"]["post"].is_object());
    assert!(
        spec["paths"]["/api/v1/help-requests"].is_object(),
        "the assistance's part too"
    );
    let event = &spec["components"]["schemas"]["UsageEvent"];
    let mut fields: Vec<&str> = event["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "client_address",
            "commune",
            "feature",
            "page",
            "sub",
            "time",
            "type",
            "user_agent"
        ]
    );
    assert_eq!(event["required"], json!(["type", "time"]));
    assert_eq!(
        spec["components"]["securitySchemes"]["service_token"]["scheme"],
        "bearer"
    );
    app.stop().await;
}
