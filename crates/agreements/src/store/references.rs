//! Reference values and people: SYNTEC index values (FIN-1), referents and
//! the steering committee (CONV-9).

use kernel::audit::{self, Actor, Event};
use kernel::web::Scope;
use kernel::{Db, clock};
use serde_json::json;
use sqlx::Row;
use time::Date;

use super::parse_date;
use crate::domain::contribution::{SyntecSeries, SyntecValue};
use crate::domain::money::parse_decimal;

/// A stored SYNTEC value; `exact` is false when the publication date is the
/// usual one, not a confirmed one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntecRow {
    pub value: SyntecValue,
    pub exact: bool,
}

/// Adds a month's value; `false` when that month already has one (a
/// published index is never rewritten).
pub async fn add_syntec(
    db: &Db,
    actor: Actor,
    v: &SyntecValue,
    exact: bool,
) -> Result<bool, sqlx::Error> {
    let month = format!("{:04}-{:02}", v.year, v.month);
    let mut tx = db.begin().await?;
    let done = sqlx::query(
        "INSERT INTO syntec_values (month, value, published_on, exact, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (month) DO NOTHING",
    )
    .bind(&month)
    .bind(v.value.to_string())
    .bind(v.published_on.to_string())
    .bind(i64::from(exact))
    .bind(clock::now_ms())
    .execute(&mut *tx)
    .await?;
    let added = done.rows_affected() == 1;
    if added {
        audit::append(
            &mut tx,
            &Event::new(actor, "syntec.add", format!("syntec:{month}")).with(
                json!({ "value": v.value.to_string(), "published_on": v.published_on.to_string() }),
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(added)
}

pub async fn syntec_rows(db: &Db) -> Result<Vec<SyntecRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT month, value, published_on, exact FROM syntec_values ORDER BY month DESC",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let month: String = r.try_get("month")?;
            let value: String = r.try_get("value")?;
            let published: String = r.try_get("published_on")?;
            let exact: i64 = r.try_get("exact")?;
            let bad = |e: String| sqlx::Error::Decode(e.into());
            let (y, m) = month
                .split_once('-')
                .ok_or_else(|| bad(format!("bad month {month}")))?;
            Ok(SyntecRow {
                value: SyntecValue {
                    year: y.parse().map_err(|_| bad(format!("bad month {month}")))?,
                    month: m.parse().map_err(|_| bad(format!("bad month {month}")))?,
                    value: parse_decimal(&value).map_err(bad)?,
                    published_on: parse_date(&published)?,
                },
                exact: exact == 1,
            })
        })
        .collect()
}

pub async fn syntec_series(db: &Db) -> Result<SyntecSeries, sqlx::Error> {
    Ok(SyntecSeries::new(
        syntec_rows(db)
            .await?
            .into_iter()
            .map(|r| r.value)
            .collect(),
    ))
}

/// The kinds of referents (CONV-9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferentKind {
    /// The commune's referent for one service.
    Service,
    /// The metropolis's project referent.
    Project,
    /// The metropolis's support contact.
    Support,
}

impl ReferentKind {
    pub fn code(self) -> &'static str {
        match self {
            ReferentKind::Service => "service",
            ReferentKind::Project => "project",
            ReferentKind::Support => "support",
        }
    }
    pub fn parse(code: &str) -> Option<ReferentKind> {
        match code {
            "service" => Some(ReferentKind::Service),
            "project" => Some(ReferentKind::Project),
            "support" => Some(ReferentKind::Support),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referent {
    pub organisation_id: i64,
    pub service_id: Option<i64>,
    pub service_name: Option<String>,
    pub kind: ReferentKind,
    pub name: String,
    pub email: String,
}

/// Names (or replaces) a referent, journaled.
pub async fn set_referent(db: &Db, actor: Actor, r: &Referent) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "DELETE FROM referents WHERE organisation_id = $1 AND kind = $2 AND COALESCE(service_id, 0) = COALESCE($3, 0)",
    )
    .bind(r.organisation_id)
    .bind(r.kind.code())
    .bind(r.service_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO referents (organisation_id, service_id, kind, name, email, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(r.organisation_id)
    .bind(r.service_id)
    .bind(r.kind.code())
    .bind(&r.name)
    .bind(&r.email)
    .bind(clock::now_ms())
    .execute(&mut *tx)
    .await?;
    audit::append(
        &mut tx,
        &Event::new(actor, "referent.set", format!("organisation:{}", r.organisation_id))
            .with(json!({ "kind": r.kind.code(), "service_id": r.service_id, "name": r.name, "email": r.email })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The referents of the organisations in `scope` (all of `organisation_id`'s
/// when given).
pub async fn referents(
    db: &Db,
    scope: &Scope,
    organisation_id: Option<i64>,
) -> Result<Vec<Referent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT r.organisation_id, r.service_id, s.name AS service_name, r.kind, r.name, r.email \
         FROM referents r LEFT JOIN services s ON s.id = r.service_id ORDER BY r.kind, s.name",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let org: i64 = r.try_get("organisation_id")?;
        if !scope.allows(org) || organisation_id.is_some_and(|o| o != org) {
            continue;
        }
        let kind: String = r.try_get("kind")?;
        out.push(Referent {
            organisation_id: org,
            service_id: r.try_get("service_id")?,
            service_name: r.try_get("service_name")?,
            kind: ReferentKind::parse(&kind)
                .ok_or_else(|| sqlx::Error::Decode(format!("bad kind {kind}").into()))?,
            name: r.try_get("name")?,
            email: r.try_get("email")?,
        });
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    pub id: i64,
    pub held_on: Date,
    pub attendees: String,
    pub minutes: String,
}

/// CONV-9: records a steering committee meeting.
pub async fn add_committee(
    db: &Db,
    actor: Actor,
    held_on: Date,
    attendees: &str,
    minutes: &str,
) -> Result<i64, sqlx::Error> {
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO steering_committees (held_on, attendees, minutes, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(held_on.to_string())
    .bind(attendees)
    .bind(minutes)
    .bind(clock::now_ms())
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    audit::append(
        &mut tx,
        &Event::new(actor, "committee.record", format!("committee:{id}"))
            .with(json!({ "held_on": held_on.to_string() })),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn committees(db: &Db) -> Result<Vec<Committee>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, held_on, attendees, minutes FROM steering_committees ORDER BY held_on DESC",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            let held: String = r.try_get("held_on")?;
            Ok(Committee {
                id: r.try_get("id")?,
                held_on: parse_date(&held)?,
                attendees: r.try_get("attendees")?,
                minutes: r.try_get("minutes")?,
            })
        })
        .collect()
}
