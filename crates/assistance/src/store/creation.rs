//! SAU-1, SAU-2, SAU-4: opening a help request. It is routed by competence,
//! numbered and given its tracking secret, then written with its routing,
//! its first message and its acknowledgement (outbox, SAU-5) in one
//! transaction.
//!
//! The HTTP layer's creations go through [`Creations`], which writes the
//! requests waiting at the same moment in one transaction and two
//! statements: a creation's cost was its round trips and its commit, not
//! its rows (bench/assistance). Each is answered only once its group is
//! committed.

use std::sync::Arc;

use kernel::mail::Email;
use kernel::outbox::{self, Message};
use kernel::web::error::Msg;
use kernel::{Backend, Db, Tx, clock, random};
use sqlx::Row;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Category, category_row, insert_attachments, tracking_link};
use crate::Error;
use crate::domain::attachment::Accepted;
use crate::domain::routing::{self, Competence, Decision, Destination};
use crate::domain::{reference, working_days};

/// A help request as submitted (checked at the edge).
pub struct NewRequest<'a> {
    pub service_code: &'a str,
    pub category: &'a str,
    pub subject: &'a str,
    pub message: &'a str,
    pub page_url: Option<&'a str>,
    pub email: &'a str,
    pub account_id: Option<i64>,
    /// The requester's commune (INSEE code), when known.
    pub commune: Option<&'a str>,
    /// SAU-1: files checked at the edge.
    pub attachments: &'a [Accepted],
    /// What routing needs, when the caller has already read it with
    /// [`topic`] for this service, category and commune; otherwise
    /// `create` reads it.
    pub topic: Option<Topic>,
}

/// What creating a request gives.
#[derive(Clone, Debug)]
pub struct Created {
    pub id: i64,
    pub reference: String,
    /// The secret of the tracking link (only its SHA-256 is stored).
    pub tracking_token: String,
    pub decision: Decision,
    pub organisation_id: i64,
}

/// SAU-1, SAU-2, SAU-4: records the request routed by competence, with its
/// reference and tracking secret, and queues the acknowledgement, in a
/// transaction of its own.
pub async fn create(db: &Db, r: &NewRequest<'_>, public_url: &str) -> Result<Created, Error> {
    let p = prepare(db, r, public_url).await?;
    let mut tx = db.begin().await?;
    let (id, message) = write(&mut tx, std::slice::from_ref(&p)).await?[0];
    insert_attachments(&mut tx, id, message, r.attachments, p.now).await?;
    tx.commit().await?;
    Ok(p.created(id))
}

/// A request routed and numbered, ready to be written. It owns its data: it
/// may wait in the queue of [`Creations`].
#[derive(Debug)]
struct Prepared {
    reference: String,
    tracking_token: String,
    service_id: i64,
    category: String,
    subject: String,
    page_url: Option<String>,
    email: String,
    account_id: Option<i64>,
    /// Only a member commune is kept (another code says nothing useful).
    commune: Option<String>,
    organisation_id: i64,
    now: i64,
    first_answer_due: String,
    resolution_due: String,
    decision: Decision,
    message: String,
    /// SAU-5: the acknowledgement, with the tracking link.
    ack: Message,
}

impl Prepared {
    fn created(self, id: i64) -> Created {
        Created {
            id,
            reference: self.reference,
            tracking_token: self.tracking_token,
            decision: self.decision,
            organisation_id: self.organisation_id,
        }
    }
}

/// What routing a request needs (SAU-2): the service's category with its
/// deadlines, the metropolis, and the requester's commune if it is a member.
#[derive(Clone, Debug)]
pub struct Topic {
    pub service_id: i64,
    pub category: Category,
    metropolis_id: i64,
    /// Only a member commune can be competent.
    commune_id: Option<i64>,
}

