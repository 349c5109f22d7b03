//! The real binary's operator commands, on SQLite and PostgreSQL.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use kernel::testing::{self, TestDb};
use sqlx::Row;

use crate::support::binary;

/// Runs `mutualis ARGS` against `t`'s database.
fn run(t: &TestDb, data_dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
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
