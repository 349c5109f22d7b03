//! Help requests in the database (SAU-1 to SAU-5): the competence matrix,
//! creation with routing and numbering, the thread, agents' replies and
//! notes, status changes, transfers. Every change that the requester must
//! hear of queues a French e-mail in the same transaction (outbox, SAU-5).

use kernel::mail::Email;
use kernel::outbox::{self, Message};
use kernel::web::error::Msg;
use kernel::{Db, Tx, clock, random};
use sqlx::Row;

use crate::Error;
use crate::domain::attachment::{Accepted, Kind};
use crate::domain::routing::Competence;
use crate::domain::workflow::{self, Event, Status};
use crate::domain::working_days;

mod creation;
pub use creation::{Created, Creations, NewRequest, Topic, create, topic};

/// A category of a service's competence matrix (SAU-2) and its deadlines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    pub code: String,
    pub label: String,
    pub competence: Competence,
    pub first_answer_days: u32,
    pub resolution_days: u32,
}

async fn service_id(db: &Db, service_code: &str) -> Result<i64, Error> {
    agreements::store::service_id(db, service_code)
        .await?
        .ok_or(Error::Invalid(Msg::new(
            "Ce service n'est pas connu de la plateforme.",
            "This service is not known to the platform.",
        )))
}

/// Adds or changes a category of a service's matrix.
pub async fn set_category(db: &Db, service_code: &str, c: &Category) -> Result<(), Error> {
    let service = service_id(db, service_code).await?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO help_categories (service_id, code, label, competence, first_answer_days, resolution_days) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (service_id, code) DO UPDATE SET label = excluded.label, \
         competence = excluded.competence, first_answer_days = excluded.first_answer_days, \
         resolution_days = excluded.resolution_days",
    )
    .bind(service)
    .bind(&c.code)
    .bind(&c.label)
    .bind(c.competence.code())
    .bind(i64::from(c.first_answer_days))
    .bind(i64::from(c.resolution_days))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn categories(db: &Db, service_code: &str) -> Result<Vec<Category>, Error> {
    Ok(services_with_categories(db)
        .await?
        .into_iter()
        .find(|s| s.code == service_code)
        .map(|s| s.categories)
        .unwrap_or_default())
}

pub(crate) fn category_row(r: &sqlx::any::AnyRow) -> Result<Category, sqlx::Error> {
    let competence: String = r.try_get("competence")?;
    let days = |name| -> Result<u32, sqlx::Error> {
        Ok(u32::try_from(r.try_get::<i64, _>(name)?).unwrap_or(1))
    };
    Ok(Category {
        code: r.try_get("code")?,
        label: r.try_get("label")?,
        competence: Competence::parse(&competence).unwrap_or(Competence::Metropolis),
        first_answer_days: days("first_answer_days")?,
        resolution_days: days("resolution_days")?,
    })
}

/// The requester's tracking link (SAU-4).
pub fn tracking_link(public_url: &str, reference: &str, token: &str) -> String {
    format!("{public_url}/aide/suivi/{reference}?jeton={token}")
}

async fn record_routing(
    tx: &mut Tx,
    request_id: i64,
    organisation_id: i64,
    reason: &str,
    note: Option<&str>,
    by: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO help_routings (request_id, organisation_id, reason, note, by_account_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(request_id)
    .bind(organisation_id)
    .bind(reason)
    .bind(note)
    .bind(by)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_message(
    tx: &mut Tx,
    request_id: i64,
    author: &str,
    account: Option<i64>,
    internal: bool,
    body: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO help_messages (request_id, author, author_account_id, internal, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(request_id)
    .bind(author)
    .bind(account)
    .bind(i64::from(internal))
    .bind(body)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")
}

/// SAU-1, SAU-4: a message's files, in the message's transaction.
async fn insert_attachments(
    tx: &mut Tx,
    request_id: i64,
    message_id: i64,
    files: &[Accepted],
    now: i64,
) -> Result<(), sqlx::Error> {
    for f in files {
        sqlx::query(
            "INSERT INTO help_attachments (request_id, message_id, file_name, kind, size, sha256, content, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(request_id)
        .bind(message_id)
        .bind(&f.file_name)
        .bind(f.kind.code())
        .bind(f.bytes.len() as i64)
        .bind(random::sha256_hex(&f.bytes))
        .bind(f.bytes.as_slice())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// A file of the thread, as listed (its content is read on download only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub id: i64,
    pub file_name: String,
    pub kind: Kind,
    pub size: i64,
}

impl AttachmentInfo {
    /// The size for people: "12 Ko", "3,4 Mo".
    pub fn size_label(&self) -> String {
        if self.size < 1024 * 1024 {
            format!("{} Ko", (self.size + 1023) / 1024)
        } else {
            format!("{:.1} Mo", self.size as f64 / (1024.0 * 1024.0)).replace('.', ",")
        }
    }
}

/// One file of a request, for download; a requester cannot read a file of
/// an internal note.
pub async fn attachment(
    db: &Db,
    request_id: i64,
    attachment_id: i64,
    reader: Reader,
) -> Result<Option<(String, Kind, Vec<u8>)>, Error> {
    let internal = match reader {
        Reader::Requester => " AND m.internal = 0",
        Reader::Agent => "",
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT a.file_name, a.kind, a.content FROM help_attachments a JOIN help_messages m ON m.id = a.message_id \
         WHERE a.id = $1 AND a.request_id = $2{internal}"
    )))
    .bind(attachment_id)
    .bind(request_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let kind: String = row.try_get("kind")?;
    Ok(Some((
        row.try_get("file_name")?,
        Kind::from_code(&kind).ok_or(Error::NotFound)?,
        row.try_get("content")?,
    )))
}

/// A help request as stored.
#[derive(Clone, Debug)]
pub struct Request {
    pub id: i64,
    pub reference: String,
    pub service_code: String,
    pub category: String,
    pub subject: String,
    pub requester_email: String,
    pub requester_account_id: Option<i64>,
    pub organisation_id: i64,
    pub status: Status,
    pub assigned_to: Option<i64>,
    pub created_at: i64,
    pub first_answer_due: String,
    pub resolution_due: String,
    pub first_answer_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// The service's page the request was sent from.
    pub page_url: Option<String>,
    pub updated_at: i64,
}

const REQUEST_COLUMNS: &str = "r.id, r.reference, s.code AS service_code, r.category, r.subject, r.requester_email, \
r.requester_account_id, r.organisation_id, r.status, r.assigned_to, r.created_at, r.first_answer_due, r.resolution_due, \
r.first_answer_at, r.resolved_at, r.page_url, r.updated_at";

fn request_row(r: &sqlx::any::AnyRow) -> Result<Request, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(Request {
        id: r.try_get("id")?,
        reference: r.try_get("reference")?,
        service_code: r.try_get("service_code")?,
        category: r.try_get("category")?,
        subject: r.try_get("subject")?,
        requester_email: r.try_get("requester_email")?,
        requester_account_id: r.try_get("requester_account_id")?,
        organisation_id: r.try_get("organisation_id")?,
        status: Status::parse(&status).unwrap_or(Status::New),
        assigned_to: r.try_get("assigned_to")?,
        created_at: r.try_get("created_at")?,
        first_answer_due: r.try_get("first_answer_due")?,
        resolution_due: r.try_get("resolution_due")?,
        first_answer_at: r.try_get("first_answer_at")?,
        resolved_at: r.try_get("resolved_at")?,
        page_url: r.try_get("page_url")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn request_where(db: &Db, condition: &str, value: &str) -> Result<Option<Request>, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM help_requests r JOIN services s ON s.id = r.service_id WHERE {condition}"
    )))
    .bind(value)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(request_row).transpose()?)
}

/// The request of a reference, for its requester holding the tracking
/// secret (compared through its digest).
pub async fn by_tracking(db: &Db, reference: &str, token: &str) -> Result<Option<Request>, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS}, r.tracking_hash FROM help_requests r JOIN services s ON s.id = r.service_id \
         WHERE r.reference = $1"
    )))
    .bind(reference)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored: String = row.try_get("tracking_hash")?;
    // Compared in constant time: a guess's timing says nothing.
    let same = random::same_secret(&random::sha256_hex(token), &stored);
    Ok(same.then(|| request_row(&row)).transpose()?)
}