/// [`Topic`] in one statement (it runs for every request opened); `None`
/// when the service or the category is unknown.
pub async fn topic(
    db: &Db,
    service_code: &str,
    category_code: &str,
    commune: Option<&str>,
) -> Result<Option<Topic>, Error> {
    let row = sqlx::query(
        "SELECT s.id AS service_id, c.code, c.label, c.competence, c.first_answer_days, c.resolution_days, \
         (SELECT id FROM organisations WHERE kind = 'metropolis') AS metropolis_id, \
         (SELECT id FROM organisations WHERE kind = 'commune' AND insee_code = $3) AS commune_id \
         FROM services s JOIN help_categories c ON c.service_id = s.id WHERE s.code = $1 AND c.code = $2",
    )
    .bind(service_code)
    .bind(category_code)
    .bind(commune)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(Topic {
        service_id: r.try_get("service_id")?,
        category: category_row(&r)?,
        metropolis_id: r
            .try_get::<Option<i64>, _>("metropolis_id")?
            .ok_or(sqlx::Error::RowNotFound)?,
        commune_id: r.try_get("commune_id")?,
    }))
}

/// Reads what routing needs (SAU-2), takes the reference (SAU-4) and
/// composes the acknowledgement (SAU-5). Writes nothing but a block of
/// numbers now and then (`Db::next_number`).
async fn prepare(db: &Db, r: &NewRequest<'_>, public_url: &str) -> Result<Prepared, Error> {
    let now = clock::now_ms();
    let known = match &r.topic {
        Some(t) => Some(t.clone()),
        None => topic(db, r.service_code, r.category, r.commune).await?,
    };
    let Topic {
        service_id,
        category,
        metropolis_id,
        commune_id,
    } = known.ok_or(Error::Invalid(Msg::new(
        "Choisissez une catégorie de la liste.",
        "Choose a category from the list.",
    )))?;
    let commune = r.commune.zip(commune_id);
    // Whether the commune joined the service matters only for a commune's
    // category (SAU-2): the others go to the metropolis.
    let joined = match commune {
        Some((insee, _)) if category.competence == Competence::Commune => {
            agreements::store::service_in_force(
                db,
                insee,
                r.service_code,
                working_days::paris_day(now),
            )
            .await?
        }
        _ => false,
    };
    let decision = routing::route(Some(category.competence), commune.map(|c| c.0), joined);
    let organisation_id = match (&decision.destination, commune) {
        (Destination::Commune(_), Some((_, id))) => id,
        _ => metropolis_id,
    };
    let year = working_days::paris_day(now).year();
    let reference = reference::format(year, db.next_number(&format!("SAU-{year}")).await?);
    let tracking_token = random::token(24);
    let link = tracking_link(public_url, &reference, &tracking_token);
    let ack = Message::Email(Email {
        to: r.email.to_string(),
        subject: format!("Votre demande {reference} est enregistrée"),
        html: None,
        text: format!(
            "Bonjour,\n\nVotre demande d'aide « {} » est enregistrée sous la référence {reference}.\n\
             Vous pouvez la suivre et y répondre ici :\n{link}\n\nCe lien est personnel : ne le \
             transmettez pas.\n\nMutualis\n\n---\nYour help request is recorded as {reference}. \
             Follow it and reply here: {link}\n",
            r.subject
        ),
    });
    Ok(Prepared {
        reference,
        tracking_token,
        service_id,
        category: r.category.to_string(),
        subject: r.subject.to_string(),
        page_url: r.page_url.map(str::to_string),
        email: r.email.to_string(),
        account_id: r.account_id,
        commune: commune.map(|(insee, _)| insee.to_string()),
        organisation_id,
        now,
        first_answer_due: working_days::due_day(now, category.first_answer_days).to_string(),
        resolution_due: working_days::due_day(now, category.resolution_days).to_string(),
        decision,
        message: r.message.to_string(),
        ack,
    })
}

