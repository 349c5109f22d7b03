//! DATA-1: `POST /api/v1/usage/events`, for a service with a
//! `client_credentials` token of its linked client.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kernel::AppState;
use kernel::web::Msg;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::domain::event::Received;
use crate::store::{self, MAX_BATCH};

/// The usage API's part of the platform's OpenAPI spec (served, with the
/// other areas', at `/api/v1/openapi.json`).
#[derive(OpenApi)]
#[openapi(
    paths(ingest, person_events, super::beacon::beacon),
    components(schemas(EventDoc)),
    tags((name = "usage", description = "Usage events (DATA-1, DATA-2); the open data is under /opendata (DATA-4)"))
)]
pub struct ApiDoc;

/// Each event is read straight into its fields, its texts borrowed from
/// the body; an event that cannot be read is kept as such, to be refused
/// alone with its index (DATA-1).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UsageBatch)]
struct Batch<'a> {
    /// 1 to 10,000 events, each checked on its own.
    #[serde(borrow)]
    #[schema(value_type = Vec<EventDoc>)]
    events: Vec<Received<'a>>,
}

/// One usage event as a service sends it (the wire format of
/// [`Received`], which reads it without copying; documentation only).
#[derive(ToSchema)]
#[schema(as = UsageEvent)]
#[allow(dead_code)]
struct EventDoc {
    /// 1–32 lowercase letters, digits, `_`, `.`, `-`, starting with a letter: `page`, `search`, `payment.sent`.
    #[schema(example = "page")]
    r#type: String,
    /// RFC 3339; at most 5 minutes ahead, at most 25 months old.
    #[schema(format = DateTime, example = "2026-11-28T14:05:00+01:00")]
    time: String,
    /// For `page` events: an address or a path; only the path is kept.
    page: Option<String>,
    /// For other events: the feature's code (1–100 characters).
    feature: Option<String>,
    /// The INSEE code of a member commune.
    #[schema(example = "69266")]
    commune: Option<String>,
    /// Visitor hint: read to count the visitor of the day, never stored.
    user_agent: Option<String>,
    /// Visitor hint (IPv4 or IPv6): cut to /24 or /48 and hashed, never stored.
    client_address: Option<String>,
    /// The person's subject as the service received it; kept only under
    /// their live consent to `usage_statistics` (ID-4), dropped otherwise.
    sub: Option<String>,
}

/// An event refused, by its index in the batch.
#[derive(Serialize, ToSchema)]
#[schema(as = UsageRejected)]
struct Rejected {
    index: usize,
    /// The field at fault, or `event` when the event is not an object of known text fields.
    field: &'static str,
    reason: String,
    reason_en: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = UsageAnswer)]
struct Answer {
    /// How many events were kept (in one transaction).
    accepted: usize,
    rejected: Vec<Rejected>,
}

/// The area's JSON error.
#[derive(Serialize, ToSchema)]
#[schema(as = UsageError)]
pub(super) struct ErrorJson {
    /// `invalid`, `too_large`, `forbidden`, `unauthorized`, `not_found`.
    error: String,
    message: String,
    message_en: String,
}

/// The area's JSON error: a code, and what to do in French and English.
pub(super) fn error(status: StatusCode, code: &str, msg: Msg) -> Response {
    let body = ErrorJson {
        error: code.to_string(),
        message: msg.fr,
        message_en: msg.en,
    };
    (status, Json(body)).into_response()
}

/// The service calling with a `client_credentials` token of its linked
/// client: the client's id and the service's; the error to answer
/// otherwise.
async fn service_caller(app: &AppState, headers: &HeaderMap) -> Result<(String, i64), Response> {
    let (_, token) = identity::oidc::token::bearer(app, headers, None).await?;
    if token.account_id.is_some() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            Msg::new(
                "Cet appel est réservé au service lui-même : utilisez un jeton client_credentials.",
                "This call is for the service itself: use a client_credentials token.",
            ),
        ));
    }
    let service = match assistance::store::service_of_client(&app.db, &token.client_id).await {
        Ok(Some(code)) => agreements::store::service_id(&app.db, &code).await,
        Ok(None) => Ok(None),
        Err(e) => return Err(e.into_response()),
    };
    match service {
        Ok(Some(id)) => Ok((token.client_id, id)),
        Ok(None) => Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            Msg::new(
                "Ce client n'est relié à aucun service : voyez la page « Intégration des services ».",
                "This client is linked to no service: see the \"Services integration\" page.",
            ),
        )),
        Err(e) => Err(crate::Error::from(e).into_response()),
    }
}

