//! Usage events in the database (DATA-1, DATA-2): a batch checked event by
//! event and written in one statement; the salt of the day.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use kernel::{Backend, Db, clock, random};
use sqlx::Row;
use time::Date;

use crate::Error;
use crate::domain::event::{self, Incoming, Refusal};
use crate::domain::visitor;

/// At most this many events in one batch (DATA-1).
pub const MAX_BATCH: usize = 10_000;

/// This node's copy of the salt of the day (DATA-2). Only today's is ever
/// used: an event of another day is counted without a visitor.
#[derive(Clone, Debug, Default)]
pub struct Salts {
    today: Arc<Mutex<Option<DaySalt>>>,
}

/// A day and its salt.
type DaySalt = (Date, Vec<u8>);

impl Salts {
    /// A node's copy, forgotten within a minute after its day ends even if
    /// no event comes (DATA-2: the salt lives only for its day).
    pub fn start() -> Salts {
        let salts = Salts::default();
        let weak = Arc::downgrade(&salts.today);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(today) = weak.upgrade() else { break };
                let mut guard = today.lock().expect("salts lock");
                if guard
                    .as_ref()
                    .is_some_and(|(day, _)| *day != clock::paris_day(clock::now_ms()))
                {
                    *guard = None;
                }
            }
        });
        salts
    }
}

/// The salt of `today`, made by the first node that needs it and shared
/// through the database until the daily job destroys it.
async fn salt(db: &Db, salts: &Salts, today: Date) -> Result<Vec<u8>, Error> {
    if let Some((day, salt)) = salts.today.lock().expect("salts lock").as_ref()
        && *day == today
    {
        return Ok(salt.clone());
    }
    let day = today.to_string();
    let mut tx = db.begin().await?;
    sqlx::query("INSERT INTO usage_salts (day, salt) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING")
        .bind(&day)
        .bind(random::token(32))
        .execute(&mut *tx)
        .await?;
    let salt: String = sqlx::query("SELECT salt FROM usage_salts WHERE day = $1")
        .bind(&day)
        .fetch_one(&mut *tx)
        .await?
        .try_get("salt")?;
    tx.commit().await?;
    let salt = salt.into_bytes();
    *salts.today.lock().expect("salts lock") = Some((today, salt.clone()));
    Ok(salt)
}

/// The INSEE codes of the member communes.
async fn member_communes(db: &Db) -> Result<HashSet<String>, Error> {
    let rows = sqlx::query(
        "SELECT insee_code FROM organisations WHERE kind = 'commune' AND insee_code IS NOT NULL",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("insee_code"))
        .collect::<Result<_, _>>()?)
}

/// What became of a batch: how many events were kept, and each refused
/// one with its index in the batch.
#[derive(Debug, Default)]
pub struct Report {
    pub accepted: usize,
    pub rejected: Vec<(usize, Refusal)>,
}

/// DATA-1: checks each event of `batch` for `service_id` and writes the
/// valid ones in one transaction. DATA-2: the visitor hints are turned
/// into the visitor of the day and dropped; the person's subject is
/// dropped too (per-person analytics need their consent, not yet asked).
pub async fn ingest(
    db: &Db,
    salts: &Salts,
    service_id: i64,
    batch: Vec<serde_json::Value>,
) -> Result<Report, Error> {
    let now = clock::now_ms();
    let today = clock::paris_day(now);
    let communes = member_communes(db).await?;
    let mut report = Report::default();
    let mut checked = Vec::with_capacity(batch.len());
    for (index, value) in batch.into_iter().enumerate() {
        let incoming = match serde_json::from_value::<Incoming>(value) {
            Ok(incoming) => incoming,
            Err(e) => {
                report.rejected.push((index, malformed(&e)));
                continue;
            }
        };
        match event::check(incoming, now, |code| communes.contains(code)) {
            Ok(e) => checked.push(e),
            Err(refusal) => report.rejected.push((index, refusal)),
        }
    }
    if checked.is_empty() {
        return Ok(report);
    }
    let salt = salt(db, salts, today).await?;
    let rows: Vec<serde_json::Value> = checked
        .iter()
        .map(|e| {
            let visitor = (e.day == today)
                .then(|| visitor::visitor(&salt, service_id, e.address, &e.user_agent))
                .flatten();
            serde_json::json!({
                "type": e.kind,
                "at": e.at_ms,
                "day": e.day.to_string(),
                "page": e.page,
                "feature": e.feature,
                "commune": e.commune,
                "visitor": visitor,
            })
        })
        .collect();
    let sql = match db.backend() {
        Backend::Postgres => {
            "INSERT INTO usage_events (service_id, type, occurred_at, day, page, feature, commune, visitor, received_at) \
             SELECT $1, type, at, day, page, feature, commune, visitor, $2 FROM json_to_recordset($3::json) \
             AS e(type text, at bigint, day text, page text, feature text, commune text, visitor text)"
        }
        Backend::Sqlite => {
            "INSERT INTO usage_events (service_id, type, occurred_at, day, page, feature, commune, visitor, received_at) \
             SELECT $1, value->>'type', value->>'at', value->>'day', value->>'page', value->>'feature', \
             value->>'commune', value->>'visitor', $2 FROM json_each($3)"
        }
    };
    let mut tx = db.begin().await?;
    sqlx::query(sql)
        .bind(service_id)
        .bind(now)
        .bind(serde_json::Value::Array(rows).to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    report.accepted = checked.len();
    Ok(report)
}

fn malformed(e: &serde_json::Error) -> Refusal {
    Refusal {
        field: "event",
        msg: kernel::web::Msg::new(
            format!("Événement mal formé : {e}."),
            format!("Malformed event: {e}."),
        ),
    }
}

/// The service of a code, or `None`.
pub async fn service_id(db: &Db, code: &str) -> Result<Option<i64>, Error> {
    Ok(sqlx::query("SELECT id FROM services WHERE code = $1")
        .bind(code)
        .fetch_optional(db.pool())
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?)
}

pub const JOB: &str = "usage.daily";

/// DATA-2, once a day across nodes: the salts of past days are destroyed
/// (a visitor of yesterday can no longer be recognised), and events older
/// than 25 months are deleted. Returns (salts, events) deleted, `None` if
/// another node ran it.
pub async fn daily(db: &Db, now_ms: i64) -> Result<Option<(u64, u64)>, Error> {
    let today = clock::paris_day(now_ms);
    let mut tx = db.begin().await?;
    if !kernel::jobs::claim_day(&mut tx, JOB, today).await? {
        return Ok(None);
    }
    let salts = sqlx::query("DELETE FROM usage_salts WHERE day < $1")
        .bind(today.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let events = sqlx::query("DELETE FROM usage_events WHERE day < $1")
        .bind(event::oldest_day(today).to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(Some((salts, events)))
}