/// [`write`]'s statement on PostgreSQL: the requests come as one JSON
/// array (one statement whatever their number, prepared once and planned
/// once: statements written for each group size were planned again for
/// each, a seventh of the database's time, bench/assistance).
const WRITE_POSTGRES: &str = "\
WITH v AS (SELECT * FROM json_to_recordset($1::json) AS v(reference text, tracking_hash text, \
  service_id bigint, category text, subject text, page_url text, email text, account_id bigint, \
  commune text, organisation_id bigint, now bigint, first_answer_due text, resolution_due text, \
  reason text, message text)), \
r AS (INSERT INTO help_requests (reference, tracking_hash, service_id, category, subject, page_url, \
  requester_email, requester_account_id, requester_commune, organisation_id, status, created_at, \
  updated_at, first_answer_due, resolution_due) \
  SELECT reference, tracking_hash, service_id, category, subject, page_url, email, account_id, commune, \
  organisation_id, 'new', now, now, first_answer_due, resolution_due FROM v RETURNING id, reference), \
g AS (INSERT INTO help_routings (request_id, organisation_id, reason, at) \
  SELECT r.id, v.organisation_id, v.reason, v.now FROM r JOIN v USING (reference)), \
m AS (INSERT INTO help_messages (request_id, author, author_account_id, internal, body, created_at) \
  SELECT r.id, 'requester', v.account_id, 0, v.message, v.now FROM r JOIN v USING (reference) \
  RETURNING id, request_id) \
SELECT m.id, m.request_id, r.reference FROM m JOIN r ON r.id = m.request_id";

/// The same on SQLite, which has no data-modifying CTE: four statements in
/// one call (sqlx runs them in turn, `$1` the same argument in each).
const WRITE_SQLITE: &str = "\
INSERT INTO help_requests (reference, tracking_hash, service_id, category, subject, page_url, \
  requester_email, requester_account_id, requester_commune, organisation_id, status, created_at, \
  updated_at, first_answer_due, resolution_due) \
  SELECT v->>'reference', v->>'tracking_hash', v->>'service_id', v->>'category', v->>'subject', \
  v->>'page_url', v->>'email', v->>'account_id', v->>'commune', v->>'organisation_id', 'new', \
  v->>'now', v->>'now', v->>'first_answer_due', v->>'resolution_due' \
  FROM (SELECT value AS v FROM json_each($1)); \
INSERT INTO help_routings (request_id, organisation_id, reason, at) \
  SELECT r.id, r.organisation_id, j.value->>'reason', r.created_at \
  FROM json_each($1) j JOIN help_requests r ON r.reference = j.value->>'reference'; \
INSERT INTO help_messages (request_id, author, author_account_id, internal, body, created_at) \
  SELECT r.id, 'requester', r.requester_account_id, 0, j.value->>'message', r.created_at \
  FROM json_each($1) j JOIN help_requests r ON r.reference = j.value->>'reference'; \
SELECT m.id, m.request_id, r.reference FROM json_each($1) j \
  JOIN help_requests r ON r.reference = j.value->>'reference' JOIN help_messages m ON m.request_id = r.id";

