//! SAU-1, SAU-4: the help form (with or without an account) and the
//! requester's tracking page, reached with the secret of the tracking link.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use identity::domain::sheet::Field;
use kernel::web::{Msg, PageContext};
use kernel::{AppState, clock};
use serde::Deserialize;

use super::submission::{self, Choices, HelpForm, page_ok};
use super::upload;
use crate::Error;
use crate::domain::routing::Destination;
use crate::domain::workflow::Status;
use crate::store::{self, HelpService, Reader, ThreadMessage};

#[derive(Template, WebTemplate)]
#[template(path = "help_form.html")]
pub struct FormPage {
    ctx: PageContext,
    services: Vec<HelpService>,
    communes: Vec<(String, String)>,
    values: HelpForm,
    errors: Vec<Msg>,
    /// SAU-6: the chosen service's FAQ, shown before the form.
    faq: Option<Faq>,
}

/// A service's FAQ on the help page: the entries found and the search.
pub struct Faq {
    service: String,
    service_name: String,
    query: String,
    entries: Vec<store::FaqEntry>,
    /// The entry just rated, to thank for it.
    rated: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct FormQuery {
    service: Option<String>,
    category: Option<String>,
    page: Option<String>,
    /// A search in the service's FAQ.
    q: Option<String>,
    /// The FAQ entry just rated.
    avis: Option<i64>,
}

/// SAU-1: the form; a signed-in person's e-mail and commune are filled in.
pub async fn form(
    State(app): State<AppState>,
    ctx: PageContext,
    Query(q): Query<FormQuery>,
) -> Result<Response, Error> {
    let Choices { services, communes } = Choices::load(&app).await?;
    let mut values = HelpForm {
        page: q.page.filter(|p| page_ok(p)).unwrap_or_default(),
        ..HelpForm::default()
    };
    let faq = match q.service.as_deref() {
        Some(code) => match services.iter().find(|s| s.code == code) {
            Some(service) => {
                let query = q.q.clone().unwrap_or_default();
                Some(Faq {
                    entries: store::faq(&app.db, code, &query, 5).await?,
                    service: code.to_string(),
                    service_name: service.name.clone(),
                    query,
                    rated: q.avis,
                })
            }
            None => None,
        },
        None => None,
    };
    if let Some(service) = q.service {
        values.topic = format!("{service}/{}", q.category.unwrap_or_default());
    }
    if let Some(viewer) = &ctx.viewer {
        values.email = viewer.email.clone();
        values.commune = identity::store::sheet(&app.db, viewer.account_id)
            .await
            .map_err(Error::Database)?
            .into_iter()
            .find(|v| v.field == Field::Commune)
            .map(|v| v.value)
            .unwrap_or_default();
    }
    Ok(FormPage {
        ctx,
        services,
        communes,
        values,
        errors: vec![],
        faq,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "help_created.html")]
pub struct CreatedPage {
    ctx: PageContext,
    reference: String,
    link: String,
    email: String,
    /// Who answers (the organisation's name).
    answered_by: String,
}

/// SAU-1, SAU-2, SAU-4: the request recorded, routed, acknowledged.
pub async fn submit(
    State(app): State<AppState>,
    ctx: PageContext,
    request: Request,
) -> Result<Response, Error> {
    let sent = upload::read(request).await?;
    let f: HelpForm = sent.form()?;
    let account = ctx.viewer.as_ref().map(|v| v.account_id);
    let opened = submission::open(&app, &f, &sent, account).await?;
    let choices = Choices::load(&app).await?;
    let created = match opened {
        Ok(created) => created,
        // SAU-1: the form comes back with what was typed and each problem
        // (a refused file's too); nothing is stored.
        Err(problems) => {
            let mut errors: Vec<Msg> = problems.into_iter().map(|p| p.msg).collect();
            if !sent.files.is_empty() {
                let names: Vec<&str> = sent.files.iter().map(|f| f.file_name.as_str()).collect();
                errors.push(Msg::new(
                    format!(
                        "Fichiers acceptés, à joindre de nouveau : {}.",
                        names.join(", ")
                    ),
                    format!("Files accepted, to attach again: {}.", names.join(", ")),
                ));
            }
            let page = FormPage {
                ctx,
                services: choices.services,
                communes: choices.communes,
                values: f,
                errors,
                faq: None,
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let answered_by = match &created.decision.destination {
        Destination::Commune(code) => choices
            .commune_name(code)
            .map(|name| format!("la commune de {name}"))
            .unwrap_or_default(),
        Destination::Metropolis => "la Métropole".to_string(),
    };
    let link = store::tracking_link(
        &app.site.public_url,
        &created.reference,
        &created.tracking_token,
    );
    Ok((
        StatusCode::CREATED,
        CreatedPage {
            ctx,
            reference: created.reference,
            link,
            email: f.email.trim().to_string(),
            answered_by,
        },
    )
        .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "help_tracking.html")]
pub struct TrackingPage {
    ctx: PageContext,
    request: store::Request,
    thread: Vec<ThreadMessage>,
    token: String,
    replied: bool,
    /// The reply typed, when it comes back with a problem.
    draft: String,
    errors: Vec<Msg>,
}

impl TrackingPage {
    fn status_label(&self) -> &'static str {
        if self.ctx.lang.code() == "fr" {
            self.request.status.label_fr()
        } else {
            self.request.status.label_en()
        }
    }

    fn open_for_reply(&self) -> bool {
        self.request.status != Status::Closed
    }

    fn when(&self, at: &i64) -> String {
        clock::format_ms(*at)[..16].replace('T', " ")
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TrackingQuery {
    jeton: String,
    envoye: Option<String>,
}

/// SAU-4: the request of its requester — with the tracking link's secret,
/// or signed in to the account that sent it; for anyone else it does not
/// exist.
async fn requesters_request(
    app: &AppState,
    ctx: &PageContext,
    reference: &str,
    token: &str,
) -> Result<store::Request, Error> {
    let account = ctx.viewer.as_ref().map(|v| v.account_id);
    store::for_requester(&app.db, reference, token, account)
        .await?
        .ok_or(Error::NotFound)
}

/// SAU-4: the requester's view (never the internal notes).
pub async fn tracking(
    State(app): State<AppState>,
    ctx: PageContext,
    Path(reference): Path<String>,
    Query(q): Query<TrackingQuery>,
) -> Result<Response, Error> {
    let request = requesters_request(&app, &ctx, &reference, &q.jeton).await?;
    let thread = store::thread(&app.db, request.id, Reader::Requester).await?;
    Ok(TrackingPage {
        ctx,
        request,
        thread,
        token: q.jeton,
        replied: q.envoye.is_some(),
        draft: String::new(),
        errors: vec![],
    }
    .into_response())
}

/// SAU-4: a file of the thread, for its requester.
pub async fn attachment(
    State(app): State<AppState>,
    ctx: PageContext,
    Path((reference, id)): Path<(String, i64)>,
    Query(q): Query<TrackingQuery>,
) -> Result<Response, Error> {
    let request = requesters_request(&app, &ctx, &reference, &q.jeton).await?;
    download(&app, request.id, id, Reader::Requester).await
}

/// A stored file, sent as a download in its checked type: never shown
/// inline, sandboxed if opened anyway, not cached by shared caches.
pub async fn download(
    app: &AppState,
    request_id: i64,
    id: i64,
    reader: Reader,
) -> Result<Response, Error> {
    let (name, kind, bytes) = store::attachment(&app.db, request_id, id, reader)
        .await?
        .ok_or(Error::NotFound)?;
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, kind.mime().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ReplyForm {
    jeton: String,
    message: String,
}

/// SAU-3, SAU-4: the requester answers; a request waiting for them or
/// resolved reopens.
pub async fn reply(
    State(app): State<AppState>,
    ctx: PageContext,
    Path(reference): Path<String>,
    request: Request,
) -> Result<Response, Error> {
    let sent = upload::read(request).await?;
    let f: ReplyForm = sent.form()?;
    let request = requesters_request(&app, &ctx, &reference, &f.jeton).await?;
    let length = f.message.trim().chars().count();
    let mut errors = sent.refusals();
    if length > 10_000 || (length == 0 && sent.files.is_empty()) {
        errors.push(Msg::new(
            "Écrivez votre message (10 000 caractères au plus) ou joignez un fichier.",
            "Write your message (at most 10,000 characters) or attach a file.",
        ));
    }
    if !errors.is_empty() {
        let thread = store::thread(&app.db, request.id, Reader::Requester).await?;
        let page = TrackingPage {
            ctx,
            request,
            thread,
            token: f.jeton,
            replied: false,
            draft: f.message,
            errors,
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    store::requester_message(&app.db, request.id, f.message.trim(), &sent.files).await?;
    let secret = if f.jeton.is_empty() {
        String::new()
    } else {
        format!("jeton={}&", f.jeton)
    };
    Ok(Redirect::to(&format!("/aide/suivi/{reference}?{secret}envoye=1")).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "help_mine.html")]
pub struct MinePage {
    ctx: PageContext,
    requests: Vec<store::Request>,
}

impl MinePage {
    fn label(&self, s: &Status) -> &'static str {
        if self.ctx.lang.code() == "fr" {
            s.label_fr()
        } else {
            s.label_en()
        }
    }
}

/// SAU-4: "Mes demandes", the signed-in person's requests.
pub async fn mine(
    State(app): State<AppState>,
    kernel::web::SignedIn(viewer): kernel::web::SignedIn,
    ctx: PageContext,
) -> Result<Response, Error> {
    let requests = store::requests_of_account(&app.db, viewer.account_id).await?;
    Ok(MinePage { ctx, requests }.into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RatingForm {
    /// `oui` or `non`.
    avis: String,
    service: String,
    page: String,
}

/// SAU-6: "Cette réponse vous a-t-elle aidé ?", counted per entry.
pub async fn rate(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Form(f): Form<RatingForm>,
) -> Result<Response, Error> {
    let helpful = match f.avis.as_str() {
        "oui" => true,
        "non" => false,
        _ => {
            return Err(Error::Invalid(Msg::new(
                "Répondez par oui ou par non.",
                "Answer yes or no.",
            )));
        }
    };
    store::faq_feedback(&app.db, id, helpful).await?;
    let query = serde_urlencoded::to_string([
        ("service", f.service.as_str()),
        (
            "page",
            if page_ok(&f.page) {
                f.page.as_str()
            } else {
                ""
            },
        ),
        ("avis", &id.to_string()),
    ])
    .expect("strings encode");
    Ok(Redirect::to(&format!("/aide?{query}#faq-{id}")).into_response())
}