#[utoipa::path(
    post, path = "/api/v1/usage/events", tag = "usage",
    request_body(content = Batch, content_type = "application/json"),
    security(("service_token" = [])),
    responses(
        (status = 200, description = "The valid events kept, each refused one with its reason", body = Answer),
        (status = 401, description = "No token, or not a valid one"),
        (status = 403, description = "A person's token, or a client linked to no service", body = ErrorJson),
        (status = 413, description = "More than 10,000 events", body = ErrorJson),
        (status = 422, description = "Not a JSON object {\"events\": […]}", body = ErrorJson),
    )
)]
/// Checks each event, keeps the valid ones in one transaction and answers
/// with the index and reason of each refused one (DATA-1).
pub async fn ingest(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (client_id, service_id) = match service_caller(&app, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                Msg::new(
                    format!("Le lot doit être un objet JSON {{\"events\": […]}} : {e}."),
                    format!("The batch must be a JSON object {{\"events\": […]}}: {e}."),
                ),
            );
        }
    };
    if batch.events.len() > MAX_BATCH {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            Msg::new(
                format!(
                    "Au plus {MAX_BATCH} événements par lot ({} reçus) : découpez-le.",
                    batch.events.len()
                ),
                format!(
                    "At most {MAX_BATCH} events per batch ({} received): split it.",
                    batch.events.len()
                ),
            ),
        );
    }
    match store::ingest(
        &app.db,
        &super::salts(&app),
        service_id,
        Some(&client_id),
        batch.events,
    )
    .await
    {
        Ok(report) => Json(Answer {
            accepted: report.accepted,
            rejected: report
                .rejected
                .into_iter()
                .map(|(index, r)| Rejected {
                    index,
                    field: r.field,
                    reason: r.msg.fr,
                    reason_en: r.msg.en,
                })
                .collect(),
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// One event kept under a person's subject, as the service reads it back.
#[derive(Serialize, ToSchema)]
#[schema(as = UsagePersonEvent)]
struct PersonEvent {
    r#type: String,
    /// RFC 3339, UTC.
    time: String,
    page: Option<String>,
    feature: Option<String>,
    commune: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = UsagePersonEvents)]
struct PersonEvents {
    /// Newest first, at most 1,000.
    events: Vec<PersonEvent>,
}

#[utoipa::path(
    get, path = "/api/v1/usage/subjects/{sub}/events", tag = "usage",
    params(("sub" = String, Path, description = "The person's subject, as the service received it")),
    security(("service_token" = [])),
    responses(
        (status = 200, description = "The events kept under that subject for this service, newest first", body = PersonEvents),
        (status = 401, description = "No token, or not a valid one"),
        (status = 403, description = "A person's token, or a client linked to no service", body = ErrorJson),
        (status = 404, description = "No live consent of that person to statistics of their use of this service", body = ErrorJson),
    )
)]
/// ID-4, DATA-2: what the service kept of a person's use under their live
/// consent ("statistiques d'usage à votre nom"), for the service to use in
/// that person's favour; nothing (404) without that consent.
pub async fn person_events(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(sub): Path<String>,
) -> Response {
    let (client_id, service_id) = match service_caller(&app, &headers).await {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    match store::person_events(&app.db, &client_id, service_id, &sub).await {
        Ok(Some(events)) => Json(PersonEvents {
            events: events
                .into_iter()
                .map(|e| PersonEvent {
                    r#type: e.kind,
                    time: kernel::clock::format_ms(e.at_ms),
                    page: e.page,
                    feature: e.feature,
                    commune: e.commune,
                })
                .collect(),
        })
        .into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            Msg::new(
                "Cette personne n'a pas consenti à des statistiques d'usage à son nom pour ce service : \
                 demandez-le-lui à la connexion (scope usage_statistics) ; ses événements sont comptés sans son nom.",
                "This person has not consented to statistics of their use of this service: ask them at sign-in \
                 (scope usage_statistics); their events are counted without their name.",
            ),
        ),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented event has exactly the fields the reader accepts
    /// (`crate::domain::event`), so the spec cannot drift from it.
    #[test]
    fn the_documented_event_is_the_one_read_data_1() {
        let spec = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut documented: Vec<String> = spec["components"]["schemas"]["UsageEvent"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        documented.sort_unstable();
        let mut read: Vec<&str> = crate::domain::event::FIELDS.to_vec();
        read.sort_unstable();
        assert_eq!(documented, read);
    }
}
