//! OPS-5, SAU-5: the transactional outbox. A message is written in the same
//! transaction as the change that causes it, then delivered by the job runner
//! with retries and exponential back-off. Messages survive restarts (they are
//! rows), and several nodes on one PostgreSQL never deliver the same message
//! twice: a node leases a message by a conditional update (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL; the single writer lock on SQLite) and only the lease
//! holder may mark it sent.

use std::time::{Duration, Instant};

use ring::hmac;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock;
use crate::db::{Backend, Db, Tx};
use crate::mail::{Email, MailConfig};

/// A webhook call: POST `body` (JSON) to `url`, signed with `secret` when
/// there is one (`X-Mutualis-Signature: sha256=<hex HMAC of "<timestamp>.<body>">`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub body: String,
    #[serde(default)]
    pub secret: Option<String>,
    /// `application/json` when absent; back-channel logout tokens are sent
    /// as a form.
    #[serde(default)]
    pub content_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Email(Email),
    Webhook(Webhook),
}

impl Message {
    fn kind(&self) -> &'static str {
        match self {
            Message::Email(_) => "email",
            Message::Webhook(_) => "webhook",
        }
    }
    fn payload(&self) -> String {
        match self {
            Message::Email(e) => serde_json::to_string(e),
            Message::Webhook(w) => serde_json::to_string(w),
        }
        .expect("message serialises")
    }
    fn parse(kind: &str, payload: &str) -> anyhow::Result<Message> {
        Ok(match kind {
            "email" => Message::Email(serde_json::from_str(payload)?),
            "webhook" => Message::Webhook(serde_json::from_str(payload)?),
            other => anyhow::bail!("unknown outbox kind {other}"),
        })
    }
}

/// Queues `message` inside the caller's transaction. `idempotency_key` names
/// the business fact (e.g. `sau-ack:SAU-2026-000123`): queuing the same key
/// twice keeps the first message only. Returns whether it was queued.
pub async fn enqueue(
    tx: &mut Tx,
    idempotency_key: &str,
    message: &Message,
) -> Result<bool, sqlx::Error> {
    Ok(enqueue_many(tx, &[(idempotency_key, message)]).await? == 1)
}

/// Queues several messages in one statement (help requests opened in a
/// group, SAU-1); as [`enqueue`] for each. Returns how many were queued.
/// The messages come as one JSON array: one statement, prepared and planned
/// once, whatever their number.
pub async fn enqueue_many(tx: &mut Tx, messages: &[(&str, &Message)]) -> Result<u64, sqlx::Error> {
    if messages.is_empty() {
        return Ok(0);
    }
    let sql = match tx.backend() {
        Backend::Postgres => {
            "INSERT INTO outbox (kind, idempotency_key, payload, next_attempt_at, created_at) \
             SELECT kind, key, payload, $1, $1 FROM json_to_recordset($2::json) AS m(kind text, key text, payload text) \
             ON CONFLICT (idempotency_key) DO NOTHING"
        }
        // `WHERE true`: SQLite's grammar wants it between a SELECT and ON
        // CONFLICT.
        Backend::Sqlite => {
            "INSERT INTO outbox (kind, idempotency_key, payload, next_attempt_at, created_at) \
             SELECT value->>'kind', value->>'key', value->>'payload', $1, $1 FROM json_each($2) WHERE true \
             ON CONFLICT (idempotency_key) DO NOTHING"
        }
    };
    let rows: Vec<serde_json::Value> = messages
        .iter()
        .map(|(key, message)| {
            serde_json::json!({"kind": message.kind(), "key": key, "payload": message.payload()})
        })
        .collect();
    Ok(sqlx::query(sql)
        .bind(clock::now_ms())
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected())
}

/// Retry policy: 2 s, 4 s, 8 s … capped at one hour, 15 attempts (about
/// 10 hours in all) before a message is marked `failed` for an operator.
pub const MAX_ATTEMPTS: i64 = 15;

pub fn backoff(attempts: i64) -> Duration {
    let secs = 2_u64.saturating_pow(attempts.clamp(1, 30) as u32);
    Duration::from_secs(secs.min(3600))
}

/// How long a node may hold a message while delivering it; after that another
/// node may take it over (the first one died).
const LEASE_MS: i64 = 5 * 60 * 1000;

/// Delivered messages wait at most this long to be marked sent.
const MARK_SENT_WITHIN: Duration = Duration::from_secs(1);

struct Leased {
    id: i64,
    kind: String,
    payload: String,
    attempts: i64,
    idempotency_key: String,
}

async fn lease(db: &Db, node: &str, limit: i64) -> Result<Vec<Leased>, sqlx::Error> {
    let now = clock::now_ms();
    let sql = match db.backend() {
        Backend::Postgres => {
            "UPDATE outbox SET locked_by = $1, locked_until = $2 WHERE id IN ( \
               SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
               AND (locked_until IS NULL OR locked_until < $3) ORDER BY next_attempt_at, id LIMIT $4 \
               FOR UPDATE SKIP LOCKED) \
             RETURNING id, kind, payload, attempts, idempotency_key"
        }
        Backend::Sqlite => {
            "UPDATE outbox SET locked_by = $1, locked_until = $2 WHERE id IN ( \
               SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
               AND (locked_until IS NULL OR locked_until < $3) ORDER BY next_attempt_at, id LIMIT $4) \
             RETURNING id, kind, payload, attempts, idempotency_key"
        }
    };
    let mut tx = db.begin().await?;
    let rows = sqlx::query(sql)
        .bind(node)
        .bind(now + LEASE_MS)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    rows.iter()
        .map(|r| {
            Ok(Leased {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
                idempotency_key: r.try_get("idempotency_key")?,
            })
        })
        .collect()
}

