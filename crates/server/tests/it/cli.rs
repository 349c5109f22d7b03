//! The real binary's operator commands, on SQLite and PostgreSQL.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use kernel::testing::{self, TestDb};
use sqlx::Row;

use crate::support::binary;

/// Runs `mutualis ARGS` against `t`'s database.
pub(crate) fn run(
    t: &TestDb,
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(args)
        .env("MUTUALIS_DATA_DIR", data_dir)
        .env_remove("MUTUALIS_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if t.name == "postgres" {
        cmd.env("MUTUALIS_DATABASE_URL", &t.url);
    } else {
        // The SQLite file of the test database lives in its own directory.
        let path = t
            .url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap();
        cmd.env(
            "MUTUALIS_DATA_DIR",
            std::path::Path::new(path).parent().unwrap(),
        );
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn count(t: &TestDb, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(t.db.pool())
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn importing_communes_reports_every_bad_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "insee_code,siren,name,population_in_force_2026\n69123,216901231,Lyon,519127\n69266,216902668,Villeurbanne,beaucoup\n6925,216902593,Vénissieux,65502\n",
    )
    .unwrap();
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/metropole-lyon-communes.csv"
    );
    for t in testing::databases().await {
        let out = run(
            &t,
            dir.path(),
            &["import", "communes", bad.to_str().unwrap()],
            None,
        );
        assert!(!out.status.success(), "{}", t.name);
        let err = text(&out.stderr);
        assert!(
            err.contains("line 3:") && err.contains("beaucoup"),
            "{}: {err}",
            t.name
        );
        assert!(err.contains("line 4:") && err.contains("INSEE"), "{err}");
        assert!(err.contains("nothing was imported"), "{err}");
        assert_eq!(
            count(&t, "SELECT COUNT(*) FROM organisations").await,
            0,
            "{}: nothing written",
            t.name
        );

        let out = run(&t, dir.path(), &["import", "communes", good], None);
        assert!(out.status.success(), "{}: {}", t.name, text(&out.stderr));
        assert!(
            text(&out.stdout).contains("58 communes read: 58 created, 0 updated, 0 unchanged"),
            "{}",
            text(&out.stdout)
        );
        assert_eq!(count(&t, "SELECT COUNT(*) FROM populations").await, 116);
        let again = run(&t, dir.path(), &["import", "communes", good], None);
        assert!(text(&again.stdout).contains("0 created, 0 updated, 58 unchanged"));
    }
}

#[tokio::test]
async fn audit_verify_names_the_first_edited_entry_ops_3() {
    let dir = tempfile::tempdir().unwrap();
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/metropole-lyon-communes.csv"
    );
    for t in testing::databases().await {
        run(&t, dir.path(), &["import", "communes", good], None);
        let out = run(
            &t,
            dir.path(),
            &[
                "admin",
                "create",
                "--email",
                "dpo@metropole.demo",
                "--password-stdin",
            ],
            Some("une phrase de passe solide\n"),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let ok = run(&t, dir.path(), &["audit", "verify"], None);
        assert!(ok.status.success(), "{}: {}", t.name, text(&ok.stderr));
        assert!(text(&ok.stdout).contains("entries verified"));

        // Someone with database access rewrites history.
        sqlx::query("UPDATE audit_journal SET details = '{\"rows\":1}' WHERE seq = 2")
            .execute(t.db.pool())
            .await
            .unwrap();
        let caught = run(&t, dir.path(), &["audit", "verify"], None);
        assert!(!caught.status.success(), "{}", t.name);
        assert!(
            text(&caught.stderr).contains("broken at entry 2"),
            "{}",
            text(&caught.stderr)
        );
    }
}