/// Writes `items` in `tx`: their rows, routings and first messages in one
/// statement (one call on SQLite), their acknowledgements in another.
/// Returns each one's request and message ids, in order.
async fn write(tx: &mut Tx, items: &[Prepared]) -> Result<Vec<(i64, i64)>, Error> {
    let rows: Vec<serde_json::Value> = items
        .iter()
        .map(|p| {
            serde_json::json!({
                "reference": p.reference,
                "tracking_hash": random::sha256_hex(&p.tracking_token),
                "service_id": p.service_id,
                "category": p.category,
                "subject": p.subject,
                "page_url": p.page_url,
                "email": p.email,
                "account_id": p.account_id,
                "commune": p.commune,
                "organisation_id": p.organisation_id,
                "now": p.now,
                "first_answer_due": p.first_answer_due,
                "resolution_due": p.resolution_due,
                "reason": p.decision.reason.code(),
                "message": p.message,
            })
        })
        .collect();
    let sql = match tx.backend() {
        Backend::Postgres => WRITE_POSTGRES,
        Backend::Sqlite => WRITE_SQLITE,
    };
    let written = sqlx::query(sql)
        .bind(serde_json::Value::Array(rows).to_string())
        .fetch_all(&mut **tx)
        .await?;
    let mut ids = Vec::with_capacity(items.len());
    for p in items {
        let row = written
            .iter()
            .find(|r| r.try_get::<String, _>("reference").ok().as_deref() == Some(&p.reference))
            .ok_or(sqlx::Error::RowNotFound)?;
        ids.push((row.try_get("request_id")?, row.try_get("id")?));
    }
    let keys: Vec<String> = items
        .iter()
        .map(|p| format!("help-ack:{}", p.reference))
        .collect();
    let acks: Vec<(&str, &Message)> = keys
        .iter()
        .map(String::as_str)
        .zip(items.iter().map(|p| &p.ack))
        .collect();
    outbox::enqueue_many(tx, &acks).await?;
    Ok(ids)
}

/// At most this many requests in one transaction.
const GROUP: usize = 32;

type Job = (Prepared, oneshot::Sender<Result<Created, Error>>);

/// The node's writer of new help requests: requests that arrive while a
/// group is being written wait and are written together by the next one,
/// so there is no delay when requests are few (a group of one). Kept in
/// the state's extensions.
#[derive(Clone, Debug)]
pub struct Creations {
    db: Db,
    queue: mpsc::Sender<Job>,
}

impl Creations {
    /// Starts the writer task; it ends when the last handle is dropped.
    pub fn start(db: Db) -> Creations {
        let (queue, jobs) = mpsc::channel(4 * GROUP);
        let jobs = Arc::new(Mutex::new(jobs));
        // SQLite has one writer at a time; PostgreSQL takes several
        // transactions at once, and while one group waits for its commit
        // the next is being written.
        let writers = match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        };
        for _ in 0..writers {
            tokio::spawn(writer(db.clone(), jobs.clone()));
        }
        Creations { db, queue }
    }

    /// As [`create`]. Requests with files are written on their own: their
    /// files may weigh 50 MB.
    pub async fn create(&self, r: &NewRequest<'_>, public_url: &str) -> Result<Created, Error> {
        if !r.attachments.is_empty() {
            return create(&self.db, r, public_url).await;
        }
        let p = prepare(&self.db, r, public_url).await?;
        let (reply, created) = oneshot::channel();
        self.queue
            .send((p, reply))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        created.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

async fn writer(db: Db, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut jobs = Vec::with_capacity(GROUP);
    // The queue's lock is held while waiting for requests, not while
    // writing them: another writer takes the next group meanwhile.
    while queue.lock().await.recv_many(&mut jobs, GROUP).await > 0 {
        let (items, replies): (Vec<Prepared>, Vec<_>) = jobs.drain(..).unzip();
        match write_group(&db, &items).await {
            Ok(ids) => {
                for ((p, (id, _)), reply) in items.into_iter().zip(ids).zip(replies) {
                    // The person may have gone: the request stays created.
                    let _ = reply.send(Ok(p.created(id)));
                }
            }
            // One request that cannot be written must not fail the others:
            // each is written alone, and only that one gets the error.
            Err(_) => {
                for (p, reply) in items.into_iter().zip(replies) {
                    let one = write_group(&db, std::slice::from_ref(&p)).await;
                    let _ = reply.send(one.map(|ids| p.created(ids[0].0)));
                }
            }
        }
    }
}

async fn write_group(db: &Db, items: &[Prepared]) -> Result<Vec<(i64, i64)>, Error> {
    let mut tx = db.begin().await?;
    let ids = write(&mut tx, items).await?;
    tx.commit().await?;
    Ok(ids)
}
