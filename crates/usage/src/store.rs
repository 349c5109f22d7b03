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

/// DATA-3: a visit ends after 30 minutes without an event.
const VISIT_GAP_MS: i64 = 30 * 60 * 1000;

/// Events received this long before the last refresh are looked at again:
/// a batch is stamped when received and commits a moment later, and nodes'
/// clocks differ a little.
const REFRESH_MARGIN_MS: i64 = 10 * 60 * 1000;

/// How often a node refreshes the aggregates.
pub const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The aggregates of the events matching `filter` (a `WHERE` clause on
/// `usage_events`, or nothing): events, distinct visitors, and visits
/// (a visitor's events on a service, split where 30 minutes pass without
/// one; a visit counts in each cell it has an event in).
fn aggregate_sql(filter: &str) -> String {
    format!(
        "WITH x AS (SELECT id, day, service_id, commune, type, visitor, occurred_at, \
           LAG(occurred_at) OVER (PARTITION BY day, service_id, visitor ORDER BY occurred_at, id) AS previous \
           FROM usage_events {filter}), \
         e AS (SELECT day, service_id, COALESCE(commune, '') AS commune, type, visitor, \
           SUM(CASE WHEN previous IS NULL OR occurred_at - previous > {VISIT_GAP_MS} THEN 1 ELSE 0 END) \
             OVER (PARTITION BY day, service_id, visitor ORDER BY occurred_at, id ROWS UNBOUNDED PRECEDING) AS visit \
           FROM x) \
         INSERT INTO usage_daily (day, service_id, commune, type, events, visitors, visits) \
         SELECT day, service_id, commune, type, COUNT(*), COUNT(DISTINCT visitor), \
           COUNT(DISTINCT CASE WHEN visitor IS NOT NULL THEN visitor || ':' || visit END) \
         FROM e GROUP BY day, service_id, commune, type"
    )
}

/// Takes the aggregator's row (two nodes never refresh at once) and says
/// when it last refreshed.
async fn lock_aggregator(tx: &mut kernel::Tx) -> Result<i64, Error> {
    sqlx::query("UPDATE usage_aggregator SET refreshed_at = refreshed_at WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(
        sqlx::query("SELECT refreshed_at FROM usage_aggregator WHERE id = 1")
            .fetch_one(&mut **tx)
            .await?
            .try_get("refreshed_at")?,
    )
}

async fn mark_refreshed(tx: &mut kernel::Tx, at: i64) -> Result<(), Error> {
    sqlx::query("UPDATE usage_aggregator SET refreshed_at = $1 WHERE id = 1")
        .bind(at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// DATA-3, incrementally: the aggregates of the days that received events
/// since the last refresh are computed again. Returns those days.
pub async fn refresh(db: &Db) -> Result<Vec<String>, Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let last = lock_aggregator(&mut tx).await?;
    let days: Vec<String> =
        sqlx::query("SELECT DISTINCT day FROM usage_events WHERE received_at >= $1 ORDER BY day")
            .bind(last - REFRESH_MARGIN_MS)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get("day"))
            .collect::<Result<_, _>>()?;
    let sql = aggregate_sql("WHERE day = $1");
    for day in &days {
        sqlx::query("DELETE FROM usage_daily WHERE day = $1")
            .bind(day)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(day)
            .execute(&mut *tx)
            .await?;
    }
    mark_refreshed(&mut tx, now).await?;
    tx.commit().await?;
    Ok(days)
}

/// DATA-3: every aggregate computed again from the events (after a purge,
/// or to check the incremental ones).
pub async fn rebuild(db: &Db) -> Result<(), Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    lock_aggregator(&mut tx).await?;
    sqlx::query("DELETE FROM usage_daily")
        .execute(&mut *tx)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(aggregate_sql("")))
        .execute(&mut *tx)
        .await?;
    mark_refreshed(&mut tx, now).await?;
    tx.commit().await?;
    Ok(())
}

/// A node's refresher: every [`REFRESH_EVERY`] until `stop`.
pub async fn run_refresh(db: Db, stop: tokio_util::sync::CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(REFRESH_EVERY) => {}
        }
        if let Err(e) = refresh(&db).await {
            tracing::error!(error = %e, "usage aggregates refresh failed");
        }
    }
}

/// What a dashboard shows (DATA-3): days `from` to `to`, one service or
/// all, one commune (its INSEE code) or all of them (the metropolis's view,
/// events without a commune included).
#[derive(Clone, Debug)]
pub struct Filter {
    pub from: Date,
    pub to: Date,
    pub service_id: Option<i64>,
    pub commune: Option<String>,
}

