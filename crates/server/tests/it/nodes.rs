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

pub(crate) struct Serve {
    child: Child,
    pub(crate) port: u16,
}

fn serve(extra: &[&str], data_dir: &std::path::Path) -> Serve {
    serve_logging(extra, data_dir, Stdio::null(), &[])
}

/// `extra` may turn the metrics listener on; otherwise it is off. `env`:
/// variables for the process (e.g. `MUTUALIS_LOG`).
pub(crate) fn serve_logging(
    extra: &[&str],
    data_dir: &std::path::Path,
    stderr: Stdio,
    env: &[(&str, &str)],
) -> Serve {
    let port = free_port();
    let mut cmd = Command::new(binary());
    cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    if !extra.contains(&"--metrics-bind") {
        cmd.arg("--no-metrics");
    }
    let child = cmd
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env_remove("MUTUALIS_DATABASE_URL")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    Serve { child, port }
}

/// A cookie-keeping client that opened the login form, and the form's token.
async fn login_form(base: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(format!("{base}/connexion"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = form.find(marker).unwrap() + marker.len();
    let token = form[start..start + form[start..].find('"').unwrap()].to_string();
    (client, token)
}

impl Serve {
    pub(crate) async fn ready(&self) {
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
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
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
    // Nodes on one PostgreSQL share one master key, given by configuration.
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("master.key");
    std::fs::write(&key_file, [7u8; 32]).unwrap();
    let key_file = key_file.to_string_lossy().into_owned();
    let args = [
        "--database-url",
        t.url.as_str(),
        "--smtp-url",
        &smtp.url(),
        "--master-key-file",
        &key_file,
    ]
    .map(str::to_string);
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

/// OPS-4: Prometheus metrics per route and the job queue depth on the
/// metrics listener; JSON logs carrying each request's id.
#[tokio::test]
async fn metrics_and_structured_logs_with_request_ids_ops_4() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let metrics_port = free_port();
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let node = serve_logging(
        &["--metrics-bind", &metrics_bind, "--log-format", "json"],
        dir.path(),
        log.into(),
        &[],
    );
    node.ready().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client
        .get(format!("http://127.0.0.1:{}/connexion", node.port))
        .send()
        .await
        .unwrap();
    let request_id = page.headers()["x-request-id"].to_str().unwrap().to_string();
    client
        .get(format!(
            "http://127.0.0.1:{}/gestion/communes/69123",
            node.port
        ))
        .send()
        .await
        .unwrap();
    let metrics = client
        .get(format!("http://{metrics_bind}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The queue depth appears after the job runner's first pass.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut metrics = metrics;
    while !metrics.contains("mutualis_job_queue_depth") {
        assert!(
            Instant::now() < deadline,
            "no queue depth metric in 20 s: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        metrics = client
            .get(format!("http://{metrics_bind}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    assert!(
        metrics.contains(r#"http_requests_total{method="GET",route="/connexion",status="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"route="/gestion/communes/{insee}""#),
        "routes by pattern, not by raw path: {metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"mutualis_job_queue_depth{queue="outbox"} 0"#),
        "{metrics}"
    );
    assert!(node.terminate().success());
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == request_id.as_str()
                && l["span"]["path"] == "/connexion"),
        "a log line of that request carries its id: {logs}"
    );
}

/// ID-1: argon2 runs on a pool bounded by the cores, so 100 parallel logins
/// queue instead of allocating 100 × 19 MiB. The peak resident memory of the
/// process grows by a few times 19 MiB at most.
#[tokio::test]
async fn a_hundred_parallel_logins_stay_within_a_few_argon2_buffers_id_1() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(&["--demo"], dir.path());
    node.ready().await;
    let base = format!("http://127.0.0.1:{}", node.port);
    let (client, token) = login_form(&base).await;
    let peak = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    let before = peak(node.child.id());
    let resident = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 1024
    };
    let resident_before = resident(node.child.id());
    let mut tasks = Vec::new();
    for n in 0..100 {
        let client = client.clone();
        let body =
            // Right passwords: wrong ones would be stopped by the back-off
            // (ID-1) before reaching argon2.
            format!("csrf_token={token}&email=admin%40metropole.demo&password=demo-mutualis-2026&n={n}");
        let url = format!("{base}/connexion");
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), reqwest::StatusCode::SEE_OTHER);
    }
    let growth = peak(node.child.id()).saturating_sub(before);
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    let argon2 = 19 * 1024 * 1024;
    // Unbounded, 100 logins would need about 1.9 GB; bounded, one buffer per
    // core plus the allocator's slack.
    assert!(
        growth <= (cores + 4) * argon2,
        "peak grew by {} MiB with {cores} cores",
        growth / (1024 * 1024)
    );
    // Idle again, the workers gave their buffers back: the node holds about
    // what it held before the burst (not one buffer per core).
    let kept = resident(node.child.id()).saturating_sub(resident_before);
    eprintln!(
        "resident before {} MiB, after {} MiB",
        resident_before >> 20,
        resident(node.child.id()) >> 20
    );
    assert!(
        kept < argon2,
        "the node kept {} MiB after the burst",
        kept / (1024 * 1024)
    );
    assert!(node.terminate().success());
}

/// OPS-5: a message that could not be sent stays queued across a restart and
/// leaves once the SMTP server is back.
#[tokio::test]
async fn a_queued_email_survives_a_restart_and_is_retried_ops_5() {
    let dir = tempfile::tempdir().unwrap();
    let db = kernel::Db::open(None, dir.path()).await.unwrap();
    db.migrate().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let email = Email {
        to: "usager@exemple.fr".into(),
        subject: "Accusé de réception".into(),
        text: "Bonjour,\nvotre demande a bien été reçue.".into(),
        html: None,
    };
    outbox::enqueue(&mut tx, "restart-1", &Message::Email(email))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let attempts = |db: kernel::Db| async move {
        let row =
            sqlx::query("SELECT status, attempts FROM outbox WHERE idempotency_key = 'restart-1'")
                .fetch_one(db.pool())
                .await
                .unwrap();
        (
            sqlx::Row::get::<String, _>(&row, 0),
            sqlx::Row::get::<i64, _>(&row, 1),
        )
    };

    // First life: the SMTP server is down.
    let down = format!("smtp://127.0.0.1:{}", free_port());
    let first = serve(&["--smtp-url", &down], dir.path());
    first.ready().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while attempts(db.clone()).await.1 == 0 {
        assert!(Instant::now() < deadline, "no delivery attempt in 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(first.terminate().success());
    assert_eq!(attempts(db.clone()).await, ("pending".to_string(), 1));

    // Second life: the server is back.
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let second = serve(&["--smtp-url", &smtp.url()], dir.path());
    second.ready().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while attempts(db.clone()).await.0 != "sent" {
        assert!(
            Instant::now() < deadline,
            "not sent within 20 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(second.terminate().success());
    assert_eq!(attempts(db.clone()).await, ("sent".to_string(), 2));
    assert_eq!(smtp.messages().len(), 1);
}

/// A stop in the middle of a burst of logins: the requests already accepted
/// are answered before the process exits 0.
#[tokio::test]
async fn in_flight_requests_finish_before_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let node = serve(&["--demo"], dir.path());
    node.ready().await;
    let base = format!("http://127.0.0.1:{}", node.port);
    let (client, token) = login_form(&base).await;
    let mut tasks = Vec::new();
    for n in 0..16 {
        let (client, url) = (client.clone(), format!("{base}/connexion"));
        let body = format!(
            "csrf_token={token}&email=admin%40metropole.demo&password=demo-mutualis-2026&n={n}"
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    // Stop once the node is busy with them: the first login is journaled.
    let db = kernel::Db::open(None, dir.path()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = sqlx::Row::get(
            &sqlx::query("SELECT COUNT(*) FROM audit_journal WHERE action = 'login.success'")
                .fetch_one(db.pool())
                .await
                .unwrap(),
            0,
        );
        if n > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no login processed in 20 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = node.terminate();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().expect("an answer, not a reset"),
            reqwest::StatusCode::SEE_OTHER
        );
    }
    assert!(status.success());
}
