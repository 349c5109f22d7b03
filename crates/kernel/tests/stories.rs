//! The kernel's stories, run on every backend (SQLite, and PostgreSQL when
//! configured): audit journal (OPS-3), outbox (OPS-5, SAU-5), database setup.

use kernel::audit::{self, Actor, Event};
use kernel::mail::{Email, MailConfig};
use kernel::outbox::{self, Deliverer, Message, Webhook};
use kernel::testing::{self, SmtpServer};
use kernel::{Backend, clock};
use serde_json::json;
use sqlx::Row;

fn event(n: i64) -> Event {
    Event::new(Actor::Account(n), "role.grant", format!("account:{n}")).with(json!({ "n": n }))
}

#[tokio::test]
async fn audit_chain_verifies_and_catches_an_edited_row_ops_3() {
    for t in testing::databases().await {
        for n in 1..=5 {
            audit::record(&t.db, &event(n)).await.unwrap();
        }
        assert_eq!(audit::verify(&t.db).await.unwrap(), Ok(5), "{}", t.name);
        sqlx::query("UPDATE audit_journal SET details = '{\"n\":99}' WHERE seq = 3")
            .execute(t.db.pool())
            .await
            .unwrap();
        let broken = audit::verify(&t.db).await.unwrap().unwrap_err();
        assert_eq!(broken.seq, 3, "{}", t.name);
        assert!(
            broken.reason.contains("edited"),
            "{}: {}",
            t.name,
            broken.reason
        );
    }
}

#[tokio::test]
async fn audit_chain_catches_deleted_rows_in_the_middle_and_at_the_tail_ops_3() {
    for t in testing::databases().await {
        for n in 1..=4 {
            audit::record(&t.db, &event(n)).await.unwrap();
        }
        sqlx::query("DELETE FROM audit_journal WHERE seq = 4")
            .execute(t.db.pool())
            .await
            .unwrap();
        let tail = audit::verify(&t.db).await.unwrap().unwrap_err();
        assert_eq!(tail.seq, 4, "{}: {}", t.name, tail.reason);
        sqlx::query("DELETE FROM audit_journal WHERE seq = 2")
            .execute(t.db.pool())
            .await
            .unwrap();
        let middle = audit::verify(&t.db).await.unwrap().unwrap_err();
        assert_eq!(middle.seq, 2, "{}", t.name);
        assert!(middle.reason.contains("missing"), "{}", middle.reason);
    }
}

#[tokio::test]
async fn concurrent_appends_keep_one_unbroken_chain_ops_3() {
    for t in testing::databases().await {
        let mut tasks = Vec::new();
        for n in 0..24 {
            let db = t.db.clone();
            tasks.push(tokio::spawn(async move {
                audit::record(&db, &event(n)).await.unwrap()
            }));
        }
        let mut seqs = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap());
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=24).collect::<Vec<i64>>(), "{}", t.name);
        assert_eq!(audit::verify(&t.db).await.unwrap(), Ok(24), "{}", t.name);
    }
}

#[tokio::test]
async fn an_audit_entry_rolls_back_with_its_action() {
    for t in testing::databases().await {
        let mut tx = t.db.begin().await.unwrap();
        audit::append(&mut tx, &event(1)).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(audit::verify(&t.db).await.unwrap(), Ok(0), "{}", t.name);
        audit::record(&t.db, &event(2)).await.unwrap();
        assert_eq!(audit::verify(&t.db).await.unwrap(), Ok(1), "{}", t.name);
    }
}

fn email(n: usize) -> Message {
    Message::Email(Email {
        to: format!("usager{n}@exemple.fr"),
        subject: format!("Accusé de réception n° {n}"),
        text: "Bonjour,\nvotre demande a bien été reçue.".into(),
        html: None,
    })
}

async fn status_of(db: &kernel::Db, key: &str) -> (String, i64, i64) {
    let row = sqlx::query(
        "SELECT status, attempts, next_attempt_at FROM outbox WHERE idempotency_key = $1",
    )
    .bind(key)
    .fetch_one(db.pool())
    .await
    .unwrap();
    (
        row.get("status"),
        row.get("attempts"),
        row.get("next_attempt_at"),
    )
}