/// Delivers messages; shared by every node.
#[derive(Clone, Debug)]
pub struct Deliverer {
    pub db: Db,
    pub mail: MailConfig,
    pub http: reqwest::Client,
    /// This node's name in leases (host + process id + random).
    pub node: String,
}

impl Deliverer {
    pub fn new(db: Db, mail: MailConfig) -> Deliverer {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client builds");
        let node = format!("{}-{}", std::process::id(), crate::random::token(6));
        Deliverer {
            db,
            mail,
            http,
            node,
        }
    }

    async fn deliver(&self, id: i64, key: &str, message: &Message) -> anyhow::Result<()> {
        match message {
            Message::Email(email) => {
                let message_id = format!(
                    "<outbox-{id}-{}@mutualis>",
                    &crate::random::sha256_hex(key)[..16]
                );
                self.mail.send(email, &message_id).await
            }
            Message::Webhook(hook) => {
                let timestamp = clock::now_ms() / 1000;
                let mut request = self
                    .http
                    .post(&hook.url)
                    .header(
                        "content-type",
                        hook.content_type.as_deref().unwrap_or("application/json"),
                    )
                    .header("x-mutualis-delivery", id.to_string())
                    .header("x-mutualis-timestamp", timestamp.to_string());
                if let Some(secret) = &hook.secret {
                    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
                    let tag = hmac::sign(&key, format!("{timestamp}.{}", hook.body).as_bytes());
                    request = request.header(
                        "x-mutualis-signature",
                        format!("sha256={}", hex::encode(tag.as_ref())),
                    );
                }
                let response = request.body(hook.body.clone()).send().await?;
                if !response.status().is_success() {
                    anyhow::bail!("webhook answered {}", response.status());
                }
                Ok(())
            }
        }
    }

    /// One pass: lease up to `limit` due messages and deliver them. Returns
    /// how many were leased.
    ///
    /// Delivered messages are marked sent together, at the end of the pass
    /// or after a second: one commit per message (a WAL flush on PostgreSQL)
    /// held delivery to about 200 messages a second, less than a node
    /// opens help requests (bench/assistance). If the node dies in between,
    /// those messages are delivered again when their lease ends, with the
    /// same Message-ID or delivery id (delivery is at least once anyway).
    pub async fn run_once(&self, limit: i64) -> Result<usize, sqlx::Error> {
        let leased = lease(&self.db, &self.node, limit).await?;
        let mut sent: Vec<&Leased> = Vec::new();
        let mut first_sent_at = Instant::now();
        for item in &leased {
            let outcome = match Message::parse(&item.kind, &item.payload) {
                Ok(message) => self.deliver(item.id, &item.idempotency_key, &message).await,
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => {
                    if sent.is_empty() {
                        first_sent_at = Instant::now();
                    }
                    sent.push(item);
                    if first_sent_at.elapsed() >= MARK_SENT_WITHIN {
                        self.mark_sent(&sent).await?;
                        sent.clear();
                    }
                }
                Err(e) => {
                    let now = clock::now_ms();
                    let attempts = item.attempts + 1;
                    let status = if attempts >= MAX_ATTEMPTS {
                        "failed"
                    } else {
                        "pending"
                    };
                    tracing::warn!(outbox_id = item.id, attempts, error = %format!("{e:#}"), "delivery failed");
                    sqlx::query(
                        "UPDATE outbox SET status = $1, attempts = $2, next_attempt_at = $3, \
                         last_error = $4, locked_by = NULL, locked_until = NULL \
                         WHERE id = $5 AND locked_by = $6",
                    )
                    .bind(status)
                    .bind(attempts)
                    .bind(now + backoff(attempts).as_millis() as i64)
                    .bind(format!("{e:#}"))
                    .bind(item.id)
                    .bind(&self.node)
                    .execute(self.db.pool())
                    .await?;
                    metrics::counter!("mutualis_outbox_failures_total", "kind" => item.kind.clone()).increment(1);
                }
            }
        }
        self.mark_sent(&sent).await?;
        Ok(leased.len())
    }

    /// Marks delivered messages sent, in one statement.
    async fn mark_sent(&self, sent: &[&Leased]) -> Result<(), sqlx::Error> {
        if sent.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = (0..sent.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
             locked_by = NULL, locked_until = NULL, last_error = NULL \
             WHERE locked_by = $2 AND id IN ({})",
            ids.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(clock::now_ms())
            .bind(&self.node);
        for item in sent {
            query = query.bind(item.id);
        }
        query.execute(self.db.pool()).await?;
        for item in sent {
            metrics::counter!("mutualis_outbox_sent_total", "kind" => item.kind.clone())
                .increment(1);
        }
        Ok(())
    }
}

/// Messages waiting to be delivered (the job queue depth metric).
pub async fn pending_count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'pending'")
        .fetch_one(db.pool())
        .await?
        .try_get("n")
}