/// Sums over a set of aggregates. `visitors` adds up each day's distinct
/// visitors (a visitor of two days counts twice: the hash of the day is all
/// there is, DATA-2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub events: i64,
    pub visitors: i64,
    pub visits: i64,
}

fn totals(r: &sqlx::any::AnyRow) -> Result<Totals, sqlx::Error> {
    Ok(Totals {
        events: r.try_get("events")?,
        visitors: r.try_get("visitors")?,
        visits: r.try_get("visits")?,
    })
}

/// The aggregates matching `f`, summed by `key` (an expression of
/// `usage_daily`'s columns chosen by this module, never from input).
async fn summed(db: &Db, f: &Filter, key: &str) -> Result<Vec<(String, Totals)>, Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {key} AS k, CAST(SUM(events) AS BIGINT) AS events, CAST(SUM(visitors) AS BIGINT) AS visitors, \
         CAST(SUM(visits) AS BIGINT) AS visits FROM usage_daily \
         WHERE day >= $1 AND day <= $2 AND ($3 IS NULL OR service_id = $3) AND ($4 IS NULL OR commune = $4) \
         GROUP BY {key} ORDER BY {key}"
    )))
    .bind(f.from.to_string())
    .bind(f.to.to_string())
    .bind(f.service_id)
    .bind(f.commune.as_deref())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("k")?, totals(r)?)))
        .collect()
}

/// By day (`YYYY-MM-DD`), or by month (`YYYY-MM`) for a long period.
pub async fn by_period(db: &Db, f: &Filter, monthly: bool) -> Result<Vec<(String, Totals)>, Error> {
    summed(db, f, if monthly { "substr(day, 1, 7)" } else { "day" }).await
}

/// By commune (`''`: the events whose commune was not known).
pub async fn by_commune(db: &Db, f: &Filter) -> Result<Vec<(String, Totals)>, Error> {
    summed(db, f, "commune").await
}

/// By event type.
pub async fn by_type(db: &Db, f: &Filter) -> Result<Vec<(String, Totals)>, Error> {
    summed(db, f, "type").await
}

/// One aggregate, as downloaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Aggregate {
    pub day: String,
    pub service: String,
    /// `''` when the service did not know it.
    pub commune: String,
    pub kind: String,
    pub totals: Totals,
}

/// The aggregates themselves, for the CSV download.
pub async fn aggregates(db: &Db, f: &Filter) -> Result<Vec<Aggregate>, Error> {
    let rows = sqlx::query(
        "SELECT d.day, s.code, d.commune, d.type, d.events, d.visitors, d.visits \
         FROM usage_daily d JOIN services s ON s.id = d.service_id \
         WHERE d.day >= $1 AND d.day <= $2 AND ($3 IS NULL OR d.service_id = $3) AND ($4 IS NULL OR d.commune = $4) \
         ORDER BY d.day, s.code, d.commune, d.type",
    )
    .bind(f.from.to_string())
    .bind(f.to.to_string())
    .bind(f.service_id)
    .bind(f.commune.as_deref())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Aggregate {
                day: r.try_get("day")?,
                service: r.try_get("code")?,
                commune: r.try_get("commune")?,
                kind: r.try_get("type")?,
                totals: totals(r)?,
            })
        })
        .collect()
}

/// DATA-4: the aggregates of the days before `before` (`YYYY-MM-DD`), by
/// month, commune and service. The events whose commune is unknown are left
/// out: the dataset is by commune.
pub async fn monthly_by_commune(
    db: &Db,
    before: Date,
) -> Result<Vec<crate::domain::open_data::MonthlyUsage>, Error> {
    let rows = sqlx::query(
        "SELECT substr(d.day, 1, 7) AS month, d.commune, s.code, CAST(SUM(d.events) AS BIGINT) AS events, \
         CAST(SUM(d.visits) AS BIGINT) AS visits FROM usage_daily d JOIN services s ON s.id = d.service_id \
         WHERE d.commune <> '' AND d.day < $1 \
         GROUP BY substr(d.day, 1, 7), d.commune, s.code ORDER BY 1, 2, 3",
    )
    .bind(before.to_string())
    .fetch_all(db.pool())
    .await?;
    let count = |r: &sqlx::any::AnyRow, name: &str| -> Result<u64, sqlx::Error> {
        Ok(r.try_get::<i64, _>(name)?.max(0) as u64)
    };
    rows.iter()
        .map(|r| {
            Ok(crate::domain::open_data::MonthlyUsage {
                month: r.try_get("month")?,
                commune: r.try_get("commune")?,
                service: r.try_get("code")?,
                events: count(r, "events")?,
                visits: count(r, "visits")?,
            })
        })
        .collect()
}
