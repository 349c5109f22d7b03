//! Test helpers: a fresh, migrated database on every backend, so that each
//! store's story tests run unchanged on SQLite and on PostgreSQL.
//!
//! PostgreSQL runs when `MUTUALIS_TEST_DATABASE_URL` names a server (a fresh
//! database is created on it per call). With `CI=true` it is mandatory;
//! elsewhere its absence is announced loudly and only SQLite runs.

use crate::Db;

pub struct TestDb {
    pub db: Db,
    /// `sqlite` or `postgres`, for assertion messages.
    pub name: &'static str,
    /// The URL of this database (for spawning processes on it).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub const PG_ENV: &str = "MUTUALIS_TEST_DATABASE_URL";

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A fresh SQLite database in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("mutualis.db").display()
    );
    let db = Db::connect(&url).await.expect("SQLite opens");
    db.migrate().await.expect("SQLite migrations run");
    TestDb {
        db,
        name: "sqlite",
        url,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL database, or `None` when no server is configured
/// (outside CI only).
pub async fn postgres() -> Option<TestDb> {
    let Ok(admin_url) = std::env::var(PG_ENV) else {
        if ci() {
            panic!("CI=true but {PG_ENV} is not set: the PostgreSQL tests are mandatory in CI");
        }
        eprintln!("\n*** {PG_ENV} is not set: PostgreSQL tests SKIPPED (SQLite only) ***\n");
        return None;
    };
    let admin = Db::connect(&admin_url)
        .await
        .expect("PostgreSQL test server reachable");
    let name = format!(
        "mutualis_t_{}",
        crate::random::token(9)
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .expect("test database created");
    admin.close().await;
    let url = replace_database(&admin_url, &name);
    let db = Db::connect(&url)
        .await
        .expect("fresh PostgreSQL database opens");
    db.migrate().await.expect("PostgreSQL migrations run");
    Some(TestDb {
        db,
        name: "postgres",
        url,
        _dir: None,
    })
}

/// Every backend available: SQLite always, PostgreSQL when configured.
pub async fn databases() -> Vec<TestDb> {
    let mut all = vec![sqlite().await];
    all.extend(postgres().await);
    all
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

/// A real SMTP server process (Python's `aiosmtpd`, from PyPI) that stores
/// every message it receives in a maildir. Killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    pub maildir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpServer {
    /// Starts one, or returns `None` outside CI when `aiosmtpd` is missing.
    pub fn start() -> Option<SmtpServer> {
        let available = std::process::Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            if ci() {
                panic!("CI=true but the SMTP test server is missing: pip install aiosmtpd");
            }
            eprintln!(
                "\n*** python3 -m aiosmtpd unavailable: SMTP tests SKIPPED (pip install aiosmtpd) ***\n"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let maildir = tempfile::tempdir().expect("temporary maildir");
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("box"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not listen within 20 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(SmtpServer {
            port,
            maildir,
            child,
        })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far, raw (RFC 5322 text).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.path().join("box").join(sub)) {
                for entry in entries.flatten() {
                    if let Ok(text) = std::fs::read_to_string(entry.path()) {
                        out.push(text);
                    }
                }
            }
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::replace_database(
                "postgres://u:p@127.0.0.1:5433/postgres?sslmode=disable",
                "x"
            ),
            "postgres://u:p@127.0.0.1:5433/x?sslmode=disable"
        );
        assert_eq!(
            super::replace_database("postgres://h", "x"),
            "postgres://h/x"
        );
    }
}
