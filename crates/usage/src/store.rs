//! Usage events in the database (DATA-1, DATA-2): a batch checked event by
//! event and written in one statement; the salt of the day.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use kernel::{Backend, Db, clock, random};
use serde::Serialize;
use sqlx::Row;
use time::Date;

use crate::Error;
use crate::domain::event::{self, Received, Refusal};
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

/// One event as it is written: a JSON array of its columns, in the order
/// of the INSERT's columns (no field names to write, send and read again).
#[derive(Serialize)]
struct NewRow<'a>(
    &'a str,
    i64,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<String>,
    Option<&'a str>,
);

/// DATA-1: checks each event of `batch` for `service_id` and writes the
/// valid ones in one transaction. DATA-2: the visitor hints are turned
/// into the visitor of the day and dropped; the person's subject is kept
/// only when `client` (the service's client that sent the batch; none for
/// the beacon) received it and the person consents to statistics of their
/// use (ID-4), dropped otherwise.
pub async fn ingest(
    db: &Db,
    salts: &Salts,
    service_id: i64,
    client: Option<&str>,
    batch: Vec<Received<'_>>,
) -> Result<Report, Error> {
    let now = clock::now_ms();
    let today = clock::paris_day(now);
    let communes = member_communes(db).await?;
    let mut report = Report::default();
    let mut checked = Vec::with_capacity(batch.len());
    for (index, received) in batch.into_iter().enumerate() {
        let incoming = match received {
            Received::Event(incoming) => incoming,
            Received::Malformed(problem) => {
                report.rejected.push((index, malformed(&problem)));
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
    let mut subjects: Vec<&str> = checked.iter().filter_map(|e| e.sub.as_deref()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    let consenting = match client {
        Some(client) if !subjects.is_empty() => consenting_of(db, client, &subjects, now).await?,
        _ => HashMap::new(),
    };
    // A batch spans a day or two: each day's text is made once.
    let mut days: Vec<(Date, String)> = Vec::new();
    for e in &checked {
        if !days.iter().any(|(d, _)| *d == e.day) {
            days.push((e.day, e.day.to_string()));
        }
    }
    let rows: Vec<NewRow> = checked
        .iter()
        .map(|e| {
            NewRow(
                &e.kind,
                e.at_ms,
                days.iter()
                    .find(|(d, _)| *d == e.day)
                    .map(|(_, text)| text.as_str())
                    .unwrap_or_default(),
                e.page.as_deref(),
                e.feature.as_deref(),
                e.commune.as_deref(),
                (e.day == today)
                    .then(|| visitor::visitor(&salt, service_id, e.address, &e.user_agent))
                    .flatten(),
                // Only what happened under the consent (ID-4).
                e.sub
                    .as_deref()
                    .filter(|s| consenting.get(*s).is_some_and(|since| e.at_ms >= *since)),
            )
        })
        .collect();
    write(db, service_id, now, &rows).await?;
    report.accepted = checked.len();
    Ok(report)
}

/// Writes `rows` of `service_id`, received at `now`, in one transaction.
async fn write(db: &Db, service_id: i64, now: i64, rows: &[NewRow<'_>]) -> Result<(), Error> {
    // Texts, integers and nulls: nothing that can fail.
    let rows = serde_json::to_string(rows).expect("rows as JSON");
    // One fixed statement whatever the batch's size (planned once), its
    // rows one JSON argument, read as JSONB: parsed once, then each column
    // taken by position. Measured on 1,000 rows against objects read with
    // `json_to_recordset` / `json_each` and `->>'name'`: PostgreSQL's
    // statement 7.0 -> 6.2 ms (5.6 without JSON at all), SQLite's 2.7 ->
    // 1.1 ms of CPU (0.8 without JSON) (bench/usage).
    let sql = match db.backend() {
        Backend::Postgres => {
            "INSERT INTO usage_events (service_id, type, occurred_at, day, page, feature, commune, visitor, subject, received_at) \
             SELECT $1, e->>0, (e->>1)::bigint, e->>2, e->>3, e->>4, e->>5, e->>6, e->>7, $2 \
             FROM jsonb_array_elements($3::jsonb) AS e"
        }
        Backend::Sqlite => {
            "INSERT INTO usage_events (service_id, type, occurred_at, day, page, feature, commune, visitor, subject, received_at) \
             SELECT $1, value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7, $2 \
             FROM jsonb_each($3)"
        }
    };
    let mut tx = db.begin().await?;
    sqlx::query(sql)
        .bind(service_id)
        .bind(now)
        .bind(rows)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A page view of a past day with its visitor of that day, for the demo's
/// history: [`ingest`] counts no visitor for a past day (its salt is gone,
/// DATA-2), so a demo could not show visits otherwise.
#[derive(Clone, Debug)]
pub struct PastView {
    pub at_ms: i64,
    pub page: String,
    /// INSEE code of a member commune.
    pub commune: String,
    /// 32 hexadecimal characters, as [`visitor::visitor`] makes them.
    pub visitor: String,
}

/// Writes the demo's history of `service_id` (`serve --demo` only) and
/// computes its aggregates. Not for services: their events go through
/// [`ingest`], checked.
pub async fn record_demo_history(
    db: &Db,
    service_id: i64,
    views: &[PastView],
) -> Result<(), Error> {
    let days: Vec<String> = views
        .iter()
        .map(|v| clock::paris_day(v.at_ms).to_string())
        .collect();
    let rows: Vec<NewRow> = views
        .iter()
        .zip(&days)
        .map(|(v, day)| {
            NewRow(
                "page",
                v.at_ms,
                day,
                Some(&v.page),
                None,
                Some(&v.commune),
                Some(v.visitor.clone()),
                None,
            )
        })
        .collect();
    write(db, service_id, clock::now_ms(), &rows).await?;
    refresh(db).await?;
    Ok(())
}

fn malformed(problem: &str) -> Refusal {
    Refusal {
        field: "event",
        msg: kernel::web::Msg::new(
            format!("Événement mal formé : {problem}."),
            format!("Malformed event: {problem}."),
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

/// Among `subjects`, those the client `client_id` received whose person
/// consents to statistics of their use of it (DATA-2, ID-4), with the time
/// of that consent.
async fn consenting_of(
    db: &Db,
    client_id: &str,
    subjects: &[&str],
    now: i64,
) -> Result<HashMap<String, i64>, Error> {
    let Some(client) = identity::oidc::clients::get(db, client_id).await? else {
        return Ok(HashMap::new());
    };
    Ok(
        identity::oidc::consents::consenting_to_usage_statistics(db, &client, subjects, now)
            .await?,
    )
}

/// The same for the events of `service_id`, through its linked client;
/// none when no client is linked any more.
async fn consenting(
    db: &Db,
    service_id: i64,
    subjects: &[&str],
    now: i64,
) -> Result<HashMap<String, i64>, Error> {
    match assistance::store::client_of_service(db, service_id).await? {
        Some(client_id) => consenting_of(db, &client_id, subjects, now).await,
        None => Ok(HashMap::new()),
    }
}

/// DATA-2, ID-4: erases the subject from the events of every person whose
/// consent to statistics of their use has ended (withdrawn, expired, or
/// refused at a later consent screen). Returns how many events lost theirs.
/// Run daily; an account's deletion erases its subjects at once (ID-8).
pub async fn forget_withdrawn(db: &Db, now: i64) -> Result<u64, Error> {
    let rows = sqlx::query(
        "SELECT DISTINCT service_id, subject FROM usage_events WHERE subject IS NOT NULL ORDER BY service_id",
    )
    .fetch_all(db.pool())
    .await?;
    let mut by_service: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
    for r in &rows {
        by_service
            .entry(r.try_get("service_id")?)
            .or_default()
            .push(r.try_get("subject")?);
    }
    let mut erased = 0;
    for (service_id, subjects) in by_service {
        let listed: Vec<&str> = subjects.iter().map(String::as_str).collect();
        let keep = consenting(db, service_id, &listed, now).await?;
        let mut tx = db.begin().await?;
        for subject in listed.iter().filter(|s| !keep.contains_key(**s)) {
            erased += sqlx::query(
                "UPDATE usage_events SET subject = NULL WHERE service_id = $1 AND subject = $2",
            )
            .bind(service_id)
            .bind(*subject)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
    }
    Ok(erased)
}

/// One event kept under a person's subject (ID-4, DATA-2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonEvent {
    /// The service's code.
    pub service: String,
    pub kind: String,
    pub at_ms: i64,
    pub page: Option<String>,
    pub feature: Option<String>,
    pub commune: Option<String>,
}

/// The events kept under `subject` (on one service, or on any), newest
/// first, at most `limit`.
async fn events_of_subject(
    conn: &mut sqlx::AnyConnection,
    subject: &str,
    service_id: Option<i64>,
    limit: i64,
) -> Result<Vec<PersonEvent>, sqlx::Error> {
    sqlx::query(
        "SELECT s.code, e.type, e.occurred_at, e.page, e.feature, e.commune FROM usage_events e \
         JOIN services s ON s.id = e.service_id WHERE e.subject = $1 AND ($2 IS NULL OR e.service_id = $2) \
         ORDER BY e.occurred_at DESC, e.id DESC LIMIT $3",
    )
    .bind(subject)
    .bind(service_id)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(|r| {
        Ok(PersonEvent {
            service: r.try_get("code")?,
            kind: r.try_get("type")?,
            at_ms: r.try_get("occurred_at")?,
            page: r.try_get("page")?,
            feature: r.try_get("feature")?,
            commune: r.try_get("commune")?,
        })
    })
    .collect()
}

/// At most this many events of a person are read back by their service.
pub const PERSON_EVENTS: i64 = 1000;

/// ID-4, DATA-2: what `service_id` kept of the person behind `sub` while
/// they consent to statistics of their use of it (the purpose they agreed
/// to), newest first; `None` without that live consent.
pub async fn person_events(
    db: &Db,
    client_id: &str,
    service_id: i64,
    sub: &str,
) -> Result<Option<Vec<PersonEvent>>, Error> {
    if !consenting_of(db, client_id, &[sub], clock::now_ms())
        .await?
        .contains_key(sub)
    {
        return Ok(None);
    }
    let mut conn = db.pool().acquire().await?;
    Ok(Some(
        events_of_subject(&mut conn, sub, Some(service_id), PERSON_EVENTS).await?,
    ))
}

/// ID-8: the events kept under the account's subjects (its consented usage
/// statistics), newest first.
fn export_of(
    db: Db,
    account_id: i64,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<serde_json::Value, sqlx::Error>> + Send>,
> {
    Box::pin(async move {
        let mut conn = db.pool().acquire().await?;
        let subjects = identity::oidc::store::subjects_of(&mut conn, account_id).await?;
        let mut events = Vec::new();
        for subject in &subjects {
            for e in events_of_subject(&mut conn, subject, None, i64::MAX).await? {
                events.push(serde_json::json!({
                    "service": e.service,
                    "type": e.kind,
                    "time": clock::format_ms(e.at_ms),
                    "page": e.page,
                    "feature": e.feature,
                    "commune": e.commune,
                }));
            }
        }
        Ok(serde_json::json!({ "events": events }))
    })
}

/// Erases `subjects` from the events kept under them (the events stay,
/// counted like anybody's).
async fn forget_subjects(tx: &mut kernel::Tx, subjects: &[String]) -> Result<(), sqlx::Error> {
    for subject in subjects {
        sqlx::query("UPDATE usage_events SET subject = NULL WHERE subject = $1")
            .bind(subject)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// ID-8: the account's deletion erases its subjects from the events (the
/// events stay, counted like anybody's).
fn erase(
    tx: &mut kernel::Tx,
    account_id: i64,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        let subjects = identity::oidc::store::subjects_of(tx, account_id).await?;
        forget_subjects(tx, &subjects).await
    })
}

/// ID-4, DATA-2: when a consent no longer grants statistics of one's use
/// (withdrawn, expired, or unticked at a later screen), the subject is
/// erased from the events kept under it at once, in the consent's own
/// transaction ([`forget_withdrawn`] is the daily safety net).
fn consent_changed<'a>(
    tx: &'a mut kernel::Tx,
    change: &'a kernel::personal_data::ConsentChange,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'a>> {
    Box::pin(async move {
        if change
            .granted
            .iter()
            .any(|g| g == identity::oidc::clients::USAGE_STATISTICS)
        {
            return Ok(());
        }
        forget_subjects(tx, &change.subjects).await
    })
}

/// This area's share of personal data (ID-8), registered at start.
pub const PERSONAL_DATA: kernel::personal_data::Part = kernel::personal_data::Part {
    name: "usage_statistics",
    export: export_of,
    erase,
    consent_changed,
};
