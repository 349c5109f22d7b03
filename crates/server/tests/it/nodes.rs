//! Whole processes: graceful shutdown, and two nodes on one PostgreSQL
//! delivering the outbox exactly once (OPS-5, SAU-5).

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kernel::mail::Email;
use kernel::outbox::{self, Message};
use kernel::testing::{self, SmtpServer};

use crate::support::binary;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Serve {
    child: Child,
    port: u16,
}

fn serve(extra: &[&str], data_dir: &std::path::Path) -> Serve {
    let port = free_port();
    let child = Command::new(binary())
        .args([
            "serve",
            "--no-metrics",
            "--bind",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env_remove("MUTUALIS_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Serve { child, port }
}

impl Serve {
    async fn ready(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = client
                .get(format!("http://127.0.0.1:{}/readyz", self.port))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node on {} not ready in 30 s",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status (graceful shutdown exits 0).
    fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("node did not stop within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[tokio::test]
async fn a_node_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(&[], dir.path());
    node.ready().await;
    let status = node.terminate();
    assert!(status.success(), "exit status {status:?}");
}

/// Two `mutualis serve` processes share one PostgreSQL and one queue of 60
/// e-mails: the SMTP server receives each exactly once.
#[tokio::test]
async fn two_nodes_send_each_queued_email_exactly_once_ops_5() {
    let Some(t) = testing::postgres().await else {
        return;
    };
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    const N: usize = 60;
    let mut tx = t.db.begin().await.unwrap();
    for n in 0..N {
        let email = Email {
            to: format!("usager{n}@exemple.fr"),
            subject: format!("Votre demande n° {n}"),
            text: format!("Bonjour,\nvotre demande n° {n} a bien été reçue."),
            html: None,
        };
        outbox::enqueue(&mut tx, &format!("two-nodes-{n}"), &Message::Email(email))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let args = ["--database-url", t.url.as_str(), "--smtp-url", &smtp.url()].map(str::to_string);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let nodes = [serve(&args, dirs[0].path()), serve(&args, dirs[1].path())];
    for node in &nodes {
        node.ready().await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while outbox::pending_count(&t.db).await.unwrap() > 0 {
        assert!(Instant::now() < deadline, "outbox not drained in 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in nodes {
        assert!(node.terminate().success());
    }
    let messages = smtp.messages();
    let recipients: Vec<String> = messages
        .iter()
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("To: ").map(str::to_string))
        })
        .collect();
    let unique: HashSet<&String> = recipients.iter().collect();
    assert_eq!(
        messages.len(),
        N,
        "each message delivered once, no more, no less"
    );
    assert_eq!(unique.len(), N, "{recipients:?}");
    let sent: i64 = sqlx::Row::get(
        &sqlx::query("SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND attempts = 1")
            .fetch_one(t.db.pool())
            .await
            .unwrap(),
        0,
    );
    assert_eq!(sent, N as i64);
}