#[tokio::test]
async fn the_outbox_keeps_one_message_per_key_and_sends_it_over_smtp_sau_5() {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    let databases = testing::databases().await;
    for t in &databases {
        let mut tx = t.db.begin().await.unwrap();
        assert!(
            outbox::enqueue(&mut tx, &format!("ack-{}", t.name), &email(1))
                .await
                .unwrap()
        );
        assert!(
            !outbox::enqueue(&mut tx, &format!("ack-{}", t.name), &email(2))
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        // A message queued in a transaction that rolls back never leaves.
        let mut tx = t.db.begin().await.unwrap();
        outbox::enqueue(&mut tx, &format!("rolled-back-{}", t.name), &email(3))
            .await
            .unwrap();
        tx.rollback().await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let mail = MailConfig::new(
            Some(&smtp.url()),
            "Mutualis <ne-pas-repondre@mutualis.test>",
            dir.path(),
        )
        .unwrap();
        let deliverer = Deliverer::new(t.db.clone(), mail);
        assert_eq!(deliverer.run_once(10).await.unwrap(), 1, "{}", t.name);
        assert_eq!(
            deliverer.run_once(10).await.unwrap(),
            0,
            "{}: nothing left",
            t.name
        );
        assert_eq!(status_of(&t.db, &format!("ack-{}", t.name)).await.0, "sent");
        assert_eq!(outbox::pending_count(&t.db).await.unwrap(), 0);
    }
    let messages = smtp.messages();
    assert_eq!(
        messages.len(),
        databases.len(),
        "one message per backend, no more"
    );
    for m in &messages {
        assert!(m.contains("usager1@exemple.fr"), "{m}");
        assert!(
            !m.contains("usager2@"),
            "the second message with the same key was kept"
        );
        assert!(m.contains("Message-ID: <outbox-"), "{m}");
    }
}

/// A port nothing listens on: a webhook to it fails.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_failed_delivery_is_retried_later_with_back_off_ops_5() {
    let port = closed_port();
    for t in testing::databases().await {
        let hook = Message::Webhook(Webhook {
            url: format!("http://127.0.0.1:{port}/hook"),
            body: "{\"status\":\"resolved\"}".into(),
            secret: Some("s3cret".into()),
            content_type: None,
        });
        let mut tx = t.db.begin().await.unwrap();
        outbox::enqueue(&mut tx, "hook-1", &hook).await.unwrap();
        tx.commit().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let deliverer = Deliverer::new(
            t.db.clone(),
            MailConfig::new(None, "a@b.fr", dir.path()).unwrap(),
        );
        let before = clock::now_ms();
        assert_eq!(deliverer.run_once(10).await.unwrap(), 1);
        let (status, attempts, next) = status_of(&t.db, "hook-1").await;
        assert_eq!((status.as_str(), attempts), ("pending", 1), "{}", t.name);
        assert!(
            next >= before + 2000,
            "{}: retried no sooner than the 2 s back-off",
            t.name
        );
        // Not due yet: the next pass leaves it alone.
        assert_eq!(deliverer.run_once(10).await.unwrap(), 0, "{}", t.name);
    }
}

#[test]
fn back_off_doubles_and_is_capped_at_one_hour() {
    assert_eq!(outbox::backoff(1).as_secs(), 2);
    assert_eq!(outbox::backoff(2).as_secs(), 4);
    assert_eq!(outbox::backoff(5).as_secs(), 32);
    assert_eq!(outbox::backoff(12).as_secs(), 3600);
    assert_eq!(outbox::backoff(40).as_secs(), 3600);
}

#[tokio::test]
async fn messages_without_smtp_are_written_as_files() {
    let t = testing::sqlite().await;
    let mut tx = t.db.begin().await.unwrap();
    outbox::enqueue(&mut tx, "file-1", &email(7)).await.unwrap();
    tx.commit().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let deliverer = Deliverer::new(
        t.db.clone(),
        MailConfig::new(None, "Mutualis <a@b.fr>", dir.path()).unwrap(),
    );
    deliverer.run_once(10).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("usager7@exemple.fr"));
}

#[tokio::test]
async fn sqlite_is_set_up_for_durability_and_integrity() {
    let t = testing::sqlite().await;
    assert_eq!(t.db.backend(), Backend::Sqlite);
    let mut conn = t.db.pool().acquire().await.unwrap();
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    let sync: i64 = sqlx::query("PRAGMA synchronous")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    let fk: i64 = sqlx::query("PRAGMA foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    let busy: i64 = sqlx::query("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
    assert_eq!(sync, 2, "synchronous = FULL");
    assert_eq!(fk, 1);
    assert_eq!(busy, 5000);
}

/// OPS-5: a pass delivers what it leased, marks the delivered messages sent
/// together, and leaves a failed one pending for its back-off; messages
/// queued together in one statement (`enqueue_many`) each keep their key.
#[tokio::test]
async fn a_pass_marks_its_delivered_messages_sent_and_its_failures_pending_ops_5() {
    let port = closed_port();
    for t in testing::databases().await {
        let hook = Message::Webhook(Webhook {
            url: format!("http://127.0.0.1:{port}/hook"),
            body: "{}".into(),
            secret: None,
            content_type: None,
        });
        let (a, b, c) = (email(11), email(12), email(13));
        let mut tx = t.db.begin().await.unwrap();
        outbox::enqueue(&mut tx, "pass-hook", &hook).await.unwrap();
        let queued = outbox::enqueue_many(
            &mut tx,
            &[
                ("pass-a", &a),
                ("pass-b", &b),
                ("pass-a", &c),
                ("pass-c", &c),
            ],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(queued, 3, "{}: the repeated key is kept once", t.name);
        let dir = tempfile::tempdir().unwrap();
        let deliverer = Deliverer::new(
            t.db.clone(),
            MailConfig::new(None, "Mutualis <a@b.fr>", dir.path()).unwrap(),
        );
        assert_eq!(deliverer.run_once(10).await.unwrap(), 4, "{}", t.name);
        for key in ["pass-a", "pass-b", "pass-c"] {
            let (status, attempts, _) = status_of(&t.db, key).await;
            assert_eq!(
                (status.as_str(), attempts),
                ("sent", 1),
                "{}: {key}",
                t.name
            );
        }
        let (status, attempts, _) = status_of(&t.db, "pass-hook").await;
        assert_eq!((status.as_str(), attempts), ("pending", 1), "{}", t.name);
        assert_eq!(outbox::pending_count(&t.db).await.unwrap(), 1, "{}", t.name);
        let files = std::fs::read_dir(dir.path().join("mail")).unwrap().count();
        assert_eq!(files, 3, "{}: three e-mails, the first of pass-a", t.name);
        // Nothing is due: the next pass leases nothing.
        assert_eq!(deliverer.run_once(10).await.unwrap(), 0, "{}", t.name);
    }
}