#[tokio::test]
async fn admin_create_reads_or_generates_the_password() {
    let dir = tempfile::tempdir().unwrap();
    for t in testing::databases().await {
        let short = run(
            &t,
            dir.path(),
            &[
                "admin",
                "create",
                "--email",
                "a@metropole.demo",
                "--password-stdin",
            ],
            Some("court\n"),
        );
        assert!(!short.status.success());
        assert!(text(&short.stderr).contains("at least 10 characters"));
        assert_eq!(
            count(&t, "SELECT COUNT(*) FROM accounts").await,
            0,
            "{}",
            t.name
        );

        let bad_email = run(
            &t,
            dir.path(),
            &["admin", "create", "--email", "pas une adresse"],
            None,
        );
        assert!(!bad_email.status.success() && text(&bad_email.stderr).contains("invalid e-mail"));

        let generated = run(
            &t,
            dir.path(),
            &["admin", "create", "--email", "a@metropole.demo"],
            None,
        );
        assert!(generated.status.success(), "{}", text(&generated.stderr));
        let stdout = text(&generated.stdout);
        let password = stdout
            .lines()
            .find_map(|l| l.strip_prefix("password: "))
            .expect("password printed once");
        let hash: String =
            sqlx::query("SELECT password_hash FROM accounts WHERE email = 'a@metropole.demo'")
                .fetch_one(t.db.pool())
                .await
                .unwrap()
                .get(0);
        assert!(kernel::password::verify_blocking(password, &hash));
        assert!(!hash.contains(password));
        let roles: String = sqlx::query("SELECT role FROM roles")
            .fetch_one(t.db.pool())
            .await
            .unwrap()
            .get(0);
        assert_eq!(roles, "metropolis_admin");

        let twice = run(
            &t,
            dir.path(),
            &["admin", "create", "--email", "A@metropole.demo"],
            None,
        );
        assert!(!twice.status.success() && text(&twice.stderr).contains("already exists"));
    }
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["import", "--help"],
        vec!["import", "communes", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "create", "--help"],
        vec!["audit", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["pages", "--help"],
        vec!["billing", "--help"],
        vec!["billing", "simulate", "--help"],
        vec!["billing", "run", "--help"],
        vec!["billing", "export", "--help"],
        vec!["user", "--help"],
        vec!["user", "create", "--help"],
        vec!["client", "create", "--help"],
        vec!["keys", "rotate", "--help"],
    ] {
        let out = Command::new(binary()).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
    let serve = Command::new(binary())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = text(&serve.stdout);
    for flag in [
        "--bind",
        "--public-url",
        "--data-dir",
        "--database-url",
        "--metrics-bind",
        "--demo",
        "--smtp-url",
        "--master-key-file",
    ] {
        assert!(help.contains(flag), "serve --help lacks {flag}");
    }
}

#[test]
fn migrate_runs_alone_and_bad_urls_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(binary())
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("mutualis.db").exists());
    let bad = Command::new(binary())
        .args(["migrate", "--database-url", "mysql://x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("unsupported database URL"));
}

fn simulate(input: &str, to: &str) -> Output {
    let mut child = Command::new(binary())
        .args(["billing", "simulate", "--input", "-", "--to", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const BRON: &str = r#"{"syntec": [{"month": "2025-10", "value": "322.2", "published_on": "2025-11-28"}], "services": [{"code": "toodego", "pricing": {"model": "standard", "base": "2000.00", "per_inhabitant": "0.04"}, "s0": "315.0", "fixed_part": "0", "prorata": "whole"}], "communes": [{"insee_code": "69029", "name": "Bron", "populations": [{"value": 42850, "in_force_from": "2025-01-01"}], "agreement": {"effective_date": "2026-04-15"}, "annexes": [{"service": "toodego", "start": "2026-04-15", "previous_annual_amount": "3000.00", "units": null, "end": {"date": "2029-04-14", "reason": "notice"}}]}]}"#;

#[test]
fn billing_simulate_prints_the_contract_shape_fin_1_to_fin_5() {
    let out = simulate(BRON, "2030");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let keys: Vec<&str> = json["lines"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "year",
        "commune",
        "service",
        "population",
        "syntec",
        "s0",
        "coefficient",
        "target",
        "transition_cap",
        "annual_amount",
        "prorata_days",
        "days_in_year",
        "due",
        "refund",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    // Worked by hand in agreements::simulate's tests: 3300.00, 3465.00, 3638.25, 1082.47.
    let totals: Vec<&str> = json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["total"].as_str().unwrap())
        .collect();
    assert_eq!(totals, vec!["3300.00", "3465.00", "3638.25", "1082.47"]);
}

#[test]
fn billing_simulate_refuses_bad_input_with_status_2_and_places() {
    let typo = BRON
        .replace("\"service\": \"toodego\"", "\"service\": \"toodgo\"")
        .replace("\"base\": \"2000.00\"", "\"base\": \"-1\"");
    let out = simulate(&typo, "2030");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("communes[0].annexes[0].service: unknown service \"toodgo\""),
        "{err}"
    );
    assert!(
        err.contains("services[0].pricing.base: -1 is negative"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing printed on stdout");
    let late = simulate(BRON, "2025");
    assert!(late.status.success(), "no line before the annex starts");
    let broken = simulate("{\"syntec\": [", "2030");
    assert_eq!(broken.status.code(), Some(2));
    assert!(text(&broken.stderr).starts_with("input: not valid JSON"));
    let missing = Command::new(binary())
        .args([
            "billing",
            "simulate",
            "--input",
            "/nonexistent.json",
            "--to",
            "2030",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

/// FIN-5 from the command line on a demo installation: the demo issued the
/// 2026 orders, so a run issues nothing new; the export lists them.
#[tokio::test]
async fn billing_run_and_export_on_a_running_installation_fin_5() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = Command::new(binary())
        .args([
            "serve",
            "--demo",
            "--no-metrics",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .env("MUTUALIS_DATA_DIR", dir.path())
        .env_remove("MUTUALIS_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The demo accounts are printed once the seeding is done.
    let mut out = std::io::BufReader::new(serve.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("Demo accounts") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "serve --demo ended early"
        );
    }
    let run = Command::new(binary())
        .args(["billing", "run", "--year", "2026"])
        .env("MUTUALIS_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("2026: 0 revenue order(s) issued, 4 already issued"),
        "{}",
        text(&run.stdout)
    );
    let export = Command::new(binary())
        .args(["billing", "export", "--year", "2026", "--format", "csv"])
        .env("MUTUALIS_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(text(&export.stdout).contains(
        ",69029,Bron,216900290,2026,toodego,42850,322.2,315.0,1.0229,3799.05,3300.00,3300.00,"
    ));
    let json = Command::new(binary())
        .args(["billing", "export", "--year", "2026", "--format", "json"])
        .env("MUTUALIS_DATA_DIR", dir.path())
        .output()
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["orders"].as_array().unwrap().len(), 4);
    // DATA-3, DATA-4: the demo starts with usage history, published with
    // Fontaines-Saint-Martin's few visits hidden.
    let usage = reqwest::get(format!(
        "http://127.0.0.1:{port}/opendata/usage-services.csv"
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let lyon: Vec<&str> = usage
        .lines()
        .filter(|l| l.contains(",69123,Lyon,toodego,"))
        .collect();
    assert!(!lyon.is_empty(), "{usage}");
    for row in lyon {
        let counts: Vec<u64> = row
            .rsplitn(3, ',')
            .take(2)
            .map(|n| n.parse().unwrap())
            .collect();
        assert!(counts.iter().all(|&n| n >= 11), "{row}");
    }
    let small: Vec<&str> = usage
        .lines()
        .filter(|l| l.contains(",69087,Fontaines-Saint-Martin,"))
        .collect();
    assert!(
        !small.is_empty() && small.iter().all(|l| l.ends_with(",,")),
        "{usage}"
    );
    let bad = Command::new(binary())
        .args(["billing", "run", "--year", "26"])
        .env("MUTUALIS_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success() && text(&bad.stderr).contains("is not a year"));
    Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    assert!(serve.wait().unwrap().success());
}

#[tokio::test]
async fn user_create_makes_an_inhabitant_under_the_password_policy_id_1() {
    let dir = tempfile::tempdir().unwrap();
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/metropole-lyon-communes.csv"
    );
    for t in testing::databases().await {
        run(&t, dir.path(), &["import", "communes", good], None);
        let weak = run(
            &t,
            dir.path(),
            &[
                "user",
                "create",
                "--email",
                "jean@exemple.fr",
                "--password-stdin",
            ],
            Some("1234567890\n"),
        );
        assert!(
            !weak.status.success() && text(&weak.stderr).contains("most common"),
            "{}",
            text(&weak.stderr)
        );
        let bad_commune = run(
            &t,
            dir.path(),
            &[
                "user",
                "create",
                "--email",
                "jean@exemple.fr",
                "--password-stdin",
                "--commune",
                "75056",
            ],
            Some("une longue phrase secrète\n"),
        );
        assert!(
            !bad_commune.status.success()
                && text(&bad_commune.stderr).contains("not one of the platform's communes")
        );
        let ok = run(
            &t,
            dir.path(),
            &[
                "user",
                "create",
                "--email",
                "Jean@Exemple.fr",
                "--password-stdin",
                "--given-name",
                "Jean",
                "--family-name",
                "Martin",
                "--commune",
                "69266",
                "--verified",
            ],
            Some("une longue phrase secrète\n"),
        );
        assert!(ok.status.success(), "{}: {}", t.name, text(&ok.stderr));
        let email = identity::domain::EmailAddress::parse("jean@exemple.fr").unwrap();
        let account = identity::store::account_by_email(&t.db, &email)
            .await
            .unwrap()
            .unwrap();
        assert!(
            identity::store::email_verified(&t.db, account.id)
                .await
                .unwrap()
        );
        assert!(kernel::password::verify_blocking(
            "une longue phrase secrète",
            account.password_hash.as_deref().unwrap()
        ));
        let sheet = identity::store::sheet(&t.db, account.id).await.unwrap();
        assert_eq!(sheet.len(), 3, "{}", t.name);
        assert!(
            identity::store::grants(&t.db, account.id)
                .await
                .unwrap()
                .is_empty(),
            "an inhabitant has no staff role"
        );
    }
}

#[tokio::test]
async fn client_create_prints_the_secret_once_and_stores_a_digest_id_3() {
    let dir = tempfile::tempdir().unwrap();
    let t = testing::sqlite().await;
    let bad = run(
        &t,
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "http://evil.example/cb",
            "--scope",
            "openid admin",
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("https://") && text(&bad.stderr).contains("unknown scope"));
    let out = run(
        &t,
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "Toodego",
            "--redirect-uri",
            "https://toodego.example/cb",
            "--redirect-uri",
            "https://toodego.example/cb2",
            "--scope",
            "openid email",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = printed["client_id"].as_str().unwrap();
    let secret = printed["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "a high-entropy secret");
    let client = identity::oidc::clients::get(&t.db, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.redirect_uris.len(), 2);
    assert_eq!(
        client.secret_sha256.as_deref(),
        Some(kernel::random::sha256_hex(secret).as_str())
    );
    assert!(client.secret_matches(secret) && !client.secret_matches("guess"));
    let public = run(
        &t,
        dir.path(),
        &[
            "client",
            "create",
            "--name",
            "App",
            "--redirect-uri",
            "http://localhost:8000/cb",
            "--public",
        ],
        None,
    );
    assert!(
        !text(&public.stdout).contains("client_secret"),
        "a public client has no secret"
    );
    let rotate = run(&t, dir.path(), &["keys", "rotate"], None);
    assert!(rotate.status.success(), "{}", text(&rotate.stderr));
}
