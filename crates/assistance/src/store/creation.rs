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

use kernel::mail::Email;
use kernel::outbox::{self, Message};
use kernel::web::error::Msg;
use kernel::{Backend, Db, Tx, clock, random};
use sqlx::Row;
use std::sync::Arc;

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
    let (id, message) = write(&mut tx, db.backend(), std::slice::from_ref(&p)).await?[0];
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

/// How many arguments each request takes in [`write`]'s statement.
const ARGS: usize = 15;

/// One request's statements in [`write`]: its row, its routing and its
/// first message, whose `RETURNING` gives both ids and the reference. `$1`
/// to `$15` are shifted by `ARGS` for each request after the first.
fn statements(backend: Backend, i: usize) -> String {
    let a = |n: usize| format!("${}", ARGS * i + n);
    let request = format!(
        "INSERT INTO help_requests (reference, tracking_hash, service_id, category, subject, page_url, \
         requester_email, requester_account_id, requester_commune, organisation_id, status, created_at, \
         updated_at, first_answer_due, resolution_due) \
         VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'new', {}, {}, {}, {})",
        a(1),
        a(2),
        a(3),
        a(4),
        a(5),
        a(6),
        a(7),
        a(8),
        a(9),
        a(10),
        a(11),
        a(11),
        a(12),
        a(13)
    );
    let routing = format!(
        "INSERT INTO help_routings (request_id, organisation_id, reason, at) SELECT {{id}}, {}, {}, {} FROM {{from}}",
        a(10),
        a(14),
        a(11)
    );
    let message = format!(
        "INSERT INTO help_messages (request_id, author, author_account_id, internal, body, created_at) \
         SELECT {{id}}, 'requester', {}, 0, {}, {} FROM {{from}}",
        a(8),
        a(15),
        a(11)
    );
    match backend {
        // A data-modifying CTE per request; the query's rows are the
        // messages' (`write` joins them with UNION ALL).
        Backend::Postgres => format!(
            "r{i} AS ({request} RETURNING id), g{i} AS ({}), m{i} AS ({} RETURNING id, request_id)",
            routing
                .replace("{id}", "id")
                .replace("{from}", &format!("r{i}")),
            message
                .replace("{id}", "id")
                .replace("{from}", &format!("r{i}")),
        ),
        // SQLite has no data-modifying CTE, but sqlx runs several statements
        // in one call, `$n` naming the same argument in each: the routing
        // takes the request's rowid, the message the routing's.
        Backend::Sqlite => format!(
            "{request}; {}; {} RETURNING id, request_id, {} AS reference;",
            routing
                .replace("{id}", "last_insert_rowid()")
                .replace(" FROM {from}", ""),
            message
                .replace("{id}", "request_id")
                .replace("{from}", "help_routings WHERE id = last_insert_rowid()"),
            a(1)
        ),
    }
}

/// Writes `items` in `tx`: their rows, routings and first messages in one
/// statement (one call on SQLite), their acknowledgements in another.
/// Returns each one's request and message ids, in order.
async fn write(
    tx: &mut Tx,
    backend: Backend,
    items: &[Prepared],
) -> Result<Vec<(i64, i64)>, Error> {
    let sql = match backend {
        Backend::Postgres => {
            let ctes: Vec<String> = (0..items.len()).map(|i| statements(backend, i)).collect();
            let rows: Vec<String> = (0..items.len())
                .map(|i| {
                    format!(
                        "SELECT id, request_id, ${} AS reference FROM m{i}",
                        ARGS * i + 1
                    )
                })
                .collect();
            format!("WITH {} {}", ctes.join(", "), rows.join(" UNION ALL "))
        }
        Backend::Sqlite => (0..items.len()).map(|i| statements(backend, i)).collect(),
    };
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for p in items {
        query = query
            .bind(&p.reference)
            .bind(random::sha256_hex(&p.tracking_token))
            .bind(p.service_id)
            .bind(&p.category)
            .bind(&p.subject)
            .bind(&p.page_url)
            .bind(&p.email)
            .bind(p.account_id)
            .bind(&p.commune)
            .bind(p.organisation_id)
            .bind(p.now)
            .bind(&p.first_answer_due)
            .bind(&p.resolution_due)
            .bind(p.decision.reason.code())
            .bind(&p.message);
    }
    // All the rows: reading them all runs every statement to its end.
    let rows = query.fetch_all(&mut **tx).await?;
    let mut ids = Vec::with_capacity(items.len());
    for p in items {
        let row = rows
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
    let ids = write(&mut tx, db.backend(), items).await?;
    tx.commit().await?;
    Ok(ids)
}