/// The request of a reference, for an agent who sees `scope` (a request
/// routed elsewhere does not exist for them, OPS-7).
pub async fn for_scope(
    db: &Db,
    scope: &kernel::web::Scope,
    reference: &str,
) -> Result<Option<Request>, Error> {
    Ok(request_where(db, "r.reference = $1", reference)
        .await?
        .filter(|r| scope.allows(r.organisation_id)))
}

/// A message of the thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadMessage {
    pub author: String,
    pub internal: bool,
    pub body: String,
    pub created_at: i64,
    pub attachments: Vec<AttachmentInfo>,
}

/// Who reads the thread: the requester never sees internal notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    Requester,
    Agent,
}

pub async fn thread(db: &Db, request_id: i64, reader: Reader) -> Result<Vec<ThreadMessage>, Error> {
    // The filter is in the query: an internal note never leaves the
    // database for a requester's page.
    let only_public = match reader {
        Reader::Requester => " AND m.internal = 0",
        Reader::Agent => "",
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT m.id, m.author, m.internal, m.body, m.created_at FROM help_messages m \
         WHERE m.request_id = $1{only_public} ORDER BY m.id"
    )))
    .bind(request_id)
    .fetch_all(db.pool())
    .await?;
    let files = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT a.id, a.message_id, a.file_name, a.kind, a.size FROM help_attachments a \
         JOIN help_messages m ON m.id = a.message_id WHERE a.request_id = $1{only_public} ORDER BY a.id"
    )))
    .bind(request_id)
    .fetch_all(db.pool())
    .await?;
    let mut by_message: std::collections::HashMap<i64, Vec<AttachmentInfo>> =
        std::collections::HashMap::new();
    for f in &files {
        let kind: String = f.try_get("kind")?;
        by_message
            .entry(f.try_get("message_id")?)
            .or_default()
            .push(AttachmentInfo {
                id: f.try_get("id")?,
                file_name: f.try_get("file_name")?,
                kind: Kind::from_code(&kind).unwrap_or(Kind::Text),
                size: f.try_get("size")?,
            });
    }
    rows.iter()
        .map(|r| {
            let id: i64 = r.try_get("id")?;
            Ok(ThreadMessage {
                author: r.try_get("author")?,
                internal: r.try_get::<i64, _>("internal")? == 1,
                body: r.try_get("body")?,
                created_at: r.try_get("created_at")?,
                attachments: by_message.remove(&id).unwrap_or_default(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

/// The request, locked for a change in `tx` (its current row).
async fn current(tx: &mut Tx, request_id: i64) -> Result<Request, Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM help_requests r JOIN services s ON s.id = r.service_id WHERE r.id = $1"
    )))
    .bind(request_id)
    .fetch_optional(&mut **tx)
    .await?;
    row.as_ref()
        .map(request_row)
        .transpose()?
        .ok_or(Error::NotFound)
}

/// Every status change goes through here: the service's webhook, if it
/// subscribed, is called through the outbox in the same transaction
/// (SAU-7: signed, retried with back-off, sent once).
async fn save_status(
    tx: &mut Tx,
    request: &Request,
    status: Status,
    now: i64,
) -> Result<(), sqlx::Error> {
    if status != request.status {
        let hook = sqlx::query(
            "SELECT l.webhook_url, l.webhook_secret FROM help_service_links l JOIN services s ON s.id = l.service_id \
             WHERE s.code = $1 AND l.webhook_url IS NOT NULL",
        )
        .bind(&request.service_code)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(hook) = hook {
            let body = serde_json::json!({
                "event": "help_request.status_changed",
                "reference": request.reference,
                "service": request.service_code,
                "status": status.code(),
                "previous_status": request.status.code(),
                "occurred_at": clock::format_ms(now),
            });
            outbox::enqueue(
                tx,
                &format!("help-webhook:{}:{}:{now}", request.id, status.code()),
                &Message::Webhook(outbox::Webhook {
                    url: hook.try_get("webhook_url")?,
                    body: body.to_string(),
                    secret: hook.try_get("webhook_secret")?,
                    content_type: None,
                }),
            )
            .await?;
        }
    }
    sqlx::query(
        "UPDATE help_requests SET status = $1, updated_at = $2, \
         resolved_at = CASE WHEN $1 = 'resolved' THEN $2 WHEN $1 IN ('in_progress', 'waiting_for_user') THEN NULL ELSE resolved_at END, \
         closed_at = CASE WHEN $1 = 'closed' THEN $2 ELSE closed_at END WHERE id = $3",
    )
    .bind(status.code())
    .bind(now)
    .bind(request.id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An e-mail telling the requester what happened to their request
/// (`public_url` empty: the message names no address).
fn notice(request: &Request, public_url: &str, what_fr: &str, what_en: &str) -> Message {
    let account = if public_url.is_empty() {
        String::new()
    } else {
        format!(", ou dans « Mes demandes » sur {public_url}")
    };
    Message::Email(Email {
        to: request.requester_email.clone(),
        subject: format!("Votre demande {} : {what_fr}", request.reference),
        html: None,
        text: format!(
            "Bonjour,\n\nVotre demande d'aide {} (« {} ») : {what_fr}.\nRetrouvez-la avec le lien reçu \
             à son enregistrement{account}.\n\nMutualis\n\n---\nYour help request {}: {what_en}.\n",
            request.reference, request.subject, request.reference
        ),
    })
}

/// SAU-3: an agent's reply (sent to the requester) or internal note (never
/// shown to them). The first reply records the first-answer time.
pub async fn agent_message(
    db: &Db,
    request_id: i64,
    agent: i64,
    body: &str,
    internal: bool,
    public_url: &str,
) -> Result<Status, Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let request = current(&mut tx, request_id).await?;
    let status = if internal {
        if request.status == Status::Closed {
            return Err(Error::NotAllowed(workflow::NotAllowed::Closed));
        }
        request.status
    } else {
        workflow::next(request.status, Event::AgentReply).map_err(Error::NotAllowed)?
    };
    insert_message(
        &mut tx,
        request_id,
        "agent",
        Some(agent),
        internal,
        body,
        now,
    )
    .await?;
    if !internal {
        save_status(&mut tx, &request, status, now).await?;
        sqlx::query(
            "UPDATE help_requests SET first_answer_at = COALESCE(first_answer_at, $1) WHERE id = $2",
        )
        .bind(now)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(
            &mut tx,
            &format!("help-reply:{request_id}:{now}:{}", random::token(6)),
            &notice(
                &request,
                public_url,
                "une réponse vous attend",
                "a reply is waiting for you",
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(status)
}

/// SAU-3: the requester writes; a request waiting for them or resolved
/// reopens.
pub async fn requester_message(
    db: &Db,
    request_id: i64,
    body: &str,
    files: &[Accepted],
) -> Result<Status, Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let request = current(&mut tx, request_id).await?;
    let status =
        workflow::next(request.status, Event::RequesterReply).map_err(Error::NotAllowed)?;
    let message = insert_message(
        &mut tx,
        request_id,
        "requester",
        request.requester_account_id,
        false,
        body,
        now,
    )
    .await?;
    insert_attachments(&mut tx, request_id, message, files, now).await?;
    save_status(&mut tx, &request, status, now).await?;
    tx.commit().await?;
    Ok(status)
}

/// SAU-3: an agent sets the status; the requester is told (SAU-5).
pub async fn set_status(
    db: &Db,
    request_id: i64,
    status: Status,
    public_url: &str,
) -> Result<Status, Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let request = current(&mut tx, request_id).await?;
    let next =
        workflow::next(request.status, Event::AgentSets(status)).map_err(Error::NotAllowed)?;
    if next != request.status {
        save_status(&mut tx, &request, next, now).await?;
        let (fr, en) = (
            format!("elle est maintenant « {} »", next.label_fr()),
            format!("it is now “{}”", next.label_en()),
        );
        outbox::enqueue(
            &mut tx,
            &format!("help-status:{request_id}:{}:{now}", next.code()),
            &notice(&request, public_url, &fr, &en),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(next)
}

/// SAU-2: an agent transfers the request to another organisation with a
/// reason; the requester is told.
pub async fn transfer(
    db: &Db,
    request_id: i64,
    agent: i64,
    to_organisation: i64,
    reason: &str,
    public_url: &str,
) -> Result<(), Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let request = current(&mut tx, request_id).await?;
    if request.status == Status::Closed {
        return Err(Error::NotAllowed(workflow::NotAllowed::Closed));
    }
    let name: String = sqlx::query("SELECT name FROM organisations WHERE id = $1")
        .bind(to_organisation)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(Error::NotFound)?
        .try_get("name")?;
    sqlx::query("UPDATE help_requests SET organisation_id = $1, assigned_to = NULL, updated_at = $2 WHERE id = $3")
        .bind(to_organisation)
        .bind(now)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    record_routing(
        &mut tx,
        request_id,
        to_organisation,
        "transfer",
        Some(reason),
        Some(agent),
        now,
    )
    .await?;
    let text = format!("Votre demande a été transmise à {name} : {reason}");
    insert_message(&mut tx, request_id, "platform", None, false, &text, now).await?;
    outbox::enqueue(
        &mut tx,
        &format!("help-transfer:{request_id}:{now}"),
        &notice(
            &request,
            public_url,
            &format!("elle a été transmise à {name}"),
            &format!("it was transferred to {name}"),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A routing decision or transfer, for agents (SAU-2: shown with its reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routing {
    pub organisation_id: i64,
    pub reason: String,
    pub note: Option<String>,
    pub at: i64,
}

pub async fn routings(db: &Db, request_id: i64) -> Result<Vec<Routing>, Error> {
    let rows = sqlx::query(
        "SELECT organisation_id, reason, note, at FROM help_routings WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Routing {
                organisation_id: r.try_get("organisation_id")?,
                reason: r.try_get("reason")?,
                note: r.try_get("note")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

/// A service that takes help requests, with its categories (SAU-1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelpService {
    pub code: String,
    pub name: String,
    pub categories: Vec<Category>,
}

/// The services that take help requests, with their categories, in one
/// query.
pub async fn services_with_categories(db: &Db) -> Result<Vec<HelpService>, Error> {
    let rows = sqlx::query(
        "SELECT s.code AS service_code, s.name AS service_name, c.code, c.label, c.competence, \
         c.first_answer_days, c.resolution_days FROM services s JOIN help_categories c ON c.service_id = s.id \
         ORDER BY s.name, s.code, c.label",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out: Vec<HelpService> = Vec::new();
    for r in &rows {
        let code: String = r.try_get("service_code")?;
        let category = category_row(r)?;
        match out.last_mut() {
            Some(last) if last.code == code => last.categories.push(category),
            _ => out.push(HelpService {
                code,
                name: r.try_get("service_name")?,
                categories: vec![category],
            }),
        }
    }
    Ok(out)
}

/// The inbox's filters (SAU-3).
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub status: Option<Status>,
    pub service: Option<String>,
    pub category: Option<String>,
    pub overdue: bool,
    pub assigned_to: Option<i64>,
}

/// A line of the inbox.
#[derive(Clone, Debug)]
pub struct InboxRow {
    pub request: Request,
    pub overdue: bool,
}

/// Lines per inbox page.
pub const PAGE: i64 = 50;

/// Open requests past a due day (YYYY-MM-DD) on `today`: no first answer by
/// its day, or not resolved by its day.
// `r.status <> 'closed'` is the partial index's own term (SQLite uses a
// partial index only when the query repeats its condition).
const OVERDUE: &str = "(r.status <> 'closed' AND r.status IN ('new', 'in_progress', 'waiting_for_user') AND \
((r.first_answer_at IS NULL AND r.first_answer_due < $2) OR r.resolution_due < $2))";

/// SAU-3: an organisation's requests, newest first, `after` the last line of
/// the previous page (`created_at`, `id`: keyset pagination, as fast on the
/// thousandth page as on the first).
pub async fn inbox(
    db: &Db,
    organisation_id: i64,
    filters: &Filters,
    after: Option<(i64, i64)>,
    today: &str,
) -> Result<Vec<InboxRow>, Error> {
    let mut sql = format!(
        "SELECT {REQUEST_COLUMNS}, CASE WHEN {OVERDUE} THEN 1 ELSE 0 END AS overdue \
         FROM help_requests r JOIN services s ON s.id = r.service_id WHERE r.organisation_id = $1"
    );
    // Every value is bound; only fixed fragments are added to the text.
    let mut n = 2;
    let mut next = || {
        n += 1;
        n
    };
    let status_at = filters.status.map(|_| next());
    let service_at = filters.service.as_ref().map(|_| next());
    let category_at = filters.category.as_ref().map(|_| next());
    let assigned_at = filters.assigned_to.map(|_| next());
    let after_at = after.map(|_| (next(), next()));
    if let Some(i) = status_at {
        sql.push_str(&format!(" AND r.status = ${i}"));
        if filters.status != Some(Status::Closed) {
            sql.push_str(" AND r.status <> 'closed'");
        }
    }
    if let Some(i) = service_at {
        sql.push_str(&format!(" AND s.code = ${i}"));
    }
    if let Some(i) = category_at {
        sql.push_str(&format!(" AND r.category = ${i}"));
    }
    if let Some(i) = assigned_at {
        sql.push_str(&format!(" AND r.assigned_to = ${i}"));
    }
    if filters.overdue {
        sql.push_str(&format!(" AND {OVERDUE}"));
    }
    if let Some((a, b)) = after_at {
        sql.push_str(&format!(
            " AND (r.created_at < ${a} OR (r.created_at = ${a} AND r.id < ${b}))"
        ));
    }
    sql.push_str(&format!(
        " ORDER BY r.created_at DESC, r.id DESC LIMIT {PAGE}"
    ));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(organisation_id)
        .bind(today);
    if let Some(s) = filters.status {
        query = query.bind(s.code());
    }
    if let Some(s) = &filters.service {
        query = query.bind(s.clone());
    }
    if let Some(c) = &filters.category {
        query = query.bind(c.clone());
    }
    if let Some(a) = filters.assigned_to {
        query = query.bind(a);
    }
    if let Some((created, id)) = after {
        query = query.bind(created).bind(id);
    }
    let rows = query.fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| {
            Ok(InboxRow {
                request: request_row(r)?,
                overdue: r.try_get::<i64, _>("overdue")? == 1,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

/// How many requests of an organisation are in each status.
pub async fn counts(db: &Db, organisation_id: i64) -> Result<Vec<(Status, i64)>, Error> {
    // Open requests only: they are a few per cent of an organisation's
    // requests and have their own partial index (help_requests_open), so
    // the count costs the same with a million closed requests behind it.
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM help_requests WHERE organisation_id = $1 AND status <> 'closed' \
         GROUP BY status",
    )
    .bind(organisation_id)
    .fetch_all(db.pool())
    .await?;
    let mut counts: Vec<(Status, i64)> = Status::ALL
        .iter()
        .filter(|s| **s != Status::Closed)
        .map(|s| (*s, 0))
        .collect();
    for r in &rows {
        let status: String = r.try_get("status")?;
        if let Some(slot) = counts.iter_mut().find(|(s, _)| s.code() == status) {
            slot.1 = r.try_get("n")?;
        }
    }
    Ok(counts)
}

/// SAU-3: assigns the request to an agent (or to nobody); the agent gets an
/// e-mail (SAU-5).
pub async fn assign(
    db: &Db,
    request_id: i64,
    agent: Option<i64>,
    public_url: &str,
) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    let request = current(&mut tx, request_id).await?;
    if request.status == Status::Closed {
        return Err(Error::NotAllowed(workflow::NotAllowed::Closed));
    }
    let now = clock::now_ms();
    sqlx::query("UPDATE help_requests SET assigned_to = $1, updated_at = $2 WHERE id = $3")
        .bind(agent)
        .bind(now)
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    // SAU-5: the agent is told of a request assigned to them.
    if let Some(agent) = agent.filter(|a| request.assigned_to != Some(*a)) {
        let email: String = sqlx::query("SELECT email FROM accounts WHERE id = $1")
            .bind(agent)
            .fetch_one(&mut *tx)
            .await?
            .try_get("email")?;
        outbox::enqueue(
            &mut tx,
            &format!("help-assigned:{request_id}:{agent}:{now}"),
            &Message::Email(Email {
                to: email,
                subject: format!("Demande {} attribuée", request.reference),
                html: None,
                text: format!(
                    "Bonjour,\n\nLa demande {} (« {} ») vous est attribuée.\n{public_url}/gestion/aide/{}\n\n                     Mutualis\n\n---\nHelp request {} is assigned to you.\n",
                    request.reference, request.subject, request.reference, request.reference
                ),
            }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The daily job of user assistance.
pub const JOB: &str = "assistance.daily";

/// SAU-3: resolved requests without a reply for 14 days close themselves;
/// the requester is told. Once a day across nodes (the day is claimed in the
/// same transaction); returns how many closed, `None` if another node ran.
pub async fn daily(db: &Db, today: time::Date, public_url: &str) -> Result<Option<usize>, Error> {
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    if !kernel::jobs::claim_day(&mut tx, JOB, today).await? {
        return Ok(None);
    }
    let cutoff = now - workflow::AUTO_CLOSE_DAYS * 24 * 3600 * 1000;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM help_requests r JOIN services s ON s.id = r.service_id \
         WHERE r.status = 'resolved' AND r.resolved_at <= $1"
    )))
    .bind(cutoff)
    .fetch_all(&mut *tx)
    .await?;
    let mut closed = 0;
    for row in &rows {
        let request = request_row(row)?;
        let resolved = request.resolved_at.unwrap_or(now);
        if !workflow::closes_by_itself(request.status, resolved, now) {
            continue;
        }
        save_status(&mut tx, &request, Status::Closed, now).await?;
        outbox::enqueue(
            &mut tx,
            &format!("help-autoclose:{}", request.id),
            &notice(
                &request,
                public_url,
                "elle est close, faute de réponse depuis 14 jours",
                "it is closed, after 14 days without a reply",
            ),
        )
        .await?;
        closed += 1;
    }
    tx.commit().await?;
    Ok(Some(closed))
}

/// SAU-4: a signed-in person's requests ("Mes demandes"), newest first.
pub async fn requests_of_account(db: &Db, account_id: i64) -> Result<Vec<Request>, Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS} FROM help_requests r JOIN services s ON s.id = r.service_id \
         WHERE r.requester_account_id = $1 ORDER BY r.created_at DESC, r.id DESC"
    )))
    .bind(account_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(request_row)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

/// The request of a reference for its requester: through the tracking
/// secret, or as the signed-in account that made it.
pub async fn for_requester(
    db: &Db,
    reference: &str,
    token: &str,
    account_id: Option<i64>,
) -> Result<Option<Request>, Error> {
    if !token.is_empty() {
        return by_tracking(db, reference, token).await;
    }
    let Some(account) = account_id else {
        return Ok(None);
    };
    Ok(request_where(db, "r.reference = $1", reference)
        .await?
        .filter(|r| r.requester_account_id == Some(account)))
}

/// SAU-3: a canned answer of an organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CannedAnswer {
    pub id: i64,
    pub title: String,
    pub body: String,
}

pub async fn canned_answers(db: &Db, organisation_id: i64) -> Result<Vec<CannedAnswer>, Error> {
    let rows = sqlx::query(
        "SELECT id, title, body FROM help_canned_answers WHERE organisation_id = $1 ORDER BY title, id",
    )
    .bind(organisation_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CannedAnswer {
                id: r.try_get("id")?,
                title: r.try_get("title")?,
                body: r.try_get("body")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

pub async fn add_canned_answer(
    db: &Db,
    organisation_id: i64,
    title: &str,
    body: &str,
) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    sqlx::query(
        "INSERT INTO help_canned_answers (organisation_id, title, body, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(organisation_id)
    .bind(title)
    .bind(body)
    .bind(clock::now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// SAU-6: an FAQ entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaqEntry {
    pub id: i64,
    pub service_code: String,
    pub category: Option<String>,
    pub organisation_id: i64,
    pub question: String,
    pub answer: String,
    pub helpful: i64,
    pub not_helpful: i64,
}

fn faq_row(r: &sqlx::any::AnyRow) -> Result<FaqEntry, sqlx::Error> {
    Ok(FaqEntry {
        id: r.try_get("id")?,
        service_code: r.try_get("service_code")?,
        category: r.try_get("category")?,
        organisation_id: r.try_get("organisation_id")?,
        question: r.try_get("question")?,
        answer: r.try_get("answer")?,
        helpful: r.try_get("helpful")?,
        not_helpful: r.try_get("not_helpful")?,
    })
}

const FAQ_COLUMNS: &str = "e.id, s.code AS service_code, e.category, e.organisation_id, e.question, e.answer, \
e.helpful, e.not_helpful";

pub async fn add_faq_entry(
    db: &Db,
    service_code: &str,
    category: Option<&str>,
    organisation_id: i64,
    question: &str,
    answer: &str,
) -> Result<i64, Error> {
    let service = service_id(db, service_code).await?;
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    let id: i64 = sqlx::query(
        "INSERT INTO faq_entries (service_id, category, organisation_id, question, answer, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(service)
    .bind(category)
    .bind(organisation_id)
    .bind(question)
    .bind(answer)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?
    .try_get("id")?;
    tx.commit().await?;
    Ok(id)
}

/// The words of a search, each kept as a plain term (letters and digits):
/// nothing of the query language reaches the database.
fn search_terms(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .take(12)
        .map(str::to_lowercase)
        .collect()
}

/// SAU-6: a service's FAQ — the most helpful entries, or those matching
/// `query` in full text (SQLite FTS5 with accents folded; PostgreSQL's
/// French configuration, which also stems). At most `limit`.
pub async fn faq(
    db: &Db,
    service_code: &str,
    query: &str,
    limit: i64,
) -> Result<Vec<FaqEntry>, Error> {
    let terms = search_terms(query);
    let rows = if terms.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FAQ_COLUMNS} FROM faq_entries e JOIN services s ON s.id = e.service_id \
             WHERE s.code = $1 ORDER BY e.helpful - e.not_helpful DESC, e.id LIMIT {limit}"
        )))
        .bind(service_code)
        .fetch_all(db.pool())
        .await?
    } else {
        match db.backend() {
            kernel::db::Backend::Sqlite => {
                // Each term quoted (a phrase of one word), any of them.
                let fts: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {FAQ_COLUMNS} FROM faq_search f JOIN faq_entries e ON e.id = f.rowid \
                     JOIN services s ON s.id = e.service_id WHERE faq_search MATCH $1 AND s.code = $2 \
                     ORDER BY f.rank LIMIT {limit}"
                )))
                .bind(fts.join(" OR "))
                .bind(service_code)
                .fetch_all(db.pool())
                .await?
            }
            kernel::db::Backend::Postgres => {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {FAQ_COLUMNS} FROM faq_entries e JOIN services s ON s.id = e.service_id, \
                     to_tsquery('french', $1) q WHERE s.code = $2 AND \
                     to_tsvector('french', e.question || ' ' || e.answer) @@ q \
                     ORDER BY ts_rank(to_tsvector('french', e.question || ' ' || e.answer), q) DESC, e.id LIMIT {limit}"
                )))
                .bind(terms.join(" | "))
                .bind(service_code)
                .fetch_all(db.pool())
                .await?
            }
        }
    };
    rows.iter()
        .map(faq_row)
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

/// SAU-6: "did this answer your question?", counted per entry.
pub async fn faq_feedback(db: &Db, entry_id: i64, helpful: bool) -> Result<(), Error> {
    let column = if helpful { "helpful" } else { "not_helpful" };
    let mut tx = db.begin().await?;
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE faq_entries SET {column} = {column} + 1 WHERE id = $1"
    )))
    .bind(entry_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::NotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// SAU-8: an organisation's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Requests per month (`YYYY-MM`, Paris), oldest first.
    pub by_month: Vec<(String, i64)>,
    /// Requests per service and category.
    pub by_category: Vec<(String, String, i64)>,
    /// Median hours to the first answer, over answered requests.
    pub median_first_answer_hours: Option<f64>,
    /// Median hours to resolution, over resolved (or closed) requests.
    pub median_resolution_hours: Option<f64>,
    /// Share of requests answered by their due day, over those answered or
    /// already past it.
    pub within_deadline: Option<f64>,
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

pub async fn figures(db: &Db, organisation_id: i64, now_ms: i64) -> Result<Figures, Error> {
    let rows = sqlx::query(
        "SELECT s.code AS service_code, r.category, r.created_at, r.first_answer_at, r.resolved_at, \
         r.closed_at, r.first_answer_due FROM help_requests r JOIN services s ON s.id = r.service_id \
         WHERE r.organisation_id = $1",
    )
    .bind(organisation_id)
    .fetch_all(db.pool())
    .await?;
    let today = working_days::paris_day(now_ms).to_string();
    let mut months = std::collections::BTreeMap::<String, i64>::new();
    let mut categories = std::collections::BTreeMap::<(String, String), i64>::new();
    let (mut first, mut resolution) = (Vec::new(), Vec::new());
    let (mut due, mut on_time) = (0_i64, 0_i64);
    let hours = |from: i64, to: i64| (to - from) as f64 / 3_600_000.0;
    for r in &rows {
        let created: i64 = r.try_get("created_at")?;
        let day = working_days::paris_day(created).to_string();
        *months.entry(day[..7].to_string()).or_default() += 1;
        *categories
            .entry((r.try_get("service_code")?, r.try_get("category")?))
            .or_default() += 1;
        let answered: Option<i64> = r.try_get("first_answer_at")?;
        let resolved: Option<i64> = r
            .try_get::<Option<i64>, _>("resolved_at")?
            .or(r.try_get("closed_at")?);
        let due_day: String = r.try_get("first_answer_due")?;
        if let Some(a) = answered {
            first.push(hours(created, a));
            due += 1;
            if working_days::paris_day(a).to_string() <= due_day {
                on_time += 1;
            }
        } else if due_day < today {
            due += 1;
        }
        if let Some(done) = resolved {
            resolution.push(hours(created, done));
        }
    }
    Ok(Figures {
        by_month: months.into_iter().collect(),
        by_category: categories
            .into_iter()
            .map(|((s, c), n)| (s, c, n))
            .collect(),
        median_first_answer_hours: median(first),
        median_resolution_hours: median(resolution),
        within_deadline: (due > 0).then(|| on_time as f64 / due as f64),
    })
}

/// DATA-4: the help requests of one month, one commune (the requester's),
/// one service and one category, with their delays, for the open data.
#[derive(Clone, Debug, PartialEq)]
pub struct MonthlyCell {
    /// `YYYY-MM`, Paris.
    pub month: String,
    /// The requester's commune (INSEE code).
    pub commune: String,
    pub service_code: String,
    pub category: String,
    pub category_label: String,
    pub requests: u64,
    /// Requests answered, and the median hours to the first answer.
    pub answered: u64,
    pub median_first_answer_hours: Option<f64>,
    /// Requests resolved (or closed), and the median hours to that.
    pub resolved: u64,
    pub median_resolution_hours: Option<f64>,
}

/// The median of the delay `delay` (a column of `r`) per cell: the mean
/// of the middle one or two rows, as in [`median`] (window functions, so
/// the same SQL on SQLite and PostgreSQL).
fn median_sql(delay: &str) -> String {
    const CELL: &str = "month, commune, service_id, category";
    format!(
        "SELECT {CELL}, CAST(AVG({delay}) AS DOUBLE PRECISION) AS median FROM \
         (SELECT {CELL}, {delay}, ROW_NUMBER() OVER (PARTITION BY {CELL} ORDER BY {delay}) AS k, \
         COUNT(*) OVER (PARTITION BY {CELL}) AS n FROM r WHERE {delay} IS NOT NULL) x \
         WHERE k IN ((n + 1) / 2, (n + 2) / 2) GROUP BY {CELL}"
    )
}

/// DATA-4: the requests created in each Paris month before `before` (the
/// first day of a month), by the requester's commune, service and category.
/// Requests without a commune are left out: the dataset is by commune.
pub async fn monthly_cells(db: &Db, before: time::Date) -> Result<Vec<MonthlyCell>, Error> {
    let first: Option<i64> = sqlx::query("SELECT MIN(created_at) AS first FROM help_requests")
        .fetch_one(db.pool())
        .await?
        .try_get("first")?;
    // Each month: `YYYY-MM` and the instants it starts and ends.
    let mut months = Vec::new();
    if let Some(first) = first {
        let mut start = clock::paris_day(first)
            .replace_day(1)
            .expect("day 1 exists");
        while start < before {
            let next = match start.month() {
                time::Month::December => start
                    .replace_year(start.year() + 1)
                    .and_then(|d| d.replace_month(time::Month::January)),
                m => start.replace_month(m.next()),
            }
            .expect("the first of a month exists");
            months.push((
                format!("{:04}-{:02}", start.year(), u8::from(start.month())),
                clock::paris_midnight(start),
                clock::paris_midnight(next),
            ));
            start = next;
        }
    }
    if months.is_empty() {
        return Ok(Vec::new());
    }
    // Only our own month names (`YYYY-MM`) and integers go into the text.
    let values: Vec<String> = months
        .iter()
        .map(|(m, start, end)| format!("('{m}', {start}, {end})"))
        .collect();
    let sql = format!(
        "WITH m(month, start_ms, end_ms) AS (VALUES {values}), \
         r AS (SELECT m.month, h.requester_commune AS commune, h.service_id, h.category, \
               h.first_answer_at - h.created_at AS first_ms, \
               COALESCE(h.resolved_at, h.closed_at) - h.created_at AS resolution_ms \
               FROM help_requests h JOIN m ON h.created_at >= m.start_ms AND h.created_at < m.end_ms \
               WHERE h.requester_commune IS NOT NULL AND h.requester_commune <> ''), \
         c AS (SELECT month, commune, service_id, category, COUNT(*) AS requests, \
               COUNT(first_ms) AS answered, COUNT(resolution_ms) AS resolved FROM r \
               GROUP BY month, commune, service_id, category), \
         f AS ({first}), v AS ({resolution}) \
         SELECT c.month, c.commune, s.code AS service_code, c.category, COALESCE(hc.label, c.category) AS label, \
         c.requests, c.answered, c.resolved, f.median AS first_ms, v.median AS resolution_ms FROM c \
         JOIN services s ON s.id = c.service_id \
         LEFT JOIN help_categories hc ON hc.service_id = c.service_id AND hc.code = c.category \
         LEFT JOIN f ON f.month = c.month AND f.commune = c.commune AND f.service_id = c.service_id AND f.category = c.category \
         LEFT JOIN v ON v.month = c.month AND v.commune = c.commune AND v.service_id = c.service_id AND v.category = c.category \
         ORDER BY c.month, c.commune, s.code, c.category",
        values = values.join(", "),
        first = median_sql("first_ms"),
        resolution = median_sql("resolution_ms"),
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(db.pool())
        .await?;
    let hours = |ms: Option<f64>| ms.map(|ms| ms / 3_600_000.0);
    let count = |r: &sqlx::any::AnyRow, name: &str| -> Result<u64, sqlx::Error> {
        Ok(r.try_get::<i64, _>(name)?.max(0) as u64)
    };
    rows.iter()
        .map(|r| {
            Ok(MonthlyCell {
                month: r.try_get("month")?,
                commune: r.try_get("commune")?,
                service_code: r.try_get("service_code")?,
                category: r.try_get("category")?,
                category_label: r.try_get("label")?,
                requests: count(r, "requests")?,
                answered: count(r, "answered")?,
                median_first_answer_hours: hours(r.try_get("first_ms")?),
                resolved: count(r, "resolved")?,
                median_resolution_hours: hours(r.try_get("resolution_ms")?),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

/// ID-8: the help requests a person made, for their export: references,
/// subjects, statuses and the messages they can read (never the internal
/// notes).
fn export_of(
    db: Db,
    account_id: i64,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<serde_json::Value, sqlx::Error>> + Send>,
> {
    Box::pin(async move {
        let rows = sqlx::query(
            "SELECT r.id, r.reference, r.subject, r.status, r.requester_email, r.created_at FROM help_requests r \
             WHERE r.requester_account_id = $1 ORDER BY r.id",
        )
        .bind(account_id)
        .fetch_all(db.pool())
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let messages = sqlx::query(
                "SELECT author, body, created_at FROM help_messages WHERE request_id = $1 AND internal = 0 ORDER BY id",
            )
            .bind(id)
            .fetch_all(db.pool())
            .await?
            .iter()
            .map(|m| {
                serde_json::json!({
                    "author": m.get::<String, _>("author"),
                    "body": m.get::<String, _>("body"),
                    "at": clock::format_ms(m.get("created_at")),
                })
            })
            .collect::<Vec<_>>();
            out.push(serde_json::json!({
                "reference": r.get::<String, _>("reference"),
                "subject": r.get::<String, _>("subject"),
                "status": r.get::<String, _>("status"),
                "email": r.get::<String, _>("requester_email"),
                "created_at": clock::format_ms(r.get("created_at")),
                "messages": messages,
            }));
        }
        Ok(serde_json::Value::Array(out))
    })
}

/// ID-8: a deleted account's help requests are kept (the organisations'
/// records) but pseudonymised: no e-mail, no link to the account; the
/// messages stay, since the organisations answered them.
fn pseudonymise<'a>(
    tx: &'a mut Tx,
    account_id: i64,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'a>> {
    Box::pin(async move {
        sqlx::query(
            "UPDATE help_requests SET requester_email = $1, requester_account_id = NULL WHERE requester_account_id = $2",
        )
        .bind(format!("supprime-{account_id}@compte-supprime.invalid"))
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
        // The files the person sent are theirs, not the organisation's record.
        sqlx::query(
            "DELETE FROM help_attachments WHERE message_id IN \
             (SELECT id FROM help_messages WHERE author = 'requester' AND author_account_id = $1)",
        )
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    })
}

/// This area's share of personal data (ID-8), registered at start.
pub const PERSONAL_DATA: kernel::personal_data::Part = kernel::personal_data::Part {
    name: "help_requests",
    export: export_of,
    erase: pseudonymise,
    consent_changed: kernel::personal_data::ignore_consent,
};

/// SAU-7: how a service uses the API: its OpenID Connect client (for
/// `client_credentials`) and its status-change webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceLink {
    pub service_code: String,
    pub service_name: String,
    pub client_id: Option<String>,
    pub webhook_url: Option<String>,
    pub has_secret: bool,
}

pub async fn service_links(db: &Db) -> Result<Vec<ServiceLink>, Error> {
    let rows = sqlx::query(
        "SELECT s.code, s.name, l.client_id, l.webhook_url, l.webhook_secret FROM services s \
         LEFT JOIN help_service_links l ON l.service_id = s.id ORDER BY s.name",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ServiceLink {
                service_code: r.try_get("code")?,
                service_name: r.try_get("name")?,
                client_id: r.try_get("client_id")?,
                webhook_url: r.try_get("webhook_url")?,
                has_secret: r.try_get::<Option<String>, _>("webhook_secret")?.is_some(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::from)
}

/// Sets a service's client and webhook; `secret` replaces the webhook's
/// signing secret when given. Journaled.
pub async fn set_service_link(
    db: &Db,
    service_code: &str,
    client_id: Option<&str>,
    webhook_url: Option<&str>,
    secret: Option<&str>,
    by: kernel::audit::Actor,
) -> Result<(), Error> {
    let service = service_id(db, service_code).await?;
    let now = clock::now_ms();
    let mut tx = db.begin().await?;
    if let Some(client) = client_id {
        let taken = sqlx::query(
            "SELECT 1 AS x FROM help_service_links WHERE client_id = $1 AND service_id <> $2",
        )
        .bind(client)
        .bind(service)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_some() {
            return Err(Error::Invalid(Msg::new(
                "Ce client OpenID Connect est déjà celui d'un autre service.",
                "This OpenID Connect client already belongs to another service.",
            )));
        }
    }
    sqlx::query(
        "INSERT INTO help_service_links (service_id, client_id, webhook_url, webhook_secret, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (service_id) DO UPDATE SET client_id = $2, webhook_url = $3, \
         webhook_secret = COALESCE($4, help_service_links.webhook_secret), updated_at = $5",
    )
    .bind(service)
    .bind(client_id)
    .bind(webhook_url)
    .bind(secret)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    kernel::audit::append(
        &mut tx,
        &kernel::audit::Event::new(
            by,
            "help.service_link_set",
            format!("service:{service_code}"),
        )
        .with(serde_json::json!({
            "client_id": client_id,
            "webhook_url": webhook_url,
            "secret_replaced": secret.is_some(),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The service whose API client this is.
pub async fn service_of_client(db: &Db, client_id: &str) -> Result<Option<String>, Error> {
    Ok(sqlx::query(
        "SELECT s.code FROM help_service_links l JOIN services s ON s.id = l.service_id WHERE l.client_id = $1",
    )
    .bind(client_id)
    .fetch_optional(db.pool())
    .await?
    .map(|r| r.try_get("code"))
    .transpose()?)
}

/// The client linked to a service (the reverse of [`service_of_client`]).
pub async fn client_of_service(db: &Db, service_id: i64) -> Result<Option<String>, Error> {
    Ok(
        sqlx::query("SELECT client_id FROM help_service_links WHERE service_id = $1")
            .bind(service_id)
            .fetch_optional(db.pool())
            .await?
            .map(|r| r.try_get::<Option<String>, _>("client_id"))
            .transpose()?
            .flatten(),
    )
}

/// Where a request is now, as the API says it (SAU-7).
pub async fn organisation_kind(
    db: &Db,
    organisation_id: i64,
) -> Result<(String, Option<String>), Error> {
    let r = sqlx::query("SELECT kind, insee_code FROM organisations WHERE id = $1")
        .bind(organisation_id)
        .fetch_one(db.pool())
        .await?;
    Ok((r.try_get("kind")?, r.try_get("insee_code")?))
}
