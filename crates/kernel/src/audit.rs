//! OPS-3: the audit journal. Append-only and hash-chained: each entry's hash
//! covers its own fields and the previous entry's hash, and the chain's head
//! (last sequence number and hash) is kept in `audit_head`, updated in the same
//! transaction. Editing any row breaks its hash or its successor's link;
//! deleting a row leaves a gap; deleting the tail disagrees with the head.

use ring::digest;
use serde::Serialize;
use sqlx::Row;

use crate::clock;
use crate::db::{Db, Tx};

/// Who did it: an account, the command line, or the platform itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Account(i64),
    Cli,
    System,
    Anonymous,
}

impl Actor {
    pub fn as_text(&self) -> String {
        match self {
            Actor::Account(id) => format!("account:{id}"),
            Actor::Cli => "cli".into(),
            Actor::System => "system".into(),
            Actor::Anonymous => "anonymous".into(),
        }
    }
}

/// One thing that happened, before it is written.
#[derive(Clone, Debug)]
pub struct Event {
    pub actor: Actor,
    /// Dotted name, e.g. `login.failure`, `role.grant`, `communes.import`.
    pub action: &'static str,
    /// What it was done to, e.g. `account:3`, `commune:69123`.
    pub target: String,
    pub details: serde_json::Value,
}

impl Event {
    pub fn new(actor: Actor, action: &'static str, target: impl Into<String>) -> Event {
        Event {
            actor,
            action,
            target: target.into(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn with(mut self, details: serde_json::Value) -> Event {
        self.details = details;
        self
    }
}

/// A stored entry.
#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

fn chain_hash(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    target: &str,
    details: &str,
    prev: &str,
) -> String {
    // A JSON array is an unambiguous encoding of the fields.
    let material = serde_json::to_string(&(seq, at, actor, action, target, details, prev))
        .expect("tuple of strings and integers serialises");
    hex::encode(digest::digest(&digest::SHA256, material.as_bytes()))
}

/// Appends `event` inside the caller's transaction, so that the action and its
/// journal entry commit or roll back together.
pub async fn append(tx: &mut Tx, event: &Event) -> Result<i64, sqlx::Error> {
    // Bumping the head first locks its row (PostgreSQL) so that concurrent
    // appends from several nodes serialise; on SQLite the write transaction
    // already holds the lock.
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut **tx)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev: String = head.try_get("hash")?;
    let at = clock::now_ms();
    let actor = event.actor.as_text();
    let details = event.details.to_string();
    let hash = chain_hash(
        seq,
        at,
        &actor,
        event.action,
        &event.target,
        &details,
        &prev,
    );
    sqlx::query(
        "INSERT INTO audit_journal (seq, at, actor, action, target, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(seq)
    .bind(at)
    .bind(&actor)
    .bind(event.action)
    .bind(&event.target)
    .bind(&details)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&hash)
        .execute(&mut **tx)
        .await?;
    Ok(seq)
}

/// Appends `event` in a transaction of its own (security events that are not
/// part of a larger write, such as a failed login).
pub async fn record(db: &Db, event: &Event) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let seq = append(&mut tx, event).await?;
    tx.commit().await?;
    Ok(seq)
}

/// The result of [`verify`] when the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The first entry that does not hold (or the first missing number).
    pub seq: i64,
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "audit journal broken at entry {}: {}",
            self.seq, self.reason
        )
    }
}

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<Entry, sqlx::Error> {
    Ok(Entry {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        details: row.try_get("details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

const PAGE: i64 = 1000;

/// Walks the whole chain. `Ok(n)` is the number of entries checked.
pub async fn verify(db: &Db) -> Result<Result<i64, Broken>, sqlx::Error> {
    let mut expected_seq = 1_i64;
    let mut prev = "0".repeat(64);
    loop {
        let rows = sqlx::query(
            "SELECT seq, at, actor, action, target, details, prev_hash, hash \
             FROM audit_journal WHERE seq >= $1 ORDER BY seq LIMIT $2",
        )
        .bind(expected_seq)
        .bind(PAGE)
        .fetch_all(db.pool())
        .await?;
        let last_page = (rows.len() as i64) < PAGE;
        for row in &rows {
            let e = entry_from_row(row)?;
            if e.seq != expected_seq {
                return Ok(Err(Broken {
                    seq: expected_seq,
                    reason: "entry missing (deleted)".into(),
                }));
            }
            if e.prev_hash != prev {
                return Ok(Err(Broken {
                    seq: e.seq,
                    reason: "link to the previous entry does not match".into(),
                }));
            }
            let hash = chain_hash(
                e.seq, e.at, &e.actor, &e.action, &e.target, &e.details, &prev,
            );
            if hash != e.hash {
                return Ok(Err(Broken {
                    seq: e.seq,
                    reason: "content does not match its hash (edited)".into(),
                }));
            }
            prev = e.hash;
            expected_seq += 1;
        }
        if last_page {
            break;
        }
    }
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(db.pool())
        .await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    if head_seq != expected_seq - 1 || head_hash != prev {
        return Ok(Err(Broken {
            seq: expected_seq,
            reason: format!("journal ends before its recorded head (entry {head_seq})"),
        }));
    }
    Ok(Ok(expected_seq - 1))
}

/// The latest entries, newest first, for the journal page.
pub async fn latest(db: &Db, before: Option<i64>, limit: i64) -> Result<Vec<Entry>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT seq, at, actor, action, target, details, prev_hash, hash \
         FROM audit_journal WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(entry_from_row).collect()
}
